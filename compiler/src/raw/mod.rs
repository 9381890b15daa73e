//! The raw model: files as written, every value with its span. Built from a
//! [`Value`] tree by [`decode_platform`], [`decode_accounts`] and
//! [`decode_tenant`], which report shape errors (unknown, duplicate, missing
//! keys; wrong types; ranges and enumerations) and keep everything they could
//! read. Only this layer knows spans and formats; [`crate::resolved`] is plain data.

pub mod decode;

use crate::frontend::value::{Entry, Kind, Value};
use crate::raw::decode::{Decoder, Obj, Sp, What};
use crate::source::{FileId, Span};

// ------------------------------------------------------------------ platform

#[derive(Debug, Clone)]
pub struct RawPlatform {
    pub file: FileId,
    pub span: Span,
    pub worker: Option<Sp<String>>,
    pub compatibility_date: Option<Sp<String>>,
    pub compatibility_flags: Vec<Sp<String>>,
    pub environments: Vec<RawEnvironment>,
    /// Whether the `environments` key was written, and where.
    pub environments_given: bool,
    pub environments_span: Option<Span>,
    pub bindings: Vec<RawBinding>,
    pub models: Vec<RawModel>,
    pub tools: Vec<RawToolDef>,
    /// `not_secrets`: values that look like credentials but are not.
    pub not_secrets: Vec<RawNotSecret>,
}

/// One entry of the platform's `not_secrets` allow-list.
#[derive(Debug, Clone)]
pub struct RawNotSecret {
    pub value: Sp<String>,
    pub reason: Option<Sp<String>>,
}

#[derive(Debug, Clone)]
pub struct RawEnvironment {
    pub name: Sp<String>,
    pub development: Option<Sp<bool>>,
    pub workers_dev: Option<Sp<bool>>,
}

#[derive(Debug, Clone)]
pub struct RawBinding {
    pub name: Sp<String>,
    pub kind: Option<Sp<String>>,
    pub class: Option<Sp<String>>,
    pub dimensions: Option<Sp<i64>>,
    /// `dimensions` was written (possibly with a value already reported as invalid).
    pub dimensions_given: bool,
    pub metric: Option<Sp<String>>,
    pub dataset: Option<Sp<String>>,
}

#[derive(Debug, Clone)]
pub struct RawModel {
    pub id: Sp<String>,
    pub task: Option<Sp<String>>,
    pub dimensions: Option<Sp<i64>>,
}

#[derive(Debug, Clone)]
pub struct RawToolDef {
    pub name: Sp<String>,
    pub description: Option<Sp<String>>,
    pub roles: Vec<Sp<String>>,
}

/// Every key list of the format (what [`crate::frontend::value::intern`]
/// borrows from).
pub const KEY_LISTS: &[&[&str]] = &[
    PLATFORM_KEYS,
    NOT_SECRET_KEYS,
    ENVIRONMENT_KEYS,
    BINDING_KEYS,
    BINDING_TYPES,
    MODEL_KEYS,
    TOOL_DEF_KEYS,
    ACCOUNTS_KEYS,
    ACCOUNT_KEYS,
    TENANT_KEYS,
    RESOLUTION_KEYS,
    TENANT_ENV_KEYS,
    AI_PROVIDER_KEYS,
    KV_KEYS,
    VECTORIZE_KEYS,
    ANALYTICS_KEYS,
    QUEUE_KEYS,
    AI_KEYS,
    CHAT_KEYS,
    MODEL_REF_KEYS,
    ROUTE_KEYS,
    BUDGET_KEYS,
    RAG_KEYS,
    SESSIONS_KEYS,
    RATE_LIMIT_SCOPES,
    RATE_LIMIT_KEYS,
    CACHE_KEYS,
    TOOL_KEYS,
    TTS_KEYS,
    SAFETY_KEYS,
    AUTH_KEYS,
    JWT_KEYS,
    ACCESS_KEYS,
    API_KEYS_KEYS,
    JWK_KEYS,
];

pub const PLATFORM_KEYS: &[&str] = &[
    "$schema",
    "worker",
    "compatibility_date",
    "compatibility_flags",
    "environments",
    "bindings",
    "models",
    "tools",
    "not_secrets",
];
pub const NOT_SECRET_KEYS: &[&str] = &["reason"];
pub const ENVIRONMENT_KEYS: &[&str] = &["development", "workers_dev"];
pub const BINDING_KEYS: &[&str] = &["type", "class", "dimensions", "metric", "dataset"];
pub const BINDING_TYPES: &[&str] = &["kv", "durable-object", "vectorize", "ai", "analytics-engine", "queue"];
pub const METRICS: &[&str] = &["cosine", "euclidean", "dot-product"];
pub const MODEL_KEYS: &[&str] = &["task", "dimensions"];
pub const TASKS: &[&str] = &[
    "text-generation",
    "text-embeddings",
    "text-to-speech",
    "automatic-speech-recognition",
    "text-classification",
    "translation",
    "summarization",
    "reranking",
];
pub const TOOL_DEF_KEYS: &[&str] = &["description", "roles"];

