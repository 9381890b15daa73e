//! The resolved model: what every emitter consumes. Plain data, no spans, no
//! formats; defaults applied, references checked, environments flattened.
//!
//! Invariant: a [`Model`] exists only when validation found no error, so
//! every reference in it (account, binding, model, tool, environment) is known
//! to resolve. Collections are sorted (tenants by id, everything else by name)
//! so emitters produce deterministic output.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Model {
    pub platform: Platform,
    pub accounts: Vec<Account>,
    pub tenants: Vec<Tenant>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Platform {
    pub worker: String,
    pub compatibility_date: String,
    pub compatibility_flags: Vec<String>,
    pub environments: Vec<Environment>,
    pub bindings: Vec<Binding>,
    pub tools: Vec<ToolDef>,
    /// Models added by the platform file on top of the shipped catalog.
    pub custom_models: Vec<CatalogModel>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Environment {
    pub name: String,
    /// `dev-only` header resolution applies in development environments.
    pub development: bool,
    pub workers_dev: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Binding {
    pub name: String,
    pub kind: BindingKind,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum BindingKind {
    Kv,
    DurableObject {
        class: String,
    },
    Vectorize {
        dimensions: u32,
        metric: String,
    },
    Ai,
    AnalyticsEngine {
        dataset: String,
    },
    /// A Cloudflare Queue the Worker produces to and consumes from; each
    /// tenant supplies its queue per environment.
    Queue,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDef {
    pub name: String,
    pub description: String,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogModel {
    pub id: String,
    pub task: String,
    pub dimensions: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    pub key: String,
    pub account_id: String,
    pub token_env: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeaderPolicy {
    Never,
    DevOnly,
    Always,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub account: String,
    pub header_policy: HeaderPolicy,
    pub envs: Vec<TenantEnv>,
    pub ai: Ai,
    pub rag: Rag,
    pub sessions: Sessions,
    pub rate_limits: RateLimits,
    pub cache: Cache,
    pub tools: Vec<Tool>,
    pub tts: Tts,
    pub safety: Safety,
    pub secrets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantEnv {
    pub name: String,
    pub hosts: Vec<String>,
    /// Origins allowed cross-origin (CORS), normalised, sorted, unique.
    pub cors_origins: Vec<String>,
    /// Whether `x-tenant-id` is honoured here (policy × environment).
    pub header_allowed: bool,
    pub resources: Vec<Resource>,
    /// Tenant-level vars overlaid with this environment's vars.
    pub vars: BTreeMap<String, String>,
    /// Who may call: this environment's `auth`, else the tenant-level one.
    pub auth: Auth,
    /// How this environment reaches its models.
    pub ai_provider: AiProvider,
    /// Which vector index serves RAG here.
    pub vector_index: VectorIndex,
    /// The queue binding that takes documents to ingest: the first `queue`
    /// binding (by name) of the platform, when it has one.
    pub ingest_queue: Option<String>,
    /// The developer playground's path (`/_playground`): development
    /// environments only, never stage or prod.
    pub playground: Option<String>,
}

/// Which vector index serves one environment: in a development environment
/// the local index (the `DocIndex` Durable Object), elsewhere the tenant's
/// Vectorize index. `None` without a Vectorize binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum VectorIndex {
    None,
    /// The Durable Object binding whose class is [`LOCAL_INDEX_CLASS`].
    Local {
        object: String,
    },
    /// The tenant's Vectorize binding (the platform's first, by name).
    Vectorize {
        binding: String,
    },
}

impl VectorIndex {
    /// `none`, `local` or `vectorize` (the registry's `vector_index`).
    pub fn adapter(&self) -> &'static str {
        match self {
            VectorIndex::None => "none",
            VectorIndex::Local { .. } => "local",
            VectorIndex::Vectorize { .. } => "vectorize",
        }
    }
}

/// The Durable Object class of the local vector index that development
/// environments use instead of Vectorize.
pub const LOCAL_INDEX_CLASS: &str = "DocIndex";

/// The class of the Durable Object that keeps each tenant's tool audit log.
pub const AUDIT_LOG_CLASS: &str = "AuditLog";

/// How one environment reaches its models (`ai_provider`; default: the
/// platform's `ai` binding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AiProvider {
    /// The Workers AI binding, through the tenant's AI Gateway when it has one.
    WorkersAi { binding: String },
    /// AI Gateway's OpenAI-compatible endpoint
    /// (`https://gateway.ai.cloudflare.com/v1/{account_id}/{gateway}/compat/chat/completions`).
    Gateway {
        /// The tenant's account (from the accounts file).
        account_id: String,
        /// The tenant's `ai.gateway`.
        gateway: String,
        /// A secret the tenant declares: the gateway's authentication token.
        token_secret: Option<String>,
    },
    /// Any OpenAI-compatible server (vLLM, llama.cpp, Ollama).
    #[serde(rename = "openai-compatible")]
    OpenAiCompatible {
        /// `https://…`, or `http://` to a loopback host.
        base_url: String,
        /// A secret the tenant declares: sent as the bearer token.
        api_key_secret: Option<String>,
        /// The upstream model name every chat call uses instead of the catalog id.
        model: Option<String>,
    },
}

/// Who may call in one environment. Nothing enabled: nobody (fail closed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Auth {
    pub jwt: Option<Jwt>,
    pub access: Option<Access>,
    pub api_keys: Option<ApiKeys>,
    /// Unauthenticated requests accepted: only ever true in a development environment.
    pub none: bool,
}

impl Auth {
    /// The enabled methods, in the order `jwt`, `access`, `api-keys`, `none`.
    pub fn methods(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if self.jwt.is_some() {
            m.push("jwt");
        }
        if self.access.is_some() {
            m.push("access");
        }
        if self.api_keys.is_some() {
            m.push("api-keys");
        }
        if self.none {
            m.push("none");
        }
        m
    }
}

/// A JWS algorithm a tenant accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum JwtAlg {
    #[serde(rename = "RS256")]
    Rs256,
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl JwtAlg {
    pub fn from_name(s: &str) -> Option<JwtAlg> {
        match s {
            "RS256" => Some(JwtAlg::Rs256),
            "ES256" => Some(JwtAlg::Es256),
            "EdDSA" => Some(JwtAlg::EdDsa),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            JwtAlg::Rs256 => "RS256",
            JwtAlg::Es256 => "ES256",
            JwtAlg::EdDsa => "EdDSA",
        }
    }
}

/// `jwt`: tokens of an identity provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jwt {
    pub issuer: String,
    pub audience: String,
    pub keys: KeySource,
    /// Sorted (RS256, ES256, EdDSA), unique; default RS256 only.
    pub algorithms: Vec<JwtAlg>,
    pub user_claim: String,
    pub roles_claim: String,
    pub clock_skew_secs: u32,
}

/// `access`: Cloudflare Access application tokens (RS256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    pub team_domain: String,
    /// `https://<team_domain>`.
    pub issuer: String,
    pub audience: String,
    /// The certs URL (default `https://<team_domain>/cdn-cgi/access/certs`), or inline keys.
    pub keys: KeySource,
}

/// API keys, looked up in a KV binding of the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeys {
    pub kv_binding: String,
}

