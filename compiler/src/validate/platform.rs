//! The platform file (`platform::*`: Worker, compatibility, environments,
//! bindings, custom models, tools, the local index and the audit log) and
//! the accounts file (`accounts::*`).

use super::*;

/// Checks the platform file and returns what could be resolved of it (with
/// `complete` false when something essential is missing).
pub(super) fn check_platform(cx: &mut Cx<'_>, p: &RawPlatform) -> PlatformInfo {
    let mut ok = check_worker(cx, p);
    check_not_secrets(cx, p);
    let environments = check_environments(cx, p, &mut ok);
    let (mut bindings, binding_spans) = check_bindings(cx, p, &mut ok);
    let mut custom_models = check_models(cx, p, &mut ok);
    let mut tools = check_tools(cx, p, &mut ok);
    bindings.sort_by(|a, b| a.name.cmp(&b.name));
    check_local_index(cx, p, &environments, &bindings, &binding_spans);
    check_audit_log(cx, p, &bindings);
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    custom_models.sort_by(|a, b| a.id.cmp(&b.id));
    PlatformInfo {
        complete: ok && !p.environments.is_empty(),
        parsed: true,
        resolved: res::Platform {
            worker: p.worker.as_ref().map(|w| w.value.clone()).unwrap_or_default(),
            compatibility_date: p.compatibility_date.as_ref().map(|d| d.value.clone()).unwrap_or_default(),
            compatibility_flags: p.compatibility_flags.iter().map(|f| f.value.clone()).collect(),
            environments,
            bindings,
            tools,
            custom_models,
        },
        binding_spans,
    }
}

/// The `not_secrets` reasons: 1–200 characters (`platform::not-secret::reason`).
fn check_not_secrets(cx: &mut Cx<'_>, p: &RawPlatform) {
    for r in p.not_secrets.iter().filter_map(|n| n.reason.as_ref()) {
        let len = r.value.trim().chars().count();
        if len == 0 || len > 200 {
            cx.err(
                Diagnostic::error(
                    "platform::not-secret::reason",
                    "a `not_secrets` reason has 1 to 200 characters",
                    r.span,
                    format!("{len} characters"),
                )
                .with_help("say why the value is public, e.g. \"the chat widget's public site key\""),
            );
        }
    }
}

/// The Worker name, compatibility date and flags; false when one is missing or invalid.
fn check_worker(cx: &mut Cx<'_>, p: &RawPlatform) -> bool {
    let mut ok = true;
    if let Some(w) = &p.worker {
        if !is_slug(&w.value, 40) {
            ok = false;
            cx.err(
                Diagnostic::error(
                    "platform::worker::invalid",
                    format!("`{}` is not a valid Worker name", w.value),
                    w.span,
                    "invalid name",
                )
                .with_help("lowercase letters, digits and dashes, at most 40 characters (scripts are named <worker>-<tenant>-<env>)"),
            );
        }
    } else {
        ok = false;
    }
    if let Some(d) = &p.compatibility_date {
        if !is_date(&d.value) {
            ok = false;
            cx.err(
                Diagnostic::error(
                    "platform::compatibility-date",
                    format!("`{}` is not a date", d.value),
                    d.span,
                    "expected YYYY-MM-DD",
                )
                .with_help("e.g. \"2026-11-01\""),
            );
        }
    } else {
        ok = false;
    }
    for f in &p.compatibility_flags {
        if f.value.is_empty() || !f.value.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_') {
            ok = false;
            cx.err(
                Diagnostic::error(
                    "platform::compatibility-flag",
                    format!("`{}` is not a compatibility flag", f.value),
                    f.span,
                    "invalid flag",
                )
                .with_help("flags are snake_case, e.g. \"nodejs_compat\""),
            );
        }
    }
    ok
}

