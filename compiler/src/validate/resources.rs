//! Binding resources per environment (`tenant::binding::*`,
//! `tenant::resource::missing`, `tenant::kv::*`, `tenant::vectorize::*`,
//! `tenant::queue::*`, `tenant::analytics::*`) and the vector index an
//! environment searches.

use super::*;

/// The resources one environment gives the platform's bindings: each given
/// resource checked against its binding's kind, then every binding without
/// one reported (or filled in, for bindings that need no per-tenant resource).
pub(super) fn check_env_resources(
    cx: &mut Cx<'_>,
    p: &PlatformInfo,
    t: &RawTenant,
    pe: &res::Environment,
    e: &RawTenantEnv,
) -> Vec<res::Resource> {
    let mut resources = Vec::new();
    if !p.parsed {
        // No platform file to check against: each resource as the kind it says it is.
        for r in &e.resources {
            let kind = match r.kind {
                "kv" => res::BindingKind::Kv,
                "vectorize" => res::BindingKind::Vectorize {
                    dimensions: 0,
                    metric: String::new(),
                },
                "queues" => res::BindingKind::Queue,
                _ => res::BindingKind::AnalyticsEngine { dataset: String::new() },
            };
            let b = res::Binding {
                name: r.binding.value.clone(),
                kind,
            };
            match r.kind {
                "kv" => kv(cx, pe, &b, r, &mut resources),
                "vectorize" => vectorize(cx, t, pe, &b, r, &mut resources),
                "queues" => queue(cx, pe, &b, r, &mut resources),
                _ => analytics_engine(cx, pe, &b, r, &mut resources),
            }
        }
        return resources;
    }
    for r in &e.resources {
        let Some(b) = p.resolved.bindings.iter().find(|b| b.name == r.binding.value) else {
            let names: Vec<&str> = p.resolved.bindings.iter().map(|b| b.name.as_str()).collect();
            let mut d = Diagnostic::error(
                "tenant::binding::unknown",
                format!("unknown binding `{}`", r.binding.value),
                r.binding.span,
                "not declared in the platform file",
            );
            d = match did_you_mean(&r.binding.value, names.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("the platform declares: {}", names.join(", "))),
            };
            cx.err(d);
            continue;
        };
        let expected = match &b.kind {
            res::BindingKind::Kv => "kv",
            res::BindingKind::Vectorize { .. } => "vectorize",
            res::BindingKind::AnalyticsEngine { .. } => "analytics_engine",
            res::BindingKind::Queue => "queues",
            res::BindingKind::DurableObject { .. } => "durable-object",
            res::BindingKind::Ai => "ai",
        };
        if expected != r.kind {
            let (decl, _) = p.binding_spans[&b.name];
            cx.err(
                Diagnostic::error(
                    "tenant::binding::kind",
                    format!(
                        "`{}` is {} binding, given {} resource",
                        b.name,
                        with_article(kind_name(expected)),
                        with_article(kind_name(r.kind))
                    ),
                    r.binding.span,
                    "wrong kind of resource",
                )
                .with_label(decl, "declared here")
                .with_help(if matches!(expected, "durable-object" | "ai") {
                    "this binding needs no per-tenant resource; remove the entry".to_string()
                } else if cx.fmt(r.binding.span) == Format::Kdl {
                    format!("write it as `{} {} …`", kind_name(expected), b.name)
                } else {
                    format!("write it under `{expected}`")
                }),
            );
            continue;
        }
        match r.kind {
            "kv" => kv(cx, pe, b, r, &mut resources),
            "vectorize" => vectorize(cx, t, pe, b, r, &mut resources),
            "queues" => queue(cx, pe, b, r, &mut resources),
            _ => analytics_engine(cx, pe, b, r, &mut resources),
        }
    }
    missing_resources(cx, p, pe, e, &mut resources);
    resources.sort_by(|a, b| a.binding.cmp(&b.binding));
    resources
}

/// A KV namespace id (`tenant::kv::id`).
fn kv(cx: &mut Cx<'_>, pe: &res::Environment, b: &res::Binding, r: &RawResource, resources: &mut Vec<res::Resource>) {
    if let Some(id) = &r.id {
        if placeholder(cx, &id.value, id.span, &format_args!("KV namespace id of `{}`", b.name), &pe.name) {
            // Reported; the binding still counts as given.
        } else if !is_hex32(&id.value) {
            cx.err(
                Diagnostic::error(
                    "tenant::kv::id",
                    format!("`{}` is not a KV namespace id", id.value),
                    id.span,
                    "expected 32 lowercase hex characters",
                )
                .with_help("use the id printed by `wrangler kv namespace create`"),
            );
        } else {
            resources.push(res::Resource {
                binding: b.name.clone(),
                kind: res::ResourceKind::Kv { id: id.value.clone() },
            });
        }
    }
}

