//! Project automation: `cargo xtask <command>`.
//!
//! - `setup`: install the toolchain (see `toolchain.rs`): the wasm32 target,
//!   Node 22 + wrangler + binaryen + hono from `package-lock.json`,
//!   worker-build and wasm-bindgen-cli at Cargo.lock's versions; a second
//!   run checks and does nothing.
//! - `build`: compile `tenants/` (validate everything, write `schemas/` and
//!   the per-tenant wrangler configs and registry into `out/`).
//! - `test`:  setup, then the whole test suite: every crate's tests, the
//!   example tenants, schema freshness, the end-to-end suite (`e2e`), then
//!   the retrieval evaluation (`eval retrieval`) on the e2e suite's build.
//! - `e2e`: build the Worker, run it per tenant on local workerd (`wrangler
//!   dev --local`) and send it every case; `wrangler deploy --dry-run` on
//!   every generated config.
//! - `eval retrieval [--model-url URL] [--update-baseline]`: the
//!   retrieval-quality evaluation (`eval.rs`): the fixture corpus in
//!   `xtask/eval/` ingested per tenant, recall@5, MRR@10 and nDCG@10 per
//!   mode, zero cross-tenant results, gated by `xtask/eval/baseline.json`.
//!   `cargo xtask test` runs it after the e2e suite on the same build.
//! - `openapi`: regenerate `docs/openapi.json` and validate it as OpenAPI 3.1.
//! - `build-worker`: build the Worker into `runtime/build/` (what
//!   `tenants deploy` uploads).
//! - `dev --tenant ID [--env dev] [--port N]`: build and run the Worker
//!   locally for one tenant; Ctrl-C stops it.
//! - `bench auth [--quick]`: what a JWT and the rate limit add to a request
//!   (`/v1/me` against `/health` on plain workerd; needs `wrk`).
//! - `bench rag [--quick]`: ingestion throughput, `/search` latency (cache
//!   miss and hit) and the local index's query time and memory at 1k, 10k
//!   and 50k chunks (`bench_rag.rs`).
//! - `bench ajv`: `tenants check` against ajv on 10,000 JSON tenants
//!   (`compiler/examples/bench_check.rs --vs-ajv`).
//! - `bench lookup [--quick]`: the routing-table benchmark (criterion against
//!   a start-up-built HashMap and a linear scan, compile time, wasm sizes).
//! - `bench`: the checker benchmark on generated corpora (100, 1,000, 10,000
//!   tenants), then the build benchmark (1,000 and 10,000 tenants × 3 environments).
//!
//! Each step runs a child process and stops at the first failure with its exit code.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

mod bench_chat;
mod bench_rag;
mod bench_runtime;
mod e2e;
mod e2e_api;
mod e2e_chat;
mod e2e_playground;
mod e2e_rag;
mod e2e_tools;
mod eval;
mod load;
mod model_server;
mod net;
mod openapi;
mod toolchain;

/// Print a failure and give the exit code for it (2: the tooling failed).
pub(crate) fn fail(msg: String) -> ExitCode {
    eprintln!("    FAILED: {msg}");
    ExitCode::from(2)
}

pub(crate) fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

pub(crate) fn run(what: &str, mut cmd: Command) -> Result<(), ExitCode> {
    eprintln!("==> {what}");
    let start = std::time::Instant::now();
    match cmd.status() {
        Ok(s) if s.success() => {
            eprintln!("    ok ({:.1}s)", start.elapsed().as_secs_f64());
            Ok(())
        }
        Ok(s) => {
            eprintln!("    FAILED: {what} ({s})");
            Err(ExitCode::from(s.code().unwrap_or(1).clamp(1, 255) as u8))
        }
        Err(e) => {
            eprintln!("    FAILED to start {what}: {e}");
            Err(ExitCode::from(2))
        }
    }
}

pub(crate) fn tenants(args: &[&str]) -> Command {
    let mut c = cargo();
    c.args(["run", "--quiet", "--release", "--bin", "tenants", "--"]).args(args);
    c
}

fn build() -> Result<(), ExitCode> {
    run("tenants check --root tenants", tenants(&["check", "--root", "tenants"]))?;
    run("tenants schema --out schemas", tenants(&["schema", "--out", "schemas"]))?;
    run(
        "tenants build --root tenants --out out",
        tenants(&["build", "--root", "tenants", "--out", "out"]),
    )
}

/// The workspace root (xtask lives one level below it).
pub(crate) fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

fn setup() -> Result<(), ExitCode> {
    toolchain::setup().map(drop)
}

