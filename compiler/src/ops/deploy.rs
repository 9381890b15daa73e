//! Deployment: `tenants deploy` (see docs/deploy.md).
//!
//! The CLI validates every tenant and writes the artifacts first (any error:
//! nothing is deployed); this module turns the build's registry into one
//! [`Job`] per tenant and environment and runs `wrangler deploy` for each,
//! with bounded concurrency overall and per account.
//!
//! Invariants:
//!
//! - a wrangler child gets exactly its own account's `CLOUDFLARE_ACCOUNT_ID`
//!   and `CLOUDFLARE_API_TOKEN`: every account's token variable, and any
//!   inherited `CLOUDFLARE_*` credential, is removed from its environment
//!   first; a missing token variable fails that job before it starts, naming
//!   the variable, never a value;
//! - no token value reaches the output: everything wrangler prints is masked
//!   ([`mask`]) before it is stored in an [`Outcome`];
//! - without `continue_on_error`, the first failure stops new jobs (running
//!   ones finish) and the rest are `skipped`; a stop request (Ctrl-C) does
//!   the same; every job ends with exactly one outcome.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::emit::artifacts::Registry;
use crate::resolved::Model;

/// One deployment: a tenant in an environment.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub tenant: String,
    pub env: String,
    /// The accounts-registry key.
    pub account: String,
    pub account_id: String,
    /// The environment variable holding the account's API token.
    pub token_env: String,
    /// The Worker script name.
    pub script: String,
    /// The generated wrangler config.
    pub config: PathBuf,
    pub config_sha256: String,
    /// The tenant file's hash (its static config is baked into the Worker).
    pub source_sha256: String,
    pub hosts: Vec<String>,
}

/// What happened to one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    pub tenant: String,
    pub env: String,
    pub account: String,
    pub script: String,
    pub status: Status,
    pub duration_ms: u64,
    /// The version wrangler reported (`Current Version ID: …`).
    pub version_id: Option<String>,
    /// Why it failed or was skipped (masked).
    pub error: Option<String>,
    /// The last lines wrangler printed (masked).
    pub output_tail: Option<String>,
    /// wrangler's `[WARNING]` lines (masked).
    #[serde(default)]
    pub warnings: Vec<String>,
    pub config_sha256: String,
    pub source_sha256: String,
}

/// How to run wrangler.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The program and its leading arguments (`node wrangler.js`, or a stand-in).
    pub program: Vec<OsString>,
    /// Extra environment for every child (PATH with Node 22, …).
    pub env: Vec<(OsString, OsString)>,
}

#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub dry_run: bool,
    /// For a dry run: where each job's bundle goes (`<outdir>/<env>/<tenant>`).
    pub outdir: PathBuf,
    pub concurrency: usize,
    pub per_account: usize,
    pub continue_on_error: bool,
    /// Every account's token variable (all are removed from each child).
    pub token_vars: Vec<String>,
    /// A job that runs longer is killed and fails.
    pub timeout: Duration,
}

/// A progress event, for the live display.
#[derive(Debug, Clone)]
pub enum Event {
    Started { tenant: String, env: String },
    Finished(Box<Outcome>),
}

/// The jobs of `env` for `tenants` (all when empty), from a build's registry.
pub fn jobs(model: &Model, registry: &Registry, out: &Path, env: &str, tenants: &[String]) -> Result<Vec<Job>, String> {
    if !model.platform.environments.iter().any(|e| e.name == env) {
        let names: Vec<&str> = model.platform.environments.iter().map(|e| e.name.as_str()).collect();
        return Err(format!("unknown environment `{env}` (the platform has: {})", names.join(", ")));
    }
    for t in tenants {
        if !registry.tenants.iter().any(|r| &r.id == t) {
            return Err(format!("unknown tenant `{t}`"));
        }
    }
    let mut jobs = Vec::new();
    for t in &registry.tenants {
        if !tenants.is_empty() && !tenants.contains(&t.id) {
            continue;
        }
        let Some(e) = t.environments.iter().find(|e| e.name == env) else {
            if tenants.contains(&t.id) {
                return Err(format!("tenant `{}` has no `{env}` environment", t.id));
            }
            continue;
        };
        let account = model
            .accounts
            .iter()
            .find(|a| a.key == t.account)
            .ok_or_else(|| format!("tenant `{}`: unknown account `{}`", t.id, t.account))?;
        jobs.push(Job {
            tenant: t.id.clone(),
            env: env.to_string(),
            account: t.account.clone(),
            account_id: t.account_id.clone(),
            token_env: account.token_env.clone(),
            script: e.script.clone(),
            config: out.join(&e.config.path),
            config_sha256: e.config.sha256.clone(),
            source_sha256: t.source.sha256.clone(),
            hosts: e.hosts.clone(),
        });
    }
    Ok(jobs)
}

