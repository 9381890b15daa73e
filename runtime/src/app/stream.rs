//! Streamed responses: the request's log line is written when the stream
//! ends — `completed`, `failed` (the producer said so) or `cancelled` (the
//! stream was dropped before its end: the client went away) — with the
//! chunk and byte counts and the whole duration, and its metrics data
//! point with it.

use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_util::Stream;

use std::cell::RefCell;

use super::log::{AiLog, RequestLog};
use super::metrics::Sinks;
use crate::http::ChunkStream;
use crate::ports::Clock;

struct Logged {
    inner: ChunkStream,
    line: Option<RequestLog>,
    start: f64,
    chunks: u64,
    bytes: u64,
    ai: Rc<RefCell<Option<AiLog>>>,
    clock: Rc<dyn Clock>,
    sinks: Sinks,
}

impl Logged {
    fn finish(&mut self, outcome: &'static str, detail: Option<String>) {
        if let Some(mut line) = self.line.take() {
            line.ai = self.ai.borrow().clone();
            line.stream = Some(outcome);
            line.chunks = Some(self.chunks);
            line.bytes = Some(self.bytes);
            line.latency_ms = (self.clock.now_ms() - self.start).max(0.0) as u64;
            if let Some(d) = detail {
                line.detail = Some(d);
                line.level = "error";
                line.error = Some("stream_failed");
            } else if outcome == "cancelled" {
                line.level = "warn";
            }
            self.sinks.record(&line);
        }
    }
}

impl Stream for Logged {
    type Item = Result<Vec<u8>, String>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.line.is_none() {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.chunks += 1;
                self.bytes += chunk.len() as u64;
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.finish("failed", Some(e));
                Poll::Ready(None)
            }
            Poll::Ready(None) => {
                self.finish("completed", None);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        // Drop the producer first: its own end (an interrupted answer)
        // fills the log fields this line reports.
        self.inner = Box::pin(futures_util::stream::empty());
        self.finish("cancelled", None);
    }
}

/// Wrap a response stream so that it writes `line` when it ends.
pub fn logged(
    inner: ChunkStream,
    line: RequestLog,
    start: f64,
    ai: Rc<RefCell<Option<AiLog>>>,
    clock: Rc<dyn Clock>,
    sinks: Sinks,
) -> ChunkStream {
    Box::pin(Logged {
        inner,
        ai,
        line: Some(line),
        start,
        chunks: 0,
        bytes: 0,
        clock,
        sinks,
    })
}
