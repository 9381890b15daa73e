//! The request pipeline, platform-free:
//!
//! request id → deployment check → tenant resolution → CORS →
//! `content-length` sanity → route → preflight / method → development-only
//! check → authentication ([`crate::auth`]) → roles → rate limit
//! ([`crate::limits`]) → handler (reads its body through
//! [`Scope::json`], capped per route) → envelope or stream, `x-request-id`,
//! CORS and rate-limit headers → one log line and one metrics data point
//! ([`metrics`]; for a stream, when it ends).
//!
//! Invariants: every response carries `x-request-id`; every failure is the
//! error envelope with its status; no handler runs without a
//! [`TenantCtx`], and none behind authentication without a [`Principal`];
//! exactly one log line is written per request.

pub mod envelope;
pub mod log;
pub mod metrics;
pub mod request_id;
pub mod routes;
pub mod stream;
pub mod traceparent;

use std::cell::RefCell;
use std::rc::Rc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::auth::{self, AuthState, Principal};
use crate::http::{body, Body, BodyError, Header, Incoming, Method, Response};
use crate::ports::Ports;
use crate::tenancy::cors::{self, Cors};
use crate::tenancy::resolve::{resolve, Deployment, TenantCtx};
use envelope::{error_response, ErrorCode, Failure};
use log::{clip, level, AiLog, RequestLog};
use request_id::RequestIds;
use routes::{Access, Route, RouteSpec};

/// The largest request body any route accepts (1 MiB); routes accept less.
pub const MAX_BODY_BYTES: u64 = 1 << 20;

/// What the adapter found when it read the deployment's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentState {
    Ready(Deployment),
    /// `TENANT_ID` / `TENANT_ENV` missing or naming nothing this build knows:
    /// no request can be attributed, so every request fails closed.
    Misconfigured {
        problems: String,
    },
}

/// What a request needs besides the request itself; one per isolate.
pub struct Context<'a> {
    pub deployment: &'a DeploymentState,
    pub ids: &'a RequestIds,
    pub ports: &'a Ports,
    pub auth: &'a AuthState,
}

/// What a handler gets: the request, its tenant, its caller, the ports.
pub struct Scope<'a, R: Incoming> {
    pub req: &'a R,
    pub ctx: &'a TenantCtx,
    pub deployment: &'a Deployment,
    /// `None` only on public routes.
    pub principal: Option<&'a Principal>,
    pub ports: &'a Ports,
    pub request_id: &'a str,
    /// This request's W3C `traceparent` (its trace id and the Worker's
    /// span), passed on to every model call.
    pub traceparent: &'a str,
    pub spec: &'static RouteSpec,
    /// The `{id}` segment of the path, if the route has one.
    pub param: Option<&'a str>,
    /// When the request arrived (ms).
    pub started_ms: f64,
    /// The log line's model fields, filled by handlers that call a model
    /// (for a stream, until it ends).
    pub ai_log: Rc<RefCell<Option<AiLog>>>,
    /// The rate-limit headers the response gets (a budgeted route's
    /// handler sets them when it charges the limit).
    pub limit_headers: Rc<RefCell<Vec<(&'static str, String)>>>,
}

impl<R: Incoming> Scope<'_, R> {
    /// Read the body (at most the route's `max_body` bytes, counted as
    /// they arrive) and decode it as `T`.
    pub async fn json<T: DeserializeOwned + JsonSchema + 'static>(&self) -> Result<T, Failure> {
        let bytes = self.req.read_body(self.spec.max_body).await.map_err(|e| match e {
            BodyError::TooLarge { limit } => too_large(limit),
            BodyError::Io(e) => Failure::new(ErrorCode::InvalidJson, "the request body could not be read").with_log_detail(e),
        })?;
        body::decode(self.req.header(Header::ContentType).as_deref(), &bytes)
    }
}