/// Replace every secret (8 characters or more, as given and trimmed) in
/// `text` with `***`, longest first, so a secret that is a prefix of
/// another cannot leave the other's tail visible.
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut all: Vec<&str> = secrets
        .iter()
        .flat_map(|x| [x.as_str(), x.trim()])
        .filter(|x| x.len() >= 8)
        .collect();
    all.sort_by_key(|x| std::cmp::Reverse(x.len()));
    all.dedup();
    let mut s = text.to_string();
    for secret in all {
        if s.contains(secret) {
            s = s.replace(secret, "***");
        }
    }
    s
}

/// The version id in wrangler deploy's output (`Current Version ID: <id>`).
pub fn parse_version_id(output: &str) -> Option<String> {
    output.lines().find_map(|l| {
        let i = l.find("Version ID:")?;
        let id = l[i + "Version ID:".len()..].trim();
        (!id.is_empty()).then(|| id.split_whitespace().next().unwrap_or(id).to_string())
    })
}

fn tail(text: &str, lines: usize) -> String {
    let v: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// The error excerpt: wrangler's `✘ [ERROR]` line if there is one, else the last line.
fn excerpt(text: &str) -> String {
    text.lines()
        .find(|l| l.contains("[ERROR]"))
        .or_else(|| text.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("")
        .trim()
        .chars()
        .take(300)
        .collect()
}

struct Sched {
    taken: Vec<bool>,
    running: usize,
    per_account: HashMap<String, usize>,
    stop: bool,
}

/// Run every job; returns one outcome per job, in job order.
pub fn run(
    jobs: &[Job],
    runner: &Runner,
    opts: &DeployOptions,
    interrupted: &AtomicBool,
    progress: &(dyn Fn(Event) + Sync),
) -> Vec<Outcome> {
    let secrets: Vec<String> = opts.token_vars.iter().filter_map(|v| std::env::var(v).ok()).collect();
    let state = Arc::new((
        Mutex::new(Sched {
            taken: vec![false; jobs.len()],
            running: 0,
            per_account: HashMap::new(),
            stop: false,
        }),
        Condvar::new(),
    ));
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; jobs.len()]);
    let workers = opts.concurrency.max(1).min(jobs.len().max(1));
    let per_account = opts.per_account.max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                // Take the first job (in order) whose account has room.
                let picked = {
                    let (lock, cv) = &*state;
                    let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
                    loop {
                        if interrupted.load(Ordering::SeqCst) {
                            s.stop = true;
                        }
                        if s.stop || s.taken.iter().all(|t| *t) {
                            break None;
                        }
                        let free = (0..jobs.len())
                            .find(|&i| !s.taken[i] && s.per_account.get(&jobs[i].account_id).copied().unwrap_or(0) < per_account);
                        if let Some(i) = free {
                            s.taken[i] = true;
                            s.running += 1;
                            *s.per_account.entry(jobs[i].account_id.clone()).or_insert(0) += 1;
                            break Some(i);
                        }
                        // Every remaining job's account is at its limit: wait for one to
                        // finish; wake up now and then to see Ctrl-C.
                        s = cv
                            .wait_timeout(s, Duration::from_millis(100))
                            .map(|r| r.0)
                            .unwrap_or_else(|p| p.into_inner().0);
                    }
                };
                let Some(i) = picked else { break };
                let job = &jobs[i];
                // Whatever happens in the job or the progress display, the job gets
                // an outcome and its account slot is released below.
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    progress(Event::Started {
                        tenant: job.tenant.clone(),
                        env: job.env.clone(),
                    });
                    let o = run_one(job, runner, opts, &secrets);
                    progress(Event::Finished(Box::new(o.clone())));
                    o
                }))
                .unwrap_or_else(|_| {
                    let mut o = skipped(job, "internal error while deploying this tenant");
                    o.status = Status::Failed;
                    o
                });
                let failed = outcome.status == Status::Failed;
                results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(outcome);
                let (lock, cv) = &*state;
                let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
                s.running -= 1;
                if let Some(n) = s.per_account.get_mut(&job.account_id) {
                    *n -= 1;
                }
                if failed && !opts.continue_on_error {
                    s.stop = true;
                }
                cv.notify_all();
            });
        }
    });
    let reason = if interrupted.load(Ordering::SeqCst) {
        "not started: the run was interrupted"
    } else {
        "not started: an earlier deploy failed (use --continue-on-error to attempt every tenant)"
    };
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results
        .into_iter()
        .zip(jobs)
        .map(|(r, j)| {
            r.unwrap_or_else(|| {
                let o = skipped(j, reason);
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| progress(Event::Finished(Box::new(o.clone())))));
                o
            })
        })
        .collect()
}

