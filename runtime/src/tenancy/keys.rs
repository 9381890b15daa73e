//! Rule 5: every storage key is derived from the tenant, here and nowhere
//! else.
//!
//! [`StorageKey`] has a private field and one constructor,
//! [`TenantCtx::key`], so a port that takes a `StorageKey` (KV, Durable
//! Object names, Vectorize namespaces) cannot be handed a raw string or
//! another tenant's key. Keys have the form `t/<tenant>/<space>/<part>/…`;
//! parts are percent-encoded (`/`, `%` and control characters), so no part
//! can forge a separator and climb into another space or tenant.

use crate::tenancy::resolve::TenantCtx;

/// What a key is for. Each space is a separate key prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// KV cache entries.
    Cache,
    /// Chat sessions (Durable Object names).
    Session,
    /// Rate-limit counters (Durable Object names and bucket keys).
    RateLimit,
    /// API key records (KV).
    ApiKey,
    /// The tenant's document index (Durable Object name).
    Docs,
    /// The tenant's tool audit log (Durable Object name).
    Audit,
}

impl Space {
    pub const fn as_str(self) -> &'static str {
        match self {
            Space::Cache => "cache",
            Space::Session => "session",
            Space::RateLimit => "ratelimit",
            Space::ApiKey => "apikey",
            Space::Docs => "docs",
            Space::Audit => "audit",
        }
    }
}

/// A tenant's namespace in a Vectorize binding (only
/// [`TenantCtx::vectors`] builds one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VectorNamespace {
    binding: &'static str,
    namespace: &'static str,
}

impl VectorNamespace {
    pub fn binding(&self) -> &'static str {
        self.binding
    }
    pub fn namespace(&self) -> &'static str {
        self.namespace
    }
    /// A vector id for a chunk: index-global in Vectorize (at most 64
    /// bytes), so it is derived from the namespace as well as the chunk —
    /// two tenants sharing an index can never overwrite each other's
    /// vectors, whatever their document ids.
    pub fn vector_id(&self, chunk_id: &str) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.namespace.as_bytes());
        h.update([0]);
        h.update(chunk_id.as_bytes());
        let d = h.finalize();
        let mut s = String::with_capacity(48);
        for b in &d[..24] {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    #[cfg(test)]
    pub fn for_tests(namespace: &'static str) -> VectorNamespace {
        VectorNamespace {
            binding: "DOCS",
            namespace,
        }
    }
}

/// A storage key that belongs to exactly one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorageKey(String);

impl StorageKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TenantCtx {
    /// The one function that makes storage keys.
    pub fn key(&self, space: Space, parts: &[&str]) -> StorageKey {
        let mut k = String::with_capacity(32);
        k.push_str("t/");
        k.push_str(self.tenant().as_str());
        k.push('/');
        k.push_str(space.as_str());
        for p in parts {
            k.push('/');
            for c in p.chars() {
                match c {
                    '/' | '%' => k.push_str(if c == '/' { "%2F" } else { "%25" }),
                    c if c.is_control() => {
                        let mut buf = [0u8; 4];
                        for b in c.encode_utf8(&mut buf).bytes() {
                            k.push_str(&format!("%{b:02X}"));
                        }
                    }
                    c => k.push(c),
                }
            }
        }
        StorageKey(k)
    }

    /// The tenant's namespace in its environment's Vectorize index: the
    /// only way to build a [`VectorNamespace`], so no vector call can be
    /// made without the tenant's.
    pub fn vectors(&self, binding: &str) -> Option<VectorNamespace> {
        self.vector_namespace(binding).map(|ns| VectorNamespace {
            binding: self
                .env_config()
                .vectorize_namespaces
                .iter()
                .find(|(b, _)| *b == binding)
                .map_or("", |(b, _)| *b),
            namespace: ns,
        })
    }

    /// The tenant's namespace in a Vectorize binding's index (from its
    /// tenant file; the tenant id unless the file names one). `None` for a
    /// binding that is not a Vectorize binding of the platform.
    pub fn vector_namespace(&self, binding: &str) -> Option<&'static str> {
        self.env_config()
            .vectorize_namespaces
            .iter()
            .find(|(b, _)| *b == binding)
            .map(|(_, ns)| *ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenants::{EnvName, TenantId};

    #[test]
    fn keys_carry_the_tenant_and_the_space() {
        let acme = TenantCtx::for_tests(TenantId::Acme, EnvName::Dev);
        assert_eq!(acme.key(Space::Cache, &["search", "q=1"]).as_str(), "t/acme/cache/search/q=1");
        assert_eq!(acme.key(Space::Session, &["u1", "s1"]).as_str(), "t/acme/session/u1/s1");
    }

    #[test]
    fn a_part_cannot_climb_into_another_tenant_or_space() {
        let acme = TenantCtx::for_tests(TenantId::Acme, EnvName::Prod);
        let globex = TenantCtx::for_tests(TenantId::Globex, EnvName::Prod);
        let evil = ["../../globex/cache/x", "/t/globex/cache/x", "%2F..", "a\nb"];
        for p in evil {
            let k = acme.key(Space::Cache, &[p]);
            assert!(k.as_str().starts_with("t/acme/cache/"), "{}", k.as_str());
            assert_eq!(k.as_str().matches('/').count(), 3, "a part added a separator: {}", k.as_str());
            for space in [Space::Cache, Space::Session, Space::RateLimit, Space::ApiKey, Space::Docs] {
                for q in evil {
                    assert_ne!(k, globex.key(space, &[q]));
                }
            }
        }
        // Two parts never collide with one part containing a slash.
        assert_ne!(acme.key(Space::Cache, &["a", "b"]), acme.key(Space::Cache, &["a/b"]));
    }

    #[test]
    fn no_two_tenants_share_a_key_or_vector_namespace() {
        for e in EnvName::ALL {
            let ctxs: Vec<TenantCtx> = TenantId::ALL.iter().map(|&t| TenantCtx::for_tests(t, e)).collect();
            for (i, a) in ctxs.iter().enumerate() {
                for b in &ctxs[i + 1..] {
                    assert_ne!(a.key(Space::Session, &["same"]), b.key(Space::Session, &["same"]));
                    // The example tenants each have their own namespace.
                    assert_ne!(a.vector_namespace("DOCS"), b.vector_namespace("DOCS"));
                }
            }
        }
    }

    #[test]
    fn vector_namespace_comes_from_the_tenant_file() {
        let globex = TenantCtx::for_tests(TenantId::Globex, EnvName::Dev);
        assert_eq!(globex.vector_namespace("DOCS"), Some("globex"));
        assert_eq!(globex.vector_namespace("CACHE"), None);
    }
}
