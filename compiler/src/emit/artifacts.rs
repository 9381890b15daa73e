//! Build artifacts: every tenant × environment wrangler config plus the
//! tenant registry, planned in memory and written to an output directory.
//!
//! Layout of an output directory (`--out`, default `out/`):
//!
//! ```text
//! out/registry.json                   the tenant registry (see docs/artifacts.md)
//! out/<env>/<tenant>.wrangler.jsonc   one complete config per tenant and environment
//! out/.tenants-cache                  the no-change fast path's key (not an artifact)
//! ```
//!
//! One directory per environment (not per tenant × environment): 10,000
//! tenants make 3 directories, not 40,000, which is most of a cold build's
//! file-system time (docs/benchmarks.md).
//!
//! Invariants:
//! - [`plan`] is pure: the same model and options give byte-identical outputs;
//! - [`write`] writes each changed file atomically (temporary file, rename),
//!   leaves unchanged files untouched, and deletes stale configs — only files
//!   that carry the generated marker on their first line, never anything else;
//! - after a successful [`write`] the directory holds exactly the planned
//!   configs of the selection (plus the registry and the cache key);
//! - the registry and configs never contain a secret value (secrets are names).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::emit::wrangler::{self, Paths};
use crate::resolved::Model;
use crate::{par_map, Compilation};

pub const REGISTRY_FILE: &str = "registry.json";
pub const CACHE_FILE: &str = ".tenants-cache";

/// What to build and where.
#[derive(Debug, Clone)]
pub struct Options {
    /// The tenants directory (`--root`).
    pub root: PathBuf,
    /// The output directory (`--out`).
    pub out: PathBuf,
    /// Only this environment (`--env`).
    pub env: Option<String>,
    /// Only this tenant (`--tenant`).
    pub tenant: Option<String>,
    /// The Worker bundle `main` points at (default `<repo>/runtime/build/index.js`).
    pub main: PathBuf,
    /// Wrangler's config schema `$schema` points at (default `<repo>/node_modules/wrangler/config-schema.json`).
    pub schema: PathBuf,
}

impl Options {
    /// Defaults for a repository laid out as `tenants init` makes it: the
    /// repository is the tenants directory's parent.
    pub fn new(root: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Options {
        let root = root.into();
        let repo = repo_dir(&root);
        Options {
            out: out.into(),
            env: None,
            tenant: None,
            main: repo.join("runtime").join("build").join("index.js"),
            schema: repo.join("node_modules").join("wrangler").join("config-schema.json"),
            root,
        }
    }
}

/// The repository directory: the tenants directory's parent (`.` for `tenants`).
pub fn repo_dir(root: &Path) -> PathBuf {
    match root.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// One file to write, with its path relative to the output directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub path: String,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// One row of the summary: a tenant in an environment.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub tenant: String,
    pub env: String,
    pub script: String,
    pub path: String,
    pub routes: usize,
    pub bindings: usize,
}

/// Everything one build would write.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The configs, in tenant then environment order, then the registry.
    pub outputs: Vec<Output>,
    pub rows: Vec<Row>,
}

/// A selection that names nothing (`--tenant nope`): a usage error.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionError(pub String);

