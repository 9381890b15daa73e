//! Benchmark of `tenants build` on generated corpora (`cargo xtask bench`,
//! i.e. `cargo run --release -p tenants-compiler --example bench_build`).
//!
//! For each size (1,000 and 10,000 tenants × 3 environments; the corpus of
//! `common/corpus.rs`) the example re-executes itself (`bench_build --one N`)
//! so that the peak RSS it reports belongs to that size's CLI runs alone:
//! the child runs the real release CLI (`tenants build --root DIR --out OUT`)
//! and reads the children's peak RSS with `getrusage(RUSAGE_CHILDREN)`.
//!
//! Measured per size, medians of several runs:
//! - cold: an empty output directory (every config written);
//! - no change: a rerun on an unchanged tree (the content-hash fast path);
//! - one tenant changed: one tenant file edited (full check, 3 configs and
//!   the registry rewritten, everything else compared and left alone).
//!
//! `BENCH_OUT_DIR=/dev/shm` writes the output directories there (tmpfs).
//!
//! Usage: bench_build [--sizes 1000,10000] | --one N | --write DIR N (just write a corpus, for profiling)

#[path = "common/corpus.rs"]
mod corpus;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

const TARGET_COLD_MS: f64 = 2_000.0;
const TARGET_NOCHANGE_MS: f64 = 300.0;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => parent(&[1_000, 10_000]),
        ["--sizes", list] => match list
            .split(',')
            .map(|s| s.trim().replace('_', "").parse())
            .collect::<Result<Vec<usize>, _>>()
        {
            Ok(v) => parent(&v),
            Err(e) => Err(format!("bad --sizes: {e}")),
        },
        ["--one", n] => n.parse().map_err(|e| format!("bad size: {e}")).and_then(one),
        ["--write", dir, n] => n
            .parse()
            .map_err(|e| format!("bad size: {e}"))
            .and_then(|n: usize| {
                std::fs::create_dir_all(dir)
                    .and_then(|()| corpus::write_corpus(Path::new(dir), n))
                    .map_err(|e| e.to_string())
            })
            .map(|_| ()),
        _ => Err("usage: bench_build [--sizes 1000,10000] | --one N | --write DIR N".into()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_build: {e}");
            ExitCode::from(2)
        }
    }
}

fn cli_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("TENANTS_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join(format!("tenants{}", std::env::consts::EXE_SUFFIX)))
        .ok_or("no profile directory")?;
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} not found: run `cargo build --release --bin tenants` first",
            bin.display()
        ))
    }
}

fn parent(sizes: &[usize]) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    println!("| tenants | configs | cold ms | no-change ms | one changed ms | peak RSS | output |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let mut verdicts = Vec::new();
    for &n in sizes {
        let out = Command::new(&exe)
            .args(["--one", &n.to_string()])
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("size {n} failed"));
        }
        let line = String::from_utf8_lossy(&out.stdout);
        let f: Vec<&str> = line.trim().split('\t').collect();
        if f.len() != 6 {
            return Err(format!("unexpected child output: {line}"));
        }
        println!("| {n} | {} | {} | {} | {} | {} MiB | {} MiB |", f[0], f[1], f[2], f[3], f[4], f[5]);
        if n == 10_000 {
            let cold: f64 = f[1].parse().unwrap_or(f64::MAX);
            let nc: f64 = f[2].parse().unwrap_or(f64::MAX);
            verdicts.push(format!(
                "10,000 tenants x 3 envs: cold {cold} ms (target < {TARGET_COLD_MS} ms: {}), no change {nc} ms (target < {TARGET_NOCHANGE_MS} ms: {})",
                if cold < TARGET_COLD_MS { "MET" } else { "NOT MET" },
                if nc < TARGET_NOCHANGE_MS { "MET" } else { "NOT MET" }
            ));
        }
    }
    println!();
    println!("ms: wall time of the release CLI process (`tenants build --root DIR --out OUT`), median; peak RSS: the largest of those processes; output: size of OUT.");
    for v in verdicts {
        println!("{v}");
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn time_build(bin: &Path, root: &Path, out: &Path) -> Result<(f64, String), String> {
    let t = Instant::now();
    let o = Command::new(bin)
        .args(["build", "--root"])
        .arg(root)
        .arg("--out")
        .arg(out)
        .output()
        .map_err(|e| e.to_string())?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    if !o.status.success() {
        return Err(format!("tenants build failed:\n{}", String::from_utf8_lossy(&o.stderr)));
    }
    Ok((ms, String::from_utf8_lossy(&o.stderr).into_owned()))
}

fn children_peak_rss_mib() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass; no other invariant.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    if rc == 0 {
        ru.ru_maxrss as f64 / 1024.0
    } else {
        f64::NAN
    }
}

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                total += dir_size(&path);
            } else if let Ok(m) = e.metadata() {
                total += m.len();
            }
        }
    }
    total
}

fn one(n: usize) -> Result<(), String> {
    let bin = cli_binary()?;
    let corpus = corpus::generate(n).map_err(|e| e.to_string())?;
    let root = corpus.path().to_path_buf();
    // BENCH_OUT_DIR puts the output directories elsewhere (e.g. /dev/shm, to
    // separate the CPU's share from the disk's).
    let work = match std::env::var_os("BENCH_OUT_DIR") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .map_err(|e| e.to_string())?;
    // Cold: a fresh output directory each run.
    let mut cold = Vec::new();
    let mut configs = 0;
    for i in 0..3 {
        let out = work.path().join(format!("cold-{i}"));
        let (ms, err) = time_build(&bin, &root, &out)?;
        if !err.contains("written") {
            return Err(format!("cold build did not write: {err}"));
        }
        configs = std::fs::read_dir(&out)
            .map_err(|e| e.to_string())?
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| std::fs::read_dir(e.path()).map(|r| r.count()).unwrap_or(0))
            .sum();
        cold.push(ms);
    }
    let out = work.path().join("cold-0");
    // No change: the fast path.
    let mut nochange = Vec::new();
    for _ in 0..5 {
        let (ms, err) = time_build(&bin, &root, &out)?;
        if !err.contains("up to date") {
            return Err(format!("a rerun was not up to date: {err}"));
        }
        nochange.push(ms);
    }
    // One tenant changed.
    let mut changed = Vec::new();
    let victim = std::fs::read_dir(&root)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "kdl") && !p.ends_with("platform.kdl"))
        .ok_or("no KDL tenant in the corpus")?;
    for i in 0..3 {
        let s = std::fs::read_to_string(&victim).map_err(|e| e.to_string())?;
        // A tenant-level var: it is in all three environments' configs.
        let edited = match s.find("var SUPPORT_EMAIL \"support") {
            Some(k) => {
                let at = k + "var SUPPORT_EMAIL \"support".len();
                let end = at + s[at..].find('@').ok_or("no @ in SUPPORT_EMAIL")?;
                format!("{}-{i}{}", &s[..at], &s[end..])
            }
            None => return Err("the corpus tenant has no SUPPORT_EMAIL var".into()),
        };
        std::fs::write(&victim, edited).map_err(|e| e.to_string())?;
        let (ms, err) = time_build(&bin, &root, &out)?;
        if !err.contains("4 written") {
            return Err(format!("expected 3 configs + the registry written: {err}"));
        }
        changed.push(ms);
    }
    println!(
        "{}\t{:.0}\t{:.0}\t{:.0}\t{:.1}\t{:.1}",
        configs,
        median(cold),
        median(nochange),
        median(changed),
        children_peak_rss_mib(),
        dir_size(&out) as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}
