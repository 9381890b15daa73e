//! The rules of the tenant's `ai` block and of each environment's
//! `ai_provider` (docs/tenant-format.md#ai).
//!
//! [`check_ai`] checks the models (chat, its fallbacks, embedding,
//! text-to-speech, route overrides) against the catalog, the budgets and
//! the call limits, and resolves them with their defaults.
//! [`check_provider`] checks how one environment reaches its models: the
//! provider's kind, the fields that kind takes, the base URL, the secrets it
//! names, and that what it relies on exists (the platform's `ai` binding,
//! the tenant's AI Gateway).
//!
//! Invariants:
//! - both return `None` only after reporting an error (or, for a
//!   provider, when the platform file is itself unusable and no model can
//!   be produced), so a valid tenant never loses an AI setting silently;
//! - a resolved fallback list holds distinct text-generation models, none
//!   equal to the model it backs up, at most [`MAX_FALLBACKS`];
//! - a resolved base URL has no trailing `/` (the runtime appends
//!   `/chat/completions`).

use std::collections::HashMap;

use super::{check_model, secret_check, Cx, PlatformInfo};
use crate::diag::{did_you_mean, Diagnostic};
use crate::raw::decode::Sp;
use crate::raw::*;
use crate::resolved::{self as res, defaults};
use crate::source::{Format, Span};
use crate::validate::catalog::ModelInfo;
use crate::validate::rules::*;

/// The longest fallback chain: each fallback may cost a full timeout.
pub const MAX_FALLBACKS: usize = 5;

/// A JSON key in the spelling of the file `span` is in (`max-tokens` in KDL).
fn key(cx: &Cx<'_>, span: Span, json_key: &str) -> String {
    match cx.fmt(span) {
        Format::Kdl => json_key.replace('_', "-"),
        _ => json_key.to_string(),
    }
}

// ------------------------------------------------------------------ the `ai` block

/// Checks the tenant's `ai` block and resolves it. `None` when the chat
/// model is unusable (reported).
pub(super) fn check_ai(cx: &mut Cx<'_>, p: &PlatformInfo, t: &RawTenant, ai: &RawAi) -> Option<res::Ai> {
    check_gateway(cx, ai);
    let chat_raw = ai.chat.as_ref();
    let primary = chat_raw.and_then(|c| c.model.as_ref());
    let chat = primary.and_then(|m| check_model(cx, m, "text-generation", "chat"));
    let fallbacks = chat_raw.map(|c| check_fallbacks(cx, &c.fallbacks, primary)).unwrap_or_default();
    let embedding = check_embedding(cx, p, ai);
    let tts = ai.tts.as_ref().and_then(|m| check_model(cx, m, "text-to-speech", "text-to-speech"));
    let max_tokens = chat_raw
        .and_then(|c| c.max_tokens.as_ref())
        .map(|m| m.value as u32)
        .unwrap_or(defaults::MAX_TOKENS);
    let temperature = chat_raw
        .and_then(|c| c.temperature.as_ref())
        .map(|m| m.value)
        .unwrap_or(defaults::TEMPERATURE);
    let level = Level {
        chat: chat.as_ref(),
        primary,
        max_tokens,
        temperature,
        fallbacks: &fallbacks,
    };
    let routes = check_routes(cx, ai, &level);
    check_tts_model(cx, t, ai);
    check_budget(cx, ai);
    chat.map(|c| res::Ai {
        gateway: ai.gateway.as_ref().map(|g| g.value.clone()),
        context_tokens: context_tokens(&c),
        chat_model: c.id,
        max_tokens,
        temperature,
        fallbacks,
        embedding_model: embedding,
        tts_model: tts.map(|i| i.id),
        routes,
        tokens_per_day: ai.tokens_per_day.as_ref().map(|t| t.value as u64),
        user_tokens_per_day: ai.user_tokens_per_day.as_ref().map(|t| t.value as u64),
        timeout_ms: ai.timeout_ms.as_ref().map(|t| t.value as u32).unwrap_or(defaults::TIMEOUT_MS),
        retries: ai.retries.as_ref().map(|r| r.value as u32).unwrap_or(defaults::RETRIES),
        tool_steps: ai.tool_steps.as_ref().map(|r| r.value as u32).unwrap_or(defaults::TOOL_STEPS),
    })
}

/// A chat model's context window: the catalog's, else the default.
fn context_tokens(m: &ModelInfo) -> u32 {
    m.context_window.unwrap_or(defaults::CONTEXT_TOKENS)
}

