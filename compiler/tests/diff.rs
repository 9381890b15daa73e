//! `tenants diff`: against a directory of tenant files, an earlier build's
//! output, and a git revision; in every output format.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn tenants_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tenants"))
}

fn copy_tenants(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(workspace().join("tenants")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn edit(file: &Path, from: &str, to: &str) {
    let s = std::fs::read_to_string(file).unwrap();
    assert!(s.contains(from), "{} lacks {from:?}", file.display());
    std::fs::write(file, s.replacen(from, to, 1)).unwrap();
}

fn tenants(dir: &Path, args: &[&str]) -> Output {
    Command::new(tenants_bin()).current_dir(dir).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `repo/tenants` (edited below) and `base/` (the examples as they are).
fn two_sides() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    copy_tenants(&d.path().join("repo/tenants"));
    copy_tenants(&d.path().join("base"));
    d
}

fn change_three_things(tenants: &Path) {
    // A var changes, a host is added, a tenant is removed, a tenant is added.
    edit(&tenants.join("acme.kdl"), "LOG_LEVEL \"debug\"", "LOG_LEVEL \"trace\"");
    edit(
        &tenants.join("acme.kdl"),
        "host \"*.acme.example.com\"",
        "host \"*.acme.example.com\"\n        host \"chat.acme.example.com\"",
    );
    std::fs::remove_file(tenants.join("globex.jsonc")).unwrap();
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

#[test]
fn diff_against_a_tenants_directory_names_each_changed_key() {
    let d = two_sides();
    let repo = d.path().join("repo");
    change_three_things(&repo.join("tenants"));
    let base = d.path().join("base");
    let o = tenants(&repo, &["diff", "--against", base.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&o);
    assert_eq!(
        v["summary"],
        serde_json::json!({ "added": 0, "removed": 3, "changed": 2, "unchanged": 4 })
    );
    let configs = v["configs"].as_array().unwrap();
    let find = |t: &str, e: &str| configs.iter().find(|c| c["tenant"] == t && c["env"] == e).cloned().unwrap();
    let dev = find("acme", "dev");
    assert_eq!(dev["status"], "changed");
    assert_eq!(
        dev["changes"],
        serde_json::json!([{ "op": "change", "path": "vars.LOG_LEVEL", "before": "debug", "after": "trace" }])
    );
    let prod = find("acme", "prod");
    let paths: Vec<&str> = prod["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "routes[chat.acme.example.com].custom_domain",
            "routes[chat.acme.example.com].pattern"
        ]
    );
    assert_eq!(find("globex", "prod")["status"], "removed");
    // --exit-code makes a change exit 1.
    let o = tenants(&repo, &["diff", "--against", base.to_str().unwrap(), "--exit-code"]);
    assert_eq!(o.status.code(), Some(1));
    // Identical sides: nothing to show, exit 0 even with --exit-code.
    let o = tenants(&base, &["diff", "--root", ".", "--against", base.to_str().unwrap(), "--exit-code"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("0 added, 0 removed, 0 changed, 9 unchanged"), "{}", stdout(&o));
}

#[test]
fn diff_markdown_is_the_pr_comment() {
    let d = two_sides();
    let repo = d.path().join("repo");
    change_three_things(&repo.join("tenants"));
    let o = tenants(
        &repo,
        &[
            "diff",
            "--against",
            d.path().join("base").to_str().unwrap(),
            "--format",
            "markdown",
            "--tenant",
            "acme",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    let md = stdout(&o).replace(d.path().join("base").to_str().unwrap(), "BASE");
    insta::assert_snapshot!("diff_markdown_acme", md);
}

#[test]
fn diff_against_an_earlier_build_output() {
    let d = two_sides();
    let repo = d.path().join("repo");
    let o = tenants(&repo, &["build", "--out", "main-out"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    edit(
        &repo.join("tenants/initech.json"),
        "\"initech-stage.example.net\"",
        "\"initech-staging.example.net\"",
    );
    let o = tenants(&repo, &["diff", "--against", "main-out", "--env", "stage"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let s = stdout(&o);
    assert!(s.contains("initech/stage: changed"), "{s}");
    assert!(
        s.contains("- routes[initech-stage.example.net].pattern \"initech-stage.example.net\""),
        "{s}"
    );
    assert!(
        s.contains("+ routes[initech-staging.example.net].pattern \"initech-staging.example.net\""),
        "{s}"
    );
    assert!(s.contains("0 added, 0 removed, 1 changed, 2 unchanged"), "{s}");
}

#[test]
fn diff_against_a_git_revision_reads_the_committed_files() {
    let d = two_sides();
    let repo = d.path().join("repo");
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .current_dir(&repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    git(&["init", "-q"]);
    git(&["add", "tenants"]);
    git(&["commit", "-q", "-m", "base"]);
    // Unchanged working tree: nothing differs.
    let o = tenants(&repo, &["diff"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout(&o).contains("against HEAD: 0 added, 0 removed, 0 changed, 9 unchanged"),
        "{}",
        stdout(&o)
    );
    change_three_things(&repo.join("tenants"));
    // Run from a subdirectory with --root pointing back: the prefix is found.
    let o = tenants(
        &repo.join("tenants"),
        &["diff", "--root", ".", "--against", "HEAD", "--format", "json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(json(&o)["summary"]["removed"], 3);
    // A revision that does not exist: exit 2 naming it.
    let o = tenants(&repo, &["diff", "--against", "no-such-branch"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no-such-branch"));
}

#[test]
fn diff_with_invalid_current_tenants_exits_1_and_invalid_base_exits_2() {
    let d = two_sides();
    let repo = d.path().join("repo");
    let base = d.path().join("base");
    edit(&base.join("acme.kdl"), "rag chunk-size=800", "rag chunk-sise=800");
    let o = tenants(&repo, &["diff", "--against", base.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("acme.kdl"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    edit(&repo.join("tenants/acme.kdl"), "rag chunk-size=800", "rag chunk-sise=800");
    let o = tenants(&repo, &["diff", "--against", base.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&o)["summary"]["valid"], false);
}
