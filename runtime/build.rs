//! Building the runtime compiles `tenants/`: an invalid tenant file fails the
//! build with its diagnostic, and any change under `tenants/` (a file added,
//! edited or deleted) reruns this script, which rewrites the per-tenant
//! wrangler configs and the registry in `<target-dir>/tenants/`. It also
//! sets the build version `/health` reports (`TENANTS_BUILD_VERSION`).
//! `TENANTS_DIR` builds from another tenants directory (the e2e suite's).

fn main() {
    let manifest = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let repo = manifest
        .parent()
        .expect("the runtime crate lives inside the repository")
        .to_path_buf();
    // `TENANTS_DIR` (relative to the repository, or absolute) builds the
    // Worker from another tenants directory: the end-to-end suite's
    // generated copy with its test identity provider. Unset: `tenants/`.
    println!("cargo:rerun-if-env-changed=TENANTS_DIR");
    let tenants = match std::env::var("TENANTS_DIR") {
        Ok(d) if !d.trim().is_empty() => repo.join(d.trim()),
        _ => repo.join("tenants"),
    };
    tenants_compiler::cargo_build::build_script(&tenants);
    let source = if tenants == repo.join("tenants") {
        String::new()
    } else {
        tenants.display().to_string()
    };
    println!("cargo:rustc-env=TENANTS_SOURCE_DIR={source}");

    // The version `/health` reports.
    println!("cargo:rerun-if-env-changed=TENANTS_BUILD_VERSION");
    let pkg = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let version = match std::env::var("TENANTS_BUILD_VERSION") {
        Ok(v) if !v.trim().is_empty() => format!("{pkg}+{}", v.trim()),
        _ => pkg,
    };
    println!("cargo:rustc-env=TENANTS_RUNTIME_VERSION={version}");
}