/// The `ai`-level chat settings, which routes default to.
struct Level<'a> {
    chat: Option<&'a ModelInfo>,
    primary: Option<&'a Sp<String>>,
    max_tokens: u32,
    temperature: f64,
    fallbacks: &'a [String],
}

fn check_gateway(cx: &mut Cx<'_>, ai: &RawAi) {
    let Some(g) = &ai.gateway else { return };
    if !is_slug(&g.value, 64) {
        cx.err(
            Diagnostic::error(
                "tenant::ai::gateway",
                format!("`{}` is not a valid AI Gateway id", g.value),
                g.span,
                "invalid gateway id",
            )
            .with_help("lowercase letters, digits and dashes, as created in the AI Gateway dashboard"),
        );
    }
}

/// The embedding model: required with a Vectorize binding, and of the
/// dimensions of every such binding.
fn check_embedding(cx: &mut Cx<'_>, p: &PlatformInfo, ai: &RawAi) -> Option<String> {
    let has_vectorize = p
        .resolved
        .bindings
        .iter()
        .any(|b| matches!(b.kind, res::BindingKind::Vectorize { .. }));
    let Some(m) = &ai.embedding else {
        if has_vectorize {
            let help = cx.syntax(
                ai.span,
                "add `embedding \"@cf/baai/bge-base-en-v1.5\"` inside `ai`".into(),
                "add `\"embedding\": \"@cf/baai/bge-base-en-v1.5\"` to `ai`".into(),
            );
            cx.err(
                Diagnostic::error(
                    "tenant::ai::embedding-missing",
                    "no embedding model, but the platform has a Vectorize index",
                    Span {
                        end: ai.span.start + 1,
                        ..ai.span
                    },
                    "`embedding` required",
                )
                .with_help(help),
            );
        }
        return None;
    };
    let info = check_model(cx, m, "text-embeddings", "embedding")?;
    for b in &p.resolved.bindings {
        let res::BindingKind::Vectorize { dimensions, .. } = &b.kind else {
            continue;
        };
        if *dimensions != 0 && info.dimensions != Some(*dimensions) {
            let (decl, dims) = p.binding_spans[&b.name];
            let got = info.dimensions.unwrap_or(0);
            cx.err(
                Diagnostic::error(
                    "tenant::model::dimensions",
                    format!(
                        "`{}` returns {got}-dimensional vectors, index binding `{}` stores {dimensions}",
                        info.id, b.name
                    ),
                    m.span,
                    format!("{got} dimensions"),
                )
                .with_label(dims.unwrap_or(decl), format!("{dimensions} dimensions"))
                .with_help(format!(
                    "pick an embedding model with {dimensions} dimensions, or create the index with {got} and change the platform file"
                )),
            );
        }
    }
    Some(info.id)
}

/// Check a fallback list: text-generation models of the catalog, at most
/// [`MAX_FALLBACKS`], none equal to `primary` (the model they back up),
/// none twice. Returns the usable ones, in order.
fn check_fallbacks(cx: &mut Cx<'_>, list: &[Sp<String>], primary: Option<&Sp<String>>) -> Vec<String> {
    if let Some(extra) = list.get(MAX_FALLBACKS) {
        cx.err(
            Diagnostic::error(
                "tenant::ai::fallback",
                format!("{} fallbacks, at most {MAX_FALLBACKS}", list.len()),
                extra.span,
                "one too many",
            )
            .with_help("each fallback may cost a whole timeout before the next is tried: keep the few models that matter"),
        );
    }
    let mut seen: HashMap<&str, Span> = HashMap::new();
    let mut out = Vec::new();
    for f in list {
        if let Some(pm) = primary.filter(|pm| pm.value == f.value) {
            cx.err(
                Diagnostic::error(
                    "tenant::ai::fallback",
                    format!("fallback `{}` is the model it backs up", f.value),
                    f.span,
                    "same as the primary model",
                )
                .with_label(pm.span, "primary model")
                .with_help("a fallback is tried when the primary model fails: name another model, or remove it"),
            );
            continue;
        }
        if let Some(first) = seen.get(f.value.as_str()) {
            cx.err(
                Diagnostic::error(
                    "tenant::ai::fallback",
                    format!("fallback `{}` is listed twice", f.value),
                    f.span,
                    "listed again",
                )
                .with_label(*first, "first listed here")
                .with_help("remove one: a model that just failed is not tried again"),
            );
            continue;
        }
        seen.insert(&f.value, f.span);
        if let Some(info) = check_model(cx, f, "text-generation", "fallback") {
            out.push(info.id);
        }
    }
    out
}

