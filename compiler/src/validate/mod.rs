//! Semantic validation and resolution: raw model → [`Model`].
//!
//! Runs every check over every file and collects all diagnostics; resolution
//! applies defaults and flattens environments. Cross-file rules (duplicate
//! ids, host overlap, shared resources, references between files) label
//! every file involved.
//!
//! Invariant: returns `Some(Model)` only when no error was reported here or
//! earlier (the caller passes the earlier count).

mod ai;
mod auth;
pub mod catalog;
pub mod rules;
mod sessions;

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::raw::decode::Sp;
use crate::raw::*;
use crate::resolved::{self as res, defaults};
use crate::validate::catalog::{Catalog, ModelInfo};
use crate::validate::rules::*;

/// Where a development environment's Worker serves the playground page.
pub const PLAYGROUND_PATH: &str = "/_playground";
/// A resource's key (`analytics_engine`, `queues`) as the binding kind it
/// belongs to, which is also its KDL node name (`analytics-engine`, `queue`).
fn kind_name(key: &str) -> &str {
    match key {
        "analytics_engine" => "analytics-engine",
        "queues" => "queue",
        k => k,
    }
}

fn with_article(s: &str) -> String {
    if s.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {s}")
    } else {
        format!("a {s}")
    }
}
use crate::source::{Format, SourceMap, Span};

pub struct Inputs {
    pub platform: Option<RawPlatform>,
    pub accounts: Vec<RawAccount>,
    /// False when the accounts file could not be read or parsed: account
    /// references are then not checked (the file's own errors say why).
    pub accounts_parsed: bool,
    pub tenants: Vec<RawTenant>,
}

struct Cx<'a> {
    sources: &'a SourceMap,
    diags: &'a mut Diagnostics,
    catalog: Catalog,
}

impl Cx<'_> {
    fn fmt(&self, span: Span) -> Format {
        self.sources.get(span.file).format
    }
    /// Help text in the syntax of the file the span is in.
    fn syntax(&self, span: Span, kdl: String, json: String) -> String {
        match self.fmt(span) {
            Format::Kdl => kdl,
            _ => json,
        }
    }
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}

/// Report a credential-looking value. `slot` names where it was found;
/// `is_name` says whether only a name belongs there. Certain shapes (bearer
/// headers, known key prefixes, private keys, URLs with passwords) are
/// errors; a merely high-entropy string is a warning (it may be an id).
fn secret_check(cx: &mut Cx<'_>, s: &Sp<String>, slot: &str, is_name: bool) -> bool {
    let help = "never put secret values in tenant files: list the secret's NAME under `secrets` and set its value with `wrangler secret put NAME`; if this is a real credential, rotate it, it is in git history";
    secret_check_with(cx, s, slot, is_name, true, help)
}

/// [`secret_check`] with its help text, and whether a merely high-entropy
/// string is reported (as a warning) at all.
fn secret_check_with(cx: &mut Cx<'_>, s: &Sp<String>, slot: &str, is_name: bool, entropy: bool, help: &str) -> bool {
    let Some(what) = looks_like_secret(&s.value) else {
        return false;
    };
    let certain = what != HIGH_ENTROPY;
    if !certain && !entropy {
        return false;
    }
    let message = if is_name {
        format!("{slot} looks like {what}, not a name")
    } else {
        format!("{slot} looks like {what}")
    };
    let d = if certain {
        Diagnostic::error("tenant::secret::value", message, s.span, "this looks like a credential")
    } else {
        Diagnostic::warning("tenant::secret::value", message, s.span, "this may be a credential")
    };
    cx.err(d.with_help(help));
    certain
}

pub fn validate(sources: &SourceMap, inputs: &Inputs, diags: &mut Diagnostics, prior_errors: usize) -> Option<res::Model> {
    let mut cx = Cx {
        sources,
        diags,
        catalog: Catalog::builtin(),
    };
    // Tenants are checked even when the platform or accounts file has errors:
    // against what could be read of it, or (when it could not be parsed at
    // all) without the platform-dependent rules.
    let platform = match &inputs.platform {
        Some(p) => check_platform(&mut cx, p),
        None => PlatformInfo::unknown(),
    };
    let accounts = check_accounts(&mut cx, &inputs.accounts);
    let accounts_known = inputs.accounts_parsed;
    let mut tenants = Vec::new();
    for t in &inputs.tenants {
        if let Some(rt) = check_tenant(&mut cx, &platform, accounts_known.then_some(&accounts), t) {
            tenants.push(rt);
        }
    }
    cross_tenant(&mut cx, &inputs.tenants);
    if cx.diags.error_count() > 0 || prior_errors > 0 || !platform.complete {
        return None;
    }
    tenants.sort_by(|a, b| a.id.cmp(&b.id));
    Some(res::Model {
        platform: platform.resolved,
        accounts: accounts.into_values().map(|a| a.0).collect(),
        tenants,
    })
}

struct PlatformInfo {
    /// False when the platform file could not be parsed: platform-dependent
    /// tenant rules (environments, bindings, tools) are skipped.
    complete: bool,
    /// The platform file was parsed (possibly with errors): its bindings,
    /// as far as they could be read, are known.
    parsed: bool,
    resolved: res::Platform,
    /// Binding name → span of its declaration (and of its dimensions).
    binding_spans: HashMap<String, (Span, Option<Span>)>,
}

