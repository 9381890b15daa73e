//! Project automation: `cargo xtask <command>`.
//!
//! - `setup`: install the pinned JavaScript tooling (`npm ci` from the committed
//!   `package-lock.json` into `node_modules/`); a second run does nothing.
//! - `build`: compile `tenants/` (validate everything, write `schemas/` and
//!   the per-tenant wrangler configs and registry into `out/`).
//! - `test`:  setup, then the whole test suite: every crate's tests, the
//!   example tenants, schema freshness.
//! - `bench lookup [--quick]`: the routing-table benchmark (criterion against
//!   a start-up-built HashMap and a linear scan, compile time, wasm sizes).
//! - `bench`: the checker benchmark on generated corpora (100, 1,000, 10,000
//!   tenants), then the build benchmark (1,000 and 10,000 tenants × 3 environments).
//!
//! Each step runs a child process and stops at the first failure with its exit code.

use std::process::{Command, ExitCode};

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(what: &str, mut cmd: Command) -> Result<(), ExitCode> {
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

fn tenants(args: &[&str]) -> Command {
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
fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// `npm ci` from the committed lock file, skipped when `node_modules/` was
/// installed from the same lock file (a stamp holds the lock file's bytes).
fn setup() -> Result<(), ExitCode> {
    let root = workspace();
    let lock = std::fs::read(root.join("package-lock.json")).map_err(|e| {
        eprintln!("    FAILED: cannot read package-lock.json: {e}");
        ExitCode::from(2)
    })?;
    let stamp = root.join("node_modules").join(".xtask-setup-stamp");
    if std::fs::read(&stamp).is_ok_and(|s| s == lock) && root.join("node_modules/wrangler/config-schema.json").is_file() {
        eprintln!("==> setup: node_modules is current (package-lock.json unchanged)");
        return Ok(());
    }
    let mut npm = Command::new("npm");
    npm.current_dir(&root).args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    run("npm ci (pinned wrangler)", npm)?;
    std::fs::write(&stamp, &lock).map_err(|e| {
        eprintln!("    FAILED: cannot write {}: {e}", stamp.display());
        ExitCode::from(2)
    })
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
    setup()?;
    let mut totals = (0, 0);
    let mut t = cargo();
    t.args(["test", "--workspace", "--all-targets"]);
    let result = run_tests("cargo test --workspace --all-targets", t, &mut totals)
        .and_then(|()| {
            run(
                "tenants check --root tenants --deny-warnings",
                tenants(&["check", "--root", "tenants", "--deny-warnings"]),
            )
        })
        .and_then(|()| run("tenants schema --check", tenants(&["schema", "--out", "schemas", "--check"])));
    // The closing line CI reads.
    println!("xtask test: {} passed, {} failed", totals.0, totals.1);
    result
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
    let cmd = std::env::args().nth(1).unwrap_or_default();
    let result = match cmd.as_str() {
        "setup" => setup(),
        "build" => build(),
        "test" => test(),
        "bench" => match std::env::args().nth(2).as_deref() {
            Some("lookup") => bench_lookup(std::env::args().any(|a| a == "--quick")),
            _ => bench(),
        },
        _ => {
            eprintln!("usage: cargo xtask <setup|build|test|bench>\n  setup  install the pinned npm tooling (wrangler) into node_modules/\n  build  validate tenants/, write schemas/ and the artifacts in out/\n  test   setup, then run the whole test suite\n  bench  benchmark check (100/1,000/10,000 tenants) and build (1,000/10,000 x 3 envs)\n  bench lookup [--quick]  the baked routing table vs HashMap and linear scan; compile time; wasm sizes");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
