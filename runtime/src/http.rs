//! The HTTP surface the core sees: a method, a path, headers read on demand,
//! and a response value. The wasm adapter implements [`Incoming`] over the
//! workerd `Request` (reading each header only when the core asks for it);
//! native tests implement it over a plain struct.

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

/// Header names the core reads (lowercase, as the Fetch API normalises them).
pub mod header {
    pub const HOST: &str = "host";
    pub const TENANT_ID: &str = "x-tenant-id";
    pub const REQUEST_ID: &str = "x-request-id";
    pub const ORIGIN: &str = "origin";
    pub const CONTENT_LENGTH: &str = "content-length";
    pub const TRANSFER_ENCODING: &str = "transfer-encoding";
    pub const AC_REQUEST_METHOD: &str = "access-control-request-method";
}

/// An incoming request as the core sees it.
pub trait Incoming {
    /// The method as received (`GET`, …).
    fn method(&self) -> &str;
    /// The path of the URL, without query or fragment (`/health`).
    fn path(&self) -> &str;
    /// One header's value, or `None`. Names are lowercase.
    fn header(&self, name: &'static str) -> Option<String>;
    /// The URL's scheme (`https`, `http`).
    fn scheme(&self) -> &str;
}

/// A response value; the adapter turns it into the platform's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names are lowercase.
    pub headers: Vec<(&'static str, String)>,
    /// Empty for `HEAD` and `204`.
    pub body: Vec<u8>,
}

impl Response {
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
    pub headers: Vec<(String, String)>,
    /// Empty means `https`.
    pub scheme: String,
}

impl TestRequest {
    pub fn new(method: &str, path: &str) -> TestRequest {
        TestRequest {
            method: method.into(),
            path: path.into(),
            headers: vec![],
            scheme: String::new(),
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
}

impl Incoming for TestRequest {
    fn method(&self) -> &str {
        &self.method
    }

    fn path(&self) -> &str {
        &self.path
    }

    fn scheme(&self) -> &str {
        if self.scheme.is_empty() {
            "https"
        } else {
            &self.scheme
        }
    }

    fn header(&self, name: &'static str) -> Option<String> {
        // The Fetch API joins repeated headers with ", ".
        let values: Vec<&str> = self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect();
        if values.is_empty() {
            None
        } else {
            Some(values.join(", "))
        }
    }
}

/// The path of a serialised WHATWG URL (`https://h/p?q` → `/p`).
pub fn path_of_url(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    let Some(slash) = after_scheme.find('/') else { return "/" };
    let path = &after_scheme[slash..];
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
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
    }

    #[test]
    fn methods_are_case_sensitive() {
        assert_eq!(Method::parse("GET"), Method::Get);
        assert_eq!(Method::parse("get"), Method::Other);
    }

    #[test]
    fn repeated_test_headers_join_like_fetch() {
        let r = TestRequest::get("/").with("X-Tenant-Id", "a").with("x-tenant-id", "b");
        assert_eq!(r.header("x-tenant-id").as_deref(), Some("a, b"));
    }
}