impl std::fmt::Display for SelectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in d {
        use std::fmt::Write;
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `to` relative to the directory `from`, `/`-separated (both made absolute
/// against the current directory first).
pub fn relative_path(from_dir: &Path, to: &Path) -> String {
    let abs = |p: &Path| -> Vec<String> {
        let p = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut parts: Vec<String> = Vec::new();
        for c in p.components() {
            match c {
                Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                Component::ParentDir => {
                    parts.pop();
                }
                _ => {}
            }
        }
        parts
    };
    let (a, b) = (abs(from_dir), abs(to));
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out: Vec<&str> = vec![".."; a.len() - common];
    out.extend(b[common..].iter().map(String::as_str));
    if out.is_empty() {
        ".".into()
    } else {
        out.join("/")
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The registry: one entry per tenant with its environments, hosts, account,
/// artifact paths and the content hash of each artifact and source file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Registry {
    pub generator: String,
    pub worker: String,
    pub selection: Selection,
    pub platform: SourceRef,
    pub accounts: SourceRef,
    pub tenants: Vec<RegistryTenant>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Selection {
    pub env: Option<String>,
    pub tenant: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SourceRef {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RegistryTenant {
    pub id: String,
    pub name: String,
    pub account: String,
    pub account_id: String,
    pub source: SourceRef,
    pub environments: Vec<RegistryEnv>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RegistryEnv {
    pub name: String,
    pub script: String,
    pub hosts: Vec<String>,
    pub header_allowed: bool,
    /// Origins allowed cross-origin (CORS).
    #[serde(default)]
    pub cors_origins: Vec<String>,
    pub config: SourceRef,
    /// Who may call (methods and their public identifiers; no key material).
    #[serde(default)]
    pub auth: RegistryAuth,
    /// Which vector index serves RAG here: `local` (the `DocIndex` Durable
    /// Object, in development environments), `vectorize` or `none`.
    #[serde(default)]
    pub vector_index: String,
    /// The developer playground's path, in development environments only
    /// (`null` in stage and prod: the Worker answers 404 there).
    #[serde(default)]
    pub playground: Option<String>,
}

/// The auth of one environment as the registry shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RegistryAuth {
    /// Enabled methods, in the order `jwt`, `access`, `api-keys`, `none`.
    pub methods: Vec<String>,
    pub jwt: Option<RegistryJwt>,
    pub access: Option<RegistryAccess>,
    pub api_keys: Option<RegistryApiKeys>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RegistryJwt {
    pub issuer: String,
    pub audience: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RegistryAccess {
    pub team_domain: String,
    pub audience: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RegistryApiKeys {
    pub kv_binding: String,
}

impl RegistryAuth {
    pub fn of(a: &crate::resolved::Auth) -> RegistryAuth {
        RegistryAuth {
            methods: a.methods().into_iter().map(str::to_string).collect(),
            jwt: a.jwt.as_ref().map(|j| RegistryJwt {
                issuer: j.issuer.clone(),
                audience: j.audience.clone(),
            }),
            access: a.access.as_ref().map(|x| RegistryAccess {
                team_domain: x.team_domain.clone(),
                audience: x.audience.clone(),
            }),
            api_keys: a.api_keys.as_ref().map(|k| RegistryApiKeys {
                kv_binding: k.kv_binding.clone(),
            }),
        }
    }
}

/// Plan every artifact of a successful compilation.
pub fn plan(comp: &Compilation, opts: &Options) -> Result<Plan, SelectionError> {
    let model = comp
        .model
        .as_ref()
        .ok_or_else(|| SelectionError("the tenants have errors: nothing to build".into()))?;
    plan_model(comp, model, opts)
}

fn plan_model(comp: &Compilation, model: &Model, opts: &Options) -> Result<Plan, SelectionError> {
    if let Some(t) = &opts.tenant {
        if !model.tenants.iter().any(|x| &x.id == t) {
            let hint = crate::diag::did_you_mean(t, model.tenants.iter().map(|x| x.id.as_str()))
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(SelectionError(format!("no tenant `{t}`{hint}")));
        }
    }
    if let Some(e) = &opts.env {
        if !model.platform.environments.iter().any(|x| &x.name == e) {
            let hint = crate::diag::did_you_mean(e, model.platform.environments.iter().map(|x| x.name.as_str()))
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(SelectionError(format!("no environment `{e}` in the platform file{hint}")));
        }
    }
    let source_dir = {
        let n = file_name(&std::path::absolute(&opts.root).unwrap_or_else(|_| opts.root.clone()));
        if n.is_empty() {
            "tenants".to_string()
        } else {
            n
        }
    };
    // Source files by name, with hashes.
    let mut by_name: BTreeMap<String, SourceRef> = BTreeMap::new();
    for f in comp.sources.files() {
        let name = file_name(&f.path);
        by_name.insert(
            name.clone(),
            SourceRef {
                path: format!("{source_dir}/{name}"),
                sha256: sha256_hex(f.text.as_bytes()),
            },
        );
    }
    let find_source = |stem: &str| -> Option<(String, SourceRef)> {
        ["kdl", "jsonc", "json"].iter().find_map(|ext| {
            let n = format!("{stem}.{ext}");
            by_name.get(&n).map(|s| (n, s.clone()))
        })
    };
    let (platform_file, platform_ref) = find_source(crate::PLATFORM_STEM).unwrap_or_default();
    let (_, accounts_ref) = find_source(crate::ACCOUNTS_STEM).unwrap_or_default();

    // Paths inside a config are relative to `<out>/<env>/`; every such
    // directory is one level below `out`, so one computation serves all.
    let probe = opts.out.join("e");
    let paths = Paths {
        main: relative_path(&probe, &opts.main),
        schema: relative_path(&probe, &opts.schema),
        source_dir: source_dir.clone(),
    };

    let selected: Vec<&crate::resolved::Tenant> = model
        .tenants
        .iter()
        .filter(|t| opts.tenant.as_ref().is_none_or(|x| x == &t.id))
        .collect();
    // Rendering is independent per tenant: spread it over the cores.
    let per_tenant = par_map(&selected, |t| {
        let (tenant_file, source) = find_source(&t.id).unwrap_or_default();
        let account = model.accounts.iter().find(|a| a.key == t.account);
        let mut envs = Vec::new();
        let mut rows = Vec::new();
        let mut outputs = Vec::new();
        for e in &t.envs {
            if opts.env.as_ref().is_some_and(|x| x != &e.name) {
                continue;
            }
            let text = wrangler::render_config(model, t, e, &paths, &tenant_file, &platform_file);
            let path = wrangler::artifact_path(&t.id, &e.name);
            let sha = sha256_hex(text.as_bytes());
            let script = wrangler::script_name(model, &t.id, &e.name);
            rows.push(Row {
                tenant: t.id.clone(),
                env: e.name.clone(),
                script: script.clone(),
                path: path.clone(),
                routes: e
                    .hosts
                    .iter()
                    .filter(|h| !wrangler::is_local_host(h.trim_start_matches("*.")))
                    .count(),
                bindings: e.resources.len(),
            });
            envs.push(RegistryEnv {
                name: e.name.clone(),
                script,
                hosts: e.hosts.clone(),
                header_allowed: e.header_allowed,
                cors_origins: e.cors_origins.clone(),
                config: SourceRef {
                    path: path.clone(),
                    sha256: sha.clone(),
                },
                auth: RegistryAuth::of(&e.auth),
                vector_index: e.vector_index.adapter().to_string(),
                playground: e.playground.clone(),
            });
            outputs.push(Output {
                path,
                bytes: text.into_bytes(),
                sha256: sha,
            });
        }
        let reg = RegistryTenant {
            id: t.id.clone(),
            name: t.name.clone(),
            account: t.account.clone(),
            account_id: account.map(|a| a.account_id.clone()).unwrap_or_default(),
            source,
            environments: envs,
        };
        (rows, outputs, reg)
    });
    let mut outputs = Vec::new();
    let mut rows = Vec::new();
    let mut reg_tenants = Vec::new();
    for (r, o, t) in per_tenant {
        rows.extend(r);
        outputs.extend(o);
        reg_tenants.push(t);
    }
    let registry = Registry {
        generator: format!("tenants {}", env!("CARGO_PKG_VERSION")),
        worker: model.platform.worker.clone(),
        selection: Selection {
            env: opts.env.clone(),
            tenant: opts.tenant.clone(),
        },
        platform: platform_ref,
        accounts: accounts_ref,
        tenants: reg_tenants,
    };
    let mut bytes = serde_json::to_vec_pretty(&registry).expect("the registry serialises");
    bytes.push(b'\n');
    outputs.push(Output {
        path: REGISTRY_FILE.into(),
        sha256: sha256_hex(&bytes),
        bytes,
    });
    Ok(Plan { outputs, rows })
}

/// What [`write`] did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct WriteReport {
    pub written: Vec<String>,
    pub unchanged: usize,
    pub deleted: Vec<String>,
}

/// A difference between the output directory and a plan (`--check`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Drift {
    Missing(String),
    Changed(String),
    Stale(String),
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Drift::Missing(p) => write!(f, "missing: {p}"),
            Drift::Changed(p) => write!(f, "changed: {p}"),
            Drift::Stale(p) => write!(f, "stale: {p} (no longer generated)"),
        }
    }
}

fn is_generated(path: &Path) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 64];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return false,
        }
    }
    buf[..n].starts_with(wrangler::GENERATED_MARKER.as_bytes())
}

/// Names of the `<env>/<tenant>.wrangler.jsonc` files in `out` (not yet
/// checked for the generated marker).
fn config_names(out: &Path) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    let Ok(envs) = std::fs::read_dir(out) else {
        return found;
    };
    for e in envs.flatten() {
        if !e.file_type().is_ok_and(|ft| ft.is_dir()) {
            continue;
        }
        let Ok(files) = std::fs::read_dir(e.path()) else {
            continue;
        };
        let env = e.file_name().to_string_lossy().into_owned();
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.ends_with(wrangler::CONFIG_SUFFIX) {
                found.push((format!("{env}/{name}"), f.path()));
            }
        }
    }
    found
}

