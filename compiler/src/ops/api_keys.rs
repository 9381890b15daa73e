//! API keys as `tenants keys` issues them: the same format, hash, storage
//! key and record as the Worker checks (`runtime/src/auth/api_keys.rs`; a
//! runtime test pins the two together).
//!
//! - key: `tak_<tenant>_<64 hex>` (32 random bytes from the OS);
//! - stored: only its SHA-256, as the KV key
//!   `t/<tenant>/apikey/<env>/<sha256 hex>` in the tenant's own namespace
//!   (the `api-keys` binding of the tenant file), with the [`KeyRecord`]
//!   as value and metadata;
//! - id: the first 16 hex characters of the hash (list, revoke).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "tak_";
pub const ID_LEN: usize = 16;

/// What KV stores for a key; never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub tenant: String,
    pub env: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// Lowercase hex of the SHA-256 of `s`.
pub fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// `tak_<tenant>_<hex of random>`.
pub fn generate(tenant: &str, random: &[u8; 32]) -> String {
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{PREFIX}{tenant}_{hex}")
}

/// A new key from the OS's random source.
pub fn new_key(tenant: &str) -> Result<String, String> {
    let mut r = [0u8; 32];
    getrandom::fill(&mut r).map_err(|e| format!("no randomness from the OS: {e}"))?;
    Ok(generate(tenant, &r))
}

/// The KV key of a key's record (`TenantCtx::key(Space::ApiKey, [env, hash])`
/// in the Worker; tenant ids, environment names and hex need no escaping).
pub fn storage_key(tenant: &str, env: &str, hash_hex: &str) -> String {
    format!("t/{tenant}/apikey/{env}/{hash_hex}")
}

/// The listing prefix of an environment's keys (with `id`: that key's).
pub fn list_prefix(tenant: &str, env: &str, id: Option<&str>) -> String {
    format!("t/{tenant}/apikey/{env}/{}", id.unwrap_or(""))
}

/// A key id as shown by `list`: 16 lowercase hex characters.
pub fn is_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A name or role: 1–`max` of `a-z 0-9 . _ -`.
pub fn is_slug(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// RFC 3339 (UTC, seconds) for seconds since the epoch.
pub fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
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

/// A new key and its record.
pub fn issue(tenant: &str, env: &str, name: &str, roles: &[String], now_secs: i64) -> Result<(String, String, KeyRecord), String> {
    if !is_slug(name, 64) {
        return Err(format!("key name `{name}`: use 1-64 of a-z, 0-9, `.`, `_`, `-`"));
    }
    if roles.len() > 16 {
        return Err("at most 16 roles".into());
    }
    let mut roles: Vec<String> = roles.to_vec();
    for r in &roles {
        if !is_slug(r, 32) {
            return Err(format!("role `{r}`: use 1-32 of a-z, 0-9, `.`, `_`, `-`"));
        }
    }
    roles.sort();
    roles.dedup();
    let key = new_key(tenant)?;
    let hash = sha256_hex(&key);
    let record = KeyRecord {
        id: hash[..ID_LEN].to_string(),
        name: name.to_string(),
        roles,
        tenant: tenant.to_string(),
        env: env.to_string(),
        created_at: rfc3339(now_secs),
    };
    Ok((key, storage_key(tenant, env, &hash), record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_keys_are_fresh_and_stored_by_hash() {
        let (k1, s1, r1) = issue("acme", "stage", "ci", &["b".into(), "a".into(), "a".into()], 0).unwrap();
        let (k2, _, _) = issue("acme", "stage", "ci", &[], 0).unwrap();
        assert_ne!(k1, k2);
        assert!(k1.starts_with("tak_acme_") && k1.len() == 9 + 64);
        assert_eq!(s1, format!("t/acme/apikey/stage/{}", sha256_hex(&k1)));
        assert!(!s1.contains(&k1[9..]));
        assert_eq!(r1.roles, ["a", "b"]);
        assert_eq!(r1.id, sha256_hex(&k1)[..16]);
        assert_eq!(r1.created_at, "1970-01-01T00:00:00Z");
        assert!(issue("acme", "stage", "Bad Name", &[], 0).is_err());
        assert!(issue("acme", "stage", "ok", &["ROLE".into()], 0).is_err());
    }
}
