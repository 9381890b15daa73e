//! The Workers AI binding adapter: `env.AI.run(model, inputs, options)`
//! with `inputs.stream = true` and, when the tenant has a gateway,
//! `options.gateway = {id, cacheKey, skipCache, metadata, requestTimeoutMs}`
//! — the cache key starts from the tenant, because binding calls carry no
//! auth header for the gateway's default key to separate tenants by.

use std::rc::Rc;

use serde::Serialize;

use super::{AiError, ChatCall, ChatModel, Conversation, Opened};
use crate::ports::{AiBinding, LocalFuture};

pub struct WorkersAi {
    /// The tenant's AI Gateway id, if it has one.
    pub gateway: Option<&'static str>,
    pub binding: Rc<dyn AiBinding>,
}

#[derive(Serialize)]
struct Inputs<'a> {
    messages: Conversation<'a>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tools: &'a [serde_json::Value],
    stream: bool,
    max_tokens: u32,
    temperature: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Gateway<'a> {
    id: &'a str,
    cache_key: &'a str,
    skip_cache: bool,
    metadata: Metadata<'a>,
    request_timeout_ms: u32,
}

#[derive(Serialize)]
struct Metadata<'a> {
    tenant: &'a str,
    route: &'a str,
    request_id: &'a str,
    trace_id: &'a str,
}

impl WorkersAi {
    /// The `inputs` and `options` arguments, as JSON.
    pub fn arguments(&self, call: &ChatCall<'_>) -> (String, String) {
        let inputs = serde_json::to_string(&Inputs {
            messages: Conversation(call.messages, call.turns),
            tools: call.tools,
            stream: true,
            max_tokens: call.max_tokens,
            temperature: call.temperature,
        })
        .unwrap_or_default();
        let options = match self.gateway {
            None => "{}".to_string(),
            Some(id) => {
                let m = call.meta;
                serde_json::json!({"gateway": Gateway {
                    id,
                    cache_key: &m.cache_key,
                    skip_cache: m.skip_cache,
                    metadata: Metadata { tenant: m.tenant, route: m.route, request_id: &m.request_id, trace_id: m.trace_id() },
                    request_timeout_ms: m.timeout_ms,
                }})
                .to_string()
            }
        };
        (inputs, options)
    }
}

impl ChatModel for WorkersAi {
    fn open<'a>(&'a self, call: ChatCall<'a>) -> LocalFuture<'a, Result<Opened, AiError>> {
        Box::pin(async move {
            let (inputs, options) = self.arguments(&call);
            let run = self
                .binding
                .run_stream(call.model, inputs, options)
                .await
                .map_err(|e| AiError::Status {
                    // The binding's errors mostly carry no status: treat them
                    // as a failed upstream (retryable, like a 502).
                    status: e.status.unwrap_or(502),
                    message: e.message.chars().take(300).collect(),
                })?;
            Ok(Opened {
                events: super::openai::events(run.body),
                upstream_id: run.log_id,
                cache_status: None,
            })
        })
    }

    fn kind(&self) -> &'static str {
        "workers-ai"
    }
}
