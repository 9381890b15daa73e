//! # tenants-runtime
//!
//! The multi-tenant Worker: a cdylib built to wasm with worker-build and run
//! on workerd, and an rlib whose core is tested natively with `cargo test`.
//!
//! Layers (docs/runtime.md):
//!
//! - [`app`]: the pipeline — request id, deployment check, tenant
//!   resolution ([`resolve`]), CORS ([`cors`]), body limits, routing
//!   ([`router`]), method checks, envelopes ([`envelope`]), one log line
//!   ([`log`]) per request;
//! - [`handlers`]: `/health` (chat, search, tools and TTS build on this);
//! - [`ports`]: clock and log sink as traits, with in-memory adapters;
//! - `wasm` (wasm32 only): the adapters over workers-rs — the `fetch`
//!   entry point, the request/response conversion, console logging, and
//!   the Durable Object classes ([`objects`]) the generated configs declare.
//!
//! Invariants:
//!
//! - fail closed: a request reaches a handler only with a
//!   [`resolve::TenantCtx`], which only [`resolve::resolve`] builds; a
//!   request it cannot attribute to exactly one tenant, or that belongs to
//!   another tenant than the deployment's pin, gets an error envelope;
//! - every storage key comes from [`resolve::TenantCtx::key`] ([`keys`]);
//! - every response carries `x-request-id`, every failure is
//!   `{"error":{"code","message","request_id"}}`, nothing panics on input;
//! - no binding name, tenant id or host is spelled in this crate's code:
//!   they come from [`tenants`], generated from `tenants/` at compile time.

/// Generated from `tenants/` by `tenants_macros::include_tenants!`
/// (docs/generated-code.md).
pub mod tenants {
    tenants_macros::include_tenants!("../../tenants");
}

pub mod app;
pub mod cors;
pub mod envelope;
pub mod handlers;
pub mod http;
pub mod keys;
pub mod log;
pub mod objects;
pub mod ports;
pub mod request_id;
pub mod resolve;
pub mod router;

#[cfg(target_arch = "wasm32")]
mod wasm;

/// Where the build script wrote the per-tenant wrangler configs and the
/// registry: `<target-dir>/tenants/` (see docs/artifacts.md).
pub const ARTIFACTS_DIR: &str = env!("TENANTS_ARTIFACTS_DIR");

/// The build version `/health` reports: the crate version, plus
/// `TENANTS_BUILD_VERSION` when the build sets it (the xtask sets the git
/// commit), e.g. `0.1.0+3f2a9c1`.
pub const BUILD_VERSION: &str = env!("TENANTS_RUNTIME_VERSION");
