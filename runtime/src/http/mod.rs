//! The HTTP surface the core sees: a method, a path and query, typed
//! headers read on demand, a body read with a hard cap, and a response
//! whose body is empty, bytes, or a stream of chunks. The wasm adapter
//! implements [`Incoming`] over the workerd `Request`; native tests over
//! [`TestRequest`].

pub mod body;
pub mod sse;

use std::pin::Pin;

use futures_util::Stream;

use crate::ports::LocalFuture;

/// Request methods the router knows; anything else is [`Method::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Other,
}

impl Method {
    /// Methods are case-sensitive (RFC 9110): `get` is not `GET`.
    pub fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other => "OTHER",
        }
    }
}

/// The request headers the core reads. A name outside this enum cannot be
/// asked for: an adapter that forgot one is a compile error, not a silent
/// `None` on workerd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Header {
    Host,
    TenantId,
    RequestId,
    Origin,
    ContentLength,
    TransferEncoding,
    AcRequestMethod,
    ContentType,
    Authorization,
    ApiKey,
    CfAccessJwtAssertion,
    CfConnectingIp,
    UserId,
    UserRoles,
    /// W3C trace context (`00-<trace-id>-<parent-id>-<flags>`).
    Traceparent,
}

impl Header {
    /// The headers the pipeline reads on every request (`app::handle`,
    /// before any route), in a fixed order: an adapter may read these up
    /// front in one go and each of the others only when a route asks (the
    /// wasm shim does; its JavaScript list must be this one).
    pub const EVERY_REQUEST: [Header; 7] = [
        Header::Host,
        Header::TenantId,
        Header::RequestId,
        Header::Origin,
        Header::ContentLength,
        Header::TransferEncoding,
        Header::Traceparent,
    ];

    /// Every header, in a fixed order (adapters index by position).
    pub const ALL: [Header; 15] = [
        Header::Host,
        Header::TenantId,
        Header::RequestId,
        Header::Origin,
        Header::ContentLength,
        Header::TransferEncoding,
        Header::AcRequestMethod,
        Header::ContentType,
        Header::Authorization,
        Header::ApiKey,
        Header::CfAccessJwtAssertion,
        Header::CfConnectingIp,
        Header::UserId,
        Header::UserRoles,
        Header::Traceparent,
    ];

    /// The lowercase name (the Fetch API normalises names to lowercase).
    pub const fn name(self) -> &'static str {
        match self {
            Header::Host => "host",
            Header::TenantId => "x-tenant-id",
            Header::RequestId => "x-request-id",
            Header::Origin => "origin",
            Header::ContentLength => "content-length",
            Header::TransferEncoding => "transfer-encoding",
            Header::AcRequestMethod => "access-control-request-method",
            Header::ContentType => "content-type",
            Header::Authorization => "authorization",
            Header::ApiKey => "x-api-key",
            Header::CfAccessJwtAssertion => "cf-access-jwt-assertion",
            Header::CfConnectingIp => "cf-connecting-ip",
            Header::UserId => "x-user-id",
            Header::UserRoles => "x-user-roles",
            Header::Traceparent => "traceparent",
        }
    }
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// More than the limit arrived (whatever `content-length` said).
    TooLarge { limit: u64 },
    /// The client went away or the stream failed.
    Io(String),
}

/// An incoming request as the core sees it.
pub trait Incoming {
    /// The method as received (`GET`, …).
    fn method(&self) -> &str;
    /// The path of the URL, without query or fragment (`/health`).
    fn path(&self) -> &str;
    /// The query string without `?`, if any.
    fn query(&self) -> Option<&str>;
    /// One header's value, or `None`.
    fn header(&self, name: Header) -> Option<String>;
    /// The URL's scheme (`https`, `http`).
    fn scheme(&self) -> &str;
    /// Whether the request has a body at all.
    fn has_body(&self) -> bool;
    /// Read the whole body, counting bytes as they arrive and stopping at
    /// `limit` (never trusting `content-length`).
    fn read_body(&self, limit: u64) -> LocalFuture<'_, Result<Vec<u8>, BodyError>>;
}

/// A response body produced chunk by chunk. The adapter pulls the next
/// chunk only when the client is ready for it (back-pressure) and drops
/// the stream when the client goes away, which drops the producer and
/// whatever it awaits (cancellation). An `Err` item says the producer
/// failed: the stream ends there (cleanly for the client, which should
/// already have been sent an error event) and the log line says `failed`.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>, String>>>>;

/// A response body.
pub enum Body {
    Empty,
    Bytes(Vec<u8>),
    Stream(ChunkStream),
}

impl Body {
    /// The bytes of a non-streamed body (empty for a stream).
    pub fn bytes(&self) -> &[u8] {
        match self {
            Body::Bytes(b) => b,
            _ => &[],
        }
    }