impl PlatformInfo {
    fn unknown() -> Self {
        PlatformInfo {
            complete: false,
            parsed: false,
            resolved: res::Platform {
                worker: String::new(),
                compatibility_date: String::new(),
                compatibility_flags: vec![],
                environments: vec![],
                bindings: vec![],
                tools: vec![],
                custom_models: vec![],
            },
            binding_spans: HashMap::new(),
        }
    }
}

/// Checks the platform file and returns what could be resolved of it (with
/// `complete` false when something essential is missing).
fn check_platform(cx: &mut Cx<'_>, p: &RawPlatform) -> PlatformInfo {
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
    let mut environments = Vec::new();
    for e in &p.environments {
        if !is_slug(&e.name.value, 16) {
            ok = false;
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
        ok = false;
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
    let mut bindings = Vec::new();
    let mut binding_spans = HashMap::new();
    let mut ai_seen: Option<Span> = None;
    for b in &p.bindings {
        if !is_upper_name(&b.name.value) {
            ok = false;
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
            ok = false;
            continue;
        };
        let misplaced = |field: &str, present: bool, cx: &mut Cx<'_>, span: Option<Span>| {
            if present {
                cx.err(
                    Diagnostic::error(
                        "platform::binding::field",
                        format!("`{field}` does not apply to a {} binding", kind.value),
                        span.unwrap_or(b.name.span),
                        "not used by this kind",
                    )
                    .with_help("remove it"),
                );
            }
        };
        let k = match kind.value.as_str() {
            "kv" => res::BindingKind::Kv,
            "durable-object" => match &b.class {
                Some(c) if is_class_name(&c.value) => res::BindingKind::DurableObject { class: c.value.clone() },
                Some(c) => {
                    ok = false;
                    cx.err(
                        Diagnostic::error(
                            "platform::binding::class",
                            format!("`{}` is not a valid class name", c.value),
                            c.span,
                            "invalid class",
                        )
                        .with_help("PascalCase, e.g. \"ChatSession\""),
                    );
                    continue;
                }
                None => {
                    ok = false;
                    cx.err(
                        Diagnostic::error(
                            "schema::missing",
                            format!("durable-object binding `{}` is missing `class`", b.name.value),
                            b.name.span,
                            "`class` required",
                        )
                        .with_help("name the Durable Object class the Worker exports, e.g. class=\"ChatSession\""),
                    );
                    continue;
                }
            },
            "vectorize" => match &b.dimensions {
                Some(d) => res::BindingKind::Vectorize {
                    dimensions: d.value as u32,
                    metric: b.metric.as_ref().map(|m| m.value.clone()).unwrap_or_else(|| "cosine".into()),
                },
                None => {
                    ok = false;
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
                if let Some(first) = ai_seen {
                    ok = false;
                    cx.err(
                        Diagnostic::error("platform::binding::duplicate-ai", "a second `ai` binding", b.name.span, "second")
                            .with_label(first, "first")
                            .with_help("a Worker has one AI binding"),
                    );
                }
                ai_seen = Some(b.name.span);
                res::BindingKind::Ai
            }
            "queue" => res::BindingKind::Queue,
            _ => {
                let dataset = b.dataset.as_ref().map(|d| d.value.clone()).unwrap_or_default();
                if let Some(d) = &b.dataset {
                    if !is_dataset_name(&d.value) {
                        ok = false;
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
        let kind_name = kind.value.as_str();
        misplaced(
            "class",
            b.class.is_some() && kind_name != "durable-object",
            cx,
            b.class.as_ref().map(|c| c.span),
        );
        misplaced(
            "dimensions",
            b.dimensions.is_some() && kind_name != "vectorize",
            cx,
            b.dimensions.as_ref().map(|c| c.span),
        );
        misplaced(
            "metric",
            b.metric.is_some() && kind_name != "vectorize",
            cx,
            b.metric.as_ref().map(|c| c.span),
        );
        misplaced(
            "dataset",
            b.dataset.is_some() && kind_name != "analytics-engine",
            cx,
            b.dataset.as_ref().map(|c| c.span),
        );
        binding_spans.insert(b.name.value.clone(), (b.name.span, b.dimensions.as_ref().map(|d| d.span)));
        bindings.push(res::Binding {
            name: b.name.value.clone(),
            kind: k,
        });
    }
    let mut custom_models = Vec::new();
    for m in &p.models {
        if !is_model_id(&m.id.value) {
            ok = false;
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
            ok = false;
            continue;
        };
        if task.value == "text-embeddings" && m.dimensions.is_none() {
            ok = false;
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
        let info = ModelInfo {
            id: m.id.value.clone(),
            task: task.value.clone(),
            dimensions: m.dimensions.as_ref().map(|d| d.value as u32),
            context_window: None,
        };
        cx.catalog.add(info);
        custom_models.push(res::CatalogModel {
            id: m.id.value.clone(),
            task: task.value.clone(),
            dimensions: m.dimensions.as_ref().map(|d| d.value as u32),
        });
    }
    let mut tools = Vec::new();
    for t in &p.tools {
        if !is_slug(&t.name.value, 32) {
            ok = false;
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
        for r in &t.roles {
            if !is_slug(&r.value, 32) {
                ok = false;
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

/// A platform with a Vectorize index and a development environment needs
/// the local index that development environments search instead: a
/// `durable-object` binding of class [`res::LOCAL_INDEX_CLASS`]. Reported at
/// the (first) Vectorize binding, labelled at the (first) development
/// environment. It leaves the platform usable: tenants are checked as usual.
fn check_local_index(
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

/// The labels of a tenant's tool: only `classify-intent` takes them, and
/// needs two or more (each 1–64 characters, distinct, at most 32).
fn check_tool_labels(cx: &mut Cx<'_>, tool: &RawTool) -> Vec<String> {
    let labelled = tool.name.value == crate::validate::catalog::LABELLED_TOOL;
    if !labelled {
        if let Some(at) = tool.labels_at {
            cx.err(
                Diagnostic::error(
                    "tenant::tool::labels",
                    format!("tool `{}` takes no labels", tool.name.value),
                    at,
                    "not a setting of this tool",
                )
                .with_help(format!(
                    "only `{}` takes labels; remove them",
                    crate::validate::catalog::LABELLED_TOOL
                )),
            );
        }
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for l in &tool.labels {
        let v = &l.value;
        let bad = if v.trim().is_empty() || v.chars().count() > 64 {
            Some((format!("invalid label `{v}`"), "a label is 1–64 characters"))
        } else if v.trim() != v || v.chars().any(char::is_control) {
            Some((
                format!("invalid label `{v}`"),
                "a label has no leading or trailing spaces and no control characters",
            ))
        } else if out.contains(v) {
            Some((format!("label `{v}` is given twice"), "list each label once"))
        } else {
            None
        };
        match bad {
            Some((msg, help)) => cx.err(Diagnostic::error("tenant::tool::labels", msg, l.span, "invalid label").with_help(help)),
            None => out.push(v.clone()),
        }
    }
    if out.len() > 32 {
        cx.err(
            Diagnostic::error(
                "tenant::tool::labels",
                format!("`{}` takes at most 32 labels; {} given", tool.name.value, out.len()),
                tool.labels_at.unwrap_or(tool.name.span),
                "too many labels",
            )
            .with_help("merge related intents"),
        );
    } else if out.len() < 2 && tool.labels.len() == out.len() {
        let help = cx.syntax(
            tool.name.span,
            "give the intents to choose from: `tool \"classify-intent\" { labels \"billing\" \"support\" \"sales\" }`".to_string(),
            "give the intents to choose from: `\"classify-intent\": { \"labels\": [\"billing\", \"support\", \"sales\"] }`".to_string(),
        );
        cx.err(
            Diagnostic::error(
                "tenant::tool::labels",
                format!("`{}` needs at least two labels", tool.name.value),
                tool.labels_at.unwrap_or(tool.name.span),
                if out.is_empty() { "labels missing" } else { "one label" },
            )
            .with_help(help),
        );
    }
    out
}

/// Tools need the audit log: every call is recorded in the tenant's
/// `AuditLog` Durable Object (docs/tools.md). The platform stays usable
/// for the tenant rules.
fn check_audit_log(cx: &mut Cx<'_>, p: &RawPlatform, bindings: &[res::Binding]) {
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
fn local_index_object(bindings: &[res::Binding]) -> Option<&str> {
    bindings
        .iter()
        .find(|b| matches!(&b.kind, res::BindingKind::DurableObject { class } if class == res::LOCAL_INDEX_CLASS))
        .map(|b| b.name.as_str())
}

fn check_accounts(cx: &mut Cx<'_>, accounts: &[RawAccount]) -> BTreeMap<String, (res::Account, Span)> {
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
            if !is_hex32(&id.value) {
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

fn check_model(cx: &mut Cx<'_>, m: &Sp<String>, task: &str, role: &str) -> Option<ModelInfo> {
    match cx.catalog.get(&m.value).cloned() {
        None => {
            let ids: Vec<&str> = cx.catalog.ids_for_task(task).collect();
            let mut d = Diagnostic::error(
                "tenant::model::unknown",
                format!("unknown model `{}`", m.value),
                m.span,
                "not in the Workers AI catalog",
            );
            d = match did_you_mean(&m.value, ids.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`? Custom models are declared in the platform file")),
                None => d.with_help(format!(
                    "a {task} model from the Workers AI catalog, or one declared under `models` in the platform file"
                )),
            };
            cx.err(d);
            None
        }
        Some(info) if info.task != task => {
            cx.err(
                Diagnostic::error(
                    "tenant::model::task",
                    format!("`{}` is a {} model, used as {role} model", m.value, info.task),
                    m.span,
                    format!("expected a {task} model"),
                )
                .with_help(match task {
                    "text-generation" => "use a text-generation model such as @cf/meta/llama-3.1-8b-instruct",
                    "text-embeddings" => "use a text-embeddings model such as @cf/baai/bge-base-en-v1.5",
                    "text-to-speech" => "use a text-to-speech model such as @cf/myshell-ai/melotts",
                    "reranking" => "use a reranking model such as @cf/baai/bge-reranker-base",
                    _ => "use a model of the right task",
                }),
            );
            None
        }
        Some(info) => Some(info),
    }
}

/// A `TODO…` value left by `tenants new` / `tenants add`: one clear error
/// (and no second one about its shape). True when `value` is a placeholder.
fn placeholder(cx: &mut Cx<'_>, value: &str, span: Span, what: &str, env: &str) -> bool {
    if !value.starts_with(PLACEHOLDER_PREFIX) {
        return false;
    }
    cx.err(
        Diagnostic::error(
            "tenant::placeholder",
            format!("the {what} in environment `{env}` is still a placeholder"),
            span,
            "fill this in",
        )
        .with_help(format!(
            "replace the `{PLACEHOLDER_PREFIX}…` value that `tenants new` or `tenants add` wrote with the real {what}"
        )),
    );
    true
}

/// Values that start with this are placeholders written by the generators.
pub const PLACEHOLDER_PREFIX: &str = "TODO";

fn check_tenant(
    cx: &mut Cx<'_>,
    p: &PlatformInfo,
    accounts: Option<&BTreeMap<String, (res::Account, Span)>>,
    t: &RawTenant,
) -> Option<res::Tenant> {
    let before = cx.diags.error_count();
    let file = cx.sources.get(t.file);
    let stem = file.path.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
    if let Some(id) = &t.id {
        if !is_slug(&id.value, 32) {
            cx.err(
                Diagnostic::error(
                    "tenant::id::invalid",
                    format!("`{}` is not a valid tenant id", id.value),
                    id.span,
                    "invalid id",
                )
                .with_help("lowercase letters, digits and single dashes, at most 32 characters, starting with a letter"),
            );
        } else if id.value != stem {
            cx.err(
                Diagnostic::error(
                    "tenant::id::file-name",
                    format!(
                        "tenant `{}` is declared in a file named `{}`",
                        id.value,
                        file.path.file_name().and_then(|s| s.to_str()).unwrap_or("")
                    ),
                    id.span,
                    "id differs from the file name",
                )
                .with_help(format!(
                    "rename the file to `{}.{}` or change the id to `{stem}`",
                    id.value,
                    file.path.extension().and_then(|s| s.to_str()).unwrap_or("kdl")
                )),
            );
        }
    }
    if let (Some(a), Some(accounts)) = (&t.account, accounts) {
        if !accounts.contains_key(&a.value) {
            let mut d = Diagnostic::error(
                "tenant::account::unknown",
                format!("unknown account `{}`", a.value),
                a.span,
                "not in the accounts file",
            );
            d = match did_you_mean(&a.value, accounts.keys().map(String::as_str)) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!(
                    "declare it in the accounts file; known accounts: {}",
                    accounts.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            };
            cx.err(d);
        }
    }
    if let Some(n) = &t.name {
        let len = n.value.chars().count();
        if len > 200 || n.value.trim().is_empty() {
            cx.err(
                Diagnostic::error(
                    "tenant::name::invalid",
                    "a display name has 1 to 200 characters",
                    n.span,
                    format!("{len} characters"),
                )
                .with_help("e.g. \"Acme Corp\""),
            );
        }
    }
    let header_policy = match t.header_policy.as_ref().map(|h| h.value.as_str()) {
        Some("always") => res::HeaderPolicy::Always,
        Some("dev-only") => res::HeaderPolicy::DevOnly,
        _ => res::HeaderPolicy::Never,
    };

    // Vars and secrets.
    let mut tenant_vars = BTreeMap::new();
    let binding_names: HashSet<&str> = p.resolved.bindings.iter().map(|b| b.name.as_str()).collect();
    let check_var = |cx: &mut Cx<'_>, k: &Sp<String>, v: &Sp<String>| {
        if !is_upper_name(&k.value) {
            cx.err(
                Diagnostic::error(
                    "tenant::var::name",
                    format!("`{}` is not a valid var name", k.value),
                    k.span,
                    "invalid name",
                )
                .with_help("UPPER_SNAKE_CASE, e.g. SUPPORT_EMAIL"),
            );
        } else if k.value == "TENANT_ID" || k.value == "TENANT_ENV" {
            cx.err(
                Diagnostic::error(
                    "tenant::var::reserved",
                    format!("`{}` is a reserved var name", k.value),
                    k.span,
                    "reserved",
                )
                .with_help(
                    "TENANT_ID and TENANT_ENV are reserved for pinning each deployment to its tenant and environment; choose another name",
                ),
            );
        } else if binding_names.contains(k.value.as_str()) {
            cx.err(
                Diagnostic::error(
                    "tenant::var::conflict",
                    format!("var `{}` has the name of a binding", k.value),
                    k.span,
                    "clashes with a binding",
                )
                .with_help("choose another name"),
            );
        }
        secret_check(cx, v, &format!("the value of var `{}`", k.value), false);
    };
    for (k, v) in &t.vars {
        check_var(cx, k, v);
        tenant_vars.insert(k.value.clone(), v.value.clone());
    }
    let mut seen_secrets: HashMap<&str, Span> = HashMap::new();
    for s in &t.secrets {
        if secret_check(cx, s, "an entry of `secrets`", true) {
            continue;
        }
        if !is_upper_name(&s.value) {
            cx.err(
                Diagnostic::error(
                    "tenant::secret::name",
                    format!("`{}` is not a valid secret name", s.value),
                    s.span,
                    "invalid name",
                )
                .with_help("secret names are UPPER_SNAKE_CASE, e.g. GATEWAY_TOKEN"),
            );
        } else if let Some(first) = seen_secrets.insert(&s.value, s.span) {
            cx.err(
                Diagnostic::error(
                    "tenant::secret::duplicate",
                    format!("secret `{}` is listed twice", s.value),
                    s.span,
                    "second",
                )
                .with_label(first, "first")
                .with_help("remove one"),
            );
        } else if tenant_vars.contains_key(&s.value) || t.envs.iter().any(|e| e.vars.iter().any(|(k, _)| k.value == s.value)) {
            cx.err(
                Diagnostic::error(
                    "tenant::secret::conflict",
                    format!("`{}` is both a secret and a var", s.value),
                    s.span,
                    "also a var",
                )
                .with_help("a name is either a plain var or a secret"),
            );
        }
    }

    // Auth: every block on its own, then per environment below.
    let tenant_auth = t.auth.as_ref().map(|a| auth::check_block(cx, p, a));
    let env_auths: Vec<Option<res::Auth>> = t
        .envs
        .iter()
        .map(|e| e.auth.as_ref().map(|a| auth::check_block(cx, p, a)))
        .collect();

    // Environments.
    let account_id = accounts
        .zip(t.account.as_ref())
        .and_then(|(a, k)| a.get(&k.value))
        .map(|(a, _)| a.account_id.clone())
        .unwrap_or_default();
    let env_names: Vec<&str> = p.resolved.environments.iter().map(|e| e.name.as_str()).collect();
    let mut envs = Vec::new();
    for e in t.envs.iter().filter(|_| p.complete) {
        if !env_names.contains(&e.name.value.as_str()) {
            let mut d = Diagnostic::error(
                "tenant::env::unknown",
                format!("unknown environment `{}`", e.name.value),
                e.name.span,
                "not declared in the platform file",
            );
            d = match did_you_mean(&e.name.value, env_names.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("the platform declares: {}", env_names.join(", "))),
            };
            cx.err(d);
        }
    }
    for pe in &p.resolved.environments {
        let Some((env_index, e)) = t.envs.iter().enumerate().find(|(_, e)| e.name.value == pe.name) else {
            // Without any `envs` the decoder already reported the missing key.
            if let Some(envs_span) = t.envs_span {
                let at = if t.envs.is_empty() {
                    envs_span
                } else {
                    t.id.as_ref().map(|i| i.span).unwrap_or(Span {
                        end: t.span.start + 1,
                        ..t.span
                    })
                };
                let help = cx.syntax(
                    at,
                    format!("add `env \"{}\" {{ host \"…\" … }}` with its hosts and binding resources", pe.name),
                    format!("add `\"{}\": {{ \"hosts\": [\"…\"], … }}` under `envs`", pe.name),
                );
                cx.err(
                    Diagnostic::error(
                        "tenant::env::missing",
                        format!("no settings for environment `{}`", pe.name),
                        at,
                        format!("`{}` missing", pe.name),
                    )
                    .with_help(help),
                );
            }
            continue;
        };
        if e.hosts.is_empty() {
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
            if placeholder(cx, &h.value, h.span, "host", &pe.name) {
                continue;
            }
            match check_host(&h.value) {
                Ok(()) => hosts.push(normalize_host(&h.value)),
                Err((msg, help)) => cx.err(Diagnostic::error("tenant::host::invalid", msg, h.span, "invalid host").with_help(help)),
            }
        }
        let mut cors_origins = Vec::new();
        for o in &e.cors_origins {
            if placeholder(cx, &o.value, o.span, "CORS origin", &pe.name) {
                continue;
            }
            match check_origin(&o.value) {
                Ok(origin) => cors_origins.push(origin),
                Err((msg, help)) => cx.err(Diagnostic::error("tenant::cors::invalid", msg, o.span, "invalid origin").with_help(help)),
            }
        }
        cors_origins.sort();
        cors_origins.dedup();
        let mut resources = Vec::new();
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
                "kv" => {
                    if let Some(id) = &r.id {
                        if placeholder(cx, &id.value, id.span, &format!("KV namespace id of `{}`", b.name), &pe.name) {
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
                "vectorize" => {
                    if let Some(ix) = &r.index {
                        if placeholder(cx, &ix.value, ix.span, &format!("Vectorize index of `{}`", b.name), &pe.name) {
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
                "queues" => {
                    if let Some(q) = &r.name {
                        if placeholder(cx, &q.value, q.span, &format!("queue of `{}`", b.name), &pe.name) {
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
                _ => {
                    if let Some(ds) = &r.dataset {
                        if placeholder(
                            cx,
                            &ds.value,
                            ds.span,
                            &format!("Analytics Engine dataset of `{}`", b.name),
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
            }
        }
        // Every binding gets a resource in every environment.
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
        resources.sort_by(|a, b| a.binding.cmp(&b.binding));
        let mut vars = tenant_vars.clone();
        for (k, v) in &e.vars {
            check_var(cx, k, v);
            vars.insert(k.value.clone(), v.value.clone());
        }
        auth::check_env(cx, pe, e, t);
        // The environment's own block replaces the tenant-level one.
        let auth = env_auths[env_index].clone().or_else(|| tenant_auth.clone()).unwrap_or_default();
        let Some(ai_provider) = ai::check_provider(cx, p, pe, e, t, &account_id) else {
            continue; // reported: no model
        };
        let vector_index = vector_index(&p.resolved.bindings, pe, &resources);
        let ingest_queue = resources
            .iter()
            .find(|r| matches!(r.kind, res::ResourceKind::Queue { .. }))
            .map(|r| r.binding.clone());
        envs.push(res::TenantEnv {
            name: pe.name.clone(),
            hosts,
            cors_origins,
            header_allowed: match header_policy {
                res::HeaderPolicy::Always => true,
                res::HeaderPolicy::DevOnly => pe.development,
                res::HeaderPolicy::Never => false,
            },
            resources,
            vars,
            auth,
            ai_provider,
            vector_index,
            ingest_queue,
            playground: pe.development.then(|| PLAYGROUND_PATH.to_string()),
        });
    }

    // AI: models, routes, budgets (each environment's provider is checked above).
    let ai_out = t.ai.as_ref().and_then(|ai| ai::check_ai(cx, p, t, ai));

    // RAG.
    let chunk = t.rag.chunk_size.as_ref().map(|c| c.value as u32).unwrap_or(defaults::CHUNK_SIZE);
    let overlap = t.rag.overlap.as_ref().map(|c| c.value as u32).unwrap_or(defaults::OVERLAP);
    if overlap >= chunk {
        let at = t
            .rag
            .overlap
            .as_ref()
            .map(|o| o.span)
            .or(t.rag.chunk_size.as_ref().map(|c| c.span))
            .or(t.rag.span)
            .unwrap_or(t.span);
        cx.err(
            Diagnostic::error(
                "tenant::rag::overlap",
                format!("chunk overlap {overlap} is not smaller than the chunk size {chunk}"),
                at,
                "overlap too large",
            )
            .with_help("the overlap must be smaller than the chunk size; a quarter of it or less is usual"),
        );
    }

    let rag_extra = check_rag(cx, p, t);

    // Sessions: the retention, in days or in seconds.
    let sessions_out = sessions::check_sessions(cx, &t.sessions);

    // Tools.
    let tool_names: Vec<&str> = p.resolved.tools.iter().map(|t| t.name.as_str()).collect();
    let mut tools = Vec::new();
    for tool in t.tools.iter().filter(|_| p.complete) {
        let Some(def) = p.resolved.tools.iter().find(|d| d.name == tool.name.value) else {
            let mut d = Diagnostic::error(
                "tenant::tool::unknown",
                format!("unknown tool `{}`", tool.name.value),
                tool.name.span,
                "not offered by the platform",
            );
            d = match did_you_mean(&tool.name.value, tool_names.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("the platform offers: {}", tool_names.join(", "))),
            };
            cx.err(d);
            continue;
        };
        for r in &tool.roles {
            if !is_slug(&r.value, 32) {
                cx.err(
                    Diagnostic::error(
                        "tenant::tool::role",
                        format!("`{}` is not a valid role name", r.value),
                        r.span,
                        "invalid role",
                    )
                    .with_help("lowercase letters, digits and dashes, e.g. \"admin\""),
                );
                continue;
            }
            if !def.roles.is_empty() && !def.roles.contains(&r.value) {
                let mut d = Diagnostic::error(
                    "tenant::tool::role",
                    format!("tool `{}` cannot be granted to role `{}`", def.name, r.value),
                    r.span,
                    "role not allowed for this tool",
                );
                d = match did_you_mean(&r.value, def.roles.iter().map(String::as_str)) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!("the platform allows: {}", def.roles.join(", "))),
                };
                cx.err(d);
            }
        }
        let mut roles: Vec<String> = tool.roles.iter().map(|r| r.value.clone()).collect();
        roles.sort();
        roles.dedup();
        tools.push(res::Tool {
            name: def.name.clone(),
            roles,
            timeout_ms: tool.timeout_ms.as_ref().map(|t| t.value as u32),
            labels: check_tool_labels(cx, tool),
        });
    }
    tools.sort_by(|a, b| a.name.cmp(&b.name));

    if cx.diags.error_count() > before {
        return None;
    }
    let limit = |scope: &str, default: u32| {
        let r = t.rate_limits.iter().find(|r| r.scope.value == scope);
        res::RateLimit {
            limit: r.and_then(|r| r.limit.as_ref()).map(|l| l.value as u32).unwrap_or(default),
            per: match r.and_then(|r| r.per.as_ref()).map(|p| p.value.as_str()) {
                Some("second") => res::Window::Second,
                Some("hour") => res::Window::Hour,
                Some("day") => res::Window::Day,
                _ => res::Window::Minute,
            },
        }
    };
    let mut secrets: Vec<String> = t.secrets.iter().map(|s| s.value.clone()).collect();
    secrets.sort();
    Some(res::Tenant {
        id: t.id.as_ref()?.value.clone(),
        name: t.name.as_ref()?.value.clone(),
        account: t.account.as_ref()?.value.clone(),
        header_policy,
        envs,
        ai: ai_out?,
        rag: res::Rag {
            chunk_size: chunk,
            overlap,
            top_k: t.rag.top_k.as_ref().map(|c| c.value as u32).unwrap_or(defaults::TOP_K),
            min_score: t.rag.min_score.as_ref().map(|c| c.value).unwrap_or(defaults::MIN_SCORE),
            hybrid: t.rag.hybrid.as_ref().map(|h| h.value).unwrap_or(defaults::HYBRID),
            rerank_model: rag_extra.rerank_model,
            ingest_role: rag_extra.ingest_role,
            embedding_dimensions: rag_extra.embedding_dimensions,
        },
        sessions: sessions_out?,
        rate_limits: res::RateLimits {
            tenant: limit("tenant", defaults::TENANT_LIMIT),
            user: limit("user", defaults::USER_LIMIT),
            ip: limit("ip", defaults::IP_LIMIT),
        },
        cache: res::Cache {
            search_ttl: t.cache.search_ttl.as_ref().map(|c| c.value as u32).unwrap_or(defaults::SEARCH_TTL),
            chat_ttl: t.cache.chat_ttl.as_ref().map(|c| c.value as u32).unwrap_or(defaults::CHAT_TTL),
        },
        tools,
        tts: res::Tts {
            enabled: t.tts.enabled.as_ref().is_some_and(|e| e.value),
            voice: t.tts.voice.as_ref().map(|v| v.value.clone()),
            max_chars: t.tts.max_chars.as_ref().map(|c| c.value as u32).unwrap_or(defaults::TTS_MAX_CHARS),
        },
        safety: res::Safety {
            max_input_chars: t
                .safety
                .max_input_chars
                .as_ref()
                .map(|c| c.value as u32)
                .unwrap_or(defaults::MAX_INPUT_CHARS),
            pii_redaction: t.safety.pii_redaction.as_ref().is_some_and(|e| e.value),
            blocked_terms: t.safety.blocked_terms.iter().map(|b| b.value.clone()).collect(),
        },
        secrets,
    })
}

/// What `rag` resolves to beyond its numbers.
struct RagExtra {
    rerank_model: Option<String>,
    ingest_role: String,
    embedding_dimensions: u32,
}

/// The `rag` settings beyond chunking: the reranking model (a `reranking`
/// model of the catalog), the ingest role (a role name), and the
/// dimensions the platform's Vectorize index stores.
fn check_rag(cx: &mut Cx<'_>, p: &PlatformInfo, t: &RawTenant) -> RagExtra {
    let rerank_model = t
        .rag
        .rerank
        .as_ref()
        .and_then(|m| check_model(cx, m, "reranking", "rerank"))
        .map(|i| i.id);
    let ingest_role = match &t.rag.ingest_role {
        Some(r) if !is_slug(&r.value, 32) => {
            let shown = cx.syntax(r.span, "ingest-role".into(), "ingest_role".into());
            cx.err(
                Diagnostic::error(
                    "tenant::rag::ingest-role",
                    format!("`{}` is not a valid role name", r.value),
                    r.span,
                    "invalid role",
                )
                .with_help(format!(
                    "`{shown}` names the role allowed to add documents: lowercase letters, digits and dashes, at most 32 characters, e.g. \"admin\""
                )),
            );
            r.value.clone()
        }
        Some(r) => r.value.clone(),
        None => defaults::INGEST_ROLE.to_string(),
    };
    let embedding_dimensions = p
        .resolved
        .bindings
        .iter()
        .find_map(|b| match &b.kind {
            res::BindingKind::Vectorize { dimensions, .. } => Some(*dimensions),
            _ => None,
        })
        .unwrap_or(0);
    RagExtra {
        rerank_model,
        ingest_role,
        embedding_dimensions,
    }
}

/// The vector index of one environment: none without a Vectorize resource;
/// in a development environment the local index (the platform's
/// [`res::LOCAL_INDEX_CLASS`] object, whose absence the platform check
/// reports); elsewhere the tenant's Vectorize binding (the first, by name:
/// `resources` are sorted).
fn vector_index(bindings: &[res::Binding], pe: &res::Environment, resources: &[res::Resource]) -> res::VectorIndex {
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

/// Rules across tenant files: duplicate ids, overlapping hosts, shared resources.
fn cross_tenant(cx: &mut Cx<'_>, tenants: &[RawTenant]) {
    // Duplicate ids.
    let mut ids: HashMap<&str, Span> = HashMap::new();
    for t in tenants {
        if let Some(id) = &t.id {
            if let Some(first) = ids.get(id.value.as_str()) {
                let other = cx.sources.get(first.file).name.clone();
                cx.err(
                    Diagnostic::error(
                        "tenant::id::duplicate",
                        format!("tenant id `{}` is declared twice", id.value),
                        id.span,
                        "second declaration",
                    )
                    .with_label(*first, "first declared here")
                    .with_help(format!("tenant ids are unique; rename this tenant or remove {other}")),
                );
            } else {
                ids.insert(&id.value, id.span);
            }
        }
    }

    // Hosts: exact duplicates, exact inside a wildcard, wildcard inside a wildcard.
    struct Claim<'a> {
        tenant: &'a str,
        env: &'a str,
        span: Span,
    }
    let mut exact: HashMap<String, Claim<'_>> = HashMap::new();
    let mut wild: HashMap<String, Claim<'_>> = HashMap::new();
    let mut all: Vec<(String, bool, Claim<'_>)> = Vec::new();
    for t in tenants {
        let tid = t.id.as_ref().map(|i| i.value.as_str()).unwrap_or("?");
        for e in &t.envs {
            for h in &e.hosts {
                if check_host(&h.value).is_err() {
                    continue;
                }
                let n = normalize_host(&h.value);
                let (is_wild, key) = match n.strip_prefix("*.") {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, n.clone()),
                };
                let claim = Claim {
                    tenant: tid,
                    env: &e.name.value,
                    span: h.span,
                };
                let map = if is_wild { &mut wild } else { &mut exact };
                if let Some(first) = map.get(&key) {
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
                    conflict(cx, &n, &n, first.tenant, first.env, first.span, claim.tenant, claim.env, claim.span);
                    continue;
                }
                map.insert(
                    key.clone(),
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
        let mut rest = key.as_str();
        while let Some(pos) = rest.find('.') {
            rest = &rest[pos + 1..];
            if let Some(w) = wild.get(rest) {
                if w.tenant == claim.tenant && w.env == claim.env {
                    // `*.acme.example.com` next to `api.acme.example.com` in one
                    // environment: both route to the same deployment.
                    continue;
                }
                let this = if *is_wild { format!("*.{key}") } else { key.clone() };
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

    // Shared resources.
    let mut kv: HashMap<&str, (&str, &str, Span)> = HashMap::new();
    let mut vec_ix: HashMap<(String, String), (&str, &str, Span)> = HashMap::new();
    let mut queues: HashMap<&str, (&str, &str, Span)> = HashMap::new();
    for t in tenants {
        let tid = t.id.as_ref().map(|i| i.value.as_str()).unwrap_or("?");
        for e in &t.envs {
            for r in &e.resources {
                // A queue has one consumer, one deployment (tenant and
                // environment): a queue named twice is shared, even by one tenant.
                if let Some(q) = r.name.as_ref().filter(|q| !q.value.starts_with(PLACEHOLDER_PREFIX)) {
                    let env = e.name.value.as_str();
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
                                    .with_label(*first, format!("`{other}` ({other_env})"))
                                    .with_help("a queue delivers to one consumer Worker: give each tenant and environment its own queue, e.g. `<tenant>-ingest-<env>`"),
                            );
                        }
                        None => {
                            queues.insert(&q.value, (tid, env, q.span));
                        }
                    }
                }
                if let Some(id) = &r.id {
                    match kv.get(id.value.as_str()) {
                        Some((other, other_env, first)) if *other != tid => {
                            cx.err(
                                Diagnostic::error(
                                    "tenant::resource::shared",
                                    format!("KV namespace `{}` is used by tenants `{other}` and `{tid}`", id.value),
                                    id.span,
                                    format!("`{tid}` ({})", e.name.value),
                                )
                                .with_label(*first, format!("`{other}` ({other_env})"))
                                .with_help("each tenant needs its own namespace: data in a shared namespace is visible to both tenants"),
                            );
                        }
                        Some(_) => {}
                        None => {
                            kv.insert(&id.value, (tid, &e.name.value, id.span));
                        }
                    }
                }
                if let Some(ix) = &r.index {
                    let ns = r.namespace.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| tid.to_string());
                    let key = (ix.value.clone(), ns.clone());
                    match vec_ix.get(&key) {
                        Some((other, other_env, first)) if *other != tid => {
                            let at = r.namespace.as_ref().map(|n| n.span).unwrap_or(ix.span);
                            cx.err(
                                Diagnostic::error(
                                    "tenant::resource::shared",
                                    format!(
                                        "Vectorize index `{}` namespace `{ns}` is used by tenants `{other}` and `{tid}`",
                                        ix.value
                                    ),
                                    at,
                                    format!("`{tid}` ({})", e.name.value),
                                )
                                .with_label(*first, format!("`{other}` ({other_env})"))
                                .with_help("give each tenant its own namespace (or leave `namespace` out: it defaults to the tenant id)"),
                            );
                        }
                        Some(_) => {}
                        None => {
                            vec_ix.insert(key, (tid, &e.name.value, r.namespace.as_ref().map(|n| n.span).unwrap_or(ix.span)));
                        }
                    }
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn conflict(
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
            .with_label(first_span, format!("`{first_tenant}` ({first_env})"))
            .with_help("a host routes to exactly one tenant and environment: remove one claim, or narrow the wildcard"),
    );
}
