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
use crate::ports::Ports;
use crate::rag::index::Index;
use crate::rag::ingest::{self, DocIn, Ingested};
use crate::tenancy::keys::Space;
use crate::tenancy::resolve::TenantCtx;

/// Documents ingested in the request at most.
pub const INLINE_DOCS: usize = 20;
/// Characters ingested in the request at most.
pub const INLINE_CHARS: usize = 400_000;
/// Documents per batch at most.
pub const MAX_DOCS: usize = 1000;
/// A queue message's body at most (Cloudflare Queues: 128 KB).
pub const MESSAGE_BYTES: usize = 96 * 1024;
/// Documents per queue message at most (progress moves in these steps).
pub const MESSAGE_DOCS: usize = 25;
/// One `sendBatch` call at most: messages, and bytes (Cloudflare: 100, 256 KB).
pub const SEND_MESSAGES: usize = 100;
pub const SEND_BYTES: usize = 240 * 1024;

/// A queued part of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueMessage {
    /// Checked by the consumer against its own deployment.
    pub tenant: String,
    pub env: String,
    pub job: String,
    /// The request that queued it (logs).
    pub request_id: String,
    /// That request's W3C `traceparent` (the embedding calls carry it on).
    #[serde(default)]
    pub traceparent: String,
    pub docs: Vec<DocIn>,
}

/// `POST /documents` answer when the batch was queued (202).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Queued {
    pub job: JobState,
    /// Where to follow it.
    pub status_url: String,
}

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

fn meta(ctx: &TenantCtx, (request_id, traceparent): (&str, &str)) -> CallMeta {
    CallMeta {
        tenant: ctx.tenant().as_str(),
        route: "documents",
        request_id: request_id.to_string(),
        traceparent: traceparent.to_string(),
        cache_key: ctx.key(Space::Cache, &["embed", request_id]).as_str().to_string(),
        skip_cache: true,
        timeout_ms: ctx.config().ai.timeout_ms,
    }
}

fn unexpected(r: IndexReply) -> Failure {
    Failure::new(ErrorCode::Internal, "the document index answered unexpectedly").with_log_detail(format!("{r:?}"))
}

pub async fn ingest<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    may_ingest(s)?;
    let body: IngestRequest = s.json().await?;
    Ok(
        match ingest_batch(s.ctx, s.ports, (s.request_id, s.traceparent), body.documents).await? {
            Batch::Done(report) => data_response(&report, s.request_id),
            Batch::Queued(q) => {
                let mut r = data_response(&q, s.request_id);
                r.status = 202;
                r
            }
        },
    )
}

/// What a batch came to.
pub enum Batch {
    /// Ingested in the request.
    Done(IngestReport),
    /// Handed to the ingestion queue.
    Queued(Queued),
}

