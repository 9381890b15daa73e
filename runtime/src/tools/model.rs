//! One whole (non-streamed to the caller) answer from the tenant's chat
//! model on the `tools` route, for the tools that need a model: the
//! route's models, fallbacks, retries and timeout ([`crate::features::chat::engine`]),
//! the tokens added to the call's usage.
//!
//! The text a tool hands the model is data: every system prompt says so,
//! and nothing a model answers here can call a tool (no tools are offered
//! on these calls; only `/chat` offers tools, through the dispatcher).

use futures_util::StreamExt;

use super::{ToolCx, ToolError};
use crate::ai::plan;
use crate::ai::{estimate_tokens, AiError, CallMeta, ChatEvent, Message};
use crate::features::chat::engine;
use crate::tenancy::keys::Space;

/// The model's whole answer and which model gave it.
pub struct Answer {
    pub text: String,
    pub model: &'static str,
}

/// Ask the model: `system` then `user`, at most `max_tokens` (capped by
/// the route's).
pub async fn complete(cx: &ToolCx<'_>, system: &str, user: &str, max_tokens: u32) -> Result<Answer, ToolError> {
    let cfg = cx.ctx.config();
    let mut plan = plan::route_plan(cfg, "tools");
    plan.max_tokens = plan.max_tokens.min(max_tokens).max(1);
    plan.temperature = 0.0;
    let provider = plan::provider(cx.ctx, cx.ports).map_err(ToolError::Upstream)?;
    let meta = CallMeta {
        tenant: cx.ctx.tenant().as_str(),
        route: "tools",
        request_id: cx.request_id.to_string(),
        traceparent: cx.traceparent.to_string(),
        cache_key: cx.ctx.key(Space::Cache, &["tool-call", cx.request_id]).as_str().to_string(),
        skip_cache: true,
        timeout_ms: plan.timeout_ms,
    };
    let messages = [
        Message {
            role: "system".into(),
            content: system.into(),
        },
        Message {
            role: "user".into(),
            content: user.into(),
        },
    ];
    let prompt_chars = system.chars().count() + user.chars().count();
    let started = engine::start(
        provider.as_ref(),
        &plan,
        &messages,
        &[],
        &[],
        &meta,
        cx.ports.timer.as_ref(),
        cx.ports.clock.as_ref(),
    )
    .await
    .map_err(|ex| ToolError::Upstream(ex.failure()))?;
    let model = started.model;
    let mut text = String::new();
    let mut usage = None;
    let mut error: Option<AiError> = None;
    let mut events = started.first.into_iter().map(Ok).collect::<Vec<_>>();
    let mut rest = started.rest;
    if !started.ended {
        while let Some(e) = rest.next().await {
            let stop = e.is_err();
            events.push(e);
            if stop {
                break;
            }
        }
    }
    for e in events {
        match e {
            Ok(ChatEvent::Delta(t)) => text.push_str(&t),
            Ok(ChatEvent::Usage(u)) => usage = Some(u),
            Ok(ChatEvent::Finish(_) | ChatEvent::ToolCall(_) | ChatEvent::ToolsRan(_)) => {}
            Err(e) => error = Some(e),
        }
    }
    let used = usage.unwrap_or(crate::ai::Usage {
        prompt_tokens: estimate_tokens(prompt_chars),
        completion_tokens: estimate_tokens(text.chars().count()),
    });
    {
        let mut u = cx.used.borrow_mut();
        u.prompt_tokens += used.prompt_tokens;
        u.completion_tokens += used.completion_tokens;
    }
    if let Some(e) = error {
        return Err(ToolError::Upstream(
            engine::Exhausted {
                error: e,
                attempts: started.attempts,
                model,
            }
            .failure(),
        ));
    }
    Ok(Answer { text, model })
}

/// The first JSON object in a model's answer (models wrap JSON in prose or
/// code fences).
pub fn first_object(text: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let mut from = 0;
    while let Some(i) = text[from..].find('{') {
        let start = from + i;
        let mut de = serde_json::Deserializer::from_str(&text[start..]).into_iter::<serde_json::Value>();
        if let Some(Ok(serde_json::Value::Object(o))) = de.next() {
            return Some(o);
        }
        from = start + 1;
    }
    None
}

/// Tokens a model-using tool reserves for an input of `chars` characters
/// and an answer of at most `max_tokens`.
pub fn reservation(chars: usize, max_tokens: u32) -> u64 {
    128 + estimate_tokens(chars) + u64::from(max_tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_object_is_found_in_prose_and_fences() {
        let o = first_object("Sure! ```json\n{\"scores\": {\"a\": 1}}\n``` done").unwrap();
        assert_eq!(o["scores"]["a"], 1);
        assert!(first_object("no json { here").is_none());
        let o = first_object("{broken {\"ok\": true}").unwrap();
        assert_eq!(o["ok"], true);
    }
}