/// Run `cargo test`, echoing its output, and add up its `test result:` lines.
fn run_tests(what: &str, mut cmd: Command, totals: &mut (u64, u64)) -> Result<(), ExitCode> {
    use std::io::{BufRead, BufReader, Write};
    eprintln!("==> {what}");
    let start = std::time::Instant::now();
    cmd.stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        eprintln!("    FAILED to start {what}: {e}");
        ExitCode::from(2)
    })?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut out = std::io::stdout().lock();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        // "test result: ok. 12 passed; 0 failed; 0 ignored; ..."
        if let Some(rest) = line.trim_start().strip_prefix("test result: ") {
            for part in rest.split(';') {
                let mut words = part.split_whitespace().filter(|w| *w != "ok." && *w != "FAILED.");
                if let (Some(n), Some(kind)) = (words.next().and_then(|n| n.parse::<u64>().ok()), words.next()) {
                    match kind {
                        "passed" => totals.0 += n,
                        "failed" => totals.1 += n,
                        _ => {}
                    }
                }
            }
        }
        let _ = writeln!(out, "{line}");
    }
    let status = child.wait().map_err(|_| ExitCode::from(2))?;
    if status.success() {
        eprintln!("    ok ({:.1}s)", start.elapsed().as_secs_f64());
        Ok(())
    } else {
        eprintln!("    FAILED: {what} ({status})");
        Err(ExitCode::from(status.code().unwrap_or(1).clamp(1, 255) as u8))
    }
}

fn test() -> Result<(), ExitCode> {
    let tc = toolchain::setup()?;
    let mut totals = (0, 0);
    let mut times: Vec<(&str, Duration)> = Vec::new();
    // Run one stage, remembering how long it took.
    let mut stage = |name: &'static str, f: &mut dyn FnMut() -> Result<(), ExitCode>| {
        let t0 = Instant::now();
        let r = f();
        times.push((name, t0.elapsed()));
        r
    };
    let result = stage("cargo test", &mut || {
        let mut t = cargo();
        t.args(["test", "--workspace", "--all-targets"]);
        run_tests("cargo test --workspace --all-targets", t, &mut totals)
    })
    .and_then(|()| {
        stage("tenants check, schema --check, OpenAPI", &mut || {
            run(
                "tenants check --root tenants --deny-warnings",
                tenants(&["check", "--root", "tenants", "--deny-warnings"]),
            )?;
            run("tenants schema --check", tenants(&["schema", "--out", "schemas", "--check"]))?;
            openapi::validate()
        })
    })
    .and_then(|()| {
        stage("node --test", &mut || {
            // The JavaScript tests (node --test): the Worker's entry module,
            // and the test infrastructure's own — the scripted model server,
            // the stand-in AI and Vectorize bindings, the load generator.
            let mut n = Command::new(&tc.node);
            n.current_dir(&tc.root).args([
                "--test",
                "runtime/entry.test.mjs",
                "xtask/scripted-model/server.test.mjs",
                "xtask/e2e/standin-ai/worker.test.mjs",
                "xtask/e2e/standin-vectorize/worker.test.mjs",
                "xtask/load/mixed.test.mjs",
            ]);
            run(
                "node --test (the Worker's entry module, the scripted model server, the stand-in bindings, the load generator)",
                n,
            )
        })
    })
    .and_then(|()| {
        stage("e2e (one Worker build, wrangler dev per tenant)", &mut || {
            let (passed, failed) = e2e::e2e(&tc)?;
            totals.0 += passed;
            totals.1 += failed;
            if failed > 0 {
                Err(ExitCode::from(1))
            } else {
                Ok(())
            }
        })
    })
    .and_then(|()| {
        stage("retrieval evaluation", &mut || {
            // The retrieval evaluation, on the Worker the e2e suite just built.
            let r = eval::retrieval(&tc, false, &eval::Options::default());
            match r {
                Ok(()) => totals.0 += 1,
                Err(_) => totals.1 += 1,
            }
            r
        })
    })
    .and_then(|()| {
        stage("load --quick (the Worker built from tenants/, plain workerd)", &mut || {
            // The quick load gate: thresholds and stream stability.
            let r = load::load(&tc, &["--quick".to_string()]);
            match r {
                Ok(()) => totals.0 += 1,
                Err(_) => totals.1 += 1,
            }
            r
        })
    });
    println!("xtask test stages:");
    for (name, d) in &times {
        println!("    {:>7.1}s  {name}", d.as_secs_f64());
    }
    // The closing line CI reads.
    println!("xtask test: {} passed, {} failed", totals.0, totals.1);
    result
}

