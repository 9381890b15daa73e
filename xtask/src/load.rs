//! `cargo xtask load [--quick] [--soak MINUTES]`: the Worker under load, on
//! plain `workerd serve` (one process per tenant, no wrangler proxy) with
//! the scripted model server as every model. Loopback only, bounded in
//! count and time, stops everything it started (by process group).
//!
//! 1. **Mixed traffic** at fixed rates (`xtask/load/mixed.mjs`, autocannon):
//!    health, streamed chat, search answered from the cache and not, tool
//!    calls, at once on globex's development Worker; p50/p95/p99 and errors
//!    per route against `xtask/load/thresholds.json`.
//! 2. **Stream stability**: 1,000 streamed chats (900 on globex, 100 on
//!    initech), 40 at a time, most of them left by the client at a random
//!    point; then: no upstream stream or request is left open at the model
//!    server, every session holds its user message and an answer
//!    (`complete`, or `interrupted` where the client left), each user has
//!    exactly the sessions it started, globex's token budget grew by
//!    exactly the tokens the requests' log lines report, and initech's
//!    users — 20 requests an hour each — are refused on their 21st request
//!    and not before (no hit lost, none counted twice).
//! 3. **Soak** (`--soak MINUTES`, not in CI): the mixed traffic in rounds for
//!    that long, sampling the memory (RSS) of the workerd process; fails
//!    when it grows by more than [`SOAK_GROWTH_MIB`] after the first round.
//!
//! `--quick` (the CI gate) runs phase 1 for 15 s and phase 2 in full.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::bench_runtime::worker_modules;
use crate::fail;
use crate::model_server::ModelServer;
use crate::net::{free_port, request, Guard};
use crate::toolchain::{build_worker, Toolchain};

/// Growth of workerd's RSS a soak tolerates after its first round (MiB).
const SOAK_GROWTH_MIB: f64 = 64.0;
/// Streams of phase 2, and how many run at once.
const STREAMS: usize = 1000;
const STREAM_CONCURRENCY: usize = 40;
/// initech's users in phase 2, each at its limit (20 an hour).
const INITECH_USERS: usize = 5;
const INITECH_LIMIT: usize = 20;

/// One workerd process serving one tenant's development deployment.
struct Worker {
    tenant: &'static str,
    host: String,
    port: u16,
    log: PathBuf,
    guard: Guard,
}

