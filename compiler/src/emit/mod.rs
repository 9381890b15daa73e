//! Stage 4 of the pipeline: what the compiler writes from a checked
//! [`crate::resolved::Model`].
//!
//! - [`schema`]: the JSON Schemas of the three file kinds (`schemas/`), for
//!   editors; generated from the raw model's types, so they cannot drift
//!   from what the decoder accepts;
//! - [`wrangler`]: one complete `wrangler.jsonc` per tenant and environment;
//! - [`artifacts`]: the build — every config plus the tenant registry,
//!   written atomically, unchanged files untouched, a no-change rerun skipped
//!   by content hash;
//! - [`codegen`]: Rust tokens for the proc-macro (typed `Env`, `TenantId`,
//!   static per-tenant config, the baked routing table).
//!
//! Invariants: emitters read only the resolved model (never the raw one or
//! the source text), and the same model always gives byte-identical output.

pub mod artifacts;
pub mod codegen;
pub mod host_table;
pub mod schema;
pub mod wrangler;