/// Where verification keys come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySource {
    Url(String),
    /// Sorted by `kid`.
    Inline(Vec<Jwk>),
}

/// A public JSON Web Key written inline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jwk {
    pub kid: String,
    /// `RSA`, `EC` or `OKP`.
    pub kty: String,
    pub alg: Option<String>,
    pub crv: Option<String>,
    pub n: Option<String>,
    pub e: Option<String>,
    pub x: Option<String>,
    pub y: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource {
    pub binding: String,
    pub kind: ResourceKind,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ResourceKind {
    Kv { id: String },
    DurableObject { class: String },
    Vectorize { index: String, namespace: String },
    Ai,
    AnalyticsEngine { dataset: String },
    Queue { name: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ai {
    pub gateway: Option<String>,
    pub chat_model: String,
    /// The chat model's context window in tokens (catalog), else
    /// [`defaults::CONTEXT_TOKENS`].
    pub context_tokens: u32,
    pub max_tokens: u32,
    pub temperature: f64,
    /// Tried in order when the chat model fails: distinct, none equal to it.
    pub fallbacks: Vec<String>,
    pub embedding_model: Option<String>,
    pub tts_model: Option<String>,
    pub routes: Vec<RouteOverride>,
    pub tokens_per_day: Option<u64>,
    /// At most `tokens_per_day` when both are set.
    pub user_tokens_per_day: Option<u64>,
    /// Milliseconds one model call may take.
    pub timeout_ms: u32,
    /// Further attempts of a failed call, per model.
    pub retries: u32,
    /// Model turns with tool calls one chat request may take.
    pub tool_steps: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteOverride {
    pub route: String,
    pub chat_model: String,
    /// The route's chat model's context window in tokens (catalog), else
    /// [`defaults::CONTEXT_TOKENS`].
    pub context_tokens: u32,
    pub max_tokens: u32,
    pub temperature: f64,
    /// The route's own list, else `ai.chat`'s without the route's model.
    pub fallbacks: Vec<String>,
}

/// The fallbacks of a route that lists none: the `ai`-level ones, without
/// the route's own model.
pub fn inherited_fallbacks(ai_level: &[String], route_model: &str) -> Vec<String> {
    ai_level.iter().filter(|f| *f != route_model).cloned().collect()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rag {
    pub chunk_size: u32,
    pub overlap: u32,
    pub top_k: u32,
    pub min_score: f64,
    /// Keyword (full-text) matches next to the vector search.
    pub hybrid: bool,
    /// A `reranking` model applied to the retrieved chunks.
    pub rerank_model: Option<String>,
    /// The role allowed to add documents.
    pub ingest_role: String,
    /// The platform's Vectorize `dimensions` (its first Vectorize binding,
    /// by name; every one equals the embedding model's), 0 without one.
    pub embedding_dimensions: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sessions {
    /// The retention in days; rounded up when it was given in seconds.
    pub retention_days: u32,
    /// The retention in seconds: `retention_seconds`, or the days × 86,400.
    pub retention_secs: u64,
    pub max_messages: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    Second,
    Minute,
    Hour,
    Day,
}

impl Window {
    pub fn seconds(self) -> u32 {
        match self {
            Window::Second => 1,
            Window::Minute => 60,
            Window::Hour => 3600,
            Window::Day => 86_400,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    pub limit: u32,
    pub per: Window,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateLimits {
    pub tenant: RateLimit,
    pub user: RateLimit,
    pub ip: RateLimit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cache {
    pub search_ttl: u32,
    pub chat_ttl: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tool {
    pub name: String,
    /// Roles allowed to call it; empty means every authenticated user.
    pub roles: Vec<String>,
    /// Milliseconds one call may take; `None`: the tool's own default.
    pub timeout_ms: Option<u32>,
    /// `classify-intent`'s labels, in the file's order (empty for other tools).
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tts {
    pub enabled: bool,
    pub voice: Option<String>,
    pub max_chars: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Safety {
    pub max_input_chars: u32,
    pub pii_redaction: bool,
    pub blocked_terms: Vec<String>,
}

/// Defaults applied where a tenant file is silent (documented in docs/tenant-format.md).
pub mod defaults {
    pub const MAX_TOKENS: u32 = 1024;
    /// The context window of a chat model the catalog gives none for.
    pub const CONTEXT_TOKENS: u32 = 8192;
    pub const TEMPERATURE: f64 = 0.7;
    pub const TIMEOUT_MS: u32 = 30_000;
    pub const RETRIES: u32 = 1;
    pub const TOOL_STEPS: u32 = 4;
    pub const CHUNK_SIZE: u32 = 800;
    pub const OVERLAP: u32 = 100;
    pub const TOP_K: u32 = 5;
    pub const MIN_SCORE: f64 = 0.5;
    pub const HYBRID: bool = false;
    pub const INGEST_ROLE: &str = "admin";
    pub const RETENTION_DAYS: u32 = 30;
    pub const MAX_MESSAGES: u32 = 200;
    pub const TENANT_LIMIT: u32 = 1000;
    pub const USER_LIMIT: u32 = 60;
    pub const IP_LIMIT: u32 = 120;
    pub const SEARCH_TTL: u32 = 300;
    pub const CHAT_TTL: u32 = 0;
    pub const TTS_MAX_CHARS: u32 = 2000;
    pub const MAX_INPUT_CHARS: u32 = 8000;
    pub const USER_CLAIM: &str = "sub";
    pub const ROLES_CLAIM: &str = "roles";
    pub const CLOCK_SKEW_SECS: u32 = 60;
}
