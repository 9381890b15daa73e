//! Rust code for the runtime, generated from the resolved model: the
//! `TenantId` and `EnvName` enums, static per-tenant config, and the baked,
//! fail-closed host → tenant routing table. The `tenants-macros` crate only
//! turns these tokens into its output; all logic lives here.
//!
//! Invariants:
//! - pure and deterministic: the same model gives the same tokens (phf's
//!   perfect hashes and the host tables use fixed seeds);
//! - the emitted code is plain Rust over `core` and `phf` (no allocation, no
//!   parsing, no start-up work): config is `static` data; a host lookup
//!   walks the host once (host_table.rs) and copies it into a stack buffer
//!   only when it is not already in normal form;
//! - fail-closed: a host that is not in the table of the environment asked
//!   about resolves to `None` — never to a default tenant, never to a
//!   tenant of another environment.
//!
//! The shape of the emitted code is documented in docs/generated-code.md.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

use super::host_table;
use crate::resolved::{HeaderPolicy, Model, Tenant};

/// The enum variant for a tenant or environment id: `acme-eu` → `AcmeEu`.
pub fn variant_name(id: &str) -> String {
    let mut s = String::with_capacity(id.len());
    for part in id.split('-') {
        let mut cs = part.chars();
        if let Some(c) = cs.next() {
            s.push(c.to_ascii_uppercase());
            s.extend(cs);
        }
    }
    s
}

/// Variant identifiers for ids, unique even when two ids camel-case alike
/// (`a-b1` and `a-b-1`): a clash falls back to the id with `_` for `-`.
pub fn variants(ids: &[&str]) -> Vec<Ident> {
    let names: Vec<String> = ids.iter().map(|i| variant_name(i)).collect();
    names
        .iter()
        .zip(ids)
        .map(|(n, id)| {
            let clash = names.iter().filter(|m| *m == n).count() > 1;
            if clash {
                format_ident!(
                    "{}",
                    format!("{}_", variant_name(id.split('-').next().unwrap_or(id))) + &id.replace('-', "_")
                )
            } else {
                format_ident!("{}", n)
            }
        })
        .collect()
}

