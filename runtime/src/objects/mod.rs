//! The Durable Object classes the platform file declares (`SESSIONS` →
//! `ChatSession`, `RATE_LIMITER` → `RateLimiter`). wrangler's generated
//! configs declare them as SQLite classes, so the Worker must export them
//! (`wrangler deploy --dry-run` fails otherwise).
//!
//! Their state logic is plain Rust here, tested natively; the classes
//! themselves (wasm32 only, in `crate::wasm`) keep that state in Durable
//! Object storage. An object is reached only through a name made by
//! [`crate::resolve::TenantCtx::key`], so one tenant cannot address
//! another's object. The `/chat` and rate-limit middleware issues wire them
//! into the request path; today nothing in the Worker's routes calls them.

pub mod rate_limiter;
pub mod session;
