//! Generators: `tenants init`, `tenants new`, `tenants add binding`,
//! `tenants add env`.
//!
//! Invariants:
//! - an existing file is edited in place, never rewritten from a model:
//!   KDL through the `kdl` crate's formatting-preserving document, JSON and
//!   JSONC through jsonc-parser's CST, so comments, order and formatting of
//!   everything not added survive byte for byte;
//! - every file is written atomically, and nothing is written at all when the
//!   request is invalid (a name taken, an unknown kind) or an edit fails;
//! - what a generator cannot know (a host, a KV namespace id, an index) is
//!   written as a `TODO…` placeholder that `tenants check` reports as
//!   `tenant::placeholder` until it is filled in — never a made-up value.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::resolved::{BindingKind, Model, Platform, Tenant};
use crate::source::Format;
use crate::tmp::TempDir;
use crate::validate::rules::{is_class_name, is_dataset_name, is_slug, is_upper_name};
use crate::validate::PLACEHOLDER_PREFIX;

/// A generator request that cannot be carried out (exit code 2).
#[derive(Debug, Clone, PartialEq)]
pub struct GenError(pub String);

impl std::fmt::Display for GenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, GenError>;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(GenError(msg.into()))
}

/// The format of a file a generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Kdl,
    Jsonc,
}

impl FileFormat {
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Kdl => "kdl",
            FileFormat::Jsonc => "jsonc",
        }
    }
}

/// What a generator did, for the CLI to print.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    pub created: Vec<PathBuf>,
    pub edited: Vec<PathBuf>,
    /// `file:line:col: message` of each placeholder left to fill in.
    pub todo: Vec<String>,
}

// ---------------------------------------------------------------- text ---

/// A KDL string literal.
pub fn kdl_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn kdl_scalar(v: &Value) -> String {
    match v {
        Value::String(s) => kdl_str(s),
        Value::Bool(b) => if *b { "#true" } else { "#false" }.into(),
        Value::Number(n) => n.to_string(),
        Value::Null => "#null".into(),
        other => kdl_str(&other.to_string()),
    }
}

fn kebab(k: &str) -> String {
    k.replace('_', "-")
}

/// `key=value` properties of a flat JSON object (scalars only), KDL spelling.
fn kdl_props(o: &Map<String, Value>, skip: &[&str]) -> String {
    o.iter()
        .filter(|(k, v)| !skip.contains(&k.as_str()) && !v.is_array() && !v.is_object())
        .map(|(k, v)| format!(" {}={}", kebab(k), kdl_scalar(v)))
        .collect()
}

