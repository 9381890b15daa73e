//! # tenants-runtime
//!
//! The multi-tenant Worker (cdylib for wasm, rlib for native tests): router →
//! middleware → handlers → ports → adapters, with fail-closed tenant
//! resolution (see ../shared/DESIGN.md and docs/architecture.md).
//!
//! Today the crate holds what is generated from `tenants/` at compile time
//! ([`tenants`]: `TenantId`, `EnvName`, static config, the routing table and
//! the typed `Env`), and its build script compiles `tenants/` on every
//! `cargo build` (see `build.rs`). The Worker itself arrives with the
//! runtime issue.
//!
//! Invariant: no binding name, tenant id or host is spelled in this crate's
//! code; they all come from [`tenants`], so a tenant file that changes them
//! changes the types, and a misspelling is a compile error.

/// Generated from `tenants/` by `tenants_macros::include_tenants!`
/// (docs/generated-code.md).
pub mod tenants {
    tenants_macros::include_tenants!("../../tenants");
}

/// Where the build script wrote the per-tenant wrangler configs and the
/// registry: `<target-dir>/tenants/` (see docs/artifacts.md).
pub const ARTIFACTS_DIR: &str = env!("TENANTS_ARTIFACTS_DIR");