pub fn decode_platform(d: &mut Decoder<'_>, file: FileId, v: &Value) -> Option<RawPlatform> {
    let o = d.object(v, "platform", "the platform file", PLATFORM_KEYS)?;
    d.schema_key(&o);
    let worker = d.req_string(
        &o,
        "worker",
        "name the Worker, e.g. \"ai-platform\"; deployed scripts are named <worker>-<tenant>-<env>",
    );
    let compatibility_date = d.req_string(&o, "compatibility_date", "set the Workers compatibility date, e.g. \"2026-11-01\"");
    let compatibility_flags = d.string_list(&o, "compatibility_flags");
    let mut environments = Vec::new();
    if o.get("environments").is_none() {
        d.missing(&o, "environments", "declare the environments, e.g. dev, stage and prod");
    }
    for e in d.map(&o, "environments") {
        let name = Sp::new(e.key.to_string(), e.key_span);
        let (development, workers_dev) = match d.object(&e.value, "environments", What::Named("environment", &e.key), ENVIRONMENT_KEYS) {
            Some(eo) => (d.boolean(&eo, "development"), d.boolean(&eo, "workers_dev")),
            None => (None, None),
        };
        environments.push(RawEnvironment {
            name,
            development,
            workers_dev,
        });
    }
    let mut bindings = Vec::new();
    for e in d.map(&o, "bindings") {
        let name = Sp::new(e.key.to_string(), e.key_span);
        let Some(bo) = d.object(&e.value, "bindings", What::Named("binding", &e.key), BINDING_KEYS) else {
            continue;
        };
        let kind = if bo.get("type").is_none() {
            d.missing(&bo, "type", format!("one of: {}", BINDING_TYPES.join(", ")));
            None
        } else {
            d.choice(&bo, "type", BINDING_TYPES)
        };
        bindings.push(RawBinding {
            name,
            kind,
            class: d.string(&bo, "class"),
            dimensions: d.int(&bo, "dimensions", 1..=1536),
            dimensions_given: bo.get("dimensions").is_some(),
            metric: d.choice(&bo, "metric", METRICS),
            dataset: d.string(&bo, "dataset"),
        });
    }
    let mut models = Vec::new();
    for e in d.map(&o, "models") {
        let Some(mo) = d.object(&e.value, "models", What::Named("model", &e.key), MODEL_KEYS) else {
            continue;
        };
        let task = if mo.get("task").is_none() {
            d.missing(&mo, "task", format!("one of: {}", TASKS.join(", ")));
            None
        } else {
            d.choice(&mo, "task", TASKS)
        };
        models.push(RawModel {
            id: Sp::new(e.key.to_string(), e.key_span),
            task,
            dimensions: d.int(&mo, "dimensions", 1..=4096),
        });
    }
    let mut tools = Vec::new();
    for e in d.map(&o, "tools") {
        let Some(to) = d.object(&e.value, "tools", What::Named("tool", &e.key), TOOL_DEF_KEYS) else {
            continue;
        };
        tools.push(RawToolDef {
            name: Sp::new(e.key.to_string(), e.key_span),
            description: d.string(&to, "description"),
            roles: d.string_list(&to, "roles"),
        });
    }
    let mut not_secrets = Vec::new();
    for e in d.map(&o, "not_secrets") {
        let reason = match d.object(&e.value, "not_secrets", What::Named("`not_secrets` entry", &e.key), NOT_SECRET_KEYS) {
            Some(no) => d.req_string(
                &no,
                "reason",
                "say why this value is not a secret, e.g. \"the widget's public site key\"",
            ),
            None => None,
        };
        not_secrets.push(RawNotSecret {
            value: Sp::new(e.key.to_string(), e.key_span),
            reason,
        });
    }
    Some(RawPlatform {
        file,
        span: v.span,
        worker,
        compatibility_date,
        compatibility_flags,
        environments,
        environments_given: o.get("environments").is_some(),
        environments_span: o.get("environments").map(|e| e.key_span),
        bindings,
        models,
        tools,
        not_secrets,
    })
}

// ------------------------------------------------------------------ accounts

#[derive(Debug, Clone)]
pub struct RawAccount {
    pub key: Sp<String>,
    pub account_id: Option<Sp<String>>,
    pub token_env: Option<Sp<String>>,
}

pub const ACCOUNTS_KEYS: &[&str] = &["$schema", "accounts"];
pub const ACCOUNT_KEYS: &[&str] = &["account_id", "token_env"];

pub fn decode_accounts(d: &mut Decoder<'_>, v: &Value) -> Vec<RawAccount> {
    let Some(o) = d.object(v, "accounts", "the accounts file", ACCOUNTS_KEYS) else {
        return vec![];
    };
    d.schema_key(&o);
    let mut out = Vec::new();
    if o.get("accounts").is_none() {
        d.missing(&o, "accounts", "list the Cloudflare accounts tenants deploy to");
    }
    for e in d.map(&o, "accounts") {
        let Some(ao) = d.object(&e.value, "accounts", What::Named("account", &e.key), ACCOUNT_KEYS) else {
            continue;
        };
        out.push(RawAccount {
            key: Sp::new(e.key.to_string(), e.key_span),
            account_id: d.req_string(&ao, "account_id", "the 32-character Cloudflare account id"),
            token_env: d.req_string(
                &ao,
                "token_env",
                "the NAME of the environment variable that holds this account's API token, e.g. CF_API_TOKEN_ACME",
            ),
        });
    }
    out
}

// ------------------------------------------------------------------ tenant

#[derive(Debug, Clone)]
pub struct RawTenant {
    pub file: FileId,
    pub span: Span,
    pub id: Option<Sp<String>>,
    pub name: Option<Sp<String>>,
    pub account: Option<Sp<String>>,
    pub header_policy: Option<Sp<String>>,
    pub envs: Vec<RawTenantEnv>,
    /// Span of the `envs` key (KDL: the first `env` node) when present.
    pub envs_span: Option<Span>,
    pub ai: Option<RawAi>,
    pub rag: RawRag,
    pub sessions: RawSessions,
    pub rate_limits: Vec<RawRateLimit>,
    pub cache: RawCache,
    pub tools: Vec<RawTool>,
    pub tts: RawTts,
    pub safety: RawSafety,
    pub secrets: Vec<Sp<String>>,
    pub vars: Vec<(Sp<String>, Sp<String>)>,
    /// Who may call the Worker, in every environment without its own `auth`.
    pub auth: Option<RawAuth>,
}

#[derive(Debug, Clone)]
pub struct RawTenantEnv {
    pub name: Sp<String>,
    pub span: Span,
    pub hosts: Vec<Sp<String>>,
    /// `hosts` was given but is not a list of strings (reported): no
    /// "missing host" on top of that.
    pub hosts_invalid: bool,
    /// Browser origins allowed to call this tenant cross-origin (CORS).
    pub cors_origins: Vec<Sp<String>>,
    /// (kind, binding name, resource fields)
    pub resources: Vec<RawResource>,
    pub vars: Vec<(Sp<String>, Sp<String>)>,
    /// This environment's `auth`, replacing the tenant-level one (no merging).
    pub auth: Option<RawAuth>,
    /// How this environment reaches its models; `None`: the platform's `ai` binding.
    pub ai_provider: Option<RawAiProvider>,
}

