//! Fail-closed tenant resolution (docs/runtime.md, "Resolution").
//!
//! 1. The host (normalised: case, trailing dot, port) is looked up in the
//!    baked table of the deployment's environment: exact first, then the
//!    longest wildcard suffix.
//! 2. `x-tenant-id` is honoured only where the named tenant's policy allows
//!    it in this environment; a header that names another tenant than the
//!    host is rejected, never preferred.
//! 3. The deployment is pinned (`TENANT_ID`, `TENANT_ENV` vars): a request
//!    that resolves to any other tenant is rejected.
//! 4. No tenant → an error; no handler runs. [`TenantCtx`] has private
//!    fields and no constructor outside this module, so a handler cannot
//!    exist without a resolved tenant.
//!
//! Rule 5 (storage keys) lives in [`crate::tenancy::keys`], on the context.

use crate::app::envelope::{ErrorCode, Failure};
use crate::tenants::{EnvName, TenantConfig, TenantEnvConfig, TenantId};

/// What the deployment is: its pin, build version and bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub tenant: TenantId,
    pub env: EnvName,
    /// The build version (`/health`).
    pub version: &'static str,
    /// Every platform binding: (name, kind, present in this deployment).
    pub bindings: Vec<(&'static str, &'static str, bool)>,
}

impl Deployment {
    /// A deployment with every binding of the platform present.
    pub fn complete(tenant: TenantId, env: EnvName) -> Deployment {
        Deployment {
            tenant,
            env,
            version: crate::BUILD_VERSION,
            bindings: crate::tenants::Env::BINDINGS.iter().map(|&(n, k)| (n, k, true)).collect(),
        }
    }
}

/// How the tenant was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Host,
    Header,
    /// A message on the deployment's own ingestion queue.
    Queue,
}

impl Via {
    pub const fn as_str(self) -> &'static str {
        match self {
            Via::Host => "host",
            Via::Header => "header",
            Via::Queue => "queue",
        }
    }
}

/// A request's resolved tenant. Only [`resolve`] builds one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantCtx {
    tenant: TenantId,
    env: EnvName,
    via: Via,
}

impl TenantCtx {
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    pub fn env(&self) -> EnvName {
        self.env
    }

    pub fn via(&self) -> Via {
        self.via
    }

    pub fn config(&self) -> &'static TenantConfig {
        self.tenant.config()
    }

    /// The tenant's config in the deployment's environment.
    pub fn env_config(&self) -> &'static TenantEnvConfig {
        &self.tenant.config().envs[self.env as usize]
    }

    /// Test-only door for code outside this module (the keys and handler
    /// tests) that needs a context without a request. Not compiled into
    /// the Worker.
    #[cfg(test)]
    pub(crate) fn for_tests(tenant: TenantId, env: EnvName) -> TenantCtx {
        TenantCtx {
            tenant,
            env,
            via: Via::Host,
        }
    }
}

/// The tenant of a message on the deployment's ingestion queue: only the
/// deployment's own tenant and environment (each tenant's Worker consumes
/// its own queue); a message naming any other is refused.
pub fn for_queue(dep: &Deployment, tenant: &str, env: &str) -> Result<TenantCtx, Failure> {
    if tenant != dep.tenant.as_str() || env != dep.env.as_str() {
        return Err(Failure::new(
            ErrorCode::TenantNotServed,
            format!(
                "a queue message for `{tenant}` ({env}) reached the deployment of `{}` ({})",
                dep.tenant.as_str(),
                dep.env.as_str()
            ),
        ));
    }
    Ok(TenantCtx {
        tenant: dep.tenant,
        env: dep.env,
        via: Via::Queue,
    })
}

/// Resolve a request's tenant from its `Host` and `x-tenant-id` headers, for
/// a deployment pinned to `dep.tenant` in `dep.env`.
pub fn resolve(dep: &Deployment, host: Option<&str>, header: Option<&str>) -> Result<TenantCtx, Failure> {
    let env = dep.env;
    let by_host = host.and_then(|h| env.resolve_host(h));
    // A header is a claim; it is parsed strictly (exact id, no trimming
    // beyond what HTTP already did). Repeated headers arrive joined with
    // ", " and so name no tenant.
    let claimed: Option<Result<TenantId, &str>> = header.map(|h| h.parse::<TenantId>().map_err(|_| h));
    let (tenant, via) = match (by_host, claimed) {
        (Some(t), None) => (t, Via::Host),
        (Some(t), Some(Ok(c))) if c == t => (t, Via::Host),
        (Some(t), Some(other)) => {
            let named = match other {
                Ok(c) => format!("tenant `{c}`"),
                Err(raw) => format!("`{}`, which is no tenant", shorten(raw)),
            };
            return Err(Failure::new(
                ErrorCode::TenantConflict,
                format!(
                    "x-tenant-id names {named}, but host `{}` belongs to tenant `{t}`",
                    shorten(host.unwrap_or_default())
                ),
            ));
        }
        (None, Some(Ok(c))) => {
            if !c.header_allowed(env) {
                return Err(Failure::new(
                    ErrorCode::TenantHeaderNotAllowed,
                    format!(
                        "tenant `{c}` is selected by host only in `{env}`; x-tenant-id is not honoured",
                        env = env.as_str()
                    ),
                ));
            }
            (c, Via::Header)
        }
        (None, Some(Err(raw))) => {
            return Err(Failure::new(
                ErrorCode::TenantUnknown,
                format!("x-tenant-id `{}` names no tenant", shorten(raw)),
            ));
        }
        (None, None) => {
            return Err(Failure::new(
                ErrorCode::TenantUnknown,
                match host {
                    Some(h) => format!("no tenant serves host `{}` in `{}`", shorten(h), env.as_str()),
                    None => "the request has no Host header".to_string(),
                },
            ));
        }
    };
    if tenant != dep.tenant {
        return Err(Failure::new(
            ErrorCode::TenantNotServed,
            format!("this deployment serves tenant `{}`, not `{tenant}`", dep.tenant),
        ));
    }
    Ok(TenantCtx { tenant, env, via })
}

