//! The wasm adapters over workers-rs: the `fetch` entry point, request and
//! response conversion, the clock and log ports, the per-isolate state, and
//! the Durable Object classes.
//!
//! Performance notes (docs/runtime.md, "Performance"): the entry point takes
//! the raw `web_sys::Request` (no `worker::Request` conversion, no `cf`
//! object), reads each header only when the core asks for it, and answers
//! with one `Response` constructor call; the deployment (pin, bindings) is
//! read from `env` once per isolate, since bindings and vars are fixed for
//! a deployed version.

use std::cell::RefCell;
use std::rc::Rc;

use worker::js_sys;
use worker::wasm_bindgen;
use worker::worker_sys::web_sys;
use worker::{durable_object, event, DurableObject, Env, State};

use crate::app::{self, DeploymentState};
use crate::envelope::{error_response, ErrorCode, Failure};
use crate::http::{path_of_url, Incoming, Response};
use crate::objects::{rate_limiter, session};
use crate::ports::{Clock, LogSink};
use crate::request_id::RequestIds;
use crate::resolve::Deployment;
use crate::tenants;

/// What one isolate keeps between requests.
struct Isolate {
    deployment: DeploymentState,
    ids: RequestIds,
    /// The typed bindings, for the handlers that use them.
    #[allow(dead_code)]
    env: Option<tenants::Env>,
}

thread_local! {
    static ISOLATE: RefCell<Option<Rc<Isolate>>> = const { RefCell::new(None) };
}

fn seed() -> u64 {
    let a = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let b = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    (a << 32) ^ b ^ (js_sys::Date::now() as u64)
}

fn isolate(env: Env) -> Rc<Isolate> {
    if let Some(i) = ISOLATE.with(|s| s.borrow().clone()) {
        return i;
    }
    let (deployment, env) = match tenants::Env::from_worker(env) {
        Ok(e) => (
            DeploymentState::Ready(Deployment::complete(e.pinned_tenant(), e.pinned_env())),
            Some(e),
        ),
        Err(err) => {
            ConsoleLog.line(&serde_json::json!({"level": "error", "msg": "deployment", "problems": err.problems}).to_string());
            match err.pin {
                Some((tenant, env)) => {
                    let mut d = Deployment::complete(tenant, env);
                    for b in &mut d.bindings {
                        b.2 = !err.missing_bindings.contains(&b.0);
                    }
                    (DeploymentState::Ready(d), None)
                }
                None => (
                    DeploymentState::Misconfigured {
                        problems: err.problems.join("; "),
                    },
                    None,
                ),
            }
        }
    };
    let i = Rc::new(Isolate {
        deployment,
        ids: RequestIds::new(seed()),
        env,
    });
    ISOLATE.with(|s| *s.borrow_mut() = Some(i.clone()));
    i
}

struct JsClock;

impl Clock for JsClock {
    fn now_ms(&self) -> f64 {
        js_sys::Date::now()
    }
}

struct ConsoleLog;

impl LogSink for ConsoleLog {
    fn line(&self, json: &str) {
        web_sys::console::log_1(&json.into());
    }
}

/// The incoming request, read lazily.
struct WasmRequest {
    method: String,
    url: String,
    headers: web_sys::Headers,
}

impl Incoming for WasmRequest {
    fn method(&self) -> &str {
        &self.method
    }

    fn path(&self) -> &str {
        path_of_url(&self.url)
    }

    fn header(&self, name: &'static str) -> Option<String> {
        self.headers.get(name).ok().flatten()
    }
}

fn to_web(mut r: Response) -> Result<web_sys::Response, worker::wasm_bindgen::JsValue> {
    let init = web_sys::ResponseInit::new();
    init.set_status(r.status);
    let headers = web_sys::Headers::new()?;
    for (name, value) in &r.headers {
        headers.set(name, value)?;
    }
    init.set_headers(&headers);
    let body = if r.body.is_empty() { None } else { Some(r.body.as_mut_slice()) };
    web_sys::Response::new_with_opt_u8_array_and_init(body, &init)
}

/// A response that could not be built (an invalid header value, say) is
/// still an envelope.
fn internal(message: &str) -> worker::Result<web_sys::Response> {
    let r = error_response(&Failure::new(ErrorCode::Internal, message), "");
    to_web(r).map_err(|_| worker::Error::from("cannot build a response"))
}

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, _ctx: worker::Context) -> worker::Result<web_sys::Response> {
    let iso = isolate(env);
    let req = WasmRequest {
        method: req.method(),
        url: req.url(),
        headers: req.headers(),
    };
    let cx = app::Context {
        deployment: &iso.deployment,
        ids: &iso.ids,
        clock: &JsClock,
        log: &ConsoleLog,
    };
    let resp = app::handle(&req, &cx).await;
    match to_web(resp) {
        Ok(r) => Ok(r),
        Err(_) => internal("the response could not be built"),
    }
}

/// Serve a Durable Object request; an error becomes an envelope, not a bare 500.
async fn object_reply<F>(f: F) -> worker::Result<worker::Response>
where
    F: std::future::Future<Output = Result<worker::Response, Failure>>,
{
    match f.await {
        Ok(r) => Ok(r),
        Err(e) => {
            let r = error_response(&e, "");
            Ok(worker::Response::from_bytes(r.body)?
                .with_status(r.status)
                .with_headers(worker::Headers::from_iter([("content-type", crate::envelope::JSON)])))
        }
    }
}

fn bad(e: impl std::fmt::Display) -> Failure {
    Failure::new(ErrorCode::Internal, e.to_string())
}

/// `RATE_LIMITER`: one fixed-window counter per object (named by
/// `TenantCtx::key(Space::RateLimit, …)`). `POST /hit` with
/// `{"limit","window_secs"}` answers `{"allowed","remaining","reset_ms"}`.
#[durable_object]
pub struct RateLimiter {
    state: State,
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        RateLimiter { state }
    }

    async fn fetch(&self, mut req: worker::Request) -> worker::Result<worker::Response> {
        object_reply(async {
            if req.method() != worker::Method::Post || req.path() != "/hit" {
                return Err(Failure::new(ErrorCode::NotFound, "RateLimiter serves POST /hit"));
            }
            let h: rate_limiter::Hit = req.json().await.map_err(bad)?;
            let storage = self.state.storage();
            let w: Option<rate_limiter::Window> = storage.get("window").await.map_err(bad)?;
            let (w, d) = rate_limiter::hit(w, js_sys::Date::now(), h);
            storage.put("window", w).await.map_err(bad)?;
            worker::Response::from_json(&d).map_err(bad)
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
