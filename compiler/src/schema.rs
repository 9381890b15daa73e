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

// ------------------------------------------------------------------ tenant

/// A tenant of the AI platform: its hosts and resources per environment, models, limits and features.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Tenant", example = tenant_example())]
pub struct TenantDoc {
    /// Path or URL of this schema, for editors.
    #[serde(rename = "$schema", default)]
    pub schema: Option<String>,
    /// Tenant id: lowercase letters, digits and single dashes; must equal the file name.
    #[schemars(pattern(SLUG), example = &"acme")]
    pub id: String,
    /// Display name.
    #[schemars(length(min = 1, max = 200), example = &"Acme Corp")]
    pub name: String,
    /// Key of the Cloudflare account in the accounts file.
    #[schemars(pattern(SLUG), example = &"acme")]
    pub account: String,
    /// When the `x-tenant-id` header may select this tenant.
    #[serde(default)]
    pub resolution: Option<Resolution>,
    /// Settings per environment; every environment of the platform file must be present.
    #[schemars(extend("propertyNames" = {"pattern": SLUG}))]
    pub envs: BTreeMap<String, TenantEnv>,
    pub ai: Ai,
    #[serde(default)]
    pub rag: Option<Rag>,
    #[serde(default)]
    pub sessions: Option<Sessions>,
    #[serde(default)]
    pub rate_limits: Option<RateLimits>,
    #[serde(default)]
    pub cache: Option<Cache>,
    /// Tools this tenant may use (names from the platform file), with the roles allowed to call each.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": SLUG}))]
    pub tools: Option<BTreeMap<String, Option<Tool>>>,
    #[serde(default)]
    pub tts: Option<Tts>,
    #[serde(default)]
    pub safety: Option<Safety>,
    /// NAMES of the secrets this tenant's Worker needs (values are set with `wrangler secret put`, never here).
    #[serde(default)]
    #[schemars(inner(pattern(UPPER)), example = vec!["GATEWAY_TOKEN"])]
    pub secrets: Option<Vec<String>>,
    /// Plain-text vars for every environment (an environment's `vars` override them).
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": UPPER}))]
    pub vars: Option<BTreeMap<String, String>>,
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

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// `never`: hosts only (default). `dev-only`: the header is honoured in development environments. `always`: honoured everywhere.
    #[serde(default)]
    pub header: Option<HeaderPolicy>,
}

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
    /// Hostnames routed to this tenant: exact (`acme.example.com`) or wildcard (`*.acme.example.com`), lowercase, punycode for IDNs.
    #[schemars(length(min = 1), inner(pattern(HOST), length(max = 253)), example = vec!["acme.example.com", "*.acme.example.com"])]
    pub hosts: Vec<String>,
    /// KV namespace per KV binding of the platform.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": UPPER}))]
    pub kv: Option<BTreeMap<String, KvResource>>,
    /// Vectorize index (and namespace) per Vectorize binding.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": UPPER}))]
    pub vectorize: Option<BTreeMap<String, VectorizeResource>>,
    /// Analytics Engine dataset per analytics binding (defaults to the platform's dataset).
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": UPPER}))]
    pub analytics_engine: Option<BTreeMap<String, AnalyticsResource>>,
    /// Vars for this environment, over the tenant's `vars`.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": UPPER}))]
    pub vars: Option<BTreeMap<String, String>>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvResource {
    /// KV namespace id, as printed by `wrangler kv namespace create`.
    #[schemars(pattern(HEX32), example = &"0f2ac74b498b48028cb68387c421e279")]
    pub id: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VectorizeResource {
    /// Vectorize index name.
    #[schemars(pattern(r"^[a-z0-9][a-z0-9-]{0,31}$"), example = &"acme-docs")]
    pub index: String,
    /// Namespace inside the index; defaults to the tenant id.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub namespace: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsResource {
    #[schemars(pattern(r"^[A-Za-z0-9_]{1,64}$"))]
    pub dataset: String,
}

/// Models and budget. Model ids come from the Workers AI catalog or the platform's `models`.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ai {
    /// AI Gateway id requests go through.
    #[serde(default)]
    #[schemars(pattern(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,63}$"), example = &"acme-gw")]
    pub gateway: Option<String>,
    /// Chat (text-generation) model: an id, or an object with limits.
    pub chat: ChatRef,
    /// Embedding model; its dimensions must equal each Vectorize binding's.
    #[serde(default)]
    pub embedding: Option<ModelRef>,
    /// Text-to-speech model.
    #[serde(default)]
    pub tts: Option<ModelRef>,
    /// Per-route overrides of the chat model (routes: chat, search, tools, tts).
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"enum": ["chat", "search", "tools", "tts"]}))]
    pub routes: Option<BTreeMap<String, RouteOverride>>,
    #[serde(default)]
    pub budget: Option<Budget>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ChatRef {
    Id(#[schemars(pattern(MODEL_ID))] String),
    Full(Chat),
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Chat {
    #[schemars(pattern(MODEL_ID), example = &"@cf/meta/llama-3.1-8b-instruct")]
    pub model: String,
    /// Maximum tokens generated per answer (default 1024).
    #[serde(default)]
    #[schemars(range(min = 1, max = 131072))]
    pub max_tokens: Option<u32>,
    /// Sampling temperature (default 0.7).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f64>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ModelRef {
    Id(#[schemars(pattern(MODEL_ID))] String),
    Full(ModelOnly),
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelOnly {
    #[schemars(pattern(MODEL_ID))]
    pub model: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteOverride {
    /// Chat model for this route (defaults to `ai.chat`).
    #[serde(default)]
    #[schemars(pattern(MODEL_ID))]
    pub chat: Option<String>,
    #[serde(default)]
    #[schemars(range(min = 1, max = 131072))]
    pub max_tokens: Option<u32>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Tokens per UTC day across all routes; unlimited when absent.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1_000_000_000_000u64), example = 2_000_000)]
    pub tokens_per_day: Option<u64>,
}

/// Retrieval settings (defaults: 800 / 100 / 5 / 0.5).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rag {
    #[serde(default)]
    #[schemars(range(min = 64, max = 8192))]
    pub chunk_size: Option<u32>,
    /// Characters shared by consecutive chunks; smaller than `chunk_size`.
    #[serde(default)]
    #[schemars(range(min = 0, max = 4096))]
    pub overlap: Option<u32>,
    #[serde(default)]
    #[schemars(range(min = 1, max = 50))]
    pub top_k: Option<u32>,
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_score: Option<f64>,
}

/// Chat sessions (defaults: 30 days, 200 messages).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sessions {
    #[serde(default)]
    #[schemars(range(min = 1, max = 3650))]
    pub retention_days: Option<u32>,
    #[serde(default)]
    #[schemars(range(min = 1, max = 10000))]
    pub max_messages: Option<u32>,
}

