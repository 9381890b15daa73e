//! `cargo xtask bench runtime`: the Worker's `/health` (full tenant
//! resolution, request id, envelope, one JSON log line) on plain `workerd
//! serve` — not `wrangler dev`, whose proxy caps throughput — side by side
//! with the equivalent Hono Worker (`bench/hono/index.ts`, tenant lookup
//! from a JSON map generated from the same tenants) on the same workerd.
//!
//! A third Worker, the floor (`bench/floor/index.js`), does no work: a
//! fixed body, the same headers and log line. What it costs is what workerd
//! costs per request; the summary prints each Worker's CPU above it.
//!
//! For each Worker: cold start (process start → first 200, and the first
//! request's own latency; seven starts each, alternated, with the config
//! in binary as `wrangler dev` hands it to workerd, and again with the
//! `.capnp` text, whose compilation at start copies every embedded
//! module), then wrk at 20 and 50 connections (requests/s, p50, p99,
//! workerd's CPU time per request; five rounds each, alternated, every
//! figure its own median), and the bundle sizes. Needs `wrk` on PATH
//! (`cargo xtask setup` installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::e2e::{registry, render};
use crate::net::{free_port, request, Guard};
use crate::toolchain::{build_worker, Toolchain};
use crate::{fail, run};

const TENANT: &str = "acme";
const ENV: &str = "dev";

