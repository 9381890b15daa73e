//! # tenants-runtime
//!
//! The multi-tenant Worker (cdylib for wasm, rlib for native tests): router →
//! middleware → handlers → ports → adapters, with fail-closed tenant
//! resolution (see ../shared/DESIGN.md and docs/architecture.md).
//!
//! Status: the Worker arrives with the runtime issue; today the crate is empty
//! and exists so the workspace has its final shape.
