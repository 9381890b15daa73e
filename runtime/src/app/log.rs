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
    /// The line as one JSON object: the fields in declaration order, the
    /// optional ones left out when absent, `ai`'s fields inline — exactly
    /// what the `Serialize` derive writes (a test holds the two to the
    /// same bytes). Written field by field into one buffer, each string
    /// copied whole unless it holds a character JSON escapes: on `/health`
    /// the derive's map serializer (for the flattened `ai`) and its
    /// byte-by-byte escaping were about a tenth of the Worker's own work
    /// (docs/benchmarks.md).
    pub fn to_json(&self) -> String {
        // A request line is 300–600 bytes: one allocation, no regrowth.
        let mut o = JsonObject::with_capacity(768);
        o.str("level", self.level);
        o.str("msg", self.msg);
        o.str("request_id", &self.request_id);
        o.some_str("trace_id", self.trace_id.as_deref());
        o.opt_str("tenant", self.tenant);
        o.str("env", self.env);
        o.opt_str("route", self.route);
        o.str("method", &self.method);
        o.str("path", &self.path);
        o.opt_str("host", self.host.as_deref());
        o.num("status", self.status.into());
        o.num("latency_ms", self.latency_ms);
        o.opt_str("error", self.error);
        o.some_str("principal", self.principal.as_deref());
        o.some_str("auth", self.auth);
        o.some_str("detail", self.detail.as_deref());
        o.some_str("stream", self.stream);
        o.some_num("chunks", self.chunks);
        o.some_num("bytes", self.bytes);
        if let Some(ai) = &self.ai {
            o.some_str("model", ai.model.as_deref());
            o.some_str("provider", ai.provider);
            o.some_num("attempts", ai.attempts.map(u64::from));
            o.some_num("ttft_ms", ai.ttft_ms);
            o.some_num("tokens_in", ai.tokens_in);
            o.some_num("tokens_out", ai.tokens_out);
            o.some_str("cache", ai.cache);
            o.some_str("upstream_id", ai.upstream_id.as_deref());
            o.some_str("session", ai.session.as_deref());
            o.some_str("answer", ai.answer);
            o.some_str("finish_reason", ai.finish_reason.as_deref());
        }
        o.finish()
    }
}

/// A JSON object written key by key. Keys are the caller's own constant
/// names (plain ASCII, nothing to escape).
struct JsonObject {
    out: String,
}

impl JsonObject {
    fn with_capacity(n: usize) -> JsonObject {
        let mut out = String::with_capacity(n);
        out.push('{');
        JsonObject { out }
    }

    fn key(&mut self, k: &str) {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        self.out.push('"');
        self.out.push_str(k);
        self.out.push_str("\":");
    }

    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        push_json_str(&mut self.out, v);
    }

    /// `null` when absent.
    fn opt_str(&mut self, k: &str, v: Option<&str>) {
        match v {
            Some(v) => self.str(k, v),
            None => {
                self.key(k);
                self.out.push_str("null");
            }
        }
    }

    /// Left out when absent.
    fn some_str(&mut self, k: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.str(k, v);
        }
    }

    fn num(&mut self, k: &str, v: u64) {
        self.key(k);
        self.out.push_str(itoa::Buffer::new().format(v));
    }

    fn some_num(&mut self, k: &str, v: Option<u64>) {
        if let Some(v) = v {
            self.num(k, v);
        }
    }

    fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// `s` as a JSON string. JSON escapes only `"`, `\\` and the control
/// characters below U+0020; a string without them (nearly every one a
/// log line holds) is copied as it is, any other is escaped by serde_json.
fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        // Serializing a `str` cannot fail.
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
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

    /// Every field of a line, present or absent, with text that needs
    /// escaping and text that does not.
    fn lines() -> Vec<RequestLog> {
        let texts = [
            "",
            "plain",
            "q\"uote",
            "back\\slash",
            "tab\tnew\nline\r",
            "\u{1}\u{1f}\u{7f}",
            "héllo ✓ 😀",
            "</script>",
        ];
        let mut out = vec![RequestLog::default()];
        for (i, t) in texts.iter().enumerate() {
            let some = |s: &str| Some(s.to_string());
            out.push(RequestLog {
                level: "warn",
                msg: "request",
                request_id: t.to_string(),
                trace_id: some(t),
                tenant: Some("acme"),
                env: "dev",
                route: (i % 2 == 0).then_some("chat"),
                method: t.to_string(),
                path: format!("/p/{t}"),
                host: (i % 3 != 0).then(|| t.to_string()),
                status: 400 + i as u16,
                latency_ms: u64::MAX - i as u64,
                error: Some("tenant_unknown"),
                principal: some(t),
                auth: (i % 2 == 1).then_some("jwt"),
                detail: some(t),
                stream: Some("cancelled"),
                chunks: Some(i as u64),
                bytes: (i % 2 == 0).then_some(0),
                ai: (i % 3 != 1).then(|| AiLog {
                    model: some(t),
                    provider: Some("gateway"),
                    attempts: Some(u32::MAX),
                    ttft_ms: Some(7),
                    tokens_in: (i % 2 == 0).then_some(12),
                    tokens_out: Some(0),
                    cache: Some("hit"),
                    upstream_id: some(t),
                    session: (i % 2 == 1).then(|| t.to_string()),
                    answer: Some("complete"),
                    finish_reason: some(t),
                }),
            });
        }
        out.push(RequestLog {
            ai: Some(AiLog::default()),
            ..RequestLog::default()
        });
        out
    }

    #[test]
    fn a_line_is_byte_for_byte_what_the_serialize_derive_writes() {
        for line in lines() {
            let want = serde_json::to_string(&line).unwrap();
            assert_eq!(line.to_json(), want);
            serde_json::from_str::<serde_json::Value>(&want).unwrap();
        }
    }

    #[test]
    fn a_string_is_escaped_exactly_as_serde_json_escapes_it() {
        // Every ASCII character, alone and inside text.
        for b in 0u8..=127 {
            let c = char::from(b);
            for s in [c.to_string(), format!("a{c}b")] {
                let mut out = String::new();
                push_json_str(&mut out, &s);
                assert_eq!(out, serde_json::to_string(&s).unwrap(), "{b:#x}");
            }
        }
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