fn obj(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// The resources, hosts and vars of one environment, as KDL lines.
fn kdl_env_lines(env: &Map<String, Value>, ind: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for h in env.get("hosts").and_then(Value::as_array).into_iter().flatten() {
        lines.push(format!("{ind}host {}", kdl_scalar(h)));
    }
    for (key, node) in [
        ("kv", "kv"),
        ("vectorize", "vectorize"),
        ("analytics_engine", "analytics-engine"),
        ("queues", "queue"),
    ] {
        for (b, r) in obj(env.get(key).unwrap_or(&Value::Null)) {
            lines.push(format!("{ind}{node} {b}{}", kdl_props(&obj(&r), &[])));
        }
    }
    for (k, v) in obj(env.get("vars").unwrap_or(&Value::Null)) {
        lines.push(format!("{ind}var {k} {}", kdl_scalar(&v)));
    }
    if let Some(a) = env.get("auth") {
        lines.push(format!("{ind}auth {{ {} }}", kdl_auth_nodes(&obj(a)).join("; ")));
    }
    if let Some(p) = env.get("ai_provider") {
        let p = obj(p);
        let kind = p.get("kind").map(kdl_scalar).unwrap_or_default();
        lines.push(format!("{ind}ai-provider {kind}{}", kdl_props(&p, &["kind"])));
    }
    lines
}

/// A model node (`chat "<model>" …`, `route "<route>" …`) with its scalar
/// properties and, when `o` has `fallbacks`, one `fallback` child per model.
fn kdl_model_node(head: &str, o: &Map<String, Value>, skip: &[&str], ind: &str, unit: &str) -> String {
    let fallbacks: Vec<String> = o
        .get("fallbacks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|f| format!("{ind}{unit}fallback {}\n", kdl_scalar(f)))
        .collect();
    let props = kdl_props(o, skip);
    if fallbacks.is_empty() {
        format!("{ind}{head}{props}\n")
    } else {
        format!("{ind}{head}{props} {{\n{}{ind}}}\n", fallbacks.concat())
    }
}

/// The nodes inside a template's `auth` block (`none`, `api-keys`), KDL spelling.
fn kdl_auth_nodes(auth: &Map<String, Value>) -> Vec<String> {
    let mut nodes = Vec::new();
    if let Some(n) = auth.get("none") {
        nodes.push(format!("none {}", kdl_scalar(n)));
    }
    match auth.get("api_keys") {
        Some(Value::Object(k)) => nodes.push(format!("api-keys{}", kdl_props(k, &[]))),
        Some(v) => nodes.push(format!("api-keys {}", kdl_scalar(v))),
        None => {}
    }
    nodes
}

/// One `env "name" { … }` block at indentation `ind` (inner lines one `unit` deeper).
fn kdl_env_block(name: &str, env: &Map<String, Value>, ind: &str, unit: &str) -> String {
    let inner = format!("{ind}{unit}");
    let mut s = format!("{ind}env {} {{\n", kdl_str(name));
    for l in kdl_env_lines(env, &inner) {
        s.push_str(&l);
        s.push('\n');
    }
    s.push_str(ind);
    s.push_str("}\n");
    s
}

/// Render a tenant's JSON form (as `tenant_json` builds it) as a KDL file.
pub fn render_tenant_kdl(v: &Value, header: &str) -> String {
    let t = obj(v);
    let u = "    ";
    let mut s = String::new();
    for l in header.lines() {
        s.push_str("// ");
        s.push_str(l);
        s.push('\n');
    }
    s.push_str(&format!("tenant {} {{\n", kdl_scalar(&t["id"])));
    s.push_str(&format!("{u}name {}\n", kdl_scalar(&t["name"])));
    s.push_str(&format!("{u}account {}\n", kdl_scalar(&t["account"])));
    if let Some(r) = t.get("resolution") {
        s.push_str(&format!("{u}resolution{}\n", kdl_props(&obj(r), &[])));
    }
    for (name, env) in obj(t.get("envs").unwrap_or(&Value::Null)) {
        s.push('\n');
        s.push_str(&kdl_env_block(&name, &obj(&env), u, u));
    }
    if let Some(ai) = t.get("ai") {
        let ai = obj(ai);
        s.push('\n');
        s.push_str(&format!("{u}ai{} {{\n", kdl_props(&ai, &["embedding", "tts"])));
        if let Some(chat) = ai.get("chat") {
            let c = obj(chat);
            let head = format!("chat {}", kdl_scalar(&c["model"]));
            s.push_str(&kdl_model_node(&head, &c, &["model"], &format!("{u}{u}"), u));
        }
        for k in ["embedding", "tts"] {
            if let Some(m) = ai.get(k) {
                s.push_str(&format!("{u}{u}{k} {}\n", kdl_scalar(m)));
            }
        }
        for (r, o) in obj(ai.get("routes").unwrap_or(&Value::Null)) {
            let head = format!("route {}", kdl_str(&r));
            s.push_str(&kdl_model_node(&head, &obj(&o), &[], &format!("{u}{u}"), u));
        }
        if let Some(b) = ai.get("budget") {
            s.push_str(&format!("{u}{u}budget{}\n", kdl_props(&obj(b), &[])));
        }
        s.push_str(&format!("{u}}}\n"));
    }
    for k in ["rag", "sessions"] {
        if let Some(x) = t.get(k) {
            s.push_str(&format!("{u}{k}{}\n", kdl_props(&obj(x), &[])));
        }
    }
    if let Some(rl) = t.get("rate_limits") {
        s.push_str(&format!("{u}rate-limit {{\n"));
        for (who, l) in obj(rl) {
            let l = obj(&l);
            s.push_str(&format!("{u}{u}{who} {}{}\n", kdl_scalar(&l["limit"]), kdl_props(&l, &["limit"])));
        }
        s.push_str(&format!("{u}}}\n"));
    }
    if let Some(c) = t.get("cache") {
        s.push_str(&format!("{u}cache{}\n", kdl_props(&obj(c), &[])));
    }
    for (name, tool) in obj(t.get("tools").unwrap_or(&Value::Null)) {
        let list = |key: &str| -> Vec<String> {
            tool.get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(kdl_scalar)
                .collect()
        };
        let children: Vec<String> = [("roles", list("roles")), ("labels", list("labels"))]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{u}{u}{k} {}\n", v.join(" ")))
            .collect();
        let props = kdl_props(&obj(&tool), &["roles", "labels"]);
        if children.is_empty() {
            s.push_str(&format!("{u}tool {}{props}\n", kdl_str(&name)));
        } else {
            s.push_str(&format!("{u}tool {}{props} {{\n{}{u}}}\n", kdl_str(&name), children.concat()));
        }
    }
    if let Some(x) = t.get("tts") {
        s.push_str(&format!("{u}tts{}\n", kdl_props(&obj(x), &[])));
    }
    if let Some(x) = t.get("safety") {
        let o = obj(x);
        let terms: Vec<String> = o
            .get("blocked_terms")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(kdl_scalar)
            .collect();
        if terms.is_empty() {
            s.push_str(&format!("{u}safety{}\n", kdl_props(&o, &[])));
        } else {
            s.push_str(&format!(
                "{u}safety{} {{\n{u}{u}blocked-terms {}\n{u}}}\n",
                kdl_props(&o, &[]),
                terms.join(" ")
            ));
        }
    }
    let secrets: Vec<String> = t
        .get("secrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(kdl_scalar)
        .collect();
    if !secrets.is_empty() {
        s.push_str(&format!("{u}secrets {}\n", secrets.join(" ")));
    }
    for (k, v) in obj(t.get("vars").unwrap_or(&Value::Null)) {
        s.push_str(&format!("{u}var {k} {}\n", kdl_scalar(&v)));
    }
    if let Some(a) = t.get("auth") {
        s.push_str(&format!("{u}auth {{\n"));
        for n in kdl_auth_nodes(&obj(a)) {
            s.push_str(&format!("{u}{u}{n}\n"));
        }
        s.push_str(&format!("{u}}}\n"));
    }
    s.push_str("}\n");
    s
}

/// Render a tenant's JSON form as a JSONC file (comments first, `$schema` first key).
pub fn render_tenant_jsonc(v: &Value, header: &str) -> String {
    let mut o = Map::new();
    o.insert("$schema".into(), "../schemas/tenant.schema.json".into());
    for (k, x) in obj(v) {
        o.insert(k, x);
    }
    let mut s = String::new();
    for l in header.lines() {
        s.push_str("// ");
        s.push_str(l);
        s.push('\n');
    }
    s.push_str(&serde_json::to_string_pretty(&Value::Object(o)).expect("JSON serialises"));
    s.push('\n');
    s
}

/// Placeholder text: starts with [`PLACEHOLDER_PREFIX`], says what goes there.
fn todo(what: &str) -> String {
    format!("{PLACEHOLDER_PREFIX}: {what}")
}

/// The per-environment resources a tenant must give for `platform`'s
/// bindings, as placeholders (JSON form of one environment, without hosts).
fn placeholder_resources(platform: &Platform, tenant: &str, env: &str, only: Option<&str>) -> Map<String, Value> {
    let mut e = Map::new();
    for b in &platform.bindings {
        if only.is_some_and(|o| o != b.name) {
            continue;
        }
        let (key, field, what) = match &b.kind {
            BindingKind::Kv => (
                "kv",
                "id",
                format!(
                    "KV namespace id (wrangler kv namespace create {tenant}-{}-{env})",
                    b.name.to_lowercase().replace('_', "-")
                ),
            ),
            BindingKind::Vectorize { dimensions, metric } => (
                "vectorize",
                "index",
                format!("Vectorize index of {tenant} in {env} ({dimensions} dimensions, {metric})"),
            ),
            BindingKind::AnalyticsEngine { dataset } if dataset.is_empty() => (
                "analytics_engine",
                "dataset",
                format!("Analytics Engine dataset of {tenant} in {env}"),
            ),
            BindingKind::Queue => (
                "queues",
                "name",
                format!(
                    "queue name (wrangler queues create {tenant}-{}-{env})",
                    b.name.to_lowercase().replace('_', "-")
                ),
            ),
            _ => continue,
        };
        let m = e.entry(key).or_insert_with(|| Value::Object(Map::new()));
        m.as_object_mut()
            .expect("object")
            .insert(b.name.clone(), json!({ field: todo(&what) }));
    }
    e
}

fn env_placeholder(platform: &Platform, tenant: &str, env: &str) -> Map<String, Value> {
    let dev = platform.environments.iter().any(|e| e.name == env && e.development);
    let host = if dev {
        format!("{tenant}.localhost")
    } else {
        todo(&format!("host of {tenant} in {env}"))
    };
    let mut m = Map::new();
    m.insert("hosts".into(), json!([host]));
    m.extend(placeholder_resources(platform, tenant, env, None));
    if dev {
        // Development: requests without credentials are accepted, API keys too.
        let mut auth = Map::new();
        auth.insert("none".into(), true.into());
        if let Some(k) = api_keys_template(platform) {
            auth.insert("api_keys".into(), k);
        }
        m.insert("auth".into(), Value::Object(auth));
    }
    m
}

/// `api_keys` for a new tenant: `true` when the platform has one KV binding,
/// the first one named when it has several, nothing without one (`tenants
/// check` then asks for a method in every other environment).
fn api_keys_template(platform: &Platform) -> Option<Value> {
    let kv: Vec<&str> = platform
        .bindings
        .iter()
        .filter(|b| matches!(b.kind, BindingKind::Kv))
        .map(|b| b.name.as_str())
        .collect();
    match kv.as_slice() {
        [] => None,
        [_] => Some(true.into()),
        [first, ..] => Some(json!({ "kv": first })),
    }
}

/// The embedding model for the platform's first Vectorize binding: the
/// shipped catalog's model of those dimensions (bge-base for 768).
fn embedding_for(platform: &Platform) -> Option<String> {
    let dims = platform.bindings.iter().find_map(|b| match b.kind {
        BindingKind::Vectorize { dimensions, .. } => Some(dimensions),
        _ => None,
    })?;
    let preferred = [
        "@cf/baai/bge-base-en-v1.5",
        "@cf/baai/bge-small-en-v1.5",
        "@cf/baai/bge-large-en-v1.5",
    ];
    let catalog = crate::validate::catalog::Catalog::builtin();
    if let Some(m) = preferred.iter().find(|m| catalog.get(m).and_then(|i| i.dimensions) == Some(dims)) {
        return Some(m.to_string());
    }
    platform
        .custom_models
        .iter()
        .find(|m| m.dimensions == Some(dims))
        .map(|m| m.id.clone())
        .or_else(|| {
            let mut ids: Vec<&str> = catalog
                .ids_for_task("text-embeddings")
                .filter(|m| catalog.get(m).and_then(|i| i.dimensions) == Some(dims))
                .collect();
            ids.sort();
            ids.first().map(|s| s.to_string())
        })
}

/// The JSON form of a new tenant: required fields, a placeholder per
/// unknown value; with `from`, every setting copied from that tenant.
pub fn tenant_json(platform: &Platform, id: &str, name: &str, account: &str, from: Option<&Tenant>) -> Value {
    let mut t = Map::new();
    t.insert("id".into(), id.into());
    t.insert("name".into(), name.into());
    t.insert("account".into(), account.into());
    let policy = from
        .map(|f| serde_json::to_value(f.header_policy).expect("serialises"))
        .unwrap_or_else(|| "never".into());
    t.insert("resolution".into(), json!({ "header": policy }));
    // Vars the source has in every environment with one value are tenant-level.
    let common: Map<String, Value> = match from {
        Some(f) if !f.envs.is_empty() => f.envs[0]
            .vars
            .iter()
            .filter(|(k, v)| f.envs.iter().all(|e| e.vars.get(*k) == Some(*v)))
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
        _ => Map::new(),
    };
    let mut envs = Map::new();
    for e in &platform.environments {
        let mut m = env_placeholder(platform, id, &e.name);
        if let Some(fe) = from.and_then(|f| f.envs.iter().find(|x| x.name == e.name)) {
            if let Some(p) = provider_json(&fe.ai_provider) {
                m.insert("ai_provider".into(), p);
            }
            let vars: Map<String, Value> = fe
                .vars
                .iter()
                .filter(|(k, _)| !common.contains_key(*k))
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            if !vars.is_empty() {
                m.insert("vars".into(), Value::Object(vars));
            }
        }
        envs.insert(e.name.clone(), Value::Object(m));
    }
    t.insert("envs".into(), Value::Object(envs));
    // Who may call: API keys everywhere (development environments add
    // `none` above). Never copied from `from`: an identity provider's
    // issuer and audience belong to one tenant.
    let auth_key = api_keys_template(platform).map(|k| json!({ "api_keys": k }));
    match from {
        None => {
            let mut ai = Map::new();
            ai.insert("chat".into(), json!({ "model": "@cf/meta/llama-3.1-8b-instruct" }));
            if let Some(e) = embedding_for(platform) {
                ai.insert("embedding".into(), e.into());
            }
            t.insert("ai".into(), Value::Object(ai));
        }
        Some(f) => {
            t.insert("ai".into(), ai_json(id, &f.ai));
            let mut rag =
                json!({ "chunk_size": f.rag.chunk_size, "overlap": f.rag.overlap, "top_k": f.rag.top_k, "min_score": f.rag.min_score });
            if f.rag.hybrid {
                rag["hybrid"] = true.into();
            }
            if let Some(m) = &f.rag.rerank_model {
                rag["rerank"] = m.clone().into();
            }
            if f.rag.ingest_role != "admin" {
                rag["ingest_role"] = f.rag.ingest_role.clone().into();
            }
            t.insert("rag".into(), rag);
            t.insert("sessions".into(), sessions_json(&f.sessions));
            let rl = |l: &crate::resolved::RateLimit| json!({ "limit": l.limit, "per": serde_json::to_value(l.per).expect("serialises") });
            t.insert(
                "rate_limits".into(),
                json!({ "tenant": rl(&f.rate_limits.tenant), "user": rl(&f.rate_limits.user), "ip": rl(&f.rate_limits.ip) }),
            );
            t.insert(
                "cache".into(),
                json!({ "search_ttl": f.cache.search_ttl, "chat_ttl": f.cache.chat_ttl }),
            );
            let tools: Map<String, Value> = f
                .tools
                .iter()
                .map(|x| {
                    let v = if x.roles.is_empty() {
                        json!({})
                    } else {
                        json!({ "roles": x.roles })
                    };
                    (x.name.clone(), v)
                })
                .collect();
            if !tools.is_empty() {
                t.insert("tools".into(), Value::Object(tools));
            }
            let mut tts = Map::new();
            tts.insert("enabled".into(), f.tts.enabled.into());
            if let Some(v) = &f.tts.voice {
                tts.insert("voice".into(), v.clone().into());
            }
            tts.insert("max_chars".into(), f.tts.max_chars.into());
            t.insert("tts".into(), Value::Object(tts));
            let mut safety = Map::new();
            safety.insert("max_input_chars".into(), f.safety.max_input_chars.into());
            safety.insert("pii_redaction".into(), f.safety.pii_redaction.into());
            if !f.safety.blocked_terms.is_empty() {
                safety.insert("blocked_terms".into(), json!(f.safety.blocked_terms));
            }
            t.insert("safety".into(), Value::Object(safety));
            if !f.secrets.is_empty() {
                t.insert("secrets".into(), json!(f.secrets));
            }
            if !common.is_empty() {
                t.insert("vars".into(), Value::Object(common));
            }
        }
    }
    if let Some(a) = auth_key {
        t.insert("auth".into(), a);
    }
    Value::Object(t)
}

/// The `sessions` object copied from a resolved tenant: the retention in
/// days when it is whole days, else in seconds.
fn sessions_json(s: &crate::resolved::Sessions) -> Value {
    if s.retention_secs == u64::from(s.retention_days) * 86_400 {
        json!({ "retention_days": s.retention_days, "max_messages": s.max_messages })
    } else {
        json!({ "retention_seconds": s.retention_secs, "max_messages": s.max_messages })
    }
}

/// The `ai` object copied from a resolved tenant (`tenants new --from`):
/// every value written out, the gateway renamed for the new tenant.
fn ai_json(id: &str, a: &crate::resolved::Ai) -> Value {
    let mut ai = Map::new();
    if a.gateway.is_some() {
        ai.insert("gateway".into(), format!("{id}-gw").into());
    }
    let mut chat = json!({ "model": a.chat_model, "max_tokens": a.max_tokens, "temperature": a.temperature });
    if !a.fallbacks.is_empty() {
        chat["fallbacks"] = json!(a.fallbacks);
    }
    ai.insert("chat".into(), chat);
    if let Some(m) = &a.embedding_model {
        ai.insert("embedding".into(), m.clone().into());
    }
    if let Some(m) = &a.tts_model {
        ai.insert("tts".into(), m.clone().into());
    }
    if !a.routes.is_empty() {
        let routes: Map<String, Value> = a
            .routes
            .iter()
            .map(|r| {
                let mut o = json!({ "chat": r.chat_model, "max_tokens": r.max_tokens, "temperature": r.temperature });
                // Written only where it differs from what the route would inherit.
                if r.fallbacks != crate::resolved::inherited_fallbacks(&a.fallbacks, &r.chat_model) {
                    o["fallbacks"] = json!(r.fallbacks);
                }
                (r.route.clone(), o)
            })
            .collect();
        ai.insert("routes".into(), Value::Object(routes));
    }
    let mut budget = Map::new();
    if let Some(n) = a.tokens_per_day {
        budget.insert("tokens_per_day".into(), n.into());
    }
    if let Some(n) = a.user_tokens_per_day {
        budget.insert("user_tokens_per_day".into(), n.into());
    }
    if !budget.is_empty() {
        ai.insert("budget".into(), Value::Object(budget));
    }
    ai.insert("timeout_ms".into(), a.timeout_ms.into());
    ai.insert("retries".into(), a.retries.into());
    Value::Object(ai)
}

/// An environment's `ai_provider` copied from a resolved tenant; `None`
/// for the default (the platform's `ai` binding), which is left out.
fn provider_json(p: &crate::resolved::AiProvider) -> Option<Value> {
    use crate::resolved::AiProvider;
    let mut o = Map::new();
    match p {
        AiProvider::WorkersAi { .. } => return None,
        AiProvider::Gateway { token_secret, .. } => {
            o.insert("kind".into(), "gateway".into());
            if let Some(s) = token_secret {
                o.insert("token_secret".into(), s.clone().into());
            }
        }
        AiProvider::OpenAiCompatible {
            base_url,
            api_key_secret,
            model,
        } => {
            o.insert("kind".into(), "openai-compatible".into());
            o.insert("base_url".into(), base_url.clone().into());
            if let Some(s) = api_key_secret {
                o.insert("api_key_secret".into(), s.clone().into());
            }
            if let Some(m) = model {
                o.insert("model".into(), m.clone().into());
            }
        }
    }
    Some(Value::Object(o))
}

// ----------------------------------------------------------- loading ---

/// Compile the platform and accounts files alone (plus `with` tenant files),
/// so a generator can use the resolved platform even while other tenants
/// still hold placeholders.
fn partial_model(root: &Path, with: &[PathBuf]) -> Result<Model> {
    let layout = crate::discover(root).map_err(|e| GenError(e.to_string()))?;
    let tmp = TempDir::new().map_err(|e| GenError(format!("cannot create a temporary directory: {e}")))?;
    let mut files = vec![layout.platform.clone(), layout.accounts.clone()];
    files.extend(with.iter().cloned());
    for f in &files {
        let name = f.file_name().ok_or_else(|| GenError(format!("{}: not a file", f.display())))?;
        std::fs::copy(f, tmp.path().join(name)).map_err(|e| GenError(format!("{}: {e}", f.display())))?;
    }
    let comp = crate::compile(tmp.path()).map_err(|e| GenError(e.to_string()))?;
    match comp.model {
        Some(m) => Ok(m),
        None => {
            let report = crate::diag::render_short(&comp.sources, &comp.diagnostics.items);
            let report = report.replace(&format!("{}/", tmp.path().display()), &format!("{}/", root.display()));
            err(format!(
                "fix these first (`tenants check --root {}`):\n{}",
                root.display(),
                report.trim_end()
            ))
        }
    }
}

/// After an edit: the placeholders `tenants check` now reports in `files`.
fn todo_list(root: &Path, files: &[PathBuf]) -> Vec<String> {
    let Ok(comp) = crate::compile(root) else {
        return Vec::new();
    };
    let prefixes: Vec<String> = files.iter().map(|p| format!("{}:", p.display())).collect();
    crate::diag::render_short(&comp.sources, &comp.diagnostics.items)
        .lines()
        .filter(|l| prefixes.iter().any(|p| l.starts_with(p.as_str())))
        .map(str::to_string)
        .collect()
}

/// Replace the placeholders of `init`'s example tenant with example values
/// (reserved `example.com` hosts, all-zero-but-one ids) so a new repository
/// checks and builds at once; its header says to replace them.
fn example_values(v: &mut Value, n: &mut u32, env: &str) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                let e = if env.is_empty() && matches!(x, Value::Object(_)) && k != "envs" {
                    k.as_str()
                } else {
                    env
                };
                example_values(x, n, e);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| example_values(x, n, env)),
        Value::String(s) if s.starts_with(PLACEHOLDER_PREFIX) => {
            *n += 1;
            *s = if s.contains("host of") {
                format!("example-{env}.example.com")
            } else if s.contains("KV namespace id") {
                format!("{:032x}", *n)
            } else if s.contains("Vectorize index") {
                format!("example-docs-{env}")
            } else if s.contains("queue name") {
                format!("example-queue-{env}")
            } else {
                format!("example_{}", env.replace('-', "_"))
            };
        }
        _ => {}
    }
}

