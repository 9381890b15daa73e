//! `tenants metrics`: query each tenant's Analytics Engine dataset through
//! the SQL API with its own account's token and print requests, errors,
//! latency, time to first token, tokens, cost and cache hit rate per tenant
//! and route (`tenants_compiler::ops::metrics`, docs/observability.md).
//!
//! Tenants that share an account and a dataset are asked in one query;
//! a token is never printed (API errors are masked).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args as ClapArgs, ValueEnum};
use serde::Serialize;
use tenants_compiler::emit::artifacts;
use tenants_compiler::ops::{deploy, drift, metrics};

use crate::deploy_cmd::{job_config, prepare, usage};

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum MetricsFormat {
    Human,
    Json,
    Markdown,
}

#[derive(ClapArgs)]
pub struct MetricsArgs {
    /// The environment.
    #[arg(long)]
    pub env: String,
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// How far back: a number and a unit (s, m, h, d), at most 90d.
    #[arg(long, default_value = "24h")]
    pub since: String,
    /// Output: human, json, or markdown.
    #[arg(long, value_enum, default_value_t = MetricsFormat::Human)]
    pub format: MetricsFormat,
    /// The tenants directory.
    #[arg(long, default_value = "tenants")]
    pub root: PathBuf,
    /// The Cloudflare API base URL.
    #[arg(long, env = "CLOUDFLARE_API_BASE_URL", default_value = "https://api.cloudflare.com/client/v4")]
    pub api_base: String,
}

/// One account × dataset and the tenants whose points it holds.
struct Group {
    account: String,
    account_id: String,
    token_env: String,
    dataset: String,
    tenants: Vec<String>,
}

#[derive(Serialize)]
struct Report {
    env: String,
    since: String,
    rows: Vec<metrics::Row>,
    /// Tenants with no data point in the window.
    quiet: Vec<String>,
    errors: Vec<String>,
}

pub fn metrics(a: MetricsArgs) -> ExitCode {
    let since = match metrics::since_seconds(&a.since) {
        Ok(s) => s,
        Err(e) => return usage(format!("--since {e}")),
    };
    let (groups, mut errors) = match groups(&a.root, &a.env, a.tenant.as_deref()) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let mut rows = Vec::new();
    for g in &groups {
        match query(g, &a.env, since, &a.api_base) {
            Ok(r) => rows.extend(r),
            Err(e) => errors.push(e),
        }
    }
    let asked: Vec<&String> = groups.iter().flat_map(|g| &g.tenants).collect();
    let quiet: Vec<String> = asked
        .into_iter()
        .filter(|t| !rows.iter().any(|r| &r.tenant == *t))
        .cloned()
        .collect();
    let report = Report {
        env: a.env.clone(),
        since: a.since.clone(),
        rows,
        quiet,
        errors,
    };
    print(&report, a.format);
    if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn print(r: &Report, format: MetricsFormat) {
    match format {
        MetricsFormat::Json => println!("{}", serde_json::to_string_pretty(r).unwrap_or_default()),
        MetricsFormat::Markdown => {
            println!("### Metrics: `{}`, last {}\n", r.env, r.since);
            print!("{}", metrics::markdown(&r.rows));
            for t in &r.quiet {
                println!("\n- `{t}`: no requests in the window");
            }
            for e in &r.errors {
                println!("\n- error: {}", e.replace('|', "\\|"));
            }
        }
        MetricsFormat::Human => {
            println!("{} — last {}", r.env, r.since);
            if !r.rows.is_empty() {
                print!("{}", metrics::human(&r.rows));
            }
            for t in &r.quiet {
                println!("{t}: no requests in the window");
            }
            for e in &r.errors {
                eprintln!("error: {e}");
            }
        }
    }
}

/// The tenants of `env` grouped by account and dataset; tenants that
/// cannot be asked (no dataset) are errors.
fn groups(root: &Path, env: &str, tenant: Option<&str>) -> Result<(Vec<Group>, Vec<String>), ExitCode> {
    let mut opts = artifacts::Options::new(root.to_path_buf(), PathBuf::from("out"));
    opts.env = Some(env.to_string());
    opts.tenant = tenant.map(String::from);
    let (comp, plan, registry) = prepare(&opts, false, "tenants metrics: fix the tenants first", 1)?;
    let Some(model) = comp.model.as_ref() else {
        return Err(usage("no model"));
    };
    let only = tenant.map(|t| vec![t.to_string()]).unwrap_or_default();
    let jobs = deploy::jobs(model, &registry, Path::new(""), env, &only).map_err(usage)?;
    let mut by: BTreeMap<(String, String), Group> = BTreeMap::new();
    let mut errors = Vec::new();
    for j in jobs {
        let cfg = job_config(&plan, &j);
        let Some(dataset) = cfg["analytics_engine_datasets"][0]["dataset"].as_str() else {
            errors.push(format!(
                "{} ({env}): no analytics-engine dataset in this environment, so no metrics",
                j.tenant
            ));
            continue;
        };
        by.entry((j.account_id.clone(), dataset.to_string()))
            .or_insert_with(|| Group {
                account: j.account.clone(),
                account_id: j.account_id.clone(),
                token_env: j.token_env.clone(),
                dataset: dataset.to_string(),
                tenants: vec![],
            })
            .tenants
            .push(j.tenant);
    }
    Ok((by.into_values().collect(), errors))
}

/// Both queries for one group.
fn query(g: &Group, env: &str, since: u64, api_base: &str) -> Result<Vec<metrics::Row>, String> {
    let who = format!("account `{}`, dataset `{}`", g.account, g.dataset);
    let token = std::env::var(&g.token_env)
        .map_err(|_| format!("{who}: environment variable `{}` (the account's API token) is not set", g.token_env))?;
    let api = drift::Api::new(api_base, &token);
    let path = format!("/accounts/{}/analytics_engine/sql", g.account_id);
    let ask = |sql: Result<String, String>| -> Result<serde_json::Value, String> {
        api.post_text(&path, &sql?)
            .map_err(|e| format!("{who}: {}", deploy::mask(&e, std::slice::from_ref(&token))))
    };
    let summary = ask(metrics::summary_sql(&g.dataset, env, &g.tenants, since))?;
    let ttft = ask(metrics::ttft_sql(&g.dataset, env, &g.tenants, since))?;
    metrics::rows(&summary, &ttft).map_err(|e| format!("{who}: {e}"))
}
