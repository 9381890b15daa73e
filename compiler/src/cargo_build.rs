//! The `cargo build` front end: what a build script calls so that building
//! the workspace compiles `tenants/` — the same compiler, the same
//! diagnostics as `tenants check`, the same artifacts as `tenants build`.
//!
//! Invariants:
//! - an invalid tenant file fails the build with the rendered diagnostic
//!   (file:line:col, label, help) and writes nothing;
//! - the build script is rerun when anything in the tenants directory
//!   changes, files added or deleted included (cargo scans a
//!   `rerun-if-changed` directory recursively, and the directory's own
//!   modification time changes when an entry is added or removed);
//! - the artifacts land in `<target-dir>/tenants/` (the directory holding
//!   cargo's `CACHEDIR.TAG`), the layout of `tenants build --out`.

use std::path::{Path, PathBuf};

use crate::emit::artifacts;

/// `<target-dir>/tenants/` for a build script's `OUT_DIR`: the nearest
/// ancestor holding cargo's `CACHEDIR.TAG`, else `OUT_DIR` itself.
pub fn artifacts_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|a| a.join("CACHEDIR.TAG").is_file())
        .unwrap_or(out_dir)
        .join("tenants")
}

/// Compile `tenants_dir` and write its artifacts into `out`, with the paths
/// `tenants build` uses by default (`runtime/build/index.js` and
/// `node_modules/` next to the tenants directory). Returns the warnings to
/// show (one line each), or the rendered diagnostics as the error.
pub fn build(tenants_dir: &Path, out: &Path) -> Result<Vec<String>, String> {
    let opts = artifacts::Options::new(tenants_dir, out);
    let inputs = artifacts::hash_inputs(&opts);
    if artifacts::up_to_date(&opts, &inputs) {
        return Ok(Vec::new());
    }
    let comp = crate::compile(tenants_dir).map_err(|e| format!("error: {e}"))?;
    if comp.diagnostics.has_errors() {
        let s = comp.summary();
        return Err(format!(
            "{}\ninvalid tenants: {} error(s), {} warning(s) in {} (run `cargo run --bin tenants -- check` for the same report)",
            crate::diag::render_human(&comp.sources, &comp.diagnostics.items, false),
            s.errors,
            s.warnings,
            tenants_dir.display()
        ));
    }
    let plan = artifacts::plan(&comp, &opts).map_err(|e| format!("error: {e}"))?;
    artifacts::write(&plan, out).map_err(|e| format!("error: writing {}: {e}", out.display()))?;
    artifacts::record(&opts, &plan, &inputs).map_err(|e| format!("error: writing {}: {e}", out.display()))?;
    Ok(crate::diag::render_short(&comp.sources, &comp.diagnostics.items)
        .lines()
        .map(str::to_string)
        .collect())
}

/// Everything a build script does, printing cargo's instructions: rerun on
/// any change under `tenants_dir`, fail with the diagnostics, export
/// `TENANTS_ARTIFACTS_DIR` to the crate being built.
pub fn build_script(tenants_dir: &Path) {
    println!("cargo:rerun-if-changed={}", tenants_dir.display());
    let out_dir = std::env::var_os("OUT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let out = artifacts_dir(&out_dir);
    match build(tenants_dir, &out) {
        Ok(warnings) => {
            for w in warnings {
                println!("cargo:warning={w}");
            }
            println!("cargo:rustc-env=TENANTS_ARTIFACTS_DIR={}", out.display());
        }
        Err(report) => {
            eprintln!("{report}");
            std::process::exit(1);
        }
    }
}