/// A Vectorize index and namespace (`tenant::vectorize::*`).
fn vectorize(cx: &mut Cx<'_>, t: &RawTenant, pe: &res::Environment, b: &res::Binding, r: &RawResource, resources: &mut Vec<res::Resource>) {
    if let Some(ix) = &r.index {
        if placeholder(cx, &ix.value, ix.span, &format_args!("Vectorize index of `{}`", b.name), &pe.name) {
            // Reported; the binding still counts as given.
        } else if !is_index_name(&ix.value) {
            cx.err(
                Diagnostic::error(
                    "tenant::vectorize::index",
                    format!("`{}` is not a valid Vectorize index name", ix.value),
                    ix.span,
                    "invalid index name",
                )
                .with_help("lowercase letters, digits and dashes, at most 32 characters"),
            );
        }
        let ns = r
            .namespace
            .as_ref()
            .map(|n| n.value.clone())
            .or_else(|| t.id.as_ref().map(|i| i.value.clone()))
            .unwrap_or_default();
        if let Some(n) = &r.namespace {
            if n.value.is_empty() || n.value.chars().count() > 64 {
                cx.err(
                    Diagnostic::error(
                        "tenant::vectorize::namespace",
                        "a Vectorize namespace has 1 to 64 characters",
                        n.span,
                        "invalid namespace",
                    )
                    .with_help("leave it out to use the tenant id"),
                );
            }
        }
        resources.push(res::Resource {
            binding: b.name.clone(),
            kind: res::ResourceKind::Vectorize {
                index: ix.value.clone(),
                namespace: ns,
            },
        });
    }
}

/// A queue name (`tenant::queue::name`).
fn queue(cx: &mut Cx<'_>, pe: &res::Environment, b: &res::Binding, r: &RawResource, resources: &mut Vec<res::Resource>) {
    if let Some(q) = &r.name {
        if placeholder(cx, &q.value, q.span, &format_args!("queue of `{}`", b.name), &pe.name) {
            // Reported; the binding still counts as given.
        } else if !is_queue_name(&q.value) {
            cx.err(
                Diagnostic::error(
                    "tenant::queue::name",
                    format!("`{}` is not a valid queue name", q.value),
                    q.span,
                    "invalid queue name",
                )
                .with_help("lowercase letters, digits and dashes, 1 to 63 characters, e.g. \"acme-ingest-dev\""),
            );
        } else {
            resources.push(res::Resource {
                binding: b.name.clone(),
                kind: res::ResourceKind::Queue { name: q.value.clone() },
            });
        }
    }
}

/// An Analytics Engine dataset (`tenant::analytics::dataset`).
fn analytics_engine(cx: &mut Cx<'_>, pe: &res::Environment, b: &res::Binding, r: &RawResource, resources: &mut Vec<res::Resource>) {
    if let Some(ds) = &r.dataset {
        if placeholder(
            cx,
            &ds.value,
            ds.span,
            &format_args!("Analytics Engine dataset of `{}`", b.name),
            &pe.name,
        ) {
            // Reported; the binding still counts as given.
        } else if !is_dataset_name(&ds.value) {
            cx.err(
                Diagnostic::error(
                    "tenant::analytics::dataset",
                    format!("`{}` is not a valid dataset name", ds.value),
                    ds.span,
                    "invalid",
                )
                .with_help("letters, digits and `_`"),
            );
        }
        resources.push(res::Resource {
            binding: b.name.clone(),
            kind: res::ResourceKind::AnalyticsEngine { dataset: ds.value.clone() },
        });
    }
}

