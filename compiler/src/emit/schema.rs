//! JSON Schemas for the JSON/JSONC form of the tenant, platform and accounts
//! files, derived with schemars from the document types below.
//!
//! These types describe the files; they are not used to decode them (the
//! spanned decoder in [`crate::raw`] does that, reporting every error at
//! once). Tests keep the two in step: every key the decoder knows is a
//! property here and the reverse, every example file validates, and broken
//! files the decoder rejects for their shape are rejected by the schema too.
//! Rules a schema cannot express (cross-file references, host overlap,
//! model catalog) are enforced by the compiler only.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};

const SLUG: &str = r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,31}$";
const UPPER: &str = r"^[A-Z][A-Z0-9_]{0,63}$";
const HEX32: &str = r"^[0-9a-f]{32}$";
const HOST: &str = r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?$";
const DATE: &str = r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";
const MODEL_ID: &str = r"^@[a-z0-9-]+/[A-Za-z0-9._/-]+$";
/// Where keys are fetched from: https, or http to a loopback host.
const KEY_URL: &str =
    r"^(https://([^\s/?#@:\[\]]+|\[::1\])(:[0-9]{1,5})?|http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?)([/?][^\s#]*)?$";
/// An OpenAI-compatible server's API root: as [`KEY_URL`], without a query.
const BASE_URL: &str =
    r"^(https://([^\s/?#@:\[\]]+|\[::1\])(:[0-9]{1,5})?|http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?)(/[^\s#?]*)?$";
/// A hostname of at least two labels, no wildcard, no trailing dot.
const TEAM_DOMAIN: &str = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
/// Unpadded base64url, as JSON Web Keys write their members.
const B64URL: &str = r"^[A-Za-z0-9_-]+$";

// ------------------------------------------------------------------ tenant

/// A tenant of the AI platform: its hosts and resources per environment, models, limits and features.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Tenant", example = tenant_example())]
pub struct TenantDoc {
    /// Path or URL of this schema, for editors (relative paths work, e.g. `../schemas/tenant.schema.json`); the compiler ignores it.
    #[serde(rename = "$schema", default)]
    #[schemars(example = &"../schemas/tenant.schema.json")]
    pub schema: Option<String>,
    /// Tenant id: 1–32 characters, lowercase letters, digits and single dashes, starting with a letter; must equal the file name without its extension. Deployed scripts are named `<worker>-<id>-<env>`.
    #[schemars(pattern(SLUG), example = &"acme", example = &"globex")]
    pub id: String,
    /// Display name: 1–200 characters, not only whitespace.
    #[schemars(length(min = 1, max = 200), example = &"Acme Corp")]
    pub name: String,
    /// Key of the Cloudflare account (in the accounts file) this tenant deploys to.
    #[schemars(pattern(SLUG), example = &"acme")]
    pub account: String,
    /// When the `x-tenant-id` request header may select this tenant. Default: `{"header": "never"}` (hosts only).
    #[serde(default)]
    pub resolution: Option<Resolution>,
    /// Hosts, binding resources and vars per environment, by environment name; exactly the environments of the platform file, each present.
    #[schemars(extend("propertyNames" = {"pattern": SLUG}))]
    pub envs: BTreeMap<String, TenantEnv>,
    /// Models (chat and its fallbacks, embedding, text-to-speech), AI Gateway, per-route overrides, token budgets and call limits. Required: at least the chat model.
    pub ai: Ai,
    /// Retrieval (RAG) settings. Default: chunks of 800 characters overlapping by 100, 5 chunks per query, minimum score 0.5, vector search only, no reranking, documents added by role `admin`.
    #[serde(default)]
    pub rag: Option<Rag>,
    /// Chat session settings. Default: sessions kept 30 days, 200 messages per session.
    #[serde(default)]
    pub sessions: Option<Sessions>,
    /// Request rate limits per tenant, user and client IP. Default: 1000, 60 and 120 requests per minute.
    #[serde(default)]
    pub rate_limits: Option<RateLimits>,
    /// Cache TTLs in seconds. Default: search results 300 seconds, chat answers not cached.
    #[serde(default)]
    pub cache: Option<Cache>,
    /// Platform tools this tenant may use, by tool name (`{}` for a tool without role restriction), with the roles allowed to call each. Default: no tools.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": SLUG}))]
    pub tools: Option<BTreeMap<String, Option<Tool>>>,
    /// Text-to-speech settings (the model is `ai.tts`). Default: disabled, at most 2000 characters per request.
    #[serde(default)]
    pub tts: Option<Tts>,
    /// Input limits, PII redaction and blocked terms. Default: messages of at most 8000 characters, no redaction, no blocked terms.
    #[serde(default)]
    pub safety: Option<Safety>,
    /// NAMES of the secrets this tenant's Worker needs, UPPER_SNAKE_CASE, each listed once and not also a var; values are set with `wrangler secret put NAME`, never here. Default: none.
    #[serde(default)]
    #[schemars(inner(pattern(UPPER)), extend("uniqueItems" = true), example = vec!["GATEWAY_TOKEN"])]
    pub secrets: Option<Vec<String>>,
    /// Plain-text vars for every environment, by UPPER_SNAKE_CASE name (not `TENANT_ID`, `TENANT_ENV` or a binding name); an environment's `vars` override them. Default: none.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": UPPER}))]
    pub vars: Option<BTreeMap<String, String>>,
    /// Who may call this tenant's Worker, in every environment that has no `auth` of its own (an environment's `auth` replaces this one entirely; nothing is merged). Every environment that is not a development environment needs at least one method. Default: none, and then such environments are an error while development environments refuse every request that needs a caller (fail closed).
    #[serde(default)]
    pub auth: Option<Auth>,
}

