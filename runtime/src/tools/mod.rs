//! Tools: typed contracts, the registry, and the one dispatcher that direct
//! calls (`POST /tools/{name}`) and model calls (tool calls inside `/chat`)
//! both go through.
//!
//! A tool is a Rust type implementing [`Tool`]: an argument type and a
//! result type, each with a derived JSON Schema. The registry
//! ([`REGISTRY`]) is code; the platform file enables tools by name (the
//! compiler knows the registry's names, `catalog::TOOLS`, and a test keeps
//! the two lists equal); the tenant file enables them per tenant with
//! roles, a timeout and, for `classify-intent`, labels.
//!
//! The five tools:
//! - [`summarize`]: a text, or one of the caller's chat sessions → a summary;
//! - [`entities`] (`extract-entities`): typed entities with character spans;
//! - [`classify`] (`classify-intent`): scores over the tenant's labels;
//! - [`tag_chunk`] (`tag-and-chunk`): a document → the RAG chunker's chunks
//!   and tags;
//! - [`ingest_docs`] (`ingest-docs`): documents → the RAG ingestion.
//!
//! Invariants (enforced by [`dispatch`]):
//! - a tool runs only if the tenant enabled it, the caller's roles allow
//!   it, its arguments validate against its schema and — for a model's call
//!   — it was offered to the model in this request;
//! - a tool that is not enabled is `tool_not_found`, exactly like one that
//!   does not exist;
//! - every attempt, refused or executed, writes one audit record before the
//!   answer leaves; without a reachable audit log nothing runs;
//! - a result leaves only after it validated against the tool's own
//!   output schema.

pub mod classify;
pub mod dispatch;
pub mod entities;
pub mod ingest_docs;
pub mod model;
pub mod summarize;
pub mod tag_chunk;

use std::cell::RefCell;
use std::rc::Rc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::ai::Usage;
use crate::app::envelope::Failure;
use crate::auth::Principal;
use crate::http::body::Detail;
use crate::ports::{LocalFuture, Ports};
use crate::tenancy::resolve::TenantCtx;
use crate::tenants::{TenantConfig, ToolConfig};

/// What a running tool may use.
pub struct ToolCx<'a> {
    pub ctx: &'a TenantCtx,
    pub ports: &'a Ports,
    pub principal: &'a Principal,
    pub request_id: &'a str,
    /// The request's W3C `traceparent`, for the tool's model calls.
    pub traceparent: &'a str,
    /// The tenant's settings of this tool.
    pub config: &'static ToolConfig,
    /// Tokens the tool's model calls used; the caller charges them.
    pub used: Rc<RefCell<Usage>>,
}

/// Why a tool did not produce a result.
#[derive(Debug)]
pub enum ToolError {
    /// The arguments are well-formed but unusable (422, with pointers).
    Invalid(Vec<Detail>),
    /// The caller lacks a permission the tool itself needs (403).
    Forbidden(String),
    /// The tool could not do its work (502 `tool_failed`); the message is
    /// for the caller.
    Failed(String),
    /// A failure with its own code (the model provider, a binding).
    Upstream(Failure),
}

/// A tool: its name, its contract and its work.
pub trait Tool {
    const NAME: &'static str;
    /// For people and for models (the function's description).
    const DESCRIPTION: &'static str;
    /// Milliseconds a call may take unless the tenant sets `timeout-ms`.
    const TIMEOUT_MS: u32;
    /// Calls the tenant's chat model (its tokens count against the budget).
    const USES_MODEL: bool;
    type Args: DeserializeOwned + JsonSchema + 'static;
    type Output: Serialize + JsonSchema + 'static;
    /// A role the tool itself needs beyond the tenant's grant (`ingest-docs`:
    /// the tenant's `rag ingest-role`).
    fn needs_role(_cfg: &'static TenantConfig) -> Option<&'static str> {
        None
    }
    /// Tokens to reserve from the budget for a direct call with these
    /// (unchecked) arguments; 0 for a tool that calls no model.
    fn reserve(_args: &Value) -> u64 {
        0
    }
    fn run<'a>(cx: &'a ToolCx<'a>, args: Self::Args) -> LocalFuture<'a, Result<Self::Output, ToolError>>;
}

/// A registered tool, with its types erased.
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub timeout_ms: u32,
    pub uses_model: bool,
    /// JSON Schema of the arguments (inlined: no `$ref`), as offered to models.
    pub parameters: fn() -> Rc<Value>,
    /// JSON Schema of the result.
    pub output: fn() -> Rc<Value>,
    pub needs_role: fn(&'static TenantConfig) -> Option<&'static str>,
    pub reserve: fn(&Value) -> u64,
    pub run: for<'a> fn(&'a ToolCx<'a>, Value) -> LocalFuture<'a, Result<Value, ToolError>>,
}

fn run_erased<'a, T: Tool>(cx: &'a ToolCx<'a>, args: Value) -> LocalFuture<'a, Result<Value, ToolError>> {
    Box::pin(async move {
        let args: T::Args = serde_json::from_value(args).map_err(|e| ToolError::Invalid(vec![Detail::at("", e.to_string())]))?;
        let out = T::run(cx, args).await?;
        serde_json::to_value(out).map_err(|e| ToolError::Failed(format!("the result could not be encoded: {e}")))
    })
}

const fn entry<T: Tool>() -> ToolSpec {
    ToolSpec {
        name: T::NAME,
        description: T::DESCRIPTION,
        timeout_ms: T::TIMEOUT_MS,
        uses_model: T::USES_MODEL,
        parameters: inline_schema::<T::Args>,
        output: inline_schema::<T::Output>,
        needs_role: T::needs_role,
        reserve: T::reserve,
        run: run_erased::<T>,
    }
}

/// Every tool the Worker implements, by name (sorted).
pub static REGISTRY: &[ToolSpec] = &[
    entry::<classify::ClassifyIntent>(),
    entry::<entities::ExtractEntities>(),
    entry::<ingest_docs::IngestDocs>(),
    entry::<summarize::Summarize>(),
    entry::<tag_chunk::TagAndChunk>(),
];

/// The registered tool of this name.
pub fn find(name: &str) -> Option<&'static ToolSpec> {
    REGISTRY.iter().find(|t| t.name == name)
}