fn write_new(path: &Path, text: &str) -> Result<()> {
    if path.exists() {
        return err(format!("{} already exists; nothing was written", path.display()));
    }
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| GenError(format!("{}: {e}", dir.display())))?;
    }
    crate::write_atomic(path, text.as_bytes()).map_err(|e| GenError(format!("{}: {e}", path.display())))
}

// ---------------------------------------------------------------- init ---

const INIT_PLATFORM: &str = r#"// The platform: one Worker serving every tenant. Each tenant file must give a
// resource for every binding below in every environment.
// Reference: docs/tenant-format.md
platform "ai-platform" {
    compatibility-date "2026-11-01"
    compatibility-flags "nodejs_compat"

    environment "dev" development=#true workers-dev=#true
    environment "stage"
    environment "prod"

    kv CACHE
    durable-object SESSIONS class="ChatSession"
    durable-object RATE_LIMITER class="RateLimiter"
    // Every tool call, one tamper-evident record per call (per tenant).
    durable-object AUDIT class="AuditLog"
    // The local vector index development environments search instead of Vectorize.
    durable-object DOC_INDEX class="DocIndex"
    vectorize DOCS dimensions=768 metric="cosine"
    ai AI
    analytics-engine EVENTS dataset="ai_platform_events"

    tool "summarize" description="Summarise a text or one of your chat sessions"
}
"#;

