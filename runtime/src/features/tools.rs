//! `GET /tools` (the tools the caller may use, in OpenAI's
//! function-calling shape), `POST /tools/{name}` (call one, through the
//! dispatcher: [`crate::tools::dispatch`]) and `GET /audit` (the tenant's
//! tool audit log, for its admins).
//!
//! `POST /tools/{name}` takes the tool's arguments as the JSON body and
//! answers `{"data": {"tool", "result", "audit_seq"}}`. It is rate-limited
//! and, for a tool that calls the model, reserves tokens from the daily
//! budget before it runs and settles them after.

use std::cell::RefCell;
use std::rc::Rc;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::ai::Usage;
use crate::app::envelope::{data_response, ErrorCode, Failure};
use crate::app::Scope;
use crate::http::body::Detail;
use crate::http::{query_param, Incoming, Response};
use crate::objects::audit::{AuditOp, AuditRecord, AuditReply, MAX_PAGE};
use crate::tenancy::keys::Space;
use crate::tools::dispatch::{Dispatcher, Via};

/// One tool the caller may use.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ToolListing {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionDef,
    /// Milliseconds a call may take.
    pub timeout_ms: u32,
    /// Calls the tenant's chat model (spends tokens).
    pub uses_model: bool,
}

/// OpenAI's function definition.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FunctionDef {
    pub name: &'static str,
    pub description: &'static str,
    /// The arguments' JSON Schema.
    pub parameters: Value,
}

/// `GET /tools` answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ToolList {
    pub tools: Vec<ToolListing>,
    /// Other capabilities of this tenant callers may use: `POST /tts` when
    /// its text-to-speech is on.
    pub endpoints: Vec<Endpoint>,
}

/// A capability that is a route of its own.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub description: String,
}

/// `POST /tools/{name}` answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ToolResult {
    pub tool: String,
    /// The tool's result (its schema is in the tool's docs).
    pub result: Value,
    /// The call's record in `GET /audit`.
    pub audit_seq: u64,
}

/// `GET /audit` answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AuditPage {
    /// Oldest first.
    pub records: Vec<AuditRecord>,
    /// Pass as `after` for the next page (`null`: no more).
    pub next: Option<String>,
}

fn principal<'a, R: Incoming>(s: &Scope<'a, R>) -> Result<&'a crate::auth::Principal, Failure> {
    s.principal
        .ok_or_else(|| Failure::new(ErrorCode::Internal, "tools without a principal"))
}

/// The listing of what `principal` may call.
pub fn listing(cfg: &'static crate::tenants::TenantConfig, principal: &crate::auth::Principal) -> ToolList {
    ToolList {
        tools: crate::tools::permitted(cfg, principal)
            .into_iter()
            .map(|(t, spec)| ToolListing {
                kind: "function",
                function: FunctionDef {
                    name: spec.name,
                    description: spec.description,
                    parameters: (*(spec.parameters)()).clone(),
                },
                timeout_ms: t.timeout_ms.unwrap_or(spec.timeout_ms),
                uses_model: spec.uses_model,
            })
            .collect(),
        endpoints: match (cfg.tts.enabled, cfg.ai.tts_model) {
            (true, Some(model)) => vec![Endpoint {
                method: "POST",
                path: "/tts",
                description: format!(
                    "Speak a text of up to {} characters with {model} (`{{text, voice?, format?}}` → audio)",
                    cfg.tts.max_chars
                ),
            }],
            _ => Vec::new(),
        },
    }
}

pub fn list<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    Ok(data_response(&listing(s.ctx.config(), principal(s)?), s.request_id))
}