/// Requests allowed per window, per tenant, per user and per client IP (defaults: 1000, 60, 120 per minute).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    #[serde(default)]
    pub tenant: Option<RateLimit>,
    #[serde(default)]
    pub user: Option<RateLimit>,
    #[serde(default)]
    pub ip: Option<RateLimit>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RateLimit {
    /// Requests per minute.
    PerMinute(#[schemars(range(min = 1, max = 1_000_000))] u32),
    Full(RateLimitFull),
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitFull {
    #[schemars(range(min = 1, max = 1_000_000))]
    pub limit: u32,
    /// Window (default minute).
    #[serde(default)]
    pub per: Option<Window>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    Second,
    Minute,
    Hour,
    Day,
}

/// Cache TTLs in seconds (0 disables).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    #[serde(default)]
    #[schemars(range(min = 0, max = 604800))]
    pub search_ttl: Option<u32>,
    #[serde(default)]
    #[schemars(range(min = 0, max = 604800))]
    pub chat_ttl: Option<u32>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// Roles allowed to call the tool; empty or absent: every authenticated user.
    #[serde(default)]
    #[schemars(inner(pattern(SLUG)))]
    pub roles: Option<Vec<String>>,
}

/// Text-to-speech (`ai.tts` names the model).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tts {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub voice: Option<String>,
    #[serde(default)]
    #[schemars(range(min = 1, max = 20000))]
    pub max_chars: Option<u32>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Safety {
    /// Longest user message accepted (default 8000).
    #[serde(default)]
    #[schemars(range(min = 1, max = 200000))]
    pub max_input_chars: Option<u32>,
    /// Redact e-mail addresses and phone numbers before they reach a model.
    #[serde(default)]
    pub pii_redaction: Option<bool>,
    /// Terms that make a request be refused.
    #[serde(default)]
    pub blocked_terms: Option<Vec<String>>,
}

// ------------------------------------------------------------------ platform

/// The platform file: the Worker, its environments, the bindings it needs, tools and custom models.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Platform")]
pub struct PlatformDoc {
    #[serde(rename = "$schema", default)]
    pub schema: Option<String>,
    /// Worker name; scripts are deployed as `<worker>-<tenant>-<env>`.
    #[schemars(pattern(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,39}$"), example = &"ai-platform")]
    pub worker: String,
    #[schemars(pattern(DATE), example = &"2026-11-01")]
    pub compatibility_date: String,
    #[serde(default)]
    #[schemars(inner(pattern(r"^[a-z0-9_]+$")))]
    pub compatibility_flags: Option<Vec<String>>,
    /// Environments every tenant configures.
    #[schemars(extend("propertyNames" = {"pattern": r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,15}$"}), extend("minProperties" = 1))]
    pub environments: BTreeMap<String, Option<EnvironmentDef>>,
    /// Bindings the Worker needs, by binding name.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": UPPER}))]
    pub bindings: Option<BTreeMap<String, BindingDef>>,
    /// Models added to the Workers AI catalog (fine-tunes, new models).
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": MODEL_ID}))]
    pub models: Option<BTreeMap<String, ModelDef>>,
    /// Tools the Worker implements, which tenants may enable.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": SLUG}))]
    pub tools: Option<BTreeMap<String, ToolDef>>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentDef {
    /// `dev-only` header resolution applies here (default: true for `dev`).
    #[serde(default)]
    pub development: Option<bool>,
    /// Deploy to workers.dev too (default: same as `development`).
    #[serde(default)]
    pub workers_dev: Option<bool>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum BindingDef {
    /// A KV namespace; each tenant supplies its namespace id per environment.
    Kv {},
    /// A Durable Object class exported by the Worker (SQLite storage).
    DurableObject {
        #[schemars(pattern(r"^[A-Z][A-Za-z0-9]{0,63}$"))]
        class: String,
    },
    /// A Vectorize index; each tenant supplies its index per environment.
    Vectorize {
        #[schemars(range(min = 1, max = 1536))]
        dimensions: u32,
        #[serde(default)]
        metric: Option<Metric>,
    },
    /// The Workers AI binding.
    Ai {},
    /// An Analytics Engine dataset (tenants may override the dataset).
    AnalyticsEngine {
        #[serde(default)]
        #[schemars(pattern(r"^[A-Za-z0-9_]{1,64}$"))]
        dataset: Option<String>,
    },
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    Cosine,
    Euclidean,
    DotProduct,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("if" = {"properties": {"task": {"const": "text-embeddings"}}, "required": ["task"]}, "then" = {"required": ["dimensions"]}))]
pub struct ModelDef {
    pub task: Task,
    /// Output vector length (required for text-embeddings).
    #[serde(default)]
    #[schemars(range(min = 1, max = 4096))]
    pub dimensions: Option<u32>,
}

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
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolDef {
    #[serde(default)]
    pub description: Option<String>,
    /// Roles a tenant may grant this tool to; empty: any.
    #[serde(default)]
    #[schemars(inner(pattern(SLUG)))]
    pub roles: Option<Vec<String>>,
}

// ------------------------------------------------------------------ accounts

/// Cloudflare accounts tenants deploy to, and the environment variable holding each account's API token.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Accounts")]
pub struct AccountsDoc {
    #[serde(rename = "$schema", default)]
    pub schema: Option<String>,
    #[schemars(extend("propertyNames" = {"pattern": SLUG}))]
    pub accounts: BTreeMap<String, AccountDef>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountDef {
    /// Cloudflare account id (32 hex characters).
    #[schemars(pattern(HEX32))]
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
            let mut v = serde_json::to_value(&schema).expect("schema serializes");
            strip_null(&mut v);
            if let Some(obj) = v.as_object_mut() {
                obj.insert(
                    "$id".into(),
                    serde_json::Value::String(format!("https://tenants-as-code.dev/schemas/{name}")),
                );
            }
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

/// Names of files in `dir` that are missing or differ from `files`.
pub fn stale_files(dir: &Path, files: &[(&str, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(name, content)| std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(content.as_str()))
        .map(|(name, _)| dir.join(name).display().to_string())
        .collect()
}

/// Write files atomically (temporary file in the same directory, then rename).
pub fn write_all(dir: &Path, files: &[(&str, String)]) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    for (name, content) in files {
        crate::write_atomic(&dir.join(name), content.as_bytes())?;
    }
    Ok(files.len())
}
