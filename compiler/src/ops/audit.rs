//! Verifying a tenant's tool audit log (`tenants audit verify`): the
//! records, read from the Worker's `GET /audit` or from an export, are
//! re-hashed and their chain re-linked.
//!
//! The hash rule is the Worker's (`runtime/src/objects/audit.rs`): a
//! record's `hash` is the SHA-256 (hex) of its fields in declaration
//! order, without `hash`, as compact JSON (strings, integers, `null`);
//! `prev_hash` is the previous record's `hash`, 64 zeros for record 1;
//! records are numbered 1, 2, 3 … without gaps. The runtime's tests check
//! that a log it writes verifies here, byte for byte.
//!
//! What verification proves: no stored record was altered, removed from
//! the middle or reordered since it was written. It cannot see records
//! cut from the end (keep an exported copy, or the last hash, to compare).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ops::ingest::Credentials;

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit record, as the Worker stores and serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub seq: u64,
    pub time_ms: u64,
    pub tenant: String,
    pub request_id: String,
    pub trace_id: String,
    pub principal: String,
    pub via: String,
    pub tool: String,
    pub args_sha256: String,
    pub outcome: String,
    pub code: Option<String>,
    pub latency_ms: u64,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Serialize)]
struct Canonical<'a> {
    seq: u64,
    time_ms: u64,
    tenant: &'a str,
    request_id: &'a str,
    trace_id: &'a str,
    principal: &'a str,
    via: &'a str,
    tool: &'a str,
    args_sha256: &'a str,
    outcome: &'a str,
    code: Option<&'a str>,
    latency_ms: u64,
    prev_hash: &'a str,
}

/// The bytes a record's hash covers.
pub fn canonical(r: &Record) -> String {
    serde_json::to_string(&Canonical {
        seq: r.seq,
        time_ms: r.time_ms,
        tenant: &r.tenant,
        request_id: &r.request_id,
        trace_id: &r.trace_id,
        principal: &r.principal,
        via: &r.via,
        tool: &r.tool,
        args_sha256: &r.args_sha256,
        outcome: &r.outcome,
        code: r.code.as_deref(),
        latency_ms: r.latency_ms,
        prev_hash: &r.prev_hash,
    })
    .unwrap_or_default()
}

pub fn hash(r: &Record) -> String {
    Sha256::digest(canonical(r).as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Where and why a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub seq: u64,
    pub why: String,
}

/// Check records 1…n in order: numbering, tenant, links and hashes.
pub fn verify(records: &[Record], tenant: Option<&str>) -> Result<usize, Broken> {
    let mut prev: Option<&Record> = None;
    for r in records {
        let want = prev.map_or(1, |p| p.seq + 1);
        if r.seq != want {
            return Err(Broken {
                seq: r.seq,
                why: format!("expected record {want} here: a record is missing or out of order"),
            });
        }
        if let Some(t) = tenant.filter(|t| *t != r.tenant) {
            return Err(Broken {
                seq: r.seq,
                why: format!("the record belongs to tenant `{}`, not `{t}`", r.tenant),
            });
        }
        let want_prev = prev.map_or(GENESIS, |p| p.hash.as_str());
        if r.prev_hash != want_prev {
            return Err(Broken {
                seq: r.seq,
                why: "its prev_hash is not the previous record's hash: a record before it was changed or removed".into(),
            });
        }
        let h = hash(r);
        if h != r.hash {
            return Err(Broken {
                seq: r.seq,
                why: format!("its content does not match its hash (altered): stored {}, computed {h}", r.hash),
            });
        }
        prev = Some(r);
    }
    Ok(records.len())
}

/// Records from an export: a JSON array, a `GET /audit` answer
/// (`{"data": {"records": […]}}`), or one record per line (JSON Lines).
pub fn parse_export(text: &str) -> Result<Vec<Record>, String> {
    let t = text.trim_start();
    if t.starts_with('[') {
        return serde_json::from_str(t).map_err(|e| format!("not a JSON array of audit records: {e}"));
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(t) {
        if let Some(records) = v.pointer("/data/records") {
            return serde_json::from_value(records.clone()).map_err(|e| format!("`data.records` is not a list of audit records: {e}"));
        }
    }
    t.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: not an audit record: {e}", i + 1)))
        .collect()
}

/// Why the Worker's log could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    pub status: Option<u16>,
    pub message: String,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "the Worker answered {s}: {}", self.message),
            None => write!(f, "the Worker could not be reached: {}", self.message),
        }
    }
}

