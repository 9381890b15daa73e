//! `tenants keys create|list|revoke`: API keys for one tenant and
//! environment, written through wrangler into the tenant's own KV
//! namespace (the `api-keys` binding of its tenant file) — remotely with
//! the tenant's own account credentials only (as `tenants deploy`), or
//! into local state (`--local`, the `.wrangler/state` that `cargo xtask
//! dev` uses) for local development. A key is printed once and stored
//! only as its hash (`tenants_compiler::ops::api_keys`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args as ClapArgs, Subcommand};
use tenants_compiler::emit::artifacts;
use tenants_compiler::ops::{api_keys, deploy};

use crate::deploy_cmd::{absolutize, now_secs, prepare, runner, usage};

/// Where and how the keys are written.
#[derive(ClapArgs)]
pub struct Target {
    /// The tenant.
    #[arg(long)]
    pub tenant: String,
    /// The environment.
    #[arg(long)]
    pub env: String,
    /// Write into local state (wrangler's `--local`) instead of the tenant's Cloudflare account.
    #[arg(long)]
    pub local: bool,
    /// With --local: the state directory [default: <repo>/.wrangler/state, as `cargo xtask dev`].
    #[arg(long)]
    pub persist_to: Option<PathBuf>,
    /// The tenants directory.
    #[arg(long, default_value = "tenants")]
    pub root: PathBuf,
    /// Where the generated configs are written.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// The wrangler command [default: Node 22 + wrangler from node_modules/, else `wrangler` on PATH].
    #[arg(long, env = "TENANTS_WRANGLER")]
    pub wrangler: Option<String>,
    /// Stop a wrangler run after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Issue a key: printed once on stdout, stored only as its hash.
    Create {
        #[command(flatten)]
        target: Target,
        /// What the key is for (1-64 of a-z 0-9 . _ -).
        #[arg(long)]
        name: String,
        /// Roles the key's caller gets, comma-separated.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
    },
    /// List the environment's keys (ids, names, roles; never the keys).
    List {
        #[command(flatten)]
        target: Target,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by its id (from `list`): it stops working without a deploy.
    Revoke {
        #[command(flatten)]
        target: Target,
        /// The key's id (16 hex characters).
        id: String,
    },
}

/// Everything a wrangler `kv` call for one tenant needs.
struct Kv {
    job: deploy::Job,
    runner: deploy::Runner,
    token_vars: Vec<String>,
    binding: String,
    mode: Vec<OsString>,
    remote: bool,
    timeout: std::time::Duration,
}

impl Kv {
    fn open(t: &mut Target) -> Result<Kv, ExitCode> {
        absolutize(&mut t.root);
        absolutize(&mut t.out);
        let mut opts = artifacts::Options::new(t.root.clone(), t.out.clone());
        opts.env = Some(t.env.clone());
        opts.tenant = Some(t.tenant.clone());
        let (comp, _, registry) = prepare(&opts, true, "no key was touched: fix the errors above first", 1)?;
        let model = comp.model.as_ref().ok_or_else(|| usage("no model"))?;
        let tenant = model
            .tenants
            .iter()
            .find(|x| x.id == t.tenant)
            .ok_or_else(|| usage(format!("unknown tenant `{}`", t.tenant)))?;
        let env = tenant
            .envs
            .iter()
            .find(|e| e.name == t.env)
            .ok_or_else(|| usage(format!("tenant `{}` has no `{}` environment", t.tenant, t.env)))?;
        let binding = env.auth.api_keys.as_ref().map(|k| k.kv_binding.clone()).ok_or_else(|| {
            usage(format!(
                "tenant `{}` does not accept API keys in `{}` (add `api-keys` to its auth)",
                t.tenant, t.env
            ))
        })?;
        let job = deploy::jobs(model, &registry, &t.out, &t.env, std::slice::from_ref(&t.tenant))
            .map_err(usage)?
            .into_iter()
            .next()
            .ok_or_else(|| usage(format!("tenant `{}` has no `{}` environment", t.tenant, t.env)))?;
        let repo = artifacts::repo_dir(&t.root);
        let mode: Vec<OsString> = if t.local {
            let mut state = t.persist_to.clone().unwrap_or_else(|| repo.join(".wrangler/state"));
            absolutize(&mut state);
            vec!["--local".into(), "--persist-to".into(), state.into()]
        } else {
            vec!["--remote".into()]
        };
        Ok(Kv {
            job,
            runner: runner(&repo, t.wrangler.as_deref()),
            token_vars: model.accounts.iter().map(|a| a.token_env.clone()).collect(),
            binding,
            mode,
            remote: !t.local,
            timeout: std::time::Duration::from_secs(t.timeout.max(1)),
        })
    }

