//! Workspace-level checks that keep the repository's promises true: the
//! design card's top-level layout exists, the README starts with the two
//! commands, and CI runs the README's test command plus the lints.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[test]
fn top_level_layout_of_the_design_card_exists() {
    for dir in ["compiler", "macros", "runtime", "tenants", "schemas", "docs", "tests", "xtask"] {
        assert!(root().join(dir).is_dir(), "missing {dir}/");
    }
    assert!(root().join("Cargo.toml").is_file());
}

#[test]
fn readme_starts_with_the_build_and_test_commands() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let first_block = readme
        .split("```sh")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a sh code block");
    let commands: Vec<&str> = first_block.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert!(commands[0].starts_with("cargo xtask build"), "{commands:?}");
    assert!(commands[1].starts_with("cargo xtask test"), "{commands:?}");
}

#[test]
fn ci_runs_the_readme_test_command_and_the_lints() {
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    for needle in [
        "cargo fmt --all -- --check",
        "cargo clippy --workspace --all-targets -- -D warnings",
        "cargo xtask test",
    ] {
        assert!(ci.contains(needle), ".ci/run does not run `{needle}`");
    }
    let xtask = std::fs::read_to_string(root().join("xtask/src/main.rs")).unwrap();
    assert!(xtask.contains("\"--check\""), "xtask test runs `tenants schema --check`");
}
