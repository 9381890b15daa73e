//! `tenants diff`: what a change to tenant files does to the generated
//! wrangler configs, per tenant and environment — for the PR comment.
//!
//! The "before" side is a git revision (its tenant files are read with
//! `git cat-file`, never checked out), a directory of tenant files, or an
//! output directory of an earlier `tenants build` (found by its
//! `registry.json`). Both sides are planned with the same options, so only
//! real changes show; configs are compared as JSON values (not text), with
//! arrays of bindings keyed by their binding name.
//!
//! Invariants: read-only (nothing in the repository or the output directory
//! is written; a temporary directory for a git revision is removed); the
//! result is sorted by tenant, environment and key path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;
use serde_json::Value;

use crate::emit::artifacts::{self, Options};
use crate::tmp::TempDir;
use crate::Compilation;

/// What to compare against.
#[derive(Debug, Clone)]
pub enum Against {
    /// A git revision: the tenant files at that revision.
    Git(String),
    /// A directory: tenant files, or the output of an earlier build.
    Dir(PathBuf),
}

impl Against {
    /// An existing directory is a directory; anything else a git revision.
    pub fn parse(s: &str) -> Against {
        let p = PathBuf::from(s);
        if p.is_dir() {
            Against::Dir(p)
        } else {
            Against::Git(s.to_string())
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Added,
    Removed,
    Changed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Add,
    Remove,
    Change,
}

/// One key that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyChange {
    pub op: Op,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// One tenant × environment whose config differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigChange {
    pub tenant: String,
    pub env: String,
    pub status: Status,
    pub changes: Vec<KeyChange>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DiffSummary {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub unchanged: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    pub against: String,
    pub summary: DiffSummary,
    pub configs: Vec<ConfigChange>,
}

/// Why a diff could not be made (exit code 2).
#[derive(Debug)]
pub struct DiffError(pub String);

impl std::fmt::Display for DiffError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Configs = BTreeMap<(String, String), Value>;

fn parse_jsonc(bytes: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(bytes).ok()?;
    jsonc_parser::parse_to_serde_value::<Value>(text, &Default::default()).ok()
}

/// The configs a plan would write, as values.
pub fn planned_configs(comp: &Compilation, opts: &Options) -> Result<Configs, DiffError> {
    let plan = artifacts::plan(comp, opts).map_err(|e| DiffError(e.to_string()))?;
    let mut m = Configs::new();
    for (row, out) in plan.rows.iter().zip(&plan.outputs) {
        debug_assert_eq!(row.path, out.path);
        let v = parse_jsonc(&out.bytes).ok_or_else(|| DiffError(format!("generated {} does not parse", out.path)))?;
        m.insert((row.tenant.clone(), row.env.clone()), v);
    }
    Ok(m)
}

/// The "before" configs.
pub fn before_configs(against: &Against, opts: &Options) -> Result<Configs, DiffError> {
    match against {
        Against::Dir(d) if d.join(artifacts::REGISTRY_FILE).is_file() => read_output_dir(d, opts),
        Against::Dir(d) => configs_of_tenants_dir(d, opts, &d.display().to_string()),
        Against::Git(rev) => {
            let tmp = git_export(&opts.root, rev)?;
            let r = configs_of_tenants_dir(tmp.path(), opts, &format!("{rev} (git)"));
            drop(tmp);
            r
        }
    }
}

fn configs_of_tenants_dir(dir: &Path, opts: &Options, what: &str) -> Result<Configs, DiffError> {
    let comp = crate::compile(dir).map_err(|e| DiffError(format!("cannot read the base {what}: {e}")))?;
    if comp.model.is_none() {
        return Err(DiffError(format!(
            "the base {what} has {} error(s): run `tenants check` on it first\n{}",
            comp.diagnostics.error_count(),
            crate::diag::render_short(&comp.sources, &comp.diagnostics.items)
        )));
    }
    let mut o = opts.clone();
    o.root = dir.to_path_buf();
    planned_configs(&comp, &o)
}

fn read_output_dir(dir: &Path, opts: &Options) -> Result<Configs, DiffError> {
    let bytes = std::fs::read(dir.join(artifacts::REGISTRY_FILE)).map_err(|e| DiffError(format!("{}: {e}", dir.display())))?;
    let reg: artifacts::Registry = serde_json::from_slice(&bytes).map_err(|e| {
        DiffError(format!(
            "{}: not a tenants registry: {e}",
            dir.join(artifacts::REGISTRY_FILE).display()
        ))
    })?;
    let mut m = Configs::new();
    for t in &reg.tenants {
        if opts.tenant.as_ref().is_some_and(|x| x != &t.id) {
            continue;
        }
        for e in &t.environments {
            if opts.env.as_ref().is_some_and(|x| x != &e.name) {
                continue;
            }
            let p = dir.join(&e.config.path);
            let b = std::fs::read(&p).map_err(|err| DiffError(format!("{}: {err}", p.display())))?;
            let v = parse_jsonc(&b).ok_or_else(|| DiffError(format!("{}: not valid JSONC", p.display())))?;
            m.insert((t.id.clone(), e.name.clone()), v);
        }
    }
    Ok(m)
}

fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, DiffError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| DiffError(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(DiffError(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

/// Write the tenant files of `root` as they are at revision `rev` into a
/// temporary directory (top-level files only, as `tenants check` reads them).
fn git_export(root: &Path, rev: &str) -> Result<TempDir, DiffError> {
    if rev.starts_with('-') {
        return Err(DiffError(format!("`{rev}` is not a revision")));
    }
    let top = String::from_utf8_lossy(&git(root, &["rev-parse", "--show-toplevel"])?)
        .trim()
        .to_string();
    let prefix = String::from_utf8_lossy(&git(root, &["rev-parse", "--show-prefix"])?)
        .trim()
        .to_string();
    let top = PathBuf::from(top);
    let listing = git(&top, &["ls-tree", "-z", "--name-only", "--full-tree", &format!("{rev}:{prefix}")])
        .map_err(|e| DiffError(format!("no tenants directory `{prefix}` at `{rev}`: {e}")))?;
    let names: Vec<String> = listing
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .filter(|n| {
            Path::new(n)
                .extension()
                .and_then(|e| e.to_str())
                .and_then(crate::source::Format::from_extension)
                .is_some()
        })
        .collect();
    let tmp = TempDir::new().map_err(|e| DiffError(format!("cannot create a temporary directory: {e}")))?;
    // One `git cat-file --batch` for every file.
    let mut child = Command::new("git")
        .arg("-C")
        .arg(&top)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| DiffError(format!("cannot run git: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let request: String = names.iter().map(|n| format!("{rev}:{prefix}{n}\n")).collect();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(request.as_bytes());
    });
    let out = child.wait_with_output().map_err(|e| DiffError(format!("git cat-file: {e}")))?;
    let _ = writer.join();
    let mut rest = &out.stdout[..];
    for n in &names {
        let nl = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| DiffError("git cat-file: short output".into()))?;
        let header = String::from_utf8_lossy(&rest[..nl]).into_owned();
        rest = &rest[nl + 1..];
        let size: usize = header
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .filter(|_| header.contains(" blob "))
            .ok_or_else(|| DiffError(format!("git cat-file {rev}:{prefix}{n}: {header}")))?;
        if rest.len() < size + 1 {
            return Err(DiffError("git cat-file: short output".into()));
        }
        std::fs::write(tmp.path().join(n), &rest[..size]).map_err(|e| DiffError(format!("cannot write a temporary file: {e}")))?;
        rest = &rest[size + 1..];
    }
    Ok(tmp)
}

/// Flatten a config into key path → leaf value. Arrays of objects are keyed
/// by `binding`, `name`, `tag`, `pattern` or `queue` (queue consumers);
/// arrays of scalars by value.
fn flatten(v: &Value, path: &str, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                if k == "$schema" {
                    continue;
                }
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                flatten(x, &p, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                let key = match x {
                    Value::Object(m) => ["binding", "name", "tag", "pattern", "queue"]
                        .iter()
                        .find_map(|k| m.get(*k).and_then(Value::as_str))
                        .map(str::to_string)
                        .unwrap_or_else(|| i.to_string()),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let p = format!("{path}[{key}]");
                match x {
                    Value::Object(_) | Value::Array(_) => flatten(x, &p, out),
                    _ => {
                        out.insert(p, x.clone());
                    }
                }
            }
        }
        _ => {
            out.insert(path.to_string(), v.clone());
        }
    }
}

fn key_changes(before: &Value, after: &Value) -> Vec<KeyChange> {
    let (mut b, mut a) = (BTreeMap::new(), BTreeMap::new());
    flatten(before, "", &mut b);
    flatten(after, "", &mut a);
    let mut out = Vec::new();
    for (k, bv) in &b {
        match a.get(k) {
            None => out.push(KeyChange {
                op: Op::Remove,
                path: k.clone(),
                before: Some(bv.clone()),
                after: None,
            }),
            Some(av) if av != bv => out.push(KeyChange {
                op: Op::Change,
                path: k.clone(),
                before: Some(bv.clone()),
                after: Some(av.clone()),
            }),
            _ => {}
        }
    }
    for (k, av) in &a {
        if !b.contains_key(k) {
            out.push(KeyChange {
                op: Op::Add,
                path: k.clone(),
                before: None,
                after: Some(av.clone()),
            });
        }
    }
    out.sort_by(|x, y| x.path.cmp(&y.path));
    out
}

/// Compare two sets of configs.
pub fn diff(against: String, before: &Configs, after: &Configs) -> Diff {
    let mut summary = DiffSummary::default();
    let mut configs = Vec::new();
    let mut keys: Vec<&(String, String)> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (status, changes) = match (before.get(k), after.get(k)) {
            (None, Some(a)) => {
                summary.added += 1;
                (Status::Added, key_changes(&Value::Object(Default::default()), a))
            }
            (Some(b), None) => {
                summary.removed += 1;
                (Status::Removed, key_changes(b, &Value::Object(Default::default())))
            }
            (Some(b), Some(a)) => {
                let c = key_changes(b, a);
                if c.is_empty() {
                    summary.unchanged += 1;
                    continue;
                }
                summary.changed += 1;
                (Status::Changed, c)
            }
            (None, None) => continue,
        };
        configs.push(ConfigChange {
            tenant: k.0.clone(),
            env: k.1.clone(),
            status,
            changes,
        });
    }
    Diff { against, summary, configs }
}

fn show(v: &Option<Value>) -> String {
    match v {
        None => String::new(),
        Some(v) => v.to_string(),
    }
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Added => "added",
        Status::Removed => "removed",
        Status::Changed => "changed",
    }
}

/// The terminal form.
pub fn render_human(d: &Diff) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for c in &d.configs {
        let _ = writeln!(s, "{}/{}: {}", c.tenant, c.env, status_word(c.status));
        if c.status != Status::Changed {
            continue;
        }
        for k in &c.changes {
            let _ = match k.op {
                Op::Add => writeln!(s, "  + {} {}", k.path, show(&k.after)),
                Op::Remove => writeln!(s, "  - {} {}", k.path, show(&k.before)),
                Op::Change => writeln!(s, "  ~ {}: {} -> {}", k.path, show(&k.before), show(&k.after)),
            };
        }
    }
    let _ = writeln!(
        s,
        "against {}: {} added, {} removed, {} changed, {} unchanged",
        d.against, d.summary.added, d.summary.removed, d.summary.changed, d.summary.unchanged
    );
    s
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'")
}