fn tenant_example() -> serde_json::Value {
    serde_json::json!({
        "id": "acme",
        "name": "Acme Corp",
        "account": "acme",
        "envs": {"dev": {"hosts": ["acme.localhost"], "kv": {"CACHE": {"id": "0f2ac74b498b48028cb68387c421e279"}}}},
        "ai": {"chat": "@cf/meta/llama-3.1-8b-instruct"}
    })
}

/// How a request selects this tenant besides its host.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// When the `x-tenant-id` header may select this tenant. `never`: hosts only (default). `dev-only`: the header is honoured in the platform's development environments. `always`: honoured in every environment.
    #[serde(default)]
    pub header: Option<HeaderPolicy>,
}

/// Header policy: `never`, `dev-only` or `always`.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HeaderPolicy {
    Never,
    DevOnly,
    Always,
}

/// One environment of a tenant: hosts, a resource for each platform binding that needs one, vars.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantEnv {
    /// Hostnames routed to this tenant in this environment, at least one, each listed once: exact (`acme.example.com`) or a leading wildcard covering at least two labels (`*.acme.example.com`, matching subdomains at any depth but not the apex); lowercase ASCII (punycode for IDNs), at most 253 characters, no scheme, port or path; a trailing dot is ignored when hosts are compared.
    #[schemars(length(min = 1), inner(pattern(HOST), length(max = 253)), extend("uniqueItems" = true), example = vec!["acme.example.com", "*.acme.example.com"], example = vec!["acme.localhost"])]
    pub hosts: Vec<String>,
    /// Browser origins allowed to call this tenant cross-origin (CORS) in this environment, compared exactly: `https://host` or `http://host`, optionally with a port, no path or wildcard. Other cross-origin requests are refused. Default: none (same-origin only).
    #[serde(default)]
    #[schemars(inner(pattern(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$")), extend("uniqueItems" = true), example = vec!["https://app.acme.example.com"])]
    pub cors_origins: Option<Vec<String>>,
    /// KV namespace per `kv` binding of the platform, by binding name; required for every `kv` binding.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": UPPER}))]
    pub kv: Option<BTreeMap<String, KvResource>>,
    /// Vectorize index (and namespace) per `vectorize` binding of the platform, by binding name; required for every `vectorize` binding.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": UPPER}))]
    pub vectorize: Option<BTreeMap<String, VectorizeResource>>,
    /// Analytics Engine dataset per `analytics-engine` binding of the platform, by binding name. Default: the binding's `dataset` in the platform file; required when the platform gives none.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": UPPER}))]
    pub analytics_engine: Option<BTreeMap<String, AnalyticsResource>>,
    /// Queue per `queue` binding of the platform, by binding name; required for every `queue` binding. A queue belongs to one tenant and environment (its one consumer).
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": UPPER}))]
    pub queues: Option<BTreeMap<String, QueueResource>>,
    /// Vars for this environment, by UPPER_SNAKE_CASE name; they override the tenant-level `vars`. Default: none.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": UPPER}))]
    pub vars: Option<BTreeMap<String, String>>,
    /// Who may call the Worker in this environment. REPLACES the tenant-level `auth` here (no merging: repeat every method this environment accepts). `none` is allowed only in development environments. Default: the tenant-level `auth`.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"none": true, "api_keys": true}))]
    pub auth: Option<Auth>,
    /// How this environment reaches its models: `workers-ai` (the platform's `ai` binding, through the tenant's AI Gateway when `ai.gateway` is set), `gateway` (AI Gateway's OpenAI-compatible endpoint; needs `ai.gateway`) or `openai-compatible` (any OpenAI-compatible server). Default: `{"kind": "workers-ai"}`, which needs an `ai` binding in the platform file.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"kind": "openai-compatible", "base_url": "http://127.0.0.1:11434/v1"}), example = serde_json::json!({"kind": "gateway", "token_secret": "GATEWAY_TOKEN"}))]
    pub ai_provider: Option<AiProvider>,
}

/// How one environment reaches its models; `kind` selects the provider and the fields it takes.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
#[schemars(transform = describe_provider_kind)]
pub enum AiProvider {
    /// The platform's Workers AI binding (`env.AI.run`), through the tenant's AI Gateway when `ai.gateway` is set.
    WorkersAi {},
    /// AI Gateway's OpenAI-compatible endpoint (`https://gateway.ai.cloudflare.com/v1/<account id>/<ai.gateway>/compat/chat/completions`); needs `ai.gateway`.
    Gateway {
        /// NAME of a secret the tenant declares in `secrets`, holding the gateway's authentication token (for an authenticated gateway). Default: none.
        #[serde(default)]
        #[schemars(pattern(UPPER), example = &"GATEWAY_TOKEN")]
        token_secret: Option<String>,
    },
    /// Any OpenAI-compatible server (vLLM, llama.cpp, Ollama).
    #[serde(rename = "openai-compatible")]
    OpenaiCompatible {
        /// The server's API root, to which `/chat/completions` is appended: `https://…`, or `http://` to a loopback host (`localhost`, `127.0.0.1`, `[::1]`); no user info, query or fragment.
        #[schemars(pattern(BASE_URL), example = &"http://127.0.0.1:11434/v1")]
        base_url: String,
        /// NAME of a secret the tenant declares in `secrets`, sent as the bearer token. Default: none.
        #[serde(default)]
        #[schemars(pattern(UPPER), example = &"LLM_API_KEY")]
        api_key_secret: Option<String>,
        /// The model name every chat call sends, instead of the catalog id (e.g. `llama3.2` for Ollama), 1–256 characters without whitespace. Default: the catalog id.
        #[serde(default)]
        #[schemars(pattern(r"^\S+$"), length(max = 256), example = &"llama3.2")]
        model: Option<String>,
    },
}

