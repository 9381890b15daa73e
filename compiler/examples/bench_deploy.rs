//! `cargo xtask bench deploy`: the scheduling overhead of `tenants deploy
//! --all --dry-run` for 1,000 tenants with a stand-in wrangler (`true`),
//! i.e. the CLI's wall time minus validation + artifacts (`tenants build`
//! on the same corpus) minus the stand-in's own time (1,000 spawns of
//! `true` at the same concurrency, measured here with the same pipes).

#[path = "common/corpus.rs"]
mod corpus;

use std::process::{Command, Stdio};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let conc = 4usize;
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/tenants");
    assert!(bin.is_file(), "build it first: cargo build --release --bin tenants");
    let repo = tempfile::tempdir().unwrap();
    let tenants = repo.path().join("tenants");
    std::fs::create_dir_all(&tenants).unwrap();
    corpus::write_corpus(&tenants, n).unwrap();
    std::fs::create_dir_all(repo.path().join("runtime/build")).unwrap();
    std::fs::write(repo.path().join("runtime/build/index.js"), "export default {}\n").unwrap();
    let truth = which_true();
    let runs = 3;

    let mut build = Vec::new();
    let mut deploy = Vec::new();
    let mut standin = Vec::new();
    for i in 0..runs {
        let out = repo.path().join(format!("out-b{i}"));
        let t = Instant::now();
        let s = Command::new(&bin)
            .current_dir(repo.path())
            .args(["build", "--env", "dev", "--out"])
            .arg(&out)
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(s.success());
        build.push(t.elapsed().as_secs_f64());

        let out = repo.path().join(format!("out-d{i}"));
        let t = Instant::now();
        let s = Command::new(&bin)
            .current_dir(repo.path())
            .args([
                "deploy",
                "--all",
                "--env",
                "dev",
                "--dry-run",
                "--concurrency",
                &conc.to_string(),
                "--per-account",
                &conc.to_string(),
                "--out",
            ])
            .arg(&out)
            .arg("--wrangler")
            .arg(&truth)
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(s.success(), "deploy --dry-run with the stand-in failed");
        deploy.push(t.elapsed().as_secs_f64());

        // The stand-in's own cost: n spawns of `true`, `conc` at a time, piped.
        let t = Instant::now();
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|sc| {
            for _ in 0..conc {
                sc.spawn(|| {
                    while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < n {
                        let o = Command::new(&truth)
                            .stdin(Stdio::null())
                            .stdout(Stdio::piped())
                            .stderr(Stdio::piped())
                            .output()
                            .unwrap();
                        assert!(o.status.success());
                    }
                });
            }
        });
        standin.push(t.elapsed().as_secs_f64());
    }
    let (b, d, s) = (median(build), median(deploy), median(standin));
    let overhead = d - b - s;
    println!("tenants deploy --all --dry-run, {n} tenants, stand-in wrangler `true`, concurrency {conc} (median of {runs})");
    println!("| step | wall |");
    println!("|---|---:|");
    println!("| tenants deploy (all of it) | {:.0} ms |", d * 1000.0);
    println!("| of which validation + artifacts (tenants build) | {:.0} ms |", b * 1000.0);
    println!("| of which the stand-in's own time ({n} spawns) | {:.0} ms |", s * 1000.0);
    println!(
        "| scheduling overhead | {:.0} ms = {:.3} ms per tenant |",
        overhead * 1000.0,
        overhead * 1000.0 / n as f64
    );
}

fn which_true() -> std::path::PathBuf {
    for p in ["/bin/true", "/usr/bin/true"] {
        if std::path::Path::new(p).is_file() {
            return p.into();
        }
    }
    panic!("no `true` binary");
}
