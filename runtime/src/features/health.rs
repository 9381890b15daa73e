//! `GET /health`: which tenant this is, in which environment, which build,
//! and which of the platform's bindings the deployment has.

use crate::tenancy::resolve::{Deployment, TenantCtx};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Serialize, PartialEq, JsonSchema)]
pub struct Health {
    pub tenant: &'static str,
    pub name: &'static str,
    pub env: &'static str,
    pub version: &'static str,
    /// `ok` when every binding is present, else `degraded`.
    pub status: &'static str,
    /// How the tenant was resolved: `host` or `header`.
    pub resolved_by: &'static str,
    pub bindings: BTreeMap<&'static str, Binding>,
    /// Which index serves `/search`: `local` (the `DocIndex` Durable
    /// Object, development), `vectorize`, or `none`.
    pub vector_index: &'static str,
}

#[derive(Debug, Serialize, PartialEq, JsonSchema)]
pub struct Binding {
    pub kind: &'static str,
    pub present: bool,
}

pub fn health(ctx: &TenantCtx, dep: &Deployment) -> Health {
    let bindings: BTreeMap<&'static str, Binding> = dep
        .bindings
        .iter()
        .map(|&(name, kind, present)| (name, Binding { kind, present }))
        .collect();
    Health {
        tenant: ctx.tenant().as_str(),
        name: ctx.config().name,
        env: ctx.env().as_str(),
        version: dep.version,
        status: if bindings.values().all(|b| b.present) { "ok" } else { "degraded" },
        resolved_by: ctx.via().as_str(),
        bindings,
        vector_index: match ctx.env_config().vector_index {
            crate::tenants::VectorIndex::None => "none",
            crate::tenants::VectorIndex::Local { .. } => "local",
            crate::tenants::VectorIndex::Vectorize { .. } => "vectorize",
        },
    }
}