const INIT_ACCOUNTS: &str = r#"{
  "$schema": "../schemas/accounts.schema.json",
  // Cloudflare accounts. `token_env` names the environment variable that holds
  // the account's API token; the token itself never appears in this repository.
  "accounts": {
    "main": {
      "account_id": "00000000000000000000000000000000",
      "token_env": "CF_API_TOKEN_MAIN"
    }
  }
}
"#;

/// `tenants init DIR`: a new repository layout — `tenants/platform.kdl`,
/// `tenants/accounts.jsonc`, one example tenant and `schemas/`.
pub fn init(dir: &Path) -> Result<Outcome> {
    let tenants = dir.join("tenants");
    let schemas = dir.join("schemas");
    let files = [
        tenants.join("platform.kdl"),
        tenants.join("accounts.jsonc"),
        tenants.join("example.kdl"),
    ];
    for f in &files {
        if f.exists() {
            return err(format!(
                "{} already exists; `tenants init` only starts new repositories (nothing was written)",
                f.display()
            ));
        }
    }
    if crate::discover(&tenants).is_ok() {
        return err(format!("{} already holds tenant files; nothing was written", tenants.display()));
    }
    // The example tenant is built from the platform it will live in.
    let tmp = TempDir::new().map_err(|e| GenError(e.to_string()))?;
    std::fs::write(tmp.path().join("platform.kdl"), INIT_PLATFORM).map_err(|e| GenError(e.to_string()))?;
    std::fs::write(tmp.path().join("accounts.jsonc"), INIT_ACCOUNTS).map_err(|e| GenError(e.to_string()))?;
    let model = partial_model(tmp.path(), &[])?;
    let mut v = tenant_json(&model.platform, "example", "Example tenant", "main", None);
    if let Some(envs) = v.get_mut("envs").and_then(Value::as_object_mut) {
        let mut n = 0;
        for (name, e) in envs.iter_mut() {
            example_values(e, &mut n, name);
        }
    }
    let example = render_tenant_kdl(&v, "An example tenant with example values (example.com hosts, made-up ids): replace them\nwith real ones before deploying. Add tenants with `tenants new <id> [--from example]`;\nevery field: docs/tenant-format.md");
    write_new(&files[0], INIT_PLATFORM)?;
    write_new(&files[1], INIT_ACCOUNTS)?;
    write_new(&files[2], &example)?;
    let schema_files = crate::emit::schema::render_all();
    crate::emit::schema::write_all(&schemas, &schema_files).map_err(|e| GenError(format!("{}: {e}", schemas.display())))?;
    let mut created: Vec<PathBuf> = files.to_vec();
    let todo = todo_list(&tenants, &created);
    created.extend(schema_files.iter().map(|(n, _)| schemas.join(n)));
    Ok(Outcome {
        created,
        edited: Vec::new(),
        todo,
    })
}

