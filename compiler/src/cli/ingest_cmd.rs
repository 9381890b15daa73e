//! `tenants ingest`: send files and folders of documents to one tenant's
//! Worker (`POST /documents`) in batches it ingests in the request, with a
//! progress bar and a summary (docs/ingest.md). The walking, ids, batching
//! and HTTP are `tenants_compiler::ops::ingest`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tenants_compiler::ops::ingest::{self, group, BatchError, Client, Credentials, Doc, Item};

use crate::deploy_cmd::usage;
use crate::{load, report, OutputFormat};

#[derive(clap::Args)]
pub struct Args {
    /// Files and folders; folders are walked recursively for .md, .markdown, .txt, .html and .htm files.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The tenant.
    #[arg(long)]
    pub tenant: String,
    /// The environment.
    #[arg(long)]
    pub env: String,
    /// The Worker's address, e.g. http://127.0.0.1:8787 for `cargo xtask dev` [default: https://<the tenant's first host in ENV>].
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The `host` header sent with --url (the Worker finds the tenant by it) [default: the tenant's first non-wildcard host in ENV].
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Give each document a `url`: this joined with its path relative to the folder given, without extension.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The environment variable holding the API key (`tak_…`, or a JWT), sent as `authorization: Bearer`.
    #[arg(long, value_name = "VAR", default_value = "TENANTS_API_KEY")]
    pub api_key_env: String,
    /// Instead of a key, call as this development user with the tenant's ingest role (`x-user-id`, `x-user-roles`): only a development environment that accepts development users (auth `none`) takes it.
    #[arg(long, value_name = "ID", conflicts_with = "api_key_env")]
    pub dev_user: Option<String>,
    /// List what would be sent (id, format, characters, batch); send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The tenants directory.
    #[arg(long, default_value = "tenants")]
    pub root: PathBuf,
    /// Stop waiting for one batch after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
    /// Retries of a batch after a connection error, 429, 502, 503 or 504 (sending again is harmless: an id replaces its earlier version).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,
}

/// Where the requests go.
pub(crate) struct Target {
    /// The Worker's base URL.
    pub url: String,
    /// The `host` header, when it differs from the URL's host (--url).
    pub host_header: Option<String>,
    /// The role a development user is given: the tenant's `rag ingest-role`.
    pub ingest_role: String,
    /// The environment accepts development users.
    pub accepts_dev_users: bool,
}

fn http_url(u: &str) -> bool {
    let rest = u.strip_prefix("https://").or_else(|| u.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')) && !u.contains(char::is_whitespace)
}

/// A development user id the Worker accepts: 1–128 of `[A-Za-z0-9._@:-]`.
fn dev_user_ok(v: &str) -> bool {
    (1..=128).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric() || "._@:-".contains(c))
}

fn target(a: &Args) -> Result<Target, ExitCode> {
    target_for(&a.root, &a.tenant, &a.env, a.url.as_deref(), a.host.as_deref())
}

/// The Worker of `tenant` in `env`: `url` (else `https://` its first
/// non-wildcard host) and the `host` header to send with it.
pub(crate) fn target_for(
    root: &std::path::Path,
    tenant: &str,
    env: &str,
    url: Option<&str>,
    host: Option<&str>,
) -> Result<Target, ExitCode> {
    struct A<'a> {
        tenant: &'a str,
        env: &'a str,
        url: Option<String>,
        host: Option<String>,
    }
    let a = A {
        tenant,
        env,
        url: url.map(String::from),
        host: host.map(String::from),
    };
    let comp = load(root, OutputFormat::Human)?;
    if report(&comp, OutputFormat::Human, false, false) != ExitCode::SUCCESS {
        eprintln!("nothing was sent: fix the tenant files first");
        return Err(ExitCode::from(2));
    }
    let model = comp.model.as_ref().ok_or_else(|| usage("no model"))?;
    let tenant = model.tenants.iter().find(|t| t.id == a.tenant).ok_or_else(|| {
        let known: Vec<&str> = model.tenants.iter().map(|t| t.id.as_str()).collect();
        usage(format!("unknown tenant `{}` (known: {})", a.tenant, known.join(", ")))
    })?;
    let env = tenant.envs.iter().find(|e| e.name == a.env).ok_or_else(|| {
        let known: Vec<&str> = tenant.envs.iter().map(|e| e.name.as_str()).collect();
        usage(format!(
            "tenant `{}` has no `{}` environment (it has: {})",
            a.tenant,
            a.env,
            known.join(", ")
        ))
    })?;
    let host = a.host.clone().or_else(|| env.hosts.iter().find(|h| !h.contains('*')).cloned());
    let (url, host_header) = match (&a.url, host) {
        (Some(u), Some(h)) => (u.clone(), Some(h)),
        (None, Some(h)) => (format!("https://{h}"), None),
        (given, None) => {
            return Err(usage(format!(
                "every host of `{}` in `{}` is a wildcard ({}): {}",
                a.tenant,
                a.env,
                env.hosts.join(", "),
                if given.is_some() {
                    "pass --host NAME, a name it matches, for the `host` header"
                } else {
                    "pass --url URL (and --host NAME, a name it matches)"
                }
            )))
        }
    };
    Ok(Target {
        url: url.trim_end_matches('/').to_string(),
        host_header,
        ingest_role: tenant.rag.ingest_role.clone(),
        accepts_dev_users: env.auth.none,
    })
}

