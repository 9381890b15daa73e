//! Rules across tenant files (`tenant::id::duplicate`, `tenant::host::duplicate`,
//! `tenant::host::conflict`, `tenant::resource::shared`): every file involved
//! is labelled.

use super::*;

/// A fast hasher for the maps below (tens of thousands of short keys; the
/// keys come from reviewed tenant files, not from an adversary at run time).
type Fast = foldhash::fast::RandomState;

/// Rules across tenant files: duplicate ids, overlapping hosts, shared resources.
/// The host rules run on a second thread next to the others (they are
/// independent; their diagnostics are sorted with all the others later).
pub(super) fn cross_tenant(cx: &mut Cx<'_>, tenants: &[CrossFacts]) {
    let (sources, catalog, allow) = (cx.sources, cx.catalog, cx.allow);
    let mut host_diags = Diagnostics::default();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut hcx = Cx {
                sources,
                diags: &mut host_diags,
                catalog,
                allow,
            };
            host_conflicts(&mut hcx, tenants);
        });
        duplicate_ids(cx, tenants);
        shared_resources(cx, tenants);
    });
    for d in host_diags.items {
        cx.err(d);
    }
}

/// Two files declaring the same tenant id (`tenant::id::duplicate`).
fn duplicate_ids(cx: &mut Cx<'_>, tenants: &[CrossFacts]) {
    let mut ids: HashMap<&str, Span, Fast> = HashMap::with_capacity_and_hasher(tenants.len(), Fast::default());
    for t in tenants {
        if let Some(id) = &t.id {
            if let Some(first) = ids.get(id.value.as_str()) {
                let other = cx.sources.file(first.file).name.clone();
                cx.err(
                    Diagnostic::error(
                        "tenant::id::duplicate",
                        format!("tenant id `{}` is declared twice", id.value),
                        id.span,
                        "second declaration",
                    )
                    .with_primary_label(*first, "first declared here")
                    .with_help(format!("tenant ids are unique; rename this tenant or remove {other}")),
                );
            } else {
                ids.insert(&id.value, id.span);
            }
        }
    }
}

/// A host claimed by one tenant and environment.
struct Claim<'a> {
    tenant: &'a str,
    env: &'a str,
    span: Span,
}

