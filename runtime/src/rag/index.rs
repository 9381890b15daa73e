//! The tenant's index: the `DOC_INDEX` object (catalog, text, full text,
//! and in development the vectors) plus, outside development, its
//! Vectorize namespace. Which one holds the vectors is the environment's
//! `vector_index`, decided by the compiler.

use std::rc::Rc;

use serde_json::json;

use crate::app::envelope::{ErrorCode, Failure};
use crate::objects::doc_index::{ChunkIn, DocMeta, Hit, IndexOp, IndexReply};
use crate::ports::{DocIndex, PortError, Ports, VectorRecord, Vectors};
use crate::tenancy::keys::{Space, StorageKey, VectorNamespace};
use crate::tenancy::resolve::TenantCtx;
use crate::tenants::VectorIndex;

/// Where the tenant's vectors are.
pub enum VectorStore {
    /// In the `DOC_INDEX` object itself.
    Local,
    /// In Vectorize, under the tenant's namespace.
    Vectorize(Rc<dyn Vectors>, VectorNamespace),
}

/// One tenant's index.
pub struct Index {
    pub docs: Rc<dyn DocIndex>,
    pub object: StorageKey,
    pub vectors: VectorStore,
}

fn unavailable(what: String) -> Failure {
    Failure::new(ErrorCode::BindingUnavailable, format!("this deployment lacks {what}"))
}

/// A snippet for Vectorize metadata and citations: at most 240 characters.
pub fn snippet(text: &str) -> String {
    let mut s: String = text.chars().take(240).collect();
    if s.len() < text.len() {
        if let Some(i) = s.rfind(char::is_whitespace) {
            s.truncate(i);
        }
        s.push('…');
    }
    s
}

pub fn port(what: &str, e: PortError) -> Failure {
    Failure::new(ErrorCode::Internal, format!("the {what} cannot be reached")).with_log_detail(format!("{what}: {e}"))
}

impl Index {
    /// The tenant's index, or 503 when the environment has none.
    pub fn of(ctx: &TenantCtx, ports: &Ports) -> Result<Index, Failure> {
        let docs = ports
            .doc_index
            .clone()
            .ok_or_else(|| unavailable("the `DocIndex` Durable Object binding".into()))?;
        let vectors = match ctx.env_config().vector_index {
            VectorIndex::None => return Err(unavailable("a vector index in this environment".into())),
            VectorIndex::Local { .. } => VectorStore::Local,
            VectorIndex::Vectorize { binding } => {
                let ns = ctx
                    .vectors(binding)
                    .ok_or_else(|| unavailable(format!("a Vectorize namespace for `{binding}`")))?;
                let v = ports
                    .vectors
                    .iter()
                    .find(|(b, _)| *b == binding)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| unavailable(format!("the Vectorize binding `{binding}`")))?;
                VectorStore::Vectorize(v, ns)
            }
        };
        Ok(Index {
            docs,
            object: ctx.key(Space::Docs, &[]),
            vectors,
        })
    }

    pub fn kind(&self) -> &'static str {
        match self.vectors {
            VectorStore::Local => "local",
            VectorStore::Vectorize(..) => "vectorize",
        }
    }

    pub async fn call(&self, op: &IndexOp) -> Result<IndexReply, Failure> {
        self.docs.call(&self.object, op).await.map_err(|e| port("document index", e))
    }

    /// Store a document's chunks and vectors, replacing an earlier
    /// version; returns how many chunks the earlier version had that this
    /// one has not.
    pub async fn put(&self, doc: DocMeta, chunks: Vec<(u32, String)>, vectors: Vec<Vec<f32>>) -> Result<usize, Failure> {
        let local = matches!(self.vectors, VectorStore::Local);
        if let VectorStore::Vectorize(v, ns) = &self.vectors {
            // Vectors first: a chunk is searchable only once its row exists.
            let records = chunks
                .iter()
                .zip(&vectors)
                .map(|((i, text), values)| VectorRecord {
                    id: ns.vector_id(&crate::rag::chunk::chunk_id(&doc.id, *i)),
                    values: values.clone(),
                    metadata: json!({"doc_id": doc.id, "chunk": i, "title": doc.title, "url": doc.url, "snippet": snippet(text)}),
                })
                .collect::<Vec<_>>();
            for batch in records.chunks(500) {
                v.upsert(ns, batch.to_vec()).await.map_err(|e| port("vector index", e))?;
            }
        }
        let chunks = chunks
            .into_iter()
            .zip(vectors)
            .map(|((index, text), values)| ChunkIn {
                index,
                text,
                vector: local.then_some(values),
            })
            .collect();
        let stale = match self.call(&IndexOp::Put { doc, chunks }).await? {
            IndexReply::Put { stale, .. } => stale,
            r => return Err(port("document index", PortError(format!("unexpected reply {r:?}")))),
        };
        self.forget(&stale).await?;
        Ok(stale.len())
    }

    /// Delete chunks' vectors from Vectorize (the object already forgot them).
    async fn forget(&self, chunk_ids: &[String]) -> Result<(), Failure> {
        if let (VectorStore::Vectorize(v, ns), false) = (&self.vectors, chunk_ids.is_empty()) {
            let ids = chunk_ids.iter().map(|c| ns.vector_id(c)).collect::<Vec<_>>();
            for batch in ids.chunks(500) {
                v.delete(ns, batch.to_vec()).await.map_err(|e| port("vector index", e))?;
            }
        }
        Ok(())
    }

    /// Delete a document; `false` when there was none.
    pub async fn delete(&self, doc_id: &str) -> Result<bool, Failure> {
        match self
            .call(&IndexOp::Delete {
                doc_id: doc_id.to_string(),
            })
            .await?
        {
            IndexReply::Deleted { removed, version: _ } => {
                self.forget(&removed).await?;
                Ok(!removed.is_empty())
            }
            r => Err(port("document index", PortError(format!("unexpected reply {r:?}")))),
        }
    }

    pub async fn version(&self) -> Result<u64, Failure> {
        match self.call(&IndexOp::Version).await? {
            IndexReply::Version { version } => Ok(version),
            r => Err(port("document index", PortError(format!("unexpected reply {r:?}")))),
        }
    }

    /// Vector hits (chunk ids, cosine) for a query vector: from the object
    /// in development, from Vectorize (mapped back to chunk ids through
    /// the metadata written with them) elsewhere.
    pub async fn vector_hits(&self, values: &[f32], k: u32, docs: &[String]) -> Result<Option<Vec<Hit>>, Failure> {
        match &self.vectors {
            VectorStore::Local => Ok(None),
            VectorStore::Vectorize(v, ns) => {
                let m = v.query(ns, values, k.min(20), docs).await.map_err(|e| port("vector index", e))?;
                Ok(Some(
                    m.into_iter()
                        .filter_map(|m| {
                            let doc = m.metadata.get("doc_id")?.as_str()?;
                            let i = m.metadata.get("chunk")?.as_u64()?;
                            Some(Hit {
                                id: crate::rag::chunk::chunk_id(doc, i as u32),
                                score: m.score,
                            })
                        })
                        .collect(),
                ))
            }
        }
    }
}