// ----------------------------------------------------------------- new ---

/// `tenants new ID [--format kdl|jsonc] [--from EXISTING] [--name N] [--account A]`.
pub fn new_tenant(
    root: &Path,
    id: &str,
    format: FileFormat,
    from: Option<&str>,
    name: Option<&str>,
    account: Option<&str>,
) -> Result<Outcome> {
    if !is_slug(id, 32) {
        return err(format!(
            "`{id}` is not a valid tenant id: lowercase letters, digits and single dashes, at most 32 characters, starting with a letter"
        ));
    }
    let layout = crate::discover(root).map_err(|e| GenError(e.to_string()))?;
    if let Some(existing) = layout.tenants.iter().find(|p| p.file_stem().and_then(|s| s.to_str()) == Some(id)) {
        return err(format!("tenant `{id}` already exists: {}", existing.display()));
    }
    let from_file = match from {
        None => None,
        Some(f) => match layout.tenants.iter().find(|p| p.file_stem().and_then(|s| s.to_str()) == Some(f)) {
            Some(p) => Some(p.clone()),
            None => {
                let names: Vec<&str> = layout
                    .tenants
                    .iter()
                    .filter_map(|p| p.file_stem().and_then(|s| s.to_str()))
                    .collect();
                let hint = crate::diag::did_you_mean(f, names)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                return err(format!("no tenant `{f}` to copy from{hint}"));
            }
        },
    };
    let model = partial_model(root, from_file.as_slice())?;
    let source = from_file.as_ref().and_then(|_| model.tenants.first());
    let account = match (account, source) {
        (Some(a), _) => {
            if !model.accounts.iter().any(|x| x.key == a) {
                let hint = crate::diag::did_you_mean(a, model.accounts.iter().map(|x| x.key.as_str()))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                return err(format!("no account `{a}` in the accounts file{hint}"));
            }
            a.to_string()
        }
        (None, Some(s)) => s.account.clone(),
        (None, None) if model.accounts.len() == 1 => model.accounts[0].key.clone(),
        (None, None) => {
            return err(format!(
                "the accounts file has {} accounts: choose one with --account ({})",
                model.accounts.len(),
                model.accounts.iter().map(|a| a.key.as_str()).collect::<Vec<_>>().join(", ")
            ))
        }
    };
    let name = name.map(str::to_string).unwrap_or_else(|| id.to_string());
    let v = tenant_json(&model.platform, id, &name, &account, source);
    let header = match from {
        Some(f) => format!("Tenant `{id}`, made by `tenants new {id} --from {f}`: settings copied from `{f}`.\nReplace every \"TODO…\" value (hosts and resources are per tenant), then run `tenants check`."),
        None => format!("Tenant `{id}`, made by `tenants new {id}`. Replace every \"TODO…\" value, then run `tenants check`.\nEvery field (auth, models, limits, tools, TTS, safety): docs/tenant-format.md"),
    };
    let text = match format {
        FileFormat::Kdl => render_tenant_kdl(&v, &header),
        FileFormat::Jsonc => render_tenant_jsonc(&v, &header),
    };
    let path = root.join(format!("{id}.{}", format.extension()));
    write_new(&path, &text)?;
    let todo = todo_list(root, std::slice::from_ref(&path));
    Ok(Outcome {
        created: vec![path],
        edited: Vec::new(),
        todo,
    })
}

// ---------------------------------------------------------- file edits ---

/// An edit of one existing file, done in memory.
struct Edit {
    path: PathBuf,
    text: String,
}

fn format_of(path: &Path) -> Option<Format> {
    path.extension().and_then(|e| e.to_str()).and_then(Format::from_extension)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| GenError(format!("{}: {e}", path.display())))
}

/// The indentation (spaces/tabs after the last newline) of a node's leading text.
fn indent_of(node: &kdl::KdlNode) -> String {
    let leading = node.format().map(|f| f.leading.as_str()).unwrap_or("");
    let last = leading.rsplit('\n').next().unwrap_or("");
    if last.chars().all(|c| c == ' ' || c == '\t') {
        last.to_string()
    } else {
        String::new()
    }
}

