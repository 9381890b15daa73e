//! `GET /health`: which tenant this is, in which environment, which build,
//! and which of the platform's bindings the deployment has.

use crate::tenancy::resolve::{Deployment, TenantCtx, Via};
use crate::tenants::{EnvName, TenantId};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::value::RawValue;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

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

/// Everything [`health`] reads: the answer is a function of these alone.
#[derive(PartialEq)]
struct Inputs {
    tenant: TenantId,
    env: EnvName,
    via: Via,
    version: &'static str,
    bindings: Vec<(&'static str, &'static str, bool)>,
}

thread_local! {
    /// The isolate's last answers, by their inputs (one per way of
    /// resolving the tenant: a deployment's are fixed for its isolate's
    /// life).
    static ENCODED: RefCell<Vec<(Inputs, Rc<RawValue>)>> = const { RefCell::new(Vec::new()) };
}

/// [`health`] as JSON, encoded once per isolate and set of inputs (the
/// tenant's config and the deployment's bindings do not change while an
/// isolate lives) instead of once per request.
pub fn health_json(ctx: &TenantCtx, dep: &Deployment) -> Result<Rc<RawValue>, serde_json::Error> {
    let found = |i: &Inputs| {
        i.tenant == ctx.tenant() && i.env == ctx.env() && i.via == ctx.via() && i.version == dep.version && i.bindings == dep.bindings
    };
    if let Some(v) = ENCODED.with(|c| c.borrow().iter().find(|(i, _)| found(i)).map(|(_, v)| v.clone())) {
        return Ok(v);
    }
    let v: Rc<RawValue> = Rc::from(serde_json::value::to_raw_value(&health(ctx, dep))?);
    let inputs = Inputs {
        tenant: ctx.tenant(),
        env: ctx.env(),
        via: ctx.via(),
        version: dep.version,
        bindings: dep.bindings.clone(),
    };
    ENCODED.with(|c| {
        let mut c = c.borrow_mut();
        // A few entries at most in a Worker; native tests build many
        // deployments in one thread.
        if c.len() >= 8 {
            c.remove(0);
        }
        c.push((inputs, v.clone()));
    });
    Ok(v)
}
