//! The model port: chat as a stream of events, and its two real adapters.
//!
//! - [`openai::OpenAiCompatible`]: AI Gateway's OpenAI-compatible endpoint
//!   (`…/compat/chat/completions`, models as `workers-ai/@cf/…`) or any
//!   OpenAI-compatible server (vLLM, llama.cpp, Ollama, the scripted model
//!   server of the tests), over the [`Upstream`] port (streaming `fetch`).
//! - [`workers_ai::WorkersAi`]: the Workers AI binding,
//!   `env.AI.run(model, inputs, { gateway })`, over the [`AiBinding`] port.
//!
//! Both parse the upstream's server-sent events incrementally
//! ([`wire::ChunkParser`]): OpenAI `chat.completion.chunk`s and Workers
//! AI's `{"response": …}` lines, keeping the last usage.
//!
//! Invariants:
//! - [`ChatModel::open`] returns once the upstream has answered with a
//!   success status; a failure before that is an [`AiError`] the caller may
//!   retry or fall back on; after it, failures arrive as stream items;
//! - dropping an [`EventStream`] drops the upstream body, which cancels the
//!   upstream request (the wasm adapter aborts its `fetch`);
//! - a stream that ends without the upstream's end marker (`[DONE]`) is an
//!   error item, never a silent success.

pub mod embed;
pub mod openai;
pub mod plan;
pub mod speech;
pub mod wire;
pub mod workers_ai;

use std::pin::Pin;

use futures_util::Stream;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ports::LocalFuture;

/// One message of a conversation, as sent to a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

/// Token counts as the provider reported them (or estimated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// What a model stream produces.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// More answer text.
    Delta(String),
    /// The provider's usage report (the last one wins).
    Usage(Usage),
    /// Why the model stopped (`stop`, `length`, `tool_calls`, …).
    Finish(String),
    /// A piece of a tool call the model makes: OpenAI streams the name
    /// first and the arguments in pieces, joined per `index`; Workers AI's
    /// own format gives each call whole (its arguments object as JSON).
    ToolCall(ToolCallDelta),
    /// The tools the Worker ran for the model in one step (the chat's tool
    /// loop; never from a provider).
    ToolsRan(Vec<ToolRun>),
}

/// A piece of a model's tool call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToolCallDelta {
    pub index: u32,
    pub id: Option<String>,
    pub name: Option<String>,
    /// More of the arguments' JSON text.
    pub arguments: String,
    /// A whole call (Workers AI's format): a new call, whatever its index.
    pub whole: bool,
}

/// One tool call the Worker ran (or refused) for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRun {
    /// Our id of the call (9 alphanumerics, which Workers AI requires).
    pub id: String,
    /// The tool as the model named it.
    pub name: String,
    /// The arguments as the model wrote them.
    pub arguments: String,
    /// `None`: it ran and returned a result; else the error code.
    pub error: Option<String>,
}

/// Why a model call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AiError {
    /// The upstream answered with an error status.
    Status { status: u16, message: String },
    /// No answer (or no first token) within the timeout.
    Timeout,
    /// The connection failed or broke.
    Network(String),
    /// The upstream sent something that is not the documented format.
    Malformed(String),
    /// The upstream reported an error inside its stream.
    Upstream(String),
}

impl AiError {
    /// Worth another attempt or the next model: 429, 5xx, timeouts and
    /// broken connections.
    pub fn retryable(&self) -> bool {
        match self {
            AiError::Status { status, .. } => *status == 429 || *status >= 500,
            AiError::Timeout | AiError::Network(_) => true,
            AiError::Malformed(_) | AiError::Upstream(_) => false,
        }
    }
}

impl std::fmt::Display for AiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AiError::Status { status, message } => write!(f, "upstream answered {status}: {message}"),
            AiError::Timeout => f.write_str("upstream timed out"),
            AiError::Network(m) => write!(f, "upstream connection failed: {m}"),
            AiError::Malformed(m) => write!(f, "upstream sent a malformed stream: {m}"),
            AiError::Upstream(m) => write!(f, "upstream reported an error: {m}"),
        }
    }
}

/// Model events as they arrive.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<ChatEvent, AiError>>>>;

/// Who is calling and why, for the gateway's logs, cache and metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallMeta {
    pub tenant: &'static str,
    pub route: &'static str,
    pub request_id: String,
    /// The request's W3C `traceparent`, sent to the provider (empty: none).
    pub traceparent: String,
    /// A cache key that starts from the tenant (the gateway's default key
    /// would let two tenants share answers on binding calls).
    pub cache_key: String,
    /// Ask the gateway not to answer from its cache.
    pub skip_cache: bool,
    /// Milliseconds the upstream may take to its first byte.
    pub timeout_ms: u32,
}

impl CallMeta {
    /// The trace id of `traceparent` (empty when there is none).
    pub fn trace_id(&self) -> &str {
        self.traceparent.split('-').nth(1).unwrap_or("")
    }

    /// The gateway's metadata object (at most five entries).
    pub fn gateway_metadata(&self) -> serde_json::Value {
        serde_json::json!({"tenant": self.tenant, "route": self.route, "request_id": self.request_id, "trace_id": self.trace_id()})
    }
}

/// One model call.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatCall<'a> {
    /// The catalog id (`@cf/meta/llama-3.1-8b-instruct`).
    pub model: &'a str,
    pub messages: &'a [Message],
    /// Functions offered to the model (OpenAI's `tools` shape); empty: none.
    pub tools: &'a [serde_json::Value],
    /// Tool turns after `messages` (assistant messages with `tool_calls`,
    /// then `tool` results), already in the wire shape.
    pub turns: &'a [serde_json::Value],
    pub max_tokens: u32,
    pub temperature: f64,
    pub meta: &'a CallMeta,
}

/// `messages` then `turns`, serialised as one JSON array.
pub struct Conversation<'a>(pub &'a [Message], pub &'a [serde_json::Value]);

impl Serialize for Conversation<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.0.len() + self.1.len()))?;
        for m in self.0 {
            seq.serialize_element(m)?;
        }
        for t in self.1 {
            seq.serialize_element(t)?;
        }
        seq.end()
    }
}

/// An upstream that accepted the call.
pub struct Opened {
    pub events: EventStream,
    /// The gateway's log id (`cf-aig-log-id` / `aiGatewayLogId`), if any.
    pub upstream_id: Option<String>,
    /// The gateway's cache status (`HIT`/`MISS`), if any.
    pub cache_status: Option<String>,
}

/// A chat model provider.
pub trait ChatModel {
    /// Start a streamed completion.
    fn open<'a>(&'a self, call: ChatCall<'a>) -> LocalFuture<'a, Result<Opened, AiError>>;
    /// The provider's name for logs (`workers-ai`, `gateway`, `openai-compatible`).
    fn kind(&self) -> &'static str;
}

/// Estimate tokens from characters (≈ 4 per token), for budgets before
/// the call and when a provider reports no usage.
pub fn estimate_tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}
