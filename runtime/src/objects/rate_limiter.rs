//! A fixed-window counter: at most `limit` hits per `window_secs`.

use serde::{Deserialize, Serialize};

/// The stored state: the current window's start and its count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub start_ms: f64,
    pub count: u32,
}

/// A hit request: the limit to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    pub limit: u32,
    pub window_secs: u32,
}

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    pub remaining: u32,
    /// When the current window ends (ms since the epoch).
    pub reset_ms: f64,
}

/// Count one hit at `now_ms`; a refused hit is not counted.
pub fn hit(state: Option<Window>, now_ms: f64, h: Hit) -> (Window, Decision) {
    let len = f64::from(h.window_secs.max(1)) * 1000.0;
    let mut w = match state {
        Some(w) if now_ms >= w.start_ms && now_ms < w.start_ms + len => w,
        _ => Window {
            start_ms: now_ms - now_ms.rem_euclid(len),
            count: 0,
        },
    };
    let allowed = w.count < h.limit;
    if allowed {
        w.count += 1;
    }
    (
        w,
        Decision {
            allowed,
            remaining: h.limit.saturating_sub(w.count),
            reset_ms: w.start_ms + len,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_limit_hits_per_window_then_refuses_until_it_resets() {
        let h = Hit { limit: 2, window_secs: 60 };
        let (w, d) = hit(None, 1_000.0, h);
        assert!(d.allowed && d.remaining == 1 && d.reset_ms == 60_000.0);
        let (w, d) = hit(Some(w), 2_000.0, h);
        assert!(d.allowed && d.remaining == 0);
        let (w, d) = hit(Some(w), 59_999.0, h);
        assert!(!d.allowed);
        assert_eq!(w.count, 2, "a refused hit is not counted");
        let (w, d) = hit(Some(w), 60_000.0, h);
        assert!(d.allowed && w.count == 1 && w.start_ms == 60_000.0);
    }

    #[test]
    fn zero_limit_refuses_everything() {
        let (_, d) = hit(None, 5.0, Hit { limit: 0, window_secs: 1 });
        assert!(!d.allowed);
    }
}
