//! One structured JSON log line per request (workerd sends `console.log`
//! output to Workers Logs / `wrangler tail`; locally it is printed):
//!
//! ```json
//! {"level":"info","msg":"request","request_id":"…","tenant":"acme","env":"dev",
//!  "route":"health","method":"GET","path":"/health","status":200,"latency_ms":0,"error":null}
//! ```
//!
//! `tenant` and `route` are `null` when the request never got that far;
//! `error` is the envelope's code. Levels: `info` below 400, `warn` for 4xx,
//! `error` for 5xx. Client-controlled text (path, host) is JSON-escaped and
//! cut to 200 characters.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct RequestLog<'a> {
    pub level: &'static str,
    pub msg: &'static str,
    pub request_id: &'a str,
    pub tenant: Option<&'static str>,
    pub env: &'static str,
    pub route: Option<&'static str>,
    pub method: &'a str,
    pub path: &'a str,
    pub host: Option<&'a str>,
    pub status: u16,
    pub latency_ms: u64,
    pub error: Option<&'static str>,
    /// Extra detail for 5xx (what was misconfigured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
}

pub fn level(status: u16) -> &'static str {
    match status {
        500.. => "error",
        400.. => "warn",
        _ => "info",
    }
}

/// Cut client-controlled text for the log.
pub fn clip(s: &str) -> &str {
    match s.char_indices().nth(200) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

impl RequestLog<'_> {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"level":"error","msg":"log line could not be encoded"}"#.into())
    }
}
