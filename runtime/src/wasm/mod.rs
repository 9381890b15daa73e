//! Everything that touches workers-rs or JavaScript: the `fetch` entry
//! point and per-isolate state (here), the request/response shim
//! ([`shim`]), the port adapters over the bindings and WebCrypto
//! ([`adapters`]), and the Durable Object classes ([`objects`]).
//!
//! Performance notes (docs/runtime.md, "Performance"): the entry point
//! takes the raw `web_sys::Request` (no `worker::Request` conversion, no
//! `cf` object); one JavaScript call packs the method, URL and headers into
//! one string, and one call builds the response and writes the log line; a
//! request that completes without I/O (as `/health` does) returns its
//! response without a Promise; the deployment (pin, bindings) and the
//! ports are built once per isolate, since bindings and vars are fixed for
//! a deployed version.

pub mod adapters;
pub mod ai;
pub mod objects;
pub mod shim;

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use worker::js_sys;
use worker::wasm_bindgen;
use worker::Env;

use crate::app::{self, DeploymentState};
use crate::auth::AuthState;
use crate::ports::{AiBinding, Budget, Kv, Limiter, Metrics, Ports, Sessions};
use crate::tenancy::resolve::Deployment;
use crate::tenants;
use adapters::{DoLimiter, DoSessions, FetchClient, JsClock, JsRandom, JsTimer, KvAdapter, WebCrypto};
use ai::{AeMetrics, FetchUpstream, JsAiBinding, WaitUntil};
use shim::{log_line, to_web, BufferedLog, WasmRequest};

/// What one isolate keeps between requests.
struct Isolate {
    deployment: DeploymentState,
    ids: crate::app::request_id::RequestIds,
    ports: Ports,
    auth: AuthState,
}

thread_local! {
    static ISOLATE: RefCell<Option<Rc<Isolate>>> = const { RefCell::new(None) };
}

fn seed() -> u64 {
    let mut b = [0u8; 8];
    crate::ports::Random::fill(&JsRandom, &mut b);
    u64::from_le_bytes(b) ^ (js_sys::Date::now() as u64)
}

