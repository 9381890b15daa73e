//! Typed Durable Object protocols and their state logic (plain Rust,
//! tested natively): `RATE_LIMITER` → `RateLimiter` ([`rate_limiter`] on
//! `POST /hit`, daily token [`budget`]s on `POST /budget`), `SESSIONS` →
//! `ChatSession` ([`sessions`], one object per user on SQLite storage),
//! `DOC_INDEX` → `DocIndex` ([`doc_index`]), `AUDIT` → `AuditLog`
//! ([`audit`], one tamper-evident tool log per tenant).
//! The classes themselves (wasm32 only, `crate::wasm::objects`) keep that
//! state in Durable Object storage; wrangler's generated configs declare
//! them as SQLite classes, so the Worker must export them.
//!
//! An object is reached only through a name made by
//! [`crate::tenancy::resolve::TenantCtx::key`], so one tenant cannot
//! address another's object.

pub mod audit;
pub mod budget;
pub mod doc_index;
pub mod rate_limiter;
pub mod sessions;