/// Route overrides: known routes, their models and fallbacks; every unset
/// value from the `ai` level.
fn check_routes(cx: &mut Cx<'_>, ai: &RawAi, level: &Level<'_>) -> Vec<res::RouteOverride> {
    let mut routes = Vec::new();
    for r in &ai.routes {
        if !ROUTES.contains(&r.route.value.as_str()) {
            let mut d = Diagnostic::error(
                "tenant::ai::route",
                format!("unknown route `{}`", r.route.value),
                r.route.span,
                "not a route of the Worker",
            );
            d = match did_you_mean(&r.route.value, ROUTES.iter().copied()) {
                _ if r.route.value == "tts" => d.with_help(
                    "`/tts` speaks with the `ai` block's `tts` model; route overrides set chat models (`chat`, `search`, `tools`)",
                ),
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("routes that accept overrides: {}", ROUTES.join(", "))),
            };
            cx.err(d);
            continue;
        }
        let model = r.chat.as_ref().and_then(|m| check_model(cx, m, "text-generation", "chat"));
        let info = model.as_ref().or(level.chat);
        let context_tokens = info.map(context_tokens).unwrap_or(defaults::CONTEXT_TOKENS);
        let chat_model = info.map(|m| m.id.clone()).unwrap_or_default();
        let fallbacks = match &r.fallbacks {
            Some(list) if list.is_empty() => {
                empty_route_fallbacks(cx, r);
                vec![]
            }
            Some(list) => check_fallbacks(cx, list, r.chat.as_ref().or(level.primary)),
            None => res::inherited_fallbacks(level.fallbacks, &chat_model),
        };
        routes.push(res::RouteOverride {
            route: r.route.value.clone(),
            chat_model,
            context_tokens,
            max_tokens: r.max_tokens.as_ref().map(|m| m.value as u32).unwrap_or(level.max_tokens),
            temperature: r.temperature.as_ref().map(|m| m.value).unwrap_or(level.temperature),
            fallbacks,
        });
    }
    routes.sort_by(|a, b| a.route.cmp(&b.route));
    routes
}

/// `"fallbacks": []` on a route: KDL cannot write it (no `fallback` node
/// means "not written"), so neither format may; leaving it out inherits.
fn empty_route_fallbacks(cx: &mut Cx<'_>, r: &RawRoute) {
    cx.err(
        Diagnostic::error(
            "tenant::ai::fallback",
            format!("route `{}` has an empty `fallbacks` list", r.route.value),
            r.route.span,
            "empty `fallbacks`",
        )
        .with_help("list at least one model, or leave `fallbacks` out: the route then uses the fallbacks of `chat`"),
    );
}

/// Text-to-speech enabled needs a TTS model.
fn check_tts_model(cx: &mut Cx<'_>, t: &RawTenant, ai: &RawAi) {
    if !t.tts.enabled.as_ref().is_some_and(|e| e.value) || ai.tts.is_some() {
        return;
    }
    let at = t.tts.enabled.as_ref().map(|e| e.span).unwrap_or(ai.span);
    let help = cx.syntax(
        ai.span,
        "add `tts \"@cf/myshell-ai/melotts\"` inside `ai`".into(),
        "add `\"tts\": \"@cf/myshell-ai/melotts\"` to `ai`".into(),
    );
    cx.err(
        Diagnostic::error(
            "tenant::tts::model-missing",
            "text-to-speech is enabled but `ai` names no TTS model",
            at,
            "enabled here",
        )
        .with_help(help),
    );
}

/// A user's daily budget is part of the tenant's.
fn check_budget(cx: &mut Cx<'_>, ai: &RawAi) {
    let (Some(user), Some(tenant)) = (&ai.user_tokens_per_day, &ai.tokens_per_day) else {
        return;
    };
    if user.value <= tenant.value {
        return;
    }
    let (u, t) = (key(cx, user.span, "user_tokens_per_day"), key(cx, tenant.span, "tokens_per_day"));
    cx.err(
        Diagnostic::error(
            "tenant::ai::budget",
            format!("`{u}` ({}) is more than the tenant's `{t}` ({})", user.value, tenant.value),
            user.span,
            "more than the tenant's budget",
        )
        .with_label(tenant.span, "the tenant's budget")
        .with_help(format!(
            "one user's daily budget is part of the tenant's: lower `{u}` to at most {}, or raise `{t}`",
            tenant.value
        )),
    );
}