/// Insert KDL nodes (given as text at indentation 0, each node's inner lines
/// indented one `unit`) into `children`, after the last node named one of
/// `after` (else at the end), matching the siblings' indentation.
fn kdl_insert(children: &mut kdl::KdlDocument, after: &[&str], snippet: &str, blank_line: bool) -> Result<()> {
    let nodes = children.nodes();
    let pos = nodes.iter().rposition(|n| after.contains(&n.name().value()));
    let indent = pos
        .or(if nodes.is_empty() { None } else { Some(0) })
        .map(|i| indent_of(&nodes[i]))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "    ".into());
    let unit = if indent.starts_with('\t') {
        "\t".to_string()
    } else {
        "    ".to_string()
    };
    // Re-indent the snippet to its destination and parse it with the kdl crate.
    let text: String = snippet
        .lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("{indent}{}\n", l.replace("    ", &unit))
            }
        })
        .collect();
    let parsed = kdl::KdlDocument::parse_v2(&text).map_err(|e| GenError(format!("internal: generated KDL does not parse: {e}")))?;
    let at = pos.map(|i| i + 1).unwrap_or(children.nodes().len());
    for (k, mut node) in parsed.nodes().iter().cloned().enumerate() {
        if let Some(f) = node.format_mut() {
            f.leading = if blank_line && k == 0 {
                format!("\n{indent}")
            } else {
                indent.clone()
            };
            f.terminator = "\n".into();
        }
        children.nodes_mut().insert(at + k, node);
    }
    Ok(())
}

fn kdl_doc(path: &Path, text: &str) -> Result<kdl::KdlDocument> {
    kdl::KdlDocument::parse_v2(text).map_err(|e| {
        GenError(format!(
            "{}: not valid KDL ({e}); fix it with `tenants check` first",
            path.display()
        ))
    })
}

fn kdl_top<'a>(doc: &'a mut kdl::KdlDocument, name: &str, path: &Path) -> Result<&'a mut kdl::KdlDocument> {
    let node = doc
        .nodes_mut()
        .iter_mut()
        .find(|n| n.name().value() == name)
        .ok_or_else(|| GenError(format!("{}: no `{name}` node", path.display())))?;
    Ok(node.ensure_children())
}

fn cst(path: &Path, text: &str) -> Result<jsonc_parser::cst::CstRootNode> {
    jsonc_parser::cst::CstRootNode::parse(text, &jsonc_parser::ParseOptions::default()).map_err(|e| {
        GenError(format!(
            "{}: not valid JSON ({e}); fix it with `tenants check` first",
            path.display()
        ))
    })
}

fn cst_root_object(root: &jsonc_parser::cst::CstRootNode, path: &Path) -> Result<jsonc_parser::cst::CstObject> {
    root.object_value()
        .ok_or_else(|| GenError(format!("{}: the file is not a JSON object", path.display())))
}

fn cst_value(v: &Value) -> jsonc_parser::cst::CstInputValue {
    use jsonc_parser::cst::CstInputValue as I;
    match v {
        Value::Null => I::Null,
        Value::Bool(b) => I::Bool(*b),
        Value::Number(n) => I::Number(n.to_string()),
        Value::String(s) => I::String(s.clone()),
        Value::Array(a) => I::Array(a.iter().map(cst_value).collect()),
        Value::Object(o) => I::Object(o.iter().map(|(k, v)| (k.clone(), cst_value(v))).collect()),
    }
}

/// Commit edits: all texts were produced before any file is written; each
/// file is replaced atomically.
fn commit(edits: &[Edit]) -> Result<Vec<PathBuf>> {
    for e in edits {
        crate::write_atomic(&e.path, e.text.as_bytes()).map_err(|err| GenError(format!("{}: {err}", e.path.display())))?;
    }
    Ok(edits.iter().map(|e| e.path.clone()).collect())
}

// ---------------------------------------------------------- add binding ---

/// The binding kinds `tenants add binding` knows (the platform file's node names).
pub const BINDING_KINDS: &[&str] = &["kv", "durable-object", "vectorize", "ai", "analytics-engine", "queue"];

/// Options of `tenants add binding`.
#[derive(Debug, Clone, Default)]
pub struct BindingSpec {
    pub kind: String,
    pub name: String,
    pub class: Option<String>,
    pub dimensions: Option<u32>,
    pub metric: Option<String>,
    pub dataset: Option<String>,
}

fn binding_json(spec: &BindingSpec) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), spec.kind.clone().into());
    if let Some(c) = &spec.class {
        m.insert("class".into(), c.clone().into());
    }
    if let Some(d) = spec.dimensions {
        m.insert("dimensions".into(), d.into());
    }
    if let Some(x) = &spec.metric {
        m.insert("metric".into(), x.clone().into());
    }
    if let Some(x) = &spec.dataset {
        m.insert("dataset".into(), x.clone().into());
    }
    Value::Object(m)
}

fn binding_kdl(spec: &BindingSpec) -> String {
    let mut s = format!("{} {}", spec.kind, spec.name);
    if let Some(c) = &spec.class {
        s.push_str(&format!(" class={}", kdl_str(c)));
    }
    if let Some(d) = spec.dimensions {
        s.push_str(&format!(" dimensions={d}"));
    }
    if let Some(x) = &spec.metric {
        s.push_str(&format!(" metric={}", kdl_str(x)));
    }
    if let Some(x) = &spec.dataset {
        s.push_str(&format!(" dataset={}", kdl_str(x)));
    }
    s
}

fn validate_binding(spec: &mut BindingSpec, platform: &Platform) -> Result<()> {
    if !BINDING_KINDS.contains(&spec.kind.as_str()) {
        let hint = crate::diag::did_you_mean(&spec.kind, BINDING_KINDS.iter().copied())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return err(format!(
            "unknown binding kind `{}`{hint}: one of {}",
            spec.kind,
            BINDING_KINDS.join(", ")
        ));
    }
    if !is_upper_name(&spec.name) {
        return err(format!(
            "`{}` is not a binding name: upper-case letters, digits and `_`, starting with a letter (e.g. SEARCH_CACHE)",
            spec.name
        ));
    }
    if platform.bindings.iter().any(|b| b.name == spec.name) {
        return err(format!("the platform already has a binding `{}`", spec.name));
    }
    let extra = |what: &str, given: bool| -> Result<()> {
        if given {
            err(format!("--{what} does not apply to a `{}` binding", spec.kind))
        } else {
            Ok(())
        }
    };
    match spec.kind.as_str() {
        "durable-object" => {
            let class = spec
                .class
                .clone()
                .ok_or_else(|| GenError("a durable-object binding needs --class (e.g. --class SearchIndex)".into()))?;
            if !is_class_name(&class) {
                return err(format!("`{class}` is not a class name: `^[A-Z][A-Za-z0-9]*$`"));
            }
            extra("dimensions", spec.dimensions.is_some())?;
            extra("metric", spec.metric.is_some())?;
            extra("dataset", spec.dataset.is_some())?;
        }
        "vectorize" => {
            let d = spec
                .dimensions
                .ok_or_else(|| GenError("a vectorize binding needs --dimensions (e.g. 768 for @cf/baai/bge-base-en-v1.5)".into()))?;
            if !(1..=1536).contains(&d) {
                return err("--dimensions is 1 to 1536");
            }
            let m = spec.metric.get_or_insert_with(|| "cosine".into()).clone();
            if !["cosine", "euclidean", "dot-product"].contains(&m.as_str()) {
                return err(format!("unknown metric `{m}`: cosine, euclidean or dot-product"));
            }
            extra("class", spec.class.is_some())?;
            extra("dataset", spec.dataset.is_some())?;
        }
        "analytics-engine" => {
            if let Some(d) = &spec.dataset {
                if !is_dataset_name(d) {
                    return err(format!("`{d}` is not a dataset name: letters, digits and `_`"));
                }
            }
            extra("class", spec.class.is_some())?;
            extra("dimensions", spec.dimensions.is_some())?;
            extra("metric", spec.metric.is_some())?;
        }
        "ai" => {
            if platform.bindings.iter().any(|b| matches!(b.kind, BindingKind::Ai)) {
                return err("the platform already has an `ai` binding; a Worker has one");
            }
            extra("class", spec.class.is_some())?;
            extra("dimensions", spec.dimensions.is_some())?;
            extra("metric", spec.metric.is_some())?;
            extra("dataset", spec.dataset.is_some())?;
        }
        _ => {
            extra("class", spec.class.is_some())?;
            extra("dimensions", spec.dimensions.is_some())?;
            extra("metric", spec.metric.is_some())?;
            extra("dataset", spec.dataset.is_some())?;
        }
    }
    Ok(())
}

