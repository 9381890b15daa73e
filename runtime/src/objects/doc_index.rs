//! The `DOC_INDEX` Durable Object's protocol, and a reference model of it.
//!
//! One object per tenant, named by `TenantCtx::key(Space::Docs, [])`: the
//! tenant's document catalog (what `GET /documents` lists), every chunk's
//! text and metadata, a full-text index over the chunks (FTS5 with the
//! Porter stemmer on workerd), ingestion jobs, and the index version that
//! search cache keys include. In a development environment it is also
//! the vector index (exact cosine over stored vectors); elsewhere the
//! vectors live in Vectorize and this object keeps the rest.
//!
//! Invariants (the class in `crate::wasm::objects` and [`MemoryIndex`]
//! both keep them):
//! - `Put` replaces a document: its chunks that the new version lacks are
//!   deleted and their ids returned (`stale`), so the caller can delete
//!   them from Vectorize too;
//! - every `Put` and `Delete` that changes something bumps `version`;
//! - `Search` answers from this tenant's object only — there is no
//!   operation that names another object;
//! - scores: `lexical` hits carry BM25 (higher is better), `vector` hits
//!   the cosine similarity.

use std::cell::RefCell;
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ports::{DocIndex, LocalFuture, PortError};
use crate::rag::lexical;
use crate::tenancy::keys::StorageKey;

/// A document in the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DocMeta {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// What the caller attached (a JSON object), returned as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// Characters of text after reduction to plain text.
    pub chars: u64,
    pub chunks: u32,
    pub updated_ms: f64,
}

/// A chunk to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkIn {
    pub index: u32,
    pub text: String,
    /// Stored only when this object is the vector index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
}

/// A stored chunk with its document's title and url.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRow {
    /// `{doc_id}#{index}`
    pub id: String,
    pub doc_id: String,
    pub index: u32,
    pub title: String,
    #[serde(default)]
    pub url: Option<String>,
    pub text: String,
}

/// A search hit: a chunk id and its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub id: String,
    pub score: f64,
}

/// A document that could not be ingested, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DocError {
    pub id: String,
    pub error: String,
}

/// An ingestion job's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobState {
    pub id: String,
    /// `queued`, `running` or `done`.
    pub state: String,
    pub total: u32,
    /// Documents ingested.
    pub done: u32,
    /// Documents that failed (see `errors`).
    pub failed: u32,
    pub errors: Vec<DocError>,
    pub created_ms: f64,
    pub updated_ms: f64,
}

