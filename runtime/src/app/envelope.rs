//! The one error envelope and the success envelope.
//!
//! Every failure the Worker can produce is an [`ErrorCode`]: a stable
//! machine-readable code, an HTTP status and a message for people. The body
//! is always `{"error":{"code","message","request_id"}}` (plus `details`
//! for body errors) with `content-type: application/json`; never a bare
//! status, HTML or panic text. JSON routes answer `{"data":…,"request_id":…}`.

use crate::http::body::Detail;
use crate::http::Response;
use schemars::JsonSchema;
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
    /// The body is larger than the route accepts (counted as it arrives).
    PayloadTooLarge,
    /// The body is not JSON (`content-type`).
    UnsupportedMediaType,
    /// The body is not valid JSON (`details` has the line and column).
    InvalidJson,
    /// The body is JSON but breaks the route's schema (`details` lists every
    /// field error with its JSON pointer).
    InvalidRequest,
    /// No credentials, or credentials that were not accepted
    /// (`www-authenticate` says which schemes the tenant takes).
    Unauthenticated,
    /// Authenticated, but without a role the route needs.
    Forbidden,
    /// A rate limit of the tenant file is used up (`retry-after`).
    RateLimited,
    /// No route has this path (or the named resource does not exist).
    NotFound,
    /// The route exists but not with this method (`allow` lists the methods).
    MethodNotAllowed,
    /// The deployment's vars do not name a tenant and environment of this build.
    DeploymentMisconfigured,
    /// The deployment lacks a binding the route needs.
    BindingUnavailable,
    /// The rate limiter cannot be reached; requests are refused, not let
    /// through unlimited (`retry-after`).
    RateLimiterUnavailable,
    /// The identity provider's keys cannot be fetched and none are cached.
    AuthUnavailable,
    /// A chat session that does not exist for this caller (another
    /// user's or another tenant's session is the same: not there).
    SessionNotFound,
    /// The request names a model the tenant's routes do not allow.
    ModelNotAllowed,
    /// The messages are longer than the tenant's `safety max-input-chars`.
    InputTooLong,
    /// The messages contain a term the tenant blocks.
    BlockedContent,
    /// The tenant's (or the user's) daily token budget is used up
    /// (`retry-after`, `x-budget-reset`).
    BudgetExhausted,
    /// The model provider failed before the first token (every model and
    /// retry tried).
    UpstreamError,
    /// The model provider did not answer in time.
    UpstreamTimeout,
    /// No tool of that name is enabled for this tenant (a tool that does
    /// not exist is the same: not there).
    ToolNotFound,
    /// The tool is enabled, but not for the caller's roles.
    ToolForbidden,
    /// The tool did not finish within its timeout.
    ToolTimeout,
    /// The tool failed, or its output broke its own schema.
    ToolFailed,
    /// The tenant's audit log cannot be reached; no tool runs unaudited.
    AuditUnavailable,
    /// The tenant has this feature switched off (`tts enabled=#false`).
    FeatureDisabled,
    /// The text is longer than the tenant's `tts max-chars`.
    TextTooLong,
    /// Anything else that went wrong inside the Worker.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 34] = [
        ErrorCode::TenantUnknown,
        ErrorCode::TenantHeaderNotAllowed,
        ErrorCode::TenantConflict,
        ErrorCode::TenantNotServed,
        ErrorCode::OriginNotAllowed,
        ErrorCode::InvalidContentLength,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::InvalidJson,
        ErrorCode::InvalidRequest,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::RateLimited,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::DeploymentMisconfigured,
        ErrorCode::BindingUnavailable,
        ErrorCode::RateLimiterUnavailable,
        ErrorCode::AuthUnavailable,
        ErrorCode::SessionNotFound,
        ErrorCode::ModelNotAllowed,
        ErrorCode::InputTooLong,
        ErrorCode::BlockedContent,
        ErrorCode::BudgetExhausted,
        ErrorCode::UpstreamError,
        ErrorCode::UpstreamTimeout,
        ErrorCode::ToolNotFound,
        ErrorCode::ToolForbidden,
        ErrorCode::ToolTimeout,
        ErrorCode::ToolFailed,
        ErrorCode::AuditUnavailable,
        ErrorCode::FeatureDisabled,
        ErrorCode::TextTooLong,
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
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::DeploymentMisconfigured => "deployment_misconfigured",
            ErrorCode::BindingUnavailable => "binding_unavailable",
            ErrorCode::RateLimiterUnavailable => "rate_limiter_unavailable",
            ErrorCode::AuthUnavailable => "auth_unavailable",
            ErrorCode::SessionNotFound => "session_not_found",
            ErrorCode::ModelNotAllowed => "model_not_allowed",
            ErrorCode::InputTooLong => "input_too_long",
            ErrorCode::BlockedContent => "blocked_content",
            ErrorCode::BudgetExhausted => "budget_exhausted",
            ErrorCode::UpstreamError => "upstream_error",
            ErrorCode::UpstreamTimeout => "upstream_timeout",
            ErrorCode::ToolNotFound => "tool_not_found",
            ErrorCode::ToolForbidden => "tool_forbidden",
            ErrorCode::ToolTimeout => "tool_timeout",
            ErrorCode::ToolFailed => "tool_failed",
            ErrorCode::AuditUnavailable => "audit_unavailable",
            ErrorCode::FeatureDisabled => "feature_disabled",
            ErrorCode::TextTooLong => "text_too_long",
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
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::InvalidJson => 400,
            ErrorCode::InvalidRequest => 422,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::RateLimited => 429,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::DeploymentMisconfigured => 500,
            ErrorCode::BindingUnavailable => 503,
            ErrorCode::RateLimiterUnavailable => 503,
            ErrorCode::AuthUnavailable => 503,
            ErrorCode::SessionNotFound => 404,
            ErrorCode::ModelNotAllowed => 400,
            ErrorCode::InputTooLong => 400,
            ErrorCode::BlockedContent => 400,
            ErrorCode::BudgetExhausted => 429,
            ErrorCode::UpstreamError => 502,
            ErrorCode::UpstreamTimeout => 504,
            ErrorCode::ToolNotFound => 404,
            ErrorCode::ToolForbidden => 403,
            ErrorCode::ToolTimeout => 504,
            ErrorCode::ToolFailed => 502,
            ErrorCode::AuditUnavailable => 503,
            ErrorCode::FeatureDisabled => 404,
            ErrorCode::TextTooLong => 413,
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
    pub allow: Option<String>,
    /// Extra response headers (`www-authenticate`, `retry-after`, …).
    pub headers: Vec<(&'static str, String)>,
    /// Body problems (`invalid_json`, `invalid_request`), in the envelope
    /// as `details`.
    pub details: Vec<Detail>,
    /// What only the log line may say (why a credential was refused);
    /// never in the envelope.
    pub log_detail: Option<String>,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            allow: None,
            headers: Vec::new(),
            details: Vec::new(),
            log_detail: None,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Failure {
        self.headers.push((name, value.into()));
        self
    }

    pub fn with_details(mut self, details: Vec<Detail>) -> Failure {
        self.details = details;
        self
    }

    pub fn with_log_detail(mut self, detail: impl Into<String>) -> Failure {
        self.log_detail = Some(detail.into());
        self
    }
}