/// Describe the `kind` tag of every provider variant (schemars gives it none).
fn describe_provider_kind(schema: &mut Schema) {
    let Some(variants) = schema.get_mut("oneOf").and_then(|v| v.as_array_mut()) else {
        return;
    };
    for variant in variants {
        if let Some(serde_json::Value::Object(tag)) = variant.pointer_mut("/properties/kind") {
            tag.insert(
                "description".into(),
                "Provider kind: `workers-ai`, `gateway` or `openai-compatible`.".into(),
            );
        }
    }
}

/// The KV namespace of a `kv` binding in one environment.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvResource {
    /// KV namespace id (32 lowercase hex characters), as printed by `wrangler kv namespace create`; not shared with another tenant.
    #[schemars(pattern(HEX32), example = &"0f2ac74b498b48028cb68387c421e279")]
    pub id: String,
}

/// The Vectorize index of a `vectorize` binding in one environment.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VectorizeResource {
    /// Vectorize index name (1–32 characters: lowercase letters, digits and dashes), as created with `wrangler vectorize create`.
    #[schemars(pattern(r"^[a-z0-9][a-z0-9-]{0,31}$"), example = &"acme-docs")]
    pub index: String,
    /// Namespace inside the index, 1–64 characters. Default: the tenant id. An index and namespace pair is not shared with another tenant.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64), example = &"acme")]
    pub namespace: Option<String>,
}

/// The Analytics Engine dataset of an `analytics-engine` binding in one environment.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsResource {
    /// Analytics Engine dataset name (1–64 characters: letters, digits and `_`); overrides the binding's `dataset` in the platform file.
    #[schemars(pattern(r"^[A-Za-z0-9_]{1,64}$"), example = &"acme_events")]
    pub dataset: String,
}

/// The queue of a `queue` binding in one environment.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueResource {
    /// Queue name (1–63 characters: lowercase letters, digits and dashes), as created with `wrangler queues create`; not used by another tenant or environment.
    #[schemars(pattern(r"^[a-z0-9-]{1,63}$"), example = &"acme-ingest-dev")]
    pub name: String,
}

/// Models, budgets and call limits. Model ids come from the Workers AI catalog or the platform's `models`.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ai {
    /// AI Gateway id requests go through (1–64 characters: lowercase letters, digits and single dashes, as created in the AI Gateway dashboard). Default: none.
    #[serde(default)]
    #[schemars(pattern(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,63}$"), example = &"acme-gw")]
    pub gateway: Option<String>,
    /// Chat model (a `text-generation` model): an id, or an object with the id and generation limits.
    pub chat: ChatRef,
    /// Embedding model for RAG (a `text-embeddings` model): an id or `{"model": id}`. Required when the platform has a `vectorize` binding; its vectors must have the `dimensions` of every such binding. Default: none.
    #[serde(default)]
    #[schemars(example = &"@cf/baai/bge-base-en-v1.5")]
    pub embedding: Option<ModelRef>,
    /// Text-to-speech model (a `text-to-speech` model): an id or `{"model": id}`. Required when `tts.enabled` is true. Default: none.
    #[serde(default)]
    #[schemars(example = &"@cf/myshell-ai/melotts")]
    pub tts: Option<ModelRef>,
    /// Per-route overrides of the chat model, token limit, temperature and fallbacks, by route: `chat`, `search` or `tools` (the tools' own model calls; `/tts` speaks with `ai.tts`). Default: none (every route uses `ai.chat`).
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"enum": ["chat", "search", "tools"]}))]
    pub routes: Option<BTreeMap<String, RouteOverride>>,
    /// Daily token budgets, of the tenant and of each user. Default: unlimited.
    #[serde(default)]
    pub budget: Option<Budget>,
    /// Milliseconds one model call may take before it counts as failed, 1000–300000. Default: 30000.
    #[serde(default)]
    #[schemars(range(min = 1000, max = 300_000), example = 30_000)]
    pub timeout_ms: Option<u32>,
    /// Further attempts of a failed model call before the next fallback, 0–5. Default: 1.
    #[serde(default)]
    #[schemars(range(min = 0, max = 5), example = 1)]
    pub retries: Option<u32>,
    /// Model turns with tool calls one chat request may take (1–16); the model gets no more tools after the last. Default: 4.
    #[serde(default)]
    #[schemars(range(min = 1, max = 16), example = 4)]
    pub tool_steps: Option<u32>,
}

/// A chat model: its id (`@<namespace>/<path>`, e.g. `@cf/meta/llama-3.1-8b-instruct`), or an object with the id and limits.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ChatRef {
    Id(#[schemars(pattern(MODEL_ID), example = &"@cf/meta/llama-3.1-8b-instruct")] String),
    Full(Chat),
}

/// A chat model with generation limits.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Chat {
    /// Model id of a `text-generation` model, from the Workers AI catalog or the platform's `models`.
    #[schemars(pattern(MODEL_ID), example = &"@cf/meta/llama-3.1-8b-instruct")]
    pub model: String,
    /// Maximum tokens generated per answer, 1–131072. Default: 1024.
    #[serde(default)]
    #[schemars(range(min = 1, max = 131072))]
    pub max_tokens: Option<u32>,
    /// Sampling temperature, 0.0–2.0. Default: 0.7.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f64>,
    /// Models tried in order when `model` fails: `text-generation` models, at most 5, each once, none equal to `model`. Default: none.
    #[serde(default)]
    #[schemars(inner(pattern(MODEL_ID)), length(max = 5), extend("uniqueItems" = true), example = vec!["@cf/meta/llama-3.1-8b-instruct-fast"])]
    pub fallbacks: Option<Vec<String>>,
}

