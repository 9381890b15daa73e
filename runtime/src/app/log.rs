//! One structured JSON log line per request (workerd sends `console.log`
//! output to Workers Logs / `wrangler tail`; locally it is printed):
//!
//! ```json
//! {"level":"info","msg":"request","request_id":"…","tenant":"acme","env":"dev",
//!  "route":"health","method":"GET","path":"/health","status":200,"latency_ms":0,"error":null}
//! ```
//!
//! `tenant` and `route` are `null` when the request never got that far;
//! `error` is the envelope's code; `principal` (a salted hash of the user)
//! and `auth` say who called;
//! `detail` what only the log may say (why a credential was refused). A
//! streamed response's line is written when the stream ends, with
//! `stream`, `chunks` and `bytes`. Levels: `info` below 400, `warn` for 4xx,
//! `error` for 5xx. Client-controlled text (path, host) is JSON-escaped and
//! cut to 200 characters.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The var (or secret) whose value salts the principal hashes of the log.
pub const SALT_VAR: &str = "LOG_SALT";

/// `p_` and the first 16 hex digits of SHA-256(`salt` `\n` tenant `\n`
/// user). Without a salt the hash is still stable, but anyone who can
/// guess user ids can recompute it: set the `LOG_SALT` secret.
pub fn principal_hash(salt: &str, tenant: &str, user: &str) -> String {
    let d = Sha256::digest(format!("{salt}\n{tenant}\n{user}").as_bytes());
    let mut h = String::from("p_");
    super::request_id::push_hex(&mut h, &d[..8]);
    h
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestLog {
    pub level: &'static str,
    pub msg: &'static str,
    pub request_id: String,
    /// The W3C trace id (the caller's `traceparent`, else the request id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    pub tenant: Option<&'static str>,
    pub env: &'static str,
    pub route: Option<&'static str>,
    pub method: String,
    pub path: String,
    pub host: Option<String>,
    pub status: u16,
    pub latency_ms: u64,
    pub error: Option<&'static str>,
    /// Who called, as a salted hash ([`principal_hash`]): lines of one
    /// user can be grouped, the user is not named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// How the user authenticated (`jwt`, `access`, `api-key`, `development`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<&'static str>,
    /// What the envelope does not say: why a credential was refused, which
    /// limit refused, what is misconfigured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For streamed responses, written when the stream ends: `completed`,
    /// `cancelled` (the client went away) or `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunks: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Model calls (`/chat`): which model answered, tokens, timings.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub ai: Option<AiLog>,
}

/// The fields of a request that called a model.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AiLog {
    /// The model that answered (or the last one tried).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `workers-ai`, `gateway` or `openai-compatible`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Milliseconds from the first attempt to the first token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_in: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_out: Option<u64>,
    /// `hit`, `miss` or `off`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<&'static str>,
    /// The gateway's log id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// `complete`, `interrupted` or `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
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
    // At most 200 bytes is at most 200 characters: nothing to count.
    if s.len() <= 200 {
        return s;
    }
    match s.char_indices().nth(200) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

impl RequestLog {
    pub fn to_json(&self) -> String {
        // A request line is 300–600 bytes: one allocation, no regrowth.
        let mut out = Vec::with_capacity(768);
        match serde_json::to_writer(&mut out, self) {
            // serde_json writes UTF-8 only.
            Ok(()) => String::from_utf8(out).unwrap_or_default(),
            Err(_) => r#"{"level":"error","msg":"log line could not be encoded"}"#.into(),
        }
    }
}

/// The last request lines of this isolate, by request id, for the
/// playground's "log line" links (`/_playground/log/{id}`). Development
/// deployments only (the wasm entry creates one only there); at most
/// [`RecentLines::CAPACITY`] lines, the oldest dropped first.
#[derive(Default)]
pub struct RecentLines {
    /// (tenant, request id, line)
    lines: std::cell::RefCell<std::collections::VecDeque<(&'static str, String, String)>>,
}

impl RecentLines {
    pub const CAPACITY: usize = 256;

    pub fn push(&self, tenant: &'static str, request_id: &str, json: &str) {
        let mut l = self.lines.borrow_mut();
        if l.len() == Self::CAPACITY {
            l.pop_front();
        }
        l.push_back((tenant, request_id.to_string(), json.to_string()));
    }

    /// The line of `request_id`, if this isolate wrote it recently for
    /// `tenant` (another tenant's request id finds nothing).
    pub fn get(&self, tenant: &str, request_id: &str) -> Option<String> {
        self.lines
            .borrow()
            .iter()
            .rev()
            .find(|(t, id, _)| *t == tenant && id == request_id)
            .map(|(_, _, j)| j.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_200_characters_whatever_their_bytes() {
        assert_eq!(clip(&"a".repeat(200)), "a".repeat(200));
        assert_eq!(clip(&"a".repeat(201)), "a".repeat(200));
        // 150 two-byte characters (300 bytes) are kept whole; 250 are cut at 200.
        assert_eq!(clip(&"é".repeat(150)), "é".repeat(150));
        assert_eq!(clip(&"é".repeat(250)), "é".repeat(200));
    }

    #[test]
    fn a_principal_hash_is_p_and_16_hex_digits_of_the_salted_digest() {
        let d = Sha256::digest(b"salt\nacme\nalice");
        let want: String = d.iter().take(8).map(|b| format!("{b:02x}")).collect();
        assert_eq!(principal_hash("salt", "acme", "alice"), format!("p_{want}"));
        assert_ne!(principal_hash("salt", "globex", "alice"), principal_hash("salt", "acme", "alice"));
    }

    #[test]
    fn a_request_line_is_one_json_object() {
        let line = RequestLog {
            level: "info",
            msg: "request",
            request_id: "r\"1".into(),
            method: "GET".into(),
            path: "/health".into(),
            status: 200,
            ..RequestLog::default()
        };
        let v: serde_json::Value = serde_json::from_str(&line.to_json()).unwrap();
        assert_eq!(
            (v["request_id"].as_str(), v["status"].as_u64(), v["path"].as_str()),
            (Some("r\"1"), Some(200), Some("/health"))
        );
    }
}