/// Generated configs in `out` that `planned` does not contain: stale ones.
/// Only files whose first line is the generated marker count.
fn stale_configs(out: &Path, planned: &BTreeSet<&str>) -> Vec<String> {
    let candidates: Vec<(String, PathBuf)> = config_names(out)
        .into_iter()
        .filter(|(rel, _)| !planned.contains(rel.as_str()))
        .collect();
    let mut stale: Vec<String> = candidates
        .iter()
        .zip(par_map(&candidates, |(_, p)| p.is_file() && is_generated(p)))
        .filter(|(_, ok)| *ok)
        .map(|((rel, _), _)| rel.clone())
        .collect();
    stale.sort();
    stale
}

/// Compare the output directory with a plan; empty means fresh.
pub fn check(plan: &Plan, out: &Path) -> Vec<Drift> {
    let mut drift: Vec<Drift> = par_map(&plan.outputs, |o| match std::fs::read(out.join(&o.path)) {
        Ok(b) if b == o.bytes => None,
        Ok(_) => Some(Drift::Changed(o.path.clone())),
        Err(_) => Some(Drift::Missing(o.path.clone())),
    })
    .into_iter()
    .flatten()
    .collect();
    let planned: BTreeSet<&str> = plan.outputs.iter().map(|o| o.path.as_str()).collect();
    drift.extend(stale_configs(out, &planned).into_iter().map(Drift::Stale));
    drift.sort();
    drift
}