/// A model: its id (`@<namespace>/<path>`, e.g. `@cf/baai/bge-base-en-v1.5`), or `{"model": id}`.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ModelRef {
    Id(#[schemars(pattern(MODEL_ID))] String),
    Full(ModelOnly),
}

/// A model given as an object.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelOnly {
    /// Model id, from the Workers AI catalog or the platform's `models`, of the task its key needs (`embedding`: `text-embeddings`, `tts`: `text-to-speech`).
    #[schemars(pattern(MODEL_ID), example = &"@cf/baai/bge-base-en-v1.5")]
    pub model: String,
}

/// Overrides for one route of the Worker.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteOverride {
    /// Model id of the `text-generation` model for this route. Default: the model of `ai.chat`.
    #[serde(default)]
    #[schemars(pattern(MODEL_ID), example = &"@cf/meta/llama-3.3-70b-instruct-fp8-fast")]
    pub chat: Option<String>,
    /// Maximum tokens generated per answer on this route, 1–131072. Default: `ai.chat.max_tokens`, else 1024.
    #[serde(default)]
    #[schemars(range(min = 1, max = 131072))]
    pub max_tokens: Option<u32>,
    /// Sampling temperature on this route, 0.0–2.0. Default: `ai.chat.temperature`, else 0.7.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f64>,
    /// Models tried in order when this route's model fails: 1–5 `text-generation` models, each once, none equal to the route's model. Default: `ai.chat.fallbacks` without the route's model.
    #[serde(default)]
    #[schemars(inner(pattern(MODEL_ID)), length(min = 1, max = 5), extend("uniqueItems" = true), example = vec!["@cf/meta/llama-3.1-8b-instruct-fast"])]
    pub fallbacks: Option<Vec<String>>,
}

/// Token budgets of the tenant and of each of its users.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Tokens per UTC day across all routes, 1–1,000,000,000,000. Default: unlimited.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1_000_000_000_000u64), example = 2_000_000)]
    pub tokens_per_day: Option<u64>,
    /// Tokens per UTC day for one user across all routes, 1–1,000,000,000,000; at most `tokens_per_day` when both are set. Default: unlimited.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1_000_000_000_000u64), example = 100_000)]
    pub user_tokens_per_day: Option<u64>,
}

/// Retrieval settings (defaults: chunks of 800 characters overlapping by 100, 5 chunks per query, minimum score 0.5, vector search only, no reranking, documents added by `admin`).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rag {
    /// Characters per document chunk, 64–8192; larger than the effective `overlap`. Default: 800.
    #[serde(default)]
    #[schemars(range(min = 64, max = 8192))]
    pub chunk_size: Option<u32>,
    /// Characters shared by consecutive chunks, 0–4096; smaller than the effective `chunk_size` (checked after defaults, so `chunk_size` 64 alone is too small for the default overlap). Default: 100.
    #[serde(default)]
    #[schemars(range(min = 0, max = 4096))]
    pub overlap: Option<u32>,
    /// Chunks retrieved per query, 1–50. Default: 5.
    #[serde(default)]
    #[schemars(range(min = 1, max = 50))]
    pub top_k: Option<u32>,
    /// Minimum similarity score of a retrieved chunk, 0.0–1.0. Default: 0.5.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_score: Option<f64>,
    /// Hybrid search: keyword (full-text) matches next to the vector search. Default: false.
    #[serde(default)]
    pub hybrid: Option<bool>,
    /// Reranking model applied to the retrieved chunks (a `reranking` model of the catalog or the platform's `models`). Default: none.
    #[serde(default)]
    #[schemars(pattern(MODEL_ID), example = &"@cf/baai/bge-reranker-base")]
    pub rerank: Option<String>,
    /// Role allowed to add documents (1–32 characters: lowercase letters, digits and single dashes). Default: `admin`.
    #[serde(default)]
    #[schemars(pattern(SLUG), example = &"admin")]
    pub ingest_role: Option<String>,
}

/// Chat sessions (defaults: kept 30 days, 200 messages). The retention is given in days or in seconds, not both.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sessions {
    /// Days a chat session is kept after its last activity, 1–3650. Default: 30. At most one of `retention_days` and `retention_seconds`.
    #[serde(default)]
    #[schemars(range(min = 1, max = 3650))]
    pub retention_days: Option<u32>,
    /// Seconds a chat session is kept after its last activity, 60–31536000 (a minute to 365 days): for a retention shorter than a day. At most one of `retention_days` and `retention_seconds`.
    #[serde(default)]
    #[schemars(range(min = 60, max = 31536000))]
    pub retention_seconds: Option<u32>,
    /// Messages kept per session, 1–10000. Default: 200.
    #[serde(default)]
    #[schemars(range(min = 1, max = 10000))]
    pub max_messages: Option<u32>,
}

/// Requests allowed per window, per tenant, per user and per client IP (defaults: 1000, 60, 120 per minute).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Requests per window for the whole tenant: an integer (requests per minute) or `{limit, per}`. Default: 1000 per minute.
    #[serde(default)]
    pub tenant: Option<RateLimit>,
    /// Requests per window per user: an integer (requests per minute) or `{limit, per}`. Default: 60 per minute.
    #[serde(default)]
    pub user: Option<RateLimit>,
    /// Requests per window per client IP: an integer (requests per minute) or `{limit, per}`. Default: 120 per minute.
    #[serde(default)]
    pub ip: Option<RateLimit>,
}

/// A rate limit: requests per minute, or requests per a chosen window.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RateLimit {
    /// Requests per minute, 1–1,000,000.
    PerMinute(#[schemars(range(min = 1, max = 1_000_000))] u32),
    Full(RateLimitFull),
}

