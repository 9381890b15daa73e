//! Building the runtime compiles `tenants/`: an invalid tenant file fails the
//! build with its diagnostic, and any change under `tenants/` (a file added,
//! edited or deleted) reruns this script, which rewrites the per-tenant
//! wrangler configs and the registry in `<target-dir>/tenants/`.

fn main() {
    let manifest = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let repo = manifest
        .parent()
        .expect("the runtime crate lives inside the repository")
        .to_path_buf();
    tenants_compiler::cargo_build::build_script(&repo.join("tenants"));
}