/// What the pipeline learned, for the log line.
#[derive(Default)]
struct Trace {
    tenant: Option<&'static str>,
    env: &'static str,
    route: Option<&'static str>,
    cors: Option<&'static str>,
    user: Option<String>,
    auth: Option<&'static str>,
    limit_headers: Rc<RefCell<Vec<(&'static str, String)>>>,
    ai: Rc<RefCell<Option<AiLog>>>,
    start: f64,
}

/// Serve one request.
pub async fn handle<R: Incoming>(req: &R, cx: &Context<'_>) -> Response {
    let ports = cx.ports;
    let start = ports.clock.now_ms();
    let request_id = cx.ids.for_request(req.header(Header::RequestId).as_deref());
    let method_raw = req.method();
    let method = Method::parse(method_raw);
    let host = req.header(Header::Host);
    let mut trace = Trace { start, ..Trace::default() };
    // Span ids come from the isolate's id generator (they identify, they
    // are not secrets): no call out to the platform's random source.
    let tc = traceparent::TraceContext::for_request(req.header(Header::Traceparent).as_deref(), &request_id, cx.ids);
    let tp = tc.header();

    // Every Durable Object call of this request carries its ids.
    let req_ports = ports.for_request(&request_id, &tp);
    let req_cx = Context {
        deployment: cx.deployment,
        ids: cx.ids,
        ports: &req_ports,
        auth: cx.auth,
    };
    let result = pipeline(req, method, host.as_deref(), &req_cx, (&request_id, &tp), &mut trace).await;
    let (mut resp, error, detail) = match result {
        Ok(r) => (r, None, None),
        Err(f) => (error_response(&f, &request_id), Some(f.code.code()), f.log_detail),
    };
    resp.set_header("cache-control", "no-store");
    resp.set_header("x-request-id", request_id.clone());
    resp.set_header("traceparent", tp);
    for (n, v) in trace.limit_headers.borrow_mut().drain(..) {
        if resp.header(n).is_none() {
            resp.set_header(n, v);
        }
    }
    if let Some(origin) = trace.cors {
        resp.set_header("access-control-allow-origin", origin);
        resp.set_header("access-control-expose-headers", cors::EXPOSE_HEADERS);
        resp.set_header("vary", "origin");
    }
    if method == Method::Head {
        resp.body = Body::Empty;
    }

    let mut line = RequestLog {
        level: level(resp.status),
        msg: "request",
        request_id,
        trace_id: Some(tc.trace_id.clone()),
        tenant: trace.tenant,
        env: trace.env,
        route: trace.route,
        method: clip(method_raw).to_string(),
        path: clip(req.path()).to_string(),
        host: host.as_deref().map(|h| clip(h).to_string()),
        status: resp.status,
        latency_ms: 0,
        error,
        principal: trace
            .user
            .map(|u| log::principal_hash(ports.var(log::SALT_VAR).unwrap_or(""), trace.tenant.unwrap_or(""), &u)),
        auth: trace.auth,
        detail,
        ..RequestLog::default()
    };
    match std::mem::replace(&mut resp.body, Body::Empty) {
        Body::Stream(s) => {
            resp.body = Body::Stream(stream::logged(
                s,
                line,
                start,
                trace.ai.clone(),
                ports.clock.clone(),
                metrics::Sinks::of(ports),
            ));
        }
        other => {
            resp.body = other;
            line.ai = trace.ai.borrow().clone();
            line.latency_ms = (ports.clock.now_ms() - start).max(0.0) as u64;
            metrics::Sinks::of(ports).record(&line);
        }
    }
    resp
}

async fn pipeline<R: Incoming>(
    req: &R,
    method: Method,
    host: Option<&str>,
    cx: &Context<'_>,
    (request_id, tp): (&str, &str),
    trace: &mut Trace,
) -> Result<Response, Failure> {
    let dep = match cx.deployment {
        DeploymentState::Ready(d) => d,
        DeploymentState::Misconfigured { problems } => {
            return Err(Failure::new(
                ErrorCode::DeploymentMisconfigured,
                "this deployment's TENANT_ID / TENANT_ENV vars do not match its build; see the Worker's logs",
            )
            .with_log_detail(problems.clone()));
        }
    };
    trace.env = dep.env.as_str();
    let ctx = resolve(dep, host, req.header(Header::TenantId).as_deref())?;
    trace.tenant = Some(ctx.tenant().as_str());

    let cors = cors::check(ctx.env_config(), req.header(Header::Origin).as_deref(), host, req.scheme())?;
    if let Cors::Allowed(o) = cors {
        trace.cors = Some(o);
    }

    // A declared length is checked early (cheap refusal); the body itself
    // is counted as it is read, so a lying `content-length` gains nothing.
    let declared = match req.header(Header::ContentLength) {
        None => None,
        Some(v) => Some(
            v.trim()
                .parse::<u64>()
                .map_err(|_| Failure::new(ErrorCode::InvalidContentLength, "content-length must be a number of bytes"))?,
        ),
    };
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large(MAX_BODY_BYTES));
    }

    let path = req.path();
    let m = routes::find(path).ok_or_else(|| not_found(path))?;
    trace.route = m.specs.first().map(|s| s.name);
    if method == Method::Options {
        return Ok(options(req, &m.allow(), &cors));
    }
    let Some(spec) = m.for_method(method) else {
        let allow = m.allow();
        let mut f = Failure::new(ErrorCode::MethodNotAllowed, format!("`{}` accepts {allow}", m.path));
        f.allow = Some(allow);
        return Err(f);
    };
    trace.route = Some(spec.name);
    if spec.dev_only && !ctx.env().is_development() {
        return Err(not_found(path));
    }
    let chunked = req.header(Header::TransferEncoding).is_some();
    if declared.is_some_and(|n| n > spec.max_body) || (spec.max_body == 0 && (chunked || declared.is_some_and(|n| n > 0))) {
        return Err(too_large(spec.max_body));
    }

    let principal = match spec.access {
        Access::Public => None,
        Access::Principal { roles } => {
            let p = own(auth::authenticate(req, &ctx, &ctx.env_config().auth, cx.ports, cx.auth)).await?;
            trace.user = Some(p.user().to_string());
            trace.auth = Some(p.method().as_str());
            auth::require_roles(&p, roles)?;
            Some(p)
        }
    };
    // A budgeted route charges its limit itself, with its reservation.
    if spec.limited && !spec.budgeted {
        if let Some(p) = &principal {
            let ip = req.header(Header::CfConnectingIp);
            *trace.limit_headers.borrow_mut() = own(crate::limits::check(&ctx, p, ip.as_deref(), cx.ports)).await?;
        }
    }
    let scope = Scope {
        req,
        ctx: &ctx,
        deployment: dep,
        principal: principal.as_ref(),
        ports: cx.ports,
        request_id,
        traceparent: tp,
        spec,
        param: m.param,
        started_ms: trace.start,
        ai_log: trace.ai.clone(),
        limit_headers: trace.limit_headers.clone(),
    };
    run(spec.route, &scope).await
}

