//! Generated tenants directories for benchmarks: `n` valid tenants, half KDL
//! (modelled on `tenants/acme.kdl`), half JSONC (modelled on
//! `tenants/globex.jsonc`), next to a copy of `tenants/platform.kdl` and
//! `tenants/accounts.jsonc`.
//!
//! Every tenant has its own id (= file stem), hosts, KV namespace ids
//! (32 lowercase hex, unique across the corpus), Vectorize namespaces and
//! queues, so the cross-tenant rules (host overlap, shared resources) run
//! over the whole corpus and find nothing.
//!
//! Shared by `examples/bench_check.rs` and `benches/check.rs` through
//! `#[path]`; each includer uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// The example platform and accounts files, copied verbatim into every corpus.
pub const PLATFORM_KDL: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../tenants/platform.kdl"));
pub const ACCOUNTS_JSONC: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../tenants/accounts.jsonc"));

/// A generated corpus in a temporary directory (removed on drop).
pub struct Corpus {
    pub dir: tempfile::TempDir,
    /// Number of tenant files.
    pub tenants: usize,
    /// All files: tenants + platform + accounts.
    pub files: usize,
    /// Total size of all files.
    pub bytes: u64,
}

impl Corpus {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Generate `n` tenants into a fresh temporary directory.
pub fn generate(n: usize) -> io::Result<Corpus> {
    let dir = tempfile::Builder::new().prefix(&format!("tenants-bench-{n}-")).tempdir()?;
    let (files, bytes) = write_corpus(dir.path(), n)?;
    Ok(Corpus {
        dir,
        tenants: n,
        files,
        bytes,
    })
}

/// Write platform, accounts and `n` tenant files into `dir`; returns (files, bytes).
pub fn write_corpus(dir: &Path, n: usize) -> io::Result<(usize, u64)> {
    let mut bytes = 0u64;
    let mut write = |path: PathBuf, text: &str| -> io::Result<()> {
        bytes += text.len() as u64;
        std::fs::write(path, text)
    };
    write(dir.join("platform.kdl"), PLATFORM_KDL)?;
    write(dir.join("accounts.jsonc"), ACCOUNTS_JSONC)?;
    let mut buf = String::with_capacity(4096);
    for i in 0..n {
        buf.clear();
        let (id, ext) = if i.is_multiple_of(2) {
            let id = kdl_id(i);
            kdl_tenant(&mut buf, i, &id);
            (id, "kdl")
        } else {
            let id = jsonc_id(i);
            jsonc_tenant(&mut buf, i, &id);
            (id, "jsonc")
        };
        write(dir.join(format!("{id}.{ext}")), &buf)?;
    }
    Ok((n + 2, bytes))
}

/// Generate `n` tenants, all strict JSON (what a schema validator such as
/// ajv reads), into a fresh temporary directory.
pub fn generate_json(n: usize) -> io::Result<Corpus> {
    let dir = tempfile::Builder::new().prefix(&format!("tenants-bench-json-{n}-")).tempdir()?;
    let mut bytes = (PLATFORM_KDL.len() + ACCOUNTS_JSONC.len()) as u64;
    std::fs::write(dir.path().join("platform.kdl"), PLATFORM_KDL)?;
    std::fs::write(dir.path().join("accounts.jsonc"), ACCOUNTS_JSONC)?;
    let mut buf = String::with_capacity(4096);
    for i in 0..n {
        buf.clear();
        let id = jsonc_id(i);
        json_tenant(&mut buf, i, &id);
        bytes += buf.len() as u64;
        std::fs::write(dir.path().join(format!("{id}.json")), &buf)?;
    }
    Ok(Corpus {
        dir,
        tenants: n,
        files: n + 2,
        bytes,
    })
}

/// Tenant id of the `i`-th tenant when it is a KDL one (even `i`).
pub fn kdl_id(i: usize) -> String {
    format!("acme-{i:05}")
}

/// Tenant id of the `i`-th tenant when it is a JSONC one (odd `i`).
pub fn jsonc_id(i: usize) -> String {
    format!("globex-{i:05}")
}

/// A KV namespace id: 32 lowercase hex characters, unique per (tenant, env).
/// The low half is the counter (uniqueness); the high half a hash of it (looks random).
pub fn kv_id(i: usize, env: usize) -> String {
    let x = (i as u64) * 4 + env as u64;
    format!("{:016x}{:016x}", splitmix64(x), x)
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Modelled on `tenants/acme.kdl`: own account, own per-env indexes (shared
/// across tenants, one namespace per tenant), a wildcard host in prod.
pub fn kdl_tenant(out: &mut String, i: usize, id: &str) {
    let dataset = id.replace('-', "_");
    let (kv_dev, kv_stage, kv_prod) = (kv_id(i, 0), kv_id(i, 1), kv_id(i, 2));
    let _ = write!(
        out,
        r#"tenant "{id}" {{
    name "Acme Corp {i}"
    account "acme"
    resolution header="dev-only"

    env "dev" {{
        host "{id}.localhost"
        kv CACHE id="{kv_dev}"
        vectorize DOCS index="acme-docs-dev" namespace="{id}"
        queue INGEST name="{id}-ingest-dev"
        var LOG_LEVEL "debug"
        auth {{ none #true; api-keys #true }}
    }}
    env "stage" {{
        host "{id}.stage.example.com"
        kv CACHE id="{kv_stage}"
        vectorize DOCS index="acme-docs-stage" namespace="{id}"
        queue INGEST name="{id}-ingest-stage"
    }}
    env "prod" {{
        host "{id}.example.com"
        host "*.{id}.example.com"
        kv CACHE id="{kv_prod}"
        vectorize DOCS index="acme-docs" namespace="{id}"
        queue INGEST name="{id}-ingest"
        analytics-engine EVENTS dataset="{dataset}_events"
    }}

    ai gateway="{id}-gw" {{
        chat "@cf/meta/llama-3.1-8b-instruct" max-tokens=1024
        embedding "@cf/baai/bge-base-en-v1.5"
        tts "@cf/myshell-ai/melotts"
        route "search" chat="@cf/meta/llama-3.3-70b-instruct-fp8-fast" max-tokens=2048
        budget tokens-per-day=2000000
    }}
    rag chunk-size=800 overlap=100 top-k=5 min-score=0.5
    sessions retention-days=30 max-messages=200
    rate-limit {{
        tenant 1000 per="minute"
        user 60 per="minute"
        ip 120 per="minute"
    }}
    cache search-ttl=300
    tool "summarize"
    tool "ingest-docs" roles="admin"
    tts enabled=#true voice="en-us" max-chars=2000
    safety max-input-chars=8000 pii-redaction=#true
    secrets "GATEWAY_TOKEN"
    var SUPPORT_EMAIL "support@{id}.example.com"
    auth {{
        jwt issuer="https://login.{id}.example.com/" audience="{id}-ai" {{
            jwks-url "https://login.{id}.example.com/.well-known/jwks.json"
        }}
        api-keys #true
    }}
}}
"#
    );
}

/// Modelled on `tenants/globex.jsonc`: shared account, shared indexes with an
/// explicit namespace, comments and trailing commas.
pub fn jsonc_tenant(out: &mut String, i: usize, id: &str) {
    let (kv_dev, kv_stage, kv_prod) = (kv_id(i, 0), kv_id(i, 1), kv_id(i, 2));
    let _ = write!(
        out,
        r#"{{
  "$schema": "../schemas/tenant.schema.json",
  // Generated tenant {i}: search-heavy workloads on the shared account.
  "id": "{id}",
  "name": "Globex Corporation {i}",
  "account": "shared",
  "resolution": {{ "header": "never" }},
  "envs": {{
    "dev": {{
      "hosts": ["{id}.localhost"],
      "kv": {{ "CACHE": {{ "id": "{kv_dev}" }} }},
      "vectorize": {{ "DOCS": {{ "index": "shared-docs-dev", "namespace": "{id}" }} }},
      "queues": {{ "INGEST": {{ "name": "{id}-ingest-dev" }} }},
      "auth": {{ "none": true }},
    }},
    "stage": {{
      "hosts": ["stage.{id}.example.org"],
      "kv": {{ "CACHE": {{ "id": "{kv_stage}" }} }},
      "vectorize": {{ "DOCS": {{ "index": "shared-docs-stage", "namespace": "{id}" }} }},
      "queues": {{ "INGEST": {{ "name": "{id}-ingest-stage" }} }},
    }},
    "prod": {{
      "hosts": ["{id}.example.org", "ai.{id}.example.org"],
      "kv": {{ "CACHE": {{ "id": "{kv_prod}" }} }},
      "vectorize": {{ "DOCS": {{ "index": "shared-docs", "namespace": "{id}" }} }},
      "queues": {{ "INGEST": {{ "name": "{id}-ingest" }} }},
      "vars": {{ "LOG_LEVEL": "warn" }},
    }},
  }},
  "ai": {{
    "gateway": "{id}-gw",
    "chat": {{ "model": "@cf/meta/llama-3.3-70b-instruct-fp8-fast", "max_tokens": 2048, "temperature": 0.3 }},
    "embedding": "@cf/baai/bge-base-en-v1.5",
    "routes": {{ "chat": {{ "chat": "@cf/meta/llama-3.1-8b-instruct-fast", "max_tokens": 512 }} }},
    "budget": {{ "tokens_per_day": 5000000 }},
  }},
  "rag": {{ "chunk_size": 1200, "overlap": 200, "top_k": 8, "min_score": 0.4 }},
  "sessions": {{ "retention_days": 90, "max_messages": 500 }},
  "rate_limits": {{
    "tenant": {{ "limit": 5000, "per": "minute" }},
    "user": {{ "limit": 120, "per": "minute" }},
    "ip": {{ "limit": 10, "per": "second" }},
  }},
  "cache": {{ "search_ttl": 600, "chat_ttl": 60 }},
  "tools": {{
    "summarize": {{}},
    "extract-entities": {{ "roles": ["analyst"] }},
  }},
  "tts": {{ "enabled": false }},
  "safety": {{ "max_input_chars": 16000, "pii_redaction": false, "blocked_terms": ["internal-only"] }},
  "secrets": ["GATEWAY_TOKEN", "SEARCH_API_KEY"],
  "vars": {{ "LOG_LEVEL": "info" }},
  "auth": {{
    "access": {{ "team_domain": "{id}.cloudflareaccess.com", "audience": "{kv_prod}{kv_prod}" }},
    "api_keys": true,
  }},
}}
"#
    );
}

/// [`jsonc_tenant`] as strict JSON: the comment line and the trailing commas removed.
pub fn json_tenant(out: &mut String, i: usize, id: &str) {
    let mut jsonc = String::with_capacity(4096);
    jsonc_tenant(&mut jsonc, i, id);
    let lines: Vec<&str> = jsonc.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
    for (k, line) in lines.iter().enumerate() {
        let next = lines.get(k + 1).map(|l| l.trim_start()).unwrap_or("");
        let closes = next.starts_with('}') || next.starts_with(']');
        out.push_str(if closes { line.strip_suffix(',').unwrap_or(line) } else { line });
        out.push('\n');
    }
}