pub(crate) struct Bundle {
    pub(crate) name: &'static str,
    pub(crate) modules: Vec<(String, &'static str, PathBuf)>,
}

/// The JSON map the Hono Worker looks tenants up in.
fn hono_table(configs: &Path) -> Result<Value, ExitCode> {
    let text = std::fs::read_to_string(configs.join("registry.json")).map_err(|e| fail(format!("registry: {e}")))?;
    let reg: Value = serde_json::from_str(&text).map_err(|e| fail(format!("registry: {e}")))?;
    let (mut exact, mut wildcard, mut tenants) = (json!({}), json!({}), json!({}));
    for t in reg["tenants"].as_array().into_iter().flatten() {
        let id = t["id"].as_str().unwrap_or_default();
        for e in t["environments"].as_array().into_iter().flatten().filter(|e| e["name"] == ENV) {
            for h in e["hosts"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                match h.strip_prefix("*.") {
                    Some(base) => wildcard[base] = json!(id),
                    None => exact[h] = json!(id),
                }
            }
            tenants[id] = json!({"id": id, "name": t["name"], "header_allowed": e["header_allowed"]});
        }
    }
    let bindings = json!([
        ["AI", "ai"],
        ["CACHE", "kv"],
        ["DOCS", "vectorize"],
        ["DOC_INDEX", "durable-object"],
        ["EVENTS", "analytics-engine"],
        ["INGEST", "queue"],
        ["RATE_LIMITER", "durable-object"],
        ["SESSIONS", "durable-object"]
    ]);
    Ok(json!({"exact": exact, "wildcard": wildcard, "tenants": tenants, "bindings": bindings}))
}

pub(crate) fn bundle_hono(tc: &Toolchain, work: &Path, configs: &Path) -> Result<Bundle, ExitCode> {
    let dir = work.join("hono");
    std::fs::create_dir_all(&dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
    std::fs::copy(tc.root.join("bench/hono/index.ts"), dir.join("index.ts")).map_err(|e| fail(format!("bench/hono/index.ts: {e}")))?;
    let table = hono_table(configs)?;
    std::fs::write(dir.join("tenants.json"), table.to_string()).map_err(|e| fail(format!("tenants.json: {e}")))?;
    let mut c = Command::new(&tc.esbuild);
    c.current_dir(&dir)
        .args([
            "index.ts",
            "--bundle",
            "--format=esm",
            "--platform=browser",
            "--minify",
            "--target=es2022",
        ])
        .args(["--external:cloudflare:*", "--outfile=index.js", "--log-level=warning"]);
    run("esbuild bench/hono/index.ts (Hono)", c)?;
    Ok(Bundle {
        name: "Hono (TypeScript)",
        modules: vec![("index.js".into(), "esModule", dir.join("index.js"))],
    })
}

/// Every module worker-build wrote (the entry `index.js` first).
pub(crate) fn worker_modules(build: &Path) -> Result<Vec<(String, &'static str, PathBuf)>, ExitCode> {
    let mut found = Vec::new();
    for sub in ["", "worker"] {
        let dir = build.join(sub);
        for f in std::fs::read_dir(&dir)
            .map_err(|e| fail(format!("{}: {e}", dir.display())))?
            .flatten()
        {
            let name = f.file_name().to_string_lossy().to_string();
            let kind = if name.ends_with(".js") || name.ends_with(".mjs") {
                "esModule"
            } else if name.ends_with(".wasm") {
                "wasm"
            } else {
                continue;
            };
            let rel = if sub.is_empty() { name } else { format!("{sub}/{name}") };
            found.push((rel, kind, f.path()));
        }
    }
    found.sort_by_key(|m| (m.0 != "index.js", m.0.clone()));
    // Only what the entry point reaches: with panic recovery, index.js
    // imports index_bg.wasm; without, it re-exports worker/shim.mjs.
    let entry = std::fs::read_to_string(build.join("index.js")).unwrap_or_default();
    if entry.contains("./worker/shim.mjs") {
        found.retain(|m| m.0.starts_with("worker/") || m.0 == "index.js");
    } else {
        found.retain(|m| !m.0.starts_with("worker/"));
    }
    Ok(found)
}

fn capnp(b: &Bundle, port: u16, dir: &Path, texts: &[(&str, &str)]) -> Result<PathBuf, ExitCode> {
    let extra: String = texts
        .iter()
        .map(|(n, v)| format!("    (name = \"{n}\", text = \"{v}\"),\n"))
        .collect();
    let slug = b.name.split_whitespace().next().unwrap_or("w").to_lowercase();
    // SQLite-backed Durable Objects need disk storage (in-memory storage
    // has no SQL API); on tmpfs when there is one, so that the benchmark
    // measures the Worker, not this machine's fsync.
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.join(format!("tenants-bench-{}", std::process::id()))
    } else {
        dir.to_path_buf()
    };
    let do_dir = base.join(format!("{slug}-do"));
    let _ = std::fs::remove_dir_all(&do_dir);
    std::fs::create_dir_all(&do_dir).map_err(|e| fail(format!("{}: {e}", do_dir.display())))?;
    // `embed` paths are relative to the config file: copy the modules next to it.
    let mdir = dir.join(format!("{slug}-modules"));
    std::fs::create_dir_all(&mdir).map_err(|e| fail(format!("{}: {e}", mdir.display())))?;
    let mut modules = Vec::new();
    for (name, kind, path) in &b.modules {
        if let Some(parent) = mdir.join(name).parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail(format!("{}: {e}", parent.display())))?;
        }
        std::fs::copy(path, mdir.join(name)).map_err(|e| fail(format!("{}: {e}", path.display())))?;
        modules.push(format!("(name = \"{name}\", {kind} = embed \"{slug}-modules/{name}\")"));
    }
    let text = format!(
        r#"using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker), (name = "kv", network = (allow = ["local"])),
               (name = "net", network = (allow = ["local", "public"])),
               (name = "do-storage", disk = (path = "{do_dir}", writable = true)) ],
  sockets = [ (name = "http", address = "127.0.0.1:{port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ {modules} ],
  globalOutbound = "net",
  compatibilityDate = "2026-11-01",
  compatibilityFlags = ["nodejs_compat"],
  bindings = [
    (name = "TENANT_ID", text = "{TENANT}"),
    (name = "TENANT_ENV", text = "{ENV}"),
{extra}    (name = "CACHE", kvNamespace = "kv"),
    (name = "SESSIONS", durableObjectNamespace = (className = "ChatSession")),
    (name = "RATE_LIMITER", durableObjectNamespace = (className = "RateLimiter")),
  ],
  durableObjectNamespaces = [
    (className = "ChatSession", uniqueKey = "bench-chat-session", enableSql = true),
    (className = "RateLimiter", uniqueKey = "bench-rate-limiter", enableSql = true),
  ],
  durableObjectStorage = (localDisk = "do-storage"),
);
"#,
        modules = modules.join(", "),
        do_dir = do_dir.display()
    );
    let path = dir.join(format!("{slug}.capnp"));
    std::fs::write(&path, text).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    Ok(path)
}

/// `workerd compile --config-only`: the config at `cfg` (and every module
/// it embeds) as one binary Cap'n Proto message, written next to it.
fn compile_config(tc: &Toolchain, cfg: &Path) -> Result<PathBuf, ExitCode> {
    let out = cfg.with_extension("bin");
    let o = Command::new(&tc.workerd)
        .args(["compile", "--config-only"])
        .arg(cfg)
        .output()
        .map_err(|e| fail(format!("workerd compile: {e}")))?;
    if !o.status.success() || o.stdout.is_empty() {
        return Err(fail(format!(
            "workerd compile --config-only {} failed: {}",
            cfg.display(),
            String::from_utf8_lossy(&o.stderr)
        )));
    }
    let tmp = out.with_extension("bin.tmp");
    std::fs::write(&tmp, &o.stdout)
        .and_then(|()| std::fs::rename(&tmp, &out))
        .map_err(|e| fail(format!("{}: {e}", out.display())))?;
    Ok(out)
}