/// The environments (`platform::env::*`); invalid names are left out, so
/// tenants are not told to add them.
fn check_environments(cx: &mut Cx<'_>, p: &RawPlatform, ok: &mut bool) -> Vec<res::Environment> {
    let mut environments = Vec::new();
    for e in &p.environments {
        if !is_slug(&e.name.value, 16) {
            *ok = false;
            cx.err(
                Diagnostic::error(
                    "platform::env::invalid",
                    format!("`{}` is not a valid environment name", e.name.value),
                    e.name.span,
                    "invalid name",
                )
                .with_help("lowercase letters, digits and dashes, at most 16 characters"),
            );
        }
        if !is_slug(&e.name.value, 16) {
            // Not required of tenants: they would be told to add an invalid name.
            continue;
        }
        let development = e.development.as_ref().map(|b| b.value).unwrap_or(e.name.value == "dev");
        environments.push(res::Environment {
            name: e.name.value.clone(),
            development,
            workers_dev: e.workers_dev.as_ref().map(|b| b.value).unwrap_or(development),
        });
    }
    if p.environments.is_empty() && p.environments_given {
        *ok = false;
        cx.err(
            Diagnostic::error(
                "platform::env::none",
                "the platform declares no environments",
                p.environments_span.unwrap_or(p.span),
                "empty",
            )
            .with_help("declare at least one environment, e.g. dev, stage and prod"),
        );
    }
    environments
}

/// Binding name → span of its declaration (and of its dimensions).
type BindingSpans = HashMap<String, (Span, Option<Span>)>;

/// The bindings (`platform::binding::*`), with where each was declared.
fn check_bindings(cx: &mut Cx<'_>, p: &RawPlatform, ok: &mut bool) -> (Vec<res::Binding>, BindingSpans) {
    let mut bindings = Vec::new();
    let mut binding_spans = HashMap::new();
    let mut ai_seen: Option<Span> = None;
    for b in &p.bindings {
        if !is_upper_name(&b.name.value) {
            *ok = false;
            cx.err(
                Diagnostic::error(
                    "platform::binding::name",
                    format!("`{}` is not a valid binding name", b.name.value),
                    b.name.span,
                    "invalid name",
                )
                .with_help("binding names are UPPER_SNAKE_CASE, e.g. CACHE or RATE_LIMITER"),
            );
        }
        let Some(kind) = &b.kind else {
            *ok = false;
            continue;
        };
        let Some(k) = binding_kind(cx, b, kind, &mut ai_seen, ok) else {
            continue;
        };
        misplaced_fields(cx, b, kind);
        binding_spans.insert(b.name.value.clone(), (b.name.span, b.dimensions.as_ref().map(|d| d.span)));
        bindings.push(res::Binding {
            name: b.name.value.clone(),
            kind: k,
        });
    }
    (bindings, binding_spans)
}

