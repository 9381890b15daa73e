//! Key sets: the public JSON Web Keys a tenant's tokens are checked
//! against, inline in the tenant file or fetched from a JWKS URL (the
//! identity provider's, or Cloudflare Access's `/cdn-cgi/access/certs`).
//!
//! Fetched sets are cached per isolate for [`TTL_MS`]; a token whose `kid`
//! is not in the cached set triggers one refetch, at most once per
//! [`REFETCH_MIN_MS`] per URL (so a flood of made-up `kid`s cannot turn
//! into a flood of requests to the identity provider). When a refetch
//! fails, the cached set stays in use for up to [`MAX_STALE_MS`].
//!
//! Only public members are kept: a private member (`d`, …) in a fetched
//! document is never passed on to the crypto layer.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use serde_json::{json, Value};

use crate::ports::{HttpClient, SigAlg};

pub const TTL_MS: f64 = 10.0 * 60.0 * 1000.0;
pub const REFETCH_MIN_MS: f64 = 30.0 * 1000.0;
pub const MAX_STALE_MS: f64 = 24.0 * 3600.0 * 1000.0;
pub const FETCH_TIMEOUT_MS: u32 = 3_000;
/// The largest JWKS document read.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// One public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    pub kid: String,
    pub kty: String,
    pub crv: Option<String>,
    pub alg: Option<String>,
    /// The JWK as the crypto layer imports it: public members only.
    pub import_json: String,
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

impl Jwk {
    /// A public key from a JWKS entry; `None` for key types we do not
    /// verify with (or entries missing their members).
    pub fn from_json(v: &Value) -> Option<Jwk> {
        if v.get("use").and_then(Value::as_str).is_some_and(|u| u != "sig") {
            return None;
        }
        let kty = s(v, "kty")?;
        let import = match kty.as_str() {
            "RSA" => json!({"kty": "RSA", "n": s(v, "n")?, "e": s(v, "e")?}),
            "EC" if s(v, "crv").as_deref() == Some("P-256") => {
                json!({"kty": "EC", "crv": "P-256", "x": s(v, "x")?, "y": s(v, "y")?})
            }
            "OKP" if s(v, "crv").as_deref() == Some("Ed25519") => json!({"kty": "OKP", "crv": "Ed25519", "x": s(v, "x")?}),
            _ => return None,
        };
        Some(Jwk {
            kid: s(v, "kid").unwrap_or_default(),
            kty,
            crv: s(v, "crv"),
            alg: s(v, "alg"),
            import_json: import.to_string(),
        })
    }

    /// A key written inline in the tenant file (validated by the compiler).
    pub fn from_static(j: &crate::tenants::Jwk) -> Option<Jwk> {
        let mut v = json!({"kid": j.kid, "kty": j.kty});
        for (k, val) in [("alg", j.alg), ("crv", j.crv), ("n", j.n), ("e", j.e), ("x", j.x), ("y", j.y)] {
            if let Some(val) = val {
                v[k] = Value::String(val.to_string());
            }
        }
        Jwk::from_json(&v)
    }

    /// Whether this key may verify a signature made with `alg`.
    pub fn fits(&self, alg: SigAlg) -> bool {
        let kind = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => SigAlg::Rs256,
            ("EC", Some("P-256")) => SigAlg::Es256,
            ("OKP", Some("Ed25519")) => SigAlg::EdDsa,
            _ => return false,
        };
        kind == alg && self.alg.as_deref().is_none_or(|a| a == alg.as_str())
    }
}

/// A set of keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    pub keys: Vec<Jwk>,
}

impl KeySet {
    /// Parse a JWKS document (`{"keys":[…]}`); unusable entries are skipped.
    pub fn from_document(body: &[u8]) -> Result<KeySet, String> {
        if body.len() > MAX_JWKS_BYTES {
            return Err(format!("JWKS larger than {MAX_JWKS_BYTES} bytes"));
        }
        let v: Value = serde_json::from_slice(body).map_err(|e| format!("JWKS is not JSON: {e}"))?;
        let keys = v.get("keys").and_then(Value::as_array).ok_or("JWKS has no `keys` array")?;
        Ok(KeySet {
            keys: keys.iter().filter_map(Jwk::from_json).collect(),
        })
    }

    pub fn from_static(keys: &[crate::tenants::Jwk]) -> KeySet {
        KeySet {
            keys: keys.iter().filter_map(Jwk::from_static).collect(),
        }
    }