fn opt_str(v: &Option<String>) -> TokenStream {
    match v {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}

fn f64_lit(v: f64) -> Literal {
    Literal::f64_unsuffixed(v)
}

/// An integer literal without a type suffix (`1024`, not `1024u32`): the
/// field types say the type, and `cargo expand` reads better.
fn n(v: impl Into<u64>) -> Literal {
    Literal::u64_unsuffixed(v.into())
}

/// A perfect-hash `phf::Map<&'static str, TenantId>` literal.
fn phf_map(entries: &[(String, &Ident)]) -> TokenStream {
    let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    let state = phf_generator::generate_hash(&keys);
    let key = n(state.key);
    let disps = state.disps.iter().map(|(a, b)| {
        let (a, b) = (n(*a), n(*b));
        quote!((#a, #b))
    });
    let ordered = state.map.iter().map(|&i| {
        let (k, v) = &entries[i];
        quote!((#k, TenantId::#v))
    });
    quote! {
        ::phf::Map {
            key: #key,
            disps: &[#(#disps),*],
            entries: &[#(#ordered),*],
        }
    }
}

/// The tokens for a whole model. `tracked` are files whose contents the
/// expansion depends on: they are `include_bytes!`-ed so that cargo
/// recompiles the invoking crate when one changes.
pub fn expand(model: &Model, tracked: &[String]) -> TokenStream {
    let tenant_ids: Vec<&str> = model.tenants.iter().map(|t| t.id.as_str()).collect();
    let tv = variants(&tenant_ids);
    let env_ids: Vec<&str> = model.platform.environments.iter().map(|e| e.name.as_str()).collect();
    let ev = variants(&env_ids);
    let tenant_id = tenant_id_tokens(&tenant_ids, &tv);
    let env_name = env_name_tokens(model, &env_ids, &ev);
    let routing = routing_tokens(model, &tv);
    let ai_types = config_types_tokens();
    let auth_types = auth_types_tokens();
    let configs = model.tenants.iter().zip(&tv).map(|(t, v)| tenant_config(model, t, v, &ev));
    let tenants = tenant_config_tokens(configs, tv.len(), ev.len());
    let env_struct = env_tokens(model);
    let prices = price_tokens(model);
    let tracked = tracked.iter().map(|p| quote!(::core::include_bytes!(#p)));
    quote! {
        #tenant_id
        #env_name
        #routing
        #ai_types
        #auth_types
        #tenants
        /// The published price of each token-priced model a tenant uses
        /// (`compiler/data/workers-ai-pricing.json`), sorted by model.
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct ModelPrice {
            pub model: &'static str,
            pub neurons_per_m_input: f64,
            pub neurons_per_m_output: f64,
            pub usd_per_m_input: f64,
            pub usd_per_m_output: f64,
        }

        /// The cost table the Worker's metrics use (docs/observability.md).
        pub static MODEL_PRICES: &[ModelPrice] = &[#(#prices),*];

        #env_struct

        // Recompile when a tenant file changes.
        #(const _: &[u8] = #tracked;)*
    }
}

/// `TenantId`: one variant per tenant, its id, parsing and config lookup.
fn tenant_id_tokens(tenant_ids: &[&str], tv: &[Ident]) -> TokenStream {
    let n_tenants = n(tv.len() as u64);
    let tenant_idx = (0..tv.len()).map(|i| n(i as u64));
    let by_id = phf_map(&tenant_ids.iter().map(|s| s.to_string()).zip(tv.iter()).collect::<Vec<_>>());
    quote! {
        /// Every tenant of `tenants/`, one variant each (`tenants-macros`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum TenantId {
            #(#tv = #tenant_idx),*
        }

        impl TenantId {
            /// Every tenant, in id order.
            pub const ALL: [TenantId; #n_tenants] = [#(TenantId::#tv),*];
            /// The tenant id as written in its file.
            pub const fn as_str(self) -> &'static str {
                TENANT_IDS[self as usize]
            }
            /// The tenant's static config (O(1): an index into [`TENANTS`]).
            pub fn config(self) -> &'static TenantConfig {
                &TENANTS[self as usize]
            }
            /// Whether `x-tenant-id` may select this tenant in `env`
            /// (its header policy × the environment).
            pub fn header_allowed(self, env: EnvName) -> bool {
                self.config().envs[env as usize].header_allowed
            }
        }

        impl ::core::fmt::Display for TenantId {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// `"nope".parse::<TenantId>()`: not a tenant of `tenants/`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct UnknownTenant;

        impl ::core::str::FromStr for TenantId {
            type Err = UnknownTenant;
            fn from_str(s: &str) -> ::core::result::Result<Self, Self::Err> {
                TENANT_BY_ID.get(s).copied().ok_or(UnknownTenant)
            }
        }

        /// Tenant ids, indexed by `TenantId as usize`.
        static TENANT_IDS: [&str; #n_tenants] = [#(#tenant_ids),*];
        /// Tenant id → `TenantId` (a perfect hash: O(1) at any size).
        static TENANT_BY_ID: ::phf::Map<&'static str, TenantId> = #by_id;
    }
}

/// `EnvName`: one variant per environment, its name, parsing and the host
/// lookup (the tables are [`routing_tokens`]).
fn env_name_tokens(model: &Model, env_ids: &[&str], ev: &[Ident]) -> TokenStream {
    let n_envs = n(ev.len() as u64);
    let env_idx = (0..ev.len()).map(|i| n(i as u64));
    let dev_flags = model.platform.environments.iter().map(|e| e.development);
    quote! {
        /// Every environment of the platform file.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum EnvName {
            #(#ev = #env_idx),*
        }

        impl EnvName {
            /// Every environment, in platform-file order.
            pub const ALL: [EnvName; #n_envs] = [#(EnvName::#ev),*];
            pub const fn as_str(self) -> &'static str {
                match self {
                    #(EnvName::#ev => #env_ids),*
                }
            }
            /// A development environment (`dev-only` header resolution applies).
            pub const fn is_development(self) -> bool {
                match self {
                    #(EnvName::#ev => #dev_flags),*
                }
            }
            /// The tenant this (normalised) host belongs to in this
            /// environment: exact match first, then the longest wildcard
            /// suffix; `None` for anything else.
            pub fn resolve_host(self, host: &str) -> ::core::option::Option<TenantId> {
                let exact = &EXACT_HOSTS[self as usize];
                let wild = &WILDCARD_HOSTS[self as usize];
                // `*.acme.example.com` matches `x.acme.example.com` and
                // deeper, never `acme.example.com` itself. One walk hashes
                // the host and every suffix after a dot, shortest first: a
                // later (longer) wildcard match replaces an earlier one.
                let lookup = |b: &[u8]| {
                    let mut wildcard = ::core::option::Option::None;
                    let whole = host_suffix_hashes(b, |start, h| {
                        if let ::core::option::Option::Some(t) = wild.get(h, &b[start..]) {
                            wildcard = ::core::option::Option::Some(t);
                        }
                    })?;
                    ::core::option::Option::Some(exact.get(whole, b).or(wildcard))
                };
                // The common case needs no copy: already lowercase, no
                // port, no trailing dot.
                if let ::core::option::Option::Some(found) = lookup(host.as_bytes()) {
                    return found;
                }
                let mut buf = [0u8; MAX_HOST_LEN];
                lookup(normalize_host(host, &mut buf)?.as_bytes()).flatten()
            }
        }

        impl ::core::fmt::Display for EnvName {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// `"qa".parse::<EnvName>()`: not an environment of the platform file.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct UnknownEnv;

        impl ::core::str::FromStr for EnvName {
            type Err = UnknownEnv;
            fn from_str(s: &str) -> ::core::result::Result<Self, Self::Err> {
                match s {
                    #(#env_ids => ::core::result::Result::Ok(EnvName::#ev),)*
                    _ => ::core::result::Result::Err(UnknownEnv),
                }
            }
        }
    }
}

/// The baked routing tables, exact hosts and wildcard bases per
/// environment (open-addressing tables, host_table.rs), and the host
/// normalisation the lookup uses.
fn routing_tokens(model: &Model, tv: &[Ident]) -> TokenStream {
    let n_envs = n(model.platform.environments.len() as u64);
    let mut exact_tables = Vec::new();
    let mut wild_tables = Vec::new();
    for env in &model.platform.environments {
        let mut exact = Vec::new();
        let mut wild = Vec::new();
        for (t, v) in model.tenants.iter().zip(tv) {
            for te in t.envs.iter().filter(|x| x.name == env.name) {
                for h in &te.hosts {
                    let h = crate::validate::rules::normalize_host(h);
                    match h.strip_prefix("*.") {
                        Some(base) => wild.push((base.to_string(), v)),
                        None => exact.push((h, v)),
                    }
                }
            }
        }
        exact.sort();
        wild.sort();
        exact_tables.push(host_table::table_tokens(&exact));
        wild_tables.push(host_table::table_tokens(&wild));
    }
    let hash = host_table::hash_tokens();
    quote! {
        /// The longest DNS name.
        pub const MAX_HOST_LEN: usize = 253;

        /// Normalise a `Host` header value for lookup, into `buf`: ASCII
        /// lowercase, port and one trailing dot removed. `None` for what can
        /// be no tenant's host: empty, too long, non-ASCII (hosts arrive in
        /// punycode), an IPv6 literal or a malformed port.
        pub fn normalize_host<'b>(host: &str, buf: &'b mut [u8; MAX_HOST_LEN]) -> ::core::option::Option<&'b str> {
            let host = match host.rsplit_once(':') {
                ::core::option::Option::Some((h, port)) if !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) => h,
                ::core::option::Option::Some(_) => return ::core::option::Option::None,
                ::core::option::Option::None => host,
            };
            let host = host.strip_suffix('.').unwrap_or(host);
            if host.is_empty() || host.len() > MAX_HOST_LEN || !host.is_ascii() {
                return ::core::option::Option::None;
            }
            let out = &mut buf[..host.len()];
            for (o, b) in out.iter_mut().zip(host.bytes()) {
                *o = b.to_ascii_lowercase();
            }
            ::core::str::from_utf8(out).ok()
        }

        /// Exact hosts per environment (index: `EnvName as usize`).
        static EXACT_HOSTS: [HostTable<TenantId>; #n_envs] = [#(#exact_tables),*];
        /// Wildcard bases (`*.acme.example.com` → `acme.example.com`) per environment.
        static WILDCARD_HOSTS: [HostTable<TenantId>; #n_envs] = [#(#wild_tables),*];

        #hash
    }
}

/// The config types of a tenant's AI, RAG, sessions, limits, cache, tools,
/// TTS and safety settings.
fn config_types_tokens() -> TokenStream {
    quote! {
        /// A tenant's header policy as written.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum HeaderPolicy { Never, DevOnly, Always }

        /// The chat settings of one route (every unset value from `ai`).
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct RouteOverride {
            pub route: &'static str,
            pub chat_model: &'static str,
            /// `chat_model`'s context window in tokens (8192 when the catalog does not know it).
            pub context_tokens: u32,
            pub max_tokens: u32,
            pub temperature: f64,
            /// Tried in order when `chat_model` fails.
            pub fallbacks: &'static [&'static str],
        }

        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct AiConfig {
            pub gateway: ::core::option::Option<&'static str>,
            pub chat_model: &'static str,
            /// `chat_model`'s context window in tokens (8192 when the catalog does not know it).
            pub context_tokens: u32,
            pub max_tokens: u32,
            pub temperature: f64,
            /// Tried in order when `chat_model` fails: distinct, none equal to it.
            pub fallbacks: &'static [&'static str],
            pub embedding_model: ::core::option::Option<&'static str>,
            pub tts_model: ::core::option::Option<&'static str>,
            pub routes: &'static [RouteOverride],
            pub tokens_per_day: ::core::option::Option<u64>,
            /// At most `tokens_per_day` when both are set.
            pub user_tokens_per_day: ::core::option::Option<u64>,
            /// Milliseconds one model call may take.
            pub timeout_ms: u32,
            /// Further attempts of a failed call, per model.
            pub retries: u32,
            /// Model turns with tool calls one chat request may take.
            pub tool_steps: u32,
        }

        /// How one environment reaches its models.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum AiProvider {
            /// `env.<binding>.run(model, inputs, { gateway })`.
            WorkersAi { binding: &'static str },
            /// AI Gateway's OpenAI-compatible endpoint.
            Gateway { account_id: &'static str, gateway: &'static str, token_secret: ::core::option::Option<&'static str> },
            /// Any OpenAI-compatible server.
            OpenAiCompatible { base_url: &'static str, api_key_secret: ::core::option::Option<&'static str>, model: ::core::option::Option<&'static str> },
        }

        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct RagConfig {
            pub chunk_size: u32,
            pub overlap: u32,
            pub top_k: u32,
            pub min_score: f64,
            /// Keyword (full-text) matches next to the vector search.
            pub hybrid: bool,
            /// A `reranking` model applied to the retrieved chunks.
            pub rerank_model: ::core::option::Option<&'static str>,
            /// The role allowed to add documents.
            pub ingest_role: &'static str,
            /// The vector size of the platform's Vectorize index (0 without one).
            pub embedding_dimensions: u32,
        }

        /// Which vector index serves RAG in one environment.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum VectorIndex {
            /// No Vectorize binding: no search.
            None,
            /// A development environment: the local index, the `DocIndex`
            /// Durable Object bound as `object`.
            Local { object: &'static str },
            /// The tenant's Vectorize index, bound as `binding`.
            Vectorize { binding: &'static str },
        }

        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct SessionsConfig {
            /// Days a session is kept after its last activity; rounded up when
            /// the tenant file gives `retention-seconds` (prefer `retention_secs`).
            pub retention_days: u32,
            /// Seconds a session is kept after its last activity: `retention-seconds`,
            /// or `retention-days` x 86400.
            pub retention_secs: u64,
            pub max_messages: u32,
        }

        /// `limit` requests per `window_secs` seconds.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct RateLimit { pub limit: u32, pub window_secs: u32 }

        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct RateLimits { pub tenant: RateLimit, pub user: RateLimit, pub ip: RateLimit }

        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct CacheConfig { pub search_ttl: u32, pub chat_ttl: u32 }

        /// An enabled tool; empty `roles`: every authenticated user.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct ToolConfig {
            pub name: &'static str,
            pub roles: &'static [&'static str],
            /// Milliseconds one call may take; `None`: the tool's default.
            pub timeout_ms: ::core::option::Option<u32>,
            /// `classify-intent`'s labels (empty for other tools).
            pub labels: &'static [&'static str],
        }

        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct TtsConfig { pub enabled: bool, pub voice: ::core::option::Option<&'static str>, pub max_chars: u32 }

        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct SafetyConfig { pub max_input_chars: u32, pub pii_redaction: bool, pub blocked_terms: &'static [&'static str] }
    }
}

/// The config types of a tenant's authentication.
fn auth_types_tokens() -> TokenStream {
    quote! {
        /// A JWS algorithm a tenant accepts.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum JwtAlg { Rs256, Es256, EdDsa }

        /// A public JSON Web Key written inline in the tenant file.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Jwk {
            pub kid: &'static str,
            /// "RSA" | "EC" | "OKP"
            pub kty: &'static str,
            pub alg: ::core::option::Option<&'static str>,
            pub crv: ::core::option::Option<&'static str>,
            pub n: ::core::option::Option<&'static str>,
            pub e: ::core::option::Option<&'static str>,
            pub x: ::core::option::Option<&'static str>,
            pub y: ::core::option::Option<&'static str>,
        }

        /// Where the verification keys come from.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum KeySource { Url(&'static str), Inline(&'static [Jwk]) }

        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct JwtConfig {
            pub issuer: &'static str,
            pub audience: &'static str,
            pub keys: KeySource,
            pub algorithms: &'static [JwtAlg],
            pub user_claim: &'static str,
            pub roles_claim: &'static str,
            pub clock_skew_secs: u32,
        }

        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct AccessConfig {
            pub team_domain: &'static str,
            /// "https://<team-domain>"
            pub issuer: &'static str,
            pub audience: &'static str,
            /// Url(certs url) unless inline keys were given
            pub keys: KeySource,
        }

        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct ApiKeysConfig { pub kv_binding: &'static str }

        /// Who may call in one environment. All `None`/`false`: nobody (fail closed).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct AuthConfig {
            pub jwt: ::core::option::Option<JwtConfig>,
            pub access: ::core::option::Option<AccessConfig>,
            pub api_keys: ::core::option::Option<ApiKeysConfig>,
            /// Only ever true in a development environment.
            pub none: bool,
        }
    }
}

/// `TenantEnvConfig`, `TenantConfig` and the `TENANTS` table.
fn tenant_config_tokens(configs: impl Iterator<Item = TokenStream>, tenants: usize, envs: usize) -> TokenStream {
    let n_tenants = n(tenants as u64);
    let n_envs = n(envs as u64);
    quote! {
        /// A tenant in one environment.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct TenantEnvConfig {
            pub env: EnvName,
            pub hosts: &'static [&'static str],
            pub header_allowed: bool,
            /// Origins allowed cross-origin (CORS), compared exactly.
            pub cors_origins: &'static [&'static str],
            /// Vars (tenant-level overlaid with the environment's), by name.
            pub vars: &'static [(&'static str, &'static str)],
            /// The tenant's namespace in each Vectorize binding's index.
            pub vectorize_namespaces: &'static [(&'static str, &'static str)],
            /// Who may call: the environment's `auth`, else the tenant-level one.
            pub auth: AuthConfig,
            /// How this environment reaches its models.
            pub ai_provider: AiProvider,
            /// Which vector index serves RAG here.
            pub vector_index: VectorIndex,
            /// The queue binding that takes documents to ingest, when there is one.
            pub ingest_queue: ::core::option::Option<&'static str>,
            /// Serves the developer playground (development environments only).
            pub playground: bool,
        }

        /// A tenant's static config.
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct TenantConfig {
            pub id: TenantId,
            pub name: &'static str,
            pub account: &'static str,
            pub header_policy: HeaderPolicy,
            pub ai: AiConfig,
            pub rag: RagConfig,
            pub sessions: SessionsConfig,
            pub rate_limits: RateLimits,
            pub cache: CacheConfig,
            pub tools: &'static [ToolConfig],
            pub tts: TtsConfig,
            pub safety: SafetyConfig,
            /// Secret names (values live in the Worker's secrets).
            pub secrets: &'static [&'static str],
            /// One entry per environment, indexed by `EnvName as usize`.
            pub envs: &'static [TenantEnvConfig; #n_envs],
        }

        /// Every tenant's config, indexed by `TenantId as usize`.
        pub static TENANTS: [TenantConfig; #n_tenants] = [#(#configs),*];
    }
}

/// `CACHE` → `cache`, `RATE_LIMITER` → `rate_limiter`: the accessor name.
pub fn accessor_name(binding: &str) -> String {
    binding.to_ascii_lowercase()
}

/// The typed `Env`: one field and accessor per platform binding, of its
/// workers-rs type; built once from `worker::Env`, naming every missing or
/// mistyped binding at once.
fn env_tokens(model: &Model) -> TokenStream {
    use crate::resolved::BindingKind;
    let BindingTokens {
        fields,
        getters,
        reads,
        names,
        table,
    } = binding_tokens(model);
    let mut secret_names: Vec<&String> = model.tenants.iter().flat_map(|t| t.secrets.iter()).collect();
    secret_names.sort();
    secret_names.dedup();
    let secrets = secret_names.iter().map(|s| {
        let f = format_ident!("secret_{}", accessor_name(s));
        let doc = format!("The `{s}` secret (required by the tenants that list it).");
        quote! {
            #[doc = #doc]
            pub fn #f(&self) -> ::worker::Result<::worker::Secret> {
                self.inner.secret(#s)
            }
        }
    });
    let n_bindings = n(table.len() as u64);
    let objects: Vec<TokenStream> = model
        .platform
        .bindings
        .iter()
        .filter_map(|b| match &b.kind {
            BindingKind::DurableObject { class } => {
                let name = &b.name;
                Some(quote!((#name, #class)))
            }
            _ => None,
        })
        .collect();
    let n_objects = n(objects.len() as u64);
    let wrappers = binding_wrappers();
    let pin_reads = pin_reads();
    quote! {
        #wrappers

        /// The Worker's environment, typed from the platform file: one
        /// accessor per binding, plus the deployment's pin (`TENANT_ID`,
        /// `TENANT_ENV`). No binding name is spelled anywhere else.
        pub struct Env {
            inner: ::worker::Env,
            pinned_tenant: TenantId,
            pinned_env: EnvName,
            #(#fields),*
        }

        /// What `Env::from_worker` found wrong: every missing or mistyped
        /// binding and var, not just the first.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct EnvError {
            /// One sentence per problem.
            pub problems: ::std::vec::Vec<::std::string::String>,
            /// The names (from `Env::BINDINGS`) of the bindings that are
            /// missing or of the wrong type.
            pub missing_bindings: ::std::vec::Vec<&'static str>,
            /// The deployment's pin, when `TENANT_ID` and `TENANT_ENV` were
            /// both valid (so requests can still be attributed).
            pub pin: ::core::option::Option<(TenantId, EnvName)>,
        }

        impl ::core::fmt::Display for EnvError {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str("the Worker's environment does not match tenants/: ")?;
                f.write_str(&self.problems.join("; "))
            }
        }

        impl ::std::error::Error for EnvError {}

        impl Env {
            /// Every binding the platform file declares: (name, kind).
            pub const BINDINGS: [(&'static str, &'static str); #n_bindings] = [#(#table),*];
            /// Every Durable Object binding and the class it binds: (name, class).
            pub const DURABLE_OBJECT_CLASSES: [(&'static str, &'static str); #n_objects] = [#(#objects),*];

            /// Read every binding and the pin once, at the start of a request.
            pub fn from_worker(env: ::worker::Env) -> ::core::result::Result<Env, EnvError> {
                let mut problems: ::std::vec::Vec<::std::string::String> = ::std::vec::Vec::new();
                let mut missing_bindings: ::std::vec::Vec<&'static str> = ::std::vec::Vec::new();
                #(#reads)*
                #pin_reads
                let pin = match (pinned_tenant, pinned_env) {
                    (::core::option::Option::Some(t), ::core::option::Option::Some(e)) => ::core::option::Option::Some((t, e)),
                    _ => ::core::option::Option::None,
                };
                if let (::core::option::Option::Some(pinned_tenant), ::core::option::Option::Some(pinned_env), #(::core::option::Option::Some(#names)),*) = (pinned_tenant, pinned_env, #(#names),*) {
                    if problems.is_empty() {
                        return ::core::result::Result::Ok(Env { inner: env, pinned_tenant, pinned_env, #(#names),* });
                    }
                }
                ::core::result::Result::Err(EnvError { problems, missing_bindings, pin })
            }

            /// The tenant this deployment serves (its `TENANT_ID` var).
            pub fn pinned_tenant(&self) -> TenantId {
                self.pinned_tenant
            }

            /// The environment this deployment runs in (its `TENANT_ENV` var).
            pub fn pinned_env(&self) -> EnvName {
                self.pinned_env
            }

            #(#getters)*
            #(#secrets)*
        }
    }
}

/// Per platform binding: the `Env` field, its accessor, the statement that
/// reads it from `worker::Env`, its name, and its `(name, kind)` row.
struct BindingTokens {
    fields: Vec<TokenStream>,
    getters: Vec<TokenStream>,
    reads: Vec<TokenStream>,
    names: Vec<Ident>,
    table: Vec<TokenStream>,
}

fn binding_tokens(model: &Model) -> BindingTokens {
    use crate::resolved::BindingKind;
    let mut fields = Vec::new();
    let mut getters = Vec::new();
    let mut reads = Vec::new();
    let mut names = Vec::new();
    let mut table = Vec::new();
    for b in &model.platform.bindings {
        let name = &b.name;
        let f = format_ident!("{}", accessor_name(name));
        let (ty, read, what) = match &b.kind {
            BindingKind::Kv => (quote!(::worker::KvStore), quote!(env.kv(#name)), "KV namespace"),
            BindingKind::DurableObject { .. } => (
                quote!(::worker::ObjectNamespace),
                quote!(env.durable_object(#name)),
                "Durable Object namespace",
            ),
            BindingKind::Ai => (quote!(::worker::Ai), quote!(env.ai(#name)), "Workers AI binding"),
            BindingKind::AnalyticsEngine { .. } => (
                quote!(::worker::AnalyticsEngineDataset),
                quote!(env.analytics_engine(#name)),
                "Analytics Engine dataset",
            ),
            BindingKind::Vectorize { .. } => (
                quote!(VectorizeIndex),
                quote!(VectorizeIndex::from_env(&env, #name)),
                "Vectorize index",
            ),
            BindingKind::Queue => (
                quote!(QueueProducer),
                quote!(QueueProducer::from_env(&env, #name)),
                "Queue producer",
            ),
        };
        let doc = format!("The `{name}` binding ({what}).");
        fields.push(quote!(#f: #ty));
        getters.push(quote! {
            #[doc = #doc]
            pub fn #f(&self) -> &#ty {
                &self.#f
            }
        });
        reads.push(quote! {
            let #f = match #read {
                ::core::result::Result::Ok(v) => ::core::option::Option::Some(v),
                ::core::result::Result::Err(e) => {
                    problems.push(::std::format!("binding `{}` ({}): {}", #name, #what, e));
                    missing_bindings.push(#name);
                    ::core::option::Option::None
                }
            };
        });
        names.push(f);
        let kind = match &b.kind {
            BindingKind::Kv => "kv",
            BindingKind::DurableObject { .. } => "durable-object",
            BindingKind::Ai => "ai",
            BindingKind::AnalyticsEngine { .. } => "analytics-engine",
            BindingKind::Vectorize { .. } => "vectorize",
            BindingKind::Queue => "queue",
        };
        table.push(quote!((#name, #kind)));
    }
    BindingTokens {
        fields,
        getters,
        reads,
        names,
        table,
    }
}

/// The wrappers of the bindings workers-rs has no (enabled) type for:
/// Vectorize indexes and Queue producers.
fn binding_wrappers() -> TokenStream {
    quote! {
        /// A Vectorize index binding (workers-rs has no wrapper): the bound
        /// JavaScript object, reached only through a declared binding.
        #[derive(Debug, Clone)]
        pub struct VectorizeIndex {
            binding: &'static str,
            js: ::worker::wasm_bindgen::JsValue,
        }

        /// The bound JavaScript object of a binding workers-rs has no
        /// (enabled) wrapper for.
        fn js_binding(env: &::worker::Env, binding: &'static str) -> ::worker::Result<::worker::wasm_bindgen::JsValue> {
            let js = ::worker::js_sys::Reflect::get(env, &::worker::wasm_bindgen::JsValue::from_str(binding))
                .map_err(|_| ::worker::Error::from(::std::format!("cannot read binding `{binding}`")))?;
            if js.is_undefined() || js.is_null() {
                return ::core::result::Result::Err(::worker::Error::from(::std::format!("binding `{binding}` is not defined")));
            }
            ::core::result::Result::Ok(js)
        }

        impl VectorizeIndex {
            fn from_env(env: &::worker::Env, binding: &'static str) -> ::worker::Result<Self> {
                ::core::result::Result::Ok(VectorizeIndex { binding, js: js_binding(env, binding)? })
            }
            /// The binding name.
            pub fn binding(&self) -> &'static str {
                self.binding
            }
            /// The bound object, for the Vectorize adapter's externs.
            pub fn as_js(&self) -> &::worker::wasm_bindgen::JsValue {
                &self.js
            }
        }

        /// A Queue producer binding, as the bound JavaScript object
        /// (`send`, `sendBatch`): workers-rs wraps queues only under its
        /// `queue` feature.
        #[derive(Debug, Clone)]
        pub struct QueueProducer {
            binding: &'static str,
            js: ::worker::wasm_bindgen::JsValue,
        }

        impl QueueProducer {
            fn from_env(env: &::worker::Env, binding: &'static str) -> ::worker::Result<Self> {
                ::core::result::Result::Ok(QueueProducer { binding, js: js_binding(env, binding)? })
            }
            /// The binding name.
            pub fn binding(&self) -> &'static str {
                self.binding
            }
            /// The bound object, for the queue adapter's externs.
            pub fn as_js(&self) -> &::worker::wasm_bindgen::JsValue {
                &self.js
            }
        }
    }
}

/// Reading the deployment's pin (`TENANT_ID`, `TENANT_ENV`) in
/// `Env::from_worker`, every problem collected.
fn pin_reads() -> TokenStream {
    quote! {
                let pinned_tenant = match env.var("TENANT_ID") {
                    ::core::result::Result::Ok(v) => match v.to_string().parse::<TenantId>() {
                        ::core::result::Result::Ok(t) => ::core::option::Option::Some(t),
                        ::core::result::Result::Err(_) => {
                            problems.push(::std::format!("var `TENANT_ID` = `{}` is not a tenant of tenants/", v.to_string()));
                            ::core::option::Option::None
                        }
                    },
                    ::core::result::Result::Err(e) => {
                        problems.push(::std::format!("var `TENANT_ID`: {e}"));
                        ::core::option::Option::None
                    }
                };
                let pinned_env = match env.var("TENANT_ENV") {
                    ::core::result::Result::Ok(v) => match v.to_string().parse::<EnvName>() {
                        ::core::result::Result::Ok(t) => ::core::option::Option::Some(t),
                        ::core::result::Result::Err(_) => {
                            problems.push(::std::format!("var `TENANT_ENV` = `{}` is not an environment of the platform file", v.to_string()));
                            ::core::option::Option::None
                        }
                    },
                    ::core::result::Result::Err(e) => {
                        problems.push(::std::format!("var `TENANT_ENV`: {e}"));
                        ::core::option::Option::None
                    }
                };
    }
}

fn tenant_config(model: &Model, t: &Tenant, v: &Ident, ev: &[Ident]) -> TokenStream {
    let (id, name, account) = (&t.id, &t.name, &t.account);
    let policy = match t.header_policy {
        HeaderPolicy::Never => quote!(HeaderPolicy::Never),
        HeaderPolicy::DevOnly => quote!(HeaderPolicy::DevOnly),
        HeaderPolicy::Always => quote!(HeaderPolicy::Always),
    };
    let _ = id;
    let ai = ai_tokens(&t.ai);
    let (cs, ov, tk) = (n(t.rag.chunk_size), n(t.rag.overlap), n(t.rag.top_k));
    let ms = f64_lit(t.rag.min_score);
    let (hybrid, rerank, ingest_role, dims) = (
        t.rag.hybrid,
        opt_str(&t.rag.rerank_model),
        &t.rag.ingest_role,
        n(t.rag.embedding_dimensions),
    );
    let (rd, rs, mm) = (
        n(t.sessions.retention_days),
        n(t.sessions.retention_secs),
        n(t.sessions.max_messages),
    );
    let rl = |l: &crate::resolved::RateLimit| {
        let (limit, w) = (n(l.limit), n(l.per.seconds()));
        quote!(RateLimit { limit: #limit, window_secs: #w })
    };
    let (rt, ru, ri) = (rl(&t.rate_limits.tenant), rl(&t.rate_limits.user), rl(&t.rate_limits.ip));
    let (st, ct) = (n(t.cache.search_ttl), n(t.cache.chat_ttl));
    let tools = t.tools.iter().map(|x| {
        let n = &x.name;
        let (roles, labels) = (&x.roles, &x.labels);
        let timeout = opt_n(x.timeout_ms.map(u64::from));
        quote!(ToolConfig { name: #n, roles: &[#(#roles),*], timeout_ms: #timeout, labels: &[#(#labels),*] })
    });
    let tts_enabled = t.tts.enabled;
    let voice = opt_str(&t.tts.voice);
    let max_chars = n(t.tts.max_chars);
    let (mic, pii) = (n(t.safety.max_input_chars), t.safety.pii_redaction);
    let terms = &t.safety.blocked_terms;
    let secrets = &t.secrets;
    let envs = model.platform.environments.iter().zip(ev).map(|(pe, e)| {
        let te = t.envs.iter().find(|x| x.name == pe.name);
        let hosts: Vec<&String> = te.map(|x| x.hosts.iter().collect()).unwrap_or_default();
        let allowed = te.is_some_and(|x| x.header_allowed);
        let cors: Vec<&String> = te.map(|x| x.cors_origins.iter().collect()).unwrap_or_default();
        let vars = te.map(|x| x.vars.iter().map(|(k, v)| quote!((#k, #v))).collect::<Vec<_>>()).unwrap_or_default();
        let ns = te
            .map(|x| {
                x.resources
                    .iter()
                    .filter_map(|r| match &r.kind {
                        crate::resolved::ResourceKind::Vectorize { namespace, .. } => {
                            let b = &r.binding;
                            Some(quote!((#b, #namespace)))
                        }
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        // No environment settings (never in a valid model): nobody gets in.
        let auth = auth_tokens(te.map(|x| &x.auth).unwrap_or(&crate::resolved::Auth::default()));
        let provider = provider_tokens(te.map(|x| &x.ai_provider));
        let index = vector_index_tokens(te.map(|x| &x.vector_index));
        let queue = opt_str(&te.and_then(|x| x.ingest_queue.clone()));
        let playground = te.is_some_and(|x| x.playground.is_some());
        quote!(TenantEnvConfig { env: EnvName::#e, hosts: &[#(#hosts),*], header_allowed: #allowed, cors_origins: &[#(#cors),*], vars: &[#(#vars),*], vectorize_namespaces: &[#(#ns),*], auth: #auth, ai_provider: #provider, vector_index: #index, ingest_queue: #queue, playground: #playground })
    });
    quote! {
        TenantConfig {
            id: TenantId::#v,
            name: #name,
            account: #account,
            header_policy: #policy,
            ai: #ai,
            rag: RagConfig { chunk_size: #cs, overlap: #ov, top_k: #tk, min_score: #ms, hybrid: #hybrid, rerank_model: #rerank, ingest_role: #ingest_role, embedding_dimensions: #dims },
            sessions: SessionsConfig { retention_days: #rd, retention_secs: #rs, max_messages: #mm },
            rate_limits: RateLimits { tenant: #rt, user: #ru, ip: #ri },
            cache: CacheConfig { search_ttl: #st, chat_ttl: #ct },
            tools: &[#(#tools),*],
            tts: TtsConfig { enabled: #tts_enabled, voice: #voice, max_chars: #max_chars },
            safety: SafetyConfig { max_input_chars: #mic, pii_redaction: #pii, blocked_terms: &[#(#terms),*] },
            secrets: &[#(#secrets),*],
            envs: &[#(#envs),*],
        }
    }
}

/// `::core::option::Option::Some(n)` or `None` for an optional integer.
fn opt_n(v: Option<u64>) -> TokenStream {
    match v {
        Some(x) => {
            let x = n(x);
            quote!(::core::option::Option::Some(#x))
        }
        None => quote!(::core::option::Option::None),
    }
}

/// `ModelPrice { … }` for every token-priced model any tenant uses.
fn price_tokens(model: &Model) -> Vec<TokenStream> {
    let pricing = crate::validate::catalog::Pricing::builtin();
    let mut used = std::collections::BTreeSet::new();
    for t in &model.tenants {
        let ai = &t.ai;
        used.insert(ai.chat_model.as_str());
        used.extend(ai.fallbacks.iter().map(String::as_str));
        for r in &ai.routes {
            used.insert(r.chat_model.as_str());
            used.extend(r.fallbacks.iter().map(String::as_str));
        }
        used.extend(ai.embedding_model.as_deref());
        used.extend(t.rag.rerank_model.as_deref());
    }
    used.into_iter()
        .filter_map(|id| pricing.get(id).filter(|p| p.unit == "tokens"))
        .map(|p| {
            let (id, ni, no) = (&p.id, f64_lit(p.neurons_per_m_input), f64_lit(p.neurons_per_m_output));
            let (ui, uo) = (f64_lit(p.usd_per_m_input), f64_lit(p.usd_per_m_output));
            quote!(ModelPrice { model: #id, neurons_per_m_input: #ni, neurons_per_m_output: #no, usd_per_m_input: #ui, usd_per_m_output: #uo })
        })
        .collect()
}

/// `AiConfig { … }` for one tenant.
fn ai_tokens(ai: &crate::resolved::Ai) -> TokenStream {
    let gateway = opt_str(&ai.gateway);
    let chat = &ai.chat_model;
    let context_tokens = n(ai.context_tokens);
    let max_tokens = n(ai.max_tokens);
    let temperature = f64_lit(ai.temperature);
    let fallbacks = &ai.fallbacks;
    let embedding = opt_str(&ai.embedding_model);
    let tts_model = opt_str(&ai.tts_model);
    let routes = ai.routes.iter().map(|r| {
        let (route, m, ct, mt) = (&r.route, &r.chat_model, n(r.context_tokens), n(r.max_tokens));
        let (temp, fb) = (f64_lit(r.temperature), &r.fallbacks);
        quote!(RouteOverride { route: #route, chat_model: #m, context_tokens: #ct, max_tokens: #mt, temperature: #temp, fallbacks: &[#(#fb),*] })
    });
    let (budget, user_budget) = (opt_n(ai.tokens_per_day), opt_n(ai.user_tokens_per_day));
    let (timeout, retries, steps) = (n(ai.timeout_ms), n(ai.retries), n(ai.tool_steps));
    quote! {
        AiConfig {
            gateway: #gateway,
            chat_model: #chat,
            context_tokens: #context_tokens,
            max_tokens: #max_tokens,
            temperature: #temperature,
            fallbacks: &[#(#fallbacks),*],
            embedding_model: #embedding,
            tts_model: #tts_model,
            routes: &[#(#routes),*],
            tokens_per_day: #budget,
            user_tokens_per_day: #user_budget,
            timeout_ms: #timeout,
            retries: #retries,
            tool_steps: #steps,
        }
    }
}

/// `AiProvider::…` for one environment. No environment settings (never in
/// a valid model): an empty binding name, which no call can reach.
fn provider_tokens(p: Option<&crate::resolved::AiProvider>) -> TokenStream {
    use crate::resolved::AiProvider;
    match p {
        None => quote!(AiProvider::WorkersAi { binding: "" }),
        Some(AiProvider::WorkersAi { binding }) => quote!(AiProvider::WorkersAi { binding: #binding }),
        Some(AiProvider::Gateway {
            account_id,
            gateway,
            token_secret,
        }) => {
            let token = opt_str(token_secret);
            quote!(AiProvider::Gateway { account_id: #account_id, gateway: #gateway, token_secret: #token })
        }
        Some(AiProvider::OpenAiCompatible {
            base_url,
            api_key_secret,
            model,
        }) => {
            let (key, model) = (opt_str(api_key_secret), opt_str(model));
            quote!(AiProvider::OpenAiCompatible { base_url: #base_url, api_key_secret: #key, model: #model })
        }
    }
}

/// `VectorIndex::…` for one environment (no environment settings, never
/// in a valid model: none).
fn vector_index_tokens(v: Option<&crate::resolved::VectorIndex>) -> TokenStream {
    use crate::resolved::VectorIndex;
    match v {
        None | Some(VectorIndex::None) => quote!(VectorIndex::None),
        Some(VectorIndex::Local { object }) => quote!(VectorIndex::Local { object: #object }),
        Some(VectorIndex::Vectorize { binding }) => quote!(VectorIndex::Vectorize { binding: #binding }),
    }
}

/// `AuthConfig { … }` for one environment: static data, no key material
/// beyond the public keys written inline.
fn auth_tokens(a: &crate::resolved::Auth) -> TokenStream {
    use crate::resolved::{JwtAlg, KeySource};
    let none_ = quote!(::core::option::Option::None);
    let some = |t: TokenStream| quote!(::core::option::Option::Some(#t));
    let keys = |k: &KeySource| match k {
        KeySource::Url(u) => quote!(KeySource::Url(#u)),
        KeySource::Inline(list) => {
            let jwks = list.iter().map(|j| {
                let (kid, kty) = (&j.kid, &j.kty);
                let (alg, crv, n, e, x, y) = (
                    opt_str(&j.alg),
                    opt_str(&j.crv),
                    opt_str(&j.n),
                    opt_str(&j.e),
                    opt_str(&j.x),
                    opt_str(&j.y),
                );
                quote!(Jwk { kid: #kid, kty: #kty, alg: #alg, crv: #crv, n: #n, e: #e, x: #x, y: #y })
            });
            quote!(KeySource::Inline(&[#(#jwks),*]))
        }
    };
    let jwt = match &a.jwt {
        Some(j) => {
            let (issuer, audience, user, roles) = (&j.issuer, &j.audience, &j.user_claim, &j.roles_claim);
            let k = keys(&j.keys);
            let skew = n(j.clock_skew_secs);
            let algs = j.algorithms.iter().map(|alg| match alg {
                JwtAlg::Rs256 => quote!(JwtAlg::Rs256),
                JwtAlg::Es256 => quote!(JwtAlg::Es256),
                JwtAlg::EdDsa => quote!(JwtAlg::EdDsa),
            });
            some(quote!(JwtConfig {
                issuer: #issuer,
                audience: #audience,
                keys: #k,
                algorithms: &[#(#algs),*],
                user_claim: #user,
                roles_claim: #roles,
                clock_skew_secs: #skew,
            }))
        }
        None => none_.clone(),
    };
    let access = match &a.access {
        Some(x) => {
            let (td, issuer, audience) = (&x.team_domain, &x.issuer, &x.audience);
            let k = keys(&x.keys);
            some(quote!(AccessConfig { team_domain: #td, issuer: #issuer, audience: #audience, keys: #k }))
        }
        None => none_.clone(),
    };
    let api_keys = match &a.api_keys {
        Some(k) => {
            let b = &k.kv_binding;
            some(quote!(ApiKeysConfig { kv_binding: #b }))
        }
        None => none_,
    };
    let none = a.none;
    quote!(AuthConfig { jwt: #jwt, access: #access, api_keys: #api_keys, none: #none })
}

/// Why the macro cannot expand (a compile error at the macro's argument).
#[derive(Debug, Clone, PartialEq)]
pub struct ExpandError(pub String);

/// Compile `dir` and generate its tokens. `workspace` bounds where the
/// directory may be (a path outside it is refused).
pub fn expand_dir(dir: &std::path::Path, workspace: &std::path::Path, shown_as: &str) -> Result<TokenStream, ExpandError> {
    let canon = |p: &std::path::Path| std::fs::canonicalize(p);
    let d = canon(dir).map_err(|_| {
        ExpandError(format!(
            "tenants directory `{shown_as}` not found: the path is relative to the file that invokes the macro (as with include_str!)"
        ))
    })?;
    if !d.is_dir() {
        return Err(ExpandError(format!("`{shown_as}` is not a directory")));
    }
    if let Ok(ws) = canon(workspace) {
        if !d.starts_with(&ws) {
            return Err(ExpandError(format!(
                "tenants directory `{shown_as}` is outside the workspace: tenant files must live in the repository that builds them"
            )));
        }
    }
    let layout = crate::discover(&d).map_err(|e| ExpandError(e.to_string()))?;
    if layout.tenants.is_empty() {
        return Err(ExpandError(format!(
            "tenants directory `{shown_as}` has no tenant files: add one with `tenants new <id>`"
        )));
    }
    let comp = crate::compile_layout(&d, &layout).map_err(|e| ExpandError(e.to_string()))?;
    let Some(model) = &comp.model else {
        let s = comp.summary();
        // Name files relative to the workspace, as `tenants check` run from
        // its root would, so the message reads the same on every machine.
        let ws = canon(workspace).unwrap_or_else(|_| workspace.to_path_buf());
        let mut sources = crate::source::SourceMap::default();
        for f in comp.sources.files() {
            let name = f
                .path
                .strip_prefix(&ws)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| f.name.clone());
            sources.add(name, f.path.clone(), f.format, f.text.clone());
        }
        return Err(ExpandError(format!(
            "invalid tenants in `{shown_as}`: {} error(s), {} warning(s)\n\n{}",
            s.errors,
            s.warnings,
            crate::diag::render_human(&sources, &comp.diagnostics.items, false)
        )));
    };
    let mut tracked: Vec<String> = vec![layout.platform.display().to_string(), layout.accounts.display().to_string()];
    tracked.extend(layout.tenants.iter().map(|p| p.display().to_string()));
    Ok(expand(model, &tracked))
}
