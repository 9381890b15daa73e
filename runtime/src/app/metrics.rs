//! One Analytics Engine data point per request, in one layout for every
//! route, written next to the request's log line and from the same
//! [`RequestLog`] (so the two never disagree). The layout is documented in
//! docs/observability.md ("Metrics"); `tenants metrics` and the ready
//! queries read it by position, so a change here is a new [`LAYOUT`].
//!
//! | position | field |
//! |---|---|
//! | index1 | tenant |
//! | blob1–blob8 | tenant, env, route, method, error code, model, provider, cache (`hit`/`miss`/`off`) |
//! | blob9–blob15 | request id, trace id, principal hash, stream outcome, answer, upstream (gateway log) id, layout |
//! | double1–double5 | status, latency ms, time to first token ms, tokens in, tokens out |
//! | double6–double7 | neurons, cost in USD (from the baked cost table) |
//! | double8–double12 | server error (5xx or a failed stream), client error (4xx), cache hit, cache lookup, has a first token |
//! | double13–double15 | model attempts, streamed bytes, priced (the model is in the cost table) |
//!
//! Invariants:
//! - a request that resolved no tenant writes no point (its log line
//!   still names it): every point's index is a tenant of `tenants/`;
//! - writing never fails a request (the port swallows errors);
//! - at most 15 blobs and 15 doubles, under Analytics Engine's 20/20, and
//!   every blob is cut to 200 characters, so a point is always accepted.

use super::log::{clip, RequestLog};
use crate::ports::DataPoint;

/// The layout's name, written as blob15.
pub const LAYOUT: &str = "v1";

/// Neurons and USD for `tokens_in` + `tokens_out` of `model`, from the
/// cost table the compiler baked ([`crate::tenants::MODEL_PRICES`],
/// from `compiler/data/workers-ai-pricing.json`). `None`: not priced
/// (a custom model, or an OpenAI-compatible server's own name).
pub fn cost(model: &str, tokens_in: u64, tokens_out: u64) -> Option<(f64, f64)> {
    let p = crate::tenants::MODEL_PRICES.iter().find(|p| p.model == model)?;
    let (i, o) = (tokens_in as f64 / 1e6, tokens_out as f64 / 1e6);
    Some((
        i * p.neurons_per_m_input + o * p.neurons_per_m_output,
        i * p.usd_per_m_input + o * p.usd_per_m_output,
    ))
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// The data point of a finished request (`None` without a tenant).
pub fn point(line: &RequestLog) -> Option<DataPoint> {
    let tenant = line.tenant?;
    let ai = line.ai.clone().unwrap_or_default();
    let (tin, tout) = (ai.tokens_in.unwrap_or(0), ai.tokens_out.unwrap_or(0));
    let model = ai.model.clone().unwrap_or_default();
    let priced = cost(&model, tin, tout);
    let (neurons, usd) = priced.unwrap_or((0.0, 0.0));
    let cache = ai.cache.unwrap_or("");
    let failed_stream = line.stream == Some("failed");
    let blob = |s: &str| clip(s).to_string();
    Some(DataPoint {
        index: tenant.to_string(),
        blobs: vec![
            blob(tenant),
            blob(line.env),
            blob(line.route.unwrap_or("")),
            blob(&line.method),
            blob(line.error.unwrap_or("")),
            blob(&model),
            blob(ai.provider.unwrap_or("")),
            blob(cache),
            blob(&line.request_id),
            blob(line.trace_id.as_deref().unwrap_or("")),
            blob(line.principal.as_deref().unwrap_or("")),
            blob(line.stream.unwrap_or("")),
            blob(ai.answer.unwrap_or("")),
            blob(ai.upstream_id.as_deref().unwrap_or("")),
            LAYOUT.to_string(),
        ],
        doubles: vec![
            f64::from(line.status),
            line.latency_ms as f64,
            ai.ttft_ms.unwrap_or(0) as f64,
            tin as f64,
            tout as f64,
            neurons,
            usd,
            flag(line.status >= 500 || failed_stream),
            flag((400..500).contains(&line.status)),
            flag(cache == "hit"),
            flag(cache == "hit" || cache == "miss"),
            flag(ai.ttft_ms.is_some()),
            f64::from(ai.attempts.unwrap_or(0)),
            line.bytes.unwrap_or(0) as f64,
            flag(priced.is_some()),
        ],
    })
}

/// Where a finished request goes: its log line, its data point, and (in
/// development) the recent lines the playground links to.
#[derive(Clone)]
pub struct Sinks {
    pub log: std::rc::Rc<dyn crate::ports::LogSink>,
    pub metrics: Option<std::rc::Rc<dyn crate::ports::Metrics>>,
    pub recent: Option<std::rc::Rc<super::log::RecentLines>>,
}

impl Sinks {
    pub fn of(ports: &crate::ports::Ports) -> Sinks {
        Sinks {
            log: ports.log.clone(),
            metrics: ports.metrics.clone(),
            recent: ports.recent.clone(),
        }
    }

    /// Write a finished request's log line and its data point.
    pub fn record(&self, line: &RequestLog) {
        let json = line.to_json();
        self.log.line(&json);
        if let (Some(r), Some(t)) = (&self.recent, line.tenant) {
            r.push(t, &line.request_id, &json);
        }
        // The point is built only where there is a dataset to write it to.
        if let Some(m) = &self.metrics {
            if let Some(p) = point(line) {
                m.write(&p);
            }
        }
    }
}