fn e2e_only() -> Result<(), ExitCode> {
    let tc = toolchain::setup()?;
    match e2e::e2e(&tc)? {
        (_, 0) => Ok(()),
        _ => Err(ExitCode::from(1)),
    }
}

/// The value after `--name` in the arguments.
fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

/// `cargo xtask dev --tenant ID [--env dev] [--port N] [--model-url URL]`.
///
/// Chat needs a model: `--model-url` (or `AI_BASE_URL` in the environment)
/// names any OpenAI-compatible server (Ollama: `http://127.0.0.1:11434/v1`);
/// without one, the scripted model server is started and labelled as such.
fn dev(args: &[String]) -> Result<(), ExitCode> {
    let Some(tenant) = flag(args, "--tenant") else {
        eprintln!("usage: cargo xtask dev --tenant ID [--env dev] [--port N] [--model-url URL] [--raw-logs]");
        return Err(ExitCode::from(2));
    };
    let env = flag(args, "--env").unwrap_or_else(|| "dev".into());
    let port: u16 = match flag(args, "--port") {
        None => 8787,
        Some(p) => p.parse().map_err(|_| fail(format!("--port `{p}` is not a port number")))?,
    };
    let tc = toolchain::setup()?;
    toolchain::build_worker(&tc)?;
    let out = tc.root.join("target/dev").join(format!("{tenant}-{env}"));
    e2e::render(&tc, &out, Some(&env), Some(&tenant))?;
    let t = e2e::registry(&out, &env)?
        .into_iter()
        .find(|t| t.id == tenant)
        .ok_or_else(|| fail(format!("no tenant `{tenant}` in `{env}`")))?;
    let named = flag(args, "--model-url")
        .or_else(|| std::env::var("AI_BASE_URL").ok())
        .filter(|u| !u.is_empty());
    let (model_url, _scripted) = match named {
        Some(u) => (u, None),
        None => {
            let log = out.join("scripted-model-server.log");
            let m = model_server::ModelServer::start(&tc, &log, 30).map_err(fail)?;
            eprintln!(
                "==> scripted model server (test/dev infrastructure: deterministic replies, not a model) at {}",
                m.url
            );
            eprintln!("    pass --model-url http://127.0.0.1:11434/v1 to chat with a local Ollama instead");
            (m.url.clone(), Some(m))
        }
    };
    let mut c = tc.wrangler();
    c.current_dir(t.config.parent().unwrap_or(&out))
        .args(["dev", "--local", "--ip", "127.0.0.1", "--port", &port.to_string(), "--config"])
        .arg(&t.config)
        .arg("--persist-to")
        .arg(tc.root.join(".wrangler/state"))
        .arg("--var")
        .arg(format!("AI_BASE_URL:{model_url}"));
    eprintln!("==> wrangler dev --local: tenant `{tenant}`, environment `{env}`, models at {model_url}");
    eprintln!("    curl -H 'Host: {}' http://127.0.0.1:{port}/health", t.host);
    eprintln!(
        "    curl -N -H 'Host: {}' -H 'content-type: application/json' http://127.0.0.1:{port}/chat -d '{{\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}]}}'",
        t.host
    );
    if t.host.ends_with(".localhost") {
        eprintln!(
            "    playground (a browser resolves *.localhost itself): http://{}:{port}/_playground",
            t.host
        );
    }
    eprintln!("    Ctrl-C stops it. Log lines are shown short; --raw-logs prints the JSON.");
    // Same process group as this one, so Ctrl-C reaches wrangler and workerd.
    let raw = args.iter().any(|a| a == "--raw-logs");
    if !raw {
        c.stdout(std::process::Stdio::piped());
    }
    let mut child = c.spawn().map_err(|e| fail(format!("cannot start wrangler: {e}")))?;
    if let Some(out) = child.stdout.take() {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            println!("{}", pretty_log(&line).unwrap_or(line));
        }
    }
    let status = child.wait().map_err(|e| fail(format!("wrangler: {e}")))?;
    if status.success() || status.code().is_none() {
        Ok(())
    } else {
        Err(ExitCode::from(status.code().unwrap_or(1).clamp(1, 255) as u8))
    }
}

