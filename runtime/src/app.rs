//! The request pipeline, platform-free:
//!
//! request id → deployment check → tenant resolution → CORS → body size →
//! route → method → handler → envelope, `x-request-id`, CORS headers → one
//! log line.
//!
//! Invariants: every response carries `x-request-id`; every failure is the
//! error envelope with its status; no handler runs without a
//! [`TenantCtx`]; exactly one log line is written per request.

use crate::cors::{self, Cors};
use crate::envelope::{data_response, error_response, ErrorCode, Failure};
use crate::http::{header, Incoming, Method, Response};
use crate::log::{clip, level, RequestLog};
use crate::ports::{Clock, LogSink};
use crate::request_id::RequestIds;
use crate::resolve::{resolve, Deployment, TenantCtx};
use crate::router::{self, Route, RouteSpec};

/// The largest request body any route accepts (1 MiB); routes may accept less.
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

/// What a request needs from the platform besides the request itself.
pub struct Context<'a> {
    pub deployment: &'a DeploymentState,
    pub ids: &'a RequestIds,
    pub clock: &'a dyn Clock,
    pub log: &'a dyn LogSink,
}

struct Trace {
    tenant: Option<&'static str>,
    env: &'static str,
    route: Option<&'static str>,
    cors: Option<&'static str>,
    detail: Option<String>,
}

/// Serve one request.
pub async fn handle<R: Incoming>(req: &R, cx: &Context<'_>) -> Response {
    let start = cx.clock.now_ms();
    let request_id = cx.ids.for_request(req.header(header::REQUEST_ID).as_deref());
    let method_raw = req.method();
    let method = Method::parse(method_raw);
    let host = req.header(header::HOST);
    let mut trace = Trace {
        tenant: None,
        env: "",
        route: None,
        cors: None,
        detail: None,
    };

    let result = pipeline(req, method, host.as_deref(), cx.deployment, &request_id, &mut trace).await;
    let (mut resp, error) = match result {
        Ok(r) => (r, None),
        Err(f) => (error_response(&f, &request_id), Some(f.code.code())),
    };
    resp.set_header("cache-control", "no-store");
    resp.set_header("x-request-id", request_id.clone());
    if let Some(origin) = trace.cors {
        resp.set_header("access-control-allow-origin", origin);
        resp.set_header("access-control-expose-headers", cors::EXPOSE_HEADERS);
        resp.set_header("vary", "origin");
    }
    if method == Method::Head {
        resp.body.clear();
    }

    let latency = (cx.clock.now_ms() - start).max(0.0) as u64;
    let line = RequestLog {
        level: level(resp.status),
        msg: "request",
        request_id: &request_id,
        tenant: trace.tenant,
        env: trace.env,
        route: trace.route,
        method: clip(method_raw),
        path: clip(req.path()),
        host: host.as_deref().map(clip),
        status: resp.status,
        latency_ms: latency,
        error,
        detail: trace.detail.as_deref(),
    };
    cx.log.line(&line.to_json());
    resp
}

async fn pipeline<R: Incoming>(
    req: &R,
    method: Method,
    host: Option<&str>,
    deployment: &DeploymentState,
    request_id: &str,
    trace: &mut Trace,
) -> Result<Response, Failure> {
    let dep = match deployment {
        DeploymentState::Ready(d) => d,
        DeploymentState::Misconfigured { problems } => {
            trace.detail = Some(problems.clone());
            return Err(Failure::new(
                ErrorCode::DeploymentMisconfigured,
                "this deployment's TENANT_ID / TENANT_ENV vars do not match its build; see the Worker's logs",
            ));
        }
    };
    trace.env = dep.env.as_str();
    let ctx = resolve(dep, host, req.header(header::TENANT_ID).as_deref())?;
    trace.tenant = Some(ctx.tenant().as_str());

    let cors = cors::check(ctx.env_config(), req.header(header::ORIGIN).as_deref(), host, req.scheme())?;
    if let Cors::Allowed(o) = cors {
        trace.cors = Some(o);
    }

    let declared = match req.header(header::CONTENT_LENGTH) {
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
    let spec = router::find(path).ok_or_else(|| {
        Failure::new(
            ErrorCode::NotFound,
            format!("no route for `{}`", path.chars().take(100).collect::<String>()),
        )
    })?;
    trace.route = Some(spec.name);

    if method == Method::Options {
        return Ok(options(req, spec, &cors));
    }
    if !spec.methods.contains(&method) {
        return Err(Failure {
            code: ErrorCode::MethodNotAllowed,
            message: format!("`{}` accepts {}", spec.path, spec.allow),
            allow: Some(spec.allow),
        });
    }
    let chunked = req.header(header::TRANSFER_ENCODING).is_some();
    if declared.is_some_and(|n| n > spec.max_body) || (chunked && spec.max_body == 0) {
        return Err(too_large(spec.max_body));
    }
    run(spec.route, &ctx, dep, req, request_id).await
}

fn too_large(limit: u64) -> Failure {
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
fn options<R: Incoming>(req: &R, spec: &RouteSpec, cors: &Cors) -> Response {
    let mut r = Response {
        status: 204,
        headers: vec![("allow", spec.allow.to_string())],
        body: vec![],
    };
    if let (Cors::Allowed(_), Some(_)) = (cors, req.header(header::AC_REQUEST_METHOD)) {
        r.set_header("access-control-allow-methods", spec.allow);
        r.set_header("access-control-allow-headers", cors::ALLOW_HEADERS);
        r.set_header("access-control-max-age", cors::MAX_AGE);
    }
    r
}

async fn run<R: Incoming>(route: Route, ctx: &TenantCtx, dep: &Deployment, _req: &R, request_id: &str) -> Result<Response, Failure> {
    match route {
        Route::Health => Ok(data_response(&crate::handlers::health::health(ctx, dep), request_id)),
    }
}