/// What a binding of the given kind resolves to; `None` (reported) when a
/// field it needs is missing or invalid.
fn binding_kind(cx: &mut Cx<'_>, b: &RawBinding, kind: &Sp<String>, ai_seen: &mut Option<Span>, ok: &mut bool) -> Option<res::BindingKind> {
    let k = match kind.value.as_str() {
        "kv" => res::BindingKind::Kv,
        "durable-object" => match &b.class {
            Some(c) if is_class_name(&c.value) => res::BindingKind::DurableObject { class: c.value.clone() },
            Some(c) => {
                *ok = false;
                cx.err(
                    Diagnostic::error(
                        "platform::binding::class",
                        format!("`{}` is not a valid class name", c.value),
                        c.span,
                        "invalid class",
                    )
                    .with_help("PascalCase, e.g. \"ChatSession\""),
                );
                return None;
            }
            None => {
                *ok = false;
                cx.err(
                    Diagnostic::error(
                        "schema::missing",
                        format!("durable-object binding `{}` is missing `class`", b.name.value),
                        b.name.span,
                        "`class` required",
                    )
                    .with_help("name the Durable Object class the Worker exports, e.g. class=\"ChatSession\""),
                );
                return None;
            }
        },
        "vectorize" => match &b.dimensions {
            Some(d) => res::BindingKind::Vectorize {
                dimensions: d.value as u32,
                metric: b.metric.as_ref().map(|m| m.value.clone()).unwrap_or_else(|| "cosine".into()),
            },
            None => {
                *ok = false;
                if !b.dimensions_given {
                    cx.err(
                        Diagnostic::error("schema::missing", format!("vectorize binding `{}` is missing `dimensions`", b.name.value), b.name.span, "`dimensions` required")
                            .with_help("the vector size of the index, which must equal the embedding model's output (e.g. 768 for @cf/baai/bge-base-en-v1.5)"),
                    );
                }
                // Keep the binding known (dimensions 0: not compared), so
                // tenants that use it are not told it does not exist.
                res::BindingKind::Vectorize {
                    dimensions: 0,
                    metric: "cosine".into(),
                }
            }
        },
        "ai" => {
            if let Some(first) = *ai_seen {
                *ok = false;
                cx.err(
                    Diagnostic::error("platform::binding::duplicate-ai", "a second `ai` binding", b.name.span, "second")
                        .with_label(first, "first")
                        .with_help("a Worker has one AI binding"),
                );
            }
            *ai_seen = Some(b.name.span);
            res::BindingKind::Ai
        }
        "queue" => res::BindingKind::Queue,
        _ => {
            let dataset = b.dataset.as_ref().map(|d| d.value.clone()).unwrap_or_default();
            if let Some(d) = &b.dataset {
                if !is_dataset_name(&d.value) {
                    *ok = false;
                    cx.err(
                        Diagnostic::error(
                            "platform::binding::dataset",
                            format!("`{}` is not a valid dataset name", d.value),
                            d.span,
                            "invalid",
                        )
                        .with_help("letters, digits and `_`"),
                    );
                }
            }
            res::BindingKind::AnalyticsEngine { dataset }
        }
    };
    Some(k)
}

/// Fields that do not apply to the binding's kind (`platform::binding::field`).
fn misplaced_fields(cx: &mut Cx<'_>, b: &RawBinding, kind: &Sp<String>) {
    let kind_name = kind.value.as_str();
    let fields = [
        ("class", b.class.as_ref().map(|c| c.span), "durable-object"),
        ("dimensions", b.dimensions.as_ref().map(|c| c.span), "vectorize"),
        ("metric", b.metric.as_ref().map(|c| c.span), "vectorize"),
        ("dataset", b.dataset.as_ref().map(|c| c.span), "analytics-engine"),
    ];
    for (field, span, applies_to) in fields {
        if let Some(span) = span.filter(|_| kind_name != applies_to) {
            cx.err(
                Diagnostic::error(
                    "platform::binding::field",
                    format!("`{field}` does not apply to a {} binding", kind.value),
                    span,
                    "not used by this kind",
                )
                .with_help("remove it"),
            );
        }
    }
}

/// Custom models (`platform::model::*`); [`super::prepare`] adds them to the catalog.
fn check_models(cx: &mut Cx<'_>, p: &RawPlatform, ok: &mut bool) -> Vec<res::CatalogModel> {
    let mut custom_models = Vec::new();
    for m in &p.models {
        if !is_model_id(&m.id.value) {
            *ok = false;
            cx.err(
                Diagnostic::error(
                    "platform::model::id",
                    format!("`{}` is not a model id", m.id.value),
                    m.id.span,
                    "invalid model id",
                )
                .with_help("model ids look like `@cf/<author>/<model>` (or `@hf/…`)"),
            );
        }
        let Some(task) = &m.task else {
            *ok = false;
            continue;
        };
        if task.value == "text-embeddings" && m.dimensions.is_none() {
            *ok = false;
            cx.err(
                Diagnostic::error(
                    "schema::missing",
                    format!("embedding model `{}` is missing `dimensions`", m.id.value),
                    m.id.span,
                    "`dimensions` required",
                )
                .with_help("the length of the vectors the model returns"),
            );
            continue;
        }
        custom_models.push(res::CatalogModel {
            id: m.id.value.clone(),
            task: task.value.clone(),
            dimensions: m.dimensions.as_ref().map(|d| d.value as u32),
        });
    }
    custom_models
}

