//! `tenants check --fix` and the diagnostics behind it: type errors that
//! name their fix, `null` reported where it is written, a credential under
//! an unknown key (or in the accounts file) reported as a leaked secret, and
//! the certain repairs applied in place with comments and formatting kept,
//! in KDL and JSONC.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn copy_examples() -> tempfile::TempDir {
    common::dir_with(&common::example_files())
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let p = dir.join(file);
    let s = std::fs::read_to_string(&p).unwrap();
    assert!(s.contains(from), "{file} does not contain {from:?}");
    std::fs::write(&p, s.replacen(from, to, 1)).unwrap();
}

fn tenants(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenants")).args(args).arg(dir).output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("--format json prints one JSON object")
}

fn codes(v: &serde_json::Value) -> Vec<String> {
    v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn fix_repairs_a_misspelled_key_and_a_quoted_number_in_kdl_keeping_comments() {
    let dir = copy_examples();
    let original = std::fs::read_to_string(dir.path().join("acme.kdl")).unwrap();
    edit(dir.path(), "acme.kdl", "max-tokens=1024", "max-tokenz=\"1024\"");
    edit(
        dir.path(),
        "acme.kdl",
        "    sessions retention-days=30",
        "    // kept\n    sessions retension-days=\"30\"",
    );
    edit(dir.path(), "acme.kdl", "pii-redaction=#true", "pii-redaction=\"true\"");

    // Without --fix: errors, each with its fix in the JSON output.
    let out = tenants(dir.path(), &["check", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    let fixes: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["fix"]["message"].as_str())
        .collect();
    assert!(fixes.contains(&"rename `max-tokenz` to `max-tokens`"), "{fixes:?}");
    assert!(fixes.contains(&"rename `retension-days` to `retention-days`"), "{fixes:?}");
    assert!(fixes.contains(&"write `#true`"), "{fixes:?}");

    let out = tenants(dir.path(), &["check", "--fix"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("fixed 5 problem(s) in 1 file(s)"), "{stderr}");
    let fixed = std::fs::read_to_string(dir.path().join("acme.kdl")).unwrap();
    // Exactly the original, plus the comment the user added: nothing else moved.
    assert_eq!(
        fixed,
        original.replacen("    sessions retention-days=30", "    // kept\n    sessions retention-days=30", 1)
    );
}

#[test]
fn fix_repairs_a_misspelled_key_and_a_quoted_number_in_jsonc_keeping_comments() {
    let dir = copy_examples();
    let original = std::fs::read_to_string(dir.path().join("globex.jsonc")).unwrap();
    edit(dir.path(), "globex.jsonc", "\"chat_ttl\": 60", "\"chat_tll\": \"60\"");
    edit(
        dir.path(),
        "globex.jsonc",
        "\"summarize\": {},",
        "\"summarize\": true, // on for everyone",
    );
    let out = tenants(dir.path(), &["check", "--fix", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&out)["summary"]["errors"], 0);
    let fixed = std::fs::read_to_string(dir.path().join("globex.jsonc")).unwrap();
    assert_eq!(
        fixed,
        original.replacen("\"summarize\": {},", "\"summarize\": {}, // on for everyone", 1)
    );
}

#[test]
fn uncertain_repairs_are_left_to_the_author() {
    let dir = copy_examples();
    // A key close to no known key: no rename to offer.
    edit(dir.path(), "globex.jsonc", "\"search_ttl\": 600", "\"xxxxch_ttl\": 600");
    // A number where a string belongs: quoting it may not be what was meant.
    edit(dir.path(), "globex.jsonc", "\"name\": \"Globex Corporation\"", "\"name\": 42");
    let before = std::fs::read_to_string(dir.path().join("globex.jsonc")).unwrap();
    let out = tenants(dir.path(), &["check", "--fix"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no certain fix to apply"));
    assert_eq!(std::fs::read_to_string(dir.path().join("globex.jsonc")).unwrap(), before);
    let v = json(&tenants(dir.path(), &["check", "--format", "json"]));
    for d in v["diagnostics"].as_array().unwrap() {
        assert!(d.get("fix").is_none(), "no fix expected: {d}");
        assert!(d["help"].is_string(), "every diagnostic says how to fix it: {d}");
    }
}

#[test]
fn type_errors_name_the_fix() {
    let dir = copy_examples();
    edit(dir.path(), "globex.jsonc", "\"hybrid\": true", "\"hybrid\": 1");
    edit(dir.path(), "globex.jsonc", "\"summarize\": {},", "\"summarize\": false,");
    edit(dir.path(), "acme.kdl", "tts enabled=#true", "tts enabled=true");
    let v = json(&tenants(dir.path(), &["check", "--format", "json"]));
    let help = |needle: &str| -> String {
        v["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["message"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no diagnostic about {needle}: {v}"))["help"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(help("`hybrid` must be a boolean"), "write `true` or `false`, without quotes");
    assert!(help("tool `summarize` must be an object").contains("remove the entry"));
}

#[test]
fn a_null_is_reported_where_it_is_written_and_only_there() {
    let dir = copy_examples();
    edit(
        dir.path(),
        "initech.json",
        "\"hosts\": [\"initech-stage.example.net\"],",
        "\"hosts\": null,",
    );
    edit(
        dir.path(),
        "initech.json",
        "\"vectorize\": { \"DOCS\": { \"index\": \"shared-docs-stage\" } },",
        "\"vectorize\": { \"DOCS\": null },",
    );
    let v = json(&tenants(dir.path(), &["check", "--format", "json"]));
    let diags = v["diagnostics"].as_array().unwrap();
    assert_eq!(diags.len(), 2, "one error per null, none at the parent: {v}");
    let src = std::fs::read_to_string(dir.path().join("initech.json")).unwrap();
    for d in diags {
        assert_eq!(d["code"], "schema::type");
        let line = src.lines().nth(d["line"].as_u64().unwrap() as usize - 1).unwrap();
        let col = d["column"].as_u64().unwrap() as usize - 1;
        assert!(
            line[col..].starts_with("null"),
            "reported at the null itself: {line:?} column {col}"
        );
        assert!(d["help"].as_str().unwrap().contains("to use the default, leave the key out"));
    }
}

#[test]
fn a_credential_under_an_unknown_key_is_a_leaked_secret_also_in_the_accounts_file() {
    let dir = copy_examples();
    edit(
        dir.path(),
        "acme.kdl",
        "    account \"acme\"",
        "    account \"acme\"\n    api-token \"sk-proj4Xb9TQ2mVn8cLr7KwZ1a\"",
    );
    edit(
        dir.path(),
        "accounts.jsonc",
        "\"token_env\": \"CF_API_TOKEN_ACME\"",
        "\"token_env\": \"CF_API_TOKEN_ACME\", \"token\": \"Bearer 9fJ2kLmN4pQrS7tUvWxYz0aB\"",
    );
    for format in ["human", "json", "github"] {
        let out = tenants(dir.path(), &["check", "--format", format]);
        assert_eq!(out.status.code(), Some(1), "exit 1 in --format {format}");
    }
    let v = json(&tenants(dir.path(), &["check", "--format", "json"]));
    let c = codes(&v);
    assert!(c.contains(&"tenant::secret::value".to_string()), "{c:?}");
    assert!(c.contains(&"accounts::secret::value".to_string()), "{c:?}");
    for d in v["diagnostics"].as_array().unwrap() {
        // `token` is close to `token_env`, but a credential is never moved into a known key.
        assert!(d.get("fix").is_none(), "{d}");
        if d["code"].as_str().unwrap().ends_with("secret::value") {
            assert!(d["help"].as_str().unwrap().contains("rotate"), "{d}");
        }
    }
    // --fix changes nothing and the check still fails.
    let out = tenants(dir.path(), &["check", "--fix"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn overlapping_fixes_are_applied_one_pass_at_a_time() {
    use tenants_compiler::diag::Diagnostic;
    use tenants_compiler::source::{FileId, Span};
    let file = FileId(0);
    let span = |a, b| Span { file, start: a, end: b };
    let text = "abc def";
    let d1 = Diagnostic::error("x", "m", span(0, 3), "l").with_fix("one", span(0, 3), "ABC");
    let d2 = Diagnostic::error("x", "m", span(2, 5), "l").with_fix("two", span(2, 5), "zz");
    let d3 = Diagnostic::error("x", "m", span(4, 7), "l").with_fix("three", span(4, 7), "DEF");
    let (out, n) = tenants_compiler::ops::fix::edit_text(text, file, &[&d1, &d2, &d3]);
    assert_eq!((out.as_str(), n), ("ABC DEF", 2));
}

#[test]
fn a_rename_is_certain_only_with_exactly_one_close_key() {
    use tenants_compiler::diag::close_matches;
    assert_eq!(
        close_matches("retention_dayz", ["retention_days", "max_messages"]),
        ["retention_days"]
    );
    // Two keys within two edits: ambiguous, so no fix (the help still suggests the closest).
    assert_eq!(close_matches("chat_tl", ["chat_ttl", "chat_id"]).len(), 2);
    assert!(close_matches("xxxxch_ttl", ["search_ttl", "chat_ttl"]).is_empty());
}

#[test]
fn every_diagnostic_in_the_snapshot_corpus_says_how_to_fix_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let mut checked = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if !p.to_string_lossy().ends_with("-json.snap") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        checked += text.matches("\"code\":").count();
        assert!(!text.contains("\"help\": null"), "{} has a diagnostic without help", p.display());
    }
    assert!(checked > 30, "only {checked} diagnostics in the snapshot corpus");
}
