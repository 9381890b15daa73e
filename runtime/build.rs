//! Building the runtime compiles `tenants/`: an invalid tenant file fails the
//! build with its diagnostic, and any change under `tenants/` (a file added,
//! edited or deleted) reruns this script, which rewrites the per-tenant
//! wrangler configs and the registry in `<target-dir>/tenants/`. It also
//! sets the build version `/health` reports (`TENANTS_BUILD_VERSION`).

fn main() {
    let manifest = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let repo = manifest
        .parent()
        .expect("the runtime crate lives inside the repository")
        .to_path_buf();
    tenants_compiler::cargo_build::build_script(&repo.join("tenants"));

    // The version `/health` reports.
    println!("cargo:rerun-if-env-changed=TENANTS_BUILD_VERSION");
    let pkg = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let version = match std::env::var("TENANTS_BUILD_VERSION") {
        Ok(v) if !v.trim().is_empty() => format!("{pkg}+{}", v.trim()),
        _ => pkg,
    };
    println!("cargo:rustc-env=TENANTS_RUNTIME_VERSION={version}");
}