/// Every record of the tenant's log, page by page (`GET /audit`).
pub fn fetch(base: &str, host: Option<&str>, credentials: &Credentials, timeout: Duration) -> Result<Vec<Record>, FetchError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(timeout))
        .user_agent(concat!("tenants-audit/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut out: Vec<Record> = Vec::new();
    let mut after = 0u64;
    loop {
        let url = format!("{}/audit?limit=500&after={after}", base.trim_end_matches('/'));
        let mut req = agent.get(&url);
        if let Some(h) = host {
            req = req.header("host", h);
        }
        req = match credentials {
            Credentials::Bearer(t) => req.header("authorization", &format!("Bearer {t}")),
            Credentials::DevUser { id, roles } => req.header("x-user-id", id).header("x-user-roles", roles),
        };
        let mut resp = req.call().map_err(|e| FetchError {
            status: None,
            message: e.to_string(),
        })?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().map_err(|e| FetchError {
            status: Some(status),
            message: e.to_string(),
        })?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| FetchError {
            status: Some(status),
            message: format!("not JSON: {e}"),
        })?;
        if status != 200 {
            let msg = v.pointer("/error/message").and_then(|m| m.as_str()).unwrap_or("no message");
            let code = v.pointer("/error/code").and_then(|m| m.as_str()).unwrap_or("?");
            return Err(FetchError {
                status: Some(status),
                message: format!("{code}: {msg}"),
            });
        }
        let page: Vec<Record> =
            serde_json::from_value(v.pointer("/data/records").cloned().unwrap_or_default()).map_err(|e| FetchError {
                status: Some(status),
                message: format!("the records are not audit records: {e}"),
            })?;
        out.extend(page);
        match v.pointer("/data/next").and_then(|n| n.as_str()).and_then(|n| n.parse::<u64>().ok()) {
            Some(n) if n > after => after = n,
            _ => return Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<Record> {
        let mut v: Vec<Record> = Vec::new();
        for i in 1..=n {
            let mut r = Record {
                seq: i,
                time_ms: 1000 + i,
                tenant: "acme".into(),
                request_id: format!("r{i}"),
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                principal: "alice".into(),
                via: "model".into(),
                tool: "summarize".into(),
                args_sha256: "ab".repeat(32),
                outcome: "ok".into(),
                code: None,
                latency_ms: 5,
                prev_hash: v.last().map_or(GENESIS.to_string(), |p| p.hash.clone()),
                hash: String::new(),
            };
            r.hash = hash(&r);
            v.push(r);
        }
        v
    }

    #[test]
    fn a_chain_verifies_and_each_kind_of_tampering_is_located() {
        let v = chain(4);
        assert_eq!(verify(&v, Some("acme")), Ok(4));
        let mut t = v.clone();
        t[1].principal = "mallory".into();
        assert_eq!(verify(&t, None).unwrap_err().seq, 2);
        let mut t = v.clone();
        t.remove(2);
        assert_eq!(verify(&t, None).unwrap_err().seq, 4);
        assert_eq!(verify(&v, Some("globex")).unwrap_err().seq, 1);
    }

    #[test]
    fn exports_are_read_as_arrays_pages_or_lines() {
        let v = chain(2);
        let arr = serde_json::to_string(&v).unwrap();
        assert_eq!(parse_export(&arr).unwrap(), v);
        let page = serde_json::json!({"data": {"records": v, "next": null}, "request_id": "x"}).to_string();
        assert_eq!(parse_export(&page).unwrap(), v);
        let lines: String = v.iter().map(|r| serde_json::to_string(r).unwrap() + "\n").collect();
        assert_eq!(parse_export(&lines).unwrap(), v);
        assert!(parse_export("{\"nope\": 1}\n").is_err());
    }
}