/// A Worker log line (docs/runtime.md) on one short line: the request's
/// status, method, path, route, latency, tenant, model figures and ids;
/// an object's call indented under it. `None`: not a log line.
fn pretty_log(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(&line[line.find('{')?..]).ok()?;
    let s = |k: &str| v[k].as_str().unwrap_or("-").to_string();
    let short = |k: &str| {
        v[k].as_str()
            .map(|x| x.chars().take(8).collect::<String>())
            .unwrap_or_else(|| "-".into())
    };
    match v["msg"].as_str()? {
        "request" => {
            let mut out = format!(
                "{:<5} {} {} {} ({}) {} ms  tenant={} req={} trace={}",
                s("level"),
                v["status"],
                s("method"),
                s("path"),
                s("route"),
                v["latency_ms"],
                s("tenant"),
                short("request_id"),
                short("trace_id"),
            );
            if let Some(m) = v["model"].as_str() {
                out.push_str(&format!(
                    "  model={m} tokens={}/{} ttft={}ms cache={}",
                    v["tokens_in"],
                    v["tokens_out"],
                    v["ttft_ms"],
                    s("cache")
                ));
            }
            if let Some(e) = v["error"].as_str() {
                out.push_str(&format!("  error={e}"));
            }
            if let Some(d) = v["detail"].as_str() {
                out.push_str(&format!("  ({d})"));
            }
            Some(out)
        }
        "object" => Some(format!(
            "      · {} {} {} req={}",
            s("class"),
            s("path"),
            v["status"],
            short("request_id")
        )),
        _ => Some(format!("{:<5} {}  {}", s("level"), s("msg"), v)),
    }
}

/// `cargo xtask bench lookup`: the routing-table benchmark (criterion,
/// compile time, wasm sizes) on a generated crate in `target/bench-lookup/`.
fn bench_lookup(quick: bool) -> Result<(), ExitCode> {
    let mut c = cargo();
    c.args(["run", "--quiet", "--release", "-p", "tenants-compiler", "--example", "bench_lookup"]);
    if quick {
        c.args(["--", "--quick"]);
    }
    run("bench: host -> tenant lookup (10, 1,000, 10,000 tenants baked)", c)
}

