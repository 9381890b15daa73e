//! End-to-end cases for the request foundations on local workerd:
//! authentication (development users, API keys issued over HTTP, garbage
//! and oversized credentials, another tenant's key), roles, rate limits
//! under concurrency, capped JSON bodies, and streamed responses (chunks
//! arriving as produced, a client that leaves, a producer that fails).
//! Each case asserts the status, the envelope and the request id.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::e2e::{check, envelope, request_id, send, Dev, Tally};
use crate::net::Reply;

const JSON: (&str, &str) = ("content-type", "application/json");

/// Status, an envelope with `details`, and the id; returns the details.
fn envelope_details(r: &Reply, status: u16, code: &str) -> Result<Vec<Value>, String> {
    check(r.status == status, || {
        format!("status {} (want {status}): {}", r.status, String::from_utf8_lossy(&r.body))
    })?;
    let v = r.json()?;
    check(v["error"]["code"] == code, || format!("code {} (want {code})", v["error"]["code"]))?;
    request_id(r)?;
    v["error"]["details"].as_array().cloned().ok_or_else(|| format!("no details: {v}"))
}

/// How the Worker's log line names a user (`app::log::principal_hash`;
/// the e2e deployments set no `LOG_SALT`).
pub fn principal(tenant: &str, user: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("\n{tenant}\n{user}").as_bytes());
    format!("p_{}", d.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>())
}

/// The log line of a request id in a deployment's wrangler output.
pub fn log_line(d: &Dev, id: &str, until: impl Fn(&Value) -> bool) -> Result<Value, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(&d.log).unwrap_or_default();
        let found = log.lines().filter(|l| l.contains(id)).find_map(|l| {
            let start = l.find('{')?;
            serde_json::from_str::<Value>(&l[start..]).ok().filter(|v| until(v))
        });
        if let Some(v) = found {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(format!("no log line for request id {id} in {}", d.log.display()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Open a streamed GET; returns the socket after the request is sent.
fn open_stream(port: u16, path: &str, headers: &[(&str, &str)]) -> Result<TcpStream, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(20))).map_err(|e| e.to_string())?;
    let mut head = format!("GET {path} HTTP/1.1\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("connection: close\r\n\r\n");
    s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    Ok(s)
}

/// Read until `n` occurrences of `marker` (or the end); the arrival time
/// of each, and everything read.
fn read_events(s: &mut TcpStream, marker: &str, n: usize) -> Result<(Vec<Duration>, String), String> {
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while seen.len() < n {
        let k = s.read(&mut buf).map_err(|e| format!("read: {e} after {text:?}"))?;
        if k == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..k]));
        while text.matches(marker).count() > seen.len() {
            seen.push(start.elapsed());
        }
    }
    Ok((seen, text))
}