/// The tools the platform offers (`platform::tool::*`).
fn check_tools(cx: &mut Cx<'_>, p: &RawPlatform, ok: &mut bool) -> Vec<res::ToolDef> {
    let mut tools = Vec::new();
    for t in &p.tools {
        if !is_slug(&t.name.value, 32) {
            *ok = false;
            cx.err(
                Diagnostic::error(
                    "platform::tool::name",
                    format!("`{}` is not a valid tool name", t.name.value),
                    t.name.span,
                    "invalid",
                )
                .with_help("lowercase letters, digits and dashes"),
            );
        }
        if let Some(d) = &t.description {
            if secret_check_as(
                cx,
                "platform::secret::value",
                d,
                &format_args!("the description of tool `{}`", t.name.value),
                false,
                false,
                FREE_TEXT_HELP,
            ) {
                *ok = false;
            }
        }
        for r in &t.roles {
            if !is_slug(&r.value, 32) {
                *ok = false;
                cx.err(
                    Diagnostic::error(
                        "platform::tool::role",
                        format!("`{}` is not a valid role name", r.value),
                        r.span,
                        "invalid",
                    )
                    .with_help("lowercase letters, digits and dashes"),
                );
            }
        }
        if is_slug(&t.name.value, 32) && !crate::validate::catalog::TOOLS.contains(&t.name.value.as_str()) {
            let d = Diagnostic::error(
                "platform::tool::unimplemented",
                format!("the Worker does not implement a tool named `{}`", t.name.value),
                t.name.span,
                "no such tool in the Worker",
            );
            cx.err(match did_you_mean(&t.name.value, crate::validate::catalog::TOOLS.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!(
                    "the Worker implements: {} (docs/tools.md says how to add one)",
                    crate::validate::catalog::TOOLS.join(", ")
                )),
            });
        }
        tools.push(res::ToolDef {
            name: t.name.value.clone(),
            description: t.description.as_ref().map(|d| d.value.clone()).unwrap_or_default(),
            roles: t.roles.iter().map(|r| r.value.clone()).collect(),
        });
    }
    tools
}
/// A platform with a Vectorize index and a development environment needs
/// the local index that development environments search instead: a
/// `durable-object` binding of class [`res::LOCAL_INDEX_CLASS`]. Reported at
/// the (first) Vectorize binding, labelled at the (first) development
/// environment. It leaves the platform usable: tenants are checked as usual.
pub(super) fn check_local_index(
    cx: &mut Cx<'_>,
    p: &RawPlatform,
    environments: &[res::Environment],
    bindings: &[res::Binding],
    binding_spans: &HashMap<String, (Span, Option<Span>)>,
) {
    let Some(vectorize) = bindings.iter().find(|b| matches!(b.kind, res::BindingKind::Vectorize { .. })) else {
        return;
    };
    let Some(dev) = environments.iter().find(|e| e.development) else {
        return;
    };
    if local_index_object(bindings).is_some() {
        return;
    }
    let at = binding_spans[&vectorize.name].0;
    let dev_span = p
        .environments
        .iter()
        .find(|e| e.name.value == dev.name)
        .map(|e| e.name.span)
        .unwrap_or(p.span);
    let class = res::LOCAL_INDEX_CLASS;
    let help = cx.syntax(
        at,
        format!("declare the local index: `durable-object DOC_INDEX class=\"{class}\"` (the Worker exports the class)"),
        format!("declare the local index under `bindings`: `\"DOC_INDEX\": {{ \"type\": \"durable-object\", \"class\": \"{class}\" }}` (the Worker exports the class)"),
    );
    cx.err(
        Diagnostic::error(
            "platform::rag::no-local-index",
            format!(
                "development environment `{}` has no local vector index: no durable-object binding of class `{class}`",
                dev.name
            ),
            at,
            "Vectorize is not available in development",
        )
        .with_label(dev_span, "development environment")
        .with_help(help),
    );
}