/// The workerd config: every binding the Worker needs locally (KV — an
/// in-memory namespace, `xtask/load/kv.mjs` — and the four Durable Object
/// classes on SQLite storage), the scripted model server as the
/// development model endpoint.
fn capnp(tenant: &str, port: u16, dir: &Path, modules: &[(String, &'static str, PathBuf)], model_url: &str) -> Result<PathBuf, String> {
    let do_dir = dir.join(format!("{tenant}-do"));
    let _ = std::fs::remove_dir_all(&do_dir);
    std::fs::create_dir_all(&do_dir).map_err(|e| format!("{}: {e}", do_dir.display()))?;
    let kv = Path::new(env!("CARGO_MANIFEST_DIR")).join("load/kv.mjs");
    std::fs::copy(&kv, dir.join("kv.mjs")).map_err(|e| format!("{}: {e}", kv.display()))?;
    let mdir = dir.join("modules");
    let mut mods = Vec::new();
    for (name, kind, path) in modules {
        let to = mdir.join(name);
        if let Some(p) = to.parent() {
            std::fs::create_dir_all(p).map_err(|e| e.to_string())?;
        }
        std::fs::copy(path, &to).map_err(|e| format!("{}: {e}", path.display()))?;
        mods.push(format!("(name = \"{name}\", {kind} = embed \"modules/{name}\")"));
    }
    let classes = ["ChatSession", "RateLimiter", "AuditLog", "DocIndex"];
    let bindings: Vec<String> = [
        ("SESSIONS", "ChatSession"),
        ("RATE_LIMITER", "RateLimiter"),
        ("AUDIT", "AuditLog"),
        ("DOC_INDEX", "DocIndex"),
    ]
    .iter()
    .map(|(b, c)| format!("    (name = \"{b}\", durableObjectNamespace = (className = \"{c}\")),"))
    .collect();
    let namespaces: Vec<String> = classes
        .iter()
        .map(|c| format!("    (className = \"{c}\", uniqueKey = \"load-{tenant}-{c}\", enableSql = true),"))
        .collect();
    let text = format!(
        r#"using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker), (name = "kv", worker = .kv),
               (name = "net", network = (allow = ["local"])),
               (name = "do-storage", disk = (path = "{do_dir}", writable = true)) ],
  sockets = [ (name = "http", address = "127.0.0.1:{port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ {mods} ],
  globalOutbound = "net",
  compatibilityDate = "2026-11-01",
  compatibilityFlags = ["nodejs_compat"],
  bindings = [
    (name = "TENANT_ID", text = "{tenant}"),
    (name = "TENANT_ENV", text = "dev"),
    (name = "AI_BASE_URL", text = "{model_url}"),
    (name = "CACHE", kvNamespace = "kv"),
{bindings}
  ],
  durableObjectNamespaces = [
{namespaces}
  ],
  durableObjectStorage = (localDisk = "do-storage"),
);
const kv :Workerd.Worker = (
  modules = [ (name = "kv.mjs", esModule = embed "kv.mjs") ],
  compatibilityDate = "2026-11-01",
);
"#,
        do_dir = do_dir.display(),
        mods = mods.join(", "),
        bindings = bindings.join("\n"),
        namespaces = namespaces.join("\n"),
    );
    let path = dir.join(format!("{tenant}.capnp"));
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok(path)
}

fn start(
    tc: &Toolchain,
    tenant: &'static str,
    dir: &Path,
    modules: &[(String, &'static str, PathBuf)],
    model_url: &str,
) -> Result<Worker, String> {
    let port = free_port().map_err(|e| format!("no free port: {e}"))?;
    let cfg = capnp(tenant, port, dir, modules, model_url)?;
    let log = dir.join(format!("workerd-{tenant}.log"));
    let _ = std::fs::remove_file(&log);
    let mut c = Command::new(&tc.workerd);
    c.args(["serve", "--experimental"]).arg(&cfg);
    let mut guard = Guard::spawn(&format!("workerd ({tenant})"), c, &log).map_err(|e| format!("workerd: {e}"))?;
    let host = format!("{tenant}.localhost");
    let t0 = Instant::now();
    loop {
        if guard.exited().is_some() {
            return Err(format!("workerd ({tenant}) exited; see {}", log.display()));
        }
        if t0.elapsed() > Duration::from_secs(30) {
            return Err(format!("workerd ({tenant}) did not answer in 30 s; see {}", log.display()));
        }
        if let Ok(r) = request(port, "GET", "/health", &[("host", &host)], b"") {
            if r.status == 200 {
                break;
            }
            return Err(format!(
                "{tenant}: /health answered {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "    {tenant}: workerd on 127.0.0.1:{port} (pid {}) ready in {:.1}s",
        guard.pid(),
        t0.elapsed().as_secs_f64()
    );
    Ok(Worker {
        tenant,
        host,
        port,
        log,
        guard,
    })
}

/// A request as a development user.
fn call(w: &Worker, method: &str, path: &str, user: &str, roles: &str, body: Option<&Value>) -> Result<crate::net::Reply, String> {
    let b = body.map(|b| b.to_string()).unwrap_or_default();
    let len = b.len().to_string();
    // Each check comes from its own address, so that the checks never
    // meet the per-IP limit (the per-user one is what is tested).
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ip = format!("10.250.{}.{}", n / 256 % 256, n % 256);
    let mut h: Vec<(&str, &str)> = vec![("host", &w.host), ("x-user-id", user), ("cf-connecting-ip", &ip)];
    if !roles.is_empty() {
        h.push(("x-user-roles", roles));
    }
    if body.is_some() {
        h.push(("content-type", "application/json"));
        h.push(("content-length", &len));
    }
    request(w.port, method, path, &h, b.as_bytes()).map_err(|e| format!("{} {method} {path}: {e}", w.tenant))
}

/// The documents the search traffic finds.
fn ingest(w: &Worker) -> Result<(), String> {
    let docs = json!({"documents": [
        {"id": "load-refunds", "title": "Refund policy", "text": "Refund policy\n\nGlobex refunds any order returned within 30 days of delivery. Refunds reach the original payment method within five business days. Opened software is not refundable."},
        {"id": "load-shipping", "title": "Shipping", "text": "Shipping\n\nOrders ship within two business days. Express delivery takes one day inside the country and three days abroad."},
        {"id": "load-accounts", "title": "Accounts", "text": "Accounts\n\nReset a password from the sign-in page. Accounts without activity for two years are closed after a notice by email."}
    ]});
    let r = call(w, "POST", "/documents", "load-admin", "admin", Some(&docs))?;
    if r.status != 200 && r.status != 202 {
        return Err(format!("ingest: {} {}", r.status, String::from_utf8_lossy(&r.body)));
    }
    Ok(())
}

/// The thresholds of phase 1 (`xtask/load/thresholds.json`).
fn thresholds(tc: &Toolchain) -> Result<Value, String> {
    let p = tc.root.join("xtask/load/thresholds.json");
    let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
}

/// Phase 1: run the mixed traffic; the per-route table and the routes
/// that broke a threshold.
fn mixed(tc: &Toolchain, w: &Worker, secs: u32, limits: &Value) -> Result<(Value, Vec<String>), String> {
    let rates = &limits["rates"];
    let conns = &limits["connections"];
    let out = Command::new(&tc.node)
        .arg(tc.root.join("xtask/load/mixed.mjs"))
        .args(["--port", &w.port.to_string(), "--host", &w.host, "--duration", &secs.to_string()])
        .args(["--rates", &rates.to_string(), "--connections", &conns.to_string()])
        .output()
        .map_err(|e| format!("node mixed.mjs: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "mixed.mjs failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("mixed.mjs printed no JSON: {e}"))?;
    let mut broken = Vec::new();
    println!();
    println!("| route | target/s | achieved/s | requests | errors | p50 ms | p95 ms | p99 ms | max ms | p95 limit | p99 limit |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, r) in v["routes"].as_object().into_iter().flatten() {
        let lim = &limits["routes"][name];
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {name} | {} | {:.1} | {} | {} ({:.2}%) | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} |",
            r["rate_target"],
            f("rate_achieved"),
            r["requests"],
            r["errors"],
            f("error_rate") * 100.0,
            f("p50_ms"),
            f("p95_ms"),
            f("p99_ms"),
            f("max_ms"),
            lim["p95_ms"],
            lim["p99_ms"]
        );
        let over = |k: &str| lim[k].as_f64().is_some_and(|l| !within(f(k), l));
        for k in ["p95_ms", "p99_ms"] {
            if over(k) {
                broken.push(format!("{name}: {k} {:.1} > {}", f(k), lim[k]));
            }
        }
        if lim["max_error_rate"].as_f64().is_some_and(|l| !within(f("error_rate"), l)) {
            broken.push(format!(
                "{name}: error rate {:.3} > {} (statuses {})",
                f("error_rate"),
                lim["max_error_rate"],
                r["status"]
            ));
        }
        let ratio = f("rate_achieved") / r["rate_target"].as_f64().unwrap_or(1.0);
        if lim["min_rate_ratio"].as_f64().is_some_and(|l| !(ratio.is_finite() && ratio >= l)) {
            broken.push(format!(
                "{name}: achieved {:.0}% of its rate (< {})",
                ratio * 100.0,
                lim["min_rate_ratio"]
            ));
        }
    }
    println!();
    Ok((v, broken))
}

/// `v` is a number at most `limit` (a missing figure, NaN, fails).
fn within(v: f64, limit: f64) -> bool {
    v.is_finite() && v <= limit
}

/// What one stream of phase 2 did.
#[derive(Debug, Clone)]
struct Stream {
    tenant: &'static str,
    user: String,
    status: u16,
    session: Option<String>,
    request_id: Option<String>,
    /// Read to the end (`[DONE]` seen).
    completed: bool,
    /// Left by the client after this many body bytes.
    left_after: Option<usize>,
    error: Option<String>,
}

/// A small deterministic generator (xorshift), so a run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One streamed chat; leave after `leave_after` body bytes when given.
fn one_stream(port: u16, host: &str, tenant: &'static str, user: &str, ip: &str, n: usize, leave_after: Option<usize>) -> Stream {
    let mut s = Stream {
        tenant,
        user: user.to_string(),
        status: 0,
        session: None,
        request_id: None,
        completed: false,
        left_after: leave_after,
        error: None,
    };
    let body = json!({"stream": true, "messages": [{"role": "user", "content": format!("[[scripted:delay=8]] load stream {n}: tell me about refunds")}]}).to_string();
    let req = format!(
        "POST /chat HTTP/1.1\r\nhost: {host}\r\nx-user-id: {user}\r\ncf-connecting-ip: {ip}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let run = || -> Result<(u16, Option<String>, Option<String>, bool), String> {
        let mut c = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        c.set_read_timeout(Some(Duration::from_secs(60))).ok();
        c.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            let k = c.read(&mut chunk).map_err(|e| e.to_string())?;
            if k == 0 {
                return Err("closed before the headers".into());
            }
            buf.extend_from_slice(&chunk[..k]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let header = |name: &str| {
            head.lines().find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim().to_string())
            })
        };
        let (sid, rid) = (header("x-session-id"), header("x-request-id"));
        let mut body_bytes = buf.len() - head_end;
        let mut seen = buf[head_end..].to_vec();
        if status == 200 {
            loop {
                if let Some(limit) = leave_after {
                    if body_bytes >= limit {
                        // The client leaves: close the connection mid-stream.
                        let _ = c.shutdown(std::net::Shutdown::Both);
                        break;
                    }
                }
                let k = c.read(&mut chunk).map_err(|e| e.to_string())?;
                if k == 0 {
                    break;
                }
                body_bytes += k;
                seen.extend_from_slice(&chunk[..k]);
            }
        }
        let done = seen.windows(12).any(|w| w == b"data: [DONE]");
        Ok((status, sid, rid, done))
    };
    match run() {
        Ok((status, sid, rid, done)) => {
            s.status = status;
            s.session = sid;
            s.request_id = rid;
            s.completed = done;
        }
        Err(e) => s.error = Some(e),
    }
    s
}

/// The plan of phase 2: (worker index, user, leave after) per stream.
fn plan() -> Vec<(usize, String, Option<usize>)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::new();
    let globex_streams = STREAMS - INITECH_USERS * INITECH_LIMIT;
    for n in 0..STREAMS {
        let (w, user) = if n < globex_streams {
            (0, format!("stream-user-{}", n % 90))
        } else {
            let k = n - globex_streams;
            (1, format!("initech-user-{}", k % INITECH_USERS))
        };
        // 40% read to the end; the rest leave at once or after a random
        // number of bytes (a stream is about 2–4 KB).
        let leave = match rng.below(10) {
            0..=3 => None,
            4 => Some(0),
            _ => Some(1 + rng.below(2500) as usize),
        };
        out.push((w, user, leave));
    }
    // Interleave the tenants and users.
    let mut shuffled = out;
    for i in (1..shuffled.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        shuffled.swap(i, j);
    }
    shuffled
}

fn run_streams(workers: &[&Worker]) -> Vec<Stream> {
    let plan = Arc::new(plan());
    let next = Arc::new(Mutex::new(0usize));
    let results = Arc::new(Mutex::new(Vec::with_capacity(STREAMS)));
    let targets: Vec<(u16, String, &'static str)> = workers.iter().map(|w| (w.port, w.host.clone(), w.tenant)).collect();
    let targets = Arc::new(targets);
    let mut threads = Vec::new();
    for _ in 0..STREAM_CONCURRENCY {
        let (plan, next, results, targets) = (plan.clone(), next.clone(), results.clone(), targets.clone());
        threads.push(std::thread::spawn(move || loop {
            let n = {
                let mut g = next.lock().unwrap();
                let n = *g;
                *g += 1;
                n
            };
            let Some((w, user, leave)) = plan.get(n).cloned() else { break };
            let (port, host, tenant) = &targets[w];
            let ip = format!("10.{}.{}.{}", 1 + n / 65536 % 200, n / 256 % 256, n % 256);
            let s = one_stream(*port, host, tenant, &user, &ip, n, leave);
            results.lock().unwrap().push(s);
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    let mut r = std::mem::take(&mut *results.lock().unwrap());
    r.sort_by(|a, b| (a.tenant, &a.user).cmp(&(b.tenant, &b.user)));
    r
}

/// Poll `ok` every 50 ms for at most `limit`.
fn eventually(limit: Duration, mut ok: impl FnMut() -> Result<bool, String>) -> Result<Duration, String> {
    let t0 = Instant::now();
    loop {
        if ok()? {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > limit {
            return Err(format!("not within {} s", limit.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The request log lines of a worker's log, by request id.
fn log_lines(w: &Worker) -> HashMap<String, Value> {
    let text = std::fs::read_to_string(&w.log).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.find('{').and_then(|i| serde_json::from_str::<Value>(&l[i..]).ok()))
        .filter(|v| v["msg"] == "request")
        .filter_map(|v| v["request_id"].as_str().map(|id| (id.to_string(), v.clone())))
        .collect()
}

fn budget_used(w: &Worker) -> Result<u64, String> {
    let r = call(w, "GET", "/v1/me", "load-budget-reader", "", None)?;
    let v = r.json()?;
    v["data"]["budget"]["tenant_used"]
        .as_u64()
        .ok_or_else(|| format!("/v1/me has no budget: {v}"))
}

/// Phase 2 and its checks; the failures.
fn stability(globex: &Worker, initech: &Worker, model: &ModelServer) -> Result<Vec<String>, String> {
    let mut failures = Vec::new();
    let budget_before = budget_used(globex)?;
    let t0 = Instant::now();
    let streams = run_streams(&[globex, initech]);
    let took = t0.elapsed();
    let left = streams.iter().filter(|s| s.left_after.is_some()).count();
    eprintln!(
        "    {} streams in {:.1}s ({} at a time): {} read to the end, {} left by the client",
        streams.len(),
        took.as_secs_f64(),
        STREAM_CONCURRENCY,
        streams.len() - left,
        left
    );
    check_responses(&streams, &mut failures);
    check_upstream(model, &mut failures)?;
    let globex_ok: Vec<&Stream> = streams
        .iter()
        .filter(|s| s.tenant == "globex" && s.status == 200 && s.session.is_some())
        .collect();
    check_sessions(globex, &globex_ok, &mut failures)?;
    check_budget(globex, &globex_ok, budget_before, &mut failures);
    check_limits(initech, &streams, &mut failures)?;
    Ok(failures)
}

/// Every stream answered 200 with its ids; those read to the end saw `[DONE]`.
fn check_responses(streams: &[Stream], failures: &mut Vec<String>) {
    for s in streams {
        if let Some(e) = &s.error {
            failures.push(format!("{} {}: {e}", s.tenant, s.user));
        } else if s.status != 200 {
            failures.push(format!("{} {}: status {}", s.tenant, s.user, s.status));
        } else if s.session.is_none() || s.request_id.is_none() {
            failures.push(format!("{} {}: no x-session-id or x-request-id", s.tenant, s.user));
        } else if s.left_after.is_none() && !s.completed {
            failures.push(format!("{} {}: read to the end without [DONE]", s.tenant, s.user));
        }
    }
}

/// No upstream stream or request left open at the model server.
fn check_upstream(model: &ModelServer, failures: &mut Vec<String>) -> Result<(), String> {
    let quiet = eventually(Duration::from_secs(20), || {
        let st = model.stats()?;
        Ok(st["open_streams"] == 0 && st["open_requests"] == 0)
    });
    let st = model.stats()?;
    match quiet {
        Ok(d) => eprintln!(
            "    model server quiet {:.0} ms after the last stream: {} streams started, {} finished, {} left by the Worker, 0 open",
            d.as_secs_f64() * 1000.0,
            st["streams_started"],
            st["streams_finished"],
            st["streams_aborted_by_client"]
        ),
        Err(_) => failures.push(format!(
            "upstream left open: {} streams, {} requests still open at the model server",
            st["open_streams"], st["open_requests"]
        )),
    }
    Ok(())
}

/// Every globex session holds the user's message and an answer, and each
/// user lists exactly the sessions it started. (initech's users are at
/// their limit, and reading a session is a limited request too: initech
/// is checked by its limit.)
fn check_sessions(globex: &Worker, ok_streams: &[&Stream], failures: &mut Vec<String>) -> Result<(), String> {
    let mut complete = 0;
    let mut interrupted = 0;
    for s in ok_streams {
        let sid = s.session.as_deref().unwrap_or_default();
        let mut last = Value::Null;
        let settled = eventually(Duration::from_secs(10), || {
            let r = call(globex, "GET", &format!("/sessions/{sid}"), &s.user, "", None)?;
            last = r.json()?;
            let msgs = last["data"]["messages"].as_array().cloned().unwrap_or_default();
            Ok(msgs.len() == 2)
        });
        let msgs = last["data"]["messages"].as_array().cloned().unwrap_or_default();
        if settled.is_err() || msgs.len() != 2 {
            failures.push(format!("globex session {sid} ({}): not settled: {last}", s.user));
            continue;
        }
        let (u, a) = (&msgs[0], &msgs[1]);
        let status = a["status"].as_str().unwrap_or("");
        let good = u["role"] == "user"
            && a["role"] == "assistant"
            && match (s.completed, status) {
                (true, "complete") => !a["content"].as_str().unwrap_or("").is_empty(),
                (false, "complete" | "interrupted") => true,
                _ => false,
            };
        if !good {
            failures.push(format!("globex session {sid} ({}, completed={}): {last}", s.user, s.completed));
        }
        match status {
            "complete" => complete += 1,
            "interrupted" => interrupted += 1,
            _ => {}
        }
    }
    eprintln!("    globex sessions: {complete} answers complete, {interrupted} interrupted, none missing or pending");
    let mut per_user: BTreeMap<&str, usize> = BTreeMap::new();
    for s in ok_streams {
        *per_user.entry(&s.user).or_default() += 1;
    }
    for (user, n) in &per_user {
        let r = call(globex, "GET", "/sessions?limit=100", user, "", None)?;
        let v = r.json()?;
        let got = v["data"]["sessions"].as_array().map_or(0, Vec::len);
        if got != *n {
            failures.push(format!(
                "globex {user}: {got} sessions listed, {n} started: {}",
                v.to_string().chars().take(300).collect::<String>()
            ));
        }
    }
    Ok(())
}

/// The budget grew by exactly the tokens the streams' log lines report.
fn check_budget(globex: &Worker, ok_streams: &[&Stream], budget_before: u64, failures: &mut Vec<String>) {
    let lines = log_lines(globex);
    let mut logged = 0u64;
    let mut missing = 0;
    for s in ok_streams {
        match s.request_id.as_ref().and_then(|id| lines.get(id)) {
            Some(l) => logged += l["tokens_in"].as_u64().unwrap_or(0) + l["tokens_out"].as_u64().unwrap_or(0),
            None => missing += 1,
        }
    }
    if missing > 0 {
        failures.push(format!("{missing} globex streams have no log line in {}", globex.log.display()));
    }
    let mut budget_after = 0;
    let settled = eventually(Duration::from_secs(10), || {
        budget_after = budget_used(globex)?;
        Ok(budget_after.checked_sub(budget_before) == Some(logged))
    });
    let delta = budget_after.saturating_sub(budget_before);
    match settled {
        Ok(_) => eprintln!("    globex budget: +{delta} tokens, exactly the {logged} the streams' log lines report"),
        Err(_) => failures.push(format!("globex budget grew by {delta} tokens; the log lines report {logged}")),
    }
}

/// initech: 20 per user per hour, each used up exactly: admitted 20 times,
/// refused on the 21st.
fn check_limits(initech: &Worker, streams: &[Stream], failures: &mut Vec<String>) -> Result<(), String> {
    let mut refused_on_21st = 0;
    for u in 0..INITECH_USERS {
        let user = format!("initech-user-{u}");
        let made = streams.iter().filter(|s| s.tenant == "initech" && s.user == user).count();
        let ok = streams
            .iter()
            .filter(|s| s.tenant == "initech" && s.user == user && s.status == 200)
            .count();
        let r = call(initech, "GET", "/sessions", &user, "", None)?;
        if made == INITECH_LIMIT && ok == INITECH_LIMIT && r.status == 429 {
            refused_on_21st += 1;
        } else {
            failures.push(format!(
                "initech {user}: {made} streams, {ok} admitted, the 21st request got {} (want 20, 20, 429)",
                r.status
            ));
        }
    }
    eprintln!("    initech: {refused_on_21st} of {INITECH_USERS} users admitted exactly {INITECH_LIMIT} times, refused on the 21st");
    Ok(())
}

/// The resident memory of a process (MiB), from /proc.
fn rss_mib(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

pub fn load(tc: &Toolchain, args: &[String]) -> Result<(), ExitCode> {
    let quick = args.iter().any(|a| a == "--quick");
    let soak: Option<u64> = match args.iter().position(|a| a == "--soak") {
        None => None,
        Some(i) => Some(
            args.get(i + 1)
                .and_then(|m| m.parse().ok())
                .filter(|m| (1..=240).contains(m))
                .ok_or_else(|| fail("--soak takes a number of minutes (1-240)".into()))?,
        ),
    };
    if std::env::var_os("LOAD_NO_BUILD").is_none() && std::env::var_os("BENCH_NO_BUILD").is_none() {
        build_worker(tc)?;
    }
    let work = tc.root.join("target/load");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| fail(format!("{}: {e}", work.display())))?;
    let limits = thresholds(tc).map_err(fail)?;
    let model = ModelServer::start(tc, &work.join("scripted-model-server.log"), 5).map_err(fail)?;
    let modules = worker_modules(&tc.root.join("runtime/build"))?;
    eprintln!(
        "==> load: plain workerd per tenant (globex, initech), models from the scripted model server (test infrastructure) at {}",
        model.url
    );
    let globex = start(tc, "globex", &work, &modules, &model.url).map_err(fail)?;
    let initech = start(tc, "initech", &work, &modules, &model.url).map_err(fail)?;
    ingest(&globex).map_err(fail)?;
    let secs = if quick {
        limits["quick_seconds"].as_u64().unwrap_or(15)
    } else {
        limits["seconds"].as_u64().unwrap_or(60)
    } as u32;
    eprintln!(
        "==> load: mixed traffic on globex for {secs}s at fixed rates {} (autocannon)",
        limits["rates"]
    );
    let mut failures = Vec::new();
    let (_, broken) = mixed(tc, &globex, secs, &limits).map_err(fail)?;
    failures.extend(broken);
    if let Some(minutes) = soak {
        failures.extend(soak_rounds(tc, &globex, minutes, &limits).map_err(fail)?);
    } else {
        eprintln!("==> load: {STREAMS} streamed chats, {STREAM_CONCURRENCY} at a time, most left by the client at a random point");
        failures.extend(stability(&globex, &initech, &model).map_err(fail)?);
    }
    let rss = [&globex, &initech].map(|w| rss_mib(w.guard.pid()).unwrap_or(f64::NAN));
    eprintln!("    workerd memory at the end: globex {:.0} MiB, initech {:.0} MiB", rss[0], rss[1]);
    drop(globex);
    drop(initech);
    drop(model);
    if failures.is_empty() {
        println!("load: every threshold and check held");
        Ok(())
    } else {
        println!("load: {} failure(s)", failures.len());
        for f in failures.iter().take(40) {
            println!("    FAILED {f}");
        }
        Err(ExitCode::FAILURE)
    }
}

/// Soak: rounds of mixed traffic for `minutes`, watching workerd's memory.
fn soak_rounds(tc: &Toolchain, w: &Worker, minutes: u64, limits: &Value) -> Result<Vec<String>, String> {
    let mut failures = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(minutes * 60);
    let pid = w.guard.pid();
    let mut samples: Vec<f64> = Vec::new();
    let mut round = 0;
    eprintln!("==> load: soak for {minutes} min: mixed traffic in 60 s rounds, workerd RSS after each");
    while Instant::now() < deadline {
        round += 1;
        let (_, broken) = mixed(tc, w, 60, limits)?;
        failures.extend(broken.into_iter().map(|b| format!("round {round}: {b}")));
        let rss = rss_mib(pid).unwrap_or(f64::NAN);
        eprintln!("    round {round}: workerd RSS {rss:.1} MiB");
        samples.push(rss);
    }
    if let (Some(first), Some(max)) = (samples.first(), samples.iter().cloned().reduce(f64::max)) {
        println!(
            "soak: {round} rounds; workerd RSS after round 1 {first:.1} MiB, at most {max:.1} MiB, at the end {:.1} MiB",
            samples.last().unwrap_or(first)
        );
        if max - first > SOAK_GROWTH_MIB {
            failures.push(format!(
                "workerd grew by {:.1} MiB after the first round (> {SOAK_GROWTH_MIB})",
                max - first
            ));
        }
    }
    Ok(failures)
}