/// The ports over this deployment's bindings; a binding the deployment
/// lacks is simply absent (routes that need it answer 503).
fn ports(env: &Env) -> Ports {
    let mut kv: Vec<(&'static str, Rc<dyn Kv>)> = Vec::new();
    let mut ai_binding: Option<Rc<dyn AiBinding>> = None;
    let mut metrics: Option<Rc<dyn Metrics>> = None;
    let mut vectors: Vec<(&'static str, Rc<dyn crate::ports::Vectors>)> = Vec::new();
    for (name, kind) in tenants::Env::BINDINGS {
        match kind {
            "kv" => {
                if let Ok(store) = env.kv(name) {
                    kv.push((name, Rc::new(KvAdapter(store))));
                }
            }
            "ai" => ai_binding = ai::binding(env, name).map(|v| Rc::new(JsAiBinding(v)) as Rc<dyn AiBinding>),
            "analytics-engine" => metrics = ai::binding(env, name).map(|v| Rc::new(AeMetrics(v)) as Rc<dyn Metrics>),
            "vectorize" => {
                if let Some(v) = ai::binding(env, name) {
                    vectors.push((name, Rc::new(ai::JsVectorize(v)) as Rc<dyn crate::ports::Vectors>));
                }
            }
            _ => {}
        }
    }
    let object = |class: &str| {
        tenants::Env::DURABLE_OBJECT_CLASSES
            .iter()
            .find(|(_, c)| *c == class)
            .and_then(|(name, _)| env.durable_object(name).ok())
    };
    let limiter = object("RateLimiter").map(|ns| DoLimiter(adapters::DoNs::new(ns)));
    let sessions = object("ChatSession").map(|ns| Rc::new(DoSessions(adapters::DoNs::new(ns))) as Rc<dyn Sessions>);
    let mut secrets = Vec::new();
    for t in tenants::TenantId::ALL {
        for name in t.config().secrets {
            if let Ok(v) = env.secret(name) {
                secrets.push((*name, v.to_string()));
            }
        }
    }
    let mut vars: Vec<(&'static str, String)> = [crate::ai::plan::BASE_URL_VAR]
        .into_iter()
        .filter_map(|n| env.var(n).ok().map(|v| (n, v.to_string())))
        .collect();
    let salt = crate::app::log::SALT_VAR;
    if let Some(v) = env
        .secret(salt)
        .ok()
        .map(|v| v.to_string())
        .or_else(|| env.var(salt).ok().map(|v| v.to_string()))
    {
        vars.push((salt, v));
    }
    Ports {
        clock: Rc::new(JsClock),
        log: Rc::new(BufferedLog::default()),
        timer: Rc::new(JsTimer),
        random: Rc::new(JsRandom),
        crypto: Rc::new(WebCrypto),
        http: Rc::new(FetchClient),
        kv: kv.into(),
        limiter: limiter.clone().map(|l| Rc::new(l) as Rc<dyn Limiter>),
        budget: limiter.map(|l| Rc::new(l) as Rc<dyn Budget>),
        sessions,
        ingest_queue: tenants::TenantId::ALL
            .iter()
            .find_map(|t| t.config().envs.iter().find_map(|e| e.ingest_queue))
            .and_then(|name| ai::binding(env, name))
            .map(|q| Rc::new(ai::JsQueue(q)) as Rc<dyn crate::ports::IngestQueue>),
        doc_index: object("DocIndex").map(|ns| Rc::new(adapters::DoDocIndex(adapters::DoNs::new(ns))) as Rc<dyn crate::ports::DocIndex>),
        audit: object("AuditLog").map(|ns| Rc::new(adapters::DoAudit(adapters::DoNs::new(ns))) as Rc<dyn crate::ports::Audit>),
        vectors: vectors.into(),
        upstream: Rc::new(FetchUpstream),
        ai: ai_binding,
        metrics,
        recent: None,
        background: Rc::new(WaitUntil(worker::wasm_bindgen::JsValue::UNDEFINED)),
        secrets: secrets.into(),
        vars: vars.into(),
    }
}

fn isolate(env: Env) -> Rc<Isolate> {
    if let Some(i) = ISOLATE.with(|s| s.borrow().clone()) {
        return i;
    }
    let ports = ports(&env);
    let deployment = match tenants::Env::from_worker(env) {
        Ok(e) => DeploymentState::Ready(Deployment::complete(e.pinned_tenant(), e.pinned_env())),
        Err(err) => {
            log_line(&serde_json::json!({"level": "error", "msg": "deployment", "problems": err.problems}).to_string());
            match err.pin {
                Some((tenant, env)) => {
                    let mut d = Deployment::complete(tenant, env);
                    for b in &mut d.bindings {
                        b.2 = !err.missing_bindings.contains(&b.0);
                    }
                    DeploymentState::Ready(d)
                }
                None => DeploymentState::Misconfigured {
                    problems: err.problems.join("; "),
                },
            }
        }
    };
    let mut ports = ports;
    // The playground's log links: recent lines, kept only where the
    // playground is served (the compiler enables it in development only).
    if let DeploymentState::Ready(d) = &deployment {
        if d.tenant.config().envs[d.env as usize].playground {
            ports.recent = Some(Rc::new(crate::app::log::RecentLines::default()));
        }
    }
    let i = Rc::new(Isolate {
        deployment,
        ids: crate::app::request_id::RequestIds::new(seed()),
        ports,
        auth: AuthState::default(),
    });
    ISOLATE.with(|s| *s.borrow_mut() = Some(i.clone()));
    i
}

async fn serve(req: WasmRequest, iso: Rc<Isolate>, log: Rc<BufferedLog>, ctx: worker::wasm_bindgen::JsValue) -> crate::http::Response {
    let mut ports = iso.ports.clone();
    ports.log = log;
    ports.background = Rc::new(WaitUntil(ctx));
    let cx = app::Context {
        deployment: &iso.deployment,
        ids: &iso.ids,
        ports: &ports,
        auth: &iso.auth,
    };
    app::handle(&req, &cx).await
}

/// The Worker's `fetch` handler (worker-build's shim calls the `fetch`
/// export). The core runs synchronously to completion when it does no I/O,
/// as `/health` does: the response is returned directly, without a Promise
/// and a microtask round trip; otherwise it continues as a Promise.
#[wasm_bindgen::prelude::wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen)]
pub fn fetch(req: worker::worker_sys::web_sys::Request, env: Env, ctx: worker::wasm_bindgen::JsValue) -> worker::wasm_bindgen::JsValue {
    let iso = isolate(env);
    let request = WasmRequest::read(req);
    let log = Rc::new(BufferedLog::default());
    let mut fut = Box::pin(serve(request, iso, log.clone(), ctx));
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(resp) => to_web(resp, &log).into(),
        std::task::Poll::Pending => worker::wasm_bindgen_futures::future_to_promise(async move {
            let resp = fut.await;
            Ok(to_web(resp, &log).into())
        })
        .into(),
    }
}

/// Where the queue consumer's lines go: straight to the console.
struct ConsoleLog;

impl crate::ports::LogSink for ConsoleLog {
    fn line(&self, json: &str) {
        log_line(json);
    }
}

/// The Worker's `queue` handler (worker-build's shim calls the `queue`
/// export): each message of the deployment's ingestion queue is consumed
/// in turn, acknowledged when done, retried when the tenant's index could
/// not be reached.
#[wasm_bindgen::prelude::wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen)]
pub fn queue(batch: worker::wasm_bindgen::JsValue, env: Env, ctx: worker::wasm_bindgen::JsValue) -> js_sys::Promise {
    let iso = isolate(env);
    worker::wasm_bindgen_futures::future_to_promise(async move {
        let app::DeploymentState::Ready(dep) = &iso.deployment else {
            return Err(worker::wasm_bindgen::JsValue::from_str("the deployment is misconfigured"));
        };
        let mut ports = iso.ports.clone();
        ports.log = Rc::new(ConsoleLog);
        ports.background = Rc::new(WaitUntil(ctx));
        for m in ai::queue_messages(&batch) {
            match crate::features::documents::consume(dep, &ports, &ai::message_body(&m)).await {
                Ok(()) => ai::message_ack(&m),
                Err(e) => {
                    log_line(&serde_json::json!({"level": "warn", "msg": "queue message retried", "detail": e}).to_string());
                    ai::message_retry(&m);
                }
            }
        }
        Ok(worker::wasm_bindgen::JsValue::UNDEFINED)
    })
}