/// Write a file through a temporary sibling and a rename. Configs are
/// regenerable, so they skip the fsync that [`crate::write_atomic`] does: the
/// rename still means a reader sees the old file or the new one, never a part.
fn write_replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp-{}", file_name(path), std::process::id()));
    let r = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Write a plan into `out`: changed files only, then delete stale configs
/// (and the directories they leave empty). The registry is written last, so
/// a registry always describes configs that are on disk.
pub fn write(plan: &Plan, out: &Path) -> std::io::Result<WriteReport> {
    if !out.exists() {
        match write_fresh(plan, out) {
            Ok(r) => return Ok(r),
            // Another build created `out` meanwhile (two cargo profiles
            // building at once): update it file by file instead.
            Err(_) if out.is_dir() => {}
            Err(e) => return Err(e),
        }
    }
    // What the last build wrote (content hash, size, time): a file whose
    // size and time are unchanged since holds that content, so it need not
    // be read to know it is unchanged.
    let known: std::collections::HashMap<String, (String, u64, u128)> = std::fs::read(out.join(CACHE_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<CacheKey>(&b).ok())
        .map(|k| k.outputs.into_iter().map(|(p, h, l, t)| (p, (h, l, t))).collect())
        .unwrap_or_default();
    // Drop the cache key first: if this run fails half-way, the next run must
    // not take the fast path.
    let _ = std::fs::remove_file(out.join(CACHE_FILE));
    let (configs, registry): (Vec<&Output>, Vec<&Output>) = plan.outputs.iter().partition(|o| o.path != REGISTRY_FILE);
    let results = par_map(&configs, |o| -> std::io::Result<bool> {
        let path = out.join(&o.path);
        if let Some((sha, len, mtime)) = known.get(&o.path) {
            if *sha == o.sha256 && stat(&path) == Some((*len, *mtime)) {
                return Ok(false);
            }
        }
        if std::fs::read(&path).is_ok_and(|b| b == o.bytes) {
            return Ok(false);
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        write_replace(&path, &o.bytes)?;
        Ok(true)
    });
    let mut report = WriteReport::default();
    for (o, r) in configs.iter().zip(results) {
        if r.map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", out.join(&o.path).display())))? {
            report.written.push(o.path.clone());
        } else {
            report.unchanged += 1;
        }
    }
    let planned: BTreeSet<&str> = configs.iter().map(|o| o.path.as_str()).collect();
    for p in stale_configs(out, &planned) {
        let path = out.join(&p);
        std::fs::remove_file(&path)?;
        // Remove `<env>/` when it is left empty.
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir(dir);
        }
        report.deleted.push(p);
    }
    for o in registry {
        let path = out.join(&o.path);
        if std::fs::read(&path).is_ok_and(|b| b == o.bytes) {
            report.unchanged += 1;
        } else {
            crate::write_atomic(&path, &o.bytes)?;
            report.written.push(o.path.clone());
        }
    }
    Ok(report)
}

