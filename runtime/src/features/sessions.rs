//! The caller's chat sessions: `GET /sessions` (newest activity first,
//! `?limit=` 1–100, default 20, `?cursor=` from the previous page),
//! `GET /sessions/{id}` (with its messages), `DELETE /sessions/{id}`.
//! Only the caller's own object is ever asked
//! (`TenantCtx::key(Space::Session, [user])`): another user's session id
//! is 404 `session_not_found`, exactly like one that never existed.

use schemars::JsonSchema;
use serde::Serialize;

use crate::app::envelope::{data_response, ErrorCode, Failure};
use crate::app::Scope;
use crate::http::{query_param, Incoming, Response};
use crate::objects::sessions::{SessionOp, SessionReply, SessionSummary, SessionView};
use crate::tenancy::keys::{Space, StorageKey};

/// `GET /sessions` answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionSummary>,
    /// Pass as `?cursor=` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// `DELETE /sessions/{id}` answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Deleted {
    pub deleted: String,
}

async fn call<R: Incoming>(s: &Scope<'_, R>, op: SessionOp) -> Result<SessionReply, Failure> {
    let p = s
        .principal
        .ok_or_else(|| Failure::new(ErrorCode::Internal, "sessions without a principal"))?;
    let store = s.ports.sessions.clone().ok_or_else(|| {
        Failure::new(
            ErrorCode::BindingUnavailable,
            "this deployment lacks the `SESSIONS` Durable Object binding",
        )
    })?;
    let object: StorageKey = s.ctx.key(Space::Session, &[p.user()]);
    store
        .call(&object, &op)
        .await
        .map_err(|e| Failure::new(ErrorCode::Internal, "the session store cannot be reached").with_log_detail(format!("sessions: {e}")))
}

fn not_found() -> Failure {
    Failure::new(ErrorCode::SessionNotFound, "no such session")
}

fn id<R: Incoming>(s: &Scope<'_, R>) -> String {
    s.param.unwrap_or_default().to_string()
}

pub async fn list<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    let q = s.req.query();
    let limit = match query_param(q, "limit") {
        None => 20,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| Failure::new(ErrorCode::InvalidRequest, "`limit` is a number from 1 to 100"))?,
    };
    let cursor = query_param(q, "cursor").map(|c| c.to_string());
    match call(s, SessionOp::List { limit, cursor }).await? {
        SessionReply::Listed { sessions, next_cursor } => Ok(data_response(&SessionList { sessions, next_cursor }, s.request_id)),
        _ => Err(Failure::new(ErrorCode::Internal, "the session store answered out of protocol")),
    }
}

pub async fn get<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    match call(s, SessionOp::Get { session_id: id(s) }).await? {
        SessionReply::Session(v) => Ok(data_response::<SessionView>(&v, s.request_id)),
        _ => Err(not_found()),
    }
}

pub async fn delete<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    match call(s, SessionOp::Delete { session_id: id(s) }).await? {
        SessionReply::Done => Ok(data_response(&Deleted { deleted: id(s) }, s.request_id)),
        _ => Err(not_found()),
    }
}