impl JobState {
    fn advance(&mut self, done: u32, errors: Vec<DocError>, now_ms: f64) {
        self.done += done;
        self.failed += errors.len() as u32;
        // At most 100 errors are kept (the count stays exact).
        for e in errors {
            if self.errors.len() < 100 {
                self.errors.push(e);
            }
        }
        self.updated_ms = now_ms;
        self.state = if self.done + self.failed >= self.total { "done" } else { "running" }.into();
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum IndexOp {
    /// Store a document and its chunks, replacing an earlier version.
    Put {
        doc: DocMeta,
        chunks: Vec<ChunkIn>,
    },
    /// Remove a document and its chunks.
    Delete {
        doc_id: String,
    },
    /// The catalog, by id, after `after`.
    List {
        after: Option<String>,
        limit: u32,
    },
    /// Lexical and/or (local) vector search, and the rows of the hits and
    /// of `fetch` (chunk ids found elsewhere, in Vectorize).
    Search {
        #[serde(default)]
        lexical: Option<LexicalQuery>,
        #[serde(default)]
        vector: Option<VectorQuery>,
        #[serde(default)]
        fetch: Vec<String>,
        /// When not empty: only chunks of these documents.
        #[serde(default)]
        docs: Vec<String>,
    },
    /// The index version.
    Version,
    /// Record a new ingestion job.
    JobStart {
        job: String,
        total: u32,
        now_ms: f64,
    },
    /// Add progress to a job.
    JobReport {
        job: String,
        done: u32,
        errors: Vec<DocError>,
        now_ms: f64,
    },
    JobGet {
        job: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LexicalQuery {
    /// The query as the user wrote it (each side tokenizes it).
    pub query: String,
    pub k: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorQuery {
    pub values: Vec<f32>,
    pub k: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum IndexReply {
    Put {
        version: u64,
        stale: Vec<String>,
    },
    Deleted {
        version: u64,
        removed: Vec<String>,
    },
    Docs {
        docs: Vec<DocMeta>,
        next: Option<String>,
    },
    Found {
        lexical: Vec<Hit>,
        vector: Vec<Hit>,
        rows: Vec<ChunkRow>,
        version: u64,
    },
    Version {
        version: u64,
    },
    Job {
        job: Option<JobState>,
    },
}

/// Cosine similarity (0 when either vector is zero or their lengths differ).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

struct Stored {
    row: ChunkRow,
    vector: Option<Vec<f32>>,
    terms: Vec<String>,
}

/// A unit-length copy of `v` (a zero vector stays zero): the local index
/// keeps vectors this way so a query's cosine is one dot product each.
pub fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n == 0.0 || !n.is_finite() {
        return vec![0.0; v.len()];
    }
    v.iter().map(|x| x / n).collect()
}

/// The `k` nearest of `vectors` to `q` (all unit length; a vector of
/// another length scores 0): (position, cosine), best first, ties by
/// position. Selects before sorting, so only `k` results are ordered.
pub fn nearest<'a>(q: &[f32], vectors: impl Iterator<Item = (usize, &'a [f32])>, k: usize) -> Vec<(usize, f64)> {
    let mut s: Vec<(f32, usize)> = vectors
        .map(|(i, v)| {
            let d = if v.len() == q.len() {
                v.iter().zip(q).map(|(a, b)| a * b).sum::<f32>()
            } else {
                0.0
            };
            (d, i)
        })
        .collect();
    let by = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if k == 0 {
        return Vec::new();
    }
    if s.len() > k {
        s.select_nth_unstable_by(k - 1, by);
        s.truncate(k);
    }
    s.sort_by(by);
    s.into_iter().map(|(d, i)| (i, f64::from(d))).collect()
}

#[derive(Default)]
struct Object {
    docs: BTreeMap<String, DocMeta>,
    chunks: BTreeMap<String, Stored>,
    version: u64,
    jobs: BTreeMap<String, JobState>,
}

/// The reference model, in memory (one [`Object`] per object name).
#[derive(Default)]
pub struct MemoryIndex {
    objects: RefCell<BTreeMap<String, Object>>,
    /// Every call fails (the object cannot be reached).
    pub down: std::cell::Cell<bool>,
}

impl MemoryIndex {
    /// Apply one operation to the object `name`.
    pub fn apply(&self, name: &str, op: &IndexOp) -> IndexReply {
        let mut all = self.objects.borrow_mut();
        let o = all.entry(name.to_string()).or_default();
        match op {
            IndexOp::Put { doc, chunks } => {
                let keep: Vec<String> = chunks.iter().map(|c| crate::rag::chunk::chunk_id(&doc.id, c.index)).collect();
                let stale: Vec<String> = o
                    .chunks
                    .iter()
                    .filter(|(id, s)| s.row.doc_id == doc.id && !keep.contains(id))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in &stale {
                    o.chunks.remove(id);
                }
                for c in chunks {
                    let id = crate::rag::chunk::chunk_id(&doc.id, c.index);
                    o.chunks.insert(
                        id.clone(),
                        Stored {
                            row: ChunkRow {
                                id,
                                doc_id: doc.id.clone(),
                                index: c.index,
                                title: doc.title.clone(),
                                url: doc.url.clone(),
                                text: c.text.clone(),
                            },
                            vector: c.vector.clone(),
                            terms: lexical::terms(&c.text),
                        },
                    );
                }
                o.docs.insert(doc.id.clone(), doc.clone());
                o.version += 1;
                IndexReply::Put { version: o.version, stale }
            }
            IndexOp::Delete { doc_id } => {
                let removed: Vec<String> = o
                    .chunks
                    .iter()
                    .filter(|(_, s)| s.row.doc_id == *doc_id)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in &removed {
                    o.chunks.remove(id);
                }
                if o.docs.remove(doc_id).is_some() {
                    o.version += 1;
                }
                IndexReply::Deleted {
                    version: o.version,
                    removed,
                }
            }
            IndexOp::List { after, limit } => {
                let limit = (*limit).clamp(1, 1000) as usize;
                let docs: Vec<DocMeta> = o
                    .docs
                    .values()
                    .filter(|d| after.as_ref().is_none_or(|a| d.id > *a))
                    .take(limit + 1)
                    .cloned()
                    .collect();
                let next = (docs.len() > limit).then(|| docs[limit - 1].id.clone());
                IndexReply::Docs {
                    docs: docs.into_iter().take(limit).collect(),
                    next,
                }
            }
            IndexOp::Search {
                lexical: lq,
                vector,
                fetch,
                docs: only,
            } => {
                let keep = |s: &Stored| only.is_empty() || only.contains(&s.row.doc_id);
                let ids: Vec<&String> = o.chunks.iter().filter(|(_, s)| keep(s)).map(|(id, _)| id).collect();
                let lex = match lq {
                    None => Vec::new(),
                    Some(q) => {
                        let docs: Vec<&[String]> = o.chunks.values().filter(|s| keep(s)).map(|s| s.terms.as_slice()).collect();
                        lexical::bm25(&docs, &lexical::query_terms(&q.query), q.k as usize)
                            .into_iter()
                            .map(|(i, score)| Hit { id: ids[i].clone(), score })
                            .collect()
                    }
                };
                let vec_hits = match vector {
                    None => Vec::new(),
                    Some(q) => {
                        let mut v: Vec<Hit> = o
                            .chunks
                            .iter()
                            .filter(|(_, s)| keep(s))
                            .filter_map(|(id, s)| {
                                s.vector.as_ref().map(|v| Hit {
                                    id: id.clone(),
                                    score: cosine(&q.values, v),
                                })
                            })
                            .collect();
                        v.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
                        v.truncate(q.k as usize);
                        v
                    }
                };
                let mut want: Vec<&String> = lex
                    .iter()
                    .map(|h| &h.id)
                    .chain(vec_hits.iter().map(|h| &h.id))
                    .chain(fetch.iter())
                    .collect();
                want.sort();
                want.dedup();
                let rows = want.into_iter().filter_map(|id| o.chunks.get(id).map(|s| s.row.clone())).collect();
                IndexReply::Found {
                    lexical: lex,
                    vector: vec_hits,
                    rows,
                    version: o.version,
                }
            }
            IndexOp::Version => IndexReply::Version { version: o.version },
            IndexOp::JobStart { job, total, now_ms } => {
                let j = JobState {
                    id: job.clone(),
                    state: if *total == 0 { "done" } else { "queued" }.into(),
                    total: *total,
                    done: 0,
                    failed: 0,
                    errors: Vec::new(),
                    created_ms: *now_ms,
                    updated_ms: *now_ms,
                };
                o.jobs.insert(job.clone(), j.clone());
                IndexReply::Job { job: Some(j) }
            }
            IndexOp::JobReport { job, done, errors, now_ms } => {
                let j = o.jobs.get_mut(job).map(|j| {
                    j.advance(*done, errors.clone(), *now_ms);
                    j.clone()
                });
                IndexReply::Job { job: j }
            }
            IndexOp::JobGet { job } => IndexReply::Job {
                job: o.jobs.get(job).cloned(),
            },
        }
    }

    /// Object names that hold anything (tests: isolation).
    pub fn objects(&self) -> Vec<String> {
        self.objects.borrow().keys().cloned().collect()
    }
}

impl DocIndex for MemoryIndex {
    fn call<'a>(&'a self, object: &'a StorageKey, op: &'a IndexOp) -> LocalFuture<'a, Result<IndexReply, PortError>> {
        if self.down.get() {
            return Box::pin(async { Err(PortError("object answered 500: internal error".into())) });
        }
        let r = self.apply(object.as_str(), op);
        Box::pin(async move { Ok(r) })
    }
}

/// Advance a job (shared with the SQLite class, which stores the state as JSON).
pub fn advance(job: &mut JobState, done: u32, errors: Vec<DocError>, now_ms: f64) {
    job.advance(done, errors, now_ms);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, chunks: u32) -> DocMeta {
        DocMeta {
            id: id.into(),
            title: format!("Title {id}"),
            url: Some(format!("https://docs.example/{id}")),
            metadata: None,
            chars: 10,
            chunks,
            updated_ms: 1.0,
        }
    }

