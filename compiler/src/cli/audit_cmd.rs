//! `tenants audit verify`: fetch a tenant's tool audit log from its Worker
//! (`GET /audit`, as an admin) or read an export, and recompute the hash
//! chain (`tenants_compiler::ops::audit`). `--export PATH` also writes what was
//! fetched as JSON Lines (write to a temporary file, then rename).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args as ClapArgs, Subcommand};
use tenants_compiler::ops::audit;
use tenants_compiler::ops::ingest::Credentials;

use crate::deploy_cmd::usage;
use crate::ingest_cmd::target_for;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain of one tenant's tool audit log and say where it breaks.
    Verify(VerifyArgs),
}

#[derive(ClapArgs)]
pub struct VerifyArgs {
    /// The tenant.
    #[arg(long)]
    pub tenant: String,
    /// The environment (where the Worker is; not needed with --file).
    #[arg(long, required_unless_present = "file")]
    pub env: Option<String>,
    /// Verify this export instead of asking the Worker: JSON Lines, a JSON array of records, or a saved `GET /audit` answer.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["url", "host", "dev_user", "export"])]
    pub file: Option<PathBuf>,
    /// The Worker's address, e.g. http://127.0.0.1:8787 for `cargo xtask dev` [default: https://<the tenant's first host in ENV>].
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The `host` header sent with --url [default: the tenant's first non-wildcard host in ENV].
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// The environment variable holding an admin's API key (or JWT), sent as `authorization: Bearer`.
    #[arg(long, value_name = "VAR", default_value = "TENANTS_API_KEY")]
    pub api_key_env: String,
    /// Instead of a key, call as this development user with the `admin` role (development environments that accept development users only).
    #[arg(long, value_name = "ID")]
    pub dev_user: Option<String>,
    /// Also write the fetched records here, one JSON record per line.
    #[arg(long, value_name = "PATH")]
    pub export: Option<PathBuf>,
    /// The tenants directory.
    #[arg(long, default_value = "tenants")]
    pub root: PathBuf,
    /// Stop waiting for one page after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
}

pub fn audit(cmd: AuditCommand) -> ExitCode {
    match cmd {
        AuditCommand::Verify(a) => verify(a).unwrap_or_else(|c| c),
    }
}

fn records(a: &VerifyArgs) -> Result<Vec<audit::Record>, ExitCode> {
    if let Some(f) = &a.file {
        let text = std::fs::read_to_string(f).map_err(|e| usage(format!("cannot read {}: {e}", f.display())))?;
        return audit::parse_export(&text).map_err(|e| usage(format!("{}: {e}", f.display())));
    }
    let env = a.env.as_deref().unwrap_or_default();
    let t = target_for(&a.root, &a.tenant, env, a.url.as_deref(), a.host.as_deref())?;
    let creds = match &a.dev_user {
        Some(id) if !t.accepts_dev_users => {
            return Err(usage(format!(
                "`{env}` of `{}` does not accept development users: use an admin's API key in ${} instead",
                a.tenant, a.api_key_env
            )))
        }
        Some(id) => Credentials::DevUser {
            id: id.clone(),
            roles: "admin".into(),
        },
        None => match std::env::var(&a.api_key_env).ok().map(|k| k.trim().to_string()).filter(|k| !k.is_empty()) {
            Some(k) => Credentials::Bearer(k),
            None => {
                return Err(usage(format!(
                    "no credentials: set ${} to an API key with the `admin` role of `{}` in `{env}`, or pass --dev-user ID for a development environment",
                    a.api_key_env, a.tenant
                )))
            }
        },
    };
    let got = audit::fetch(&t.url, t.host_header.as_deref(), &creds, Duration::from_secs(a.timeout)).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(3)
    })?;
    if let Some(path) = &a.export {
        let lines: String = got.iter().map(|r| serde_json::to_string(r).unwrap_or_default() + "\n").collect();
        tenants_compiler::write_atomic(path, lines.as_bytes()).map_err(|e| usage(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(got)
}

fn verify(a: VerifyArgs) -> Result<ExitCode, ExitCode> {
    let recs = records(&a)?;
    let source = match &a.file {
        Some(f) => f.display().to_string(),
        None => format!("the Worker of `{}` in `{}`", a.tenant, a.env.as_deref().unwrap_or_default()),
    };
    match audit::verify(&recs, Some(&a.tenant)) {
        Ok(0) => {
            println!("audit log of `{}` ({source}): no records yet", a.tenant);
            Ok(ExitCode::SUCCESS)
        }
        Ok(n) => {
            let last = &recs[n - 1];
            println!(
                "audit log of `{}` ({source}): {n} record(s), chain intact; last record {} hash {}",
                a.tenant, last.seq, last.hash
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(b) => {
            println!("audit log of `{}` ({source}): BROKEN at record {}: {}", a.tenant, b.seq, b.why);
            Ok(ExitCode::from(1))
        }
    }
}