/// Ingest a batch for the tenant (the caller has checked the ingest role):
/// every document checked first (422 with `/documents/{i}` pointers), a
/// small batch ingested in the request, a larger one queued. Shared by
/// `POST /documents` and the `ingest-docs` tool.
pub async fn ingest_batch(ctx: &TenantCtx, ports: &Ports, ids: (&str, &str), documents: Vec<DocIn>) -> Result<Batch, Failure> {
    let mut details = Vec::new();
    for (i, d) in documents.iter().enumerate() {
        if let Err(e) = ingest::check(d) {
            details.push(Detail::at(format!("/documents/{i}"), e));
        }
        if documents[..i].iter().any(|o| o.id == d.id) {
            details.push(Detail::at(
                format!("/documents/{i}/id"),
                format!("`{}` appears twice in the batch", d.id),
            ));
        }
    }
    if documents.is_empty() || documents.len() > MAX_DOCS {
        details.push(Detail::at("/documents", format!("between 1 and {MAX_DOCS} documents")));
    }
    if !details.is_empty() {
        return Err(Failure::new(ErrorCode::InvalidRequest, "the batch has invalid documents").with_details(details));
    }
    let cfg = ctx.config();
    let model = cfg
        .ai
        .embedding_model
        .ok_or_else(|| Failure::new(ErrorCode::BindingUnavailable, "this tenant has no embedding model (`ai embedding`)"))?;
    let index = Index::of(ctx, ports)?;
    let chars: usize = documents.iter().map(|d| d.text.chars().count()).sum();
    if documents.len() > INLINE_DOCS || chars > INLINE_CHARS {
        return match ports.ingest_queue.clone() {
            Some(q) => enqueue(ctx, ports, ids, q.as_ref(), &index, documents).await.map(Batch::Queued),
            None => Err(Failure::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "a batch ingested in the request holds at most {INLINE_DOCS} documents and {INLINE_CHARS} characters; this environment has no ingestion queue for larger ones — split the batch"
                ),
            )),
        };
    }
    let models = plan::rag_models(ctx, ports)?;
    let meta = meta(ctx, ids);
    let mut report = IngestReport {
        ingested: Vec::new(),
        errors: Vec::new(),
    };
    for d in documents {
        let id = d.id.clone();
        match ingest::ingest(&index, models.embedder.as_ref(), model, &cfg.rag, &meta, d, ports.clock.now_ms()).await {
            Ok(i) => report.ingested.push(i),
            Err(error) => report.errors.push(DocError { id, error }),
        }
    }
    Ok(Batch::Done(report))
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

