//! Ports: what the core needs from the platform, as traits. The wasm
//! adapters (src/wasm.rs) implement them over workers-rs; the in-memory ones
//! here keep the core testable with `cargo test`.

use std::cell::RefCell;

/// Milliseconds since the Unix epoch. (On workerd the clock advances only
/// across I/O, so CPU-only requests log a latency of 0.)
pub trait Clock {
    fn now_ms(&self) -> f64;
}

/// Where request log lines go.
pub trait LogSink {
    fn line(&self, json: &str);
}

/// A clock that returns the values it is given, in turn (then the last).
#[derive(Debug, Default)]
pub struct FixedClock {
    pub times: RefCell<Vec<f64>>,
}

impl FixedClock {
    pub fn new(times: &[f64]) -> FixedClock {
        let mut v = times.to_vec();
        v.reverse();
        FixedClock { times: RefCell::new(v) }
    }
}

impl Clock for FixedClock {
    fn now_ms(&self) -> f64 {
        let mut t = self.times.borrow_mut();
        if t.len() > 1 {
            t.pop().unwrap_or_default()
        } else {
            t.last().copied().unwrap_or_default()
        }
    }
}

/// Log lines kept in memory.
#[derive(Debug, Default)]
pub struct MemoryLog {
    pub lines: RefCell<Vec<String>>,
}

impl LogSink for MemoryLog {
    fn line(&self, json: &str) {
        self.lines.borrow_mut().push(json.to_string());
    }
}