/// Client-supplied text quoted in a message: at most 100 characters.
fn shorten(s: &str) -> String {
    if s.chars().count() <= 100 {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(100).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(t: TenantId, e: EnvName) -> Deployment {
        Deployment::complete(t, e)
    }

    fn code(r: Result<TenantCtx, Failure>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(f) => f.code.code(),
        }
    }

    #[test]
    fn every_tenant_host_resolves_in_its_own_pinned_deployment() {
        for t in TenantId::ALL {
            for e in EnvName::ALL {
                for h in t.config().envs[e as usize].hosts {
                    let host = h.strip_prefix("*.").map(|b| format!("x.{b}")).unwrap_or_else(|| h.to_string());
                    let ctx = resolve(&dep(t, e), Some(&host), None).unwrap();
                    assert_eq!((ctx.tenant(), ctx.env(), ctx.via()), (t, e, Via::Host));
                }
            }
        }
    }

    #[test]
    fn host_is_normalised_before_lookup() {
        let d = dep(TenantId::Acme, EnvName::Dev);
        for h in ["ACME.localhost", "acme.localhost.", "acme.localhost:8787"] {
            assert_eq!(resolve(&d, Some(h), None).unwrap().tenant(), TenantId::Acme, "{h}");
        }
    }

    #[test]
    fn unknown_or_missing_host_is_404() {
        let d = dep(TenantId::Acme, EnvName::Dev);
        assert_eq!(code(resolve(&d, Some("nobody.localhost"), None)), "tenant_unknown");
        assert_eq!(code(resolve(&d, None, None)), "tenant_unknown");
        // Another environment's host is not in this environment's table.
        assert_eq!(code(resolve(&d, Some("acme.example.com"), None)), "tenant_unknown");
    }

    #[test]
    fn header_only_follows_each_policy_in_dev() {
        // acme: dev-only, globex: never, initech: always.
        assert_eq!(
            resolve(&dep(TenantId::Acme, EnvName::Dev), Some("127.0.0.1"), Some("acme"))
                .unwrap()
                .via(),
            Via::Header
        );
        assert_eq!(
            code(resolve(&dep(TenantId::Globex, EnvName::Dev), Some("127.0.0.1"), Some("globex"))),
            "tenant_header_not_allowed"
        );
        assert_eq!(
            resolve(&dep(TenantId::Initech, EnvName::Dev), None, Some("initech")).unwrap().via(),
            Via::Header
        );
    }

    #[test]
    fn header_only_follows_each_policy_in_prod() {
        assert_eq!(
            code(resolve(&dep(TenantId::Acme, EnvName::Prod), None, Some("acme"))),
            "tenant_header_not_allowed"
        );
        assert_eq!(
            code(resolve(&dep(TenantId::Globex, EnvName::Prod), None, Some("globex"))),
            "tenant_header_not_allowed"
        );
        assert_eq!(code(resolve(&dep(TenantId::Initech, EnvName::Prod), None, Some("initech"))), "ok");
    }

    #[test]
    fn header_naming_another_tenant_than_the_host_is_rejected_not_preferred() {
        // initech's policy is `always`, and still the host wins: conflict.
        let d = dep(TenantId::Acme, EnvName::Dev);
        let f = resolve(&d, Some("acme.localhost"), Some("initech")).unwrap_err();
        assert_eq!(f.code, ErrorCode::TenantConflict);
        assert!(f.message.contains("`initech`") && f.message.contains("`acme`"), "{}", f.message);
        assert_eq!(code(resolve(&d, Some("acme.localhost"), Some("nobody"))), "tenant_conflict");
        // Repeated headers arrive joined and name no tenant.
        assert_eq!(code(resolve(&d, Some("acme.localhost"), Some("acme, initech"))), "tenant_conflict");
        // A header that agrees with the host is fine under any policy.
        let g = dep(TenantId::Globex, EnvName::Prod);
        assert_eq!(code(resolve(&g, Some("globex.example.org"), Some("globex"))), "ok");
    }

    #[test]
    fn pinned_deployment_rejects_every_other_tenant() {
        for pin in TenantId::ALL {
            for e in EnvName::ALL {
                let d = dep(pin, e);
                for other in TenantId::ALL.into_iter().filter(|&o| o != pin) {
                    for h in other.config().envs[e as usize].hosts {
                        let host = h.strip_prefix("*.").map(|b| format!("deep.{b}")).unwrap_or_else(|| h.to_string());
                        assert_eq!(code(resolve(&d, Some(&host), None)), "tenant_not_served", "{pin} {e:?} {host}");
                    }
                    // Through the header (where the other tenant allows it).
                    let r = resolve(&d, None, Some(other.as_str()));
                    let c = code(r);
                    assert!(c == "tenant_not_served" || c == "tenant_header_not_allowed", "{pin} {other} {c}");
                }
            }
        }
    }

    #[test]
    fn messages_quote_at_most_100_characters_of_client_input() {
        let d = dep(TenantId::Acme, EnvName::Dev);
        let long = "a".repeat(5000);
        let f = resolve(&d, Some(&long), None).unwrap_err();
        assert!(f.message.len() < 200, "{}", f.message.len());
    }
}
