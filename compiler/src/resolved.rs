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
    DurableObject { class: String },
    Vectorize { dimensions: u32, metric: String },
    Ai,
    AnalyticsEngine { dataset: String },
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
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ai {
    pub gateway: Option<String>,
    pub chat_model: String,
    pub max_tokens: u32,
    pub temperature: f64,
    pub embedding_model: Option<String>,
    pub tts_model: Option<String>,
    pub routes: Vec<RouteOverride>,
    pub tokens_per_day: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteOverride {
    pub route: String,
    pub chat_model: String,
    pub max_tokens: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rag {
    pub chunk_size: u32,
    pub overlap: u32,
    pub top_k: u32,
    pub min_score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sessions {
    pub retention_days: u32,
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
    pub const TEMPERATURE: f64 = 0.7;
    pub const CHUNK_SIZE: u32 = 800;
    pub const OVERLAP: u32 = 100;
    pub const TOP_K: u32 = 5;
    pub const MIN_SCORE: f64 = 0.5;
    pub const RETENTION_DAYS: u32 = 30;
    pub const MAX_MESSAGES: u32 = 200;
    pub const TENANT_LIMIT: u32 = 1000;
    pub const USER_LIMIT: u32 = 60;
    pub const IP_LIMIT: u32 = 120;
    pub const SEARCH_TTL: u32 = 300;
    pub const CHAT_TTL: u32 = 0;
    pub const TTS_MAX_CHARS: u32 = 2000;
    pub const MAX_INPUT_CHARS: u32 = 8000;
}