    fn put(m: &MemoryIndex, obj: &str, id: &str, texts: &[&str]) -> IndexReply {
        let chunks = texts
            .iter()
            .enumerate()
            .map(|(i, t)| ChunkIn {
                index: i as u32,
                text: t.to_string(),
                vector: Some(vec![i as f32 + 1.0, 1.0]),
            })
            .collect();
        m.apply(
            obj,
            &IndexOp::Put {
                doc: doc(id, texts.len() as u32),
                chunks,
            },
        )
    }

    #[test]
    fn reingesting_replaces_chunks_and_reports_the_stale_ones() {
        let m = MemoryIndex::default();
        assert_eq!(
            put(&m, "t/a", "d", &["one", "two", "three"]),
            IndexReply::Put { version: 1, stale: vec![] }
        );
        assert_eq!(
            put(&m, "t/a", "d", &["uno"]),
            IndexReply::Put {
                version: 2,
                stale: vec!["d#1".into(), "d#2".into()]
            }
        );
        match m.apply(
            "t/a",
            &IndexOp::Search {
                lexical: Some(LexicalQuery { query: "two".into(), k: 5 }),
                vector: None,
                fetch: vec![],
                docs: vec![],
            },
        ) {
            IndexReply::Found { lexical, .. } => assert!(lexical.is_empty()),
            r => panic!("{r:?}"),
        }
        assert_eq!(
            m.apply("t/a", &IndexOp::Delete { doc_id: "d".into() }),
            IndexReply::Deleted {
                version: 3,
                removed: vec!["d#0".into()]
            }
        );
        assert_eq!(
            m.apply("t/a", &IndexOp::Delete { doc_id: "d".into() }),
            IndexReply::Deleted {
                version: 3,
                removed: vec![]
            }
        );
    }

