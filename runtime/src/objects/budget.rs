//! Daily token budgets: reserve the request's maximum before the model is
//! called, settle with what it used after.
//!
//! Served by the tenant's `RATE_LIMITER` object, which already runs one
//! request at a time per tenant, so a reservation is a single atomic step
//! on in-memory state (persisted after each change): a reservation rides
//! on the request's rate-limit hit (`POST /hit`, one round trip for both,
//! applied only if the hit passes); a settlement is `POST /budget`.
//!
//! Invariants:
//! - a reservation is granted only if the tenant's (and the user's) used
//!   plus reserved tokens stay within the limit: parallel requests can
//!   never reserve more than the budget together;
//! - settling replaces the reservation with the actual count, so the
//!   budget is exceeded only if a provider reports more tokens than the
//!   request's maximum allowed (prompt estimate + `max_tokens`);
//! - days are UTC days since the epoch; a new day starts an empty ledger,
//!   and a settlement for a past day changes nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum BudgetOp {
    Reserve {
        day: u32,
        amount: u64,
        tenant_limit: Option<u64>,
        user: String,
        user_limit: Option<u64>,
    },
    Settle {
        day: u32,
        user: String,
        reserved: u64,
        actual: u64,
    },
    /// Read today's usage (nothing changes).
    Usage { day: u32, user: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetReply {
    pub allowed: bool,
    /// Which budget refused: `tenant` or `user`.
    pub exhausted: Option<String>,
    pub tenant_used: u64,
    pub user_used: u64,
}

/// One tenant's usage today.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub day: u32,
    pub tenant: u64,
    pub users: BTreeMap<String, u64>,
}

/// Apply one operation.
pub fn apply(l: &mut Ledger, op: &BudgetOp) -> BudgetReply {
    match op {
        BudgetOp::Reserve {
            day,
            amount,
            tenant_limit,
            user,
            user_limit,
        } => {
            if *day > l.day {
                *l = Ledger {
                    day: *day,
                    ..Ledger::default()
                };
            }
            let user_used = l.users.get(user).copied().unwrap_or(0);
            let exhausted = if tenant_limit.is_some_and(|lim| l.tenant + amount > lim) {
                Some("tenant")
            } else if user_limit.is_some_and(|lim| user_used + amount > lim) {
                Some("user")
            } else {
                None
            };
            if exhausted.is_none() {
                l.tenant += amount;
                *l.users.entry(user.clone()).or_insert(0) += amount;
            }
            BudgetReply {
                allowed: exhausted.is_none(),
                exhausted: exhausted.map(str::to_string),
                tenant_used: l.tenant,
                user_used: l.users.get(user).copied().unwrap_or(0),
            }
        }
        BudgetOp::Settle {
            day,
            user,
            reserved,
            actual,
        } => {
            if *day == l.day {
                l.tenant = l.tenant.saturating_sub(*reserved) + actual;
                let u = l.users.entry(user.clone()).or_insert(0);
                *u = u.saturating_sub(*reserved) + actual;
            }
            BudgetReply {
                allowed: true,
                exhausted: None,
                tenant_used: l.tenant,
                user_used: l.users.get(user).copied().unwrap_or(0),
            }
        }
        BudgetOp::Usage { day, user } => {
            let today = *day == l.day;
            BudgetReply {
                allowed: true,
                exhausted: None,
                tenant_used: if today { l.tenant } else { 0 },
                user_used: if today { l.users.get(user).copied().unwrap_or(0) } else { 0 },
            }
        }
    }
}

/// The UTC day of a time in milliseconds, and when it ends (ms).
pub fn day_of(now_ms: f64) -> (u32, f64) {
    let day = (now_ms / 86_400_000.0).floor().max(0.0);
    (day as u32, (day + 1.0) * 86_400_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reserve(l: &mut Ledger, day: u32, amount: u64, user: &str) -> BudgetReply {
        apply(
            l,
            &BudgetOp::Reserve {
                day,
                amount,
                tenant_limit: Some(100),
                user: user.into(),
                user_limit: Some(60),
            },
        )
    }

    #[test]
    fn reservations_never_exceed_the_budget_and_settling_returns_the_rest() {
        let mut l = Ledger::default();
        assert!(reserve(&mut l, 1, 40, "a").allowed);
        assert!(reserve(&mut l, 1, 40, "b").allowed);
        let r = reserve(&mut l, 1, 40, "c");
        assert_eq!((r.allowed, r.exhausted.as_deref()), (false, Some("tenant")));
        assert_eq!(l.tenant, 80);
        // a used 10 of its 40: 30 come back.
        apply(
            &mut l,
            &BudgetOp::Settle {
                day: 1,
                user: "a".into(),
                reserved: 40,
                actual: 10,
            },
        );
        assert_eq!(l.tenant, 50);
        assert!(reserve(&mut l, 1, 40, "c").allowed);
    }

    #[test]
    fn the_user_budget_refuses_on_its_own_and_a_new_day_starts_empty() {
        let mut l = Ledger::default();
        assert!(reserve(&mut l, 1, 50, "a").allowed);
        let r = reserve(&mut l, 1, 20, "a");
        assert_eq!(r.exhausted.as_deref(), Some("user"));
        assert!(reserve(&mut l, 1, 20, "b").allowed);
        assert!(reserve(&mut l, 2, 50, "a").allowed);
        assert_eq!(l.tenant, 50);
        // A late settlement for day 1 changes nothing on day 2.
        apply(
            &mut l,
            &BudgetOp::Settle {
                day: 1,
                user: "a".into(),
                reserved: 50,
                actual: 0,
            },
        );
        assert_eq!(l.tenant, 50);
    }

    #[test]
    fn days_are_utc() {
        assert_eq!(day_of(0.0), (0, 86_400_000.0));
        assert_eq!(day_of(86_400_000.0 * 3.5).0, 3);
    }

    #[test]
    fn usage_reads_today_and_changes_nothing() {
        let mut l = Ledger::default();
        reserve(&mut l, 3, 40, "a");
        let before = l.clone();
        let r = apply(&mut l, &BudgetOp::Usage { day: 3, user: "a".into() });
        assert_eq!((r.tenant_used, r.user_used), (40, 40));
        let r = apply(&mut l, &BudgetOp::Usage { day: 4, user: "a".into() });
        assert_eq!((r.tenant_used, r.user_used), (0, 0), "a new day has used nothing yet");
        assert_eq!(l, before);
    }
}