fn header_of(text: &str, name: &str) -> Option<String> {
    text.lines().take_while(|l| !l.is_empty() && *l != "\r").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// The cases. `devs` are the dev deployments (one per tenant); `limited`
/// is the tenant whose user limit is 20 per hour.
pub fn cases(devs: &[Dev], limited: &str, tally: &mut Tally) {
    let Some(d) = devs.iter().find(|d| d.tenant.id != limited) else {
        return;
    };
    // Another tenant that accepts API keys in dev (the key must be refused
    // for belonging to another tenant, not because keys are off there).
    let Some(other) = devs.iter().find(|o| o.tenant.id == limited) else {
        return;
    };
    auth_cases(d, tally);
    api_key_case(d, other, tally);
    body_cases(d, tally);
    stream_cases(d, tally);
    limit_case(devs, limited, tally);
}

/// Development users, refused credentials (reason in the log only), roles.
fn auth_cases(d: &Dev, tally: &mut Tally) {
    let (p, host) = (d.port, d.tenant.host.as_str());
    let name = |c: &str| format!("{}: {c}", d.tenant.id);

    tally.case(
        &name("development user -> /v1/me 200, principal in the log line, rate-limit headers"),
        (|| {
            let r = send(
                p,
                "GET",
                "/v1/me",
                &[("host", host), ("x-user-id", "ann"), ("x-user-roles", "reader")],
                b"",
            )?;
            check(r.status == 200, || {
                format!("status {}: {}", r.status, String::from_utf8_lossy(&r.body))
            })?;
            let v = r.json()?;
            check(v["data"]["user"] == "ann" && v["data"]["auth"] == "development", || format!("{v}"))?;
            for h in ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"] {
                check(r.header(h).is_some(), || format!("no {h} header"))?;
            }
            let id = request_id(&r)?;
            let line = log_line(d, &id, |v| v["msg"] == "request")?;
            check(
                line["principal"] == principal("acme", "ann").as_str() && line["auth"] == "development",
                || format!("log line {line}"),
            )
        })(),
    );

    tally.case(
        &name("garbage bearer token -> 401 unauthenticated with www-authenticate, reason only in the log"),
        (|| {
            let r = send(p, "GET", "/v1/me", &[("host", host), ("authorization", "Bearer not.a.jwt")], b"")?;
            let id = envelope(&r, 401, "unauthenticated")?;
            check(r.header("www-authenticate").is_some_and(|w| w.contains("Bearer")), || {
                format!("www-authenticate {:?}", r.header("www-authenticate"))
            })?;
            let msg = r.json()?["error"]["message"].as_str().unwrap_or_default().to_string();
            check(msg == "the credentials were not accepted", || {
                format!("message says too much: {msg}")
            })?;
            let line = log_line(d, &id, |v| v["msg"] == "request")?;
            check(line["detail"].as_str().is_some_and(|s| !s.is_empty()), || {
                format!("no reason in the log: {line}")
            })?;
            check(!line.to_string().contains("not.a.jwt"), || "the token is in the log".into())
        })(),
    );

    tally.case(
        &name("8 KiB+ garbage authorization header -> 401"),
        (|| {
            let big = format!("Bearer {}", "x".repeat(9000));
            let r = send(p, "GET", "/v1/me", &[("host", host), ("authorization", &big)], b"")?;
            envelope(&r, 401, "unauthenticated").map(drop)
        })(),
    );

    tally.case(
        &name("missing role -> 403 forbidden"),
        (|| {
            let r = send(
                p,
                "POST",
                "/v1/keys",
                &[("host", host), ("x-user-roles", "reader"), JSON, ("content-length", "2")],
                b"{}",
            )?;
            envelope(&r, 403, "forbidden").map(drop)
        })(),
    );
}

/// API keys issued over HTTP: work, fail at another tenant, stop when revoked.
fn api_key_case(d: &Dev, other: &Dev, tally: &mut Tally) {
    let (p, host) = (d.port, d.tenant.host.as_str());
    let name = |c: &str| format!("{}: {c}", d.tenant.id);
    tally.case(
        &name("API key: issued, works, refused by another tenant, revoked without a deploy"),
        (|| {
            let body = br#"{"name":"e2e-bot","roles":["reader"]}"#;
            let len = body.len().to_string();
            let admin = [
                ("host", host),
                ("x-user-id", "admin-1"),
                ("x-user-roles", "admin"),
                JSON,
                ("content-length", len.as_str()),
            ];
            let r = send(p, "POST", "/v1/keys", &admin, body)?;
            check(r.status == 201, || {
                format!("create: {} {}", r.status, String::from_utf8_lossy(&r.body))
            })?;
            let v = r.json()?;
            let key = v["data"]["key"].as_str().ok_or("no key")?.to_string();
            let id = v["data"]["record"]["id"].as_str().ok_or("no id")?.to_string();
            let bearer = format!("Bearer {key}");
            let r = send(p, "GET", "/v1/me", &[("host", host), ("authorization", &bearer)], b"")?;
            check(r.status == 200, || {
                format!("use: {} {}", r.status, String::from_utf8_lossy(&r.body))
            })?;
            let me = r.json()?;
            check(me["data"]["auth"] == "api-key" && me["data"]["user"] == "key:e2e-bot", || {
                format!("{me}")
            })?;
            let r = send(
                other.port,
                "GET",
                "/v1/me",
                &[("host", &other.tenant.host), ("x-api-key", &key)],
                b"",
            )?;
            envelope(&r, 401, "unauthenticated")?;
            let r = send(
                p,
                "DELETE",
                &format!("/v1/keys/{id}"),
                &[("host", host), ("x-user-roles", "admin")],
                b"",
            )?;
            check(r.status == 200, || {
                format!("revoke: {} {}", r.status, String::from_utf8_lossy(&r.body))
            })?;
            let r = send(p, "GET", "/v1/me", &[("host", host), ("authorization", &bearer)], b"")?;
            envelope(&r, 401, "unauthenticated").map(drop)
        })(),
    );
}