    pub fn is_stream(&self) -> bool {
        matches!(self, Body::Stream(_))
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Bytes(b) => write!(f, "Bytes({:?})", String::from_utf8_lossy(b)),
            Body::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// A response value; the adapter turns it into the platform's response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names are lowercase.
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

impl Response {
    pub fn new(status: u16, headers: Vec<(&'static str, String)>, body: Vec<u8>) -> Response {
        Response {
            status,
            headers,
            body: if body.is_empty() { Body::Empty } else { Body::Bytes(body) },
        }
    }

    /// The value of a header, for tests and the adapter.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    pub fn set_header(&mut self, name: &'static str, value: impl Into<String>) {
        let value = value.into();
        match self.headers.iter_mut().find(|(n, _)| *n == name) {
            Some(h) => h.1 = value,
            None => self.headers.push((name, value)),
        }
    }
}

/// A native request for tests, benchmarks and tools.
#[derive(Debug, Clone, Default)]
pub struct TestRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    /// Empty means `https`.
    pub scheme: String,
    pub body: Option<Vec<u8>>,
}

impl TestRequest {
    pub fn new(method: &str, path: &str) -> TestRequest {
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (path, None),
        };
        TestRequest {
            method: method.into(),
            path: path.into(),
            query,
            ..TestRequest::default()
        }
    }

    pub fn get(path: &str) -> TestRequest {
        TestRequest::new("GET", path)
    }

    /// Add a header (the name is lowercased, as the Fetch API does).
    pub fn with(mut self, name: &str, value: &str) -> TestRequest {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Set the body (no `content-length` is added: say it with `with`).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> TestRequest {
        self.body = Some(body.into());
        self
    }
}

impl Incoming for TestRequest {
    fn method(&self) -> &str {
        &self.method
    }

    fn path(&self) -> &str {
        &self.path
    }

    fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    fn scheme(&self) -> &str {
        if self.scheme.is_empty() {
            "https"
        } else {
            &self.scheme
        }
    }

    fn header(&self, name: Header) -> Option<String> {
        // The Fetch API joins repeated headers with ", ".
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n == name.name())
            .map(|(_, v)| v.as_str())
            .collect();
        if values.is_empty() {
            None
        } else {
            Some(values.join(", "))
        }
    }

    fn has_body(&self) -> bool {
        self.body.is_some()
    }

    fn read_body(&self, limit: u64) -> LocalFuture<'_, Result<Vec<u8>, BodyError>> {
        let b = self.body.clone().unwrap_or_default();
        Box::pin(async move {
            if b.len() as u64 > limit {
                Err(BodyError::TooLarge { limit })
            } else {
                Ok(b)
            }
        })
    }
}

/// The query string of a serialised WHATWG URL (`https://h/p?q#f` → `q`).
pub fn query_of_url(url: &str) -> Option<&str> {
    let q = &url[url.find('?')? + 1..];
    Some(q.split('#').next().unwrap_or(q))
}

/// One query parameter's raw value (`n=5&x=1`, `n` → `5`). No decoding:
/// the core reads only numbers and simple words from queries.
pub fn query_param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The path of a serialised WHATWG URL (`https://h/p?q` → `/p`).
pub fn path_of_url(url: &str) -> &str {
    let r = path_range_of_url(url);
    if r.is_empty() {
        "/"
    } else {
        &url[r]
    }
}

/// Where [`path_of_url`]'s path is in `url`; empty when there is none
/// (the path is then `/`). Byte scans (the separators are ASCII): cheaper
/// than a substring search.
pub fn path_range_of_url(url: &str) -> std::ops::Range<usize> {
    let b = url.as_bytes();
    let start = b.windows(3).position(|w| w == b"://").map_or(0, |i| i + 3);
    let Some(slash) = b[start..].iter().position(|&c| c == b'/') else {
        return 0..0;
    };
    let from = start + slash;
    let len = b[from..].iter().position(|&c| c == b'?' || c == b'#').unwrap_or(b.len() - from);
    from..from + len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_of_url_drops_query_and_fragment() {
        assert_eq!(path_of_url("https://acme.example.com/health?x=1#f"), "/health");
        assert_eq!(path_of_url("http://acme.localhost:8787/"), "/");
        assert_eq!(path_of_url("http://acme.localhost"), "/");
        assert_eq!(path_of_url("http://h/a/b#x"), "/a/b");
        assert_eq!(path_of_url("/relative/p?q"), "/relative/p");
        assert_eq!(path_of_url("http://h/é/ü?x"), "/é/ü");
        assert_eq!(path_of_url(""), "/");
    }

    #[test]
    fn methods_are_case_sensitive() {
        assert_eq!(Method::parse("GET"), Method::Get);
        assert_eq!(Method::parse("get"), Method::Other);
    }

    #[test]
    fn repeated_test_headers_join_like_fetch() {
        let r = TestRequest::get("/").with("X-Tenant-Id", "a").with("x-tenant-id", "b");
        assert_eq!(r.header(Header::TenantId).as_deref(), Some("a, b"));
    }

    #[test]
    fn header_names_are_lowercase_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for h in Header::ALL {
            assert_eq!(h.name(), h.name().to_ascii_lowercase());
            assert!(seen.insert(h.name()));
        }
    }

    #[test]
    fn query_parsing() {
        assert_eq!(query_of_url("https://h/p?n=5&x#f"), Some("n=5&x"));
        assert_eq!(query_of_url("https://h/p"), None);
        assert_eq!(query_param(Some("n=5&x"), "n"), Some("5"));
        assert_eq!(query_param(Some("n=5&x"), "x"), Some(""));
        assert_eq!(query_param(Some("n=5"), "m"), None);
        assert_eq!(TestRequest::get("/a?b=1").query(), Some("b=1"));
    }
}
