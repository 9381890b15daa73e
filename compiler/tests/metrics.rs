//! `tenants metrics` against a loopback server answering in the Analytics
//! Engine SQL API's shape (`POST /accounts/{id}/analytics_engine/sql`, the
//! query as the body, `FORMAT JSON`: `{"meta", "data", "rows"}`, 64-bit
//! integers as strings). The server answers only for the tenants the
//! query's `index1 IN (…)` names, and fails on demand (401, 429).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

const ACME_TOKEN: &str = "tok-acme-0123456789abcdef";
const SHARED_TOKEN: &str = "tok-shared-fedcba9876543210";
const ACME_ACCOUNT: &str = "5f1d2c3b4a5968778695a4b3c2d1e0f9";
const SHARED_ACCOUNT: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";

/// One request the server saw: path, authorization, body.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Ok,
    /// 401 for every request.
    Unauthorized,
    /// 429 (`retry-after: 0`) for the first request, then answers.
    BusyOnce,
}

struct Api {
    port: u16,
    seen: Seen,
}

fn summary_row(tenant: &str, route: &str, requests: u64) -> Value {
    json!({"tenant": tenant, "route": route, "requests": requests.to_string(), "server_errors": 1.0, "client_errors": 2.0,
           "p50_ms": 41.0, "p95_ms": 230.0, "tokens_in": (requests * 100).to_string(), "tokens_out": (requests * 20).to_string(),
           "neurons": 12.5, "cost_usd": 0.0123, "cache_hits": 5.0, "cache_lookups": 20.0, "unpriced": "0"})
}

/// The answer to one query: rows only for the tenants it names.
fn answer(sql: &str) -> Value {
    let names = sql.split("index1 IN (").nth(1).and_then(|r| r.split(')').next()).unwrap_or("");
    let has = |t: &str| names.contains(&format!("'{t}'"));
    let mut data = Vec::new();
    if sql.contains("ttft_p50_ms") {
        for t in ["acme", "globex", "initech"].iter().filter(|t| has(t)) {
            data.push(json!({"tenant": t, "route": "chat", "ttft_p50_ms": 95.0, "ttft_p95_ms": 310.0}));
        }
    } else {
        if has("acme") {
            data.push(summary_row("acme", "chat", 40));
            data.push(summary_row("acme", "search", 10));
        }
        if has("globex") {
            data.push(summary_row("globex", "chat", 7));
        }
        // initech: no data points in the window.
    }
    json!({"meta": [{"name": "tenant", "type": "String"}], "data": data, "rows": data.len(), "rows_before_limit_at_least": data.len()})
}

fn start(mode: Mode) -> Api {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let (mut auth, mut len) = (String::new(), 0usize);
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                let lower = h.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("authorization:") {
                    auth = h[h.len() - v.len()..].trim().to_string();
                }
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            let sql = String::from_utf8_lossy(&body).to_string();
            let n = {
                let mut s = seen2.lock().unwrap();
                s.push((path.clone(), auth.clone(), sql.clone()));
                s.len()
            };
            let (status, body, extra) = match mode {
                Mode::Unauthorized => (
                    401,
                    json!({"errors": [{"code": 10000, "message": "Authentication error"}]}).to_string(),
                    "",
                ),
                Mode::BusyOnce if n == 1 => (429, "Too many requests".to_string(), "retry-after: 0\r\n"),
                _ if !path.ends_with("/analytics_engine/sql") => (404, "{}".into(), ""),
                _ => (200, answer(&sql).to_string(), ""),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{body}",
                body.len()
            );
        }
    });
    Api { port, seen }
}

fn examples() -> tempfile::TempDir {
    common::repo_with_examples()
}

fn run(dir: &Path, api: &Api, args: &[&str], tokens: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tenants"));
    c.current_dir(dir)
        .arg("metrics")
        .args(args)
        .env("CLOUDFLARE_API_BASE_URL", format!("http://127.0.0.1:{}/client/v4", api.port))
        .env_remove("CF_API_TOKEN_ACME")
        .env_remove("CF_API_TOKEN_SHARED");
    for (k, v) in tokens {
        c.env(k, v);
    }
    c.output().unwrap()
}