/// Capped, lying and malformed bodies.
fn body_cases(d: &Dev, tally: &mut Tally) {
    let (p, host) = (d.port, d.tenant.host.as_str());
    let name = |c: &str| format!("{}: {c}", d.tenant.id);

    tally.case(
        &name("malformed JSON -> 400 invalid_json with line and column"),
        (|| {
            let body = b"{\n  \"name\": \"x\",\n  roles\n}";
            let len = body.len().to_string();
            let r = send(
                p,
                "POST",
                "/v1/keys",
                &[("host", host), ("x-user-roles", "admin"), JSON, ("content-length", &len)],
                body,
            )?;
            let d = envelope_details(&r, 400, "invalid_json")?;
            check(d[0]["line"] == 3 && d[0]["column"] == 3, || format!("details {d:?}"))
        })(),
    );

    tally.case(
        &name("schema error -> 422 invalid_request with JSON pointers"),
        (|| {
            let body = br#"{"name": 5, "roles": "admin", "extra": true}"#;
            let len = body.len().to_string();
            let r = send(
                p,
                "POST",
                "/v1/keys",
                &[("host", host), ("x-user-roles", "admin"), JSON, ("content-length", &len)],
                body,
            )?;
            let d = envelope_details(&r, 422, "invalid_request")?;
            let ptrs: Vec<&str> = d.iter().filter_map(|x| x["pointer"].as_str()).collect();
            check(ptrs == ["/name", "/roles", "/extra"], || format!("pointers {ptrs:?}"))
        })(),
    );

    tally.case(
        &name("lying content-length (100 declared, 5,000 sent) -> only 100 bytes read, 400 invalid_json"),
        (|| {
            let mut body = br#"{"name":""#.to_vec();
            body.extend(std::iter::repeat_n(b'a', 5000));
            let r = send(
                p,
                "POST",
                "/v1/keys",
                &[("host", host), ("x-user-roles", "admin"), JSON, ("content-length", "100")],
                &body,
            )?;
            envelope_details(&r, 400, "invalid_json").map(drop)
        })(),
    );

    tally.case(
        &name("chunked body over the route's 4 KiB cap -> 413 payload_too_large"),
        (|| {
            let mut chunked = Vec::new();
            for _ in 0..6 {
                chunked.extend(b"400\r\n");
                chunked.extend(std::iter::repeat_n(b' ', 0x400));
                chunked.extend(b"\r\n");
            }
            chunked.extend(b"0\r\n\r\n");
            let r = send(
                p,
                "POST",
                "/v1/keys",
                &[("host", host), ("x-user-roles", "admin"), JSON, ("transfer-encoding", "chunked")],
                &chunked,
            )?;
            envelope(&r, 413, "payload_too_large").map(drop)
        })(),
    );
}