/// A rate limit with its window.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitFull {
    /// Requests allowed per window, 1–1,000,000.
    #[schemars(range(min = 1, max = 1_000_000))]
    pub limit: u32,
    /// Length of the window: `second`, `minute`, `hour` or `day`. Default: `minute`.
    #[serde(default)]
    pub per: Option<Window>,
}

/// Rate-limit window: `second`, `minute`, `hour` or `day`.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    Second,
    Minute,
    Hour,
    Day,
}

/// Cache TTLs in seconds (0 disables; defaults: search 300, chat 0).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    /// How long search results are cached, in seconds, 0–604800 (7 days); 0 disables. Default: 300.
    #[serde(default)]
    #[schemars(range(min = 0, max = 604800))]
    pub search_ttl: Option<u32>,
    /// How long chat answers are cached, in seconds, 0–604800 (7 days); 0 disables. Default: 0 (not cached).
    #[serde(default)]
    #[schemars(range(min = 0, max = 604800))]
    pub chat_ttl: Option<u32>,
}

/// A platform tool enabled for this tenant.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// Roles allowed to call the tool (lowercase letters, digits and single dashes, at most 32 characters); when the platform tool lists roles, each must be one of them. Duplicates are dropped. Default: empty, meaning every authenticated user.
    #[serde(default)]
    #[schemars(inner(pattern(SLUG)), example = vec!["admin", "analyst"])]
    pub roles: Option<Vec<String>>,
    /// Milliseconds one call may take (100–120000); a slower call answers 504 `tool_timeout`. Default: the tool's own (docs/tools.md).
    #[serde(default)]
    #[schemars(range(min = 100, max = 120000), example = 5000)]
    pub timeout_ms: Option<u32>,
    /// `classify-intent` only, and required there: the intents it chooses from (2–32 distinct labels of 1–64 characters).
    #[serde(default)]
    #[schemars(length(min = 2, max = 32), inner(length(min = 1, max = 64)), example = vec!["billing", "support", "sales"])]
    pub labels: Option<Vec<String>>,
}

/// Text-to-speech (`ai.tts` names the model).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tts {
    /// Enable text-to-speech for this tenant; when true, `ai.tts` must name a model. Default: false.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Voice name passed to the TTS model (not checked by the compiler). Default: none.
    #[serde(default)]
    #[schemars(example = &"en-us")]
    pub voice: Option<String>,
    /// Longest text accepted for speech, in characters, 1–20000. Default: 2000.
    #[serde(default)]
    #[schemars(range(min = 1, max = 20000))]
    pub max_chars: Option<u32>,
}

/// Input limits, PII redaction and blocked terms.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Safety {
    /// Longest user message accepted, in characters, 1–200000. Default: 8000.
    #[serde(default)]
    #[schemars(range(min = 1, max = 200000))]
    pub max_input_chars: Option<u32>,
    /// Redact e-mail addresses and phone numbers before they reach a model. Default: false.
    #[serde(default)]
    pub pii_redaction: Option<bool>,
    /// Terms that make a request be refused (any strings). Default: none.
    #[serde(default)]
    #[schemars(example = vec!["internal-only", "confidential"])]
    pub blocked_terms: Option<Vec<String>>,
}

// ------------------------------------------------------------------ auth

/// Who may call the Worker: one or more methods. A request is accepted when any enabled method accepts it.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Bearer JSON Web Tokens from an OpenID Connect / OAuth identity provider, verified with its public keys. Default: not accepted.
    #[serde(default)]
    pub jwt: Option<Jwt>,
    /// Cloudflare Access: the `Cf-Access-Jwt-Assertion` token of an Access application in front of the Worker, verified with the team's public keys (RS256). Default: not accepted.
    #[serde(default)]
    pub access: Option<Access>,
    /// API keys kept (hashed) in a KV namespace of the platform: `true`, or `{"kv": "<binding>"}` to name the KV binding. Default: not accepted.
    #[serde(default)]
    #[schemars(example = true, example = serde_json::json!({"kv": "CACHE"}))]
    pub api_keys: Option<ApiKeys>,
    /// Accept requests without any credential. Allowed only in development environments (platform `development: true`). Default: false.
    #[serde(default)]
    pub none: Option<bool>,
}

/// API keys on or off, or on with a named KV binding.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ApiKeys {
    /// `true`: API keys in the platform's only KV binding; `false`: off.
    Enabled(bool),
    /// API keys in a named KV binding.
    Kv(ApiKeysKv),
}

/// API keys in a KV binding of the platform.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeysKv {
    /// Name of a `kv` binding of the platform file. Default: the platform's only KV binding (an error when it has none or several).
    #[serde(default)]
    #[schemars(pattern(UPPER), example = &"CACHE")]
    pub kv: Option<String>,
}

