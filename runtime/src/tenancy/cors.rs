//! CORS per tenant and environment (`cors-origin` in the tenant file).
//!
//! A request without `Origin`, or whose `Origin` is the request's own
//! scheme and host, is not cross-origin. A cross-origin request from an
//! origin the tenant lists is served with `access-control-allow-origin`
//! set to that origin (never `*`) and `vary: origin`; from any other origin
//! it is refused with 403 `origin_not_allowed` before a handler runs, so a
//! browser page elsewhere cannot make the Worker act for a tenant.

use crate::app::envelope::{ErrorCode, Failure};
use crate::tenants::TenantEnvConfig;

/// Headers a browser may send cross-origin.
pub const ALLOW_HEADERS: &str = "authorization, content-type, x-request-id";
/// Headers a browser page may read.
pub const EXPOSE_HEADERS: &str = "x-request-id, traceparent";
/// How long a browser may cache a preflight, in seconds.
pub const MAX_AGE: &str = "600";

/// What CORS makes of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cors {
    /// No `Origin`, or the request's own origin.
    SameOrigin,
    /// A listed origin: echo it.
    Allowed(&'static str),
}

/// Check `origin` against the tenant's list; `host` is the request's
/// `Host`, `scheme` its URL's scheme (`https`).
pub fn check(cfg: &TenantEnvConfig, origin: Option<&str>, host: Option<&str>, scheme: &str) -> Result<Cors, Failure> {
    let Some(origin) = origin else { return Ok(Cors::SameOrigin) };
    if let Some(h) = host {
        // Same origin: the same scheme and the same host (with its port).
        let own = origin.strip_prefix(scheme).and_then(|o| o.strip_prefix("://"));
        if own.is_some_and(|o| o.eq_ignore_ascii_case(h)) {
            return Ok(Cors::SameOrigin);
        }
    }
    match cfg.cors_origins.iter().find(|o| **o == origin) {
        Some(o) => Ok(Cors::Allowed(o)),
        None => Err(Failure::new(
            ErrorCode::OriginNotAllowed,
            format!(
                "origin `{}` may not call this tenant; list it with `cors-origin` in the tenant file",
                origin.chars().take(100).collect::<String>()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenants::{EnvName, TenantId};

    fn cfg(t: TenantId, e: EnvName) -> &'static TenantEnvConfig {
        &t.config().envs[e as usize]
    }

    #[test]
    fn listed_origin_is_echoed() {
        let c = cfg(TenantId::Acme, EnvName::Prod);
        let got = check(c, Some("https://app.acme.example.com"), Some("acme.example.com"), "https");
        assert_eq!(got, Ok(Cors::Allowed("https://app.acme.example.com")));
    }

    #[test]
    fn same_origin_and_no_origin_pass() {
        let c = cfg(TenantId::Globex, EnvName::Dev);
        assert_eq!(check(c, None, Some("globex.localhost"), "https"), Ok(Cors::SameOrigin));
        let own = check(c, Some("http://globex.localhost:8787"), Some("globex.localhost:8787"), "http");
        assert_eq!(own, Ok(Cors::SameOrigin));
        // The same host over another scheme is another origin.
        assert!(check(c, Some("http://globex.localhost"), Some("globex.localhost"), "https").is_err());
    }

    #[test]
    fn another_tenants_origin_is_refused() {
        // acme's prod origin calling globex.
        let c = cfg(TenantId::Globex, EnvName::Prod);
        let f = check(c, Some("https://app.acme.example.com"), Some("globex.example.org"), "https").unwrap_err();
        assert_eq!(f.code, ErrorCode::OriginNotAllowed);
        // acme's dev origin is not valid in acme's prod.
        let c = cfg(TenantId::Acme, EnvName::Prod);
        assert!(check(c, Some("http://localhost:3000"), Some("acme.example.com"), "https").is_err());
        // Exact comparison: no suffix or case tricks.
        for o in [
            "https://app.acme.example.com.evil.test",
            "https://APP.acme.example.com",
            "null",
            "https://app.acme.example.com:443",
        ] {
            assert!(check(c, Some(o), Some("acme.example.com"), "https").is_err(), "{o}");
        }
    }
}