/// An environment's `ai_provider` as written. Which fields apply depends on
/// `kind`; validation reports the others.
#[derive(Debug, Clone)]
pub struct RawAiProvider {
    /// The node name (KDL) or the opening `{` (JSON).
    pub head: Span,
    pub kind: Option<Sp<String>>,
    pub base_url: Option<Sp<String>>,
    pub api_key_secret: Option<Sp<String>>,
    pub token_secret: Option<Sp<String>>,
    pub model: Option<Sp<String>>,
}

#[derive(Debug, Clone)]
pub struct RawResource {
    /// `kv`, `vectorize`, `analytics_engine` or `queues` (the JSON key it was written under).
    pub kind: &'static str,
    pub binding: Sp<String>,
    pub span: Span,
    pub id: Option<Sp<String>>,
    pub index: Option<Sp<String>>,
    pub namespace: Option<Sp<String>>,
    pub dataset: Option<Sp<String>>,
    /// A queue's name (`queues`).
    pub name: Option<Sp<String>>,
}

#[derive(Debug, Clone)]
pub struct RawAi {
    pub span: Span,
    pub gateway: Option<Sp<String>>,
    pub chat: Option<RawChat>,
    pub embedding: Option<Sp<String>>,
    pub tts: Option<Sp<String>>,
    pub routes: Vec<RawRoute>,
    pub tokens_per_day: Option<Sp<i64>>,
    /// Per-user daily budget (`budget user-tokens-per-day=…`).
    pub user_tokens_per_day: Option<Sp<i64>>,
    /// Milliseconds one model call may take.
    pub timeout_ms: Option<Sp<i64>>,
    /// Further attempts of a failed model call, per model.
    pub retries: Option<Sp<i64>>,
    /// Model turns with tool calls one chat request may take.
    pub tool_steps: Option<Sp<i64>>,
}

#[derive(Debug, Clone)]
pub struct RawChat {
    pub model: Option<Sp<String>>,
    pub max_tokens: Option<Sp<i64>>,
    pub temperature: Option<Sp<f64>>,
    /// Models tried in order when `model` fails.
    pub fallbacks: Vec<Sp<String>>,
}

#[derive(Debug, Clone)]
pub struct RawRoute {
    pub route: Sp<String>,
    pub chat: Option<Sp<String>>,
    pub max_tokens: Option<Sp<i64>>,
    pub temperature: Option<Sp<f64>>,
    /// `None` when not written (the route then uses `ai.chat`'s fallbacks).
    pub fallbacks: Option<Vec<Sp<String>>>,
}