/// JWT verification: issuer, audience, and where the public keys come from (exactly one of `jwks_url` and `keys`).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("anyOf" = [{"required": ["jwks_url"]}, {"required": ["keys"]}], "not" = {"required": ["jwks_url", "keys"]}))]
pub struct Jwt {
    /// The `iss` claim tokens must carry, exactly as the identity provider writes it (trailing slash included), not empty.
    #[schemars(length(min = 1), example = &"https://login.acme.example.com/")]
    pub issuer: String,
    /// The `aud` value tokens must contain (an API identifier or client id), not empty.
    #[schemars(length(min = 1), example = &"acme-ai")]
    pub audience: String,
    /// URL of the identity provider's JSON Web Key Set: `https://`, or `http://` to localhost, 127.0.0.1 or [::1]. Exactly one of `jwks_url` and `keys`.
    #[serde(default)]
    #[schemars(pattern(KEY_URL), example = &"https://login.acme.example.com/.well-known/jwks.json")]
    pub jwks_url: Option<String>,
    /// Public keys written inline (for development and tests), each `kid` once. Exactly one of `jwks_url` and `keys`.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub keys: Option<Vec<Jwk>>,
    /// Signature algorithms accepted, each once: `RS256`, `ES256`, `EdDSA` (never `none` or HMAC). Default: `["RS256"]`.
    #[serde(default)]
    #[schemars(length(min = 1), extend("uniqueItems" = true))]
    pub algorithms: Option<Vec<JwtAlg>>,
    /// Claim holding the user id. Default: `sub`.
    #[serde(default)]
    #[schemars(length(min = 1), pattern(r"^\S+$"), example = &"sub")]
    pub user_claim: Option<String>,
    /// Claim holding the user's roles (a string or a list of strings). Default: `roles`.
    #[serde(default)]
    #[schemars(length(min = 1), pattern(r"^\S+$"), example = &"roles")]
    pub roles_claim: Option<String>,
    /// Seconds of clock skew tolerated when checking `exp`, `nbf` and `iat`, 0–600. Default: 60.
    #[serde(default)]
    #[schemars(range(min = 0, max = 600))]
    pub clock_skew: Option<u32>,
}

/// Cloudflare Access verification. The issuer is `https://<team_domain>`; keys come from `https://<team_domain>/cdn-cgi/access/certs` unless `certs_url` or `keys` says otherwise (not both).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("not" = {"required": ["certs_url", "keys"]}))]
pub struct Access {
    /// The Zero Trust team domain (a hostname, no scheme or path), e.g. `acme.cloudflareaccess.com`.
    #[schemars(pattern(TEAM_DOMAIN), length(max = 253), example = &"acme.cloudflareaccess.com")]
    pub team_domain: String,
    /// The Access application's Application Audience (AUD) tag: 64 lowercase hex characters.
    #[schemars(pattern(r"^[0-9a-f]{64}$"), example = &"4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2")]
    pub audience: String,
    /// Where the team's public keys are fetched: `https://`, or `http://` to a loopback host. Default: `https://<team_domain>/cdn-cgi/access/certs`.
    #[serde(default)]
    #[schemars(pattern(KEY_URL), example = &"https://acme.cloudflareaccess.com/cdn-cgi/access/certs")]
    pub certs_url: Option<String>,
    /// Public keys written inline instead of fetched (for development and tests), each `kid` once; RSA keys only (Access signs with RS256).
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub keys: Option<Vec<Jwk>>,
}

/// A public JSON Web Key (RFC 7517). Never a private key: members `d`, `p`, `q`, `dp`, `dq`, `qi`, `oth` and `k` are rejected.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("allOf" = [
    {"if": {"properties": {"kty": {"const": "RSA"}}, "required": ["kty"]}, "then": {"required": ["n", "e"]}},
    {"if": {"properties": {"kty": {"const": "EC"}}, "required": ["kty"]}, "then": {"required": ["crv", "x", "y"]}},
    {"if": {"properties": {"kty": {"const": "OKP"}}, "required": ["kty"]}, "then": {"required": ["crv", "x"]}}
]))]
pub struct Jwk {
    /// Key id, unique in its list: tokens name their key in the `kid` header.
    #[schemars(length(min = 1), example = &"k1")]
    pub kid: String,
    /// Key type: `RSA` (RS256, at least 2048 bits), `EC` (P-256, ES256) or `OKP` (Ed25519, EdDSA).
    pub kty: KeyType,
    /// The algorithm this key signs with; must fit its type and be accepted by the block. Default: any accepted algorithm that fits.
    #[serde(default)]
    pub alg: Option<JwtAlg>,
    /// Public key use; only `sig`. Default: unspecified.
    #[serde(default, rename = "use")]
    pub use_: Option<KeyUse>,
    /// Curve: `P-256` for `EC`, `Ed25519` for `OKP`; not for `RSA`.
    #[serde(default)]
    pub crv: Option<Curve>,
    /// RSA modulus, unpadded base64url, at least 2048 bits (RSA only).
    #[serde(default)]
    #[schemars(pattern(B64URL))]
    pub n: Option<String>,
    /// RSA public exponent, unpadded base64url, e.g. `AQAB` (RSA only).
    #[serde(default)]
    #[schemars(pattern(B64URL), example = &"AQAB")]
    pub e: Option<String>,
    /// Public point x coordinate (EC: 32 bytes) or public key (OKP: 32 bytes), unpadded base64url.
    #[serde(default)]
    #[schemars(pattern(B64URL))]
    pub x: Option<String>,
    /// Public point y coordinate (EC only, 32 bytes), unpadded base64url.
    #[serde(default)]
    #[schemars(pattern(B64URL))]
    pub y: Option<String>,
}

/// A JWS algorithm: `RS256`, `ES256` or `EdDSA`.
#[derive(Serialize, Deserialize, JsonSchema)]
pub enum JwtAlg {
    #[serde(rename = "RS256")]
    Rs256,
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "EdDSA")]
    EdDsa,
}

/// JWK key type: `RSA`, `EC` or `OKP`.
#[derive(Serialize, Deserialize, JsonSchema)]
pub enum KeyType {
    #[serde(rename = "RSA")]
    Rsa,
    #[serde(rename = "EC")]
    Ec,
    #[serde(rename = "OKP")]
    Okp,
}

/// JWK curve: `P-256` (EC) or `Ed25519` (OKP).
#[derive(Serialize, Deserialize, JsonSchema)]
pub enum Curve {
    #[serde(rename = "P-256")]
    P256,
    #[serde(rename = "Ed25519")]
    Ed25519,
}

/// JWK public key use: `sig` only.
#[derive(Serialize, Deserialize, JsonSchema)]
pub enum KeyUse {
    #[serde(rename = "sig")]
    Sig,
}