pub const JSON: &str = "application/json; charset=utf-8";

/// The error envelope (its JSON Schema is the one docs/openapi.json publishes).
#[derive(Serialize, JsonSchema)]
pub(crate) struct ErrorEnvelope<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct ErrorBody<'a> {
    /// A stable machine-readable code (see each response's `x-error-codes`).
    code: &'static str,
    /// For people; never part of the API contract.
    message: &'a str,
    request_id: &'a str,
    /// Body problems (`invalid_json`, `invalid_request`).
    #[serde(skip_serializing_if = "<[Detail]>::is_empty")]
    details: &'a [Detail],
}

#[derive(Serialize)]
struct DataBody<'a, T: Serialize + ?Sized> {
    data: &'a T,
    request_id: &'a str,
}

/// The error envelope for `failure`, with the request id.
pub fn error_response(failure: &Failure, request_id: &str) -> Response {
    let body = serde_json::to_vec(&ErrorEnvelope {
        error: ErrorBody {
            code: failure.code.code(),
            message: &failure.message,
            request_id,
            details: &failure.details,
        },
    })
    .unwrap_or_else(|_| br#"{"error":{"code":"internal","message":"could not encode the error","request_id":""}}"#.to_vec());
    let mut headers = vec![("content-type", JSON.to_string())];
    if let Some(allow) = &failure.allow {
        headers.push(("allow", allow.clone()));
    }
    headers.extend(failure.headers.iter().cloned());
    Response::new(failure.code.status(), headers, body)
}

/// A response body that could not be encoded (never expected).
pub fn encode_failure(e: serde_json::Error) -> Failure {
    Failure::new(ErrorCode::Internal, format!("could not encode the response: {e}"))
}

/// The success envelope `{"data":…,"request_id":…}` with status 200.
pub fn data_response<T: Serialize + ?Sized>(data: &T, request_id: &str) -> Response {
    // Most bodies fit: no regrowth on the way.
    let mut body = Vec::with_capacity(1024);
    match serde_json::to_writer(&mut body, &DataBody { data, request_id }) {
        Ok(()) => {
            // The headers the pipeline adds to every response fit too.
            let mut headers = Vec::with_capacity(8);
            headers.push(("content-type", JSON.to_string()));
            Response::new(200, headers, body)
        }
        Err(e) => error_response(&encode_failure(e), request_id),
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
        f.allow = Some("GET, HEAD, OPTIONS".into());
        let r = error_response(&f, "req-12345678");
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
        let v: serde_json::Value = serde_json::from_slice(r.body.bytes()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": {"code": "method_not_allowed", "message": "no \"POST\" here", "request_id": "req-12345678"}})
        );
    }
}
