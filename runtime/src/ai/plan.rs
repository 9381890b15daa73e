//! Which models answer a route, with what limits, through which provider —
//! all from the tenant file's generated config.
//!
//! - the route's model is its `route` override, else `ai chat`; its
//!   fallbacks follow in the order written; `max_tokens` and
//!   `temperature` from the request are capped by / default to the route's;
//! - the context window (tokens) is the first model's from the catalog:
//!   a named model's is the `ai chat` model's or its route's, a named
//!   fallback keeps the route's;
//! - `/v1/chat/completions` may name `default` or any chat model the
//!   tenant's routes list (primary or fallback); anything else is
//!   refused with the allowed list;
//! - the provider is the environment's `ai-provider`; in a development
//!   environment the `AI_BASE_URL` var, when set, replaces an
//!   OpenAI-compatible provider's base URL (how `cargo xtask dev` points
//!   the Worker at its scripted model server or a local Ollama).

use std::rc::Rc;

use super::openai::OpenAiCompatible;
use super::workers_ai::WorkersAi;
use super::ChatModel;
use crate::app::envelope::{ErrorCode, Failure};
use crate::ports::Ports;
use crate::tenancy::resolve::TenantCtx;
use crate::tenants::{AiProvider, TenantConfig};

/// The var that points a development environment at another
/// OpenAI-compatible server.
pub const BASE_URL_VAR: &str = "AI_BASE_URL";

/// The models and limits of one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub route: &'static str,
    /// Tried in order (first, then the fallbacks).
    pub models: Vec<&'static str>,
    /// The context window in tokens of the plan's first model (from the
    /// catalog, 8192 when it does not know it).
    pub context_tokens: u32,
    pub max_tokens: u32,
    pub temperature: f64,
    pub timeout_ms: u32,
    pub retries: u32,
}

/// The plan of a route as the tenant file gives it.
pub fn route_plan(cfg: &TenantConfig, route: &'static str) -> Plan {
    let ai = &cfg.ai;
    let (model, context_tokens, max_tokens, temperature, fallbacks) = match ai.routes.iter().find(|r| r.route == route) {
        Some(r) => (r.chat_model, r.context_tokens, r.max_tokens, r.temperature, r.fallbacks),
        None => (ai.chat_model, ai.context_tokens, ai.max_tokens, ai.temperature, ai.fallbacks),
    };
    let mut models = vec![model];
    models.extend(fallbacks.iter().copied().filter(|f| *f != model));
    Plan {
        route,
        models,
        context_tokens,
        max_tokens,
        temperature,
        timeout_ms: ai.timeout_ms,
        retries: ai.retries,
    }
}

/// Every chat model a request may name.
pub fn allowed_models(cfg: &TenantConfig) -> Vec<&'static str> {
    let ai = &cfg.ai;
    let mut v = vec![ai.chat_model];
    v.extend(ai.fallbacks.iter().copied());
    for r in ai.routes {
        v.push(r.chat_model);
        v.extend(r.fallbacks.iter().copied());
    }
    let mut seen = Vec::new();
    v.retain(|m| {
        let new = !seen.contains(m);
        seen.push(*m);
        new
    });
    v
}

/// The plan for a request: the route's, or one named model.
pub fn for_request(
    cfg: &TenantConfig,
    route: &'static str,
    model: Option<&str>,
    max_tokens: Option<u32>,
    temperature: Option<f64>,
) -> Result<Plan, Failure> {
    let mut plan = route_plan(cfg, route);
    match model {
        None | Some("default") => {}
        Some(m) if plan.models.first() == Some(&m) => {}
        Some(m) => match allowed_models(cfg).into_iter().find(|a| *a == m) {
            Some(a) => {
                plan.models = vec![a];
                plan.context_tokens = context_of(cfg, a).unwrap_or(plan.context_tokens);
            }
            None => {
                return Err(Failure::new(
                    ErrorCode::ModelNotAllowed,
                    format!(
                        "model `{}` is not one of this tenant's: `default`, {}",
                        m.chars().take(100).collect::<String>(),
                        allowed_models(cfg).iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
                    ),
                ))
            }
        },
    }
    if let Some(n) = max_tokens {
        plan.max_tokens = plan.max_tokens.min(n.max(1));
    }
    if let Some(t) = temperature {
        plan.temperature = t.clamp(0.0, 2.0);
    }
    Ok(plan)
}

