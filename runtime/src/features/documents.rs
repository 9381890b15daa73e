//! The tenant's documents: `POST /documents` (ingest a batch),
//! `GET /documents` (the catalog, paginated), `DELETE /documents/{id}`,
//! `GET /documents/jobs/{id}` (a queued batch's progress).
//!
//! Ingesting and deleting need the tenant's `rag ingest-role` (`admin` by
//! default); listing needs any authenticated user of the tenant. A batch
//! of at most [`INLINE_DOCS`] documents and [`INLINE_CHARS`] characters
//! is ingested in the request; a larger one goes to the environment's
//! ingestion queue and returns a job (202), or, without a queue, is
//! refused (413) with the advice to split it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ai::plan;
use crate::ai::CallMeta;
use crate::app::envelope::{data_response, ErrorCode, Failure};
use crate::app::Scope;
use crate::http::body::Detail;
use crate::http::{query_param, Incoming, Response};
use crate::objects::doc_index::{DocError, DocMeta, IndexOp, IndexReply, JobState};
use crate::rag::index::Index;
use crate::rag::ingest::{self, DocIn, Ingested};
use crate::tenancy::keys::Space;

/// Documents ingested in the request at most.
pub const INLINE_DOCS: usize = 20;
/// Characters ingested in the request at most.
pub const INLINE_CHARS: usize = 400_000;
/// Documents per batch at most.
pub const MAX_DOCS: usize = 1000;

/// `POST /documents` body.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestRequest {
    #[schemars(length(min = 1, max = 1000))]
    pub documents: Vec<DocIn>,
}

/// `POST /documents` answer when the batch was ingested in the request.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct IngestReport {
    pub ingested: Vec<Ingested>,
    pub errors: Vec<DocError>,
}

/// `GET /documents` answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DocList {
    pub documents: Vec<DocMeta>,
    /// Pass as `after` for the next page.
    pub next: Option<String>,
}

/// `DELETE /documents/{id}` answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DocDeleted {
    pub deleted: String,
}

fn may_ingest<R: Incoming>(s: &Scope<'_, R>) -> Result<(), Failure> {
    let role = s.ctx.config().rag.ingest_role;
    match s.principal {
        Some(p) if p.has_role(role) => Ok(()),
        _ => Err(Failure::new(
            ErrorCode::Forbidden,
            format!("changing this tenant's documents needs the role `{role}`"),
        )),
    }
}

fn meta<R: Incoming>(s: &Scope<'_, R>) -> CallMeta {
    CallMeta {
        tenant: s.ctx.tenant().as_str(),
        route: "documents",
        request_id: s.request_id.to_string(),
        cache_key: s.ctx.key(Space::Cache, &["embed", s.request_id]).as_str().to_string(),
        skip_cache: true,
        timeout_ms: s.ctx.config().ai.timeout_ms,
    }
}

fn unexpected(r: IndexReply) -> Failure {
    Failure::new(ErrorCode::Internal, "the document index answered unexpectedly").with_log_detail(format!("{r:?}"))
}

pub async fn ingest<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    may_ingest(s)?;
    let body: IngestRequest = s.json().await?;
    let mut details = Vec::new();
    for (i, d) in body.documents.iter().enumerate() {
        if let Err(e) = ingest::check(d) {
            details.push(Detail::at(format!("/documents/{i}"), e));
        }
        if body.documents[..i].iter().any(|o| o.id == d.id) {
            details.push(Detail::at(
                format!("/documents/{i}/id"),
                format!("`{}` appears twice in the batch", d.id),
            ));
        }
    }
    if body.documents.is_empty() || body.documents.len() > MAX_DOCS {
        details.push(Detail::at("/documents", format!("between 1 and {MAX_DOCS} documents")));
    }
    if !details.is_empty() {
        return Err(Failure::new(ErrorCode::InvalidRequest, "the batch has invalid documents").with_details(details));
    }
    let cfg = s.ctx.config();
    let model = cfg
        .ai
        .embedding_model
        .ok_or_else(|| Failure::new(ErrorCode::BindingUnavailable, "this tenant has no embedding model (`ai embedding`)"))?;
    let index = Index::of(s.ctx, s.ports)?;
    let chars: usize = body.documents.iter().map(|d| d.text.chars().count()).sum();
    if body.documents.len() > INLINE_DOCS || chars > INLINE_CHARS {
        return Err(Failure::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "a batch ingested in the request holds at most {INLINE_DOCS} documents and {INLINE_CHARS} characters; this environment has no ingestion queue for larger ones — split the batch"
            ),
        ));
    }
    let models = plan::rag_models(s.ctx, s.ports)?;
    let meta = meta(s);
    let mut report = IngestReport {
        ingested: Vec::new(),
        errors: Vec::new(),
    };
    for d in body.documents {
        let id = d.id.clone();
        match ingest::ingest(&index, models.embedder.as_ref(), model, &cfg.rag, &meta, d, s.ports.clock.now_ms()).await {
            Ok(i) => report.ingested.push(i),
            Err(error) => report.errors.push(DocError { id, error }),
        }
    }
    Ok(data_response(&report, s.request_id))
}

pub async fn list<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    let q = s.req.query();
    let limit = match query_param(q, "limit") {
        None => 100,
        Some(v) => match v.parse::<u32>() {
            Ok(n @ 1..=1000) => n,
            _ => {
                return Err(
                    Failure::new(ErrorCode::InvalidRequest, "`limit` must be 1–1000").with_details(vec![Detail::at("/limit", "1–1000")])
                )
            }
        },
    };
    let after = query_param(q, "after").map(|a| a.to_string());
    let index = Index::of(s.ctx, s.ports)?;
    match index.call(&IndexOp::List { after, limit }).await? {
        IndexReply::Docs { docs, next } => Ok(data_response(&DocList { documents: docs, next }, s.request_id)),
        r => Err(unexpected(r)),
    }
}

pub async fn delete<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    may_ingest(s)?;
    let id = s.param.unwrap_or_default().to_string();
    let index = Index::of(s.ctx, s.ports)?;
    if index.delete(&id).await? {
        Ok(data_response(&DocDeleted { deleted: id }, s.request_id))
    } else {
        Err(Failure::new(
            ErrorCode::NotFound,
            format!("no document `{}`", id.chars().take(128).collect::<String>()),
        ))
    }
}

pub async fn job<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    let id = s.param.unwrap_or_default().to_string();
    let index = Index::of(s.ctx, s.ports)?;
    match index.call(&IndexOp::JobGet { job: id }).await? {
        IndexReply::Job { job: Some(j) } => Ok(data_response::<JobState>(&j, s.request_id)),
        IndexReply::Job { job: None } => Err(Failure::new(ErrorCode::NotFound, "no such ingestion job")),
        r => Err(unexpected(r)),
    }
}
