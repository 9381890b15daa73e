//! `tenants metrics`: per tenant and route — requests, error rates,
//! latency and time-to-first-token quantiles, tokens, cost and cache hit
//! rate — from the Worker's Analytics Engine data points, through the
//! Analytics Engine SQL API (`POST /accounts/{account}/analytics_engine/sql`,
//! the query as the body, `FORMAT JSON`), with each tenant's own account
//! token (as `drift` does).
//!
//! The data point layout is the runtime's (`runtime/src/app/metrics.rs`,
//! docs/observability.md); only points of layout [`LAYOUT`] (blob15) are
//! read. Analytics Engine samples at high volume, so every count and sum
//! is weighted by `_sample_interval` and quantiles use `quantileWeighted`.
//!
//! Invariants: the SQL is built only from the environment name, tenant ids
//! and dataset names the compiler validated, and each is checked again
//! here ([`safe`]) before it is quoted; a value the API returns as a
//! string (64-bit integers in ClickHouse's JSON) is read as a number.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// The data point layout this reader understands (the runtime's blob15).
pub const LAYOUT: &str = "v1";

/// `24h`, `30m`, `7d`, `90s` (or a bare number of seconds) as seconds.
pub fn since_seconds(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration: write a number and a unit, e.g. 24h, 30m, 7d"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use s, m, h or d)")),
    };
    match n.checked_mul(mult) {
        Some(0) | None => Err(format!("`{s}` must be between 1 second and 90 days")),
        Some(v) if v > 90 * 86_400 => Err(format!("`{s}` is longer than Analytics Engine keeps data (90 days)")),
        Some(v) => Ok(v),
    }
}

/// A name that may be quoted into SQL: letters, digits, `_`, `-`, `.`.
pub fn safe(s: &str) -> Result<&str, String> {
    if !s.is_empty() && s.len() <= 96 && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
        Ok(s)
    } else {
        Err(format!("`{s}` cannot be used in a metrics query"))
    }
}

/// The `WHERE` clause shared by both queries.
fn filter(env: &str, tenants: &[String], since_secs: u64) -> Result<String, String> {
    let ids: Result<Vec<String>, String> = tenants.iter().map(|t| safe(t).map(|t| format!("'{t}'"))).collect();
    Ok(format!(
        "timestamp > NOW() - INTERVAL '{since_secs}' SECOND AND blob15 = '{LAYOUT}' AND blob2 = '{}' AND index1 IN ({})",
        safe(env)?,
        ids?.join(", ")
    ))
}

/// Requests, errors, latency, tokens, cost and cache per tenant and route.
pub fn summary_sql(dataset: &str, env: &str, tenants: &[String], since_secs: u64) -> Result<String, String> {
    Ok(format!(
        "SELECT blob1 AS tenant, blob3 AS route, \
SUM(_sample_interval) AS requests, \
SUM(_sample_interval * double8) AS server_errors, \
SUM(_sample_interval * double9) AS client_errors, \
quantileWeighted(0.5, double2, _sample_interval) AS p50_ms, \
quantileWeighted(0.95, double2, _sample_interval) AS p95_ms, \
SUM(_sample_interval * double4) AS tokens_in, \
SUM(_sample_interval * double5) AS tokens_out, \
SUM(_sample_interval * double6) AS neurons, \
SUM(_sample_interval * double7) AS cost_usd, \
SUM(_sample_interval * double10) AS cache_hits, \
SUM(_sample_interval * double11) AS cache_lookups, \
sumIf(_sample_interval, double15 = 0 AND double4 + double5 > 0) AS unpriced \
FROM {} WHERE {} GROUP BY tenant, route ORDER BY tenant, route FORMAT JSON",
        safe(dataset)?,
        filter(env, tenants, since_secs)?
    ))
}

/// Time-to-first-token quantiles, over the requests that had a first token.
pub fn ttft_sql(dataset: &str, env: &str, tenants: &[String], since_secs: u64) -> Result<String, String> {
    Ok(format!(
        "SELECT blob1 AS tenant, blob3 AS route, \
quantileWeighted(0.5, double3, _sample_interval) AS ttft_p50_ms, \
quantileWeighted(0.95, double3, _sample_interval) AS ttft_p95_ms \
FROM {} WHERE {} AND double12 = 1 GROUP BY tenant, route ORDER BY tenant, route FORMAT JSON",
        safe(dataset)?,
        filter(env, tenants, since_secs)?
    ))
}

/// One tenant × route.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub tenant: String,
    pub route: String,
    pub requests: f64,
    /// 5xx responses and streams that failed after they began.
    pub server_errors: f64,
    /// 4xx responses (refusals: auth, limits, validation).
    pub client_errors: f64,
    /// `server_errors / requests`.
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    pub tokens_in: f64,
    pub tokens_out: f64,
    pub neurons: f64,
    pub cost_usd: f64,
    /// Requests with tokens whose model is not in the cost table (their
    /// cost is not in `cost_usd`).
    pub unpriced: f64,
    pub cache_hits: f64,
    pub cache_lookups: f64,
    /// `cache_hits / cache_lookups` (`None` without a lookup).
    pub cache_hit_rate: Option<f64>,
}

