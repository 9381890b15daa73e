//! Rate limits from the tenant file (`rate-limit { tenant …; user …; ip … }`),
//! enforced in the pipeline for every route except `/health` and CORS
//! preflight, after authentication (the user bucket needs the principal).
//!
//! One hit is charged atomically to three buckets — the tenant's, the
//! user's and the client IP's — in the tenant's `RATE_LIMITER` Durable
//! Object (named `TenantCtx::key(RateLimit)`; bucket keys come from the
//! same function). The algorithm is GCRA ([`crate::objects::rate_limiter`]):
//! exact under concurrency, no double burst at a window edge.
//!
//! Headers (draft-ietf-httpapi-ratelimit-headers): every limited response
//! carries `ratelimit-limit`, `ratelimit-remaining` and `ratelimit-reset`
//! (seconds) of the bucket with the least room; a refusal is 429
//! `rate_limited` with `retry-after` (seconds) and those of the bucket
//! that refused.
//!
//! When the limiter cannot be reached (binding missing, object failing),
//! the request is refused with 503 `rate_limiter_unavailable` and
//! `retry-after: 1`: fail closed. These routes spend money (model tokens),
//! and an outage of the limiter must not become an unlimited window.
//!
//! The client IP is `cf-connecting-ip`; a request without it (local tools)
//! counts under one `unknown` bucket.

use crate::app::envelope::{ErrorCode, Failure};
use crate::auth::Principal;
use crate::objects::budget::{BudgetOp, BudgetReply};
use crate::objects::rate_limiter::{BucketReply, BucketSpec, HitReply, HitRequest};
use crate::ports::Ports;
use crate::tenancy::keys::Space;
use crate::tenancy::resolve::TenantCtx;

/// Response headers of a limited request.
pub type LimitHeaders = Vec<(&'static str, String)>;

/// Which buckets a request is charged to.
pub fn buckets(ctx: &TenantCtx, principal: &Principal, ip: Option<&str>) -> HitRequest {
    let rl = &ctx.config().rate_limits;
    let ip = ip.map(str::trim).filter(|i| !i.is_empty() && i.len() <= 64).unwrap_or("unknown");
    HitRequest {
        buckets: vec![
            BucketSpec {
                key: ctx.key(Space::RateLimit, &["tenant"]).as_str().to_string(),
                limit: rl.tenant.limit,
                window_secs: rl.tenant.window_secs,
            },
            BucketSpec {
                key: ctx.key(Space::RateLimit, &["user", principal.user()]).as_str().to_string(),
                limit: rl.user.limit,
                window_secs: rl.user.window_secs,
            },
            BucketSpec {
                key: ctx.key(Space::RateLimit, &["ip", ip]).as_str().to_string(),
                limit: rl.ip.limit,
                window_secs: rl.ip.window_secs,
            },
        ],
        budget: None,
    }
}

fn secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

fn headers_of(b: &BucketReply) -> LimitHeaders {
    vec![
        ("ratelimit-limit", b.limit.to_string()),
        ("ratelimit-remaining", b.remaining.to_string()),
        ("ratelimit-reset", secs(b.reset_ms).to_string()),
    ]
}

/// Turn the limiter's reply into headers or a 429.
pub fn decide(reply: &HitReply) -> Result<LimitHeaders, Failure> {
    if let Some(i) = reply.denied_by {
        let b = reply.buckets.get(i).copied().unwrap_or(BucketReply {
            limit: 0,
            remaining: 0,
            reset_ms: reply.retry_after_ms,
        });
        let scope = ["tenant", "user", "ip"].get(i).copied().unwrap_or("request");
        let retry = secs(reply.retry_after_ms).max(1);
        let mut f = Failure::new(ErrorCode::RateLimited, format!("rate limit reached; retry in {retry} s"))
            .with_header("retry-after", retry.to_string())
            .with_log_detail(format!("{scope} limit"));
        f.headers.extend(headers_of(&b));
        return Err(f);
    }
    let tightest = reply
        .buckets
        .iter()
        .min_by(|a, b| a.remaining.cmp(&b.remaining).then(b.reset_ms.cmp(&a.reset_ms)));
    Ok(tightest.map(headers_of).unwrap_or_default())
}

/// Charge one request; the headers to add, or the refusal.
pub async fn check(ctx: &TenantCtx, principal: &Principal, ip: Option<&str>, ports: &Ports) -> Result<LimitHeaders, Failure> {
    check_with(ctx, principal, ip, ports, None).await.map(|(h, _)| h)
}

/// Charge one request and, if it passes, apply `budget` in the same round
/// trip; the headers to add and the budget's answer, or the refusal.
pub async fn check_with(
    ctx: &TenantCtx,
    principal: &Principal,
    ip: Option<&str>,
    ports: &Ports,
    budget: Option<BudgetOp>,
) -> Result<(LimitHeaders, Option<BudgetReply>), Failure> {
    let unavailable = |why: String| {
        Failure::new(
            ErrorCode::RateLimiterUnavailable,
            "the rate limiter cannot be reached; try again shortly",
        )
        .with_header("retry-after", "1")
        .with_log_detail(why)
    };
    let Some(limiter) = &ports.limiter else {
        return Err(unavailable("RATE_LIMITER binding missing".into()));
    };
    let mut req = buckets(ctx, principal, ip);
    req.budget = budget;
    let reply = limiter
        .hit(&ctx.key(Space::RateLimit, &[]), &req)
        .await
        .map_err(|e| unavailable(format!("limiter: {e}")))?;
    let headers = decide(&reply)?;
    if req.budget.is_some() && reply.budget.is_none() {
        return Err(unavailable("the limiter did not apply the budget reservation".into()));
    }
    Ok((headers, reply.budget))
}
