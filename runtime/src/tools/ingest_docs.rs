//! `ingest-docs`: hands documents to the RAG ingestion — the same checks,
//! chunking, embeddings and index as `POST /documents`; a batch larger
//! than the request's share is queued and the job returned. Besides the
//! tenant's grant of the tool, the caller needs the tenant's
//! `rag ingest-role` (as for `POST /documents`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Tool, ToolCx, ToolError};
use crate::features::documents::{ingest_batch, Batch};
use crate::objects::doc_index::{DocError, JobState};
use crate::ports::LocalFuture;
use crate::rag::ingest::{DocIn, Ingested};
use crate::tenants::TenantConfig;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// 1–100 documents, as `POST /documents` takes them.
    #[schemars(length(min = 1, max = 100))]
    pub documents: Vec<DocIn>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// Ingested in the request (empty when queued).
    pub ingested: Vec<Ingested>,
    /// Documents that could not be ingested, with why.
    pub errors: Vec<DocError>,
    /// The ingestion job, when the batch was queued.
    pub job: Option<JobState>,
    /// Where to follow the job.
    pub status_url: Option<String>,
}

pub struct IngestDocs;

impl Tool for IngestDocs {
    const NAME: &'static str = "ingest-docs";
    const DESCRIPTION: &'static str = "Add documents (id, title, url, text as text, markdown or html) to the tenant's search index.";
    const TIMEOUT_MS: u32 = 60_000;
    const USES_MODEL: bool = false;
    type Args = Args;
    type Output = Output;

    fn needs_role(cfg: &'static TenantConfig) -> Option<&'static str> {
        Some(cfg.rag.ingest_role)
    }

    fn run<'a>(cx: &'a ToolCx<'a>, args: Args) -> LocalFuture<'a, Result<Output, ToolError>> {
        Box::pin(async move {
            match ingest_batch(cx.ctx, cx.ports, (cx.request_id, cx.traceparent), args.documents).await {
                Ok(Batch::Done(r)) => Ok(Output {
                    ingested: r.ingested,
                    errors: r.errors,
                    job: None,
                    status_url: None,
                }),
                Ok(Batch::Queued(q)) => Ok(Output {
                    ingested: Vec::new(),
                    errors: Vec::new(),
                    job: Some(q.job),
                    status_url: Some(q.status_url),
                }),
                Err(f) if f.code == crate::app::envelope::ErrorCode::InvalidRequest => Err(ToolError::Invalid(f.details)),
                Err(f) => Err(ToolError::Upstream(f)),
            }
        })
    }
}