/// A number from a result cell: JSON numbers, or strings (ClickHouse
/// quotes 64-bit integers), `nan` as absent.
fn num(v: &Value) -> Option<f64> {
    let x = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }?;
    x.is_finite().then_some(x)
}

fn data(v: &Value, what: &str) -> Result<Vec<BTreeMap<String, Value>>, String> {
    let rows = v["data"]
        .as_array()
        .ok_or_else(|| format!("the {what} answer has no `data` array (is it the Analytics Engine SQL API?)"))?;
    rows.iter()
        .map(|r| {
            r.as_object()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .ok_or_else(|| format!("a {what} row is not an object: {r}"))
        })
        .collect()
}

/// The rows of both answers, joined on tenant and route.
pub fn rows(summary: &Value, ttft: &Value) -> Result<Vec<Row>, String> {
    let mut ttfts: BTreeMap<(String, String), (Option<f64>, Option<f64>)> = BTreeMap::new();
    for r in data(ttft, "time-to-first-token")? {
        let key = (str_of(&r, "tenant"), str_of(&r, "route"));
        ttfts.insert(key, (r.get("ttft_p50_ms").and_then(num), r.get("ttft_p95_ms").and_then(num)));
    }
    let mut out = Vec::new();
    for r in data(summary, "summary")? {
        let f = |k: &str| -> Result<f64, String> {
            r.get(k).and_then(num).ok_or_else(|| {
                format!(
                    "a summary row has no number `{k}`: {}",
                    Value::from(r.clone().into_iter().collect::<serde_json::Map<_, _>>())
                )
            })
        };
        let (tenant, route) = (str_of(&r, "tenant"), str_of(&r, "route"));
        let (requests, server_errors, hits, lookups) = (f("requests")?, f("server_errors")?, f("cache_hits")?, f("cache_lookups")?);
        let (t50, t95) = ttfts.get(&(tenant.clone(), route.clone())).copied().unwrap_or((None, None));
        out.push(Row {
            requests,
            server_errors,
            client_errors: f("client_errors")?,
            error_rate: if requests > 0.0 { server_errors / requests } else { 0.0 },
            p50_ms: f("p50_ms")?,
            p95_ms: f("p95_ms")?,
            ttft_p50_ms: t50,
            ttft_p95_ms: t95,
            tokens_in: f("tokens_in")?,
            tokens_out: f("tokens_out")?,
            neurons: f("neurons")?,
            cost_usd: f("cost_usd")?,
            unpriced: r.get("unpriced").and_then(num).unwrap_or(0.0),
            cache_hits: hits,
            cache_lookups: lookups,
            cache_hit_rate: (lookups > 0.0).then(|| hits / lookups),
            tenant,
            route,
        });
    }
    out.sort_by(|a, b| (&a.tenant, &a.route).cmp(&(&b.tenant, &b.route)));
    Ok(out)
}

fn str_of(r: &BTreeMap<String, Value>, k: &str) -> String {
    match r.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn ms(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into())
}

fn usd(x: f64) -> String {
    if x == 0.0 {
        "$0".into()
    } else if x < 0.01 {
        format!("${x:.6}")
    } else {
        format!("${x:.2}")
    }
}

fn count(x: f64) -> String {
    format!("{}", x.round() as u64)
}

/// The columns of the human and Markdown tables.
const HEADERS: [&str; 12] = [
    "tenant",
    "route",
    "requests",
    "errors",
    "4xx",
    "p50 ms",
    "p95 ms",
    "ttft p50",
    "ttft p95",
    "tokens in/out",
    "cost",
    "cache hit",
];

fn cells(r: &Row) -> [String; 12] {
    [
        r.tenant.clone(),
        r.route.clone(),
        count(r.requests),
        pct(r.error_rate),
        pct(if r.requests > 0.0 { r.client_errors / r.requests } else { 0.0 }),
        ms(Some(r.p50_ms)),
        ms(Some(r.p95_ms)),
        ms(r.ttft_p50_ms),
        ms(r.ttft_p95_ms),
        format!("{}/{}", count(r.tokens_in), count(r.tokens_out)),
        format!("{}{}", usd(r.cost_usd), if r.unpriced > 0.0 { "*" } else { "" }),
        r.cache_hit_rate.map(pct).unwrap_or_else(|| "-".into()),
    ]
}

/// Per tenant: the sums over its routes (requests, errors, tokens, cost).
fn total(tenant: &str, rows: &[&Row]) -> [String; 12] {
    let sum = |f: fn(&Row) -> f64| rows.iter().map(|r| f(r)).sum::<f64>();
    let (req, err, cli) = (sum(|r| r.requests), sum(|r| r.server_errors), sum(|r| r.client_errors));
    let (hits, lookups) = (sum(|r| r.cache_hits), sum(|r| r.cache_lookups));
    let rate = |x: f64| pct(if req > 0.0 { x / req } else { 0.0 });
    [
        tenant.to_string(),
        "(all)".into(),
        count(req),
        rate(err),
        rate(cli),
        "-".into(),
        "-".into(),
        "-".into(),
        "-".into(),
        format!("{}/{}", count(sum(|r| r.tokens_in)), count(sum(|r| r.tokens_out))),
        format!("{}{}", usd(sum(|r| r.cost_usd)), if sum(|r| r.unpriced) > 0.0 { "*" } else { "" }),
        if lookups > 0.0 { pct(hits / lookups) } else { "-".into() },
    ]
}