    pub fn by_kid(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

struct Entry {
    set: Rc<KeySet>,
    fetched_ms: f64,
    last_attempt_ms: f64,
}

/// The per-isolate cache of fetched key sets, by URL.
#[derive(Default)]
pub struct KeyCache {
    entries: RefCell<HashMap<String, Entry>>,
    /// How many fetches were made (tests and the log).
    pub fetches: std::cell::Cell<u32>,
}

impl KeyCache {
    /// The key set at `url`, fetching it when it is not cached, is older
    /// than the TTL, or lacks `kid` (rate-limited).
    pub async fn get(&self, http: &dyn HttpClient, url: &str, now_ms: f64, kid: Option<&str>) -> Result<Rc<KeySet>, String> {
        let cached = self
            .entries
            .borrow()
            .get(url)
            .map(|e| (e.set.clone(), e.fetched_ms, e.last_attempt_ms));
        if let Some((set, fetched, last)) = &cached {
            let fresh = now_ms - fetched < TTL_MS;
            let has_kid = kid.is_none_or(|k| set.by_kid(k).is_some());
            if fresh && has_kid {
                return Ok(set.clone());
            }
            if now_ms - last < REFETCH_MIN_MS && now_ms - fetched < MAX_STALE_MS {
                return Ok(set.clone());
            }
        }
        if let Some(e) = self.entries.borrow_mut().get_mut(url) {
            e.last_attempt_ms = now_ms;
        }
        self.fetches.set(self.fetches.get() + 1);
        let result = match http.get(url, FETCH_TIMEOUT_MS).await {
            Ok(r) if r.status == 200 => KeySet::from_document(&r.body),
            Ok(r) => Err(format!("JWKS answered {}", r.status)),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(set) => {
                let set = Rc::new(set);
                self.entries.borrow_mut().insert(
                    url.to_string(),
                    Entry {
                        set: set.clone(),
                        fetched_ms: now_ms,
                        last_attempt_ms: now_ms,
                    },
                );
                Ok(set)
            }
            Err(e) => match cached {
                Some((set, fetched, _)) if now_ms - fetched < MAX_STALE_MS => Ok(set),
                _ => Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::memory::MemoryHttp;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    const DOC1: &str = r#"{"keys":[{"kid":"a","kty":"RSA","n":"nnn","e":"AQAB","alg":"RS256","use":"sig"},
        {"kid":"enc","kty":"RSA","n":"n","e":"AQAB","use":"enc"},
        {"kid":"hmac","kty":"oct","k":"c2VjcmV0"},
        {"kid":"priv","kty":"EC","crv":"P-256","x":"xx","y":"yy","d":"secret"}]}"#;
    const DOC2: &str = r#"{"keys":[{"kid":"b","kty":"OKP","crv":"Ed25519","x":"xx"}]}"#;

    #[test]
    fn only_public_signature_keys_are_kept() {
        let set = KeySet::from_document(DOC1.as_bytes()).unwrap();
        let kids: Vec<&str> = set.keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["a", "priv"]);
        assert!(!set.keys[1].import_json.contains("secret"), "private member dropped");
        assert!(set.keys[0].fits(SigAlg::Rs256) && !set.keys[0].fits(SigAlg::Es256));
        assert!(set.keys[1].fits(SigAlg::Es256));
    }

    #[test]
    fn cached_then_refetched_on_unknown_kid_at_most_every_30_s() {
        let http = MemoryHttp::default();
        http.serve("https://idp/jwks", 200, DOC1);
        let cache = KeyCache::default();
        let get = |now: f64, kid: Option<&str>| block_on(cache.get(&http, "https://idp/jwks", now, kid));
        assert!(get(0.0, Some("a")).unwrap().by_kid("a").is_some());
        assert!(get(1_000.0, Some("a")).is_ok());
        assert_eq!(cache.fetches.get(), 1, "cached");
        // The provider rotates: within 30 s of a fetch an unknown kid does
        // not refetch; after that, one refetch, then none for 30 s.
        http.serve("https://idp/jwks", 200, DOC2);
        assert!(get(2_000.0, Some("b")).unwrap().by_kid("b").is_none());
        assert_eq!(cache.fetches.get(), 1);
        assert!(get(31_000.0, Some("b")).unwrap().by_kid("b").is_some());
        assert_eq!(cache.fetches.get(), 2);
        for i in 0..10 {
            let _ = get(32_000.0 + f64::from(i), Some("zzz"));
        }
        assert_eq!(cache.fetches.get(), 2, "refetch is rate-limited");
        let _ = get(62_000.0, Some("zzz"));
        assert_eq!(cache.fetches.get(), 3);
    }

    #[test]
    fn expired_cache_refetches_and_a_failed_fetch_keeps_the_stale_set() {
        let http = MemoryHttp::default();
        http.serve("https://idp/jwks", 200, DOC1);
        let cache = KeyCache::default();
        assert!(block_on(cache.get(&http, "https://idp/jwks", 0.0, None)).is_ok());
        http.routes.borrow_mut().clear();
        let stale = block_on(cache.get(&http, "https://idp/jwks", TTL_MS + 1.0, None)).unwrap();
        assert!(stale.by_kid("a").is_some());
        assert_eq!(cache.fetches.get(), 2);
        // Past the stale limit: an error.
        assert!(block_on(cache.get(&http, "https://idp/jwks", MAX_STALE_MS + 1.0, None)).is_err());
        // Never fetched and unreachable: an error.
        assert!(block_on(cache.get(&http, "https://other/jwks", 0.0, None)).is_err());
    }
}