/// Hosts: exact duplicates, exact inside a wildcard, wildcard inside a
/// wildcard (`tenant::host::duplicate`, `tenant::host::conflict`).
fn host_conflicts(cx: &mut Cx<'_>, tenants: &[CrossFacts]) {
    let hosts: usize = tenants.iter().flat_map(|t| &t.envs).map(|e| e.hosts.len()).sum();
    let mut exact: HashMap<&str, Claim<'_>, Fast> = HashMap::with_capacity_and_hasher(hosts, Fast::default());
    let mut wild: HashMap<&str, Claim<'_>, Fast> = HashMap::default();
    let mut all: Vec<(&str, bool, Claim<'_>)> = Vec::with_capacity(hosts);
    for t in tenants {
        let tid = t.id.as_ref().map(|i| i.value.as_str()).unwrap_or("?");
        for e in &t.envs {
            for h in &e.hosts {
                // Facts hold valid hosts only (see `CrossFacts::from`). A valid host is lowercase ASCII already: normalising it
                // only drops a trailing dot, so it can be borrowed.
                let n = h.value.trim_end_matches('.');
                let (is_wild, key) = match n.strip_prefix("*.") {
                    Some(rest) => (true, rest),
                    None => (false, n),
                };
                let claim = Claim {
                    tenant: tid,
                    env: &e.name.value,
                    span: h.span,
                };
                let map = if is_wild { &mut wild } else { &mut exact };
                if let Some(first) = map.get(key) {
                    if first.tenant == claim.tenant && first.env == claim.env {
                        cx.err(
                            Diagnostic::error(
                                "tenant::host::duplicate",
                                format!("host `{n}` is listed twice in environment `{}`", claim.env),
                                claim.span,
                                "listed again",
                            )
                            .with_label(first.span, "first listed here")
                            .with_help("remove one of them"),
                        );
                        continue;
                    }
                    conflict(cx, n, n, first.tenant, first.env, first.span, claim.tenant, claim.env, claim.span);
                    continue;
                }
                map.insert(
                    key,
                    Claim {
                        tenant: tid,
                        env: &e.name.value,
                        span: h.span,
                    },
                );
                all.push((key, is_wild, claim));
            }
        }
    }
    for (key, is_wild, claim) in &all {
        // Proper suffixes at label boundaries: a wildcard on any of them covers this host.
        let mut rest = *key;
        while let Some(pos) = rest.find('.') {
            rest = &rest[pos + 1..];
            if let Some(w) = wild.get(rest) {
                if w.tenant == claim.tenant && w.env == claim.env {
                    // `*.acme.example.com` next to `api.acme.example.com` in one
                    // environment: both route to the same deployment.
                    continue;
                }
                let this = if *is_wild { format!("*.{key}") } else { key.to_string() };
                conflict(
                    cx,
                    &format!("*.{rest}"),
                    &this,
                    w.tenant,
                    w.env,
                    w.span,
                    claim.tenant,
                    claim.env,
                    claim.span,
                );
            }
        }
    }
}

/// A KV namespace, Vectorize index namespace or queue used by two tenants
/// (or a queue used twice by one) (`tenant::resource::shared`).
fn shared_resources(cx: &mut Cx<'_>, tenants: &[CrossFacts]) {
    // Sized for every resource up front: growing maps of tens of thousands
    // of entries rehashes them and touches several times the memory.
    let (mut n_kv, mut n_vec, mut n_queue) = (0, 0, 0);
    for r in tenants.iter().flat_map(|t| &t.envs).flat_map(|e| &e.resources) {
        match r {
            CrossResource::Kv(_) => n_kv += 1,
            CrossResource::Vectorize { .. } => n_vec += 1,
            CrossResource::Queue(_) => n_queue += 1,
        }
    }
    let mut kv: HashMap<&str, (&str, &str, Span), Fast> = HashMap::with_capacity_and_hasher(n_kv, Fast::default());
    let mut vec_ix: HashMap<(&str, &str), (&str, &str, Span), Fast> = HashMap::with_capacity_and_hasher(n_vec, Fast::default());
    let mut queues: HashMap<&str, (&str, &str, Span), Fast> = HashMap::with_capacity_and_hasher(n_queue, Fast::default());
    for t in tenants {
        let tid = t.id.as_ref().map(|i| i.value.as_str()).unwrap_or("?");
        for e in &t.envs {
            let env = e.name.value.as_str();
            for r in &e.resources {
                match r {
                    CrossResource::Queue(q) => shared_queue(cx, &mut queues, q, tid, env),
                    CrossResource::Kv(id) => match kv.get(id.value.as_str()) {
                        Some((other, other_env, first)) if *other != tid => {
                            cx.err(
                                Diagnostic::error(
                                    "tenant::resource::shared",
                                    format!("KV namespace `{}` is used by tenants `{other}` and `{tid}`", id.value),
                                    id.span,
                                    format!("`{tid}` ({env})"),
                                )
                                .with_primary_label(*first, format!("`{other}` ({other_env})"))
                                .with_help("each tenant needs its own namespace: data in a shared namespace is visible to both tenants"),
                            );
                        }
                        Some(_) => {}
                        None => {
                            kv.insert(&id.value, (tid, env, id.span));
                        }
                    },
                    CrossResource::Vectorize { index: ix, namespace } => {
                        let ns = namespace.as_ref().map(|n| n.value.as_str()).unwrap_or(tid);
                        let at = namespace.as_ref().map(|n| n.span).unwrap_or(ix.span);
                        match vec_ix.get(&(ix.value.as_str(), ns)) {
                            Some((other, other_env, first)) if *other != tid => {
                                cx.err(
                                    Diagnostic::error(
                                        "tenant::resource::shared",
                                        format!(
                                            "Vectorize index `{}` namespace `{ns}` is used by tenants `{other}` and `{tid}`",
                                            ix.value
                                        ),
                                        at,
                                        format!("`{tid}` ({env})"),
                                    )
                                    .with_primary_label(*first, format!("`{other}` ({other_env})"))
                                    .with_help(
                                        "give each tenant its own namespace (or leave `namespace` out: it defaults to the tenant id)",
                                    ),
                                );
                            }
                            Some(_) => {}
                            None => {
                                vec_ix.insert((&ix.value, ns), (tid, env, at));
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A queue has one consumer, one deployment (tenant and environment): a
/// queue named twice is shared, even by one tenant.
fn shared_queue<'a>(
    cx: &mut Cx<'_>,
    queues: &mut HashMap<&'a str, (&'a str, &'a str, Span), Fast>,
    q: &'a Sp<String>,
    tid: &'a str,
    env: &'a str,
) {
    if q.value.starts_with(PLACEHOLDER_PREFIX) {
        return;
    }
    match queues.get(q.value.as_str()) {
        Some((other, other_env, first)) => {
            let message = if *other != tid {
                format!("queue `{}` is used by tenants `{other}` and `{tid}`", q.value)
            } else if *other_env != env {
                format!("queue `{}` is used by tenant `{tid}` in both `{other_env}` and `{env}`", q.value)
            } else {
                format!("queue `{}` is used twice by tenant `{tid}` in `{env}`", q.value)
            };
            cx.err(
                Diagnostic::error("tenant::resource::shared", message, q.span, format!("`{tid}` ({env})"))
                    .with_primary_label(*first, format!("`{other}` ({other_env})"))
                    .with_help("a queue delivers to one consumer Worker: give each tenant and environment its own queue, e.g. `<tenant>-ingest-<env>`"),
            );
        }
        None => {
            queues.insert(&q.value, (tid, env, q.span));
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn conflict(
    cx: &mut Cx<'_>,
    first_host: &str,
    this_host: &str,
    first_tenant: &str,
    first_env: &str,
    first_span: Span,
    tenant: &str,
    env: &str,
    span: Span,
) {
    let msg = if first_host == this_host {
        if first_tenant == tenant {
            format!("host `{this_host}` is claimed by tenant `{tenant}` in both `{first_env}` and `{env}`")
        } else {
            format!("host `{this_host}` is claimed by tenants `{first_tenant}` and `{tenant}`")
        }
    } else {
        format!("host `{this_host}` of tenant `{tenant}` overlaps `{first_host}` of tenant `{first_tenant}`")
    };
    cx.err(
        Diagnostic::error("tenant::host::conflict", msg, span, format!("`{tenant}` ({env})"))
            .with_primary_label(first_span, format!("`{first_tenant}` ({first_env})"))
            .with_help("a host routes to exactly one tenant and environment: remove one claim, or narrow the wildcard"),
    );
}
