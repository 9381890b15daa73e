//! Retrieval-augmented search: documents in, cited answers out.
//!
//! - [`text`]: Markdown and HTML reduced to plain text;
//! - [`chunk`]: the chunker (`rag chunk-size` / `overlap`);
//! - [`lexical`]: terms and BM25 (the reference model's full-text search).
//!
//! Invariants:
//! - every index call goes through the tenant's Durable Object name
//!   (`TenantCtx::key(Space::Docs, [])`) or its
//!   [`crate::tenancy::keys::VectorNamespace`]: neither can be built for
//!   another tenant, so no request can reach another tenant's chunks;
//! - a chunk's id is `{document id}#{index}`, and its Vectorize id a hash
//!   of the tenant's namespace and that id.

pub mod chunk;
pub mod index;
pub mod ingest;
pub mod lexical;
pub mod search;
pub mod text;