/// The Hono Worker has no Durable Object classes: give it the two the
/// config binds, as empty classes, so both Workers see the same env.
pub(crate) fn add_hono_classes(b: &Bundle) -> Result<(), ExitCode> {
    let path = &b.modules[0].2;
    let mut js = std::fs::read_to_string(path).map_err(|e| fail(format!("{e}")))?;
    js.push_str("\nimport{DurableObject as __DO}from\"cloudflare:workers\";export class ChatSession extends __DO{};export class RateLimiter extends __DO{};\n");
    std::fs::write(path, js).map_err(|e| fail(format!("{e}")))
}

#[derive(Debug, Default, Clone)]
struct Wrk {
    rps: f64,
    p50: String,
    p99: String,
    non_2xx: u64,
    /// Requests completed in the run.
    requests: u64,
    /// workerd's CPU time per request in the run (µs), where `/proc`
    /// says: steadier than the throughput on a shared machine.
    cpu_us: Option<f64>,
}

/// A process's CPU time so far (user + system), in seconds, from
/// `/proc/PID/stat` (Linux only).
fn cpu_secs(pid: u32) -> Option<f64> {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let ticks = *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    });
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is 3rd,
    // utime 14th and stime 15th of the whole line.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = rest.get(11)?.parse().ok()?;
    let stime: f64 = rest.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks)
}

/// [`wrk`] with workerd's CPU time per request measured around it.
fn wrk_cpu(pid: u32, port: u16, conns: u32, secs: u32) -> Result<Wrk, ExitCode> {
    let before = cpu_secs(pid);
    let mut w = wrk(port, conns, secs)?;
    if let (Some(a), Some(b)) = (before, cpu_secs(pid)) {
        if w.requests > 0 {
            w.cpu_us = Some((b - a) / w.requests as f64 * 1e6);
        }
    }
    Ok(w)
}

fn wrk(port: u16, conns: u32, secs: u32) -> Result<Wrk, ExitCode> {
    wrk_on(port, conns, secs, "/health", &[])
}

fn wrk_on(port: u16, conns: u32, secs: u32, path: &str, headers: &[String]) -> Result<Wrk, ExitCode> {
    let threads = format!("-t{}", conns.clamp(1, 2));
    let mut cmd = Command::new("wrk");
    cmd.args([
        threads.as_str(),
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        "--latency",
        "-H",
        &format!("Host: {TENANT}.localhost"),
    ]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let o = cmd
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| fail(format!("cannot run wrk (install it: apt-get install wrk): {e}")))?;
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let mut w = Wrk::default();
    for line in text.lines().map(str::trim) {
        let mut it = line.split_whitespace();
        match (it.next(), it.next()) {
            (Some("Requests/sec:"), Some(v)) => w.rps = v.parse().unwrap_or(0.0),
            (Some("50%"), Some(v)) => w.p50 = v.to_string(),
            (Some("99%"), Some(v)) => w.p99 = v.to_string(),
            (Some("Non-2xx"), _) => w.non_2xx = line.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0),
            (Some(n), Some("requests")) => w.requests = n.parse().unwrap_or(0),
            _ => {}
        }
    }
    if w.rps == 0.0 {
        return Err(fail(format!("wrk printed no Requests/sec:\n{text}")));
    }
    Ok(w)
}

struct Row {
    name: &'static str,
    /// Binary config (as `wrangler dev` starts workerd).
    cold: Spread,
    /// Text config (workerd compiles the `.capnp` and its embedded modules).
    cold_text: Spread,
    first_ms: f64,
    c20: Series,
    c50: Series,
    raw: u64,
    gzip: u64,
}

/// The median and the range of a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

/// The median (the upper one of an even count), the smallest and the
/// largest value; NaN values are left out.
fn spread(values: &[f64]) -> Spread {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return Spread {
            median: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
        };
    }
    v.sort_by(f64::total_cmp);
    Spread {
        median: v[v.len() / 2],
        min: v[0],
        max: v[v.len() - 1],
    }
}

/// One Worker's rounds at one concurrency, each figure its own median
/// over the rounds (the p99 of the median-throughput round would be one
/// round's tail, which the garbage collector's pauses make noisy).
#[derive(Debug, Clone)]
struct Series {
    rps: f64,
    p50: f64,
    p99: Spread,
    cpu_us: Option<f64>,
    non_2xx: u64,
}

