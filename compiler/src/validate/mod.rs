//! Semantic validation and resolution: raw model → [`Model`].
//!
//! Runs every check over every file and collects all diagnostics; resolution
//! applies defaults and flattens environments. Cross-file rules (duplicate
//! ids, host overlap, shared resources, references between files) label
//! every file involved.
//!
//! One module per concern, each listing the diagnostic codes it emits:
//! `platform` (platform and accounts files), `tenant` (one tenant file:
//! identity, environments, resolution) with `hosts`, `resources`,
//! `secrets`, `auth`, `ai`, `rag`, `sessions` and `tools`, and
//! `cross` for the rules across tenant files; `rules` and `catalog`
//! hold the value rules and the model catalog they share.
//!
//! Invariant: returns `Some(Model)` only when no error was reported here or
//! earlier (the caller passes the earlier count).

mod ai;
mod auth;
pub mod catalog;
mod cross;
mod hosts;
mod platform;
mod rag;
mod resources;
pub mod rules;
mod secrets;
mod sessions;
mod tenant;
mod tools;

use cross::cross_tenant;
use platform::{check_accounts, check_platform, local_index_object};
use resources::vector_index;
use secrets::{secret_check, secret_check_as, secret_check_with, NotSecrets, FREE_TEXT_HELP};
use tenant::check_tenant;

use std::collections::{BTreeMap, HashMap};

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
use crate::source::{Files, Format, SourceMap, Span};

pub struct Inputs {
    pub platform: Option<RawPlatform>,
    pub accounts: Vec<RawAccount>,
    /// False when the accounts file could not be read or parsed: account
    /// references are then not checked (the file's own errors say why).
    pub accounts_parsed: bool,
    pub tenants: Vec<RawTenant>,
}

struct Cx<'a> {
    sources: &'a dyn Files,
    diags: &'a mut Diagnostics,
    catalog: &'a Catalog,
    /// The platform's `not_secrets` (empty without a platform file).
    allow: &'a NotSecrets,
    /// Whether the resolved tenant is wanted: `tenants check` needs only
    /// the diagnostics, so the copies that build it are skipped.
    resolve: bool,
}