    /// Run `wrangler kv key <args> --binding B --config C <mode>`; its output.
    fn run(&self, args: &[OsString]) -> Result<String, ExitCode> {
        let mut all: Vec<OsString> = vec!["kv".into(), "key".into()];
        all.extend(args.iter().cloned());
        all.extend([
            "--binding".into(),
            self.binding.clone().into(),
            "--config".into(),
            self.job.config.clone().into(),
        ]);
        all.extend(self.mode.iter().cloned());
        let cmd = deploy::wrangler_command(&self.job, &self.runner, &self.token_vars, &all, self.remote).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        })?;
        let secrets: Vec<String> = self.token_vars.iter().filter_map(|v| std::env::var(v).ok()).collect();
        match deploy::run_timed(cmd, self.timeout) {
            Ok((true, text)) => Ok(deploy::mask(&text, &secrets)),
            Ok((false, text)) => {
                eprintln!("wrangler failed:\n{}", deploy::mask(&text, &secrets));
                Err(ExitCode::from(1))
            }
            Err(e) => {
                eprintln!("error: {}", deploy::mask(&e, &secrets));
                Err(ExitCode::from(1))
            }
        }
    }

    /// The keys under `prefix`: (KV key, record).
    fn list(&self, prefix: &str) -> Result<Vec<(String, Option<api_keys::KeyRecord>)>, ExitCode> {
        let text = self.run(&["list".into(), "--prefix".into(), prefix.into()])?;
        // wrangler prints a JSON array (possibly after banner lines).
        let json = text.find('[').and_then(|a| text.rfind(']').map(|b| &text[a..=b])).unwrap_or("[]");
        let v: serde_json::Value = serde_json::from_str(json).map_err(|e| {
            eprintln!("error: cannot read wrangler's listing ({e}):\n{text}");
            ExitCode::from(1)
        })?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| {
                let name = k["name"].as_str()?.to_string();
                let rec = serde_json::from_value(k["metadata"].clone()).ok();
                Some((name, rec))
            })
            .collect())
    }
}

pub fn keys(cmd: KeysCommand) -> ExitCode {
    let r = match cmd {
        KeysCommand::Create { mut target, name, roles } => create(&mut target, &name, &roles),
        KeysCommand::List { mut target, json } => list(&mut target, json),
        KeysCommand::Revoke { mut target, id } => revoke(&mut target, &id),
    };
    r.err().unwrap_or(ExitCode::SUCCESS)
}

fn create(t: &mut Target, name: &str, roles: &[String]) -> Result<(), ExitCode> {
    // Check the request before anything runs.
    api_keys::issue(&t.tenant, &t.env, name, roles, 0).map_err(usage)?;
    let kv = Kv::open(t)?;
    let (key, storage_key, record) = api_keys::issue(&t.tenant, &t.env, name, roles, now_secs() as i64).map_err(usage)?;
    let json = serde_json::to_string(&record).map_err(|e| usage(e.to_string()))?;
    kv.run(&[
        "put".into(),
        storage_key.into(),
        json.clone().into(),
        "--metadata".into(),
        json.into(),
    ])?;
    eprintln!(
        "issued key `{}` (id {}) for {} in {}{}, roles [{}]; it is shown once:",
        record.name,
        record.id,
        t.tenant,
        t.env,
        if t.local { " (local state)" } else { "" },
        record.roles.join(", ")
    );
    println!("{key}");
    Ok(())
}

fn list(t: &mut Target, json: bool) -> Result<(), ExitCode> {
    let kv = Kv::open(t)?;
    let mut recs: Vec<api_keys::KeyRecord> = kv
        .list(&api_keys::list_prefix(&t.tenant, &t.env, None))?
        .into_iter()
        .filter_map(|(_, r)| r)
        .collect();
    recs.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    if json {
        println!("{}", serde_json::to_string_pretty(&recs).unwrap_or_default());
    } else if recs.is_empty() {
        println!("no keys for {} in {}", t.tenant, t.env);
    } else {
        println!("{:<16}  {:<24}  {:<20}  roles", "id", "name", "created");
        for r in &recs {
            println!("{:<16}  {:<24}  {:<20}  {}", r.id, r.name, r.created_at, r.roles.join(","));
        }
    }
    Ok(())
}

fn revoke(t: &mut Target, id: &str) -> Result<(), ExitCode> {
    if !api_keys::is_id(id) {
        return Err(usage(format!(
            "`{id}` is not a key id (16 lowercase hex characters, see `tenants keys list`)"
        )));
    }
    let kv = Kv::open(t)?;
    let found = kv.list(&api_keys::list_prefix(&t.tenant, &t.env, Some(id)))?;
    if found.is_empty() {
        eprintln!("no key `{id}` for {} in {}", t.tenant, t.env);
        return Err(ExitCode::from(1));
    }
    for (name, _) in &found {
        // Only this tenant's and environment's keys are deleted.
        if !name.starts_with(&api_keys::list_prefix(&t.tenant, &t.env, Some(id))) {
            continue;
        }
        kv.run(&["delete".into(), name.clone().into()])?;
    }
    eprintln!("revoked key {id} of {} in {}", t.tenant, t.env);
    Ok(())
}