fn series(runs: &[Wrk]) -> Series {
    let p = |f: fn(&Wrk) -> f64| spread(&runs.iter().map(f).collect::<Vec<_>>());
    Series {
        rps: p(|w| w.rps).median,
        p50: p(|w| ms(&w.p50)).median,
        p99: p(|w| ms(&w.p99)),
        cpu_us: median_cpu(runs),
        non_2xx: runs.iter().map(|w| w.non_2xx).sum(),
    }
}

/// Paired rounds (round `k` of each Worker, run in the same rotation) in
/// which `better(a's round, b's round)` holds.
fn wins(a: &[Wrk], b: &[Wrk], better: fn(&Wrk, &Wrk) -> bool) -> usize {
    a.iter().zip(b).filter(|(x, y)| better(x, y)).count()
}

/// Rounds in which the first Worker's throughput was at or above the second's.
fn rps_wins(a: &[Wrk], b: &[Wrk]) -> usize {
    wins(a, b, |x, y| x.rps >= y.rps)
}

/// Rounds in which the first Worker's p99 was at or under the second's.
fn p99_wins(a: &[Wrk], b: &[Wrk]) -> usize {
    wins(a, b, |x, y| ms(&x.p99) <= ms(&y.p99))
}

fn gzip_size(paths: &[PathBuf]) -> u64 {
    paths
        .iter()
        .map(|p| {
            Command::new("sh")
                .arg("-c")
                .arg(format!("gzip -9 -c '{}' | wc -c", p.display()))
                .output()
                .ok()
                .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

pub(crate) struct Running {
    pub(crate) name: &'static str,
    pub(crate) port: u16,
    pid: u32,
    cold_ms: f64,
    first_ms: f64,
    raw: u64,
    gzip: u64,
    _guard: Guard,
}

/// How `workerd serve` reads the config.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Config {
    /// An encoded binary Cap'n Proto message (`workerd compile
    /// --config-only`, outside the timed start), as `wrangler dev`
    /// (Miniflare) hands workerd its config: the start measures the
    /// Worker, not the config compiler.
    Binary,
    /// The `.capnp` text: at start, workerd's Cap'n Proto compiler copies
    /// every `embed`ded module into the config, about 20 ms for the Rust
    /// Worker's 2.5 MB of wasm on this machine (docs/benchmarks.md).
    Text,
}

/// Start `workerd serve` for one bundle; cold start is process start →
/// first 200 on `/health`, and the first request's own latency.
fn start(tc: &Toolchain, b: &Bundle, work: &Path) -> Result<Running, ExitCode> {
    launch(tc, b, work, &[], Config::Binary)
}

/// [`start`] with more text bindings (vars).
pub(crate) fn start_with(tc: &Toolchain, b: &Bundle, work: &Path, texts: &[(&str, &str)]) -> Result<Running, ExitCode> {
    launch(tc, b, work, texts, Config::Binary)
}

fn launch(tc: &Toolchain, b: &Bundle, work: &Path, texts: &[(&str, &str)], config: Config) -> Result<Running, ExitCode> {
    let port = free_port().map_err(|e| fail(format!("no free port: {e}")))?;
    let cfg = capnp(b, port, work, texts)?;
    let mut c = Command::new(&tc.workerd);
    c.args(["serve", "--experimental"]);
    match config {
        Config::Text => c.arg(&cfg),
        Config::Binary => c.arg("--binary").arg(compile_config(tc, &cfg)?),
    };
    let log = work.join(format!("{}.log", cfg.file_stem().and_then(|s| s.to_str()).unwrap_or("w")));
    let t0 = Instant::now();
    let mut g = Guard::spawn(&format!("workerd serve ({})", b.name), c, &log).map_err(|e| fail(format!("workerd: {e}")))?;
    let host = format!("{TENANT}.localhost");
    let first_ms;
    loop {
        if g.exited().is_some() {
            return Err(fail(format!("workerd exited; see {}", log.display())));
        }
        if t0.elapsed() > Duration::from_secs(30) {
            return Err(fail(format!("workerd did not answer in 30s; see {}", log.display())));
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let t = Instant::now();
            let r = request(port, "GET", "/health", &[("host", &host)], b"").map_err(|e| fail(format!("first request: {e}")))?;
            first_ms = t.elapsed().as_secs_f64() * 1000.0;
            if r.status != 200 {
                return Err(fail(format!(
                    "{}: /health answered {}: {}",
                    b.name,
                    r.status,
                    String::from_utf8_lossy(&r.body)
                )));
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let cold_ms = t0.elapsed().as_secs_f64() * 1000.0;
    eprintln!(
        "    {}: cold start {cold_ms:.0} ms (first request {first_ms:.1} ms), {} config, port {port}, pid {}",
        b.name,
        if config == Config::Binary { "binary" } else { "text" },
        g.pid()
    );
    let files: Vec<PathBuf> = b.modules.iter().map(|m| m.2.clone()).collect();
    let raw = files.iter().map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).sum();
    Ok(Running {
        name: b.name,
        port,
        pid: g.pid(),
        cold_ms,
        first_ms,
        raw,
        gzip: gzip_size(&files),
        _guard: g,
    })
}

/// Remove this process's Durable Object storage on tmpfs.
pub(crate) fn remove_shm_dirs() {
    let _ = std::fs::remove_dir_all(Path::new("/dev/shm").join(format!("tenants-bench-{}", std::process::id())));
}

/// The median of the rounds' CPU per request (each round's own).
fn median_cpu(runs: &[Wrk]) -> Option<f64> {
    let mut v: Vec<f64> = runs.iter().filter_map(|r| r.cpu_us).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

fn cpu_text(us: Option<f64>) -> String {
    us.map_or_else(|| "-".into(), |u| format!("{u:.1} µs"))
}

/// The run with the median throughput.
fn median(mut runs: Vec<Wrk>) -> Wrk {
    runs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    runs[runs.len() / 2].clone()
}

pub fn bench(tc: &Toolchain, quick: bool) -> Result<(), ExitCode> {
    if Command::new("wrk").arg("--version").output().is_err() {
        return Err(fail("wrk is not installed (apt-get install wrk)".into()));
    }
    if std::env::var_os("BENCH_NO_BUILD").is_none() {
        build_worker(tc)?;
    }
    let work = tc.root.join("target/bench-runtime");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| fail(format!("{}: {e}", work.display())))?;
    let configs = work.join("configs");
    render(tc, &configs, Some(ENV), None)?;
    registry(&configs, ENV)?;
    let rust = Bundle {
        name: "Rust (workers-rs)",
        modules: worker_modules(&tc.root.join("runtime/build"))?,
    };
    let hono = bundle_hono(tc, &work, &configs)?;
    add_hono_classes(&hono)?;
    // Full: five 10 s rounds per concurrency and seven cold starts per
    // Worker, alternated; the VM's throughput drifts by 20-30% within
    // minutes, so each figure is a median with its range.
    let (secs, rounds, starts) = if quick { (3, 1, 3) } else { (10, 5, 7) };
    // More rounds narrow the medians on a noisy machine (BENCH_ROUNDS=N).
    let rounds = match std::env::var("BENCH_ROUNDS") {
        Ok(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| fail(format!("BENCH_ROUNDS={v}: expected a number of rounds from 1 to 100")))?,
        Err(_) => rounds,
    };
    // The floor: a Worker that does no work (bench/floor/index.js), to read
    // each Worker's cost above what workerd itself costs per request.
    let floor = Bundle {
        name: "Floor (no work)",
        modules: vec![("index.js".into(), "esModule", tc.root.join("bench/floor/index.js"))],
    };
    let bundles = [&rust, &hono, &floor];
    let n = bundles.len();
    let (cold, cold_text) = cold_starts(tc, &bundles, &work, starts)?;
    eprintln!("==> bench: /health on workerd serve, Host: {TENANT}.localhost; wrk -t2 {secs}s x {rounds} rounds, alternating, median");
    let running = bundles.iter().map(|b| start(tc, b, &work)).collect::<Result<Vec<_>, _>>()?;
    // Warm-up: V8 tiers the hot wasm and JavaScript up in the first
    // seconds (CPU per request falls by about a tenth after the first 4 s).
    for r in &running {
        wrk(r.port, 20, if quick { 2 } else { 5 })?;
    }
    let mut rows = Vec::new();
    // results[worker][concurrency]: that Worker's rounds.
    let mut results: Vec<[Vec<Wrk>; 2]> = vec![[vec![], vec![]]; n];
    for (ci, conns) in [20u32, 50].into_iter().enumerate() {
        for round in 0..rounds {
            for w in rotation(round, n) {
                let r = wrk_cpu(running[w].pid, running[w].port, conns, secs)?;
                eprintln!(
                    "    {} c={conns} round {}: {:.0} req/s, p50 {}, p99 {}, CPU {}",
                    running[w].name,
                    round + 1,
                    r.rps,
                    r.p50,
                    r.p99,
                    cpu_text(r.cpu_us)
                );
                results[w][ci].push(r);
            }
        }
    }
    for (w, r) in running.iter().enumerate() {
        rows.push(Row {
            name: r.name,
            cold: spread(&cold[w].iter().map(|c| c.0).collect::<Vec<_>>()),
            cold_text: spread(&cold_text[w]),
            first_ms: spread(&cold[w].iter().map(|c| c.1).collect::<Vec<_>>()).median,
            c20: series(&results[w][0]),
            c50: series(&results[w][1]),
            raw: r.raw,
            gzip: r.gzip,
        });
    }
    drop(running);
    remove_shm_dirs();
    print_report(&rows, &results, rounds, starts);
    Ok(())
}

/// The order of `n` Workers in round `k`: it starts with Worker `k % n`,
/// so drift hits each in turn.
fn rotation(k: usize, n: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |j| (k + j) % n)
}

/// Cold starts, `starts` per Worker and config, Workers in rotation:
/// per Worker, (cold start, first request) with the binary config, and the
/// cold start with the text config (ms).
#[allow(clippy::type_complexity)]
fn cold_starts(tc: &Toolchain, bundles: &[&Bundle], work: &Path, starts: usize) -> Result<(Vec<Vec<(f64, f64)>>, Vec<Vec<f64>>), ExitCode> {
    let n = bundles.len();
    eprintln!("==> bench: cold start, {starts} starts per Worker and config, alternating (process start -> first 200 on /health)");
    let mut cold: Vec<Vec<(f64, f64)>> = vec![vec![]; n];
    let mut cold_text: Vec<Vec<f64>> = vec![vec![]; n];
    for i in 0..starts {
        for w in rotation(i, n) {
            let r = launch(tc, bundles[w], work, &[], Config::Binary)?;
            cold[w].push((r.cold_ms, r.first_ms));
            drop(r);
            let r = launch(tc, bundles[w], work, &[], Config::Text)?;
            cold_text[w].push(r.cold_ms);
        }
    }
    Ok((cold, cold_text))
}

/// The table (one row per Worker) and the Rust / Hono summary; `rows` and
/// `results` are Rust, Hono, the floor, in that order.
fn print_report(rows: &[Row], results: &[[Vec<Wrk>; 2]], rounds: usize, starts: usize) {
    let p99 = |s: &Spread| {
        if rounds > 1 {
            format!("{:.1} ms ({:.0}-{:.0})", s.median, s.min, s.max)
        } else {
            format!("{:.1} ms", s.median)
        }
    };
    println!();
    println!("Medians of {rounds} round(s) per concurrency (p99: median, range); cold start: median, range of {starts} starts, binary config as wrangler dev hands it to workerd (text config: workerd compiles the .capnp and the modules it embeds at start).");
    println!();
    println!("| Worker | req/s c=20 | p50 | p99 | CPU/req | req/s c=50 | p50 | p99 | CPU/req | cold start (first 200) | first request | cold start, text config | bundle raw | gzip |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {:.0} | {:.2} ms | {} | {} | {:.0} | {:.2} ms | {} | {} | {:.0} ms ({:.0}-{:.0}) | {:.1} ms | {:.0} ms ({:.0}-{:.0}) | {:.1} KiB | {:.1} KiB |",
            r.name,
            r.c20.rps,
            r.c20.p50,
            p99(&r.c20.p99),
            cpu_text(r.c20.cpu_us),
            r.c50.rps,
            r.c50.p50,
            p99(&r.c50.p99),
            cpu_text(r.c50.cpu_us),
            r.cold.median,
            r.cold.min,
            r.cold.max,
            r.first_ms,
            r.cold_text.median,
            r.cold_text.min,
            r.cold_text.max,
            r.raw as f64 / 1024.0,
            r.gzip as f64 / 1024.0
        );
        if r.c20.non_2xx + r.c50.non_2xx > 0 {
            println!("  ({}: {} non-2xx responses)", r.name, r.c20.non_2xx + r.c50.non_2xx);
        }
    }
    if let [rs, h, fl] = rows {
        println!();
        println!(
            "Rust / Hono throughput: {:.2}x at c=20, {:.2}x at c=50",
            rs.c20.rps / h.c20.rps,
            rs.c50.rps / h.c50.rps
        );
        println!(
            "Rust's throughput at or above Hono's in {} of {rounds} paired rounds at c=20, {} of {rounds} at c=50",
            rps_wins(&results[0][0], &results[1][0]),
            rps_wins(&results[0][1], &results[1][1]),
        );
        println!(
            "Rust / Hono p99: {:.2}x at c=20, {:.2}x at c=50; Rust's p99 at or under Hono's in {} of {rounds} paired rounds at c=20, {} of {rounds} at c=50",
            rs.c20.p99.median / h.c20.p99.median,
            rs.c50.p99.median / h.c50.p99.median,
            p99_wins(&results[0][0], &results[1][0]),
            p99_wins(&results[0][1], &results[1][1]),
        );
        if let (Some(a), Some(b), Some(c), Some(d)) = (rs.c20.cpu_us, h.c20.cpu_us, rs.c50.cpu_us, h.c50.cpu_us) {
            println!(
                "Rust / Hono CPU per request (workerd, median of the rounds): {:.2}x at c=20, {:.2}x at c=50",
                a / b,
                c / d
            );
        }
        if let (Some(a), Some(b), Some(f), Some(c), Some(d), Some(g)) = (
            rs.c20.cpu_us,
            h.c20.cpu_us,
            fl.c20.cpu_us,
            rs.c50.cpu_us,
            h.c50.cpu_us,
            fl.c50.cpu_us,
        ) {
            println!(
                "CPU per request above the floor (what the Worker's own work costs): Rust {:.1} µs, Hono {:.1} µs at c=20; Rust {:.1} µs, Hono {:.1} µs at c=50",
                a - f,
                b - f,
                c - g,
                d - g
            );
        }
        println!(
            "Rust / Hono cold start (median of {starts} alternated starts): {:.2}x with the binary config, {:.2}x with the text config",
            rs.cold.median / h.cold.median,
            rs.cold_text.median / h.cold_text.median
        );
    }
}

/// A latency like `1.23ms` or `850.00us` in milliseconds.
fn ms(s: &str) -> f64 {
    let num = |t: &str| t.parse::<f64>().unwrap_or(f64::NAN);
    if let Some(v) = s.strip_suffix("us") {
        num(v) / 1000.0
    } else if let Some(v) = s.strip_suffix("ms") {
        num(v)
    } else if let Some(v) = s.strip_suffix('s') {
        num(v) * 1000.0
    } else {
        f64::NAN
    }
}

/// `cargo xtask bench auth`: what authentication (a JWT checked with
/// WebCrypto against a cached JWKS) and the rate limit (one Durable Object
/// round trip) add to a request, on plain `workerd serve`: `GET /v1/me`
/// with a bearer token against `GET /health` on the same Worker, alternating
/// rounds, median. The Worker is built from a copy of `tenants/` whose acme
/// dev environment takes JWTs from a loopback test provider and whose
/// limits are raised so that no request is refused.
pub fn bench_auth(tc: &Toolchain, quick: bool) -> Result<(), ExitCode> {
    if Command::new("wrk").arg("--version").output().is_err() {
        return Err(fail("wrk is not installed (apt-get install wrk)".into()));
    }
    let work = tc.root.join("target/bench-auth");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| fail(format!("{}: {e}", work.display())))?;
    let idp = crate::e2e_api::TestIdp::start(tc)?;
    let token = idp.tokens.first().map(|t| t.1.clone()).ok_or_else(|| fail("no token".into()))?;
    let copy = work.join("tenants");
    idp.tenants_copy(&tc.root.join("tenants"), &copy)?;
    let acme = copy.join("acme.kdl");
    let text = std::fs::read_to_string(&acme).map_err(|e| fail(format!("{e}")))?;
    let dev_auth = "auth { none #true; api-keys #true }";
    if !text.contains(dev_auth) {
        return Err(fail("tenants/acme.kdl's dev auth changed; update bench auth".into()));
    }
    let jwt = format!(
        "auth {{\n            none #true\n            jwt issuer=\"https://login.acme.example.com/\" audience=\"acme-ai\" {{\n                jwks-url \"http://127.0.0.1:{}/.well-known/jwks.json\"\n                algorithms \"RS256\"\n            }}\n        }}",
        idp.server.port
    );
    let text = text
        .replace(dev_auth, &jwt)
        .replace("tenant 1000 per=\"minute\"", "tenant 1000000 per=\"second\"")
        .replace("user 60 per=\"minute\"", "user 1000000 per=\"second\"")
        .replace("ip 120 per=\"minute\"", "ip 1000000 per=\"second\"");
    std::fs::write(&acme, text).map_err(|e| fail(format!("{e}")))?;
    crate::toolchain::build_worker_from(tc, Some(&copy))?;
    let rust = Bundle {
        name: "Rust (workers-rs)",
        modules: worker_modules(&tc.root.join("runtime/build"))?,
    };
    let running = start(tc, &rust, &work)?;
    let auth = vec![format!("Authorization: Bearer {token}")];
    let check = request(
        running.port,
        "GET",
        "/v1/me",
        &[("host", "acme.localhost"), ("authorization", &format!("Bearer {token}"))],
        b"",
    )
    .map_err(|e| fail(format!("{e}")))?;
    if check.status != 200 {
        return Err(fail(format!(
            "/v1/me answered {}: {}",
            check.status,
            String::from_utf8_lossy(&check.body)
        )));
    }
    let (secs, rounds) = if quick { (3, 1) } else { (10, 3) };
    eprintln!("==> bench auth: /health vs /v1/me (JWT RS256, cached JWKS, rate limit) on workerd serve; wrk {secs}s x {rounds} rounds, alternating, median");
    wrk_on(running.port, 10, 2, "/v1/me", &auth)?; // warm-up
                                                   // Three series: /health (no auth, no limit); /v1/me as a development
                                                   // user (no credential, so no crypto: the limiter alone); /v1/me with the
                                                   // JWT (verification + the limiter). JWT minus development user is the
                                                   // cost of verifying the token.
    let dev_user = vec!["x-user-id: bench".to_string()];
    println!("| conns | series | req/s | p50 | p99 | added p50 vs /health | added p99 | throughput vs /health | non-2xx |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for conns in [1u32, 20] {
        let mut series: [Vec<Wrk>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        for round in 0..rounds {
            for k in 0..3 {
                let i = (k + round as usize) % 3;
                let r = match i {
                    0 => wrk_on(running.port, conns, secs, "/health", &[])?,
                    1 => wrk_on(running.port, conns, secs, "/v1/me", &dev_user)?,
                    _ => wrk_on(running.port, conns, secs, "/v1/me", &auth)?,
                };
                series[i].push(r);
            }
        }
        let [h, d, j] = series.map(median);
        for (name, w) in [
            ("/health", &h),
            ("/v1/me, development user + rate limit", &d),
            ("/v1/me, JWT + rate limit", &j),
        ] {
            println!(
                "| {conns} | {name} | {:.0} | {} | {} | {:.2} ms | {:.2} ms | {:.2}x | {} |",
                w.rps,
                w.p50,
                w.p99,
                ms(&w.p50) - ms(&h.p50),
                ms(&w.p99) - ms(&h.p99),
                w.rps / h.rps,
                w.non_2xx
            );
        }
        println!(
            "|  | JWT verification alone (JWT - development user) | | | | {:.2} ms | | | |",
            ms(&j.p50) - ms(&d.p50)
        );
    }
    println!(
        "JWKS fetches: {} (cached per isolate)",
        idp.server.requests.load(std::sync::atomic::Ordering::SeqCst)
    );
    remove_shm_dirs();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rps: f64, p99: &str) -> Wrk {
        Wrk {
            rps,
            p50: "1.50ms".into(),
            p99: p99.into(),
            ..Wrk::default()
        }
    }

    #[test]
    fn spread_is_the_median_and_range_without_nan() {
        let s = spread(&[3.0, f64::NAN, 1.0, 2.0]);
        assert_eq!(
            s,
            Spread {
                median: 2.0,
                min: 1.0,
                max: 3.0
            }
        );
        assert_eq!(spread(&[4.0, 1.0]).median, 4.0, "the upper median of an even count");
        assert!(spread(&[]).median.is_nan());
    }

    #[test]
    fn series_takes_each_figure_median_on_its_own() {
        // The median-throughput round (9,000 req/s) has the worst p99; the
        // series' p99 is the median of the p99s, not that round's.
        let runs = [run(8_000.0, "40.00ms"), run(9_000.0, "900.00ms"), run(10_000.0, "50.00ms")];
        let s = series(&runs);
        assert_eq!(s.rps, 9_000.0);
        assert_eq!(
            s.p99,
            Spread {
                median: 50.0,
                min: 40.0,
                max: 900.0
            }
        );
        assert_eq!(s.p50, 1.5);
    }

    #[test]
    fn p99_wins_counts_paired_rounds_at_or_under() {
        let rust = [run(1.0, "10.00ms"), run(1.0, "30.00ms"), run(1.0, "850.00us")];
        let hono = [run(1.0, "10.00ms"), run(1.0, "20.00ms"), run(1.0, "1.00ms")];
        assert_eq!(p99_wins(&rust, &hono), 2);
        assert_eq!(p99_wins(&hono, &rust), 2);
    }

    #[test]
    fn rps_wins_counts_paired_rounds_at_or_above() {
        let rust = [run(100.0, "1ms"), run(90.0, "1ms"), run(80.0, "1ms")];
        let hono = [run(100.0, "1ms"), run(95.0, "1ms"), run(70.0, "1ms")];
        assert_eq!(rps_wins(&rust, &hono), 2);
        assert_eq!(rps_wins(&hono, &rust), 2);
    }

    #[test]
    fn latencies_in_wrk_units() {
        assert_eq!(ms("850.00us"), 0.85);
        assert_eq!(ms("1.50ms"), 1.5);
        assert_eq!(ms("1.20s"), 1200.0);
        assert!(ms("x").is_nan());
    }
}