// ------------------------------------------------------------------ providers

/// Checks how environment `pe` reaches its models and resolves it: the
/// environment's `ai_provider`, else the platform's `ai` binding.
/// `account_id` is the tenant's account (for the gateway's URL).
pub(super) fn check_provider(
    cx: &mut Cx<'_>,
    p: &PlatformInfo,
    pe: &res::Environment,
    e: &RawTenantEnv,
    t: &RawTenant,
    account_id: &str,
) -> Option<res::AiProvider> {
    let binding = p
        .resolved
        .bindings
        .iter()
        .find(|b| matches!(b.kind, res::BindingKind::Ai))
        .map(|b| b.name.clone());
    let Some(raw) = &e.ai_provider else {
        // The default: the platform's `ai` binding. Without one the platform
        // file is reported instead, when it is usable at all.
        if binding.is_none() && p.complete {
            binding_missing(cx, e.name.span, &pe.name, false);
        }
        return binding.map(|binding| res::AiProvider::WorkersAi { binding });
    };
    // No kind, or not a string: reported by the decoder.
    let kind = raw.kind.as_ref()?;
    if !AI_PROVIDER_KINDS.contains(&kind.value.as_str()) {
        provider_unknown(cx, kind);
        return None;
    }
    let before = cx.diags.error_count();
    check_fields(cx, raw, &kind.value);
    let provider = match kind.value.as_str() {
        "workers-ai" => {
            if binding.is_none() && p.parsed {
                binding_missing(cx, kind.span, &pe.name, true);
            }
            binding.map(|binding| res::AiProvider::WorkersAi { binding })
        }
        "gateway" => gateway_provider(cx, raw, kind, t, account_id),
        _ => openai_provider(cx, raw, t),
    };
    provider.filter(|_| cx.diags.error_count() == before)
}

fn provider_unknown(cx: &mut Cx<'_>, kind: &Sp<String>) {
    let mut d = Diagnostic::error(
        "tenant::ai::provider-unknown",
        format!("unknown AI provider `{}`", kind.value),
        kind.span,
        "not a provider kind",
    );
    d = match did_you_mean(&kind.value, AI_PROVIDER_KINDS.iter().copied()) {
        Some(s) => d.with_help(format!("did you mean `{s}`? providers: {}", AI_PROVIDER_KINDS.join(", "))),
        None => d.with_help(format!("providers: {}", AI_PROVIDER_KINDS.join(", "))),
    };
    cx.err(d);
}

/// The Workers AI binding is needed but the platform declares none.
fn binding_missing(cx: &mut Cx<'_>, at: Span, env: &str, explicit: bool) {
    let (message, label) = if explicit {
        (
            format!("environment `{env}` uses the Workers AI binding, but the platform declares no `ai` binding"),
            "needs an `ai` binding",
        )
    } else {
        (
            format!("environment `{env}` has no AI provider: the default is the Workers AI binding, and the platform declares none"),
            "no way to reach a model",
        )
    };
    let help = cx.syntax(
        at,
        "declare `ai AI` in the platform file, or give this environment `ai-provider \"gateway\"` or `ai-provider \"openai-compatible\" base-url=\"…\"`".into(),
        "declare `\"AI\": { \"type\": \"ai\" }` under the platform's `bindings`, or give this environment an `ai_provider` of kind `gateway` or `openai-compatible`".into(),
    );
    cx.err(Diagnostic::error("tenant::ai::binding-missing", message, at, label).with_help(help));
}

/// The fields of `raw` that `kind` does not take.
fn check_fields(cx: &mut Cx<'_>, raw: &RawAiProvider, kind: &str) {
    let takes: &[&str] = match kind {
        "gateway" => &["token_secret"],
        "openai-compatible" => &["base_url", "api_key_secret", "model"],
        _ => &[],
    };
    let fields = [
        ("base_url", &raw.base_url),
        ("api_key_secret", &raw.api_key_secret),
        ("token_secret", &raw.token_secret),
        ("model", &raw.model),
    ];
    for (name, value) in fields {
        let Some(v) = value.as_ref().filter(|_| !takes.contains(&name)) else {
            continue;
        };
        let shown = key(cx, v.span, name);
        let help = if takes.is_empty() {
            format!("remove it: `{kind}` takes no settings")
        } else {
            let list: Vec<String> = takes.iter().map(|k| format!("`{}`", key(cx, v.span, k))).collect();
            format!("remove it: `{kind}` takes {}", list.join(", "))
        };
        cx.err(
            Diagnostic::error(
                "tenant::ai::provider-field",
                format!("`{shown}` does not apply to a `{kind}` provider"),
                v.span,
                "not used by this kind",
            )
            .with_help(help),
        );
    }
}

