//! The `tenants` command-line tool. Exit codes: 0 success, 1 invalid input or
//! stale output, 2 usage or I/O error (`ingest` has its own: see its `--help`).

/// The CLI allocates many small strings on every core (10,000 tenant files
/// checked in parallel): mimalloc's per-thread heaps keep that fast and
/// compact where the system allocator's arenas grow by `mprotect` calls.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` (mimalloc.h; not among libmimalloc-sys's named
/// constants): how long freed memory stays committed before it goes back to
/// the OS, in milliseconds. A check frees most of what it allocates (each
/// file's tree and raw model) as it goes; 3 ms instead of the default 10
/// keeps the peak resident size near what is live (10,000 tenants: ~66 MiB
/// instead of ~75) at the same speed, where 0 (purge at once) costs ~8 %
/// more time in page faults (measured, docs/benchmarks.md).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod audit_cmd;
mod changed;
mod deploy_cmd;
mod ingest_cmd;
mod keys_cmd;
mod metrics_cmd;
use tenants_compiler::emit::{artifacts, schema};
use tenants_compiler::ops::{diff, generate};
use tenants_compiler::{compile, diag};

#[derive(Parser)]
#[command(
    name = "tenants",
    version,
    about = "Compile tenant files (KDL, JSON, JSONC) into validated config for a multi-tenant Cloudflare Worker",
    after_help = "Exit codes: 0 valid (or schemas fresh); 1 invalid input, stale schemas, or warnings with --deny-warnings; 2 usage or I/O error (missing directory, missing or duplicate platform/accounts file, unreadable file).\nDocs: docs/tenant-format.md, docs/diagnostics.md"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum OutputFormat {
    Human,
    Json,
    Github,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum NewFormat {
    Kdl,
    Jsonc,
}

#[derive(Subcommand)]
enum AddCommand {
    /// Add a binding (kv, durable-object, vectorize, ai, analytics-engine, queue) to the platform file.
    #[command(
        after_help = "Each tenant environment that needs a resource for it gets a TODO placeholder (kv: id, vectorize: index, analytics-engine without --dataset: dataset, queue: name); a durable object also gets a class skeleton in runtime/src/objects/. The files' comments and formatting are kept.\nExit codes: 0 added; 2 usage error (unknown kind, name taken, missing --class/--dimensions) or I/O error."
    )]
    Binding {
        /// kv | durable-object | vectorize | ai | analytics-engine | queue
        kind: String,
        /// The binding name, e.g. SEARCH_CACHE.
        name: String,
        /// durable-object: the class name.
        #[arg(long)]
        class: Option<String>,
        /// vectorize: vector dimensions.
        #[arg(long)]
        dimensions: Option<u32>,
        /// vectorize: cosine (default), euclidean or dot-product.
        #[arg(long)]
        metric: Option<String>,
        /// analytics-engine: the default dataset.
        #[arg(long)]
        dataset: Option<String>,
        /// The tenants directory.
        #[arg(long, default_value = "tenants")]
        root: PathBuf,
    },
    /// Add an environment to the platform file and an environment block with placeholders to every tenant.
    Env {
        /// The environment name, e.g. qa.
        name: String,
        /// `dev-only` header resolution applies here.
        #[arg(long)]
        development: bool,
        /// Deploy to workers.dev too.
        #[arg(long)]
        workers_dev: bool,
        /// The tenants directory.
        #[arg(long, default_value = "tenants")]
        root: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum DiffFormat {
    Human,
    Json,
    Markdown,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the platform file, the accounts file and every tenant; print all diagnostics.
    #[command(
        after_help = "PATH is the tenants directory (as --root), or files of one tenants directory: every file there is checked, and a conflict between two files (a host, a shared resource, a duplicate id) is reported at the file named. --changed-since REV does the same for the files git says changed since REV. In --format github each file of such a conflict gets an annotation either way.\nExit codes: 0 valid; 1 invalid, or warnings with --deny-warnings; 2 usage or I/O error.\nDocs: docs/diagnostics.md"
    )]
    Check {
        /// The tenants directory, as `--root` (`tenants check tenants/`), or files in it to blame conflicts on (`tenants check tenants/acme.kdl`).
        #[arg(value_name = "PATH", conflicts_with = "root")]
        paths: Vec<PathBuf>,
        /// The tenants directory.
        #[arg(long, default_value = "tenants")]
        root: PathBuf,
        /// Output format: human (terminal), json (one object), github (workflow annotations).
        #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
        format: OutputFormat,
        /// Treat warnings as errors (exit 1 on any warning).
        #[arg(long)]
        deny_warnings: bool,
        /// Apply the certain repairs (a quoted number, a misspelled key with one close match, …) to the files in place, keeping comments and formatting; then report what is left.
        #[arg(long)]
        fix: bool,
        /// Blame conflicts between files on the files changed since this git revision (e.g. origin/main in a pull request).
        #[arg(long, value_name = "REV")]
        changed_since: Option<String>,
    },
    /// Validate, then write one wrangler config per tenant and environment and the tenant registry.
    #[command(
        after_help = "Output: OUT/<env>/<tenant>.wrangler.jsonc and OUT/registry.json. Unchanged files are not rewritten; configs of removed tenants or environments are deleted. A rerun with no input change is skipped by content hash.\nExit codes: 0 built (or fresh with --check); 1 invalid tenants, or stale output with --check; 2 usage or I/O error (unknown --tenant/--env included).\nDocs: docs/artifacts.md"
    )]
    Build {
        /// The tenants directory, as `--root` (`tenants build tenants/`).
        #[arg(value_name = "PATH", conflicts_with = "root")]
        path: Option<PathBuf>,
        /// The tenants directory.
        #[arg(long, default_value = "tenants")]
        root: PathBuf,
        /// Output directory.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Only this environment.
        #[arg(long)]
        env: Option<String>,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Write nothing; exit 1 if the output directory differs from what would be written.
        #[arg(long)]
        check: bool,
        /// The Worker bundle the configs' `main` points at [default: <root>/../runtime/build/index.js].
        #[arg(long)]
        main: Option<PathBuf>,
        /// Wrangler's config schema the configs' `$schema` points at [default: <root>/../node_modules/wrangler/config-schema.json].
        #[arg(long)]
        wrangler_schema: Option<PathBuf>,
        /// How to print diagnostics when the tenants are invalid.
        #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
        format: OutputFormat,
    },
    /// Show what a change to tenant files does to the generated wrangler configs, per tenant and environment.
    #[command(
        after_help = "--against takes a git revision (default HEAD: the uncommitted changes), a directory of tenant files, or the output directory of an earlier `tenants build` (it has a registry.json).\nExit codes: 0 diff printed (with or without changes; 1 with --exit-code when there are changes); 1 the current tenants are invalid; 2 usage, git or I/O error, or an invalid base.\nDocs: docs/artifacts.md"
    )]
    Diff {
        /// The tenants directory.
        #[arg(long, default_value = "tenants")]
        root: PathBuf,
        /// What to compare against: GIT_REF or DIR.
        #[arg(long, default_value = "HEAD")]
        against: String,
        /// Output format: human, json, or markdown (a PR comment).
        #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
        format: DiffFormat,
        /// Only this environment.
        #[arg(long)]
        env: Option<String>,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Exit 1 when any config changes (like `git diff --exit-code`).
        #[arg(long)]
        exit_code: bool,
    },
    /// Deploy tenants to one environment with wrangler: validate everything, write the artifacts, then `wrangler deploy` per tenant.
    #[command(
        after_help = "Credentials: each wrangler child gets CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN of its tenant's account only (the token from the variable named by `token_env` in the accounts file); no token is printed. A non-development environment needs --yes, or a typed confirmation on a terminal.\nRecords: each successful deploy appends to state/deploys.jsonl (see `tenants status`).\nExit codes: 0 every tenant deployed (or dry-run ok); 1 invalid tenants (nothing deployed) or a tenant failed or was skipped; 2 usage or I/O error, missing Worker bundle, or no confirmation. Docs: docs/deploy.md"
    )]
    Deploy(deploy_cmd::Args),
    /// API keys for one tenant and environment: create (printed once, stored as a hash), list, revoke.
    #[command(
        subcommand,
        after_help = "Keys are written through wrangler into the tenant's own KV namespace (its `api-keys` binding): remotely with the tenant's own account credentials only, or with --local into local state (.wrangler/state, as `cargo xtask dev`). Revocation takes effect without a deploy.\nExit codes: 0 done; 1 invalid tenants, wrangler failed, or no such key; 2 usage error (unknown tenant or environment, API keys not accepted there, bad name or role). Docs: docs/auth.md"
    )]
    Keys(keys_cmd::KeysCommand),
    /// Send files and folders of documents to one tenant's Worker (POST /documents), in batches, with a progress bar and a summary.
    #[command(
        after_help = "Documents: each .md/.markdown (markdown), .txt (text), .html/.htm (html) file under the PATHs (folders recursively; dotfiles and other extensions are skipped, the latter counted). Its id is its path relative to the folder given (the file name for a file), without extension, `/` kept and any character outside [A-Za-z0-9._:/-] replaced by `-` (at most 128); ingesting an id again replaces it. The title is left to the Worker (first heading or <title>).\nBatches: at most 20 documents and 400,000 characters each (the Worker's inline limits); a larger file is reported and not sent.\nWhere: --url (with a `host` header naming the tenant), else https://<the tenant's first host in ENV>.\nCredentials: the API key in $TENANTS_API_KEY (or --api-key-env VAR), or --dev-user ID on a development environment that accepts development users.\nExit codes: 0 every document ingested (or dry run clean); 1 some documents failed (each listed with its error); 2 usage or config error (unknown tenant or environment, invalid tenant files, no credentials, no such PATH, nothing to ingest); 3 the Worker could not be reached or refused a whole batch (its code, message and request id are printed). Docs: docs/ingest.md"
    )]
    Ingest(ingest_cmd::Args),
    /// A tenant's tool audit log: `verify` recomputes its hash chain (from the Worker's GET /audit, or an export).
    #[command(
        subcommand,
        after_help = "Where: --url (with a `host` header naming the tenant), else https://<the tenant's first host in ENV>; or --file PATH, an export (JSON Lines, a JSON array, or a saved GET /audit answer).\nCredentials: an API key with the `admin` role in $TENANTS_API_KEY (or --api-key-env VAR), or --dev-user ID on a development environment that accepts development users.\nExit codes: 0 the chain is intact (or the log is empty); 1 the chain is broken (the first bad record and why are printed); 2 usage or I/O error (unknown tenant or environment, no credentials, unreadable export); 3 the Worker could not be reached or refused. Docs: docs/tools.md"
    )]
    Audit(audit_cmd::AuditCommand),
    /// Roll one tenant's Worker back to its previous recorded version (or --to VERSION) with `wrangler rollback`, and record it.
    #[command(
        after_help = "The previous version is the last recorded version before the current one in state/deploys.jsonl. Credentials as for deploy (the tenant's own account only).\nExit codes: 0 rolled back; 1 invalid tenants or wrangler failed; 2 usage error (unknown tenant or environment, no earlier version recorded, no confirmation). Docs: docs/deploy.md, docs/runbooks/deploy-and-rollback.md"
    )]
    Rollback(deploy_cmd::RollbackArgs),
    /// Requests, error rate, latency, time to first token, tokens, cost and cache hit rate per tenant and route, from Analytics Engine.
    #[command(
        after_help = "Queries the Analytics Engine SQL API of each tenant's account with that account's token (the variable named by `token_env` in the accounts file), on the dataset of the environment's analytics-engine binding; reads the Worker's data points (layout v1, docs/observability.md). Cost comes from the model cost table baked into the Worker (compiler/data/workers-ai-pricing.json). 429 and 5xx are retried with backoff.\nExit codes: 0 printed; 1 invalid tenants; 2 usage error, a missing token variable, a tenant without a dataset, or an API error. Docs: docs/observability.md"
    )]
    Metrics(metrics_cmd::MetricsArgs),
    /// Compare the generated configs of an environment with what the Cloudflare API says is deployed.
    #[command(
        after_help = "Reads each tenant's Worker settings (bindings, vars, compatibility date and flags), custom domains and routes with its own account's token (the variable named by `token_env`). 429 and 5xx are retried with backoff.\nExit codes: 0 no drift; 1 drift; 2 usage error, a missing token variable, or an API error. Docs: docs/deploy.md"
    )]
    Drift {
        /// The environment.
        #[arg(long)]
        env: String,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// The tenants directory.
        #[arg(long, default_value = "tenants")]
        root: PathBuf,
        /// Output: human, json, or markdown (a PR comment).
        #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
        format: DiffFormat,
        /// The Cloudflare API base URL.
        #[arg(long, env = "CLOUDFLARE_API_BASE_URL", default_value = "https://api.cloudflare.com/client/v4")]
        api_base: String,
    },
    /// What is deployed where, from state/deploys.jsonl, and which tenants changed since.
    Status {
        /// The tenants directory.
        #[arg(long, default_value = "tenants")]
        root: PathBuf,
        /// Only this environment.
        #[arg(long)]
        env: Option<String>,
        /// Output: human or json.
        #[arg(long, value_enum, default_value_t = deploy_cmd::DeployFormat::Human)]
        format: deploy_cmd::DeployFormat,
    },
    /// Start a new repository: tenants/platform.kdl, tenants/accounts.jsonc, an example tenant, schemas/.
    Init {
        /// The repository directory (created if missing).
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Create a tenant file with every required field and a TODO placeholder per host and resource.
    #[command(
        after_help = "Placeholders (\"TODO: …\") are reported by `tenants check` as tenant::placeholder until filled in.\nExit codes: 0 created; 2 usage error (invalid or existing id, unknown --from/--account) or I/O error. Docs: docs/generators.md"
    )]
    New {
        /// The new tenant's id (also its file name).
        id: String,
        /// The tenants directory.
        #[arg(long, default_value = "tenants")]
        root: PathBuf,
        /// File format of the new tenant.
        #[arg(long, value_enum, default_value_t = NewFormat::Kdl)]
        format: NewFormat,
        /// Copy every setting (models, limits, tools, TTS, safety, secrets, vars) from this tenant.
        #[arg(long)]
        from: Option<String>,
        /// Display name [default: the id].
        #[arg(long)]
        name: Option<String>,
        /// Account key from the accounts file [default: the --from tenant's, or the only account].
        #[arg(long)]
        account: Option<String>,
    },
    /// Add a binding or an environment to the platform file (and placeholders to every tenant).
    Add {
        #[command(subcommand)]
        what: AddCommand,
    },
    /// Write the JSON Schemas for tenant, platform and accounts files.
    Schema {
        /// Output directory.
        #[arg(long, default_value = "schemas")]
        out: PathBuf,
        /// Write nothing; exit 1 if the files in --out differ from what would be written.
        #[arg(long)]
        check: bool,
    },
}