fn bench() -> Result<(), ExitCode> {
    // The table also times the real CLI: build it first.
    let mut b = cargo();
    b.args(["build", "--quiet", "--release", "--bin", "tenants"]);
    run("cargo build --release --bin tenants", b)?;
    let mut c = cargo();
    c.args(["run", "--quiet", "--release", "-p", "tenants-compiler", "--example", "bench_check"]);
    run("bench: tenants check on generated corpora", c)?;
    let mut b = cargo();
    b.args(["run", "--quiet", "--release", "-p", "tenants-compiler", "--example", "bench_build"]);
    run("bench: tenants build (1,000 and 10,000 tenants x 3 environments)", b)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let cmd = args.get(1).cloned().unwrap_or_default();
    let result = match cmd.as_str() {
        "setup" => setup(),
        "build" => build(),
        "test" => test(),
        "e2e" => e2e_only(),
        "build-worker" => toolchain::setup().and_then(|tc| toolchain::build_worker(&tc)).map(drop),
        "dev" => dev(&args),
        "openapi" => openapi::write(),
        "load" => toolchain::setup().and_then(|tc| load::load(&tc, &args[2..])),
        "eval" => match args.get(2).map(String::as_str) {
            Some("retrieval") => eval::main(&args[3..]),
            _ => {
                eprintln!("usage: cargo xtask eval retrieval [--model-url URL] [--update-baseline]");
                Err(ExitCode::from(2))
            }
        },
        "bench" => match std::env::args().nth(2).as_deref() {
            Some("lookup") => bench_lookup(std::env::args().any(|a| a == "--quick")),
            Some("deploy") => {
                let mut b = cargo();
                b.args(["build", "--quiet", "--release", "--bin", "tenants"]);
                run("cargo build --release --bin tenants", b).and_then(|()| {
                    let mut c = cargo();
                    c.args(["run", "--quiet", "--release", "-p", "tenants-compiler", "--example", "bench_deploy"]);
                    run(
                        "bench: tenants deploy --all --dry-run scheduling overhead (1,000 tenants, stand-in wrangler)",
                        c,
                    )
                })
            }
            Some("ajv") => {
                let mut b = cargo();
                b.args(["build", "--quiet", "--release", "--bin", "tenants"]);
                run("cargo build --release --bin tenants", b).and_then(|()| {
                    let mut c = cargo();
                    c.args([
                        "run",
                        "--quiet",
                        "--release",
                        "-p",
                        "tenants-compiler",
                        "--example",
                        "bench_check",
                        "--",
                        "--vs-ajv",
                        "10000",
                    ]);
                    run("bench: tenants check vs ajv on 10,000 JSON tenants", c)
                })
            }
            Some("runtime") => toolchain::setup().and_then(|tc| bench_runtime::bench(&tc, std::env::args().any(|a| a == "--quick"))),
            Some("auth") => toolchain::setup().and_then(|tc| bench_runtime::bench_auth(&tc, std::env::args().any(|a| a == "--quick"))),
            Some("chat") => toolchain::setup().and_then(|tc| bench_chat::bench(&tc, std::env::args().any(|a| a == "--quick"))),
            Some("rag") => toolchain::setup().and_then(|tc| bench_rag::bench(&tc, std::env::args().any(|a| a == "--quick"))),
            _ => bench(),
        },
        _ => {
            eprintln!("usage: cargo xtask <setup|build|build-worker|test|e2e|eval|dev|bench>\n  setup  install the toolchain: wasm32 target, Node 22 + wrangler + binaryen (npm ci), worker-build, wasm-bindgen-cli\n  build  validate tenants/, write schemas/ and the artifacts in out/\n  test   setup, then run the whole test suite (crates, examples, schemas, end-to-end, retrieval eval)\n  e2e    the Worker on local workerd per tenant, every case; wrangler deploy --dry-run on every config\n  eval retrieval [--model-url URL] [--update-baseline]  retrieval quality on the fixture corpus (xtask/eval/): recall@5, MRR@10, nDCG@10 per tenant and mode (vector, hybrid, rerank), zero cross-tenant results, gated by xtask/eval/baseline.json (EVAL_NO_BUILD=1 reuses runtime/build/)\n  build-worker  build the Worker (worker-build, release) into runtime/build/\n  dev --tenant ID [--env dev] [--port N] [--model-url URL]  run the Worker locally for one tenant (default port 8787), chatting with the model server at URL or, without one, the scripted model server\n  bench  benchmark check (100/1,000/10,000 tenants) and build (1,000/10,000 x 3 envs)\n  bench ajv  `tenants check DIR` vs ajv (node) validating the same 10,000 JSON tenants against schemas/tenant.schema.json: median wall time and peak RSS of each\n  bench lookup [--quick]  the baked routing table vs HashMap and linear scan; compile time; wasm sizes\n  bench deploy  scheduling overhead of tenants deploy --all --dry-run for 1,000 tenants (stand-in wrangler)\n  bench chat [--quick]  streamed /chat on workerd serve against the scripted model server: time to first byte and events/s over 100 streams, direct vs the Rust Worker vs a Hono pass-through vs a Hono chunk-by-chunk relay (BENCH_CHAT_TOKENS=N longer streams, BENCH_CHAT_REQUESTS=N more sequential requests, BENCH_NO_BUILD=1 reuses runtime/build/)\n  bench rag [--quick]  RAG on the local index (wrangler dev --local, scripted model server): ingestion chunks/s, /search latency cache miss vs hit, /v1/dev/retrieve latency and workerd RSS at 1k/10k/50k chunks (--quick: 1k/5k; BENCH_RAG_CHUNKS=1000,100000 other sizes); BENCH_NO_BUILD=1 reuses runtime/build/\n  bench runtime [--quick]  /health on workerd serve: the Rust Worker vs the Hono Worker, and a floor Worker that does no work (wrk at 20 and 50 connections, five alternated rounds each: throughput, latency, workerd's CPU per request; cold start over seven starts with a binary and a text config; sizes; BENCH_ROUNDS=N more rounds, BENCH_NO_BUILD=1 reuses runtime/build/)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

#[cfg(test)]
mod tests {
    use super::pretty_log;

    #[test]
    fn log_lines_are_shown_short_and_other_output_is_left_alone() {
        let l = r#"[wrangler:info] {"level":"info","msg":"request","request_id":"0123456789abcdef","trace_id":"fedcba9876543210","tenant":"acme","env":"dev","route":"chat","method":"POST","path":"/chat","status":200,"latency_ms":12,"error":null,"model":"@cf/m","tokens_in":5,"tokens_out":7,"ttft_ms":3,"cache":"miss"}"#;
        assert_eq!(
            pretty_log(l).unwrap(),
            "info  200 POST /chat (chat) 12 ms  tenant=acme req=01234567 trace=fedcba98  model=@cf/m tokens=5/7 ttft=3ms cache=miss"
        );
        let o = r#"{"level":"debug","msg":"object","class":"RateLimiter","path":"/hit","status":200,"error":null,"request_id":"0123456789abcdef","trace_id":"x"}"#;
        assert_eq!(pretty_log(o).unwrap(), "      · RateLimiter /hit 200 req=01234567");
        assert_eq!(pretty_log("Ready on http://127.0.0.1:8787"), None);
        assert_eq!(pretty_log("{not json"), None);
    }
}