// ------------------------------------------------------------------ platform

/// The platform file: the Worker, its environments, the bindings it needs, tools and custom models.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Platform")]
pub struct PlatformDoc {
    /// Path or URL of this schema, for editors (relative paths work, e.g. `../schemas/platform.schema.json`); the compiler ignores it.
    #[serde(rename = "$schema", default)]
    #[schemars(example = &"../schemas/platform.schema.json")]
    pub schema: Option<String>,
    /// Worker name: 1–40 characters, lowercase letters, digits and single dashes, starting with a letter; scripts are deployed as `<worker>-<tenant>-<env>`.
    #[schemars(pattern(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,39}$"), example = &"ai-platform")]
    pub worker: String,
    /// Workers compatibility date, `YYYY-MM-DD`: a real calendar date in the years 2000–2099.
    #[schemars(pattern(DATE), example = &"2026-11-01")]
    pub compatibility_date: String,
    /// Workers compatibility flags, snake_case (lowercase letters, digits and `_`). Default: none.
    #[serde(default)]
    #[schemars(inner(pattern(r"^[a-z0-9_]+$")), example = vec!["nodejs_compat"])]
    pub compatibility_flags: Option<Vec<String>>,
    /// Environments every tenant configures, by name (1–16 characters: lowercase letters, digits and single dashes); at least one. `{}` for an environment with default settings.
    #[schemars(extend("propertyNames" = {"pattern": r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,15}$"}), extend("minProperties" = 1))]
    pub environments: BTreeMap<String, Option<EnvironmentDef>>,
    /// Bindings the Worker needs, by UPPER_SNAKE_CASE binding name; at most one `ai` binding. Default: none.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": UPPER}))]
    pub bindings: Option<BTreeMap<String, BindingDef>>,
    /// Models added to the shipped Workers AI catalog (fine-tunes, new models), by model id (`@<namespace>/<path>`, e.g. `@cf/acme/support-llama`). Default: none.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": MODEL_ID}))]
    pub models: Option<BTreeMap<String, ModelDef>>,
    /// Tools the Worker implements, which tenants may enable, by name: `classify-intent`, `extract-entities`, `ingest-docs`, `summarize`, `tag-and-chunk`. Listing tools needs a `durable-object` binding of class `AuditLog`. Default: none.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"enum": ["classify-intent", "extract-entities", "ingest-docs", "summarize", "tag-and-chunk"]}))]
    pub tools: Option<BTreeMap<String, ToolDef>>,
    /// Values that look like credentials to `tenants check` but are not (a public site key, a build id), by the exact value, each with the reason. Only these exact values pass; anything else that looks like a credential stays an error. An entry no file uses is a warning. Default: none.
    #[serde(default)]
    pub not_secrets: Option<BTreeMap<String, NotSecretDef>>,
}

/// Why a credential-looking value is not a secret.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotSecretDef {
    /// Why this value is public, for the reviewer: 1–200 characters.
    #[schemars(length(min = 1, max = 200), example = &"the chat widget's public site key")]
    pub reason: String,
}

/// Settings of one environment.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentDef {
    /// Marks a development environment: under a tenant's `dev-only` header policy, `x-tenant-id` is honoured here. Default: true for an environment named `dev`, false otherwise.
    #[serde(default)]
    pub development: Option<bool>,
    /// Also deploy to workers.dev. Default: the value of `development`.
    #[serde(default)]
    pub workers_dev: Option<bool>,
}

/// A binding of the Worker; `type` selects its kind and the fields it takes.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
#[schemars(transform = describe_binding_type)]
pub enum BindingDef {
    /// A KV namespace; each tenant supplies its namespace id per environment.
    Kv {},
    /// A Durable Object class exported by the Worker (SQLite storage); tenants supply nothing.
    DurableObject {
        /// Name of the Durable Object class the Worker exports: PascalCase, letters and digits, at most 64 characters.
        #[schemars(pattern(r"^[A-Z][A-Za-z0-9]{0,63}$"), example = &"ChatSession")]
        class: String,
    },
    /// A Vectorize index; each tenant supplies its index per environment.
    Vectorize {
        /// Vector size of the index (number of dimensions), 1–1536; every tenant's embedding model must return vectors of this length.
        #[schemars(range(min = 1, max = 1536), example = 768)]
        dimensions: u32,
        /// Distance metric of the index. Default: `cosine`.
        #[serde(default)]
        metric: Option<Metric>,
    },
    /// The Workers AI binding (at most one); tenants supply nothing.
    Ai {},
    /// An Analytics Engine dataset (tenants may override the dataset).
    AnalyticsEngine {
        /// Default dataset name for every tenant (1–64 characters: letters, digits and `_`). Default: none, and then every tenant must give its own.
        #[serde(default)]
        #[schemars(pattern(r"^[A-Za-z0-9_]{1,64}$"), example = &"ai_platform_events")]
        dataset: Option<String>,
    },
    /// A Cloudflare Queue the Worker produces to and consumes from; each tenant supplies its queue per environment.
    Queue {},
}

/// Describe the `type` tag of every binding variant (schemars gives it none).
fn describe_binding_type(schema: &mut Schema) {
    let Some(variants) = schema.get_mut("oneOf").and_then(|v| v.as_array_mut()) else {
        return;
    };
    for variant in variants {
        if let Some(serde_json::Value::Object(tag)) = variant.pointer_mut("/properties/type") {
            tag.insert(
                "description".into(),
                "Binding kind: `kv`, `durable-object`, `vectorize`, `ai`, `analytics-engine` or `queue`.".into(),
            );
        }
    }
}