/// The durable object class skeleton for the runtime crate (workers-rs).
pub fn durable_object_skeleton(class: &str, binding: &str) -> String {
    format!(
        r#"//! Durable Object `{class}`, bound as `{binding}` (added by `tenants add binding
//! durable-object {binding} --class {class}`). wrangler's generated configs
//! declare it as a SQLite class; the Worker must export it.
//!
//! Tenant isolation: get the stub through the tenant context's storage-key
//! function, never from a raw name, so one tenant cannot reach another's object.

use worker::*;

#[durable_object]
pub struct {class} {{
    state: State,
    #[allow(dead_code)]
    env: Env,
}}

impl DurableObject for {class} {{
    fn new(state: State, env: Env) -> Self {{
        Self {{ state, env }}
    }}

    async fn fetch(&self, _req: Request) -> Result<Response> {{
        let _storage = self.state.storage();
        Response::error("{class} is not implemented yet", 501)
    }}
}}
"#
    )
}

fn snake(class: &str) -> String {
    let mut s = String::new();
    for (i, c) in class.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                s.push('_');
            }
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

/// Add the resource placeholder of binding `name` to every environment of a
/// tenant file (only for kinds with per-tenant resources).
fn tenant_add_resource(path: &Path, text: &str, platform: &Platform, name: &str) -> Result<Option<String>> {
    let Some(fmt) = format_of(path) else { return Ok(None) };
    let tenant = path.file_stem().and_then(|s| s.to_str()).unwrap_or("tenant").to_string();
    let mut any = false;
    let out = if fmt == Format::Kdl {
        let mut doc = kdl_doc(path, text)?;
        let t = kdl_top(&mut doc, "tenant", path)?;
        for env in t.nodes_mut().iter_mut().filter(|n| n.name().value() == "env") {
            let Some(env_name) = env.entries().first().and_then(|e| e.value().as_string()).map(str::to_string) else {
                continue;
            };
            let res = placeholder_resources(platform, &tenant, &env_name, Some(name));
            let lines = kdl_env_lines(&res, "");
            if lines.is_empty() {
                continue;
            }
            any = true;
            let children = env.ensure_children();
            kdl_insert(
                children,
                &["kv", "vectorize", "analytics-engine", "queue", "host"],
                &lines.join("\n"),
                false,
            )?;
        }
        doc.to_string()
    } else {
        let root = cst(path, text)?;
        let o = cst_root_object(&root, path)?;
        if let Some(envs) = o.object_value("envs") {
            for prop in envs.properties() {
                let Some(env_name) = prop.decoded_name() else { continue };
                let Some(env) = prop.object_value() else { continue };
                for (key, res) in placeholder_resources(platform, &tenant, &env_name, Some(name)) {
                    any = true;
                    let group = env.object_value_or_set(&key);
                    for (b, v) in obj(&res) {
                        group.append(&b, cst_value(&v));
                    }
                }
            }
        }
        root.to_string()
    };
    Ok(any.then_some(out))
}

/// When a platform gets its second KV binding, `api-keys` without `kv`
/// (which meant "the only KV binding") would become ambiguous: name the
/// binding it meant, `kv`, in every `auth` block of a tenant file.
fn tenant_pin_api_keys(path: &Path, text: &str, kv: &str) -> Result<Option<String>> {
    let Some(fmt) = format_of(path) else { return Ok(None) };
    let mut any = false;
    let out = if fmt == Format::Kdl {
        let mut doc = kdl_doc(path, text)?;
        let t = kdl_top(&mut doc, "tenant", path)?;
        let pin = |auth: &mut kdl::KdlNode| -> bool {
            let Some(children) = auth.children_mut() else { return false };
            let mut changed = false;
            for n in children.nodes_mut().iter_mut().filter(|n| n.name().value() == "api-keys") {
                let named = n.entries().iter().any(|e| e.name().is_some_and(|x| x.value() == "kv"))
                    || n.children().is_some_and(|c| c.nodes().iter().any(|x| x.name().value() == "kv"));
                let args: Vec<&kdl::KdlEntry> = n.entries().iter().filter(|e| e.name().is_none()).collect();
                let on = match args.as_slice() {
                    [] => true,
                    [a] => *a.value() == kdl::KdlValue::Bool(true),
                    _ => false,
                };
                if named || !on {
                    continue;
                }
                // Parsed from text, so the value is quoted like the rest of the file.
                let Ok(entry) = format!(" kv={}", kdl_str(kv)).parse::<kdl::KdlEntry>() else {
                    continue;
                };
                n.entries_mut().retain(|e| e.name().is_some());
                n.entries_mut().push(entry);
                changed = true;
            }
            changed
        };
        for node in t.nodes_mut().iter_mut() {
            match node.name().value() {
                "auth" => any |= pin(node),
                "env" => {
                    if let Some(c) = node.children_mut() {
                        for a in c.nodes_mut().iter_mut().filter(|n| n.name().value() == "auth") {
                            any |= pin(a);
                        }
                    }
                }
                _ => {}
            }
        }
        doc.to_string()
    } else {
        use jsonc_parser::cst::{CstContainerNode, CstInputValue as I, CstNode};
        let root = cst(path, text)?;
        let o = cst_root_object(&root, path)?;
        let pin = |auth: &jsonc_parser::cst::CstObject| -> bool {
            let Some(prop) = auth.get("api_keys") else { return false };
            match prop.value() {
                Some(v) if v.as_boolean_lit().is_some_and(|b| b.value()) => {
                    prop.set_value(I::Object(vec![("kv".into(), I::String(kv.into()))]));
                    true
                }
                Some(CstNode::Container(CstContainerNode::Object(x))) if x.get("kv").is_none() => {
                    x.append("kv", I::String(kv.into()));
                    true
                }
                _ => false,
            }
        };
        let mut blocks: Vec<jsonc_parser::cst::CstObject> = o.object_value("auth").into_iter().collect();
        if let Some(envs) = o.object_value("envs") {
            blocks.extend(
                envs.properties()
                    .iter()
                    .filter_map(|p| p.object_value())
                    .filter_map(|e| e.object_value("auth")),
            );
        }
        for b in &blocks {
            any |= pin(b);
        }
        root.to_string()
    };
    Ok(any.then_some(out))
}

