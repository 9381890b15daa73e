//! `GET /v1/dev/stream?events=N&interval_ms=M&fail_after=K`: a
//! server-sent-events stream for testing the streaming path end to end
//! (chunks arrive as produced, a client that leaves cancels the producer,
//! a failure mid-stream ends cleanly). Test and development
//! infrastructure: the route exists only in development environments.
//!
//! Each event is `event: tick` with `{"seq","at_ms"}`, one every
//! `interval_ms` (default 100, at most 10,000), `events` of them (default
//! 5, at most 1,000), then `event: done`. With `fail_after=K`, after K
//! ticks it sends `event: error` with an error envelope and stops, and the
//! log line says `failed`.

use futures_util::stream;
use serde_json::json;

use crate::app::envelope::{ErrorCode, Failure};
use crate::app::Scope;
use crate::http::sse::{self, Event};
use crate::http::{query_param, Body, Incoming, Response};

fn num(s: Option<&str>, name: &str, default: u32, max: u32) -> Result<u32, Failure> {
    match s {
        None => Ok(default),
        Some(v) => v.parse::<u32>().ok().filter(|n| *n <= max).ok_or_else(|| {
            Failure::new(
                ErrorCode::InvalidRequest,
                format!("`{name}` must be a whole number from 0 to {max}"),
            )
        }),
    }
}

pub fn stream<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    let q = s.req.query();
    let events = num(query_param(q, "events"), "events", 5, 1000)?;
    let interval = num(query_param(q, "interval_ms"), "interval_ms", 100, 10_000)?;
    let fail_after = match query_param(q, "fail_after") {
        None => None,
        v => Some(num(v, "fail_after", 0, 1000)?),
    };
    let (timer, clock) = (s.ports.timer.clone(), s.ports.clock.clone());
    let request_id = s.request_id.to_string();
    // State: the next sequence number; `None` once finished.
    let body = stream::unfold(Some(0u32), move |state| {
        let (timer, clock, request_id) = (timer.clone(), clock.clone(), request_id.clone());
        async move {
            let seq = state?;
            if fail_after == Some(seq) {
                let env =
                    json!({"error": {"code": "stream_failed", "message": "the producer failed (fail_after)", "request_id": request_id}});
                let chunk = Event {
                    event: Some("error"),
                    data: &env.to_string(),
                    ..Event::default()
                }
                .encode();
                // Send the error event, then end with a failure.
                return Some((Ok(chunk), Some(u32::MAX)));
            }
            if seq == u32::MAX {
                return Some((Err(format!("failed after {} events (fail_after)", fail_after.unwrap_or(0))), None));
            }
            if seq >= events {
                let chunk = Event {
                    event: Some("done"),
                    data: &json!({"events": events}).to_string(),
                    ..Event::default()
                }
                .encode();
                return Some((Ok(chunk), None));
            }
            if seq > 0 {
                timer.sleep(interval).await;
            }
            let data = json!({"seq": seq, "at_ms": clock.now_ms()}).to_string();
            let id = seq.to_string();
            let chunk = Event {
                event: Some("tick"),
                id: Some(&id),
                data: &data,
            }
            .encode();
            Some((Ok(chunk), Some(seq + 1)))
        }
    });
    Ok(Response {
        status: 200,
        headers: vec![("content-type", sse::CONTENT_TYPE.to_string())],
        body: Body::Stream(Box::pin(body)),
    })
}
