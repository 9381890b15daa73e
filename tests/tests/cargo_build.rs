//! `cargo build` runs the tenant compiler: on a copy of the workspace, a
//! real `cargo build -p tenants-runtime` writes the artifacts, sees a tenant
//! file added (a new directory entry, not only edits of known files) — in
//! the artifacts and in the generated `TenantId` — fails with the rendered
//! diagnostic on an invalid file, and drops the configs of a deleted one.
//!
//! The copy builds into `target/cargo-build-it/` of this workspace, kept
//! between runs so only the first run compiles the compiler's dependencies.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        let n = name.to_string_lossy();
        if matches!(n.as_ref(), "target" | "node_modules" | ".git" | "out" | ".wrangler") {
            continue;
        }
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(&name));
        } else {
            std::fs::copy(&p, to.join(&name)).unwrap();
        }
    }
}

fn cargo_build(ws: &Path, target: &Path) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .current_dir(ws)
        .args(["build", "--quiet", "-p", "tenants-runtime"])
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTC_WRAPPER")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A new tenant modelled on acme: its own id, hosts, KV ids and indexes.
fn hooli(acme: &str) -> String {
    let mut s = acme.replace("acme", "hooli").replace("account \"hooli\"", "account \"acme\"");
    // Reverse every 32-hex KV id so no namespace is shared with acme.
    let mut out = String::new();
    while let Some(i) = s.find("id=\"") {
        let (head, tail) = s.split_at(i + 4);
        out.push_str(head);
        let end = tail.find('"').unwrap();
        out.push_str(&tail[..end].chars().rev().collect::<String>());
        s = tail[end..].to_string();
    }
    out.push_str(&s);
    out
}

#[test]
fn cargo_build_compiles_tenants_and_sees_added_edited_and_deleted_files() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    copy_dir(&root(), &ws);
    let target = root().join("target").join("cargo-build-it");
    let artifacts = target.join("tenants");

    let o = cargo_build(&ws, &target);
    assert!(o.status.success(), "clean build failed:\n{}", stderr(&o));
    let reg = std::fs::read_to_string(artifacts.join("registry.json")).unwrap();
    assert!(reg.contains("\"id\": \"acme\"") && !reg.contains("hooli"), "{reg}");
    assert!(artifacts.join("prod/acme.wrangler.jsonc").is_file());

    // Added file: the next build sees it.
    let acme = std::fs::read_to_string(ws.join("tenants/acme.kdl")).unwrap();
    let new = ws.join("tenants/hooli.kdl");
    std::fs::write(&new, hooli(&acme)).unwrap();
    let o = cargo_build(&ws, &target);
    assert!(o.status.success(), "build with a new tenant failed:\n{}", stderr(&o));
    let cfg = std::fs::read_to_string(artifacts.join("dev/hooli.wrangler.jsonc")).unwrap();
    assert!(cfg.contains("\"name\": \"ai-platform-hooli-dev\""), "{cfg}");
    // The runtime's generated types saw the new file too: code naming the
    // new tenant's variant compiles.
    let lib = ws.join("runtime/src/lib.rs");
    let original_lib = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(
        &lib,
        format!("{original_lib}\nconst _: tenants::TenantId = tenants::TenantId::Hooli;\n"),
    )
    .unwrap();
    let o = cargo_build(&ws, &target);
    assert!(
        o.status.success(),
        "TenantId::Hooli is not generated after adding hooli.kdl:\n{}",
        stderr(&o)
    );
    std::fs::write(&lib, &original_lib).unwrap();

    // Edited into an invalid file: the build fails with the diagnostic.
    let text = std::fs::read_to_string(&new)
        .unwrap()
        .replace("sessions retention-days=30", "sessions retention-dayz=30");
    std::fs::write(&new, &text).unwrap();
    let line = text.lines().position(|l| l.contains("retention-dayz")).unwrap() + 1;
    let o = cargo_build(&ws, &target);
    assert!(!o.status.success(), "an invalid tenant must fail the build");
    let err = stderr(&o);
    assert!(err.contains(&format!("hooli.kdl:{line}:")), "no file:line in:\n{err}");
    assert!(err.contains("schema::unknown-key"), "no diagnostic code in:\n{err}");
    assert!(err.contains("retention-days"), "no did-you-mean help in:\n{err}");
    assert!(
        artifacts.join("dev/hooli.wrangler.jsonc").is_file(),
        "a failed build leaves the last good artifacts"
    );

    // Deleted: its configs go.
    std::fs::remove_file(&new).unwrap();
    let o = cargo_build(&ws, &target);
    assert!(o.status.success(), "build after deleting a tenant failed:\n{}", stderr(&o));
    for env in ["dev", "stage", "prod"] {
        assert!(
            !artifacts.join(format!("{env}/hooli.wrangler.jsonc")).exists(),
            "the deleted tenant's configs are gone"
        );
    }
    assert!(!std::fs::read_to_string(artifacts.join("registry.json")).unwrap().contains("hooli"));
}
