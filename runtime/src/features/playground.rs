//! The developer playground: `GET /_playground`, one static page
//! (`runtime/assets/playground.html`: chat with streaming and sessions,
//! search with cited sources, a form per tool, text-to-speech), and
//! `GET /_playground/log/{id}`, the log line of one of this isolate's
//! recent requests, which the page links each call's request id to.
//!
//! Invariants: both answer only where the tenant environment's baked
//! config enables the playground — the compiler sets it for development
//! environments only, and the route table marks both development-only —
//! and elsewhere answer exactly as a path no route has (404 `not_found`);
//! the page calls the API like any client (same origin, the development
//! user's headers or an API key), so it can do nothing a `curl` cannot.

use crate::app::envelope::{ErrorCode, Failure};
use crate::app::Scope;
use crate::http::{Incoming, Response};

/// The page, compiled in.
pub const PAGE: &str = include_str!("../../assets/playground.html");

/// What the page may load and call: itself, its inline script and style,
/// audio from `blob:` URLs, its `data:` icon.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; media-src blob:; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn enabled<R: Incoming>(s: &Scope<'_, R>) -> Result<(), Failure> {
    if s.ctx.env_config().playground {
        Ok(())
    } else {
        Err(crate::app::not_found(s.req.path()))
    }
}

pub fn page<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    enabled(s)?;
    Ok(Response::new(
        200,
        vec![
            ("content-type", "text/html; charset=utf-8".into()),
            ("content-security-policy", CSP.into()),
            ("x-content-type-options", "nosniff".into()),
            ("referrer-policy", "no-referrer".into()),
        ],
        PAGE.as_bytes().to_vec(),
    ))
}

pub fn log<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    enabled(s)?;
    let id = s.param.unwrap_or_default();
    let line = s.ports.recent.as_ref().and_then(|r| r.get(s.ctx.tenant().as_str(), id)).ok_or_else(|| {
        Failure::new(
            ErrorCode::NotFound,
            "no log line for this request id in this Worker instance (yet): a stream's line is written when it ends; older lines and other instances are in `wrangler tail`",
        )
    })?;
    Ok(Response::new(
        200,
        vec![("content-type", "application/json".into())],
        line.into_bytes(),
    ))
}