pub async fn call<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    let principal = principal(s)?;
    let name = crate::features::documents::decode(s.param.unwrap_or_default());
    let args: Value = s.json().await?;
    // The budget reservation, sized from the registry's tool of that name
    // (none for a tool that calls no model, or no such tool).
    let reserve = crate::tools::find(&name).map_or(0, |spec| (spec.reserve)(&args));
    let budget = if reserve > 0 {
        crate::features::chat::limit_and_reserve(s, principal, reserve).await?
    } else {
        // A tool that calls no model spends no tokens: the rate limit only.
        let ip = s.req.header(crate::http::Header::CfConnectingIp);
        *s.limit_headers.borrow_mut() = crate::limits::check(s.ctx, principal, ip.as_deref(), s.ports).await?;
        None
    };
    let used = Rc::new(RefCell::new(Usage::default()));
    let d = Dispatcher {
        ctx: s.ctx,
        ports: s.ports,
        principal,
        request_id: s.request_id,
        traceparent: s.traceparent,
        used: used.clone(),
    };
    let done = d.call(&name, args, Via::Direct).await;
    if let Some(b) = &budget {
        let total = used.borrow().total();
        b.release(total).await;
    }
    let value = done.result?;
    let seq = done.record.map_or(0, |r| r.seq);
    Ok(data_response(
        &ToolResult {
            tool: name,
            result: value,
            audit_seq: seq,
        },
        s.request_id,
    ))
}

/// `since`: milliseconds since the epoch, or an RFC 3339 UTC time
/// (`2026-12-05T10:00:00Z`, fractions allowed).
pub fn parse_since(v: &str) -> Option<u64> {
    if let Ok(ms) = v.parse::<u64>() {
        return Some(ms);
    }
    let b = v.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| v.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, s) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = &v[19..];
    let (frac, zone) = match rest.strip_prefix('.') {
        Some(r) => {
            let n = r.find(|c: char| !c.is_ascii_digit())?;
            let digits = &r[..n.min(3)];
            let ms = format!("{digits:0<3}").parse::<i64>().ok()?;
            (ms, &r[n..])
        }
        None => (0, rest),
    };
    if !(zone == "Z" || zone == "z") || !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = ((days * 86_400 + h * 3600 + mi * 60 + s) * 1000) + frac;
    u64::try_from(ms).ok()
}

pub async fn audit<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    let q = s.req.query();
    let bad = |field: &str, msg: &str| {
        Failure::new(ErrorCode::InvalidRequest, msg.to_string()).with_details(vec![Detail::at(format!("/{field}"), msg)])
    };
    let since = match query_param(q, "since").map(crate::features::documents::decode) {
        None => 0,
        Some(v) => parse_since(&v).ok_or_else(|| {
            bad(
                "since",
                "`since` is milliseconds since the epoch or an RFC 3339 UTC time such as 2026-12-05T10:00:00Z",
            )
        })?,
    };
    let after = match query_param(q, "after") {
        None => 0,
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| bad("after", "`after` is the `next` of the previous page"))?,
    };
    let limit = match query_param(q, "limit") {
        None => 100,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => return Err(bad("limit", "`limit` must be 1–500")),
        },
    };
    let tool = query_param(q, "tool")
        .map(crate::features::documents::decode)
        .filter(|t| !t.is_empty());
    let audit = s
        .ports
        .audit
        .clone()
        .ok_or_else(|| Failure::new(ErrorCode::AuditUnavailable, "this deployment has no audit log (`AuditLog` binding)"))?;
    let op = AuditOp::List {
        after,
        since_ms: since,
        tool,
        limit,
    };
    match audit.call(&s.ctx.key(Space::Audit, &[]), &op).await {
        Ok(AuditReply::Page { records, next }) => Ok(data_response(
            &AuditPage {
                records,
                next: next.map(|n| n.to_string()),
            },
            s.request_id,
        )),
        Ok(r) => Err(Failure::new(ErrorCode::Internal, "the audit log answered unexpectedly").with_log_detail(format!("{r:?}"))),
        Err(e) => Err(Failure::new(ErrorCode::AuditUnavailable, "the audit log cannot be reached").with_log_detail(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_since;

    #[test]
    fn since_takes_milliseconds_or_rfc3339_utc() {
        assert_eq!(parse_since("1764928800000"), Some(1_764_928_800_000));
        assert_eq!(parse_since("2025-12-05T10:00:00Z"), Some(1_764_928_800_000));
        assert_eq!(parse_since("2025-12-05T10:00:00.25Z"), Some(1_764_928_800_250));
        assert_eq!(parse_since("1970-01-01T00:00:00Z"), Some(0));
        for bad in ["yesterday", "2025-12-05", "2025-12-05T10:00:00+01:00", "2025-13-05T10:00:00Z", ""] {
            assert_eq!(parse_since(bad), None, "{bad}");
        }
    }
}