/// The PR-comment form (GitHub-flavoured markdown).
pub fn render_markdown(d: &Diff) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "### Tenant config changes against `{}`\n", md_escape(&d.against));
    let _ = writeln!(
        s,
        "{} added · {} removed · {} changed · {} unchanged\n",
        d.summary.added, d.summary.removed, d.summary.changed, d.summary.unchanged
    );
    if d.configs.is_empty() {
        let _ = writeln!(s, "No generated wrangler config changes.");
        return s;
    }
    let _ = writeln!(s, "| tenant | env | status | keys |\n|---|---|---|---|");
    for c in &d.configs {
        let _ = writeln!(
            s,
            "| `{}` | `{}` | {} | {} |",
            md_escape(&c.tenant),
            md_escape(&c.env),
            status_word(c.status),
            c.changes.len()
        );
    }
    for c in d.configs.iter().filter(|c| c.status == Status::Changed) {
        let _ = writeln!(
            s,
            "\n<details><summary><code>{}/{}</code>: {} key(s)</summary>\n",
            c.tenant,
            c.env,
            c.changes.len()
        );
        let _ = writeln!(s, "| | key | before | after |\n|---|---|---|---|");
        for k in &c.changes {
            let op = match k.op {
                Op::Add => "+",
                Op::Remove => "−",
                Op::Change => "~",
            };
            let cell = |v: &Option<Value>| {
                let t = show(v);
                if t.is_empty() {
                    String::new()
                } else {
                    format!("`{}`", md_escape(&t))
                }
            };
            let _ = writeln!(s, "| {op} | `{}` | {} | {} |", md_escape(&k.path), cell(&k.before), cell(&k.after));
        }
        let _ = writeln!(s, "\n</details>");
    }
    s
}
