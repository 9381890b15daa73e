//! The tool audit log: the `AUDIT` Durable Object's protocol (one object
//! per tenant, class `AuditLog`, SQLite storage) and the hash chain that
//! makes it tamper-evident.
//!
//! Every tool execution — a direct `POST /tools/{name}` or a model's call
//! inside `/chat` — is one [`AuditRecord`]: when, which tenant, request
//! and principal, which tool, the SHA-256 of its canonical arguments, the
//! outcome (`ok`, `refused` with its code, `failed` with its code) and the
//! latency. Admins read them with `GET /audit`.
//!
//! Invariants:
//! - records are numbered 1, 2, 3 … without gaps, in the order the object
//!   appended them (a Durable Object runs one operation at a time, and
//!   [`AuditOp::Append`] does not await between reading the last record
//!   and storing the next);
//! - each record's `prev_hash` is the `hash` of the record before it (the
//!   first one's is [`GENESIS`]); its `hash` is the SHA-256 of its
//!   canonical JSON ([`canonical_record`]), so changing, removing or
//!   reordering a stored record breaks the chain at that record, which
//!   [`verify`] (and `tenants audit verify`, which recomputes it with the
//!   same rule) reports;
//! - the canonical JSON is the record's fields in declaration order,
//!   without `hash`, compact, as serde_json writes them: only strings,
//!   integers and `null`, so both sides produce the same bytes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Records per `GET /audit` page at most.
pub const MAX_PAGE: u32 = 500;

/// What the dispatcher knows about one execution (the object adds the
/// sequence number and the chain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub tenant: String,
    pub request_id: String,
    /// The request's W3C trace id.
    pub trace_id: String,
    /// The caller (`Principal::user`).
    pub principal: String,
    /// `direct` (`POST /tools/{name}`) or `model` (a tool call in `/chat`).
    pub via: String,
    /// The tool as named by the caller (at most 64 characters kept).
    pub tool: String,
    /// SHA-256 (hex) of the arguments' canonical JSON (keys sorted).
    pub args_sha256: String,
    /// `ok`, `refused` or `failed`.
    pub outcome: String,
    /// The error code of a refusal or failure (`tool_forbidden`, …).
    pub code: Option<String>,
    pub latency_ms: u64,
}

/// One stored record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditRecord {
    /// 1, 2, 3 … per tenant, without gaps.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub tenant: String,
    pub request_id: String,
    /// The request's W3C trace id.
    pub trace_id: String,
    pub principal: String,
    /// `direct` or `model`.
    pub via: String,
    pub tool: String,
    /// SHA-256 (hex) of the arguments' canonical JSON.
    pub args_sha256: String,
    /// `ok`, `refused` or `failed`.
    pub outcome: String,
    /// The error code of a refusal or failure.
    pub code: Option<String>,
    pub latency_ms: u64,
    /// The previous record's `hash` (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 (hex) of this record's canonical JSON (every field above).
    pub hash: String,
}

/// The fields a record's hash covers, in their canonical order.
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

/// The bytes a record's hash is taken over.
pub fn canonical_record(r: &AuditRecord) -> String {
    let c = Canonical {
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
    };
    serde_json::to_string(&c).unwrap_or_default()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The record that follows `prev` (`None`: the first).
pub fn seal(prev: Option<(u64, &str)>, e: AuditEntry) -> AuditRecord {
    let (seq, prev_hash) = match prev {
        Some((s, h)) => (s + 1, h.to_string()),
        None => (1, GENESIS.to_string()),
    };
    let mut r = AuditRecord {
        seq,
        time_ms: e.time_ms,
        tenant: e.tenant,
        request_id: e.request_id,
        trace_id: e.trace_id,
        principal: e.principal,
        via: e.via,
        tool: e.tool,
        args_sha256: e.args_sha256,
        outcome: e.outcome,
        code: e.code,
        latency_ms: e.latency_ms,
        prev_hash,
        hash: String::new(),
    };
    r.hash = sha256_hex(canonical_record(&r).as_bytes());
    r
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub seq: u64,
    pub why: String,
}

/// Check a run of consecutive records, from the first (`seq` 1) on:
/// numbering, links and hashes. The count on success.
pub fn verify(records: &[AuditRecord]) -> Result<usize, Broken> {
    let mut prev: Option<&AuditRecord> = None;
    for r in records {
        let want_seq = prev.map_or(1, |p| p.seq + 1);
        if r.seq != want_seq {
            return Err(Broken {
                seq: r.seq,
                why: format!("expected record {want_seq} here (a record is missing or out of order)"),
            });
        }
        let want_prev = prev.map_or(GENESIS, |p| p.hash.as_str());
        if r.prev_hash != want_prev {
            return Err(Broken {
                seq: r.seq,
                why: "prev_hash is not the previous record's hash".into(),
            });
        }
        if sha256_hex(canonical_record(r).as_bytes()) != r.hash {
            return Err(Broken {
                seq: r.seq,
                why: "the record's content does not match its hash (altered)".into(),
            });
        }
        prev = Some(r);
    }
    Ok(records.len())
}

/// An operation on a tenant's audit object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AuditOp {
    /// Seal and store one record.
    Append { entry: AuditEntry },
    /// Records with `seq > after`, `time_ms >= since_ms` and (when given)
    /// this tool, oldest first, at most `limit`.
    List {
        after: u64,
        since_ms: u64,
        tool: Option<String>,
        limit: u32,
    },
}

