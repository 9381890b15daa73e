//! Project automation: `cargo xtask <command>`.
//!
//! - `build`: compile `tenants/` (validate everything, write `schemas/`).
//! - `test`:  the whole test suite: every crate's tests, the example tenants,
//!   schema freshness.
//! - `bench`: the checker benchmark on generated corpora (100, 1,000, 10,000 tenants).
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
    run("tenants schema --out schemas", tenants(&["schema", "--out", "schemas"]))
}

fn test() -> Result<(), ExitCode> {
    let mut t = cargo();
    t.args(["test", "--workspace", "--all-targets"]);
    run("cargo test --workspace --all-targets", t)?;
    let mut d = cargo();
    d.args(["test", "--workspace", "--doc"]);
    run("cargo test --workspace --doc", d)?;
    run(
        "tenants check --root tenants --deny-warnings",
        tenants(&["check", "--root", "tenants", "--deny-warnings"]),
    )?;
    run("tenants schema --check", tenants(&["schema", "--out", "schemas", "--check"]))
}

fn bench() -> Result<(), ExitCode> {
    let mut c = cargo();
    c.args(["run", "--quiet", "--release", "-p", "tenants-compiler", "--example", "bench_check"]);
    run("bench: tenants check on generated corpora", c)
}

fn main() -> ExitCode {
    let cmd = std::env::args().nth(1).unwrap_or_default();
    let result = match cmd.as_str() {
        "build" => build(),
        "test" => test(),
        "bench" => bench(),
        _ => {
            eprintln!("usage: cargo xtask <build|test|bench>\n  build  validate tenants/ and write schemas/\n  test   run the whole test suite\n  bench  benchmark the checker on 100/1,000/10,000 generated tenants");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