/// Vectorize distance metric: `cosine`, `euclidean` or `dot-product`.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    Cosine,
    Euclidean,
    DotProduct,
}

/// A model added to the catalog.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("if" = {"properties": {"task": {"const": "text-embeddings"}}, "required": ["task"]}, "then" = {"required": ["dimensions"]}))]
pub struct ModelDef {
    /// What the model does; decides where tenants may use it (`ai.chat` and routes: `text-generation`, `ai.embedding`: `text-embeddings`, `ai.tts`: `text-to-speech`, `rag.rerank`: `reranking`).
    pub task: Task,
    /// Length of the vectors the model returns (number of dimensions), 1–4096; required for `text-embeddings`. Default: none.
    #[serde(default)]
    #[schemars(range(min = 1, max = 4096), example = 768)]
    pub dimensions: Option<u32>,
}

/// Task of a model.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    TextGeneration,
    TextEmbeddings,
    TextToSpeech,
    AutomaticSpeechRecognition,
    TextClassification,
    Translation,
    Summarization,
    Reranking,
}

/// A tool the Worker implements.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolDef {
    /// Human-readable description of the tool. Default: empty.
    #[serde(default)]
    #[schemars(example = &"Search the public web")]
    pub description: Option<String>,
    /// Roles a tenant may grant this tool to (each 1–32 characters: lowercase letters, digits and single dashes). Default: empty, meaning a tenant may grant any role.
    #[serde(default)]
    #[schemars(inner(pattern(SLUG)), example = vec!["admin", "analyst"])]
    pub roles: Option<Vec<String>>,
}

// ------------------------------------------------------------------ accounts

/// Cloudflare accounts tenants deploy to, and the environment variable holding each account's API token.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Accounts")]
pub struct AccountsDoc {
    /// Path or URL of this schema, for editors (relative paths work, e.g. `../schemas/accounts.schema.json`); the compiler ignores it.
    #[serde(rename = "$schema", default)]
    #[schemars(example = &"../schemas/accounts.schema.json")]
    pub schema: Option<String>,
    /// Cloudflare accounts by key, the `account` of tenant files (1–32 characters: lowercase letters, digits and single dashes).
    #[schemars(extend("propertyNames" = {"pattern": SLUG}))]
    pub accounts: BTreeMap<String, AccountDef>,
}

/// One Cloudflare account.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountDef {
    /// Cloudflare account id: 32 lowercase hex characters (dashboard Workers overview or `wrangler whoami`).
    #[schemars(pattern(HEX32), example = &"5f1d2c3b4a5968778695a4b3c2d1e0f9")]
    pub account_id: String,
    /// NAME of the environment variable that holds the account's API token (never the token).
    #[schemars(pattern(UPPER), example = &"CF_API_TOKEN_ACME")]
    pub token_env: String,
}

// ------------------------------------------------------------------ output

/// File name and schema for each document kind.
pub fn schemas() -> Vec<(&'static str, Schema)> {
    vec![
        ("tenant.schema.json", schemars::schema_for!(TenantDoc)),
        ("platform.schema.json", schemars::schema_for!(PlatformDoc)),
        ("accounts.schema.json", schemars::schema_for!(AccountsDoc)),
    ]
}

/// Rendered files: pretty JSON with a trailing newline, deterministic.
pub fn render_all() -> Vec<(&'static str, String)> {
    schemas()
        .into_iter()
        .map(|(name, schema)| {
            // No `$id`: the files are self-contained, and documents name them
            // by relative path in `$schema`.
            let mut v = serde_json::to_value(&schema).expect("schema serializes");
            strip_null(&mut v);
            let mut s = serde_json::to_string_pretty(&v).expect("schema serializes");
            s.push('\n');
            (name, s)
        })
        .collect()
}

/// The compiler rejects `null` for every optional key (leave the key out
/// instead), so the schemas must too: schemars makes every `Option<T>`
/// nullable; remove `null` from types, `anyOf`/`oneOf` alternatives and
/// defaults.
fn strip_null(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types[0].clone();
                    map.insert("type".into(), only);
                }
            }
            for key in ["anyOf", "oneOf"] {
                if let Some(Value::Array(alts)) = map.get_mut(key) {
                    alts.retain(|a| a.get("type") != Some(&Value::String("null".into())) || a.as_object().is_some_and(|o| o.len() > 1));
                    if alts.len() == 1 {
                        let Some(Value::Object(only)) = alts.pop() else { continue };
                        map.remove(key);
                        for (k, val) in only {
                            map.entry(k).or_insert(val);
                        }
                    }
                }
            }
            for val in map.values_mut() {
                strip_null(val);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null),
        _ => {}
    }
}

/// Paths of the files in `dir` that are out of date: those of `files` that are
/// missing or differ, then (sorted, marked as unexpected) every other
/// `*.schema.json` file in `dir`, which `write_all` would leave behind.
pub fn stale_files(dir: &Path, files: &[(&str, String)]) -> Vec<String> {
    let mut out: Vec<String> = files
        .iter()
        .filter(|(name, content)| std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(content.as_str()))
        .map(|(name, _)| dir.join(name).display().to_string())
        .collect();
    // A directory that cannot be read has no extra files to report; its
    // expected files are already reported as missing.
    let mut unexpected: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".schema.json") && !files.iter().any(|(name, _)| name == n))
        .map(|n| format!("{} (unexpected: not a generated schema; delete it)", dir.join(n).display()))
        .collect();
    unexpected.sort();
    out.extend(unexpected);
    out
}

/// Write files atomically (temporary file in the same directory, then rename).
pub fn write_all(dir: &Path, files: &[(&str, String)]) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    for (name, content) in files {
        crate::write_atomic(&dir.join(name), content.as_bytes())?;
    }
    Ok(files.len())
}