/// Tools need the audit log: every call is recorded in the tenant's
/// `AuditLog` Durable Object (docs/tools.md). The platform stays usable
/// for the tenant rules.
pub(super) fn check_audit_log(cx: &mut Cx<'_>, p: &RawPlatform, bindings: &[res::Binding]) {
    let Some(first) = p.tools.first() else {
        return;
    };
    let has = bindings
        .iter()
        .any(|b| matches!(&b.kind, res::BindingKind::DurableObject { class } if class == res::AUDIT_LOG_CLASS));
    if has {
        return;
    }
    let class = res::AUDIT_LOG_CLASS;
    let help = cx.syntax(
        first.name.span,
        format!("declare the audit log: `durable-object AUDIT class=\"{class}\"` (the Worker exports the class)"),
        format!("declare the audit log under `bindings`: `\"AUDIT\": {{ \"type\": \"durable-object\", \"class\": \"{class}\" }}` (the Worker exports the class)"),
    );
    cx.err(
        Diagnostic::error(
            "platform::tool::no-audit-log",
            format!("the platform lists tools but no durable-object binding of class `{class}`"),
            first.name.span,
            "every tool call is audited",
        )
        .with_help(help),
    );
}

/// The Durable Object binding of the local vector index, if the platform declares one.
pub(super) fn local_index_object(bindings: &[res::Binding]) -> Option<&str> {
    bindings
        .iter()
        .find(|b| matches!(&b.kind, res::BindingKind::DurableObject { class } if class == res::LOCAL_INDEX_CLASS))
        .map(|b| b.name.as_str())
}

pub(super) fn check_accounts(cx: &mut Cx<'_>, accounts: &[RawAccount]) -> BTreeMap<String, (res::Account, Span)> {
    let mut out = BTreeMap::new();
    for a in accounts {
        let mut ok = true;
        if !is_slug(&a.key.value, 32) {
            ok = false;
            cx.err(
                Diagnostic::error(
                    "accounts::key",
                    format!("`{}` is not a valid account key", a.key.value),
                    a.key.span,
                    "invalid",
                )
                .with_help("lowercase letters, digits and dashes"),
            );
        }
        if let Some(id) = &a.account_id {
            let help = "an account id is public; the account's API token goes in a CI secret whose NAME is `token_env`. Remove the credential and rotate it: it stays in git history";
            if secret_check_as(cx, "accounts::secret::value", id, &"`account_id`", false, true, help) {
                ok = false;
            } else if !is_hex32(&id.value) {
                ok = false;
                cx.err(
                    Diagnostic::error(
                        "accounts::account-id",
                        format!("`{}` is not a Cloudflare account id", id.value),
                        id.span,
                        "expected 32 lowercase hex characters",
                    )
                    .with_help("copy it from the dashboard's Workers overview or `wrangler whoami`"),
                );
            }
        }
        if let Some(t) = &a.token_env {
            if let Some(what) = looks_like_secret(&t.value) {
                ok = false;
                cx.err(
                    Diagnostic::error("accounts::token-value", format!("`token_env` looks like {what}, not the name of an environment variable"), t.span, "this looks like a credential")
                        .with_help(format!("write the NAME of the variable that holds the token, e.g. CF_API_TOKEN_{}, and set the variable in CI secrets; then rotate this token, it is in git history", a.key.value.to_ascii_uppercase().replace('-', "_"))),
                );
            } else if !is_upper_name(&t.value) {
                ok = false;
                cx.err(
                    Diagnostic::error(
                        "accounts::token-env",
                        format!("`{}` is not an environment variable name", t.value),
                        t.span,
                        "expected UPPER_SNAKE_CASE",
                    )
                    .with_help("name the variable that holds the token, e.g. CF_API_TOKEN_ACME; the token itself never goes in a file"),
                );
            }
        }
        if let (true, Some(id), Some(t)) = (ok, &a.account_id, &a.token_env) {
            out.insert(
                a.key.value.clone(),
                (
                    res::Account {
                        key: a.key.value.clone(),
                        account_id: id.value.clone(),
                        token_env: t.value.clone(),
                    },
                    a.key.span,
                ),
            );
        } else {
            // Keep the key known so tenants referring to it do not get a second, misleading error.
            out.entry(a.key.value.clone()).or_insert((
                res::Account {
                    key: a.key.value.clone(),
                    account_id: String::new(),
                    token_env: String::new(),
                },
                a.key.span,
            ));
        }
    }
    out
}
