//! # tenants-runtime
//!
//! The multi-tenant Worker (cdylib for wasm, rlib for native tests): router →
//! middleware → handlers → ports → adapters, with fail-closed tenant
//! resolution (see ../shared/DESIGN.md and docs/architecture.md).
//!
//! Status: the Worker arrives with the runtime issue. Today the crate's build
//! script compiles `tenants/` on every `cargo build` (see `build.rs`) and the
//! crate exposes where the artifacts landed.

/// Where the build script wrote the per-tenant wrangler configs and the
/// registry: `<target-dir>/tenants/` (see docs/artifacts.md).
pub const ARTIFACTS_DIR: &str = env!("TENANTS_ARTIFACTS_DIR");