    #[test]
    fn search_finds_lexically_and_by_vector_in_its_own_object_only() {
        let m = MemoryIndex::default();
        put(&m, "t/a", "reset", &["How to reset a password", "Other text"]);
        put(&m, "t/b", "reset", &["Password reset for tenant b"]);
        let r = m.apply(
            "t/a",
            &IndexOp::Search {
                lexical: Some(LexicalQuery {
                    query: "password reset".into(),
                    k: 5,
                }),
                vector: Some(VectorQuery {
                    values: vec![2.0, 1.0],
                    k: 1,
                }),
                fetch: vec!["reset#1".into(), "missing#0".into()],
                docs: vec![],
            },
        );
        let IndexReply::Found {
            lexical,
            vector,
            rows,
            version,
        } = r
        else {
            panic!()
        };
        assert_eq!(lexical.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), vec!["reset#0"]);
        assert_eq!(vector[0].id, "reset#1");
        assert!((vector[0].score - 1.0).abs() < 1e-9);
        assert_eq!(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec!["reset#0", "reset#1"]);
        assert!(rows.iter().all(|r| !r.text.contains("tenant b")));
        assert_eq!(version, 1);
    }

    #[test]
    fn listing_pages_by_id() {
        let m = MemoryIndex::default();
        for id in ["c", "a", "b"] {
            put(&m, "t/a", id, &["x"]);
        }
        let IndexReply::Docs { docs, next } = m.apply("t/a", &IndexOp::List { after: None, limit: 2 }) else {
            panic!()
        };
        assert_eq!(docs.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(next.as_deref(), Some("b"));
        let IndexReply::Docs { docs, next } = m.apply("t/a", &IndexOp::List { after: next, limit: 2 }) else {
            panic!()
        };
        assert_eq!(docs.len(), 1);
        assert_eq!(next, None);
    }

    #[test]
    fn jobs_count_progress_and_errors() {
        let m = MemoryIndex::default();
        m.apply(
            "t/a",
            &IndexOp::JobStart {
                job: "j".into(),
                total: 3,
                now_ms: 1.0,
            },
        );
        m.apply(
            "t/a",
            &IndexOp::JobReport {
                job: "j".into(),
                done: 1,
                errors: vec![],
                now_ms: 2.0,
            },
        );
        let IndexReply::Job { job: Some(j) } = m.apply(
            "t/a",
            &IndexOp::JobReport {
                job: "j".into(),
                done: 1,
                errors: vec![DocError {
                    id: "x".into(),
                    error: "empty".into(),
                }],
                now_ms: 3.0,
            },
        ) else {
            panic!()
        };
        assert_eq!((j.state.as_str(), j.done, j.failed, j.errors.len()), ("done", 2, 1, 1));
        assert_eq!(m.apply("t/b", &IndexOp::JobGet { job: "j".into() }), IndexReply::Job { job: None });
    }

    #[test]
    fn nearest_of_unit_vectors_is_the_cosine_ranking() {
        let vs: Vec<Vec<f32>> = [[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.0], [0.0, 0.0]]
            .iter()
            .map(|v| unit(v))
            .collect();
        let q = unit(&[3.0, 4.0]);
        let n = nearest(&q, vs.iter().enumerate().map(|(i, v)| (i, v.as_slice())), 3);
        assert_eq!(n.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![1, 2, 0]);
        for (i, c) in &n {
            assert!((c - cosine(&[3.0, 4.0], &vs[*i])).abs() < 1e-6);
        }
        assert!(nearest(&q, vs.iter().enumerate().map(|(i, v)| (i, v.as_slice())), 0).is_empty());
        assert_eq!(nearest(&q, vs.iter().enumerate().map(|(i, v)| (i, v.as_slice())), 99).len(), 5);
        assert_eq!(unit(&[0.0, 0.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn cosine_is_safe_on_odd_input() {
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), 0.0);
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-12);
    }
}
