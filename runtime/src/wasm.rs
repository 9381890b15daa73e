//! The wasm adapters over workers-rs: the `fetch` entry point, request and
//! response conversion, the clock and log ports, the per-isolate state, and
//! the Durable Object classes.
//!
//! Performance notes (docs/runtime.md, "Performance"): the entry point takes
//! the raw `web_sys::Request` (no `worker::Request` conversion, no `cf`
//! object); one JavaScript call packs the method, URL and headers into one
//! string, and one call builds the response and writes the log line; a
//! handler that completes without I/O returns its response without a
//! Promise; the deployment (pin, bindings) is read from `env` once per
//! isolate, since bindings and vars are fixed for a deployed version.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use worker::js_sys;
use worker::wasm_bindgen;
use worker::worker_sys::web_sys;
use worker::{durable_object, DurableObject, Env, State};

use crate::app::{self, DeploymentState};
use crate::envelope::{error_response, ErrorCode, Failure};
use crate::http::{header, path_of_url, Incoming, Response};
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

/// Keeps the request's log line so it crosses to JavaScript together with
/// the response, in one call.
#[derive(Default)]
struct BufferedLog(RefCell<String>);

impl LogSink for BufferedLog {
    fn line(&self, json: &str) {
        let mut b = self.0.borrow_mut();
        if !b.is_empty() {
            b.push('\n');
        }
        b.push_str(json);
    }
}

// One call in each direction per request: JavaScript reads the method, the
// URL and every header the core may ask for into one string; the response
// status, headers, body and log line go back in one call. (Each crossing
// and each string conversion costs more than the work the core does.)
#[wasm_bindgen::prelude::wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen, inline_js = r#"
export function read_request(r) {
  const h = r.headers;
  const method = r.method;
  // Only what the core can use: body headers when there is a body (a body
  // without content-length is reported as chunked), the preflight header
  // on OPTIONS.
  const body = r.body !== null;
  return method + "\0" + r.url + "\0" + f(h.get("host")) + "\0" + f(h.get("x-tenant-id")) + "\0" +
    f(h.get("x-request-id")) + "\0" + f(h.get("origin")) + "\0" +
    (body ? f(h.get("content-length")) + "\0" + (h.get("content-length") === null ? "=chunked" : f(h.get("transfer-encoding"))) : "\0") + "\0" +
    (method === "OPTIONS" ? f(h.get("access-control-request-method")) : "");
}
function f(v) {
  return v === null ? "" : "=" + v;
}
export function respond(status, headers, body, log) {
  if (log.length > 0) console.log(log);
  const h = {};
  const p = headers.split("\0");
  for (let i = 0; i + 1 < p.length; i += 2) h[p[i]] = p[i + 1];
  return new Response(body.length > 0 ? body.slice() : null, { status, headers: h });
}
"#)]
extern "C" {
    fn read_request(r: &web_sys::Request) -> String;
    fn respond(status: u16, headers: &str, body: &[u8], log: &str) -> web_sys::Response;
}

/// The header names `read_request` reads, in its order.
const NAMES: [&str; 7] = [
    header::HOST,
    header::TENANT_ID,
    header::REQUEST_ID,
    header::ORIGIN,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::AC_REQUEST_METHOD,
];

/// The incoming request, as `read_request` packed it.
struct WasmRequest {
    method: String,
    url: String,
    headers: [Option<String>; 7],
}

impl WasmRequest {
    fn read(req: &web_sys::Request) -> WasmRequest {
        let packed = read_request(req);
        // NUL cannot occur in a method, a serialised URL or a header value.
        let mut it = packed.split('\0');
        let method = it.next().unwrap_or_default().to_string();
        let url = it.next().unwrap_or_default().to_string();
        let headers = std::array::from_fn(|_| it.next().and_then(|v| v.strip_prefix('=')).map(str::to_string));
        WasmRequest { method, url, headers }
    }
}

impl Incoming for WasmRequest {
    fn method(&self) -> &str {
        &self.method
    }

    fn path(&self) -> &str {
        path_of_url(&self.url)
    }

    fn scheme(&self) -> &str {
        self.url.split_once("://").map_or("https", |(s, _)| s)
    }

    fn header(&self, name: &'static str) -> Option<String> {
        match NAMES.iter().position(|n| *n == name) {
            Some(i) => self.headers[i].clone(),
            None => None,
        }
    }
}

fn to_web(r: &Response, log: &str) -> web_sys::Response {
    let mut headers = String::with_capacity(128);
    for (name, value) in &r.headers {
        headers.push_str(name);
        headers.push('\0');
        // The core never produces NUL in a header value; drop it if it did.
        headers.extend(value.chars().filter(|c| *c != '\0'));
        headers.push('\0');
    }
    respond(r.status, &headers, &r.body, log)
}

async fn serve(req: WasmRequest, iso: Rc<Isolate>, log: Rc<BufferedLog>) -> Response {
    let cx = app::Context {
        deployment: &iso.deployment,
        ids: &iso.ids,
        clock: &JsClock,
        log: &*log,
    };
    app::handle(&req, &cx).await
}

/// The Worker's `fetch` handler (worker-build's shim calls the `fetch`
/// export). The core runs synchronously to completion when it does no I/O,
/// as `/health` does: the response is returned directly, without a Promise
/// and a microtask round trip; otherwise it continues as a Promise.
#[wasm_bindgen::prelude::wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen)]
pub fn fetch(req: web_sys::Request, env: Env, _ctx: worker::wasm_bindgen::JsValue) -> worker::wasm_bindgen::JsValue {
    let iso = isolate(env);
    let request = WasmRequest::read(&req);
    let log = Rc::new(BufferedLog::default());
    let mut fut = Box::pin(serve(request, iso, log.clone()));
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(resp) => to_web(&resp, &log.0.borrow()).into(),
        std::task::Poll::Pending => worker::wasm_bindgen_futures::future_to_promise(async move {
            let resp = fut.await;
            Ok(to_web(&resp, &log.0.borrow()).into())
        })
        .into(),
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
