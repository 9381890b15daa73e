//! The one error envelope and the success envelope.
//!
//! Every failure the Worker can produce is an [`ErrorCode`]: a stable
//! machine-readable code, an HTTP status and a message for people. The body
//! is always `{"error":{"code","message","request_id"}}` with
//! `content-type: application/json`; never a bare status, HTML or panic
//! text. JSON routes answer `{"data":…,"request_id":…}`.

use crate::http::Response;
use serde::Serialize;

/// Every error the Worker answers with. The table in docs/runtime.md lists
/// them; `code()` strings are stable API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No tenant serves the request's host (and no usable `x-tenant-id`).
    TenantUnknown,
    /// `x-tenant-id` named a tenant whose policy does not honour the header
    /// in this environment.
    TenantHeaderNotAllowed,
    /// `x-tenant-id` names another tenant than the host resolves to.
    TenantConflict,
    /// The request resolved to a tenant this (pinned) deployment does not serve.
    TenantNotServed,
    /// A cross-origin request from an origin the tenant does not allow.
    OriginNotAllowed,
    /// `content-length` is not a number.
    InvalidContentLength,
    /// The body is larger than the route accepts.
    PayloadTooLarge,
    /// No route has this path.
    NotFound,
    /// The route exists but not with this method (`allow` lists the methods).
    MethodNotAllowed,
    /// The deployment's vars do not name a tenant and environment of this build.
    DeploymentMisconfigured,
    /// Anything else that went wrong inside the Worker.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::TenantUnknown,
        ErrorCode::TenantHeaderNotAllowed,
        ErrorCode::TenantConflict,
        ErrorCode::TenantNotServed,
        ErrorCode::OriginNotAllowed,
        ErrorCode::InvalidContentLength,
        ErrorCode::PayloadTooLarge,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::DeploymentMisconfigured,
        ErrorCode::Internal,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            ErrorCode::TenantUnknown => "tenant_unknown",
            ErrorCode::TenantHeaderNotAllowed => "tenant_header_not_allowed",
            ErrorCode::TenantConflict => "tenant_conflict",
            ErrorCode::TenantNotServed => "tenant_not_served",
            ErrorCode::OriginNotAllowed => "origin_not_allowed",
            ErrorCode::InvalidContentLength => "invalid_content_length",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::DeploymentMisconfigured => "deployment_misconfigured",
            ErrorCode::Internal => "internal",
        }
    }

    pub const fn status(self) -> u16 {
        match self {
            ErrorCode::TenantUnknown => 404,
            ErrorCode::TenantHeaderNotAllowed => 403,
            ErrorCode::TenantConflict => 400,
            ErrorCode::TenantNotServed => 421,
            ErrorCode::OriginNotAllowed => 403,
            ErrorCode::InvalidContentLength => 400,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::DeploymentMisconfigured => 500,
            ErrorCode::Internal => 500,
        }
    }
}

/// An error on its way to becoming an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
    /// For 405: the methods the route accepts.
    pub allow: Option<&'static str>,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            allow: None,
        }
    }
}

pub const JSON: &str = "application/json; charset=utf-8";

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorInner<'a>,
}

#[derive(Serialize)]
struct ErrorInner<'a> {
    code: &'static str,
    message: &'a str,
    request_id: &'a str,
}

#[derive(Serialize)]
struct DataBody<'a, T: Serialize> {
    data: &'a T,
    request_id: &'a str,
}

/// The error envelope for `failure`, with the request id.
pub fn error_response(failure: &Failure, request_id: &str) -> Response {
    let body = serde_json::to_vec(&ErrorBody {
        error: ErrorInner {
            code: failure.code.code(),
            message: &failure.message,
            request_id,
        },
    })
    .unwrap_or_else(|_| br#"{"error":{"code":"internal","message":"could not encode the error","request_id":""}}"#.to_vec());
    let mut headers = vec![("content-type", JSON.to_string())];
    if let Some(allow) = failure.allow {
        headers.push(("allow", allow.to_string()));
    }
    Response {
        status: failure.code.status(),
        headers,
        body,
    }
}

/// The success envelope `{"data":…,"request_id":…}` with status 200.
pub fn data_response<T: Serialize>(data: &T, request_id: &str) -> Response {
    match serde_json::to_vec(&DataBody { data, request_id }) {
        Ok(body) => Response {
            status: 200,
            headers: vec![("content-type", JSON.to_string())],
            body,
        },
        Err(e) => error_response(
            &Failure::new(ErrorCode::Internal, format!("could not encode the response: {e}")),
            request_id,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_distinct_snake_case_and_an_error_status() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.code()), "duplicate code {}", c.code());
            assert!(c.code().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{}", c.code());
            assert!((400..600).contains(&c.status()), "{}", c.code());
        }
    }

    #[test]
    fn error_envelope_escapes_the_message_and_carries_allow() {
        let mut f = Failure::new(ErrorCode::MethodNotAllowed, "no \"POST\" here");
        f.allow = Some("GET, HEAD, OPTIONS");
        let r = error_response(&f, "req-12345678");
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": {"code": "method_not_allowed", "message": "no \"POST\" here", "request_id": "req-12345678"}})
        );
    }
}