fn skipped(j: &Job, why: &str) -> Outcome {
    Outcome {
        tenant: j.tenant.clone(),
        env: j.env.clone(),
        account: j.account.clone(),
        script: j.script.clone(),
        status: Status::Skipped,
        duration_ms: 0,
        version_id: None,
        error: Some(why.to_string()),
        output_tail: None,
        warnings: vec![],
        config_sha256: j.config_sha256.clone(),
        source_sha256: j.source_sha256.clone(),
    }
}

/// A wrangler command for `job` with exactly its own account's
/// credentials: `args` follow the runner's program; with `need_token`, the
/// account's token variable must be set (else an error naming it).
pub fn wrangler_command(job: &Job, runner: &Runner, token_vars: &[String], args: &[OsString], need_token: bool) -> Result<Command, String> {
    let (program, pre) = runner.program.split_first().ok_or("no wrangler program configured")?;
    let mut c = Command::new(program);
    c.args(pre);
    for (k, v) in &runner.env {
        c.env(k, v);
    }
    for v in token_vars {
        c.env_remove(v);
    }
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if k.starts_with("CLOUDFLARE_") || k.starts_with("CF_API_") {
            c.env_remove(&k);
        }
    }
    c.env("CLOUDFLARE_ACCOUNT_ID", &job.account_id);
    c.env("TENANTS_DEPLOY_TENANT", &job.tenant).env("TENANTS_DEPLOY_ENV", &job.env);
    c.env("WRANGLER_SEND_METRICS", "false");
    c.args(args);
    if need_token {
        let token = std::env::var(&job.token_env).map_err(|_| {
            format!(
                "environment variable `{}` (the API token of account `{}`) is not set; nothing was sent",
                job.token_env, job.account
            )
        })?;
        if token.trim().is_empty() {
            return Err(format!(
                "environment variable `{}` (account `{}`) is empty",
                job.token_env, job.account
            ));
        }
        c.env("CLOUDFLARE_API_TOKEN", token);
    }
    if let Some(dir) = job.config.parent() {
        c.current_dir(dir);
    }
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    Ok(c)
}

/// The `wrangler deploy` command for one job.
pub fn command(job: &Job, runner: &Runner, opts: &DeployOptions) -> Result<Command, String> {
    let mut args: Vec<OsString> = vec!["deploy".into(), "--config".into(), job.config.clone().into()];
    if opts.dry_run {
        args.extend([
            "--dry-run".into(),
            "--outdir".into(),
            opts.outdir.join(&job.env).join(&job.tenant).into(),
        ]);
    }
    wrangler_command(job, runner, &opts.token_vars, &args, !opts.dry_run)
}

/// Run `c` (stdout and stderr piped) in its own process group; `Ok((success,
/// output))`, or an error when it cannot start or runs past `timeout` (then
/// its whole process group is killed).
pub fn run_timed(mut c: Command, timeout: Duration) -> Result<(bool, String), String> {
    #[cfg(unix)]
    {
        // Its own process group: a Ctrl-C on the terminal stops scheduling,
        // not the deploys already running.
        use std::os::unix::process::CommandExt;
        c.process_group(0);
    }
    let mut child = c.spawn().map_err(|e| format!("cannot start wrangler: {e}"))?;
    let pid = child.id();
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    // Wait on a thread, so the job ends the moment wrangler exits and a
    // hung wrangler can still be stopped at the timeout.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        let _ = tx.send((child.wait(), s));
    });
    let left = timeout;
    match rx.recv_timeout(left) {
        Ok((status, stdout)) => {
            let text = format!("{stdout}{}", t_err.join().unwrap_or_default());
            match status {
                Ok(s) => Ok((s.success(), text)),
                Err(e) => Err(format!("cannot wait for wrangler: {e}")),
            }
        }
        Err(_) => {
            // Its process group: wrangler and whatever it started.
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
            Err(format!("wrangler did not finish within {} s and was stopped", timeout.as_secs()))
        }
    }
}

