//! The `RATE_LIMITER` Durable Object's protocol and state logic: GCRA (the
//! generic cell rate algorithm) over several buckets, applied atomically.
//!
//! Why GCRA: a fixed window lets 2× the limit through around a window
//! edge (the end of one window and the start of the next); GCRA keeps one
//! number per bucket (the theoretical arrival time, TAT) and never lets
//! more than `limit` requests through in any span of `window` — a burst of
//! `limit` at once, then one every `window / limit`. A sliding-window log
//! is as exact but stores every request.
//!
//! Exactness: times are integers in ticks of `1 / limit` ms, so the
//! emission interval (`window_ms / limit` ms) is exactly `window_ms`
//! ticks and no rounding ever lets request `limit + 1` of a burst through.
//! The Durable Object runs one request at a time, so with limit `L`
//! exactly `L` of `N` concurrent hits pass.
//!
//! Atomicity: a hit names every bucket that applies (tenant, user, ip);
//! it passes only if every bucket has room, and only then is it charged
//! to all of them — a request refused by the user's bucket does not use
//! up the tenant's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One bucket a hit is charged to. `key` comes from `TenantCtx::key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSpec {
    pub key: String,
    pub limit: u32,
    pub window_secs: u32,
}

/// `POST /hit` body. A request that spends tokens carries its budget
/// reservation too, applied only if the hit is allowed — one round trip
/// for both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HitRequest {
    pub buckets: Vec<BucketSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::objects::budget::BudgetOp>,
}

/// A bucket's state after a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketReply {
    pub limit: u32,
    /// Requests that would still pass now.
    pub remaining: u32,
    /// Milliseconds until the bucket is full again.
    pub reset_ms: u64,
}

/// `POST /hit` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HitReply {
    pub allowed: bool,
    /// One per requested bucket, in order.
    pub buckets: Vec<BucketReply>,
    /// When refused: the first refusing bucket and the milliseconds until
    /// a retry can pass.
    pub denied_by: Option<usize>,
    pub retry_after_ms: u64,
    /// The budget's answer, when the hit carried a reservation and passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::objects::budget::BudgetReply>,
}

/// A bucket's stored state. `tat` is in ticks of `1 / limit` ms; kept as
/// a decimal string because JavaScript numbers (Durable Object storage)
/// hold only 53 bits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketState {
    pub tat: String,
    pub limit: u32,
    pub window_secs: u32,
}

pub type Buckets = BTreeMap<String, BucketState>;

struct Calc {
    /// Emission interval and period, in ticks.
    t: i128,
    period: i128,
    now: i128,
    /// max(TAT, now)
    tat: i128,
}

fn calc(state: Option<&BucketState>, now_ms: f64, b: &BucketSpec) -> Calc {
    let l = i128::from(b.limit.max(1));
    let window_ms = i128::from(b.window_secs.max(1)) * 1000;
    let now = (now_ms.max(0.0) as i128) * l;
    let stored = state
        .filter(|s| s.limit == b.limit && s.window_secs == b.window_secs)
        .and_then(|s| s.tat.parse::<i128>().ok())
        .unwrap_or(now);
    Calc {
        t: window_ms,
        period: window_ms * l,
        now,
        tat: stored.max(now),
    }
}

fn ceil_div(a: i128, b: i128) -> u64 {
    if a <= 0 {
        0
    } else {
        ((a + b - 1) / b) as u64
    }
}

/// Apply one hit at `now_ms` to `buckets` (the object's state).
pub fn apply(buckets: &mut Buckets, now_ms: f64, req: &HitRequest) -> HitReply {
    let calcs: Vec<Calc> = req.buckets.iter().map(|b| calc(buckets.get(&b.key), now_ms, b)).collect();
    // A zero limit refuses everything.
    let fits = |c: &Calc, b: &BucketSpec| b.limit > 0 && c.tat + c.t - c.now <= c.period;
    let denied_by = req.buckets.iter().zip(&calcs).position(|(b, c)| !fits(c, b));
    let allowed = denied_by.is_none();
    let mut replies = Vec::with_capacity(calcs.len());
    for (b, c) in req.buckets.iter().zip(&calcs) {
        let l = i128::from(b.limit.max(1));
        let tat = if allowed { c.tat + c.t } else { c.tat };
        if allowed {
            buckets.insert(
                b.key.clone(),
                BucketState {
                    tat: tat.to_string(),
                    limit: b.limit,
                    window_secs: b.window_secs,
                },
            );
        }
        let room = c.period - (tat - c.now);
        replies.push(BucketReply {
            limit: b.limit,
            remaining: if b.limit == 0 {
                0
            } else {
                (room.max(0) / c.t).min(i128::from(b.limit)) as u32
            },
            reset_ms: ceil_div(tat - c.now, l),
        });
    }
    let retry_after_ms = match denied_by {
        None => 0,
        Some(i) => {
            let (b, c) = (&req.buckets[i], &calcs[i]);
            if b.limit == 0 {
                u64::from(b.window_secs) * 1000
            } else {
                // The hit fits once tat + t - now <= period.
                ceil_div(c.tat + c.t - c.now - c.period, i128::from(b.limit))
            }
        }
    };
    HitReply {
        allowed,
        buckets: replies,
        denied_by,
        retry_after_ms,
        budget: None,
    }
}