pub(crate) fn not_found(path: &str) -> Failure {
    Failure::new(
        ErrorCode::NotFound,
        format!("no route for `{}`", path.chars().take(100).collect::<String>()),
    )
}

pub(crate) fn too_large(limit: u64) -> Failure {
    Failure::new(
        ErrorCode::PayloadTooLarge,
        if limit == 0 {
            "this route takes no request body".to_string()
        } else {
            format!("the request body is limited to {limit} bytes")
        },
    )
}

/// `OPTIONS`: a CORS preflight from an allowed origin, or the `allow` list.
fn options<R: Incoming>(req: &R, allow: &str, cors: &Cors) -> Response {
    let mut r = Response::new(204, vec![("allow", allow.to_string())], vec![]);
    if let (Cors::Allowed(_), Some(_)) = (cors, req.header(Header::AcRequestMethod)) {
        r.set_header("access-control-allow-methods", allow.to_string());
        r.set_header("access-control-allow-headers", cors::ALLOW_HEADERS);
        r.set_header("access-control-max-age", cors::MAX_AGE);
    }
    r
}

/// A route's future, boxed: its code stays a function of its own instead
/// of being inlined into the request's state machine. V8 compiles a wasm
/// function whole the first time it runs; with every route inlined, the
/// first `/health` of an isolate compiled a 150 KB function
/// (docs/benchmarks.md, cold start).
fn own<'a, T>(f: impl std::future::Future<Output = T> + 'a) -> crate::ports::LocalFuture<'a, T> {
    Box::pin(f)
}

async fn run<R: Incoming>(route: Route, s: &Scope<'_, R>) -> Result<Response, Failure> {
    use crate::features::chat::{self, Flavor};
    use crate::features::{dev_stream, documents, health, keys, me, playground, search, sessions, tools, tts};
    match route {
        Route::Health => {
            let data = health::health_json(s.ctx, s.deployment).map_err(envelope::encode_failure)?;
            Ok(envelope::data_response(&*data, s.request_id))
        }
        Route::Me => own(me::me(s)).await,
        Route::Playground => playground::page(s),
        Route::PlaygroundLog => playground::log(s),
        Route::KeysList => own(keys::list(s)).await,
        Route::KeysCreate => own(keys::create(s)).await,
        Route::KeysRevoke => own(keys::revoke(s)).await,
        Route::DevStream => dev_stream::stream(s),
        Route::Chat => own(chat::chat(s, Flavor::Chat)).await,
        Route::ChatCompletions => own(chat::chat(s, Flavor::OpenAi)).await,
        Route::SessionsList => own(sessions::list(s)).await,
        Route::DocumentsIngest => own(documents::ingest(s)).await,
        Route::DocumentsList => own(documents::list(s)).await,
        Route::DocumentDelete => own(documents::delete(s)).await,
        Route::DocumentJob => own(documents::job(s)).await,
        Route::Search => own(search::search(s)).await,
        Route::DevRetrieve => own(search::retrieve_only(s)).await,
        Route::SessionGet => own(sessions::get(s)).await,
        Route::SessionDelete => own(sessions::delete(s)).await,
        Route::ToolsList => tools::list(s),
        Route::ToolCall => own(tools::call(s)).await,
        Route::AuditList => own(tools::audit(s)).await,
        Route::Tts => own(tts::tts(s)).await,
    }
}
