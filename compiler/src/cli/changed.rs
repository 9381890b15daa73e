//! What `tenants check` blames: the positional paths (a tenants directory,
//! or files in one) and `--changed-since REV` decide which files count as
//! changed, so that a conflict between two files is reported at the changed
//! one ([`tenants_compiler::diag::blame_changed`]).
//!
//! Invariant: the set holds canonical paths; a file that cannot be
//! canonicalised (deleted since) is left out, never guessed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory to check and the files named on the command line.
pub struct Target {
    pub root: PathBuf,
    pub named: HashSet<PathBuf>,
}

/// Resolve `tenants check [PATH]...`: nothing (the `--root` directory), one
/// directory, or files of one directory (checked with all the others there,
/// and blamed first). Anything else is a usage error.
pub fn target(paths: &[PathBuf], root: &Path) -> Result<Target, String> {
    let Some(first) = paths.first() else {
        return Ok(Target {
            root: root.to_path_buf(),
            named: HashSet::new(),
        });
    };
    if paths.len() == 1 && !first.is_file() {
        return Ok(Target {
            root: first.clone(),
            named: HashSet::new(),
        });
    }
    let mut dir: Option<PathBuf> = None;
    let mut named = HashSet::new();
    for p in paths {
        if !p.is_file() {
            return Err(format!(
                "{} is not a file: name either one tenants directory or files of one directory",
                p.display()
            ));
        }
        let canonical = p.canonicalize().map_err(|e| format!("{}: {e}", p.display()))?;
        let parent = canonical.parent().map(Path::to_path_buf).unwrap_or_default();
        match &dir {
            Some(d) if *d != parent => {
                return Err(format!(
                    "{} is not in {}: the files named must be in one tenants directory",
                    p.display(),
                    d.display()
                ))
            }
            _ => dir = Some(parent),
        }
        named.insert(canonical);
    }
    let root = paths[0]
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    Ok(Target { root, named })
}

/// The files under `root` that differ from git revision `rev` (committed
/// since, staged, modified in the work tree, or new and not ignored).
pub fn since(root: &Path, rev: &str) -> Result<HashSet<PathBuf>, String> {
    let git = |args: &[&str]| -> Result<String, String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let diffed = git(&["diff", "--name-only", "--relative", rev, "--", "."])?;
    let untracked = git(&["ls-files", "--others", "--exclude-standard", "--", "."])?;
    Ok(diffed
        .lines()
        .chain(untracked.lines())
        .filter(|l| !l.is_empty())
        .filter_map(|l| root.join(l).canonicalize().ok())
        .collect())
}
