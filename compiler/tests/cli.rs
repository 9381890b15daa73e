//! End-to-end checks of the `tenants` CLI on copies of the example tenants:
//! the acceptance checks of the compiler-core issue.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The `tenants` binary cargo built for this test run (never a stale one).
fn tenants_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tenants"))
}

fn copy_examples() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(workspace().join("tenants")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    dir
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let p = dir.join(file);
    let s = std::fs::read_to_string(&p).unwrap();
    assert!(s.contains(from), "{file} does not contain {from:?}");
    std::fs::write(&p, s.replacen(from, to, 1)).unwrap();
}

fn check_json(dir: &Path) -> (i32, serde_json::Value) {
    let out = Command::new(tenants_bin())
        .args(["check", "--format", "json", "--root"])
        .arg(dir)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--format json prints one JSON object");
    (out.status.code().unwrap(), v)
}

fn line_of(dir: &Path, file: &str, needle: &str) -> u64 {
    let s = std::fs::read_to_string(dir.join(file)).unwrap();
    s.lines().position(|l| l.contains(needle)).expect("needle present") as u64 + 1
}

#[test]
fn examples_check_clean_with_exit_0() {
    let out = Command::new(tenants_bin())
        .args(["check", "--root"])
        .arg(workspace().join("tenants"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn unknown_key_exits_1_and_json_names_file_and_line() {
    let dir = copy_examples();
    edit(
        dir.path(),
        "acme.kdl",
        "    account \"acme\"\n",
        "    account \"acme\"\n    colour \"red\"\n",
    );
    let (code, v) = check_json(dir.path());
    assert_eq!(code, 1);
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "schema::unknown-key");
    assert!(d["file"].as_str().unwrap().ends_with("acme.kdl"));
    assert_eq!(d["line"].as_u64().unwrap(), line_of(dir.path(), "acme.kdl", "colour"));
    assert_eq!(d["column"], 5);
    assert_eq!(v["summary"]["valid"], false);
}

#[test]
fn second_tenant_claiming_a_host_exits_1_naming_both_files() {
    let dir = copy_examples();
    edit(dir.path(), "globex.jsonc", "\"globex.example.org\"", "\"acme.example.com\"");
    let (code, v) = check_json(dir.path());
    assert_eq!(code, 1);
    let diags = v["diagnostics"].as_array().unwrap();
    let d = diags
        .iter()
        .find(|d| d["code"] == "tenant::host::conflict")
        .expect("a host conflict");
    assert!(d["file"].as_str().unwrap().ends_with("globex.jsonc"));
    assert_eq!(
        d["line"].as_u64().unwrap(),
        line_of(dir.path(), "globex.jsonc", "\"acme.example.com\"")
    );
    let files: Vec<&str> = d["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["file"].as_str().unwrap())
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("acme.kdl")),
        "second label points into acme.kdl: {files:?}"
    );
    // acme.kdl has no error of its own, so the check dropped its text after
    // checking it; the label into it is still placed and drawn right.
    let acme = d["labels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["file"].as_str().unwrap().ends_with("acme.kdl"))
        .unwrap();
    assert_eq!(
        acme["line"].as_u64().unwrap(),
        line_of(dir.path(), "acme.kdl", "host \"acme.example.com\"")
    );
    let out = Command::new(tenants_bin()).arg("check").arg(dir.path()).output().unwrap();
    let human = String::from_utf8_lossy(&out.stderr);
    assert!(human.contains("host \"acme.example.com\""), "acme.kdl's line is shown:\n{human}");
}

#[test]
fn chat_model_as_embedding_model_exits_1_at_the_model() {
    let dir = copy_examples();
    edit(
        dir.path(),
        "initech.json",
        "\"model\": \"@cf/baai/bge-base-en-v1.5\"",
        "\"model\": \"@cf/meta/llama-3.1-8b-instruct\"",
    );
    let (code, v) = check_json(dir.path());
    assert_eq!(code, 1);
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "tenant::model::task");
    assert!(d["file"].as_str().unwrap().ends_with("initech.json"));
    assert_eq!(d["line"].as_u64().unwrap(), line_of(dir.path(), "initech.json", "\"embedding\""));
}

#[test]
fn github_format_prints_one_annotation_per_error() {
    let dir = copy_examples();
    edit(dir.path(), "acme.kdl", "top-k=5", "top-k=500");
    edit(dir.path(), "globex.jsonc", "\"account\": \"shared\"", "\"account\": \"shard\"");
    let out = Command::new(tenants_bin())
        .args(["check", "--format", "github", "--root"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("::error file=") && lines[0].contains("acme.kdl") && lines[0].contains("title=schema%3A%3Arange::"));
    assert!(lines[1].contains("globex.jsonc") && lines[1].contains("did you mean `shared`?"));
}

#[test]
fn missing_root_is_exit_2_and_bad_flag_is_exit_2() {
    let out = Command::new(tenants_bin())
        .args(["check", "--root", "/nonexistent/tenants"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(tenants_bin()).args(["check", "--format", "xml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn schema_check_passes_on_the_committed_schemas_and_fails_when_stale() {
    let out = Command::new(tenants_bin())
        .args(["schema", "--check", "--out"])
        .arg(workspace().join("schemas"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(tenants_bin())
        .args(["schema", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let p = dir.path().join("tenant.schema.json");
    let s = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, s.replacen("\"title\"", "\"x-stale\": 1, \"title\"", 1)).unwrap();
    let out = Command::new(tenants_bin())
        .args(["schema", "--check", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tenant.schema.json"));
}

#[test]
fn an_invalid_platform_binding_gives_one_error_not_one_per_tenant() {
    let dir = copy_examples();
    edit(dir.path(), "platform.kdl", "dimensions=768", "dimensions=2048");
    let (code, v) = check_json(dir.path());
    assert_eq!(code, 1);
    let codes: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["schema::range"], "tenants using DOCS are not told it does not exist");
}

#[test]
fn check_and_build_take_the_directory_as_a_positional_path() {
    let dir = copy_examples();
    edit(dir.path(), "acme.kdl", "max-tokens=1024", "max-tokens=\"1024\"");
    // The positional PATH is the directory checked: the broken copy fails,
    // the examples pass, whatever `--root` would default to.
    let out = Command::new(tenants_bin()).arg("check").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(tenants_bin())
        .arg("check")
        .arg(workspace().join("tenants"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // Both a PATH and --root: a usage error, not a silent choice.
    let out = Command::new(tenants_bin())
        .arg("check")
        .arg(dir.path())
        .arg("--root")
        .arg(workspace().join("tenants"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new(tenants_bin())
        .arg("build")
        .arg(workspace().join("tenants"))
        .arg("--out")
        .arg(out_dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out_dir.path().join("registry.json").is_file());
}

/// Issue 17: a Cloudflare API token pasted into an environment's var fails
/// the check in every output format, at the var's line; listed in the
/// platform's `not_secrets`, the same value passes.
#[test]
fn a_pasted_cloudflare_token_exits_1_in_every_format() {
    let token = "cfut_Xq9vL2mN8pR4sT6uW1yZ3bC5dF7gH0jK2lM4nP6q0a1b2c3d";
    let dir = copy_examples();
    edit(
        dir.path(),
        "acme.kdl",
        r#"var LOG_LEVEL "debug""#,
        &format!("var LOG_LEVEL \"debug\"\n        var CF_TOKEN \"{token}\""),
    );
    let line = line_of(dir.path(), "acme.kdl", "CF_TOKEN");
    for format in ["human", "json", "github"] {
        let out = Command::new(tenants_bin())
            .args(["check", "--format", format, "--root"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "--format {format}");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(
            text.contains("tenant::secret::value") || text.contains("tenant%3A%3Asecret%3A%3Avalue"),
            "--format {format}: {text}"
        );
        assert!(text.contains("Cloudflare API token"), "--format {format}: {text}");
        if format == "github" {
            assert!(text.contains(&format!("acme.kdl,line={line},")), "{text}");
        }
    }
    edit(
        dir.path(),
        "platform.kdl",
        "    queue INGEST\n",
        &format!("    queue INGEST\n    not-secret \"{token}\" reason=\"a revoked token kept as a test fixture\"\n"),
    );
    let (code, v) = check_json(dir.path());
    assert_eq!(code, 0, "{v}");
}

fn run_check(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(tenants_bin())
        .current_dir(dir)
        .arg("check")
        .args(args)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap(), text)
}

/// The file and line of the first diagnostic with `code` in `--format json` output.
fn located(json: &str, code: &str) -> (String, u64) {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let d = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {json}"));
    let file = d["file"].as_str().unwrap();
    (
        Path::new(file).file_name().unwrap().to_string_lossy().into_owned(),
        d["line"].as_u64().unwrap(),
    )
}

/// Issue 17: a host conflict introduced in one tenant file (acme, which
/// sorts first) is annotated in that file by `--format github`, and is
/// blamed on it when it is named on the command line or changed since a
/// git revision; without either, the later claim is the location.
#[test]
fn a_host_conflict_is_blamed_on_the_changed_file() {
    let dir = copy_examples();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(dir.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "base"]);
    edit(
        dir.path(),
        "acme.kdl",
        r#"host "acme.example.com""#,
        "host \"acme.example.com\"\n        host \"globex.example.org\"",
    );
    let acme_line = line_of(dir.path(), "acme.kdl", "globex.example.org");
    let globex_line = line_of(dir.path(), "globex.jsonc", "\"globex.example.org\"");

    let (code, gh) = run_check(dir.path(), &["--root", ".", "--format", "github"]);
    assert_eq!(code, 1, "{gh}");
    let conflicts: Vec<&str> = gh.lines().filter(|l| l.contains("title=tenant%3A%3Ahost%3A%3Aconflict")).collect();
    assert_eq!(conflicts.len(), 2, "one annotation per file: {gh}");
    assert!(conflicts.iter().any(|l| l.contains(&format!("acme.kdl,line={acme_line},"))), "{gh}");
    assert!(
        conflicts.iter().any(|l| l.contains(&format!("globex.jsonc,line={globex_line},"))),
        "{gh}"
    );

    let (_, plain) = run_check(dir.path(), &["--root", ".", "--format", "json"]);
    assert_eq!(located(&plain, "tenant::host::conflict"), ("globex.jsonc".into(), globex_line));
    let (_, named) = run_check(dir.path(), &["acme.kdl", "--format", "json"]);
    assert_eq!(located(&named, "tenant::host::conflict"), ("acme.kdl".into(), acme_line));
    let (_, since) = run_check(dir.path(), &["--root", ".", "--changed-since", "HEAD", "--format", "json"]);
    assert_eq!(located(&since, "tenant::host::conflict"), ("acme.kdl".into(), acme_line));

    // Files of two directories, or a revision git does not know: usage errors.
    let other = copy_examples();
    let (code, text) = run_check(dir.path(), &["acme.kdl", other.path().join("globex.jsonc").to_str().unwrap()]);
    assert_eq!(code, 2, "{text}");
    let (code, text) = run_check(dir.path(), &["--root", ".", "--changed-since", "no-such-rev"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--changed-since no-such-rev"), "{text}");
}