/// A new output directory: write the whole tree into a temporary sibling,
/// then rename it into place — atomic as a whole, so its files need no
/// temporary file each.
fn write_fresh(plan: &Plan, out: &Path) -> std::io::Result<WriteReport> {
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let stage = parent.join(format!(".{}.tmp-{}", file_name(out), std::process::id()));
    let _ = std::fs::remove_dir_all(&stage);
    let result = (|| {
        std::fs::create_dir(&stage)?;
        let dirs: BTreeSet<&str> = plan
            .outputs
            .iter()
            .filter_map(|o| o.path.rsplit_once('/').map(|(d, _)| d))
            .collect();
        for d in dirs {
            std::fs::create_dir_all(stage.join(d))?;
        }
        for r in par_map(&plan.outputs, |o| std::fs::write(stage.join(&o.path), &o.bytes)) {
            r?;
        }
        std::fs::rename(&stage, out)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&stage);
        return Err(e);
    }
    Ok(WriteReport {
        written: plan.outputs.iter().map(|o| o.path.clone()).collect(),
        unchanged: 0,
        deleted: Vec::new(),
    })
}

/// The fast path's key: the generator (this executable's identity), the
/// options, and every input file's content hash. Equal keys and intact
/// outputs mean a rebuild would write exactly what is on disk.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct CacheKey {
    generator: String,
    root: String,
    env: Option<String>,
    tenant: Option<String>,
    main: String,
    schema: String,
    inputs: Vec<(String, String)>,
    /// Every written file: path, content hash, size, modification time (ns).
    outputs: Vec<(String, String, u64, u128)>,
}

fn generator_identity() -> String {
    let exe = std::env::current_exe().ok();
    let meta = exe.as_ref().and_then(|e| std::fs::metadata(e).ok());
    let mtime = meta
        .as_ref()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{} {} {} {}",
        env!("CARGO_PKG_VERSION"),
        exe.map(|e| e.display().to_string()).unwrap_or_default(),
        meta.map(|m| m.len()).unwrap_or(0),
        mtime
    )
}

fn input_hashes(root: &Path) -> Option<Vec<(String, String)>> {
    let layout = crate::discover(root).ok()?;
    let mut files = vec![layout.platform, layout.accounts];
    files.extend(layout.tenants);
    let hashed = par_map(&files, |p| std::fs::read(p).ok().map(|b| (file_name(p), sha256_hex(&b))));
    hashed.into_iter().collect()
}

fn stat(path: &Path) -> Option<(u64, u128)> {
    let m = std::fs::metadata(path).ok()?;
    let t = m.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
    Some((m.len(), t))
}

fn cache_key(opts: &Options, inputs: Vec<(String, String)>, outputs: Vec<(String, String, u64, u128)>) -> CacheKey {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string();
    CacheKey {
        generator: generator_identity(),
        root: abs(&opts.root),
        env: opts.env.clone(),
        tenant: opts.tenant.clone(),
        main: abs(&opts.main),
        schema: abs(&opts.schema),
        inputs,
        outputs,
    }
}

/// The content hashes of a build's input files, taken once per build and
/// shared by [`up_to_date`] and [`record`] (hashed before compiling: if a
/// file changes meanwhile, the recorded hash is the old one and the next
/// build does not take the fast path). `None` inside: the directory could
/// not be read, so there is no fast path.
pub struct Inputs(Option<Vec<(String, String)>>);

pub fn hash_inputs(opts: &Options) -> Inputs {
    Inputs(input_hashes(&opts.root))
}

