//! `GET /v1/me`: who the caller is, as the Worker sees them — the tenant,
//! the environment, the user, the roles and how they authenticated — and,
//! where the tenant has a daily token budget, how much of it the tenant
//! and the caller used today. The response carries the caller's
//! rate-limit headers like every limited route. Clients use it to check
//! their credentials and their budget.

use schemars::JsonSchema;
use serde::Serialize;

use crate::app::envelope::{data_response, ErrorCode, Failure};
use crate::app::Scope;
use crate::http::{Incoming, Response};

#[derive(Debug, Serialize, JsonSchema, PartialEq)]
pub struct Me {
    pub tenant: &'static str,
    pub env: &'static str,
    pub user: String,
    pub roles: Vec<String>,
    /// `jwt`, `access`, `api-key` or `development`.
    pub auth: &'static str,
    /// Today's token usage (UTC day), when the tenant has a budget and its
    /// object could be read.
    pub budget: Option<BudgetUsage>,
}

/// Tokens (in and out, as the budget counts them) used today.
#[derive(Debug, Serialize, JsonSchema, PartialEq)]
pub struct BudgetUsage {
    pub tenant_used: u64,
    pub tenant_limit: Option<u64>,
    pub user_used: u64,
    pub user_limit: Option<u64>,
    /// When the day ends (seconds since the epoch).
    pub resets_at: u64,
}

pub async fn me<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    let p = s
        .principal
        .ok_or_else(|| Failure::new(ErrorCode::Internal, "route without a principal"))?;
    let budget = usage(s, p.user()).await;
    Ok(data_response(
        &Me {
            tenant: s.ctx.tenant().as_str(),
            env: s.ctx.env().as_str(),
            user: p.user().to_string(),
            roles: p.roles().to_vec(),
            auth: p.method().as_str(),
            budget,
        },
        s.request_id,
    ))
}

async fn usage<R: Incoming>(s: &Scope<'_, R>, user: &str) -> Option<BudgetUsage> {
    use crate::objects::budget::{day_of, BudgetOp};
    let ai = &s.ctx.config().ai;
    if ai.tokens_per_day.is_none() && ai.user_tokens_per_day.is_none() {
        return None;
    }
    let budget = s.ports.budget.as_ref()?;
    let (day, reset_ms) = day_of(s.ports.clock.now_ms());
    let object = s.ctx.key(crate::tenancy::keys::Space::RateLimit, &[]);
    let op = BudgetOp::Usage {
        day,
        user: user.to_string(),
    };
    // A read: an unreachable object leaves the field out, it does not fail
    // the request.
    let r = budget.call(&object, &op).await.ok()?;
    Some(BudgetUsage {
        tenant_used: r.tenant_used,
        tenant_limit: ai.tokens_per_day,
        user_used: r.user_used,
        user_limit: ai.user_tokens_per_day,
        resets_at: (reset_ms / 1000.0) as u64,
    })
}