/// The object's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum AuditReply {
    Appended {
        record: Box<AuditRecord>,
    },
    /// `next`: pass as `after` for the next page (`None`: no more).
    Page {
        records: Vec<AuditRecord>,
        next: Option<u64>,
    },
}

/// Apply an operation to records held in order (the in-memory port and
/// the tests; the Durable Object does the same over SQLite).
pub fn apply(records: &mut Vec<AuditRecord>, op: &AuditOp) -> AuditReply {
    match op {
        AuditOp::Append { entry } => {
            let prev = records.last().map(|r| (r.seq, r.hash.as_str()));
            let r = seal(prev, entry.clone());
            records.push(r.clone());
            AuditReply::Appended { record: Box::new(r) }
        }
        AuditOp::List {
            after,
            since_ms,
            tool,
            limit,
        } => {
            let limit = (*limit).clamp(1, MAX_PAGE) as usize;
            let mut hits = records
                .iter()
                .filter(|r| r.seq > *after && r.time_ms >= *since_ms && tool.as_ref().is_none_or(|t| &r.tool == t));
            let page: Vec<AuditRecord> = hits.by_ref().take(limit).cloned().collect();
            let more = hits.next().is_some();
            let next = if more { page.last().map(|r| r.seq) } else { None };
            AuditReply::Page { records: page, next }
        }
    }
}

/// In-memory audit objects (native tests), by object name.
#[derive(Default)]
pub struct MemoryAudit {
    pub objects: std::cell::RefCell<std::collections::BTreeMap<String, Vec<AuditRecord>>>,
    /// When set, every call fails (the object cannot be reached).
    pub down: std::cell::Cell<bool>,
}

impl crate::ports::Audit for MemoryAudit {
    fn call<'a>(
        &'a self,
        object: &'a crate::tenancy::keys::StorageKey,
        op: &'a AuditOp,
    ) -> crate::ports::LocalFuture<'a, Result<AuditReply, crate::ports::PortError>> {
        let r = if self.down.get() {
            Err(crate::ports::PortError("the audit object cannot be reached".into()))
        } else {
            Ok(apply(self.objects.borrow_mut().entry(object.as_str().to_string()).or_default(), op))
        };
        Box::pin(async move { r })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tool: &str, outcome: &str, t: u64) -> AuditEntry {
        AuditEntry {
            time_ms: t,
            tenant: "acme".into(),
            request_id: format!("req-{t}"),
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            principal: "alice".into(),
            via: "direct".into(),
            tool: tool.into(),
            args_sha256: sha256_hex(b"{}"),
            outcome: outcome.into(),
            code: (outcome != "ok").then(|| "tool_forbidden".into()),
            latency_ms: 3,
        }
    }

    fn log(n: u64) -> Vec<AuditRecord> {
        let mut v = Vec::new();
        for i in 0..n {
            let tool = if i % 2 == 0 { "summarize" } else { "ingest-docs" };
            apply(
                &mut v,
                &AuditOp::Append {
                    entry: entry(tool, "ok", 1000 + i),
                },
            );
        }
        v
    }

    #[test]
    fn records_are_numbered_and_chained_and_verify() {
        let v = log(5);
        assert_eq!(v.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(v[0].prev_hash, GENESIS);
        for w in v.windows(2) {
            assert_eq!(w[1].prev_hash, w[0].hash);
        }
        assert_eq!(verify(&v), Ok(5));
    }

    #[test]
    fn an_altered_field_a_removed_record_and_a_swap_are_each_detected() {
        let v = log(4);
        let mut altered = v.clone();
        altered[2].outcome = "refused".into();
        assert_eq!(verify(&altered).unwrap_err().seq, 3);
        // Re-hashing the altered record breaks the next link instead.
        altered[2].hash = sha256_hex(canonical_record(&altered[2]).as_bytes());
        let e = verify(&altered).unwrap_err();
        assert_eq!((e.seq, e.why.contains("prev_hash")), (4, true));
        let mut removed = v.clone();
        removed.remove(1);
        assert_eq!(verify(&removed).unwrap_err().seq, 3);
        let mut swapped = v.clone();
        swapped.swap(1, 2);
        assert!(verify(&swapped).is_err());
        let mut code = v;
        code[0].code = Some("x".into());
        assert_eq!(verify(&code).unwrap_err().seq, 1);
    }

    #[test]
    fn the_canonical_form_is_fixed_order_compact_json_without_the_hash() {
        let v = log(1);
        let c = canonical_record(&v[0]);
        assert!(
            c.starts_with(
                r#"{"seq":1,"time_ms":1000,"tenant":"acme","request_id":"req-1000","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","#
            ),
            "{c}"
        );
        assert!(
            c.ends_with(&format!(r#""code":null,"latency_ms":3,"prev_hash":"{GENESIS}"}}"#)),
            "{c}"
        );
        assert!(!c.contains("\"hash\""));
    }

    #[test]
    fn listing_filters_by_time_and_tool_and_pages_by_sequence() {
        let mut v = log(7);
        let AuditReply::Page { records, next } = apply(
            &mut v,
            &AuditOp::List {
                after: 0,
                since_ms: 1002,
                tool: Some("summarize".into()),
                limit: 2,
            },
        ) else {
            panic!()
        };
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 5]);
        assert_eq!(next, Some(5));
        let AuditReply::Page { records, next } = apply(
            &mut v,
            &AuditOp::List {
                after: 5,
                since_ms: 1002,
                tool: Some("summarize".into()),
                limit: 2,
            },
        ) else {
            panic!()
        };
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [7]);
        assert_eq!(next, None);
    }
}