fn gateway_provider(cx: &mut Cx<'_>, raw: &RawAiProvider, kind: &Sp<String>, t: &RawTenant, account_id: &str) -> Option<res::AiProvider> {
    let token_secret = secret_ref(cx, raw.token_secret.as_ref(), t, "token_secret");
    // Without `ai` the decoder has already said so.
    let ai = t.ai.as_ref()?;
    let Some(gateway) = &ai.gateway else {
        let help = cx.syntax(
            ai.span,
            "name the tenant's gateway on its `ai` node: `ai gateway=\"<gateway id>\" { … }`".into(),
            "name the tenant's gateway in `ai`: `\"gateway\": \"<gateway id>\"`".into(),
        );
        cx.err(
            Diagnostic::error(
                "tenant::ai::gateway-required",
                "the `gateway` provider needs the tenant's AI Gateway, and `ai` names none",
                kind.span,
                "needs a gateway on `ai`",
            )
            .with_label(
                Span {
                    end: ai.span.start + 1,
                    ..ai.span
                },
                "no gateway here",
            )
            .with_help(help),
        );
        return None;
    };
    Some(res::AiProvider::Gateway {
        account_id: account_id.to_string(),
        gateway: gateway.value.clone(),
        token_secret,
    })
}

fn openai_provider(cx: &mut Cx<'_>, raw: &RawAiProvider, t: &RawTenant) -> Option<res::AiProvider> {
    let api_key_secret = secret_ref(cx, raw.api_key_secret.as_ref(), t, "api_key_secret");
    if let Some(m) = &raw.model {
        let ok = !m.value.is_empty()
            && m.value.chars().count() <= 256
            && !m.value.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\u{feff}');
        if !ok {
            cx.err(
                Diagnostic::error(
                    "tenant::ai::provider-model",
                    format!("`{}` is not a model name", m.value),
                    m.span,
                    "invalid model name",
                )
                .with_help("the name the server knows the model by, 1–256 characters without spaces, e.g. \"llama3.2\""),
            );
        }
    }
    // Missing: reported by the decoder.
    let url = raw.base_url.as_ref()?;
    let shown = key(cx, url.span, "base_url");
    if secret_check(cx, url, &format_args!("`{shown}`"), false) {
        return None;
    }
    if let Err((msg, help)) = check_base_url(&url.value) {
        cx.err(Diagnostic::error("tenant::ai::base-url", msg, url.span, "invalid base URL").with_help(help));
        return None;
    }
    Some(res::AiProvider::OpenAiCompatible {
        base_url: url.value.trim_end_matches('/').to_string(),
        api_key_secret,
        model: raw.model.as_ref().map(|m| m.value.clone()),
    })
}

/// A secret named by a provider (`token_secret`, `api_key_secret`): a name,
/// not a value, and one the tenant declares under `secrets`.
fn secret_ref(cx: &mut Cx<'_>, s: Option<&Sp<String>>, t: &RawTenant, json_key: &str) -> Option<String> {
    let s = s?;
    let shown = key(cx, s.span, json_key);
    if secret_check(cx, s, &format_args!("`{shown}`"), true) {
        return None;
    }
    if !t.secrets.iter().any(|x| x.value == s.value) {
        let declared: Vec<&str> = t.secrets.iter().map(|x| x.value.as_str()).collect();
        let add = cx.syntax(
            s.span,
            format!("add it to the tenant's `secrets` (`secrets \"{}\"`)", s.value),
            format!("add it to the tenant's `\"secrets\": [\"{}\"]`", s.value),
        );
        let help = match did_you_mean(&s.value, declared.iter().copied()) {
            Some(d) => format!(
                "did you mean `{d}`? Otherwise {add} and set its value with `wrangler secret put {}`",
                s.value
            ),
            None => format!("{add} and set its value with `wrangler secret put {}`", s.value),
        };
        cx.err(
            Diagnostic::error(
                "tenant::ai::secret-undeclared",
                format!("`{shown}` names `{}`, which is not a secret of this tenant", s.value),
                s.span,
                "not in `secrets`",
            )
            .with_help(help),
        );
        return None;
    }
    Some(s.value.clone())
}