/// The credentials to send; `None` when there are none (fine for --dry-run).
fn credentials(a: &Args, t: &Target) -> Result<Option<Credentials>, ExitCode> {
    if let Some(id) = &a.dev_user {
        if !t.accepts_dev_users {
            return Err(usage(format!(
                "`{}` of `{}` does not accept development users (its auth has no `none`, which only a development environment may have): use an API key in ${} instead",
                a.env, a.tenant, a.api_key_env
            )));
        }
        return Ok(Some(Credentials::DevUser {
            id: id.clone(),
            roles: t.ingest_role.clone(),
        }));
    }
    Ok(std::env::var(&a.api_key_env)
        .ok()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .map(Credentials::Bearer))
}

pub fn ingest(a: Args) -> ExitCode {
    run(a).unwrap_or_else(|code| code)
}

/// A document that was not ingested: (id, path, why).
type Failed = (String, PathBuf, String);

fn run(a: Args) -> Result<ExitCode, ExitCode> {
    check_flags(&a)?;
    let t = target(&a)?;
    let creds = credentials(&a, &t)?;
    if creds.is_none() && !a.dry_run {
        return Err(usage(format!(
            "no credentials: set ${} to an API key of `{}` in `{}` (`tenants keys create --tenant {} --env {} --name NAME --roles {}`), or pass --dev-user ID for a development environment that accepts development users",
            a.api_key_env, a.tenant, a.env, a.tenant, a.env, t.ingest_role
        )));
    }

    let mut plan = collect(&a)?;
    let whom = format!(
        "{}/documents{} for {} ({})",
        t.url,
        t.host_header.as_ref().map(|h| format!(" (host {h})")).unwrap_or_default(),
        a.tenant,
        a.env
    );

    if a.dry_run {
        return Ok(dry_run(&a, &plan, creds.as_ref(), &whom));
    }

    let client = {
        let mut c = Client::new(
            &t.url,
            t.host_header.as_deref(),
            creds.expect("checked above"),
            Duration::from_secs(a.timeout.max(1)),
        );
        c.retries = a.retries;
        c
    };
    let sent = send_batches(&client, &mut plan);
    Ok(summary(&a, &plan, sent, &whom))
}