/// The table rows: each tenant's routes, then its total.
fn table(rows: &[Row]) -> Vec<[String; 12]> {
    let mut out = Vec::new();
    let mut tenants: Vec<&str> = rows.iter().map(|r| r.tenant.as_str()).collect();
    tenants.dedup();
    for t in tenants {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.tenant == t).collect();
        out.extend(mine.iter().map(|r| cells(r)));
        out.push(total(t, &mine));
    }
    out
}

const FOOTNOTE: &str = "errors: 5xx and streams that failed; cost from the model cost table (compiler/data/workers-ai-pricing.json); * some requests used a model without a published price";

/// An aligned text table.
pub fn human(rows: &[Row]) -> String {
    let body = table(rows);
    let mut width = HEADERS.map(str::len);
    for r in &body {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(width)
            .enumerate()
            .map(|(i, (c, w))| if i < 2 { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        parts.join("  ").trim_end().to_string() + "\n"
    };
    let mut s = line(&HEADERS.map(String::from));
    for r in &body {
        s += &line(r);
    }
    s + FOOTNOTE + "\n"
}

/// A Markdown table (a PR comment, a report).
pub fn markdown(rows: &[Row]) -> String {
    let mut s = format!("| {} |\n|{}\n", HEADERS.join(" | "), "---|".repeat(HEADERS.len()));
    for r in table(rows) {
        s += &format!("| {} |\n", r.join(" | "));
    }
    s + "\n" + FOOTNOTE + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations() {
        assert_eq!(since_seconds("24h"), Ok(86_400));
        assert_eq!(since_seconds("30m"), Ok(1_800));
        assert_eq!(since_seconds("7d"), Ok(604_800));
        assert_eq!(since_seconds("90"), Ok(90));
        assert!(since_seconds("0h").is_err());
        assert!(since_seconds("2w").unwrap_err().contains("unknown unit"));
        assert!(since_seconds("91d").unwrap_err().contains("90 days"));
        assert!(since_seconds("h").is_err());
    }

    #[test]
    fn queries_quote_only_checked_names() {
        let q = summary_sql("ai_platform_events", "prod", &["acme".into(), "globex".into()], 3600).unwrap();
        assert!(q.contains("FROM ai_platform_events WHERE timestamp > NOW() - INTERVAL '3600' SECOND AND blob15 = 'v1' AND blob2 = 'prod' AND index1 IN ('acme', 'globex')"), "{q}");
        assert!(q.ends_with("FORMAT JSON"));
        assert!(summary_sql("x; DROP", "prod", &[], 1).is_err());
        assert!(ttft_sql("ds", "prod", &["a' OR '1'='1".into()], 1).is_err());
    }

    #[test]
    fn rows_join_ttft_and_read_quoted_integers() {
        let summary = json!({"meta": [], "data": [
            {"tenant": "acme", "route": "chat", "requests": "40", "server_errors": 2, "client_errors": 4, "p50_ms": 120.0, "p95_ms": 900.5,
             "tokens_in": "4000", "tokens_out": 1000, "neurons": 177.5, "cost_usd": 0.0019, "cache_hits": 10, "cache_lookups": 40, "unpriced": 0},
            {"tenant": "acme", "route": "health", "requests": 10, "server_errors": 0, "client_errors": 0, "p50_ms": 1, "p95_ms": 2,
             "tokens_in": 0, "tokens_out": 0, "neurons": 0, "cost_usd": 0, "cache_hits": 0, "cache_lookups": 0}
        ], "rows": 2});
        let ttft = json!({"data": [{"tenant": "acme", "route": "chat", "ttft_p50_ms": 80, "ttft_p95_ms": "nan"}]});
        let r = rows(&summary, &ttft).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].requests, r[0].error_rate, r[0].tokens_in), (40.0, 0.05, 4000.0));
        assert_eq!(
            (r[0].ttft_p50_ms, r[0].ttft_p95_ms, r[0].cache_hit_rate),
            (Some(80.0), None, Some(0.25))
        );
        assert_eq!((r[1].ttft_p50_ms, r[1].cache_hit_rate), (None, None));
        let h = human(&r);
        assert!(h.lines().nth(1).unwrap().starts_with("acme    chat"), "{h}");
        assert!(h.contains("(all)"), "{h}");
        let m = markdown(&r);
        assert!(
            m.contains("| acme | chat | 40 | 5.0% | 10.0% | 120 | 900 | 80 | - | 4000/1000 | $0.001900 | 25.0% |"),
            "{m}"
        );
        assert!(rows(&json!({"error": "x"}), &ttft).unwrap_err().contains("no `data`"));
    }
}