/// Streams: arrival times, a client that leaves, a producer that fails.
fn stream_cases(d: &Dev, tally: &mut Tally) {
    let (p, host) = (d.port, d.tenant.host.as_str());
    let name = |c: &str| format!("{}: {c}", d.tenant.id);

    tally.case(
        &name("stream: events arrive as produced, not as one buffered body"),
        (|| {
            let mut s = open_stream(p, "/v1/dev/stream?events=4&interval_ms=250", &[("host", host)])?;
            let (at, text) = read_events(&mut s, "event: tick", 4)?;
            check(at.len() == 4, || format!("{} ticks: {text}", at.len()))?;
            check(
                header_of(&text, "content-type").is_some_and(|c| c.starts_with("text/event-stream")),
                || format!("headers: {text}"),
            )?;
            // Four ticks 250 ms apart: the last arrives ≥ 600 ms after the first.
            let spread = at[3] - at[0];
            check(spread >= Duration::from_millis(600), || format!("ticks at {at:?}: buffered?"))?;
            // The done event may come in the same read as the last tick.
            let rest = if text.contains("event: done") {
                String::new()
            } else {
                read_events(&mut s, "event: done", 1)?.1
            };
            let all = text + &rest;
            check(all.contains("event: done"), || format!("no done event: {all}"))
        })(),
    );

    tally.case(
        &name("stream: a client that disconnects cancels the producer (log says cancelled)"),
        (|| {
            let mut s = open_stream(p, "/v1/dev/stream?events=200&interval_ms=100", &[("host", host)])?;
            let (at, text) = read_events(&mut s, "event: tick", 2)?;
            check(at.len() == 2, || format!("ticks: {text}"))?;
            let id = header_of(&text, "x-request-id").ok_or("no x-request-id")?;
            drop(s);
            let line = log_line(d, &id, |v| v["stream"].is_string())?;
            check(line["stream"] == "cancelled", || format!("log {line}"))?;
            check(line["chunks"].as_u64().is_some_and(|c| c < 50), || {
                format!("producer kept going: {line}")
            })
        })(),
    );

    tally.case(
        &name("stream: a producer failure ends with an error event and a `failed` log line"),
        (|| {
            let mut s = open_stream(p, "/v1/dev/stream?events=10&interval_ms=10&fail_after=2", &[("host", host)])?;
            let (_, text) = read_events(&mut s, "event: error", 1)?;
            check(text.contains("stream_failed") && !text.contains("event: done"), || text.clone())?;
            let id = header_of(&text, "x-request-id").ok_or("no x-request-id")?;
            let line = log_line(d, &id, |v| v["stream"].is_string())?;
            check(line["stream"] == "failed" && line["level"] == "error", || format!("log {line}"))
        })(),
    );
}

/// Rate limits under concurrency, on the tenant limited to 20 per user per hour.
fn limit_case(devs: &[Dev], limited: &str, tally: &mut Tally) {
    if let Some(l) = devs.iter().find(|d| d.tenant.id == limited) {
        tally.case(
            &format!("{limited}: 50 parallel requests at a limit of 20 -> exactly 20 pass, 30 get 429 with headers"),
            (|| {
                let results: Vec<Result<Reply, String>> = std::thread::scope(|sc| {
                    let hs: Vec<_> = (0..50)
                        .map(|_| {
                            sc.spawn(|| {
                                send(
                                    l.port,
                                    "GET",
                                    "/v1/me",
                                    &[("host", &l.tenant.host), ("x-user-id", "burst-user")],
                                    b"",
                                )
                            })
                        })
                        .collect();
                    hs.into_iter()
                        .map(|h| h.join().unwrap_or_else(|_| Err("panicked".into())))
                        .collect()
                });
                let mut ok = 0;
                let mut limited_replies = Vec::new();
                for r in results {
                    let r = r?;
                    match r.status {
                        200 => ok += 1,
                        429 => limited_replies.push(r),
                        s => return Err(format!("status {s}: {}", String::from_utf8_lossy(&r.body))),
                    }
                }
                check(ok == 20 && limited_replies.len() == 30, || {
                    format!("{ok} passed, {} limited", limited_replies.len())
                })?;
                let r = &limited_replies[0];
                envelope(r, 429, "rate_limited")?;
                check(
                    r.header("retry-after").and_then(|v| v.parse::<u64>().ok()).is_some_and(|s| s >= 1),
                    || format!("retry-after {:?}", r.header("retry-after")),
                )?;
                check(
                    r.header("ratelimit-limit") == Some("20")
                        && r.header("ratelimit-remaining") == Some("0")
                        && r.header("ratelimit-reset").is_some(),
                    || format!("headers {:?}", r.headers),
                )?;
                // Another user of the same tenant is not affected.
                let r = send(
                    l.port,
                    "GET",
                    "/v1/me",
                    &[("host", &l.tenant.host), ("x-user-id", "calm-user")],
                    b"",
                )?;
                check(r.status == 200, || format!("other user: {}", r.status))
            })(),
        );
    }
}