/// A path segment percent-decoded (ids may hold `/`, sent as `%2F`).
pub(crate) fn decode(seg: &str) -> String {
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub async fn delete<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    may_ingest(s)?;
    let id = decode(s.param.unwrap_or_default());
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

fn job_id(ports: &Ports) -> String {
    let mut b = [0u8; 12];
    ports.random.fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Queue a large batch: a job in the tenant's index, the documents in
/// messages of at most [`MESSAGE_BYTES`], sent in as few `sendBatch` calls
/// as the queue's limits allow. A document too large for one message is
/// reported in the job's errors at once.
async fn enqueue(
    ctx: &TenantCtx,
    ports: &Ports,
    (request_id, traceparent): (&str, &str),
    q: &dyn crate::ports::IngestQueue,
    index: &Index,
    docs: Vec<DocIn>,
) -> Result<Queued, Failure> {
    let job = job_id(ports);
    let now = ports.clock.now_ms();
    let total = docs.len() as u32;
    let started = index
        .call(&IndexOp::JobStart {
            job: job.clone(),
            total,
            now_ms: now,
        })
        .await?;
    let IndexReply::Job { job: Some(mut state) } = started else {
        return Err(unexpected(started));
    };
    let message = |docs: Vec<DocIn>| QueueMessage {
        tenant: ctx.tenant().as_str().to_string(),
        env: ctx.env().as_str().to_string(),
        job: job.clone(),
        request_id: request_id.to_string(),
        traceparent: traceparent.to_string(),
        docs,
    };
    let mut too_large = Vec::new();
    let mut bodies: Vec<String> = Vec::new();
    let mut cur: Vec<DocIn> = Vec::new();
    let mut cur_bytes = 0;
    for d in docs {
        let n = serde_json::to_string(&d).map(|j| j.len()).unwrap_or(usize::MAX);
        if n + 512 > MESSAGE_BYTES {
            too_large.push(DocError {
                id: d.id,
                error: format!(
                    "larger than a queue message ({} KiB); send it in a batch of its own",
                    MESSAGE_BYTES / 1024
                ),
            });
            continue;
        }
        if cur_bytes + n + 512 > MESSAGE_BYTES || cur.len() == MESSAGE_DOCS {
            bodies.push(serde_json::to_string(&message(std::mem::take(&mut cur))).unwrap_or_default());
            cur_bytes = 0;
        }
        cur_bytes += n + 1;
        cur.push(d);
    }
    if !cur.is_empty() {
        bodies.push(serde_json::to_string(&message(cur)).unwrap_or_default());
    }
    if !too_large.is_empty() {
        if let IndexReply::Job { job: Some(j) } = index
            .call(&IndexOp::JobReport {
                job: job.clone(),
                done: 0,
                errors: too_large,
                now_ms: now,
            })
            .await?
        {
            state = j;
        }
    }
    let mut batch: Vec<String> = Vec::new();
    let mut bytes = 0;
    for b in bodies {
        if !batch.is_empty() && (batch.len() == SEND_MESSAGES || bytes + b.len() > SEND_BYTES) {
            q.send_batch(std::mem::take(&mut batch))
                .await
                .map_err(|e| crate::rag::index::port("ingestion queue", e))?;
            bytes = 0;
        }
        bytes += b.len();
        batch.push(b);
    }
    if !batch.is_empty() {
        q.send_batch(batch)
            .await
            .map_err(|e| crate::rag::index::port("ingestion queue", e))?;
    }
    Ok(Queued {
        status_url: format!("/documents/jobs/{job}"),
        job: state,
    })
}

/// Consume one queue message: ingest its documents into the deployment's
/// own tenant and report progress to the job. `Err` asks the queue to
/// deliver the message again (the tenant's index could not be reached);
/// a message for another tenant is dropped with an error line.
pub async fn consume(dep: &crate::tenancy::resolve::Deployment, ports: &crate::ports::Ports, body: &str) -> Result<(), String> {
    let msg: QueueMessage = match serde_json::from_str(body) {
        Ok(m) => m,
        Err(e) => {
            ports.log.line(
                &serde_json::json!({"level": "error", "msg": "queue message dropped: not an ingestion message", "detail": e.to_string()})
                    .to_string(),
            );
            return Ok(());
        }
    };
    let ctx = match crate::tenancy::resolve::for_queue(dep, &msg.tenant, &msg.env) {
        Ok(c) => c,
        Err(f) => {
            ports.log.line(
                &serde_json::json!({"level": "error", "msg": "queue message dropped", "detail": f.message, "job": msg.job}).to_string(),
            );
            return Ok(());
        }
    };
    let cfg = ctx.config();
    // The index calls carry the queuing request's ids.
    let traced = ports.for_request(&msg.request_id, &msg.traceparent);
    let ports = &traced;
    let index = Index::of(&ctx, ports).map_err(|f| f.message)?;
    let report = |done: u32, errors: Vec<DocError>| IndexOp::JobReport {
        job: msg.job.clone(),
        done,
        errors,
        now_ms: ports.clock.now_ms(),
    };
    let (Some(model), Ok(models)) = (cfg.ai.embedding_model, plan::rag_models(&ctx, ports)) else {
        let errors = msg
            .docs
            .iter()
            .map(|d| DocError {
                id: d.id.clone(),
                error: "no embedding model or provider in this environment".into(),
            })
            .collect();
        return index.call(&report(0, errors)).await.map(|_| ()).map_err(|f| f.message);
    };
    let meta = CallMeta {
        tenant: ctx.tenant().as_str(),
        route: "documents",
        request_id: msg.request_id.clone(),
        traceparent: msg.traceparent.clone(),
        cache_key: ctx.key(Space::Cache, &["embed", &msg.job]).as_str().to_string(),
        skip_cache: true,
        timeout_ms: cfg.ai.timeout_ms,
    };
    let (mut done, mut errors) = (0u32, Vec::new());
    for d in msg.docs.clone() {
        let id = d.id.clone();
        match ingest::ingest(&index, models.embedder.as_ref(), model, &cfg.rag, &meta, d, ports.clock.now_ms()).await {
            Ok(_) => done += 1,
            Err(error) => errors.push(DocError { id, error }),
        }
    }
    index.call(&report(done, errors)).await.map(|_| ()).map_err(|f| f.message)
}