/// Every binding gets a resource in every environment
/// (`tenant::resource::missing`); bindings that need none get theirs here.
fn missing_resources(cx: &mut Cx<'_>, p: &PlatformInfo, pe: &res::Environment, e: &RawTenantEnv, resources: &mut Vec<res::Resource>) {
    for b in &p.resolved.bindings {
        if resources.iter().any(|r| r.binding == b.name) {
            continue;
        }
        let given = e.resources.iter().any(|r| r.binding.value == b.name);
        let missing_help = |cx: &Cx<'_>, kdl: &str, json: &str| cx.syntax(e.name.span, kdl.to_string(), json.to_string());
        match &b.kind {
            res::BindingKind::Kv if !given => {
                let help = missing_help(
                    cx,
                    &format!("add `kv {} id=\"<namespace id>\"` to this env", b.name),
                    &format!("add `\"kv\": {{ \"{}\": {{ \"id\": \"<namespace id>\" }} }}` to this env", b.name),
                );
                cx.err(
                    Diagnostic::error(
                        "tenant::resource::missing",
                        format!("environment `{}` has no KV namespace for binding `{}`", pe.name, b.name),
                        e.name.span,
                        format!("`{}` missing here", b.name),
                    )
                    .with_label(p.binding_spans[&b.name].0, "declared here")
                    .with_help(help),
                );
            }
            res::BindingKind::Vectorize { .. } if !given => {
                let help = missing_help(
                    cx,
                    &format!("add `vectorize {} index=\"<index name>\"` to this env", b.name),
                    &format!(
                        "add `\"vectorize\": {{ \"{}\": {{ \"index\": \"<index name>\" }} }}` to this env",
                        b.name
                    ),
                );
                cx.err(
                    Diagnostic::error(
                        "tenant::resource::missing",
                        format!("environment `{}` has no Vectorize index for binding `{}`", pe.name, b.name),
                        e.name.span,
                        format!("`{}` missing here", b.name),
                    )
                    .with_label(p.binding_spans[&b.name].0, "declared here")
                    .with_help(help),
                );
            }
            res::BindingKind::Queue if !given => {
                let help = missing_help(
                    cx,
                    &format!("add `queue {} name=\"<queue name>\"` to this env", b.name),
                    &format!(
                        "add `\"queues\": {{ \"{}\": {{ \"name\": \"<queue name>\" }} }}` to this env",
                        b.name
                    ),
                );
                cx.err(
                    Diagnostic::error(
                        "tenant::resource::missing",
                        format!("environment `{}` has no queue for binding `{}`", pe.name, b.name),
                        e.name.span,
                        format!("`{}` missing here", b.name),
                    )
                    .with_label(p.binding_spans[&b.name].0, "declared here")
                    .with_help(help),
                );
            }
            res::BindingKind::AnalyticsEngine { dataset } if !given => {
                if dataset.is_empty() {
                    let help = missing_help(cx, &format!("add `analytics-engine {} dataset=\"<dataset>\"`, or give the binding a default dataset in the platform file", b.name), &format!("add `\"analytics_engine\": {{ \"{}\": {{ \"dataset\": \"<dataset>\" }} }}`, or give the binding a default dataset in the platform file", b.name));
                    cx.err(
                        Diagnostic::error(
                            "tenant::resource::missing",
                            format!("environment `{}` has no Analytics Engine dataset for binding `{}`", pe.name, b.name),
                            e.name.span,
                            format!("`{}` missing here", b.name),
                        )
                        .with_label(p.binding_spans[&b.name].0, "declared here")
                        .with_help(help),
                    );
                } else {
                    resources.push(res::Resource {
                        binding: b.name.clone(),
                        kind: res::ResourceKind::AnalyticsEngine { dataset: dataset.clone() },
                    });
                }
            }
            res::BindingKind::DurableObject { class } => resources.push(res::Resource {
                binding: b.name.clone(),
                kind: res::ResourceKind::DurableObject { class: class.clone() },
            }),
            res::BindingKind::Ai => resources.push(res::Resource {
                binding: b.name.clone(),
                kind: res::ResourceKind::Ai,
            }),
            _ => {}
        }
    }
}

/// The vector index of one environment: none without a Vectorize resource;
/// in a development environment the local index (the platform's
/// [`res::LOCAL_INDEX_CLASS`] object, whose absence the platform check
/// reports); elsewhere the tenant's Vectorize binding (the first, by name:
/// `resources` are sorted).
pub(super) fn vector_index(bindings: &[res::Binding], pe: &res::Environment, resources: &[res::Resource]) -> res::VectorIndex {
    let Some(v) = resources.iter().find(|r| matches!(r.kind, res::ResourceKind::Vectorize { .. })) else {
        return res::VectorIndex::None;
    };
    match local_index_object(bindings) {
        Some(object) if pe.development => res::VectorIndex::Local {
            object: object.to_string(),
        },
        _ => res::VectorIndex::Vectorize {
            binding: v.binding.clone(),
        },
    }
}
