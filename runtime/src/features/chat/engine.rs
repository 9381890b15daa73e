//! Calling the model: the plan's models in order, each with retries and
//! backoff, each attempt bounded by the route's timeout to its first
//! token. A retryable failure (429, 5xx, timeout, a broken connection)
//! before the first token moves on; once a token has arrived the answer
//! is committed to that model (the client may already be reading it).

use futures_util::future::{select, Either};
use futures_util::StreamExt;

use crate::ai::plan::Plan;
use crate::ai::{AiError, CallMeta, ChatCall, ChatEvent, ChatModel, EventStream, Message, Opened};
use crate::app::envelope::{ErrorCode, Failure};
use crate::ports::{Clock, Timer};

/// A model that has started answering.
pub struct Started {
    pub model: &'static str,
    /// Events already read (up to and including the first text or end).
    pub first: Vec<ChatEvent>,
    /// The rest of the answer.
    pub rest: EventStream,
    /// The stream ended within `first`.
    pub ended: bool,
    pub upstream_id: Option<String>,
    pub cache_status: Option<String>,
    /// Attempts made in all (1 when the first try answered).
    pub attempts: u32,
    /// Milliseconds from the first attempt to the first token.
    pub ttft_ms: f64,
}

/// Why no model answered: the last error, and how many attempts.
#[derive(Debug)]
pub struct Exhausted {
    pub error: AiError,
    pub attempts: u32,
    pub model: &'static str,
}

impl Exhausted {
    pub fn failure(&self) -> Failure {
        let (code, msg) = match &self.error {
            AiError::Timeout => (ErrorCode::UpstreamTimeout, "the model did not answer in time".to_string()),
            e => (ErrorCode::UpstreamError, format!("the model provider failed: {}", short(e))),
        };
        Failure::new(code, msg).with_log_detail(format!(
            "{} after {} attempt(s), last model `{}`",
            self.error, self.attempts, self.model
        ))
    }
}

fn short(e: &AiError) -> String {
    match e {
        AiError::Status { status, .. } => format!("it answered {status}"),
        AiError::Network(_) => "the connection failed".into(),
        AiError::Malformed(_) => "it sent a malformed stream".into(),
        AiError::Upstream(_) => "it reported an error".into(),
        AiError::Timeout => "timeout".into(),
    }
}

/// Backoff before retry `n` (0-based): 100 ms, 200 ms, 400 ms … ≤ 2 s.
pub fn backoff_ms(n: u32) -> u32 {
    (100u32 << n.min(5)).min(2000)
}

/// Open the stream and read until the first text (or its end).
async fn first_token(provider: &dyn ChatModel, call: ChatCall<'_>) -> Result<(Opened, Vec<ChatEvent>, bool), AiError> {
    let mut o = provider.open(call).await?;
    let mut first = Vec::new();
    loop {
        match o.events.next().await {
            None => return Ok((o, first, true)),
            Some(Err(e)) => return Err(e),
            Some(Ok(ev)) => {
                let text = matches!(&ev, ChatEvent::Delta(_) | ChatEvent::Finish(_) | ChatEvent::ToolCall(_));
                first.push(ev);
                if text {
                    return Ok((o, first, false));
                }
            }
        }
    }
}

/// Try the plan's models until one starts answering. `tools` are offered
/// to the model; `turns` (tool calls and results) follow `messages`.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    provider: &dyn ChatModel,
    plan: &Plan,
    messages: &[Message],
    tools: &[serde_json::Value],
    turns: &[serde_json::Value],
    meta: &CallMeta,
    timer: &dyn Timer,
    clock: &dyn Clock,
) -> Result<Started, Exhausted> {
    let t0 = clock.now_ms();
    let mut attempts = 0;
    let mut last = Exhausted {
        error: AiError::Network("no model to call".into()),
        attempts: 0,
        model: plan.models.first().copied().unwrap_or(""),
    };
    for &model in &plan.models {
        for retry in 0..=plan.retries {
            if retry > 0 {
                timer.sleep(backoff_ms(retry - 1)).await;
            }
            attempts += 1;
            let call = ChatCall {
                model,
                messages,
                tools,
                turns,
                max_tokens: plan.max_tokens,
                temperature: plan.temperature,
                meta,
            };
            let attempt = Box::pin(first_token(provider, call));
            let outcome = match select(attempt, timer.sleep(plan.timeout_ms)).await {
                Either::Left((r, _)) => r,
                Either::Right(_) => Err(AiError::Timeout),
            };
            match outcome {
                Ok((o, first, ended)) => {
                    return Ok(Started {
                        model,
                        first,
                        rest: o.events,
                        ended,
                        upstream_id: o.upstream_id,
                        cache_status: o.cache_status,
                        attempts,
                        ttft_ms: (clock.now_ms() - t0).max(0.0),
                    })
                }
                Err(e) => {
                    let retryable = e.retryable();
                    last = Exhausted { error: e, attempts, model };
                    if !retryable {
                        return Err(last);
                    }
                }
            }
        }
    }
    last.attempts = attempts;
    Err(last)
}