impl Cx<'_> {
    fn fmt(&self, span: Span) -> Format {
        self.sources.file(span.file).format
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

/// Validate everything at once, on one thread: [`prepare`], [`check_one`]
/// per tenant in file order, [`finish`]. (`compile` runs the same steps
/// with the tenants spread over the cores.)
pub fn validate(sources: &SourceMap, inputs: Inputs, diags: &mut Diagnostics, prior_errors: usize) -> Option<res::Model> {
    let prep = prepare(sources, inputs.platform.as_ref(), &inputs.accounts, inputs.accounts_parsed, diags);
    let mut tenants = Vec::new();
    let mut facts = Vec::new();
    for t in inputs.tenants {
        let (rt, f) = check_one(&prep, sources, Box::new(t), diags, true);
        tenants.extend(rt.map(|t| *t));
        facts.push(f);
    }
    finish(prep, sources, &facts, tenants, diags, prior_errors)
}

/// The platform and accounts files, checked: what every tenant is checked
/// against. Shared read-only by the threads that check tenants.
pub struct Prepared {
    platform: PlatformInfo,
    accounts: BTreeMap<String, (res::Account, Span)>,
    /// False when the accounts file could not be read or parsed.
    accounts_known: bool,
    catalog: Catalog,
    not_secrets: NotSecrets,
}

/// Check the platform and accounts files. Tenants are checked even when
/// these have errors: against what could be read of them, or (when the
/// platform file could not be parsed at all) without the platform-dependent
/// rules.
pub fn prepare(
    sources: &dyn Files,
    platform: Option<&RawPlatform>,
    accounts: &[RawAccount],
    accounts_parsed: bool,
    diags: &mut Diagnostics,
) -> Prepared {
    let mut catalog = Catalog::builtin();
    let not_secrets = platform.map(|p| NotSecrets::new(&p.not_secrets)).unwrap_or_default();
    let (platform, accounts) = {
        let mut cx = Cx {
            sources,
            diags,
            catalog: &catalog,
            allow: &not_secrets,
            resolve: true,
        };
        let platform = match platform {
            Some(p) => check_platform(&mut cx, p),
            None => PlatformInfo::unknown(),
        };
        (platform, check_accounts(&mut cx, accounts))
    };
    for m in &platform.resolved.custom_models {
        catalog.add(ModelInfo {
            id: m.id.clone(),
            task: m.task.clone(),
            dimensions: m.dimensions,
            context_window: None,
        });
    }
    Prepared {
        platform,
        accounts,
        accounts_known: accounts_parsed,
        catalog,
        not_secrets,
    }
}

/// Check one tenant file (any thread): its resolved tenant when it has no
/// error, and what the rules across tenant files need of it (the rest of
/// the raw tenant is dropped here).
/// Without `resolve` the tenant is checked only (always `None`).
pub fn check_one(
    prep: &Prepared,
    sources: &dyn Files,
    t: Box<RawTenant>,
    diags: &mut Diagnostics,
    resolve: bool,
) -> (Option<Box<res::Tenant>>, CrossFacts) {
    let mut cx = Cx {
        sources,
        diags,
        catalog: &prep.catalog,
        allow: &prep.not_secrets,
        resolve,
    };
    let before = cx.diags.error_count();
    let resolved = check_tenant(&mut cx, &prep.platform, prep.accounts_known.then_some(&prep.accounts), &t);
    // A tenant without errors has only valid hosts: no need to look again.
    let facts = CrossFacts::new(t, cx.diags.error_count() > before);
    (resolved.map(Box::new), facts)
}

/// The rules across tenant files, then the model: `Some` only when no error
/// was reported anywhere (`prior_errors` counts those reported before
/// `diags` saw them) and the platform file is complete.
pub fn finish(
    prep: Prepared,
    sources: &dyn Files,
    facts: &[CrossFacts],
    mut tenants: Vec<res::Tenant>,
    diags: &mut Diagnostics,
    prior_errors: usize,
) -> Option<res::Model> {
    let mut cx = Cx {
        sources,
        diags,
        catalog: &prep.catalog,
        allow: &prep.not_secrets,
        resolve: true,
    };
    cross_tenant(&mut cx, facts);
    prep.not_secrets.report_unused(&mut cx);
    if cx.diags.error_count() > 0 || prior_errors > 0 || !prep.platform.complete {
        return None;
    }
    tenants.sort_by(|a, b| a.id.cmp(&b.id));
    Some(res::Model {
        platform: prep.platform.resolved,
        accounts: prep.accounts.into_values().map(|a| a.0).collect(),
        tenants,
    })
}

/// What the rules across tenant files compare, moved out of a raw tenant:
/// its id and, per environment, its hosts and resources.
pub struct CrossFacts {
    id: Option<Sp<String>>,
    envs: Vec<CrossEnv>,
}

struct CrossEnv {
    name: Sp<String>,
    hosts: Vec<Sp<String>>,
    resources: Vec<CrossResource>,
}

/// The part of a binding resource two tenants could share.
enum CrossResource {
    Kv(Sp<String>),
    Vectorize { index: Sp<String>, namespace: Option<Sp<String>> },
    Queue(Sp<String>),
}

impl CrossFacts {
    /// The facts of `t`; `check_hosts` false when its hosts are known valid.
    fn new(t: Box<RawTenant>, check_hosts: bool) -> Self {
        let RawTenant { id, envs: raw_envs, .. } = *t;
        // A new, exact vector: collecting from `into_iter` would reuse the
        // raw environments' much larger buffer and keep it alive.
        let mut envs = Vec::with_capacity(raw_envs.len());
        for e in raw_envs {
            let mut resources = Vec::with_capacity(e.resources.len());
            for r in e.resources {
                resources.extend(match r.kind {
                    "kv" => r.id.map(CrossResource::Kv),
                    "vectorize" => r.index.map(|index| CrossResource::Vectorize {
                        index,
                        namespace: r.namespace,
                    }),
                    "queues" => r.name.map(CrossResource::Queue),
                    _ => None,
                });
            }
            let mut hosts = e.hosts;
            // Invalid hosts are reported per tenant; across tenants only valid ones compare.
            if check_hosts {
                hosts.retain(|h| check_host(&h.value).is_ok());
            }
            envs.push(CrossEnv {
                name: e.name,
                hosts,
                resources,
            });
        }
        CrossFacts { id, envs }
    }
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
            let closest = catalog::closest_models(&m.value, ids.iter().copied());
            let naming = if catalog::looks_like_hugging_face_id(&m.value) {
                " Workers AI names models `@cf/<author>/<model>` in lowercase (e.g. `@cf/meta/llama-3.1-8b-instruct`); a Hugging Face id is not one."
            } else {
                ""
            };
            d = match (closest.as_slice(), did_you_mean(&m.value, ids.iter().copied())) {
                ([first, rest @ ..], _) => {
                    let others = if rest.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (also close: {})",
                            rest.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")
                        )
                    };
                    d.with_help(format!(
                        "did you mean `{first}`?{others}{naming} Custom models are declared in the platform file"
                    ))
                }
                ([], Some(s)) => d.with_help(format!(
                    "did you mean `{s}`?{naming} Custom models are declared in the platform file"
                )),
                ([], None) => d.with_help(format!(
                    "a {task} model from the Workers AI catalog, or one declared under `models` in the platform file.{naming}"
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
fn placeholder(cx: &mut Cx<'_>, value: &str, span: Span, what: &dyn std::fmt::Display, env: &str) -> bool {
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