/// The no-change fast path: true when the inputs are byte-identical (by
/// content hash) to the last successful build into `out` with the same
/// generator and options, and every file that build wrote is still there,
/// untouched (same size and modification time — a hand edit changes both or
/// the time), with no other generated config beside them.
pub fn up_to_date(opts: &Options, inputs: &Inputs) -> bool {
    let Some(inputs) = &inputs.0 else {
        return false;
    };
    let Ok(text) = std::fs::read(opts.out.join(CACHE_FILE)) else {
        return false;
    };
    let Ok(stored) = serde_json::from_slice::<CacheKey>(&text) else {
        return false;
    };
    let current = cache_key(opts, inputs.clone(), stored.outputs.clone());
    if current != stored {
        return false;
    }
    let intact = par_map(&stored.outputs, |(path, _, len, mtime)| {
        stat(&opts.out.join(path)) == Some((*len, *mtime))
    });
    intact.into_iter().all(|ok| ok) && config_count(&opts.out) == stored.outputs.iter().filter(|o| o.0 != REGISTRY_FILE).count()
}

/// How many `*.wrangler.jsonc` files `out/<env>/` holds (a stale config
/// copied back in defeats the fast path).
fn config_count(out: &Path) -> usize {
    let Ok(envs) = std::fs::read_dir(out) else {
        return 0;
    };
    envs.flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| {
            std::fs::read_dir(e.path())
                .map(|r| {
                    r.flatten()
                        .filter(|f| f.file_name().to_string_lossy().ends_with(wrangler::CONFIG_SUFFIX))
                        .count()
                })
                .unwrap_or(0)
        })
        .sum()
}

/// Record the fast path's key after a successful write.
pub fn record(opts: &Options, plan: &Plan, inputs: &Inputs) -> std::io::Result<()> {
    let Some(inputs) = inputs.0.clone() else {
        return Ok(());
    };
    let stats = par_map(&plan.outputs, |o| stat(&opts.out.join(&o.path)));
    let mut outputs = Vec::with_capacity(plan.outputs.len());
    for (o, st) in plan.outputs.iter().zip(stats) {
        let Some((len, mtime)) = st else {
            return Ok(());
        };
        outputs.push((o.path.clone(), o.sha256.clone(), len, mtime));
    }
    let key = cache_key(opts, inputs, outputs);
    let bytes = serde_json::to_vec(&key).expect("the cache key serialises");
    crate::write_atomic(&opts.out.join(CACHE_FILE), &bytes)
}

/// Render the summary table printed at the end of a build.
pub fn summary_table(plan: &Plan, report: Option<&WriteReport>) -> String {
    use std::fmt::Write;
    let written: BTreeSet<&str> = report.map(|r| r.written.iter().map(String::as_str).collect()).unwrap_or_default();
    let mut s = String::new();
    if plan.rows.len() <= 100 {
        let w_t = plan.rows.iter().map(|r| r.tenant.len()).max().unwrap_or(0).max(6);
        let w_e = plan.rows.iter().map(|r| r.env.len()).max().unwrap_or(0).max(3);
        let w_s = plan.rows.iter().map(|r| r.script.len()).max().unwrap_or(0).max(6);
        let _ = writeln!(
            s,
            "{:<w_t$}  {:<w_e$}  {:<w_s$}  {:>6}  {:>8}  status",
            "tenant", "env", "script", "routes", "bindings"
        );
        for r in &plan.rows {
            let status = match report {
                None => "planned",
                Some(_) if written.contains(r.path.as_str()) => "written",
                Some(_) => "unchanged",
            };
            let _ = writeln!(
                s,
                "{:<w_t$}  {:<w_e$}  {:<w_s$}  {:>6}  {:>8}  {status}",
                r.tenant, r.env, r.script, r.routes, r.bindings
            );
        }
    } else {
        // Thousands of rows help nobody: one line per environment.
        let mut per_env: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for r in &plan.rows {
            let e = per_env.entry(r.env.as_str()).or_default();
            e.0 += 1;
            if written.contains(r.path.as_str()) {
                e.1 += 1;
            }
        }
        let _ = writeln!(s, "{:<10}  {:>8}  {:>8}  {:>9}", "env", "tenants", "written", "unchanged");
        for (env, (n, w)) in per_env {
            let _ = writeln!(s, "{env:<10}  {n:>8}  {w:>8}  {:>9}", n - w);
        }
    }
    s
}