/// The context window of a chat model the tenant names as a primary
/// (`ai chat` or a route's); `None` for a fallback-only model.
fn context_of(cfg: &TenantConfig, model: &str) -> Option<u32> {
    let ai = &cfg.ai;
    if ai.chat_model == model {
        return Some(ai.context_tokens);
    }
    ai.routes.iter().find(|r| r.chat_model == model).map(|r| r.context_tokens)
}

fn unavailable(what: String) -> Failure {
    Failure::new(ErrorCode::BindingUnavailable, format!("this deployment lacks {what}"))
}

/// The provider of the tenant's environment.
pub fn provider(ctx: &TenantCtx, ports: &Ports) -> Result<Rc<dyn ChatModel>, Failure> {
    Ok(match adapter(ctx, ports)? {
        Adapter::Http(h) => Rc::new(h),
        Adapter::Binding(b) => Rc::new(b),
    })
}

/// Speech through the same provider (and gateway) as chat.
pub fn speaker(ctx: &TenantCtx, ports: &Ports) -> Result<Rc<dyn super::speech::Speaker>, Failure> {
    Ok(match adapter(ctx, ports)? {
        Adapter::Http(h) => Rc::new(h),
        Adapter::Binding(b) => Rc::new(b),
    })
}

/// Embeddings and rerank through the same provider as chat.
pub fn rag_models(ctx: &TenantCtx, ports: &Ports) -> Result<super::embed::Models, Failure> {
    Ok(match adapter(ctx, ports)? {
        Adapter::Http(h) => {
            let h = Rc::new(h);
            super::embed::Models {
                embedder: h.clone(),
                reranker: h,
            }
        }
        Adapter::Binding(b) => {
            let b = Rc::new(b);
            super::embed::Models {
                embedder: b.clone(),
                reranker: b,
            }
        }
    })
}

enum Adapter {
    Http(OpenAiCompatible),
    Binding(WorkersAi),
}

fn adapter(ctx: &TenantCtx, ports: &Ports) -> Result<Adapter, Failure> {
    let secret = |name: Option<&'static str>| -> Result<Option<String>, Failure> {
        match name {
            None => Ok(None),
            Some(n) => ports
                .secret(n)
                .map(|v| Some(v.to_string()))
                .ok_or_else(|| unavailable(format!("the secret `{n}`"))),
        }
    };
    Ok(match ctx.env_config().ai_provider {
        AiProvider::WorkersAi { binding } => {
            let b = ports
                .ai
                .clone()
                .ok_or_else(|| unavailable(format!("the Workers AI binding `{binding}`")))?;
            Adapter::Binding(WorkersAi {
                gateway: ctx.config().ai.gateway,
                binding: b,
            })
        }
        AiProvider::Gateway {
            account_id,
            gateway,
            token_secret,
        } => Adapter::Http(OpenAiCompatible {
            url: OpenAiCompatible::gateway_url(account_id, gateway),
            token: secret(token_secret)?,
            gateway: true,
            model_override: None,
            upstream: ports.upstream.clone(),
        }),
        AiProvider::OpenAiCompatible {
            base_url,
            api_key_secret,
            model,
        } => {
            let base = match ports.var(BASE_URL_VAR) {
                Some(v) if ctx.env().is_development() && !v.is_empty() => v.to_string(),
                _ => base_url.to_string(),
            };
            Adapter::Http(OpenAiCompatible {
                url: OpenAiCompatible::chat_url(&base),
                token: secret(api_key_secret)?,
                gateway: false,
                model_override: model,
                upstream: ports.upstream.clone(),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenants::TenantId;

    #[test]
    fn the_context_window_is_the_first_models() {
        // globex: `ai chat` is llama-3.3-70b (24000); its `chat` route uses
        // llama-3.1-8b-fast (128000) with the uncatalogued llama-3.2-3b as fallback.
        let cfg = TenantId::Globex.config();
        let ctx = |route, model| for_request(cfg, route, model, None, None).unwrap().context_tokens;
        assert_eq!(ctx("chat", None), 128_000);
        assert_eq!(ctx("search", None), 24_000);
        assert_eq!(ctx("chat", Some("@cf/meta/llama-3.3-70b-instruct-fp8-fast")), 24_000);
        assert_eq!(ctx("search", Some("@cf/meta/llama-3.1-8b-instruct-fast")), 128_000);
        // A fallback-only model keeps the route's.
        assert_eq!(ctx("chat", Some("@cf/meta/llama-3.2-3b-instruct")), 128_000);
    }
}