const TOKENS: &[(&str, &str)] = &[("CF_API_TOKEN_ACME", ACME_TOKEN), ("CF_API_TOKEN_SHARED", SHARED_TOKEN)];

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn prints_a_table_per_tenant_and_route_asking_each_account_with_its_own_token() {
    let dir = examples();
    let api = start(Mode::Ok);
    let o = run(dir.path(), &api, &["--env", "prod", "--since", "24h"], TOKENS);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[1].starts_with("tenant") && lines[1].contains("ttft p50") && lines[1].contains("cache hit"),
        "{stdout}"
    );
    let acme_chat = lines.iter().find(|l| l.starts_with("acme") && l.contains(" chat ")).expect(&stdout);
    for cell in ["40", "2.5%", "5.0%", "41", "230", "95", "310", "4000/800", "$0.01", "25.0%"] {
        assert!(acme_chat.split_whitespace().any(|c| c == cell), "`{cell}` in {acme_chat}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("acme") && l.contains("(all)") && l.contains(" 50 ")),
        "{stdout}"
    );
    assert!(lines.iter().any(|l| l.starts_with("globex") && l.contains(" chat ")), "{stdout}");
    assert!(stdout.contains("initech: no requests in the window"), "{stdout}");

    // Two queries (summary, time to first token) per account and dataset
    // (prod: acme and initech have their own datasets, globex the
    // platform's default); each to its tenant's account with that
    // account's token; the environment, the window and the layout in the
    // SQL; each names only the tenants of its dataset.
    let seen = api.seen.lock().unwrap();
    assert_eq!(seen.len(), 6, "{seen:?}");
    for (tenant, account, token, dataset) in [
        ("acme", ACME_ACCOUNT, ACME_TOKEN, "acme_events"),
        ("globex", SHARED_ACCOUNT, SHARED_TOKEN, "ai_platform_events"),
        ("initech", SHARED_ACCOUNT, SHARED_TOKEN, "initech_events"),
    ] {
        let mine: Vec<_> = seen
            .iter()
            .filter(|(_, _, sql)| sql.contains(&format!("index1 IN ('{tenant}')")))
            .collect();
        assert_eq!(mine.len(), 2, "{tenant}: {seen:?}");
        for (path, auth, sql) in mine {
            assert_eq!(path, &format!("/client/v4/accounts/{account}/analytics_engine/sql"));
            assert_eq!(auth, &format!("Bearer {token}"));
            assert!(sql.contains(&format!("FROM {dataset} WHERE")), "{sql}");
            assert!(
                sql.contains("INTERVAL '86400' SECOND") && sql.contains("blob2 = 'prod'") && sql.contains("blob15 = 'v1'"),
                "{sql}"
            );
        }
    }
}

#[test]
fn json_and_markdown_formats_and_one_tenant() {
    let dir = examples();
    let api = start(Mode::Ok);
    let o = run(
        dir.path(),
        &api,
        &["--env", "prod", "--tenant", "acme", "--since", "7d", "--format", "json"],
        TOKENS,
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rows"].as_array().unwrap().len(), 2);
    let chat = &v["rows"][0];
    assert_eq!((chat["tenant"].as_str(), chat["route"].as_str()), (Some("acme"), Some("chat")));
    assert_eq!((chat["requests"].as_f64(), chat["error_rate"].as_f64()), (Some(40.0), Some(0.025)));
    assert_eq!(
        (chat["ttft_p50_ms"].as_f64(), chat["cache_hit_rate"].as_f64()),
        (Some(95.0), Some(0.25))
    );
    assert_eq!(v["rows"][1]["ttft_p50_ms"], Value::Null, "search had no first token");
    assert_eq!(v["quiet"], json!([]));
    assert_eq!(api.seen.lock().unwrap().len(), 2, "only acme's account is asked");
    assert!(api.seen.lock().unwrap()[0].2.contains("INTERVAL '604800' SECOND"));

    let o = run(dir.path(), &api, &["--env", "prod", "--format", "markdown"], TOKENS);
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{md}");
    assert!(md.contains("| tenant | route | requests |"), "{md}");
    assert!(md.contains("| globex | chat | 7 |"), "{md}");
    assert!(md.contains("- `initech`: no requests in the window"), "{md}");
}

#[test]
fn api_errors_and_missing_tokens_exit_2_without_printing_a_token() {
    let dir = examples();
    let api = start(Mode::Unauthorized);
    let o = run(dir.path(), &api, &["--env", "prod"], TOKENS);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("401") && out.contains("not accepted"), "{out}");
    assert!(!out.contains(ACME_TOKEN) && !out.contains(SHARED_TOKEN), "{out}");

    let api = start(Mode::Ok);
    let o = run(dir.path(), &api, &["--env", "prod"], &[("CF_API_TOKEN_ACME", ACME_TOKEN)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("`CF_API_TOKEN_SHARED`") && out.contains("not set"), "{out}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("acme"),
        "the account that answered is still printed: {out}"
    );

    let o = run(dir.path(), &api, &["--env", "prod", "--since", "2w"], TOKENS);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("unknown unit"));
    let o = run(dir.path(), &api, &["--env", "nope"], TOKENS);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no environment `nope`"), "{}", text(&o));
}

#[test]
fn a_busy_api_is_retried() {
    let dir = examples();
    let api = start(Mode::BusyOnce);
    let o = run(dir.path(), &api, &["--env", "prod", "--tenant", "globex"], TOKENS);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(api.seen.lock().unwrap().len(), 3, "429, then both queries");
    assert!(String::from_utf8_lossy(&o.stdout).contains("globex"));
}
