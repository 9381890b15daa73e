//! # tenants-macros
//!
//! Proc-macros that turn the tenant files into Rust types for the runtime
//! Worker (typed `Env`, `TenantId`, static per-tenant config, the baked
//! routing table). This crate only emits tokens: all parsing and validation
//! lives in `tenants-compiler`, so the macro and the CLI report the same
//! diagnostics.
//!
//! Status: the token emitters arrive with the proc-macro issue; today the
//! crate exposes nothing and exists so the workspace has its final shape.