thread_local! {
    static INLINE: RefCell<std::collections::HashMap<std::any::TypeId, Rc<Value>>> = RefCell::new(Default::default());
}

/// `T`'s JSON Schema with every subschema inlined and without `$schema`
/// and `title`: the shape OpenAI-style function calling takes as
/// `parameters`, and what the dispatcher validates against.
pub fn inline_schema<T: JsonSchema + 'static>() -> Rc<Value> {
    let id = std::any::TypeId::of::<T>();
    if let Some(s) = INLINE.with(|m| m.borrow().get(&id).cloned()) {
        return s;
    }
    let settings = schemars::generate::SchemaSettings::draft2020_12().with(|s| s.inline_subschemas = true);
    let mut v = settings.into_generator().into_root_schema_for::<T>().to_value();
    if let Some(o) = v.as_object_mut() {
        o.remove("$schema");
        o.remove("title");
    }
    let s = Rc::new(v);
    INLINE.with(|m| m.borrow_mut().insert(id, s.clone()));
    s
}

/// The tools the tenant enabled that `principal` may call, in registry
/// order: enabled, implemented, granted to one of the caller's roles (or
/// to everyone), and any role the tool itself needs held.
pub fn permitted(cfg: &'static TenantConfig, principal: &Principal) -> Vec<(&'static ToolConfig, &'static ToolSpec)> {
    REGISTRY
        .iter()
        .filter_map(|spec| cfg.tools.iter().find(|t| t.name == spec.name).map(|t| (t, spec)))
        .filter(|(t, spec)| allowed(cfg, t, spec, principal))
        .collect()
}

/// Whether the caller's roles allow an enabled tool.
pub fn allowed(cfg: &'static TenantConfig, t: &ToolConfig, spec: &ToolSpec, principal: &Principal) -> bool {
    (t.roles.is_empty() || t.roles.iter().any(|r| principal.has_role(r))) && (spec.needs_role)(cfg).is_none_or(|r| principal.has_role(r))
}

/// A tool in OpenAI's function-calling shape.
pub fn function(spec: &ToolSpec) -> Value {
    serde_json::json!({
        "type": "function",
        "function": {
            "name": spec.name,
            "description": spec.description,
            "parameters": &*(spec.parameters)(),
        }
    })
}

/// The canonical JSON of a value: object keys sorted (recursively),
/// compact. Its SHA-256 is the audit record's `args_sha256`.
pub fn canonical_json(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(o) => {
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&o[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            x => x.clone(),
        }
    }
    serde_json::to_string(&sorted(v)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_the_compilers_list() {
        let names: Vec<&str> = REGISTRY.iter().map(|t| t.name).collect();
        assert_eq!(names, tenants_compiler::validate::catalog::TOOLS);
    }

    #[test]
    fn every_schema_is_inline_and_an_object() {
        for t in REGISTRY {
            for s in [(t.parameters)(), (t.output)()] {
                let text = s.to_string();
                assert!(!text.contains("$ref") && !text.contains("$defs"), "{}: {text}", t.name);
                assert_eq!(s["type"], "object", "{}: {text}", t.name);
            }
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":[{"d":1,"c":2}],"x":null}}"#).unwrap();
        assert_eq!(canonical_json(&a), r#"{"a":{"x":null,"y":[{"c":2,"d":1}]},"b":1}"#);
    }
}
