//! API keys for machines: issued per tenant and environment, each with a
//! name and roles, stored only as a SHA-256 hash in the tenant's own KV
//! namespace (the `api-keys` binding of the tenant file), revocable by
//! deleting that entry — no deploy.
//!
//! Format: `tak_<tenant>_<64 hex>` (32 random bytes). The tenant in the
//! key lets the Worker refuse another tenant's key before any lookup; the
//! lookup itself is under the tenant's own KV key
//! (`t/<tenant>/apikey/<env>/<sha256 hex>`, made by `TenantCtx::key`) and
//! the stored record names its tenant and environment, which must match.
//! The `id` of a key is the first 16 hex characters of its hash: enough to
//! list and revoke it, useless to authenticate.
//!
//! `tenants keys create|list|revoke` (the compiler CLI) writes the same
//! records through wrangler; a test pins the two formats together.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::tenancy::keys::{Space, StorageKey};
use crate::tenancy::resolve::TenantCtx;

/// Every key starts with this.
pub const PREFIX: &str = "tak_";
/// Hex characters of the hash that make a key's id.
pub const ID_LEN: usize = 16;

/// What KV stores for a key (as the value and as its metadata, so that a
/// listing needs no second read). Never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyRecord {
    /// The first 16 hex characters of the key's SHA-256.
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub tenant: String,
    pub env: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// A key as presented, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented<'a> {
    pub tenant: &'a str,
    pub hash_hex: String,
}

/// Lowercase hex of the SHA-256 of `s`.
pub fn sha256_hex(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    let mut out = String::with_capacity(64);
    for b in d {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Split a presented key; `None` when it is not one of ours.
pub fn parse(key: &str) -> Option<Presented<'_>> {
    let rest = key.strip_prefix(PREFIX)?;
    let (tenant, secret) = rest.split_once('_')?;
    let ok_tenant =
        !tenant.is_empty() && tenant.len() <= 64 && tenant.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ok_secret = secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !ok_tenant || !ok_secret {
        return None;
    }
    Some(Presented {
        tenant,
        hash_hex: sha256_hex(key),
    })
}

/// A new key for the tenant: `tak_<tenant>_<hex of 32 random bytes>`.
pub fn generate(tenant: &str, random: &[u8; 32]) -> String {
    let mut k = String::with_capacity(PREFIX.len() + tenant.len() + 65);
    k.push_str(PREFIX);
    k.push_str(tenant);
    k.push('_');
    for b in random {
        k.push_str(&format!("{b:02x}"));
    }
    k
}

/// The KV key of a key's record: `t/<tenant>/apikey/<env>/<hash>`.
pub fn storage_key(ctx: &TenantCtx, hash_hex: &str) -> StorageKey {
    ctx.key(Space::ApiKey, &[ctx.env().as_str(), hash_hex])
}

/// The prefix under which the environment's keys are listed (with an id:
/// the key with that id).
pub fn list_prefix(ctx: &TenantCtx, id: Option<&str>) -> StorageKey {
    ctx.key(Space::ApiKey, &[ctx.env().as_str(), id.unwrap_or("")])
}

/// RFC 3339 (UTC, seconds) for milliseconds since the epoch.
pub fn rfc3339(ms: f64) -> String {
    let secs = (ms / 1000.0).floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenants::{EnvName, TenantId};

    #[test]
    fn generated_keys_parse_and_hash() {
        let k = generate("acme", &[0xab; 32]);
        assert_eq!(k.len(), 4 + 4 + 1 + 64);
        let p = parse(&k).unwrap();
        assert_eq!(p.tenant, "acme");
        assert_eq!(p.hash_hex, sha256_hex(&k));
        assert_eq!(p.hash_hex.len(), 64);
    }

    #[test]
    fn foreign_or_malformed_keys_do_not_parse() {
        let good = generate("acme", &[1; 32]);
        for bad in [
            "",
            "tak_",
            "tak_acme",
            "tak_acme_",
            &good[..good.len() - 1],
            &good.to_uppercase(),
            &good.replace("tak_", "tok_"),
            "tak_ACME_0000000000000000000000000000000000000000000000000000000000000000",
            "tak_a/b_0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn storage_keys_are_tenant_and_env_scoped() {
        let acme = TenantCtx::for_tests(TenantId::Acme, EnvName::Stage);
        let globex = TenantCtx::for_tests(TenantId::Globex, EnvName::Stage);
        let acme_dev = TenantCtx::for_tests(TenantId::Acme, EnvName::Dev);
        let h = sha256_hex("x");
        assert_eq!(storage_key(&acme, &h).as_str(), format!("t/acme/apikey/stage/{h}"));
        assert_ne!(storage_key(&acme, &h), storage_key(&globex, &h));
        assert_ne!(storage_key(&acme, &h), storage_key(&acme_dev, &h));
        assert!(storage_key(&acme, &h)
            .as_str()
            .starts_with(list_prefix(&acme, Some(&h[..ID_LEN])).as_str()));
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_764_950_400_000.0), "2025-12-05T16:00:00Z");
        assert_eq!(rfc3339(951_782_400_000.0), "2000-02-29T00:00:00Z");
    }
}
