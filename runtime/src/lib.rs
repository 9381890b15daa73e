//! # tenants-runtime
//!
//! The multi-tenant Worker: a cdylib built to wasm with worker-build and run
//! on workerd, and an rlib whose core is tested natively with `cargo test`.
//!
//! Layers (docs/architecture.md, docs/runtime.md):
//!
//! - the core: [`app`] (the pipeline, the route table with each route's
//!   policy, envelopes, request ids, the log line, streamed responses),
//!   [`http`] (the request and response the core sees, JSON bodies with
//!   schema errors, server-sent events), [`tenancy`] (fail-closed
//!   resolution, storage keys, CORS), [`ports`] (traits for everything
//!   the platform provides, with in-memory adapters);
//! - capabilities, a folder each: [`auth`] (JWT, Cloudflare Access, API
//!   keys, development users → a [`auth::Principal`]), [`limits`] (rate
//!   limits through the limiter port), [`features`] (the handlers);
//! - [`objects`]: the Durable Objects' protocols and state logic;
//! - [`openapi`]: the OpenAPI 3.1 document, generated from the route table
//!   and the request and response types;
//! - `wasm` (wasm32 only): everything that touches workers-rs or
//!   JavaScript — the `fetch` entry, the request/response shim (typed
//!   headers, capped body reads, streamed bodies), the port adapters over
//!   the bindings and WebCrypto, and the Durable Object classes.
//!
//! Invariants:
//!
//! - fail closed: a request reaches a handler only with a
//!   [`tenancy::resolve::TenantCtx`], which only
//!   [`tenancy::resolve::resolve`] builds, and (except on `/health`) a
//!   [`auth::Principal`], which only [`auth::authenticate`] builds;
//! - every storage key comes from [`tenancy::resolve::TenantCtx::key`];
//! - every response carries `x-request-id`, every failure is
//!   `{"error":{"code","message","request_id"}}`, nothing panics on input;
//! - no binding name, tenant id or host is spelled in this crate's code:
//!   they come from [`tenants`], generated from `tenants/` at compile time.

// `Failure` (the error envelope on its way out) is built at most once per
// request; boxing it would add an allocation to every error path for no gain.
#![allow(clippy::result_large_err)]

/// Generated from `tenants/` by `tenants_macros::include_tenants!`
/// (docs/generated-code.md).
pub mod tenants {
    tenants_macros::include_tenants!("../../tenants");
}

pub mod ai;
pub mod app;
pub mod auth;
pub mod features;
pub mod http;
pub mod limits;
pub mod objects;
pub mod openapi;
pub mod ports;
pub mod rag;
pub mod tenancy;
pub mod tools;

#[cfg(target_arch = "wasm32")]
mod wasm;

/// Where the build script wrote the per-tenant wrangler configs and the
/// registry: `<target-dir>/tenants/` (see docs/artifacts.md).
pub const ARTIFACTS_DIR: &str = env!("TENANTS_ARTIFACTS_DIR");

/// The build version `/health` reports: the crate version, plus
/// `TENANTS_BUILD_VERSION` when the build sets it (the xtask sets the git
/// commit), e.g. `0.1.0+3f2a9c1`.
pub const BUILD_VERSION: &str = env!("TENANTS_RUNTIME_VERSION");
