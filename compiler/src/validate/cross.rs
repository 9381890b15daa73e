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
                resolve: true,
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

/// A host claimed by one tenant and environment: where it is in the facts
/// (eight bytes, so that the maps of tens of thousands of hosts stay small).
#[derive(Clone, Copy, PartialEq)]
struct At {
    tenant: u32,
    env: u16,
    host: u16,
}

/// The claims of every valid host, in file order, with the host as
/// compared: lowercase already, no trailing dot, `*.` split off.
fn claims(tenants: &[CrossFacts]) -> impl Iterator<Item = (At, bool, &str)> {
    tenants.iter().enumerate().flat_map(|(ti, t)| {
        t.envs.iter().enumerate().flat_map(move |(ei, e)| {
            e.hosts.iter().enumerate().map(move |(hi, h)| {
                // Facts hold valid hosts only (see `CrossFacts::new`). A valid host is lowercase ASCII already: normalising it
                // only drops a trailing dot, so it can be borrowed.
                let n = h.value.trim_end_matches('.');
                let (is_wild, key) = match n.strip_prefix("*.") {
                    Some(rest) => (true, rest),
                    None => (false, n),
                };
                let at = At {
                    tenant: ti as u32,
                    env: ei as u16,
                    host: hi as u16,
                };
                (at, is_wild, key)
            })
        })
    })
}

/// The tenant id, environment name and host span of a claim.
fn claim_of(tenants: &[CrossFacts], at: At) -> (&str, &str, Span) {
    let t = &tenants[at.tenant as usize];
    let e = &t.envs[at.env as usize];
    (
        t.id.as_ref().map(|i| i.value.as_str()).unwrap_or("?"),
        &e.name.value,
        e.hosts[at.host as usize].span,
    )
}

/// Hosts: exact duplicates, exact inside a wildcard, wildcard inside a
/// wildcard (`tenant::host::duplicate`, `tenant::host::conflict`).
fn host_conflicts(cx: &mut Cx<'_>, tenants: &[CrossFacts]) {
    let (mut n_exact, mut n_wild) = (0, 0);
    for (_, is_wild, _) in claims(tenants) {
        if is_wild {
            n_wild += 1;
        } else {
            n_exact += 1;
        }
    }
    let mut exact: HashMap<&str, At, Fast> = HashMap::with_capacity_and_hasher(n_exact, Fast::default());
    let mut wild: HashMap<&str, At, Fast> = HashMap::with_capacity_and_hasher(n_wild, Fast::default());
    for (at, is_wild, key) in claims(tenants) {
        let map = if is_wild { &mut wild } else { &mut exact };
        let Some(&first) = map.get(key) else {
            map.insert(key, at);
            continue;
        };
        let (f_tenant, f_env, f_span) = claim_of(tenants, first);
        let (tenant, env, span) = claim_of(tenants, at);
        let n = if is_wild { format!("*.{key}") } else { key.to_string() };
        if first.tenant == at.tenant && first.env == at.env {
            cx.err(
                Diagnostic::error(
                    "tenant::host::duplicate",
                    format!("host `{n}` is listed twice in environment `{env}`"),
                    span,
                    "listed again",
                )
                .with_label(f_span, "first listed here")
                .with_help("remove one of them"),
            );
        } else {
            conflict(cx, &n, &n, f_tenant, f_env, f_span, tenant, env, span);
        }
    }
    // Every first claim against the wildcards on its proper suffixes.
    for (at, is_wild, key) in claims(tenants) {
        let map = if is_wild { &wild } else { &exact };
        if map.get(key) != Some(&at) {
            continue; // a second claim, reported above
        }
        // Proper suffixes at label boundaries: a wildcard on any of them covers this host.
        let mut rest = key;
        while let Some(pos) = rest.find('.') {
            rest = &rest[pos + 1..];
            if let Some(&w) = wild.get(rest) {
                if w.tenant == at.tenant && w.env == at.env {
                    // `*.acme.example.com` next to `api.acme.example.com` in one
                    // environment: both route to the same deployment.
                    continue;
                }
                let (w_tenant, w_env, w_span) = claim_of(tenants, w);
                let (tenant, env, span) = claim_of(tenants, at);
                let this = if is_wild { format!("*.{key}") } else { key.to_string() };
                conflict(cx, &format!("*.{rest}"), &this, w_tenant, w_env, w_span, tenant, env, span);
            }
        }
    }
}

/// One use of a resource two tenants could share: the hash of what would be
/// shared, and where the use is (tenant, environment and resource index into
/// the facts). Sixteen bytes, so that tens of thousands of them sort in a
/// few hundred KiB instead of filling a hash map several MiB large.
#[derive(Clone, Copy)]
struct Use {
    hash: u64,
    tenant: u32,
    env: u16,
    resource: u16,
}

/// The kinds of resource compared across tenants.
#[derive(Clone, Copy, PartialEq)]
enum Shared {
    Kv,
    Vectorize,
    Queue,
}