fn run_one(job: &Job, runner: &Runner, opts: &DeployOptions, secrets: &[String]) -> Outcome {
    let start = Instant::now();
    let mut o = skipped(job, "");
    o.error = None;
    let result: Result<(bool, String), String> = command(job, runner, opts).and_then(|c| run_timed(c, opts.timeout));
    o.duration_ms = start.elapsed().as_millis() as u64;
    match result {
        Ok((ok, text)) => {
            let text = mask(&text, secrets);
            o.output_tail = Some(tail(&text, 12));
            o.warnings = text
                .lines()
                .filter(|l| l.contains("[WARNING]"))
                .map(|l| l.trim().to_string())
                .collect();
            if ok {
                o.status = Status::Ok;
                o.version_id = parse_version_id(&text);
            } else {
                o.status = Status::Failed;
                o.error = Some(excerpt(&text));
            }
        }
        Err(e) => {
            o.status = Status::Failed;
            o.error = Some(mask(&e, secrets));
        }
    }
    o
}

/// The report written with `--report` and printed with `--format json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub env: String,
    pub dry_run: bool,
    pub ok: usize,
    pub failed: usize,
    pub skipped: usize,
    pub duration_ms: u64,
    pub results: Vec<Outcome>,
}

impl Report {
    pub fn new(env: &str, dry_run: bool, results: Vec<Outcome>, duration: Duration) -> Report {
        let n = |s: Status| results.iter().filter(|o| o.status == s).count();
        Report {
            env: env.to_string(),
            dry_run,
            ok: n(Status::Ok),
            failed: n(Status::Failed),
            skipped: n(Status::Skipped),
            duration_ms: duration.as_millis() as u64,
            results,
        }
    }

    /// The final table.
    pub fn table(&self) -> String {
        let mut rows = vec![["tenant", "env", "status", "duration", "version", "error"].map(String::from)];
        for o in &self.results {
            rows.push([
                o.tenant.clone(),
                o.env.clone(),
                o.status.as_str().to_string(),
                format!("{:.1}s", o.duration_ms as f64 / 1000.0),
                o.version_id.clone().unwrap_or_else(|| "-".into()),
                o.error.clone().unwrap_or_default().chars().take(100).collect(),
            ]);
        }
        let widths: Vec<usize> = (0..6)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        let mut s = String::new();
        for r in &rows {
            let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            s.push_str(line.join("  ").trim_end());
            s.push('\n');
        }
        s.push_str(&format!(
            "{}: {} ok, {} failed, {} skipped ({:.1} s)\n",
            if self.dry_run { "dry run" } else { "deploy" },
            self.ok,
            self.failed,
            self.skipped,
            self.duration_ms as f64 / 1000.0
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_hides_every_secret_and_ignores_short_ones() {
        let s = mask(
            "token abcdefgh1234 and zyxwvuts9876 and ab",
            &["abcdefgh1234".into(), "zyxwvuts9876".into(), "ab".into()],
        );
        assert_eq!(s, "token *** and *** and ab");
        // A prefix does not leave the longer secret's tail; a trailing newline in the variable still matches.
        let s = mask("x abcdefgh12345678 y", &["abcdefgh".into(), "abcdefgh12345678\n".into()]);
        assert_eq!(s, "x *** y");
    }

    #[test]
    fn version_id_is_read_from_wrangler_output() {
        let out = "Uploaded ai-platform-acme-dev (3.1 sec)\nDeployed ai-platform-acme-dev triggers (0.3 sec)\nCurrent Version ID: 0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b\n";
        assert_eq!(parse_version_id(out).as_deref(), Some("0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"));
        assert_eq!(parse_version_id("no version here"), None);
    }

    #[test]
    fn excerpt_prefers_the_error_line() {
        assert_eq!(excerpt("a\n✘ [ERROR] Authentication error\nmore"), "✘ [ERROR] Authentication error");
        assert_eq!(excerpt("a\nlast\n\n"), "last");
    }
}