/// --url, --base-url and --dev-user are well formed.
fn check_flags(a: &Args) -> Result<(), ExitCode> {
    for (flag, v) in [("--url", &a.url), ("--base-url", &a.base_url)] {
        if let Some(u) = v {
            if !http_url(u) {
                return Err(usage(format!("{flag} must be an http:// or https:// URL, not `{u}`")));
            }
        }
    }
    if let Some(id) = &a.dev_user {
        if !dev_user_ok(id) {
            return Err(usage(format!("--dev-user `{id}`: 1-128 of letters, digits and `._@:-`")));
        }
    }
    Ok(())
}

/// The documents found and how they are batched.
struct Plan {
    /// Files skipped for their extension.
    skipped: usize,
    items: Vec<Item>,
    /// The items that can be sent (indexes into `items`).
    sendable: Vec<usize>,
    /// The batches of `sendable` (indexes into `items`).
    batches: Vec<Vec<usize>>,
    /// The documents not ingested, so far.
    failed: Vec<Failed>,
}

/// Walk the paths, prepare the documents and plan the batches.
fn collect(a: &Args) -> Result<Plan, ExitCode> {
    let walked = ingest::walk(&a.paths).map_err(usage)?;
    if walked.files.is_empty() {
        return Err(usage(format!(
            "nothing to ingest: no .md, .markdown, .txt, .html or .htm file in {} ({} other file(s) skipped)",
            a.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            walked.skipped.len()
        )));
    }
    let items = ingest::prepare(&walked.files, a.base_url.as_deref());
    let sendable: Vec<usize> = (0..items.len()).filter(|&i| items[i].doc.is_ok()).collect();
    let batches: Vec<Vec<usize>> = ingest::plan_batches(&sendable.iter().map(|&i| items[i].chars).collect::<Vec<_>>())
        .into_iter()
        .map(|b| b.into_iter().map(|j| sendable[j]).collect())
        .collect();
    let failed: Vec<Failed> = items
        .iter()
        .filter_map(|i| i.doc.as_ref().err().map(|e| (i.id.clone(), i.path.clone(), e.clone())))
        .collect();
    Ok(Plan {
        skipped: walked.skipped.len(),
        items,
        sendable,
        batches,
        failed,
    })
}

