//! The rules of the tenant's `sessions` block (docs/tenant-format.md#rag-sessions-cache).
//!
//! The retention is given in days (`retention_days`, range-checked by the
//! decoder) or in seconds (`retention_seconds`, checked here so the help can
//! point to days for longer periods), never both. Neither: the default of
//! [`defaults::RETENTION_DAYS`].
//!
//! Invariants of a resolved [`res::Sessions`]:
//! - `retention_secs` is the retention in seconds: `retention_seconds`
//!   (within [`RETENTION_SECONDS`]), or the days × [`DAY_SECS`];
//! - `retention_days` is the days, rounded up when given in seconds, so
//!   `retention_days × DAY_SECS >= retention_secs`.

use super::Cx;
use crate::diag::Diagnostic;
use crate::raw::{RawSessions, RETENTION_DAYS, RETENTION_SECONDS};
use crate::resolved::{self as res, defaults};
use crate::source::{Format, Span};

/// Seconds in a day.
pub const DAY_SECS: u64 = 86_400;

/// A JSON key in the spelling of the file `span` is in (`retention-days` in KDL).
fn key(cx: &Cx<'_>, span: Span, json_key: &str) -> String {
    match cx.fmt(span) {
        Format::Kdl => json_key.replace('_', "-"),
        _ => json_key.to_string(),
    }
}

/// Checks the block and resolves it with its defaults; `None` only after
/// reporting an error.
pub(super) fn check_sessions(cx: &mut Cx<'_>, s: &RawSessions) -> Option<res::Sessions> {
    let conflict = check_conflict(cx, s);
    let range = check_seconds_range(cx, s);
    if !(conflict && range) {
        return None;
    }
    let (retention_days, retention_secs) = match (&s.retention_days, &s.retention_seconds) {
        (_, Some(secs)) => {
            let secs = secs.value as u64;
            (secs.div_ceil(DAY_SECS) as u32, secs)
        }
        (Some(days), None) => (days.value as u32, days.value as u64 * DAY_SECS),
        (None, None) => (defaults::RETENTION_DAYS, u64::from(defaults::RETENTION_DAYS) * DAY_SECS),
    };
    Some(res::Sessions {
        retention_days,
        retention_secs,
        max_messages: s.max_messages.as_ref().map(|c| c.value as u32).unwrap_or(defaults::MAX_MESSAGES),
    })
}

/// At most one of `retention_days` and `retention_seconds`; false after an error.
fn check_conflict(cx: &mut Cx<'_>, s: &RawSessions) -> bool {
    let (Some(days), Some(secs)) = (&s.retention_days, &s.retention_seconds) else {
        return true;
    };
    let (d, sec) = (key(cx, days.span, "retention_days"), key(cx, secs.span, "retention_seconds"));
    cx.err(
        Diagnostic::error(
            "tenant::sessions::retention-conflict",
            format!("`{d}` and `{sec}` are both given"),
            secs.span,
            "retention in seconds",
        )
        .with_label(days.span, "retention in days")
        .with_help(format!(
            "give the retention once: `{sec}` for less than a day, `{d}` otherwise, and remove the other"
        )),
    );
    false
}

/// `retention_seconds` within [`RETENTION_SECONDS`]; false after an error.
fn check_seconds_range(cx: &mut Cx<'_>, s: &RawSessions) -> bool {
    let Some(secs) = &s.retention_seconds else {
        return true;
    };
    if RETENTION_SECONDS.contains(&secs.value) {
        return true;
    }
    let (min, max) = (*RETENTION_SECONDS.start(), *RETENTION_SECONDS.end());
    let name = key(cx, secs.span, "retention_seconds");
    let help = if secs.value < min {
        format!("use at least {min} seconds (a minute)")
    } else {
        format!("`{name}` covers up to 365 days; {}", longer_in_days(cx, secs.span, secs.value))
    };
    cx.err(
        Diagnostic::error(
            "tenant::sessions::retention-range",
            format!("`{name}` is {}, must be between {min} and {max}", secs.value),
            secs.span,
            "out of range",
        )
        .with_help(help),
    );
    false
}

/// Help for a retention of more than a year given in seconds: the
/// `retention_days` to write instead (rounded up), when that is in range.
fn longer_in_days(cx: &Cx<'_>, span: Span, secs: i64) -> String {
    let days = key(cx, span, "retention_days");
    let whole = (secs as u64).div_ceil(DAY_SECS);
    let max = *RETENTION_DAYS.end() as u64;
    if whole > max {
        return format!("for longer, give `{days}` instead, at most {max}");
    }
    match cx.fmt(span) {
        Format::Kdl => format!("for longer, give the days instead: `{days}={whole}`"),
        _ => format!("for longer, give the days instead: `\"{days}\": {whole}`"),
    }
}