/// `tenants keys …` into a local state directory; stdout on success.
pub fn tenants_keys(tc: &crate::toolchain::Toolchain, args: &[&str]) -> Result<String, String> {
    let mut c = crate::tenants(&["keys"]);
    c.args(args);
    tc.apply(&mut c);
    let out = c.output().map_err(|e| format!("cannot run tenants keys: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "tenants keys {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A stage deployment run locally: no development users, API keys issued
/// with `tenants keys create --local` into its state, revoked with
/// `tenants keys revoke` while it runs.
pub fn stage_cases(tc: &crate::toolchain::Toolchain, stage: &Dev, dev_same_tenant: Option<&Dev>, key_args: &[String], tally: &mut Tally) {
    let (p, host) = (stage.port, stage.tenant.host.as_str());
    let name = |c: &str| format!("{} (stage): {c}", stage.tenant.id);
    let args: Vec<&str> = key_args.iter().map(String::as_str).collect();

    tally.case(
        &name("unauthenticated POST -> 401 with the documented envelope; development users do not exist"),
        (|| {
            let body = br#"{"name":"x"}"#;
            let r = send(p, "POST", "/v1/keys", &[("host", host), JSON, ("content-length", "12")], body)?;
            envelope(&r, 401, "unauthenticated")?;
            check(r.header("www-authenticate").is_some_and(|w| w.starts_with("Bearer realm=")), || {
                format!("www-authenticate {:?}", r.header("www-authenticate"))
            })?;
            let r = send(
                p,
                "GET",
                "/v1/me",
                &[("host", host), ("x-user-id", "ann"), ("x-user-roles", "admin")],
                b"",
            )?;
            envelope(&r, 401, "unauthenticated").map(drop)
        })(),
    );

    tally.case(
        &name("a key from `tenants keys create --local` works; at the dev deployment it does not; `revoke` stops it without a redeploy"),
        (|| {
            let mut create: Vec<&str> = vec!["create", "--name", "e2e-admin", "--roles", "admin"];
            create.extend(&args);
            let key = tenants_keys(tc, &create)?;
            check(key.starts_with(&format!("tak_{}_", stage.tenant.id)), || format!("printed `{key}`"))?;
            let bearer = format!("Bearer {key}");
            let r = send(p, "GET", "/v1/me", &[("host", host), ("authorization", &bearer)], b"")?;
            check(r.status == 200, || {
                format!("status {}: {}", r.status, String::from_utf8_lossy(&r.body))
            })?;
            let v = r.json()?;
            check(v["data"]["auth"] == "api-key" && v["data"]["env"] == "stage", || format!("{v}"))?;
            if let Some(dev) = dev_same_tenant {
                let r = send(
                    dev.port,
                    "GET",
                    "/v1/me",
                    &[("host", &dev.tenant.host), ("authorization", &bearer)],
                    b"",
                )?;
                envelope(&r, 401, "unauthenticated")?;
            }
            let mut list: Vec<&str> = vec!["list", "--json"];
            list.extend(&args);
            let listed: Value = serde_json::from_str(&tenants_keys(tc, &list)?).map_err(|e| e.to_string())?;
            let id = listed
                .as_array()
                .and_then(|a| a.iter().find(|r| r["name"] == "e2e-admin"))
                .and_then(|r| r["id"].as_str())
                .ok_or_else(|| format!("not listed: {listed}"))?
                .to_string();
            check(!listed.to_string().contains(&key), || "the listing shows the key".into())?;
            let mut revoke: Vec<&str> = vec!["revoke", &id];
            revoke.extend(&args);
            tenants_keys(tc, &revoke)?;
            let r = send(p, "GET", "/v1/me", &[("host", host), ("authorization", &bearer)], b"")?;
            envelope(&r, 401, "unauthenticated").map(drop)
        })(),
    );
}

/// The test identity provider of a run: keys made by `xtask/e2e/jwt.mjs`,
/// its JWKS on a loopback server, and the tokens the JWT cases send.
pub struct TestIdp {
    pub server: crate::net::JsonServer,
    /// (case, token, expected status, reason the log must give on a 401).
    pub tokens: Vec<(&'static str, String, u16, &'static str)>,
    /// Cases for the other stage deployments: globex (Cloudflare Access,
    /// certs from this provider) and initech (a JWT with inline keys).
    pub extra: Vec<ExtraCase>,
    /// The provider's public keys.
    pub jwks: Value,
}

/// A token case for another tenant's stage deployment.
pub struct ExtraCase {
    pub tenant: &'static str,
    pub name: &'static str,
    /// The header that carries the token.
    pub header: &'static str,
    pub value: String,
    pub status: u16,
    pub why: &'static str,
    pub user: &'static str,
    pub auth: &'static str,
}

const GLOBEX_AUD: &str = "9e1f5c2a7b3d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f";
const INITECH_ISS: &str = "https://idp.initech.test/";

const ISS: &str = "https://login.acme.example.com/";
const AUD: &str = "acme-ai";

impl TestIdp {
    pub fn start(tc: &crate::toolchain::Toolchain) -> Result<TestIdp, std::process::ExitCode> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let cases = acme_cases(now);
        let extra = other_cases(now);
        let mut specs: Vec<&Value> = cases.iter().map(|c| &c.1).collect();
        specs.extend(extra.iter().map(|e| &e.3));
        let mut c = std::process::Command::new(&tc.node);
        c.arg(tc.root.join("xtask/e2e/jwt.mjs"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = c.spawn().map_err(|e| crate::fail(format!("cannot run node: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(serde_json::to_string(&specs).unwrap_or_default().as_bytes());
        }
        let out = child.wait_with_output().map_err(|e| crate::fail(format!("jwt.mjs: {e}")))?;
        let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| crate::fail(format!("jwt.mjs printed no JSON ({e})")))?;
        let tokens: Vec<String> = v["tokens"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(String::from))
            .collect();
        if tokens.len() != cases.len() + extra.len() {
            return Err(crate::fail(format!(
                "jwt.mjs made {} tokens for {} specs",
                tokens.len(),
                cases.len()
            )));
        }
        let server = crate::net::JsonServer::start(v["jwks"].to_string()).map_err(|e| crate::fail(format!("JWKS server: {e}")))?;
        Ok(TestIdp {
            server,
            extra: extra
                .into_iter()
                .zip(tokens[cases.len()..].iter())
                .map(|((tenant, name, header, _, status, why, user, auth), t)| ExtraCase {
                    tenant,
                    name,
                    header,
                    value: if header == "authorization" {
                        format!("Bearer {t}")
                    } else {
                        t.clone()
                    },
                    status,
                    why,
                    user,
                    auth,
                })
                .collect(),
            jwks: v["jwks"].clone(),
            tokens: cases.into_iter().zip(tokens).map(|((n, _, s, why), t)| (n, t, s, why)).collect(),
        })
    }

    /// Copy `from` into `to`, pointing acme's JWT at this provider's
    /// loopback JWKS and accepting ES256 too.
    pub fn tenants_copy(&self, from: &std::path::Path, to: &std::path::Path) -> Result<(), std::process::ExitCode> {
        let err = |e: std::io::Error| crate::fail(format!("cannot copy the tenants to {}: {e}", to.display()));
        std::fs::create_dir_all(to).map_err(err)?;
        for entry in std::fs::read_dir(from).map_err(err)?.flatten() {
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            let mut text = std::fs::read_to_string(&path).map_err(err)?;
            if entry.file_name() == "acme.kdl" {
                let url = format!("http://127.0.0.1:{}/.well-known/jwks.json", self.server.port);
                let (a, b) = (
                    "jwks-url \"https://login.acme.example.com/.well-known/jwks.json\"",
                    "algorithms \"RS256\"",
                );
                if !text.contains(a) || !text.contains(b) {
                    return Err(crate::fail(
                        "tenants/acme.kdl no longer has the jwks-url and algorithms the e2e suite rewrites".into(),
                    ));
                }
                text = text
                    .replace(a, &format!("jwks-url \"{url}\""))
                    .replace(b, "algorithms \"RS256\" \"ES256\"");
            }
            if entry.file_name() == "globex.jsonc" {
                let a = format!("\"audience\": \"{GLOBEX_AUD}\" }}");
                if !text.contains(&a) {
                    return Err(crate::fail(
                        "tenants/globex.jsonc no longer has the Access audience the e2e suite extends".into(),
                    ));
                }
                let certs = format!("http://127.0.0.1:{}/cdn-cgi/access/certs", self.server.port);
                text = text.replace(&a, &format!("\"audience\": \"{GLOBEX_AUD}\", \"certs_url\": \"{certs}\" }}"));
            }
            if entry.file_name() == "initech.json" {
                let mut v: Value = serde_json::from_str(&text).map_err(|e| crate::fail(format!("initech.json: {e}")))?;
                let ec = self.jwks["keys"][1].clone();
                v["envs"]["stage"]["auth"] = serde_json::json!({
                    "jwt": {"issuer": INITECH_ISS, "audience": "initech-ai", "algorithms": ["ES256"], "keys": [ec]}
                });
                text = serde_json::to_string_pretty(&v).unwrap_or_default();
            }
            std::fs::write(to.join(entry.file_name()), text).map_err(err)?;
        }
        Ok(())
    }
}

/// JWTs against the stage deployment: each valid one passes (principal in
/// the log), each bad one is 401 with its reason in the log only; the key
/// set was fetched from the loopback provider and cached.
pub fn jwt_cases(stage: &Dev, idp: &TestIdp, tally: &mut Tally) {
    let (p, host) = (stage.port, stage.tenant.host.as_str());
    for (case, token, status, why) in &idp.tokens {
        tally.case(
            &format!("{} (stage): JWT {case}", stage.tenant.id),
            (|| {
                let bearer = format!("Bearer {token}");
                let r = send(p, "GET", "/v1/me", &[("host", host), ("authorization", &bearer)], b"")?;
                if *status == 200 {
                    check(r.status == 200, || {
                        format!("status {}: {}", r.status, String::from_utf8_lossy(&r.body))
                    })?;
                    let v = r.json()?;
                    check(v["data"]["user"] == "jwt-user" && v["data"]["auth"] == "jwt", || format!("{v}"))?;
                    let id = request_id(&r)?;
                    let line = log_line(stage, &id, |v| v["msg"] == "request")?;
                    return check(
                        line["principal"] == principal(&stage.tenant.id, "jwt-user").as_str() && line["auth"] == "jwt",
                        || format!("log {line}"),
                    );
                }
                let id = envelope(&r, 401, "unauthenticated")?;
                let line = log_line(stage, &id, |v| v["msg"] == "request")?;
                check(line["detail"].as_str().is_some_and(|d| d.contains(why)), || {
                    format!("log detail lacks `{why}`: {line}")
                })?;
                check(!line.to_string().contains(token.as_str()), || "the token is in the log".into())
            })(),
        );
    }
    tally.case(
        &format!("{} (stage): the JWKS was fetched from the provider and cached", stage.tenant.id),
        {
            let n = idp.server.requests.load(std::sync::atomic::Ordering::SeqCst);
            check((1..=2).contains(&n), || format!("{n} JWKS fetches for {} tokens", idp.tokens.len()))
        },
    );
}

/// Access assertions (globex) and inline keys (initech) on their stage
/// deployments.
pub fn extra_cases(stages: &[Dev], idp: &TestIdp, tally: &mut Tally) {
    for c in &idp.extra {
        let Some(d) = stages.iter().find(|d| d.tenant.id == c.tenant) else {
            tally.case(&format!("{} (stage): deployment running", c.tenant), Err("not started".into()));
            continue;
        };
        tally.case(
            &format!("{} (stage): {}", c.tenant, c.name),
            (|| {
                let r = send(d.port, "GET", "/v1/me", &[("host", &d.tenant.host), (c.header, &c.value)], b"")?;
                if c.status == 200 {
                    check(r.status == 200, || {
                        format!("status {}: {}", r.status, String::from_utf8_lossy(&r.body))
                    })?;
                    let v = r.json()?;
                    return check(v["data"]["user"] == c.user && v["data"]["auth"] == c.auth, || format!("{v}"));
                }
                let id = envelope(&r, c.status, "unauthenticated")?;
                let line = log_line(d, &id, |v| v["msg"] == "request")?;
                check(line["detail"].as_str().is_some_and(|x| x.contains(c.why)), || {
                    format!("log detail lacks `{}`: {line}", c.why)
                })
            })(),
        );
    }
}

// (tenant, case, header, spec, status, why, user, auth)
type Extra = (
    &'static str,
    &'static str,
    &'static str,
    Value,
    u16,
    &'static str,
    &'static str,
    &'static str,
);

/// The tokens for acme's stage JWT cases: (case, spec, status, reason).
fn acme_cases(now: u64) -> Vec<(&'static str, Value, u16, &'static str)> {
    use serde_json::json;
    let ok = |extra: Value| {
        let mut c = json!({"iss": ISS, "aud": AUD, "sub": "jwt-user", "roles": ["admin"], "iat": now, "exp": now + 3600});
        for (k, v) in extra.as_object().into_iter().flatten() {
            c[k] = v.clone();
        }
        c
    };
    let cases: Vec<(&'static str, Value, u16, &'static str)> = vec![
        (
            "valid RS256 token -> 200",
            json!({"alg": "RS256", "kid": "rs1", "claims": ok(json!({}))}),
            200,
            "",
        ),
        (
            "valid ES256 token -> 200",
            json!({"alg": "ES256", "kid": "ec1", "claims": ok(json!({}))}),
            200,
            "",
        ),
        (
            "expired -> 401",
            json!({"alg": "RS256", "kid": "rs1", "claims": ok(json!({"exp": now - 3600}))}),
            401,
            "expired",
        ),
        (
            "not yet valid -> 401",
            json!({"alg": "RS256", "kid": "rs1", "claims": ok(json!({"nbf": now + 3600}))}),
            401,
            "not yet valid",
        ),
        (
            "wrong issuer -> 401",
            json!({"alg": "RS256", "kid": "rs1", "claims": ok(json!({"iss": "https://evil.example/"}))}),
            401,
            "wrong issuer",
        ),
        (
            "wrong audience -> 401",
            json!({"alg": "RS256", "kid": "rs1", "claims": ok(json!({"aud": "globex-ai"}))}),
            401,
            "wrong audience",
        ),
        (
            "alg none -> 401",
            json!({"alg": "none", "header": {"alg": "none", "kid": "rs1"}, "claims": ok(json!({}))}),
            401,
            "`none`",
        ),
        (
            "HS256 signed with the public key -> 401",
            json!({"alg": "HS256", "hmac_with_public_key": true, "header": {"alg": "HS256", "kid": "rs1"}, "claims": ok(json!({}))}),
            401,
            "`HS256`",
        ),
        (
            "tampered payload -> 401",
            json!({"alg": "RS256", "kid": "rs1", "claims": ok(json!({})), "tamper_claims": ok(json!({"roles": ["superadmin"]}))}),
            401,
            "bad signature",
        ),
        (
            "unknown kid -> 401",
            json!({"alg": "RS256", "kid": "nope", "claims": ok(json!({}))}),
            401,
            "unknown kid",
        ),
        (
            "a token of another tenant's provider -> 401",
            json!({"alg": "RS256", "kid": "rs1", "key": "other", "claims": ok(json!({"aud": "globex-ai"}))}),
            401,
            "bad signature",
        ),
    ];
    cases
}

/// Tokens for globex (Access) and initech (inline keys) in stage.
fn other_cases(now: u64) -> Vec<Extra> {
    use serde_json::json;
    let access = |extra: Value| {
        let mut c = json!({"iss": "https://globex.cloudflareaccess.com", "aud": [GLOBEX_AUD], "email": "ann@globex.example.org",
            "sub": "0b6f", "iat": now, "exp": now + 3600});
        for (k, v) in extra.as_object().into_iter().flatten() {
            c[k] = v.clone();
        }
        c
    };
    let initech = json!({"iss": INITECH_ISS, "aud": "initech-ai", "sub": "inline-user", "exp": now + 3600});
    let extra: Vec<Extra> = vec![
        (
            "globex",
            "Access assertion -> 200, the user is its email",
            "cf-access-jwt-assertion",
            json!({"alg": "RS256", "kid": "rs1", "claims": access(json!({}))}),
            200,
            "",
            "ann@globex.example.org",
            "access",
        ),
        (
            "globex",
            "Access assertion for another application -> 401",
            "cf-access-jwt-assertion",
            json!({"alg": "RS256", "kid": "rs1", "claims": access(json!({"aud": ["0000000000000000000000000000000000000000000000000000000000000000"]}))}),
            401,
            "wrong audience",
            "",
            "",
        ),
        (
            "globex",
            "Access assertion from another team -> 401",
            "cf-access-jwt-assertion",
            json!({"alg": "RS256", "kid": "rs1", "claims": access(json!({"iss": "https://acme.cloudflareaccess.com"}))}),
            401,
            "wrong issuer",
            "",
            "",
        ),
        (
            "initech",
            "JWT checked against inline keys -> 200",
            "authorization",
            json!({"alg": "ES256", "kid": "ec1", "claims": initech}),
            200,
            "",
            "inline-user",
            "jwt",
        ),
        (
            "initech",
            "JWT whose key is not among the inline keys -> 401",
            "authorization",
            json!({"alg": "RS256", "kid": "rs1", "claims": initech}),
            401,
            "",
            "",
            "",
        ),
    ];
    extra
}