#[derive(Debug, Clone, Default)]
pub struct RawRag {
    pub span: Option<Span>,
    pub chunk_size: Option<Sp<i64>>,
    pub overlap: Option<Sp<i64>>,
    pub top_k: Option<Sp<i64>>,
    pub min_score: Option<Sp<f64>>,
    /// Hybrid search: keyword (full-text) matches next to the vector search.
    pub hybrid: Option<Sp<bool>>,
    /// The reranking model applied to the retrieved chunks.
    pub rerank: Option<Sp<String>>,
    /// The role allowed to add documents.
    pub ingest_role: Option<Sp<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct RawSessions {
    pub retention_days: Option<Sp<i64>>,
    /// The alternative to `retention_days` (at most one of them may be
    /// given); its range is checked in validation, where the help can point
    /// to `retention_days` for longer periods.
    pub retention_seconds: Option<Sp<i64>>,
    pub max_messages: Option<Sp<i64>>,
}

#[derive(Debug, Clone)]
pub struct RawRateLimit {
    pub scope: Sp<String>,
    pub limit: Option<Sp<i64>>,
    pub per: Option<Sp<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct RawCache {
    pub search_ttl: Option<Sp<i64>>,
    pub chat_ttl: Option<Sp<i64>>,
}

#[derive(Debug, Clone)]
pub struct RawTool {
    pub name: Sp<String>,
    pub roles: Vec<Sp<String>>,
    /// Milliseconds one call may take (the tool's default when absent).
    pub timeout_ms: Option<Sp<i64>>,
    /// The labels `classify-intent` chooses from; where the key was written.
    pub labels: Vec<Sp<String>>,
    pub labels_at: Option<Span>,
}

#[derive(Debug, Clone, Default)]
pub struct RawTts {
    pub span: Option<Span>,
    pub enabled: Option<Sp<bool>>,
    pub voice: Option<Sp<String>>,
    pub max_chars: Option<Sp<i64>>,
}

#[derive(Debug, Clone, Default)]
pub struct RawSafety {
    pub max_input_chars: Option<Sp<i64>>,
    pub pii_redaction: Option<Sp<bool>>,
    pub blocked_terms: Vec<Sp<String>>,
}

/// An `auth` block as written (tenant-level or in one environment).
#[derive(Debug, Clone)]
pub struct RawAuth {
    /// The `auth` key (KDL: the node name).
    pub key_span: Span,
    pub span: Span,
    pub jwt: Option<RawJwt>,
    pub access: Option<RawAccess>,
    pub api_keys: Option<RawApiKeys>,
    pub none: Option<Sp<bool>>,
    /// Something in the block could not be read (already reported): it
    /// then never counts as "no method", so one mistake gives one error.
    pub broken: bool,
}

/// `jwt`: tokens from an OpenID Connect / OAuth identity provider.
#[derive(Debug, Clone)]
pub struct RawJwt {
    /// The node name (KDL) or the opening `{` (JSON): where missing things are reported.
    pub head: Span,
    pub issuer: Option<Sp<String>>,
    pub audience: Option<Sp<String>>,
    pub jwks_url: Option<Sp<String>>,
    pub keys: Option<RawKeys>,
    /// The list's span and its entries; `None` when not written.
    pub algorithms: Option<(Span, Vec<Sp<String>>)>,
    pub user_claim: Option<Sp<String>>,
    pub roles_claim: Option<Sp<String>>,
    pub clock_skew: Option<Sp<i64>>,
    /// An error was reported inside the block (a misspelt key, say): what
    /// seems missing may just be misspelt.
    pub incomplete: bool,
}

/// `access`: Cloudflare Access application tokens.
#[derive(Debug, Clone)]
pub struct RawAccess {
    pub head: Span,
    pub team_domain: Option<Sp<String>>,
    pub audience: Option<Sp<String>>,
    pub certs_url: Option<Sp<String>>,
    pub keys: Option<RawKeys>,
}

/// `api_keys`: `true`/`false`, or an object naming the KV binding.
#[derive(Debug, Clone)]
pub struct RawApiKeys {
    pub span: Span,
    pub enabled: bool,
    pub kv: Option<Sp<String>>,
}

/// Inline public keys (KDL: `key` nodes; JSON: the `keys` list).
#[derive(Debug, Clone)]
pub struct RawKeys {
    pub span: Span,
    pub keys: Vec<RawJwk>,
    /// Entries written, readable or not (0: an empty list).
    pub written: usize,
}

/// One JSON Web Key as written.
#[derive(Debug, Clone)]
pub struct RawJwk {
    pub span: Span,
    pub head: Span,
    pub kid: Option<Sp<String>>,
    pub kty: Option<Sp<String>>,
    pub alg: Option<Sp<String>>,
    pub use_: Option<Sp<String>>,
    pub crv: Option<Sp<String>>,
    pub n: Option<Sp<String>>,
    pub e: Option<Sp<String>>,
    pub x: Option<Sp<String>>,
    pub y: Option<Sp<String>>,
    /// Private (or symmetric) key members that were written: always an error.
    pub private: Vec<Sp<String>>,
}

pub const TENANT_KEYS: &[&str] = &[
    "$schema",
    "id",
    "name",
    "account",
    "resolution",
    "envs",
    "ai",
    "rag",
    "sessions",
    "rate_limits",
    "cache",
    "tools",
    "tts",
    "safety",
    "secrets",
    "vars",
    "auth",
];
pub const RESOLUTION_KEYS: &[&str] = &["header"];
pub const HEADER_POLICIES: &[&str] = &["never", "dev-only", "always"];
pub const TENANT_ENV_KEYS: &[&str] = &[
    "hosts",
    "cors_origins",
    "kv",
    "vectorize",
    "analytics_engine",
    "queues",
    "vars",
    "auth",
    "ai_provider",
];
/// Fields of an environment's `ai_provider` (the union over every kind).
pub const AI_PROVIDER_KEYS: &[&str] = &["kind", "base_url", "api_key_secret", "token_secret", "model"];
/// Kinds of `ai_provider`: the Workers AI binding, AI Gateway's
/// OpenAI-compatible endpoint, any OpenAI-compatible server.
pub const AI_PROVIDER_KINDS: &[&str] = &["workers-ai", "gateway", "openai-compatible"];
pub const KV_KEYS: &[&str] = &["id"];
pub const VECTORIZE_KEYS: &[&str] = &["index", "namespace"];
pub const ANALYTICS_KEYS: &[&str] = &["dataset"];
pub const QUEUE_KEYS: &[&str] = &["name"];
pub const AI_KEYS: &[&str] = &[
    "gateway",
    "chat",
    "embedding",
    "tts",
    "routes",
    "budget",
    "timeout_ms",
    "retries",
    "tool_steps",
];
pub const CHAT_KEYS: &[&str] = &["model", "max_tokens", "temperature", "fallbacks"];
pub const MODEL_REF_KEYS: &[&str] = &["model"];
pub const ROUTE_KEYS: &[&str] = &["chat", "max_tokens", "temperature", "fallbacks"];
pub const BUDGET_KEYS: &[&str] = &["tokens_per_day", "user_tokens_per_day"];
pub const RAG_KEYS: &[&str] = &["chunk_size", "overlap", "top_k", "min_score", "hybrid", "rerank", "ingest_role"];
pub const SESSIONS_KEYS: &[&str] = &["retention_days", "retention_seconds", "max_messages"];
/// The range of `sessions.retention_days` (the decoder checks it).
pub const RETENTION_DAYS: std::ops::RangeInclusive<i64> = 1..=3650;
/// The range of `sessions.retention_seconds`, a minute to 365 days (checked
/// in validation, whose help points to `retention_days` for longer periods).
pub const RETENTION_SECONDS: std::ops::RangeInclusive<i64> = 60..=31_536_000;
pub const RATE_LIMIT_SCOPES: &[&str] = &["tenant", "user", "ip"];
pub const RATE_LIMIT_KEYS: &[&str] = &["limit", "per"];
pub const WINDOWS: &[&str] = &["second", "minute", "hour", "day"];
pub const CACHE_KEYS: &[&str] = &["search_ttl", "chat_ttl"];
pub const TOOL_KEYS: &[&str] = &["roles", "timeout_ms", "labels"];
pub const TTS_KEYS: &[&str] = &["enabled", "voice", "max_chars"];
pub const SAFETY_KEYS: &[&str] = &["max_input_chars", "pii_redaction", "blocked_terms"];
pub const AUTH_KEYS: &[&str] = &["jwt", "access", "api_keys", "none"];
pub const JWT_KEYS: &[&str] = &[
    "issuer",
    "audience",
    "jwks_url",
    "keys",
    "algorithms",
    "user_claim",
    "roles_claim",
    "clock_skew",
];
pub const ACCESS_KEYS: &[&str] = &["team_domain", "audience", "certs_url", "keys"];
pub const API_KEYS_KEYS: &[&str] = &["kv"];
/// Members of an inline public JSON Web Key.
pub const JWK_KEYS: &[&str] = &["kid", "kty", "alg", "use", "crv", "n", "e", "x", "y"];
/// Members that only private or symmetric keys have (RFC 7518 §6): never
/// accepted, always reported as a leaked key.
pub const JWK_PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
/// JWS algorithms a tenant may accept.
pub const JWT_ALGORITHMS: &[&str] = &["RS256", "ES256", "EdDSA"];
pub const KEY_TYPES: &[&str] = &["RSA", "EC", "OKP"];
pub const CURVES: &[&str] = &["P-256", "Ed25519"];
pub const KEY_USES: &[&str] = &["sig"];
/// Seconds of clock skew tolerated on `exp`/`nbf`/`iat`.
pub const CLOCK_SKEW: std::ops::RangeInclusive<i64> = 0..=600;
/// Routes of the Worker whose model calls a `route` override sets (`/tts`
/// speaks with `ai tts`, so it takes none).
pub const ROUTES: &[&str] = &["chat", "search", "tools"];

pub const MAX_TOKENS: std::ops::RangeInclusive<i64> = 1..=131_072;
pub const TEMPERATURE: std::ops::RangeInclusive<f64> = 0.0..=2.0;
/// Tokens per UTC day (tenant and per-user budgets).
pub const TOKENS_PER_DAY: std::ops::RangeInclusive<i64> = 1..=1_000_000_000_000;
/// Milliseconds one model call may take.
pub const TIMEOUT_MS: std::ops::RangeInclusive<i64> = 1_000..=300_000;
/// Further attempts of a failed model call.
pub const RETRIES: std::ops::RangeInclusive<i64> = 0..=5;
/// Model turns with tool calls in one chat request.
pub const TOOL_STEPS: std::ops::RangeInclusive<i64> = 1..=16;
/// Milliseconds one tool call may take.
pub const TOOL_TIMEOUT_MS: std::ops::RangeInclusive<i64> = 100..=120_000;

fn vars(d: &mut Decoder<'_>, o: &Obj<'_>) -> Vec<(Sp<String>, Sp<String>)> {
    let mut out = Vec::new();
    for e in d.map(o, "vars") {
        match &e.value.kind {
            // Already reported by the front end (a KDL `var NAME` without a value).
            Kind::Invalid => {}
            Kind::Str(s) => out.push((Sp::new(e.key.to_string(), e.key_span), Sp::new(s.clone(), e.value.span))),
            other => d.push(
                crate::diag::Diagnostic::error(
                    "schema::type",
                    format!("var `{}` must be a string, found {}", e.key, other.type_name()),
                    e.value.span,
                    "expected a string",
                )
                .with_help("vars are strings; write numbers and booleans in quotes"),
            ),
        }
    }
    out
}

fn model_ref(d: &mut Decoder<'_>, o: &Obj<'_>, key: &str) -> Option<Sp<String>> {
    let e = o.get(key)?;
    match &e.value.kind {
        Kind::Str(s) => Some(Sp::new(s.clone(), e.value.span)),
        _ => {
            let mo = d.object(&e.value, key, format!("the {} model", d.disp(key)), MODEL_REF_KEYS)?;
            d.req_string(&mo, "model", "the Workers AI model id, e.g. \"@cf/baai/bge-base-en-v1.5\"")
        }
    }
}

/// Decode the tenant's `ai` object: models, routes, budget, call limits.
fn decode_ai(d: &mut Decoder<'_>, e: &Entry) -> Option<RawAi> {
    let ao = d.object(&e.value, "ai", "`ai`", AI_KEYS)?;
    let chat = match ao.get("chat") {
        None => {
            d.missing(&ao, "chat", "the chat model, e.g. \"@cf/meta/llama-3.1-8b-instruct\"");
            None
        }
        Some(ce) => match &ce.value.kind {
            Kind::Str(s) => Some(RawChat {
                model: Some(Sp::new(s.clone(), ce.value.span)),
                max_tokens: None,
                temperature: None,
                fallbacks: vec![],
            }),
            _ => d.object(&ce.value, "chat", "`chat`", CHAT_KEYS).map(|co| RawChat {
                model: d.req_string(&co, "model", "the Workers AI model id"),
                max_tokens: d.int(&co, "max_tokens", MAX_TOKENS),
                temperature: d.number(&co, "temperature", TEMPERATURE),
                fallbacks: d.string_list(&co, "fallbacks"),
            }),
        },
    };
    let mut routes = Vec::new();
    for r in d.map(&ao, "routes") {
        let Some(ro) = d.object(&r.value, "routes", What::Named("route", &r.key), ROUTE_KEYS) else {
            continue;
        };
        routes.push(RawRoute {
            route: Sp::new(r.key.to_string(), r.key_span),
            chat: d.string(&ro, "chat"),
            max_tokens: d.int(&ro, "max_tokens", MAX_TOKENS),
            temperature: d.number(&ro, "temperature", TEMPERATURE),
            fallbacks: ro.get("fallbacks").is_some().then(|| d.string_list(&ro, "fallbacks")),
        });
    }
    let budget = ao.get("budget").and_then(|b| d.object(&b.value, "budget", "`budget`", BUDGET_KEYS));
    let (tokens_per_day, user_tokens_per_day) = match budget {
        Some(bo) => (
            d.int(&bo, "tokens_per_day", TOKENS_PER_DAY),
            d.int(&bo, "user_tokens_per_day", TOKENS_PER_DAY),
        ),
        None => (None, None),
    };
    Some(RawAi {
        span: e.value.span,
        gateway: d.string(&ao, "gateway"),
        chat,
        embedding: model_ref(d, &ao, "embedding"),
        tts: model_ref(d, &ao, "tts"),
        routes,
        tokens_per_day,
        user_tokens_per_day,
        timeout_ms: d.int(&ao, "timeout_ms", TIMEOUT_MS),
        retries: d.int(&ao, "retries", RETRIES),
        tool_steps: d.int(&ao, "tool_steps", TOOL_STEPS),
    })
}

/// Decode an environment's `ai_provider`. Only the shape is checked here
/// (plus `base_url`, which `openai-compatible` requires); which fields a
/// kind takes, and their values, are validation's (`validate/ai.rs`).
fn decode_ai_provider(d: &mut Decoder<'_>, e: &Entry, env: &str) -> Option<RawAiProvider> {
    let po = d.object(&e.value, "ai_provider", What::InEnv("ai_provider", env), AI_PROVIDER_KEYS)?;
    let kind = d.req_string(
        &po,
        "kind",
        &format!("how this environment reaches its models: one of {}", AI_PROVIDER_KINDS.join(", ")),
    );
    if kind.as_ref().is_some_and(|k| k.value == "openai-compatible") && po.get("base_url").is_none() {
        d.missing(
            &po,
            "base_url",
            "the server's OpenAI-compatible API root, e.g. \"http://127.0.0.1:11434/v1\" (Ollama)",
        );
    }
    Some(RawAiProvider {
        head: po.head(),
        kind,
        base_url: d.string(&po, "base_url"),
        api_key_secret: d.string(&po, "api_key_secret"),
        token_secret: d.string(&po, "token_secret"),
        model: d.string(&po, "model"),
    })
}

/// The object names used in messages: "`jwt`", or "`jwt` of environment `dev`".
fn auth_what<'a>(key: &'static str, env: Option<&'a str>) -> What<'a> {
    match env {
        Some(e) => What::InEnv(key, e),
        None => What::Key(key),
    }
}

/// Decode an `auth` entry (tenant-level when `env` is `None`).
fn decode_auth(d: &mut Decoder<'_>, e: &Entry, env: Option<&str>) -> RawAuth {
    let mut auth = RawAuth {
        key_span: e.key_span,
        span: e.value.span,
        jwt: None,
        access: None,
        api_keys: None,
        none: None,
        broken: false,
    };
    let Some(ao) = d.object(&e.value, "auth", auth_what("auth", env), AUTH_KEYS) else {
        auth.broken = true;
        return auth;
    };
    if let Some(je) = ao.get("jwt") {
        auth.jwt = d.object(&je.value, "jwt", auth_what("jwt", env), JWT_KEYS).map(|jo| {
            // Kept only when every entry could be read (errors are reported already).
            let algorithms = jo.get("algorithms").and_then(|a| {
                let list = d.string_list_value(&a.value, "algorithms");
                let whole = match &a.value.kind {
                    Kind::Array(items) => items.len() == list.len(),
                    Kind::Str(_) => !list.is_empty(),
                    _ => false,
                };
                whole.then_some((a.value.span, list))
            });
            RawJwt {
                head: jo.head(),
                issuer: d.req_string(
                    &jo,
                    "issuer",
                    "the `iss` your identity provider puts in its tokens, e.g. \"https://login.acme.example.com/\"",
                ),
                audience: d.req_string(
                    &jo,
                    "audience",
                    "the `aud` tokens for this tenant carry, e.g. the API identifier or client id",
                ),
                jwks_url: d.string(&jo, "jwks_url"),
                keys: decode_keys(d, &jo, "jwt", env),
                algorithms,
                user_claim: d.string(&jo, "user_claim"),
                roles_claim: d.string(&jo, "roles_claim"),
                clock_skew: d.int(&jo, "clock_skew", CLOCK_SKEW),
                incomplete: d.errors_within(je.value.span),
            }
        });
        auth.broken |= auth.jwt.is_none();
    }
    if let Some(ae) = ao.get("access") {
        auth.access = d
            .object(&ae.value, "access", auth_what("access", env), ACCESS_KEYS)
            .map(|xo| RawAccess {
                head: xo.head(),
                team_domain: d.req_string(
                    &xo,
                    "team_domain",
                    "your Zero Trust team domain, e.g. \"acme.cloudflareaccess.com\"",
                ),
                audience: d.req_string(
                    &xo,
                    "audience",
                    "the Access application's Application Audience (AUD) tag: 64 hex characters from the application's Overview page",
                ),
                certs_url: d.string(&xo, "certs_url"),
                keys: decode_keys(d, &xo, "access", env),
            });
        auth.broken |= auth.access.is_none();
    }
    // From the key to the end of the value: `api-keys #true`, `"none": true`.
    let whole = |e: &Entry| Span {
        start: e.key_span.start.min(e.value.span.start),
        end: e.value.span.end.max(e.key_span.end),
        ..e.value.span
    };
    if let Some(ke) = ao.get("api_keys") {
        match &ke.value.kind {
            Kind::Bool(b) => {
                auth.api_keys = Some(RawApiKeys {
                    span: whole(ke),
                    enabled: *b,
                    kv: None,
                })
            }
            Kind::Object(_) => {
                auth.api_keys = d
                    .object(&ke.value, "api_keys", auth_what("api_keys", env), API_KEYS_KEYS)
                    .map(|ko| RawApiKeys {
                        span: whole(ke),
                        enabled: true,
                        kv: d.string(&ko, "kv"),
                    });
            }
            Kind::Invalid => {}
            other => {
                let name = d.disp("api_keys");
                let example = match d.format {
                    crate::source::Format::Kdl => "`api-keys #true` or `api-keys kv=\"CACHE\"`",
                    _ => "`\"api_keys\": true` or `\"api_keys\": { \"kv\": \"CACHE\" }`",
                };
                d.push(
                    crate::diag::Diagnostic::error(
                        "schema::type",
                        format!("`{name}` must be a boolean or an object, found {}", other.type_name()),
                        ke.value.span,
                        "expected a boolean or an object",
                    )
                    .with_help(format!("write {example}")),
                );
            }
        }
        auth.broken |= auth.api_keys.is_none();
    }
    if let Some(ne) = ao.get("none") {
        auth.none = d.boolean(&ao, "none").map(|b| Sp::new(b.value, whole(ne)));
        auth.broken |= auth.none.is_none();
    }
    auth.broken |= d.errors_within(e.value.span);
    auth
}

/// Inline keys of `jwt` or `access`: a list of JWK objects.
fn decode_keys(d: &mut Decoder<'_>, o: &Obj<'_>, owner: &str, env: Option<&str>) -> Option<RawKeys> {
    let e = o.get("keys")?;
    let items = match &e.value.kind {
        Kind::Array(items) => items,
        Kind::Invalid => return None,
        other => {
            d.push(crate::diag::Diagnostic::error(
                "schema::type",
                format!("`{}` must be a list of keys, found {}", d.disp("keys"), other.type_name()),
                e.value.span,
                "expected a list",
            ));
            return None;
        }
    };
    let mut keys = Vec::new();
    for (i, item) in items.iter().enumerate() {
        // Private members are taken out before the shape check: they get
        // their own error (a leaked key), not "unknown key".
        let mut private = Vec::new();
        let public = match &item.kind {
            Kind::Object(entries) => {
                let (secret, rest): (Vec<&Entry>, Vec<&Entry>) = entries.iter().partition(|x| JWK_PRIVATE_MEMBERS.contains(&&*x.key));
                private = secret.iter().map(|x| Sp::new(x.key.to_string(), x.key_span)).collect();
                Value {
                    span: item.span,
                    kind: Kind::Object(rest.into_iter().cloned().collect()),
                }
            }
            _ => item.clone(),
        };
        let what = match env {
            Some(env) => format!("key {} of `{}` (environment `{env}`)", i + 1, d.disp(owner)),
            None => format!("key {} of `{}`", i + 1, d.disp(owner)),
        };
        let Some(ko) = d.object(&public, "keys", what, JWK_KEYS) else {
            continue;
        };
        keys.push(RawJwk {
            span: item.span,
            head: ko.head(),
            kid: d.req_string(
                &ko,
                "kid",
                "a key id, unique in this list: tokens name their key in the `kid` header",
            ),
            kty: d.req_string(&ko, "kty", "the key type: RSA, EC (P-256) or OKP (Ed25519)"),
            alg: d.string(&ko, "alg"),
            use_: d.string(&ko, "use"),
            crv: d.string(&ko, "crv"),
            n: d.string(&ko, "n"),
            e: d.string(&ko, "e"),
            x: d.string(&ko, "x"),
            y: d.string(&ko, "y"),
            private,
        });
    }
    Some(RawKeys {
        span: e.value.span,
        keys,
        written: items.len(),
    })
}

/// Boxed: a raw tenant is about 2 KB, moved from decoding to validation to
/// the cross-file facts; a box moves as a pointer.
pub fn decode_tenant(d: &mut Decoder<'_>, file: FileId, v: &Value) -> Option<Box<RawTenant>> {
    let o = d.object(v, "tenant", "the tenant", TENANT_KEYS)?;
    d.schema_key(&o);
    let id = d.req_string(
        &o,
        "id",
        "the tenant id: lowercase letters, digits and dashes, the same as the file name",
    );
    let name = d.req_string(&o, "name", "the tenant's display name, e.g. \"Acme Corp\"");
    let account = d.req_string(&o, "account", "a key of the accounts file (tenants/accounts.*)");
    let header_policy = match o.get("resolution") {
        Some(e) => d
            .object(&e.value, "resolution", "`resolution`", RESOLUTION_KEYS)
            .and_then(|ro| d.choice(&ro, "header", HEADER_POLICIES)),
        None => None,
    };
    let envs = decode_envs(d, &o);
    let ai = match o.get("ai") {
        None => {
            d.missing(&o, "ai", "every tenant needs at least a chat model");
            None
        }
        Some(e) => decode_ai(d, e),
    };
    let rag = decode_rag(d, &o);
    let sessions = decode_sessions(d, &o);
    let rate_limits = decode_rate_limits(d, &o);
    let cache = decode_cache(d, &o);
    let tools = decode_tools(d, &o);
    let tts = decode_tts(d, &o);
    let safety = decode_safety(d, &o);
    let secrets = d.string_list(&o, "secrets");
    let vars = vars(d, &o);
    let auth = o.get("auth").map(|a| decode_auth(d, a, None));
    Some(Box::new(RawTenant {
        file,
        span: v.span,
        id,
        name,
        account,
        header_policy,
        envs,
        envs_span: o.get("envs").map(|e| e.key_span),
        ai,
        rag,
        sessions,
        rate_limits,
        cache,
        tools,
        tts,
        safety,
        secrets,
        vars,
        auth,
    }))
}

/// `envs`: one entry per environment, with its hosts, origins, resources,
/// vars, auth and AI provider.
fn decode_envs(d: &mut Decoder<'_>, o: &Obj<'_>) -> Vec<RawTenantEnv> {
    let mut envs = Vec::new();
    if o.get("envs").is_none() {
        d.missing(
            o,
            "envs",
            "declare every environment of the platform file, each with its hosts and binding resources",
        );
    }
    for e in d.map(o, "envs") {
        if TENANT_ENV_KEYS.contains(&&*e.key) {
            // `"envs": { "vars": … }`: a setting of an environment written
            // where an environment belongs.
            let name = d.disp(&e.key);
            let help = match d.format {
                crate::source::Format::Kdl => format!("`{name}` belongs inside an `env \"<name>\" {{ … }}` block"),
                _ => format!(
                    "`{name}` belongs inside an environment: `\"envs\": {{ \"dev\": {{ \"{}\": … }} }}`",
                    e.key
                ),
            };
            let help = if e.key == "vars" || e.key == "auth" {
                format!("{help}, or at the top level of the tenant for every environment")
            } else {
                help
            };
            d.push(
                crate::diag::Diagnostic::error(
                    "schema::unknown-key",
                    format!("`{name}` is not an environment"),
                    e.key_span,
                    "an environment setting, not an environment",
                )
                .with_help(help),
            );
            continue;
        }
        let Some(eo) = d.object(&e.value, "envs", What::Named("env", &e.key), TENANT_ENV_KEYS) else {
            continue;
        };
        let before = d.diags.error_count();
        let hosts = d.string_list(&eo, "hosts");
        let hosts_invalid = d.diags.error_count() > before;
        let cors_origins = d.string_list(&eo, "cors_origins");
        let resources = decode_resources(d, &eo);
        let auth = eo.get("auth").map(|a| decode_auth(d, a, Some(&e.key)));
        let ai_provider = eo.get("ai_provider").and_then(|p| decode_ai_provider(d, p, &e.key));
        envs.push(RawTenantEnv {
            name: Sp::new(e.key.to_string(), e.key_span),
            span: e.value.span,
            hosts,
            hosts_invalid,
            cors_origins,
            resources,
            vars: vars(d, &eo),
            auth,
            ai_provider,
        });
    }
    envs
}

/// The binding resources of one environment (`kv`, `vectorize`,
/// `analytics_engine`, `queues`), in that order.
fn decode_resources(d: &mut Decoder<'_>, eo: &Obj<'_>) -> Vec<RawResource> {
    let mut resources = Vec::new();
    for (kind, keys) in [
        ("kv", KV_KEYS),
        ("vectorize", VECTORIZE_KEYS),
        ("analytics_engine", ANALYTICS_KEYS),
        ("queues", QUEUE_KEYS),
    ] {
        for r in d.map(eo, kind) {
            let ro = d.object(&r.value, kind, What::Resource(kind, &r.key), keys);
            let mut res = RawResource {
                kind,
                binding: Sp::new(r.key.to_string(), r.key_span),
                span: r.value.span,
                id: None,
                index: None,
                namespace: None,
                dataset: None,
                name: None,
            };
            // An entry that is not an object (reported) still counts as
            // given: no "missing resource" on top of the type error.
            let Some(ro) = ro else {
                resources.push(res);
                continue;
            };
            match kind {
                "kv" => {
                    res.id = d.req_string(
                        &ro,
                        "id",
                        "the KV namespace id (32 hex characters), from `wrangler kv namespace create`",
                    )
                }
                "vectorize" => {
                    res.index = d.req_string(&ro, "index", "the Vectorize index name, from `wrangler vectorize create`");
                    res.namespace = d.string(&ro, "namespace");
                }
                "queues" => {
                    res.name = d.req_string(
                        &ro,
                        "name",
                        "the queue's name, from `wrangler queues create` (lowercase letters, digits and dashes)",
                    )
                }
                _ => res.dataset = d.req_string(&ro, "dataset", "the Analytics Engine dataset name"),
            }
            resources.push(res);
        }
    }
    resources
}

fn decode_rag(d: &mut Decoder<'_>, o: &Obj<'_>) -> RawRag {
    match o.get("rag") {
        None => RawRag::default(),
        Some(e) => match d.object(&e.value, "rag", "`rag`", RAG_KEYS) {
            None => RawRag::default(),
            Some(ro) => RawRag {
                span: Some(e.value.span),
                chunk_size: d.int(&ro, "chunk_size", 64..=8192),
                overlap: d.int(&ro, "overlap", 0..=4096),
                top_k: d.int(&ro, "top_k", 1..=50),
                min_score: d.number(&ro, "min_score", 0.0..=1.0),
                hybrid: d.boolean(&ro, "hybrid"),
                rerank: d.string(&ro, "rerank"),
                ingest_role: d.string(&ro, "ingest_role"),
            },
        },
    }
}

fn decode_sessions(d: &mut Decoder<'_>, o: &Obj<'_>) -> RawSessions {
    match o
        .get("sessions")
        .and_then(|e| d.object(&e.value, "sessions", "`sessions`", SESSIONS_KEYS))
    {
        None => RawSessions::default(),
        Some(so) => RawSessions {
            retention_days: d.int(&so, "retention_days", RETENTION_DAYS),
            retention_seconds: d.int_checked_later(&so, "retention_seconds", RETENTION_SECONDS),
            max_messages: d.int(&so, "max_messages", 1..=10_000),
        },
    }
}

fn decode_rate_limits(d: &mut Decoder<'_>, o: &Obj<'_>) -> Vec<RawRateLimit> {
    let mut rate_limits = Vec::new();
    if let Some(ro) = o
        .get("rate_limits")
        .and_then(|e| d.object(&e.value, "rate_limits", "`rate_limits`", RATE_LIMIT_SCOPES))
    {
        for scope in RATE_LIMIT_SCOPES {
            let Some(se) = ro.get(scope) else { continue };
            let scope_sp = Sp::new(scope.to_string(), se.key_span);
            match &se.value.kind {
                Kind::Int(_) => rate_limits.push(RawRateLimit {
                    scope: scope_sp,
                    limit: d.int_value(&se.value, "limit", 1..=1_000_000),
                    per: None,
                }),
                _ => {
                    if let Some(so) = d.object(&se.value, scope, format!("rate limit `{scope}`"), RATE_LIMIT_KEYS) {
                        let limit = if so.get("limit").is_none() {
                            d.missing(&so, "limit", "the number of requests allowed per window");
                            None
                        } else {
                            d.int(&so, "limit", 1..=1_000_000)
                        };
                        rate_limits.push(RawRateLimit {
                            scope: scope_sp,
                            limit,
                            per: d.choice(&so, "per", WINDOWS),
                        });
                    }
                }
            }
        }
    }
    rate_limits
}

fn decode_cache(d: &mut Decoder<'_>, o: &Obj<'_>) -> RawCache {
    match o.get("cache").and_then(|e| d.object(&e.value, "cache", "`cache`", CACHE_KEYS)) {
        None => RawCache::default(),
        Some(co) => RawCache {
            search_ttl: d.int(&co, "search_ttl", 0..=604_800),
            chat_ttl: d.int(&co, "chat_ttl", 0..=604_800),
        },
    }
}

fn decode_tools(d: &mut Decoder<'_>, o: &Obj<'_>) -> Vec<RawTool> {
    let mut tools = Vec::new();
    for t in d.map(o, "tools") {
        let mut tool = RawTool {
            name: Sp::new(t.key.to_string(), t.key_span),
            roles: vec![],
            timeout_ms: None,
            labels: vec![],
            labels_at: None,
        };
        if let Some(to) = d.object(&t.value, "tools", What::Named("tool", &t.key), TOOL_KEYS) {
            tool.roles = d.string_list(&to, "roles");
            tool.timeout_ms = d.int(&to, "timeout_ms", TOOL_TIMEOUT_MS);
            tool.labels_at = to.get("labels").map(|e| e.key_span);
            tool.labels = d.string_list(&to, "labels");
        }
        tools.push(tool);
    }
    tools
}

fn decode_tts(d: &mut Decoder<'_>, o: &Obj<'_>) -> RawTts {
    match o.get("tts") {
        None => RawTts::default(),
        Some(e) => match d.object(&e.value, "tts", "`tts`", TTS_KEYS) {
            None => RawTts::default(),
            Some(to) => RawTts {
                span: Some(e.value.span),
                enabled: d.boolean(&to, "enabled"),
                voice: d.string(&to, "voice"),
                max_chars: d.int(&to, "max_chars", 1..=20_000),
            },
        },
    }
}

fn decode_safety(d: &mut Decoder<'_>, o: &Obj<'_>) -> RawSafety {
    match o.get("safety").and_then(|e| d.object(&e.value, "safety", "`safety`", SAFETY_KEYS)) {
        None => RawSafety::default(),
        Some(so) => RawSafety {
            max_input_chars: d.int(&so, "max_input_chars", 1..=200_000),
            pii_redaction: d.boolean(&so, "pii_redaction"),
            blocked_terms: d.string_list(&so, "blocked_terms"),
        },
    }
}
