//! The Durable Object classes the platform file declares, over their
//! state logic in [`crate::objects`]. An error becomes an envelope, never
//! a bare 500.

use std::cell::{Cell, RefCell};

use worker::js_sys;
use worker::wasm_bindgen;
use worker::{durable_object, DurableObject, Env, State};

use crate::app::envelope::{error_response, ErrorCode, Failure};
use crate::objects::rate_limiter::{self, BucketState, Buckets, HitRequest};
use crate::objects::session;

/// Serve a Durable Object request; an error becomes an envelope.
async fn object_reply<F>(f: F) -> worker::Result<worker::Response>
where
    F: std::future::Future<Output = Result<worker::Response, Failure>>,
{
    match f.await {
        Ok(r) => Ok(r),
        Err(e) => {
            let r = error_response(&e, "");
            Ok(worker::Response::from_bytes(r.body.bytes().to_vec())?
                .with_status(r.status)
                .with_headers(worker::Headers::from_iter([("content-type", crate::app::envelope::JSON)])))
        }
    }
}

fn bad(e: impl std::fmt::Display) -> Failure {
    Failure::new(ErrorCode::Internal, e.to_string())
}

/// Purge buckets that are full again every this many hits.
const PURGE_EVERY: u32 = 1000;

/// `RATE_LIMITER`: one object per tenant (named by
/// `TenantCtx::key(Space::RateLimit)`), holding that tenant's buckets.
/// `POST /hit` with a [`HitRequest`] answers a
/// [`rate_limiter::HitReply`]. The object runs one request at a time; the
/// buckets are read from storage once and kept in memory, and the decision
/// is made synchronously on the in-memory state, so concurrent hits are
/// counted exactly.
#[durable_object]
pub struct RateLimiter {
    state: State,
    buckets: RefCell<Buckets>,
    hits: Cell<u32>,
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        RateLimiter {
            state,
            buckets: RefCell::new(Buckets::new()),
            hits: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: worker::Request) -> worker::Result<worker::Response> {
        object_reply(async {
            if req.method() != worker::Method::Post || req.path() != "/hit" {
                return Err(Failure::new(ErrorCode::NotFound, "RateLimiter serves POST /hit"));
            }
            let h: HitRequest = req.json().await.map_err(bad)?;
            let storage = self.state.storage();
            for b in &h.buckets {
                if self.buckets.borrow().contains_key(&b.key) {
                    continue;
                }
                if let Some(s) = storage.get::<BucketState>(&b.key).await.map_err(bad)? {
                    // Another hit may have loaded it meanwhile: keep the newer.
                    self.buckets.borrow_mut().entry(b.key.clone()).or_insert(s);
                }
            }
            let now = js_sys::Date::now();
            let reply = rate_limiter::apply(&mut self.buckets.borrow_mut(), now, &h);
            if reply.allowed {
                for b in &h.buckets {
                    let s = self.buckets.borrow().get(&b.key).cloned();
                    if let Some(s) = s {
                        storage.put(&b.key, s).await.map_err(bad)?;
                    }
                }
            }
            let n = self.hits.get().wrapping_add(1);
            self.hits.set(n);
            if n.is_multiple_of(PURGE_EVERY) {
                let gone = rate_limiter::expired(&self.buckets.borrow(), now);
                for k in &gone {
                    self.buckets.borrow_mut().remove(k);
                }
                if !gone.is_empty() {
                    storage
                        .delete_multiple(gone.iter().map(String::as_str).collect())
                        .await
                        .map_err(bad)?;
                }
            }
            worker::Response::from_json(&reply).map_err(bad)
        })
        .await
    }
}

/// `SESSIONS`: one chat session's message log per object (named by
/// `TenantCtx::key(Space::Session, …)`). `POST /append` with
/// `{"message":{"role","content"},"max_messages"}`; `GET /messages`.
#[durable_object]
pub struct ChatSession {
    state: State,
}

impl DurableObject for ChatSession {
    fn new(state: State, _env: Env) -> Self {
        ChatSession { state }
    }

    async fn fetch(&self, mut req: worker::Request) -> worker::Result<worker::Response> {
        object_reply(async {
            let storage = self.state.storage();
            let mut log: Vec<session::Message> = storage.get("messages").await.map_err(bad)?.unwrap_or_default();
            match (req.method(), req.path().as_str()) {
                (worker::Method::Get, "/messages") => {}
                (worker::Method::Post, "/append") => {
                    let a: session::Append = req.json().await.map_err(bad)?;
                    session::append(&mut log, a);
                    storage.put("messages", &log).await.map_err(bad)?;
                }
                _ => {
                    return Err(Failure::new(
                        ErrorCode::NotFound,
                        "ChatSession serves GET /messages and POST /append",
                    ))
                }
            }
            worker::Response::from_json(&log).map_err(bad)
        })
        .await
    }
}