/// --dry-run: list what would be sent, and the credentials.
fn dry_run(a: &Args, p: &Plan, creds: Option<&Credentials>, whom: &str) -> ExitCode {
    let items = &p.items;
    println!(
        "would send {} document(s) in {} batch(es) to {whom}",
        p.sendable.len(),
        p.batches.len()
    );
    if !p.batches.is_empty() {
        println!(
            "{:>5}  {:<8}  {:>9}  id{}",
            "batch",
            "format",
            "chars",
            if a.base_url.is_some() { "  url" } else { "" }
        );
    }
    for (n, b) in p.batches.iter().enumerate() {
        for &i in b {
            let url = items[i].doc.as_ref().ok().and_then(|d| d.url.as_deref());
            println!(
                "{:>5}  {:<8}  {:>9}  {}{}",
                n + 1,
                items[i].format.as_str(),
                group(items[i].chars),
                items[i].id,
                url.map(|u| format!("  {u}")).unwrap_or_default()
            );
        }
    }
    println!(
        "credentials: {}",
        match creds {
            Some(Credentials::DevUser { id, roles }) => format!("development user `{id}` with role `{roles}`"),
            Some(Credentials::Bearer(_)) => format!("${} (authorization: Bearer)", a.api_key_env),
            None => format!("none: ${} is not set", a.api_key_env),
        }
    );
    print_tail(p.skipped, &p.failed, "would fail");
    if p.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// What sending the batches did.
#[derive(Default)]
struct Sent {
    ingested: u64,
    chunks: u64,
    replaced: u64,
    /// Documents in the batches the Worker answered.
    docs: usize,
    /// The batch that was not ingested, which stopped the run.
    batch_error: Option<(usize, BatchError)>,
}

/// A progress bar on a terminal; `None` otherwise (a line per batch).
fn progress_bar(total: u64) -> Option<ProgressBar> {
    (std::io::stderr().is_terminal() && std::io::stdout().is_terminal()).then(|| {
        let style = ProgressStyle::with_template("{spinner} [{bar:32}] {pos}/{len} documents · {msg} · {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()).with_style(style);
        b.set_message("0 chunks");
        b.enable_steady_tick(Duration::from_millis(120));
        b
    })
}

/// Send the batches in order, with progress, until one is not ingested;
/// the documents the Worker rejects or leaves out go to `p.failed`.
fn send_batches(client: &Client, p: &mut Plan) -> Sent {
    let items = &p.items;
    let path_of: HashMap<&str, &PathBuf> = p.sendable.iter().map(|&i| (items[i].id.as_str(), &items[i].path)).collect();
    let bar = progress_bar(p.sendable.len() as u64);
    let mut s = Sent::default();
    for (n, b) in p.batches.iter().enumerate() {
        let docs: Vec<&Doc> = b.iter().filter_map(|&i| items[i].doc.as_ref().ok()).collect();
        let chars: usize = b.iter().map(|&i| items[i].chars).sum();
        let r = match client.send(&docs) {
            Ok(r) => r,
            Err(e) => {
                s.batch_error = Some((n, e));
                break;
            }
        };
        s.docs += docs.len();
        let mut seen: Vec<&str> = Vec::new();
        let (mut c, mut bad) = (0u64, 0usize);
        for i in &r.ingested {
            s.ingested += 1;
            c += i.chunks;
            s.replaced += i.replaced;
            seen.push(&i.id);
        }
        s.chunks += c;
        for (id, e) in &r.errors {
            bad += 1;
            let path = path_of.get(id.as_str()).map(|p| (*p).clone()).unwrap_or_default();
            p.failed.push((id.clone(), path, e.clone()));
            seen.push(id);
        }
        for d in &docs {
            if !seen.contains(&d.id.as_str()) {
                bad += 1;
                let path = path_of.get(d.id.as_str()).map(|p| (*p).clone()).unwrap_or_default();
                p.failed
                    .push((d.id.clone(), path, "the Worker's answer does not mention it".into()));
            }
        }
        match &bar {
            Some(bar) => {
                bar.inc(docs.len() as u64);
                bar.set_message(format!("{} chunks", group(s.chunks as usize)));
            }
            None => eprintln!(
                "batch {}/{}: {} document(s), {} chars: {} ingested ({} chunks), {} failed",
                n + 1,
                p.batches.len(),
                docs.len(),
                group(chars),
                r.ingested.len(),
                group(c as usize),
                bad
            ),
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    s
}

/// The summary on stdout; the batch not ingested on stderr. Exit 3 for a
/// batch not ingested, 1 for a document not ingested.
fn summary(a: &Args, p: &Plan, s: Sent, whom: &str) -> ExitCode {
    println!(
        "ingested {} of {} document(s) into {} ({}): {} chunk(s), {} replaced chunk(s)",
        s.ingested,
        p.items.len(),
        a.tenant,
        a.env,
        group(s.chunks as usize),
        group(s.replaced as usize)
    );
    print_tail(p.skipped, &p.failed, "failed");
    if let Some((n, e)) = s.batch_error {
        let unsent = p.sendable.len() - s.docs;
        println!("not sent: {unsent} document(s) (batch {} of {} and after)", n + 1, p.batches.len());
        eprintln!(
            "error: batch {} of {} ({} document(s)) to {whom} was not ingested: {e}",
            n + 1,
            p.batches.len(),
            p.batches[n].len()
        );
        return ExitCode::from(3);
    }
    if p.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The skipped files and the documents not ingested, on stdout.
fn print_tail(skipped: usize, failed: &[Failed], verb: &str) {
    if skipped > 0 {
        println!("skipped {skipped} file(s) (not .md, .markdown, .txt, .html or .htm)");
    }
    if !failed.is_empty() {
        println!("{verb}: {} document(s):", failed.len());
        for (id, path, e) in failed {
            println!("  {id} ({}): {e}", path.display());
        }
    }
}