/// Drop buckets that are full again at `now_ms` (equivalent to absent);
/// returns the keys removed.
pub fn expired(buckets: &Buckets, now_ms: f64) -> Vec<String> {
    buckets
        .iter()
        .filter(|(_, s)| {
            let now = (now_ms.max(0.0) as i128) * i128::from(s.limit.max(1));
            s.tat.parse::<i128>().map_or(true, |t| t <= now)
        })
        .map(|(k, _)| k.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(specs: &[(&str, u32, u32)]) -> HitRequest {
        HitRequest {
            buckets: specs
                .iter()
                .map(|&(k, limit, window_secs)| BucketSpec {
                    key: k.into(),
                    limit,
                    window_secs,
                })
                .collect(),
            budget: None,
        }
    }

    #[test]
    fn a_burst_of_exactly_limit_passes_for_awkward_limits() {
        for (limit, window) in [(1, 1), (3, 1), (7, 60), (20, 3600), (1000, 60), (100_003, 1), (250_000, 86_400)] {
            let mut b = Buckets::new();
            let r = req(&[("k", limit, window)]);
            let now = 1_764_950_000_123.0;
            let passed = (0..limit + 5).filter(|_| apply(&mut b, now, &r).allowed).count();
            assert_eq!(passed, limit as usize, "limit {limit} per {window}s");
        }
    }

    #[test]
    fn no_double_burst_at_a_window_edge() {
        // 10 per minute: 10 at 59.9 s, then at 60.1 s only what has
        // trickled back (one per 6 s), not another 10.
        let mut b = Buckets::new();
        let r = req(&[("k", 10, 60)]);
        let passed = (0..10).filter(|_| apply(&mut b, 59_900.0, &r).allowed).count();
        assert_eq!(passed, 10);
        let again = (0..10).filter(|_| apply(&mut b, 60_100.0, &r).allowed).count();
        assert_eq!(again, 0);
        // One per 6 s comes back.
        assert!(apply(&mut b, 65_900.0, &r).allowed);
        assert!(!apply(&mut b, 65_900.0, &r).allowed);
    }

    #[test]
    fn remaining_reset_and_retry_after() {
        let mut b = Buckets::new();
        let r = req(&[("k", 3, 60)]);
        let a = apply(&mut b, 0.0, &r);
        assert_eq!((a.allowed, a.buckets[0].remaining, a.buckets[0].reset_ms), (true, 2, 20_000));
        apply(&mut b, 0.0, &r);
        let c = apply(&mut b, 0.0, &r);
        assert_eq!((c.allowed, c.buckets[0].remaining, c.buckets[0].reset_ms), (true, 0, 60_000));
        let d = apply(&mut b, 1_000.0, &r);
        assert!(!d.allowed);
        assert_eq!(d.denied_by, Some(0));
        assert_eq!(d.retry_after_ms, 19_000, "the next slot frees 20 s after the burst");
        assert!(apply(&mut b, 20_000.0, &r).allowed);
    }

    #[test]
    fn a_refused_hit_charges_no_bucket() {
        let mut b = Buckets::new();
        // user: 1 per hour; tenant: 100 per minute.
        let r = req(&[("tenant", 100, 60), ("user", 1, 3600)]);
        assert!(apply(&mut b, 0.0, &r).allowed);
        for _ in 0..5 {
            let d = apply(&mut b, 0.0, &r);
            assert!(!d.allowed);
            assert_eq!(d.denied_by, Some(1));
        }
        // The tenant bucket was charged once only.
        let other = apply(&mut b, 0.0, &req(&[("tenant", 100, 60)]));
        assert_eq!(other.buckets[0].remaining, 98);
    }

    #[test]
    fn a_changed_limit_starts_the_bucket_afresh() {
        let mut b = Buckets::new();
        assert!(apply(&mut b, 0.0, &req(&[("k", 1, 60)])).allowed);
        assert!(!apply(&mut b, 0.0, &req(&[("k", 1, 60)])).allowed);
        assert!(apply(&mut b, 0.0, &req(&[("k", 2, 60)])).allowed);
    }

    #[test]
    fn zero_limit_refuses_everything_and_full_buckets_expire() {
        let mut b = Buckets::new();
        let d = apply(&mut b, 5.0, &req(&[("z", 0, 1)]));
        assert!(!d.allowed && d.retry_after_ms == 1000);
        apply(&mut b, 0.0, &req(&[("k", 2, 10)]));
        assert!(expired(&b, 1_000.0).is_empty());
        assert_eq!(expired(&b, 5_000.0), ["k"]);
    }
}
