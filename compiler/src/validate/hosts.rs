//! Hosts and CORS origins of one environment (`tenant::host::missing`,
//! `tenant::host::invalid`, `tenant::cors::invalid`). Hosts across tenants
//! (duplicates, wildcard overlaps) are in [`super::cross`].

use super::*;

/// The environment's hosts (normalised) and CORS origins (sorted, unique).
pub(super) fn check_env_hosts(cx: &mut Cx<'_>, pe: &res::Environment, e: &RawTenantEnv) -> (Vec<String>, Vec<String>) {
    if e.hosts.is_empty() && !e.hosts_invalid {
        let help = cx.syntax(
            e.name.span,
            "add `host \"tenant.example.com\"`".into(),
            "list at least one host: `\"hosts\": [\"tenant.example.com\"]`".into(),
        );
        cx.err(
            Diagnostic::error(
                "tenant::host::missing",
                format!("environment `{}` has no host", pe.name),
                e.name.span,
                "no host",
            )
            .with_help(help),
        );
    }
    let mut hosts = Vec::new();
    for h in &e.hosts {
        if placeholder(cx, &h.value, h.span, &"host", &pe.name) {
            continue;
        }
        match check_host(&h.value) {
            Ok(()) => hosts.push(normalize_host(&h.value)),
            Err((msg, help)) => cx.err(Diagnostic::error("tenant::host::invalid", msg, h.span, "invalid host").with_help(help)),
        }
    }
    let mut cors_origins = Vec::new();
    for o in &e.cors_origins {
        if placeholder(cx, &o.value, o.span, &"CORS origin", &pe.name) {
            continue;
        }
        match check_origin(&o.value) {
            Ok(origin) => cors_origins.push(origin),
            Err((msg, help)) => cx.err(Diagnostic::error("tenant::cors::invalid", msg, o.span, "invalid origin").with_help(help)),
        }
    }
    cors_origins.sort();
    cors_origins.dedup();
    (hosts, cors_origins)
}