/// Compile `root`; on a load error print it (in the machine formats too) and
/// return exit code 2.
fn load(root: &std::path::Path, format: OutputFormat) -> Result<tenants_compiler::Compilation, ExitCode> {
    load_with(root, format, compile)
}

/// [`load`] through `compile` or [`tenants_compiler::check_only`].
fn load_with(
    root: &std::path::Path,
    format: OutputFormat,
    compile: fn(&std::path::Path) -> Result<tenants_compiler::Compilation, tenants_compiler::LoadError>,
) -> Result<tenants_compiler::Compilation, ExitCode> {
    match compile(root) {
        Ok(c) => Ok(c),
        Err(e) => {
            // Machine formats still get something to parse.
            match format {
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::json!({ "error": { "message": e.to_string() }, "diagnostics": [] })
                ),
                OutputFormat::Github => println!(
                    "::error title=tenants%3A%3Aload::{}",
                    e.to_string().replace('%', "%25").replace('\n', "%0A")
                ),
                OutputFormat::Human => {}
            }
            eprintln!("error: {e}");
            Err(ExitCode::from(2))
        }
    }
}

/// Print the diagnostics of a compilation; the exit code they mean.
/// `always`: print the summary even when there is nothing to report.
fn report(comp: &tenants_compiler::Compilation, format: OutputFormat, deny_warnings: bool, always: bool) -> ExitCode {
    let items = &comp.diagnostics.items;
    let mut summary = comp.summary();
    // With --deny-warnings a warning fails the run: say so in every format.
    summary.valid = summary.errors == 0 && !(deny_warnings && summary.warnings > 0);
    if always || !items.is_empty() {
        match format {
            OutputFormat::Json => print!("{}", diag::render_json(&comp.sources, items, &summary)),
            OutputFormat::Github => print!("{}", diag::render_github(&comp.sources, items)),
            OutputFormat::Human => {
                let color = std::io::stderr().is_terminal();
                eprint!("{}", diag::render_human(&comp.sources, items, color));
                eprintln!(
                    "{}: {} files, {} tenants, {} error(s), {} warning(s)",
                    if summary.valid { "ok" } else { "invalid" },
                    summary.files,
                    summary.tenants,
                    summary.errors,
                    summary.warnings
                );
            }
        }
    }
    if comp.has_io_errors() {
        ExitCode::from(2)
    } else if !summary.valid {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[allow(clippy::too_many_arguments)]
fn build(
    root: PathBuf,
    out: PathBuf,
    env: Option<String>,
    tenant: Option<String>,
    check: bool,
    main: Option<PathBuf>,
    wrangler_schema: Option<PathBuf>,
    format: OutputFormat,
) -> ExitCode {
    let mut opts = artifacts::Options::new(root.clone(), out.clone());
    opts.env = env;
    opts.tenant = tenant;
    if let Some(m) = main {
        opts.main = m;
    }
    if let Some(s) = wrangler_schema {
        opts.schema = s;
    }
    let start = std::time::Instant::now();
    let inputs = artifacts::hash_inputs(&opts);
    if !check && artifacts::up_to_date(&opts, &inputs) {
        eprintln!(
            "up to date: {} (no tenant file changed; {:.0} ms)",
            out.display(),
            start.elapsed().as_secs_f64() * 1000.0
        );
        return ExitCode::SUCCESS;
    }
    // `TENANTS_TIMINGS=1` prints where a build's time goes (docs/benchmarks.md).
    let timings = std::env::var_os("TENANTS_TIMINGS").is_some();
    let phase = |what: &str, t: std::time::Instant| {
        if timings {
            eprintln!("timing: {what} {:.0} ms", t.elapsed().as_secs_f64() * 1000.0);
        }
    };
    phase("fast-path check", start);
    let t = std::time::Instant::now();
    let comp = match load(&root, format) {
        Ok(c) => c,
        Err(code) => return code,
    };
    phase("compile", t);
    let code = report(&comp, format, false, false);
    if code != ExitCode::SUCCESS {
        eprintln!("nothing was written to {}", out.display());
        return code;
    }
    let t = std::time::Instant::now();
    let plan = match artifacts::plan(&comp, &opts) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if check {
        let drift = artifacts::check(&plan, &out);
        if drift.is_empty() {
            eprintln!("{} is up to date ({} files)", out.display(), plan.outputs.len());
            return ExitCode::SUCCESS;
        }
        for d in drift.iter().take(50) {
            eprintln!("{d}");
        }
        if drift.len() > 50 {
            eprintln!("... and {} more", drift.len() - 50);
        }
        eprintln!(
            "{} is stale: run `tenants build --root {} --out {}` and commit or redeploy the result",
            out.display(),
            root.display(),
            out.display()
        );
        return ExitCode::from(1);
    }
    phase("plan", t);
    let t = std::time::Instant::now();
    let written = match artifacts::write(&plan, &out) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: writing {}: {e}", out.display());
            return ExitCode::from(2);
        }
    };
    phase("write", t);
    let t = std::time::Instant::now();
    if let Err(e) = artifacts::record(&opts, &plan, &inputs) {
        eprintln!("warning: cannot record the build cache: {e}");
    }
    phase("record", t);
    // The process ends here: skip freeing the model piece by piece.
    std::mem::forget(comp);
    eprint!("{}", artifacts::summary_table(&plan, Some(&written)));
    for d in &written.deleted {
        eprintln!("deleted (stale): {}", out.join(d).display());
    }
    eprintln!(
        "built {} config(s) for {} tenant(s) into {}: {} written, {} unchanged, {} deleted ({:.0} ms)",
        plan.rows.len(),
        plan.rows
            .iter()
            .map(|r| r.tenant.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        out.display(),
        written.written.len(),
        written.unchanged,
        written.deleted.len(),
        start.elapsed().as_secs_f64() * 1000.0
    );
    ExitCode::SUCCESS
}

fn diff_cmd(root: PathBuf, against: String, format: DiffFormat, env: Option<String>, tenant: Option<String>, exit_code: bool) -> ExitCode {
    let fmt = match format {
        DiffFormat::Json => OutputFormat::Json,
        _ => OutputFormat::Human,
    };
    let comp = match load(&root, fmt) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let code = report(&comp, fmt, false, false);
    if code != ExitCode::SUCCESS {
        return code;
    }
    let mut opts = artifacts::Options::new(root.clone(), "out");
    opts.env = env;
    opts.tenant = tenant;
    let result = diff::planned_configs(&comp, &opts)
        .and_then(|after| diff::before_configs(&diff::Against::parse(&against), &opts).map(|before| (before, after)));
    let (before, after) = match result {
        Ok(x) => x,
        Err(e) => {
            if format == DiffFormat::Json {
                println!("{}", serde_json::json!({ "error": { "message": e.to_string() } }));
            }
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let d = diff::diff(against, &before, &after);
    match format {
        DiffFormat::Human => print!("{}", diff::render_human(&d)),
        DiffFormat::Markdown => print!("{}", diff::render_markdown(&d)),
        DiffFormat::Json => println!("{}", serde_json::to_string_pretty(&d).expect("a diff serialises")),
    }
    if exit_code && !d.configs.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Print what a generator did; exit 0, or 2 with the reason.
fn gen_report(r: Result<generate::Outcome, generate::GenError>) -> ExitCode {
    match r {
        Ok(o) => {
            for p in &o.created {
                eprintln!("created {}", p.display());
            }
            for p in &o.edited {
                eprintln!("edited  {}", p.display());
            }
            if o.todo.is_empty() {
                eprintln!("nothing left to fill in: `tenants check` passes");
            } else {
                eprintln!("\nto fill in ({}), then run `tenants check`:", o.todo.len());
                for t in &o.todo {
                    eprintln!("  {t}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `tenants check`: every diagnostic of the tenants directory, conflicts
/// blamed on the changed files when any are known.
fn check(paths: &[PathBuf], root: &std::path::Path, format: OutputFormat, deny_warnings: bool, fix: bool, since: Option<&str>) -> ExitCode {
    let target = match changed::target(paths, root) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let root = target.root.as_path();
    let mut blamed = target.named;
    if let Some(rev) = since {
        match changed::since(root, rev) {
            Ok(files) => blamed.extend(files),
            Err(e) => {
                eprintln!("error: --changed-since {rev}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    // The check needs the diagnostics only, not the resolved model.
    let mut comp = match load_with(root, format, tenants_compiler::check_only) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if fix {
        comp = match apply_fixes(root, format, comp) {
            Ok(c) => c,
            Err(code) => return code,
        };
    }
    if !blamed.is_empty() {
        let changed: Vec<bool> = comp
            .sources
            .files()
            .iter()
            .map(|f| f.path.canonicalize().is_ok_and(|p| blamed.contains(&p)))
            .collect();
        diag::blame_changed(&mut comp.diagnostics.items, |id| {
            changed.get(id.0 as usize).copied().unwrap_or(false)
        });
        comp.diagnostics.sort();
    }
    let code = report(&comp, format, deny_warnings, true);
    // The process ends here: freeing 10,000 tenants' sources and
    // models one by one costs ~100 ms and returns nothing to anyone.
    std::mem::forget(comp);
    code
}

/// `tenants check --fix`: apply the certain repairs, re-check, repeat while
/// a pass still fixes something (at most 5 passes: one fix can uncover
/// another); the compilation of the files as they are now.
fn apply_fixes(
    root: &std::path::Path,
    format: OutputFormat,
    mut comp: tenants_compiler::Compilation,
) -> Result<tenants_compiler::Compilation, ExitCode> {
    let mut total = 0;
    let mut files = std::collections::BTreeMap::new();
    for _ in 0..5 {
        let applied = match tenants_compiler::ops::fix::apply(&comp.sources, &comp.diagnostics.items) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("error: cannot apply fixes: {e}");
                return Err(ExitCode::from(2));
            }
        };
        if applied.fixes == 0 {
            break;
        }
        total += applied.fixes;
        for (path, n) in applied.files {
            *files.entry(path).or_insert(0) += n;
        }
        comp = load_with(root, format, tenants_compiler::check_only)?;
    }
    if total > 0 {
        let list: Vec<String> = files.iter().map(|(p, n)| format!("{} ({n})", p.display())).collect();
        eprintln!("fixed {total} problem(s) in {} file(s): {}", files.len(), list.join(", "));
    } else {
        eprintln!("no certain fix to apply");
    }
    Ok(comp)
}

fn main() -> ExitCode {
    // SAFETY: sets a process-wide allocator option; mimalloc reads options
    // on each purge, so setting it while allocating is allowed.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 3) };
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Check {
            paths,
            root,
            format,
            deny_warnings,
            fix,
            changed_since,
        } => check(&paths, &root, format, deny_warnings, fix, changed_since.as_deref()),
        Command::Build {
            path,
            root,
            out,
            env,
            tenant,
            check,
            main,
            wrangler_schema,
            format,
        } => build(path.unwrap_or(root), out, env, tenant, check, main, wrangler_schema, format),
        Command::Init { dir } => gen_report(generate::init(&dir)),
        Command::Deploy(args) => deploy_cmd::deploy(args),
        Command::Keys(cmd) => keys_cmd::keys(cmd),
        Command::Ingest(args) => ingest_cmd::ingest(args),
        Command::Audit(cmd) => audit_cmd::audit(cmd),
        Command::Rollback(args) => deploy_cmd::rollback(args),
        Command::Metrics(args) => metrics_cmd::metrics(args),
        Command::Drift {
            env,
            tenant,
            root,
            format,
            api_base,
        } => deploy_cmd::drift(
            &root,
            &env,
            tenant.as_deref(),
            &api_base,
            match format {
                DiffFormat::Human => "human",
                DiffFormat::Json => "json",
                DiffFormat::Markdown => "markdown",
            },
        ),
        Command::Status { root, env, format } => deploy_cmd::status(&root, env.as_deref(), format == deploy_cmd::DeployFormat::Json),
        Command::New {
            id,
            root,
            format,
            from,
            name,
            account,
        } => {
            let f = match format {
                NewFormat::Kdl => generate::FileFormat::Kdl,
                NewFormat::Jsonc => generate::FileFormat::Jsonc,
            };
            gen_report(generate::new_tenant(
                &root,
                &id,
                f,
                from.as_deref(),
                name.as_deref(),
                account.as_deref(),
            ))
        }
        Command::Add { what } => match what {
            AddCommand::Binding {
                kind,
                name,
                class,
                dimensions,
                metric,
                dataset,
                root,
            } => gen_report(generate::add_binding(
                &root,
                generate::BindingSpec {
                    kind,
                    name,
                    class,
                    dimensions,
                    metric,
                    dataset,
                },
            )),
            AddCommand::Env {
                name,
                development,
                workers_dev,
                root,
            } => gen_report(generate::add_env(&root, &name, development, workers_dev)),
        },
        Command::Diff {
            root,
            against,
            format,
            env,
            tenant,
            exit_code,
        } => diff_cmd(root, against, format, env, tenant, exit_code),
        Command::Schema { out, check } => schema_cmd(&out, check),
    }
}

/// `tenants schema`: write the JSON Schemas, or with `--check` say which are stale.
fn schema_cmd(out: &std::path::Path, check: bool) -> ExitCode {
    let files = schema::render_all();
    if check {
        let stale = schema::stale_files(out, &files);
        if stale.is_empty() {
            eprintln!("schemas in {} are up to date", out.display());
            ExitCode::SUCCESS
        } else {
            for s in &stale {
                eprintln!("stale: {}", s);
            }
            eprintln!(
                "run `cargo run --bin tenants -- schema --out {}` and commit the result",
                out.display()
            );
            ExitCode::from(1)
        }
    } else {
        match schema::write_all(out, &files) {
            Ok(n) => {
                eprintln!("wrote {n} schema(s) to {}", out.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        }
    }
}