/// `tenants add binding KIND NAME [...]`: add the binding to the platform
/// file, a resource placeholder to every tenant environment that needs one,
/// and for a durable object the class skeleton in the runtime crate. The
/// platform's second KV binding also pins `api-keys` to the first one.
pub fn add_binding(root: &Path, mut spec: BindingSpec) -> Result<Outcome> {
    let layout = crate::discover(root).map_err(|e| GenError(e.to_string()))?;
    let model = partial_model(root, &[])?;
    validate_binding(&mut spec, &model.platform)?;
    let ppath = layout.platform.clone();
    let ptext = read(&ppath)?;
    let new_platform = if format_of(&ppath) == Some(Format::Kdl) {
        let mut doc = kdl_doc(&ppath, &ptext)?;
        let p = kdl_top(&mut doc, "platform", &ppath)?;
        kdl_insert(p, BINDING_KINDS, &binding_kdl(&spec), false)?;
        doc.to_string()
    } else {
        let root_node = cst(&ppath, &ptext)?;
        let o = cst_root_object(&root_node, &ppath)?;
        o.object_value_or_set("bindings")
            .append(&spec.name, cst_value(&binding_json(&spec)));
        root_node.to_string()
    };
    let mut edits = vec![Edit {
        path: ppath.clone(),
        text: new_platform.clone(),
    }];
    // The platform as it will be, for the placeholders.
    let mut platform = model.platform.clone();
    platform.bindings.push(crate::resolved::Binding {
        name: spec.name.clone(),
        kind: match spec.kind.as_str() {
            "kv" => BindingKind::Kv,
            "vectorize" => BindingKind::Vectorize {
                dimensions: spec.dimensions.unwrap_or(0),
                metric: spec.metric.clone().unwrap_or_default(),
            },
            "analytics-engine" => BindingKind::AnalyticsEngine {
                dataset: spec.dataset.clone().unwrap_or_default(),
            },
            "durable-object" => BindingKind::DurableObject {
                class: spec.class.clone().unwrap_or_default(),
            },
            "queue" => BindingKind::Queue,
            _ => BindingKind::Ai,
        },
    });
    // A second KV binding: API keys that meant "the only one" now name it.
    let kv_bindings: Vec<&str> = model
        .platform
        .bindings
        .iter()
        .filter(|b| matches!(b.kind, BindingKind::Kv))
        .map(|b| b.name.as_str())
        .collect();
    let pin_kv = match kv_bindings.as_slice() {
        [only] if spec.kind == "kv" => Some(*only),
        _ => None,
    };
    for t in &layout.tenants {
        let text = read(t)?;
        let mut new = tenant_add_resource(t, &text, &platform, &spec.name)?;
        if let Some(kv) = pin_kv {
            if let Some(pinned) = tenant_pin_api_keys(t, new.as_deref().unwrap_or(&text), kv)? {
                new = Some(pinned);
            }
        }
        if let Some(new) = new {
            edits.push(Edit {
                path: t.clone(),
                text: new,
            });
        }
    }
    let mut created = Vec::new();
    let mut skeleton = None;
    if let Some(class) = &spec.class {
        let dir = crate::emit::artifacts::repo_dir(root).join("runtime").join("src").join("objects");
        let file = dir.join(format!("{}.rs", snake(class)));
        if !file.exists() {
            skeleton = Some((dir, file, durable_object_skeleton(class, &spec.name)));
        }
    }
    let edited = commit(&edits)?;
    if let Some((dir, file, text)) = skeleton {
        std::fs::create_dir_all(&dir).map_err(|e| GenError(format!("{}: {e}", dir.display())))?;
        write_new(&file, &text)?;
        created.push(file);
    }
    let todo = todo_list(root, &edited);
    Ok(Outcome { created, edited, todo })
}

// -------------------------------------------------------------- add env ---

/// `tenants add env NAME [--development] [--workers-dev]`: add the
/// environment to the platform file and an environment block with a host
/// and resource placeholders to every tenant file.
pub fn add_env(root: &Path, name: &str, development: bool, workers_dev: bool) -> Result<Outcome> {
    if !is_slug(name, 32) {
        return err(format!("`{name}` is not an environment name: lowercase letters, digits and dashes"));
    }
    let layout = crate::discover(root).map_err(|e| GenError(e.to_string()))?;
    let model = partial_model(root, &[])?;
    if model.platform.environments.iter().any(|e| e.name == name) {
        return err(format!("the platform already has an environment `{name}`"));
    }
    let mut platform = model.platform.clone();
    platform.environments.push(crate::resolved::Environment {
        name: name.to_string(),
        development,
        workers_dev,
    });
    let ppath = layout.platform.clone();
    let ptext = read(&ppath)?;
    let new_platform = if format_of(&ppath) == Some(Format::Kdl) {
        let mut doc = kdl_doc(&ppath, &ptext)?;
        let p = kdl_top(&mut doc, "platform", &ppath)?;
        let mut line = format!("environment {}", kdl_str(name));
        if development {
            line.push_str(" development=#true");
        }
        if workers_dev {
            line.push_str(" workers-dev=#true");
        }
        kdl_insert(p, &["environment"], &line, false)?;
        doc.to_string()
    } else {
        let r = cst(&ppath, &ptext)?;
        let o = cst_root_object(&r, &ppath)?;
        let mut m = Map::new();
        if development {
            m.insert("development".into(), true.into());
        }
        if workers_dev {
            m.insert("workers_dev".into(), true.into());
        }
        o.object_value_or_set("environments").append(name, cst_value(&Value::Object(m)));
        r.to_string()
    };
    let mut edits = vec![Edit {
        path: ppath,
        text: new_platform,
    }];
    for t in &layout.tenants {
        let Some(fmt) = format_of(t) else { continue };
        let tenant = t.file_stem().and_then(|s| s.to_str()).unwrap_or("tenant").to_string();
        let text = read(t)?;
        let env = env_placeholder(&platform, &tenant, name);
        let new = if fmt == Format::Kdl {
            let mut doc = kdl_doc(t, &text)?;
            let tn = kdl_top(&mut doc, "tenant", t)?;
            kdl_insert(tn, &["env"], &kdl_env_block(name, &env, "", "    "), true)?;
            doc.to_string()
        } else {
            let r = cst(t, &text)?;
            let o = cst_root_object(&r, t)?;
            o.object_value_or_set("envs").append(name, cst_value(&Value::Object(env)));
            r.to_string()
        };
        edits.push(Edit {
            path: t.clone(),
            text: new,
        });
    }
    let edited = commit(&edits)?;
    let todo = todo_list(root, &edited);
    Ok(Outcome {
        created: Vec::new(),
        edited,
        todo,
    })
}