/// A KV namespace, Vectorize index namespace or queue used by two tenants
/// (or a queue used twice by one) (`tenant::resource::shared`). Each use is
/// compared with the first use of the same resource, in file order.
fn shared_resources(cx: &mut Cx<'_>, tenants: &[CrossFacts]) {
    let hasher = foldhash::fast::FixedState::default();
    let mut uses: [Vec<Use>; 3] = Default::default();
    for (ti, t) in tenants.iter().enumerate() {
        for (ei, e) in t.envs.iter().enumerate() {
            for (ri, r) in e.resources.iter().enumerate() {
                let Some((kind, (a, b))) = shared_key(t, r) else { continue };
                uses[kind as usize].push(Use {
                    hash: std::hash::BuildHasher::hash_one(&hasher, (a, b)),
                    tenant: ti as u32,
                    env: ei as u16,
                    resource: ri as u16,
                });
            }
        }
    }
    for list in &mut uses {
        // By hash, then in file order: each run of one hash starts with its first use.
        list.sort_unstable_by_key(|u| (u.hash, u.tenant, u.env, u.resource));
        for run in list.chunk_by(|a, b| a.hash == b.hash) {
            for (i, u) in run.iter().enumerate().skip(1) {
                let key = use_key(tenants, u);
                // The first earlier use of the same key (a hash collision is not one).
                if let Some(first) = run[..i].iter().find(|f| use_key(tenants, f) == key) {
                    shared_use(cx, tenants, first, u);
                }
            }
        }
    }
}

/// What a resource would share with another tenant's: `None` for a
/// placeholder queue (reported on its own).
fn shared_key<'a>(t: &'a CrossFacts, r: &'a CrossResource) -> Option<(Shared, (&'a str, &'a str))> {
    match r {
        CrossResource::Kv(id) => Some((Shared::Kv, (id.value.as_str(), ""))),
        CrossResource::Vectorize { index, namespace } => {
            let tid = t.id.as_ref().map(|i| i.value.as_str()).unwrap_or("?");
            let ns = namespace.as_ref().map(|n| n.value.as_str()).unwrap_or(tid);
            Some((Shared::Vectorize, (index.value.as_str(), ns)))
        }
        CrossResource::Queue(q) if q.value.starts_with(PLACEHOLDER_PREFIX) => None,
        CrossResource::Queue(q) => Some((Shared::Queue, (q.value.as_str(), ""))),
    }
}

fn use_key<'a>(tenants: &'a [CrossFacts], u: &Use) -> (&'a str, &'a str) {
    let t = &tenants[u.tenant as usize];
    shared_key(t, &t.envs[u.env as usize].resources[u.resource as usize])
        .map(|(_, k)| k)
        .unwrap_or_default()
}

/// Report `this` use of a resource that `first` already uses, when that
/// shares it: another tenant's KV namespace or Vectorize namespace, any
/// second use of a queue (a queue has one consumer, one deployment: named
/// twice it is shared, even by one tenant).
fn shared_use(cx: &mut Cx<'_>, tenants: &[CrossFacts], first: &Use, this: &Use) {
    let place = |u: &Use| {
        let t = &tenants[u.tenant as usize];
        let e = &t.envs[u.env as usize];
        let tid = t.id.as_ref().map(|i| i.value.as_str()).unwrap_or("?");
        (tid, e.name.value.as_str(), &e.resources[u.resource as usize])
    };
    let (other, other_env, first_r) = place(first);
    let (tid, env, r) = place(this);
    let span_of = |r: &CrossResource| match r {
        CrossResource::Kv(id) => id.span,
        CrossResource::Vectorize { index, namespace } => namespace.as_ref().map(|n| n.span).unwrap_or(index.span),
        CrossResource::Queue(q) => q.span,
    };
    let (message, help) = match r {
        CrossResource::Kv(_) | CrossResource::Vectorize { .. } if other == tid => return,
        CrossResource::Kv(id) => (
            format!("KV namespace `{}` is used by tenants `{other}` and `{tid}`", id.value),
            "each tenant needs its own namespace: data in a shared namespace is visible to both tenants",
        ),
        CrossResource::Vectorize { index, .. } => {
            let ns = shared_key(&tenants[this.tenant as usize], r).map(|(_, (_, ns))| ns).unwrap_or("");
            (
                format!(
                    "Vectorize index `{}` namespace `{ns}` is used by tenants `{other}` and `{tid}`",
                    index.value
                ),
                "give each tenant its own namespace (or leave `namespace` out: it defaults to the tenant id)",
            )
        }
        CrossResource::Queue(q) => (
            if other != tid {
                format!("queue `{}` is used by tenants `{other}` and `{tid}`", q.value)
            } else if other_env != env {
                format!("queue `{}` is used by tenant `{tid}` in both `{other_env}` and `{env}`", q.value)
            } else {
                format!("queue `{}` is used twice by tenant `{tid}` in `{env}`", q.value)
            },
            "a queue delivers to one consumer Worker: give each tenant and environment its own queue, e.g. `<tenant>-ingest-<env>`",
        ),
    };
    cx.err(
        Diagnostic::error("tenant::resource::shared", message, span_of(r), format!("`{tid}` ({env})"))
            .with_primary_label(span_of(first_r), format!("`{other}` ({other_env})"))
            .with_help(help),
    );
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
