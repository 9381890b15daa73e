//! Ingestion of one document: reduce to text, chunk, embed (in batches),
//! store (replacing an earlier version). Shared by `POST /documents` and
//! the queue consumer.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::index::Index;
use super::text::{extract, Format};
use crate::ai::embed::{embed_all, Embedder};
use crate::ai::CallMeta;
use crate::objects::doc_index::DocMeta;
use crate::tenants::RagConfig;

/// Largest document text accepted, in characters (a document this large
/// is ingested in the request, alone; queued batches take documents of
/// up to one queue message).
pub const MAX_DOC_CHARS: usize = 400_000;

/// One document to ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DocIn {
    /// Your id for the document: letters, digits and `._:/-`, 1–128
    /// characters. Ingesting the same id again replaces it.
    #[schemars(length(min = 1, max = 128))]
    pub id: String,
    /// Shown in citations; from the text's first heading when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 300))]
    pub title: Option<String>,
    /// Where a reader finds the original (`http(s)://…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub url: Option<String>,
    /// The document, written as `format` says.
    pub text: String,
    /// `text` (default), `markdown` or `html`.
    #[serde(default)]
    pub format: Format,
    /// A JSON object kept with the document and listed by `GET /documents`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

/// What ingesting one document did.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Ingested {
    pub id: String,
    pub title: String,
    pub chunks: u32,
    /// Chunks of an earlier version that this one no longer has (deleted).
    pub replaced: u32,
}

/// Why a document is refused before any work is done.
pub fn check(doc: &DocIn) -> Result<(), String> {
    let id_ok =
        !doc.id.is_empty() && doc.id.chars().count() <= 128 && doc.id.chars().all(|c| c.is_ascii_alphanumeric() || "._:/-".contains(c));
    if !id_ok {
        return Err("`id` must be 1–128 characters of letters, digits and `._:/-`".into());
    }
    if doc.text.chars().count() > MAX_DOC_CHARS {
        return Err(format!("`text` is longer than {MAX_DOC_CHARS} characters"));
    }
    if let Some(u) = &doc.url {
        if !(u.starts_with("https://") || u.starts_with("http://")) || u.len() > 2048 {
            return Err("`url` must be an http(s) URL of at most 2048 characters".into());
        }
    }
    if doc.title.as_ref().is_some_and(|t| t.chars().count() > 300) {
        return Err("`title` is longer than 300 characters".into());
    }
    if doc.metadata.as_ref().is_some_and(|m| !m.is_object() || m.to_string().len() > 4096) {
        return Err("`metadata` must be a JSON object of at most 4 KiB".into());
    }
    Ok(())
}

/// Ingest one document. `Err` is the document's own error (reported per
/// document; the batch goes on).
pub async fn ingest(
    index: &Index,
    embedder: &dyn Embedder,
    model: &str,
    rag: &RagConfig,
    meta: &CallMeta,
    doc: DocIn,
    now_ms: f64,
) -> Result<Ingested, String> {
    check(&doc)?;
    let e = extract(doc.format, &doc.text);
    if e.text.trim().is_empty() {
        return Err("the document has no text".into());
    }
    let title = doc
        .title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .or(e.title)
        .unwrap_or_else(|| doc.id.clone());
    // Titles travel in every chunk's Vectorize metadata (10 KiB in all).
    let title: String = title.chars().take(300).collect();
    let chunks = super::chunk::chunk(&e.text, rag.chunk_size as usize, rag.overlap as usize);
    let texts: Vec<String> = chunks.iter().map(|c| c.text.clone()).collect();
    let vectors = embed_all(embedder, model, &texts, meta)
        .await
        .map_err(|e| format!("embedding failed: {e}"))?;
    if rag.embedding_dimensions > 0 && vectors.first().is_some_and(|v| v.len() != rag.embedding_dimensions as usize) {
        return Err(format!(
            "the embedding model returned {} dimensions; the index has {}",
            vectors[0].len(),
            rag.embedding_dimensions
        ));
    }
    let n = chunks.len() as u32;
    let meta_doc = DocMeta {
        id: doc.id.clone(),
        title: title.clone(),
        url: doc.url.clone(),
        metadata: doc.metadata.clone(),
        chars: e.text.chars().count() as u64,
        chunks: n,
        updated_ms: now_ms,
    };
    let replaced = index
        .put(meta_doc, chunks.into_iter().map(|c| (c.index, c.text)).collect(), vectors)
        .await
        .map_err(|f| f.message)?;
    Ok(Ingested {
        id: doc.id,
        title,
        chunks: n,
        replaced: replaced as u32,
    })
}
