//! Snapshot tests of the compiler's diagnostics.
//!
//! Each test copies the example `tenants/` directory into a temporary
//! directory, breaks it with a few [`Edit`]s, compiles it and pins:
//!
//! - the code (and, where it matters, the exact source text) of the primary
//!   diagnostic the test is about, asserted in code so the test name says
//!   which behaviour it protects;
//! - the full human, JSON and GitHub-annotation renderings, as insta
//!   snapshots (`tests/snapshots/diagnostics__<test>-{human,json,github}.snap`).
//!
//! Edits are textual and panic when their `from` text is not found exactly
//! once, so a change to the examples fails loudly instead of silently
//! testing nothing.
//!
//! Regenerate the snapshots with
//! `INSTA_UPDATE=always cargo test -p tenants-compiler --test diagnostics`
//! and review the diff.

use std::path::{Path, PathBuf};

use tenants_compiler::diag::{self, Diagnostic, Severity};
use tenants_compiler::source::SourceMap;

// ------------------------------------------------------------------ harness

/// One change to the copied `tenants/` directory.
enum Edit {
    /// Replace the only occurrence of `from` in `file` by `to`.
    Replace { file: &'static str, from: String, to: String },
    /// Create or overwrite `file`.
    Write { file: &'static str, contents: Vec<u8> },
    /// Put `bytes` before the current contents of `file`.
    Prepend { file: &'static str, bytes: Vec<u8> },
    /// Delete `file`.
    Remove { file: &'static str },
}

fn replace(file: &'static str, from: impl Into<String>, to: impl Into<String>) -> Edit {
    Edit::Replace {
        file,
        from: from.into(),
        to: to.into(),
    }
}
fn write(file: &'static str, contents: impl Into<Vec<u8>>) -> Edit {
    Edit::Write {
        file,
        contents: contents.into(),
    }
}
fn prepend(file: &'static str, bytes: impl Into<Vec<u8>>) -> Edit {
    Edit::Prepend { file, bytes: bytes.into() }
}
fn remove(file: &'static str) -> Edit {
    Edit::Remove { file }
}

impl Edit {
    fn file(&self) -> &'static str {
        match self {
            Edit::Replace { file, .. } | Edit::Write { file, .. } | Edit::Prepend { file, .. } | Edit::Remove { file } => file,
        }
    }

    fn describe(&self) -> String {
        match self {
            Edit::Replace { file, from, to } => format!("{file}: replace {from:?} with {to:?}"),
            Edit::Write { file, contents } => {
                let text = String::from_utf8_lossy(contents);
                match text.lines().next() {
                    Some(first) if text.lines().count() > 1 => {
                        format!("{file}: write {} lines starting {first:?}", text.lines().count())
                    }
                    _ => format!("{file}: write {text:?}"),
                }
            }
            Edit::Prepend { file, bytes } => format!("{file}: prepend {bytes:02x?}"),
            Edit::Remove { file } => format!("{file}: remove"),
        }
    }

    fn apply(&self, dir: &Path) {
        match self {
            Edit::Replace { file, from, to } => {
                let path = dir.join(file);
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
                let n = text.matches(from.as_str()).count();
                assert!(n == 1, "edit of {file}: {from:?} occurs {n} times, expected exactly once");
                std::fs::write(&path, text.replacen(from.as_str(), to, 1)).unwrap();
            }
            Edit::Write { file, contents } => std::fs::write(dir.join(file), contents).unwrap(),
            Edit::Prepend { file, bytes } => {
                let path = dir.join(file);
                let mut all = bytes.clone();
                all.extend(std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {file}: {e}")));
                std::fs::write(&path, all).unwrap();
            }
            Edit::Remove { file } => std::fs::remove_file(dir.join(file)).unwrap_or_else(|e| panic!("cannot remove {file}: {e}")),
        }
    }
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenants")
}

/// What one broken input produced, with file names as `tenants/<file>`.
struct Outcome {
    sources: SourceMap,
    items: Vec<Diagnostic>,
}

impl Outcome {
    fn codes(&self) -> Vec<&'static str> {
        self.items.iter().map(|d| d.code).collect()
    }

    /// Assert a diagnostic with `code` exists whose primary label is in
    /// `file` and covers exactly `text` (use "" for an empty span).
    #[track_caller]
    fn expect(&self, code: &str, file: &str, text: &str) -> &Diagnostic {
        let want = format!("tenants/{file}");
        let found = self.items.iter().find(|d| {
            let span = d.primary();
            let f = self.sources.get(span.file);
            d.code == code && f.name == want && f.slice(span) == text
        });
        match found {
            Some(d) => d,
            None => panic!(
                "no `{code}` diagnostic at {text:?} in {want}; got:\n{}",
                diag::render_short(&self.sources, &self.items)
            ),
        }
    }

    /// Assert a diagnostic with `code` exists whose primary label is in `file`.
    #[track_caller]
    fn expect_first(&self, code: &str, file: &str) -> &Diagnostic {
        let want = format!("tenants/{file}");
        match self
            .items
            .iter()
            .find(|d| d.code == code && self.sources.get(d.primary().file).name == want)
        {
            Some(d) => d,
            None => panic!(
                "no `{code}` diagnostic in {want}; got:\n{}",
                diag::render_short(&self.sources, &self.items)
            ),
        }
    }

    #[track_caller]
    fn expect_code(&self, code: &str) {
        assert!(
            self.codes().contains(&code),
            "no `{code}` diagnostic; got:\n{}",
            diag::render_short(&self.sources, &self.items)
        );
    }

    fn errors(&self) -> usize {
        self.items.iter().filter(|d| d.severity == Severity::Error).count()
    }
    fn warnings(&self) -> usize {
        self.items.iter().filter(|d| d.severity == Severity::Warning).count()
    }
}

/// Copy the examples, apply `edits`, compile, snapshot both renderings.
fn run(name: &str, edits: &[Edit]) -> Outcome {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, tmp.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    for e in edits {
        e.apply(tmp.path());
    }
    let comp = tenants_compiler::compile(tmp.path()).unwrap_or_else(|e| panic!("load error: {e}"));
    let summary = comp.summary();

    // Show files as `tenants/<file>` (what `tenants check` prints from the
    // repository root) and scrub the temporary path from every text, before
    // rendering so that line wrapping does not depend on the temp dir.
    let prefix = tmp.path().to_string_lossy().replace('\\', "/");
    let scrub = |s: &str| s.replace(&prefix, "tenants");
    let mut sources = SourceMap::default();
    for f in comp.sources.files() {
        sources.add(scrub(&f.name), f.path.clone(), f.format, f.text.clone());
    }
    let items: Vec<Diagnostic> = comp
        .diagnostics
        .items
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d.message = scrub(&d.message);
            d.help = d.help.as_deref().map(scrub);
            for l in &mut d.labels {
                l.message = scrub(&l.message);
            }
            d
        })
        .collect();

    let human = diag::render_human(&sources, &items, false);
    let json = diag::render_json(&sources, &items, &summary);
    let github = diag::render_github(&sources, &items);
    for out in [&human, &json, &github] {
        assert!(!out.contains(&prefix), "temporary path leaked into output:\n{out}");
    }
    assert!(comp.model.is_none() || summary.errors == 0, "a model was produced despite errors");

    // Diagnostics must not depend on hash-map order: a second compilation
    // of the same files gives the same output.
    let again = tenants_compiler::compile(tmp.path()).unwrap();
    assert_eq!(
        diag::render_short(&comp.sources, &comp.diagnostics.items),
        diag::render_short(&again.sources, &again.diagnostics.items),
        "two compilations of the same input disagree"
    );

    if !edits
        .iter()
        .any(|e| e.file().starts_with("platform.") || e.file().starts_with("accounts."))
    {
        beside_broken_shared_files(name, tmp.path(), &comp);
    }

    let description = edits.iter().map(Edit::describe).collect::<Vec<_>>().join("\n");
    insta::with_settings!({ description => description, omit_expression => true }, {
        insta::assert_snapshot!(format!("{name}-human"), human);
        insta::assert_snapshot!(format!("{name}-json"), json);
        insta::assert_snapshot!(format!("{name}-github"), github);
    });
    Outcome { sources, items }
}

/// Rules that need the platform file (its environments, bindings, tools,
/// custom models, development flags) or the accounts file: the only tenant
/// diagnostics allowed to disappear when those files cannot be parsed.
const NEED_PLATFORM_OR_ACCOUNTS: &[&str] = &[
    "tenant::env::unknown",
    "tenant::env::missing",
    "tenant::binding::unknown",
    "tenant::binding::kind",
    "tenant::resource::missing",
    "tenant::account::unknown",
    "tenant::auth::none",
    "tenant::auth::missing",
    "tenant::auth::kv",
    "tenant::ai::binding-missing",
    "tenant::var::conflict",
    "tenant::tool::unknown",
    "tenant::tool::role",
    "tenant::ai::embedding-missing",
    "tenant::model::dimensions",
];

/// Issue 17: every rule runs when another file is broken. The same tenant
/// files beside a platform file and an accounts file that cannot be parsed
/// give every tenant diagnostic they gave before, at the same place, except
/// the rules in [`NEED_PLATFORM_OR_ACCOUNTS`].
fn beside_broken_shared_files(name: &str, dir: &Path, before: &tenants_compiler::Compilation) {
    let broken = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, broken.path().join(path.file_name().unwrap())).unwrap();
    }
    for (file, tail) in [
        ("platform.kdl", "\nplatform \"broken\" {\n"),
        ("accounts.jsonc", "\n{ \"accounts\": \n"),
    ] {
        let path = broken.path().join(file);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(tail);
        std::fs::write(&path, text).unwrap();
    }
    let after = tenants_compiler::compile(broken.path()).unwrap();
    let is_shared = |n: &str| n.starts_with("platform.") || n.starts_with("accounts.");
    let place = |c: &tenants_compiler::Compilation, d: &Diagnostic| {
        let span = d.primary();
        let f = c.sources.get(span.file);
        let file = f.path.file_name().unwrap().to_string_lossy().into_owned();
        (d.code, file, span.start, span.end)
    };
    let after_places: Vec<_> = after.diagnostics.items.iter().map(|d| place(&after, d)).collect();
    assert!(
        after_places
            .iter()
            .any(|(code, file, ..)| code.starts_with("syntax::") && file == "platform.kdl"),
        "{name}: the platform file was not broken"
    );
    for d in &before.diagnostics.items {
        let p = place(before, d);
        if is_shared(&p.1) || !p.0.starts_with("tenant::") || NEED_PLATFORM_OR_ACCOUNTS.contains(&p.0) {
            continue;
        }
        assert!(
            after_places.contains(&p),
            "{name}: `{}` at {}:{}..{} is gone beside a broken platform and accounts file; got:\n{}",
            p.0,
            p.1,
            p.2,
            p.3,
            diag::render_short(&after.sources, &after.diagnostics.items)
        );
    }
}

/// A broken input: at least one error, and no model.
#[track_caller]
fn check(name: &str, edits: &[Edit]) -> Outcome {
    let o = run(name, edits);
    assert!(
        o.errors() > 0,
        "expected errors for {name}, got:\n{}",
        diag::render_short(&o.sources, &o.items)
    );
    o
}

/// A suspicious but valid input: warnings only.
#[track_caller]
fn check_warning(name: &str, edits: &[Edit]) -> Outcome {
    let o = run(name, edits);
    assert_eq!(o.errors(), 0, "{}", diag::render_short(&o.sources, &o.items));
    assert!(o.warnings() > 0, "expected a warning for {name}");
    o
}

/// A complete, valid tenant in JSON with its own hosts and resources
/// (`n` makes ids and hosts unique).
fn json_tenant(id: &str, account: &str, n: u8) -> String {
    let kv = |env: u8| format!("{n:x}{env:x}").repeat(16);
    let env = |env: &str, k: u8| {
        format!(
            r#"    "{env}": {{
      "hosts": ["{env}.{id}{n}.example.com"],
      "kv": {{ "CACHE": {{ "id": "{}" }} }},
      "vectorize": {{ "DOCS": {{ "index": "{id}{n}-docs-{env}" }} }},
      "queues": {{ "INGEST": {{ "name": "{id}{n}-ingest-{env}" }} }}
    }}"#,
            kv(k)
        )
    };
    format!(
        r#"{{
  "id": "{id}",
  "name": "Tenant {id}",
  "account": "{account}",
  "envs": {{
{},
{},
{}
  }},
  "ai": {{ "chat": "@cf/meta/llama-3.1-8b-instruct", "embedding": "@cf/baai/bge-base-en-v1.5" }},
  "auth": {{ "api_keys": true }}
}}
"#,
        env("dev", 1),
        env("stage", 2),
        env("prod", 3)
    )
}

/// The same tenant as [`json_tenant`], written in KDL.
fn kdl_tenant(id: &str, account: &str, n: u8) -> String {
    let kv = |env: u8| format!("{n:x}{env:x}").repeat(16);
    let env = |env: &str, k: u8| {
        format!(
            r#"    env "{env}" {{
        host "{env}.{id}{n}.example.com"
        kv CACHE id="{}"
        vectorize DOCS index="{id}{n}-docs-{env}"
        queue INGEST name="{id}{n}-ingest-{env}"
    }}
"#,
            kv(k)
        )
    };
    format!(
        r#"tenant "{id}" {{
    name "Tenant {id}"
    account "{account}"
{}{}{}    ai {{
        chat "@cf/meta/llama-3.1-8b-instruct"
        embedding "@cf/baai/bge-base-en-v1.5"
    }}
    auth {{ api-keys #true; }}
}}
"#,
        env("dev", 1),
        env("stage", 2),
        env("prod", 3)
    )
}

/// The JSONC mirror of `tenants/platform.kdl`.
const PLATFORM_JSONC: &str = include_str!("fixtures/equivalence/platform.jsonc");

/// Replace `platform.kdl` by its JSONC mirror, then apply `edits` (which may
/// edit `platform.jsonc`).
fn on_json_platform(edits: impl IntoIterator<Item = Edit>) -> Vec<Edit> {
    let mut all = vec![remove("platform.kdl"), write("platform.jsonc", PLATFORM_JSONC)];
    all.extend(edits);
    all
}

/// The KDL mirror of `tenants/accounts.jsonc`.
const ACCOUNTS_KDL: &str = r#"account "acme" account-id="5f1d2c3b4a5968778695a4b3c2d1e0f9" token-env="CF_API_TOKEN_ACME"
account "shared" account-id="a1b2c3d4e5f60718293a4b5c6d7e8f90" token-env="CF_API_TOKEN_SHARED"
"#;

/// Replace `accounts.jsonc` by its KDL mirror, then apply `edits`.
fn on_kdl_accounts(edits: impl IntoIterator<Item = Edit>) -> Vec<Edit> {
    let mut all = vec![remove("accounts.jsonc"), write("accounts.kdl", ACCOUNTS_KDL)];
    all.extend(edits);
    all
}

// --------------------------------------------------------- the examples

#[test]
fn examples_check_clean() {
    let comp = tenants_compiler::compile(&examples_dir()).unwrap();
    assert!(
        comp.diagnostics.items.is_empty(),
        "{}",
        diag::render_short(&comp.sources, &comp.diagnostics.items)
    );
    assert!(comp.model.is_some());
}

#[test]
fn generated_tenant_checks_clean() {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["platform.kdl", "accounts.jsonc"] {
        std::fs::copy(examples_dir().join(f), tmp.path().join(f)).unwrap();
    }
    std::fs::write(tmp.path().join("hooli.json"), json_tenant("hooli", "shared", 7)).unwrap();
    let comp = tenants_compiler::compile(tmp.path()).unwrap();
    assert!(
        comp.diagnostics.items.is_empty(),
        "{}",
        diag::render_short(&comp.sources, &comp.diagnostics.items)
    );
}

#[test]
fn generated_kdl_tenant_checks_clean() {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["platform.kdl", "accounts.jsonc"] {
        std::fs::copy(examples_dir().join(f), tmp.path().join(f)).unwrap();
    }
    std::fs::write(tmp.path().join("hooli.kdl"), kdl_tenant("hooli", "shared", 7)).unwrap();
    let comp = tenants_compiler::compile(tmp.path()).unwrap();
    assert!(
        comp.diagnostics.items.is_empty(),
        "{}",
        diag::render_short(&comp.sources, &comp.diagnostics.items)
    );
}

#[test]
fn examples_with_the_json_platform_mirror_check_clean() {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["acme.kdl", "globex.jsonc", "initech.json", "accounts.jsonc"] {
        std::fs::copy(examples_dir().join(f), tmp.path().join(f)).unwrap();
    }
    std::fs::write(tmp.path().join("platform.jsonc"), PLATFORM_JSONC).unwrap();
    let comp = tenants_compiler::compile(tmp.path()).unwrap();
    assert!(
        comp.diagnostics.items.is_empty(),
        "{}",
        diag::render_short(&comp.sources, &comp.diagnostics.items)
    );
    assert!(comp.model.is_some());
}

// ------------------------------------------------------------------ syntax

#[test]
fn kdl_unclosed_string_is_a_syntax_error() {
    let o = check(
        "kdl_unclosed_string_is_a_syntax_error",
        &[replace("acme.kdl", r#"name "Acme Corp""#, r#"name "Acme Corp"#)],
    );
    // It says where the string opened.
    let d = o.expect("syntax::kdl", "acme.kdl", "\"");
    assert_eq!(d.message, "a string is not closed on its line");
    assert_eq!(d.labels[0].message, "the string opens here");
}

#[test]
fn kdl_v1_bare_boolean_is_a_syntax_error() {
    let o = check(
        "kdl_v1_bare_boolean_is_a_syntax_error",
        &[replace("acme.kdl", "tts enabled=#true", "tts enabled=true")],
    );
    o.expect_code("syntax::kdl-v1");
}

#[test]
fn json_missing_comma_is_a_syntax_error() {
    let o = check(
        "json_missing_comma_is_a_syntax_error",
        &[replace("initech.json", r#""name": "Initech","#, r#""name": "Initech""#)],
    );
    o.expect_code("syntax::json");
}

#[test]
fn comment_in_plain_json_is_rejected_with_rename_hint() {
    let o = check(
        "comment_in_plain_json_is_rejected_with_rename_hint",
        &[replace(
            "initech.json",
            r#""id": "initech","#,
            r#""id": "initech", // must match the file name"#,
        )],
    );
    let d = o.expect("syntax::json", "initech.json", "// must match the file name");
    assert!(d.help.as_deref().unwrap_or("").contains(".jsonc"));
}

#[test]
fn trailing_comma_in_plain_json_is_rejected() {
    let o = check(
        "trailing_comma_in_plain_json_is_rejected",
        &[replace(
            "initech.json",
            r#""auth": { "api_keys": { "kv": "CACHE" } }"#,
            r#""auth": { "api_keys": { "kv": "CACHE" } },"#,
        )],
    );
    o.expect_code("syntax::json");
}

#[test]
fn single_quoted_string_in_jsonc_is_rejected() {
    let o = check(
        "single_quoted_string_in_jsonc_is_rejected",
        &[replace(
            "globex.jsonc",
            r#""name": "Globex Corporation""#,
            r#""name": 'Globex Corporation'"#,
        )],
    );
    // The parser reports the opening quote only.
    o.expect("syntax::json", "globex.jsonc", "'");
}

#[test]
fn syntax_error_in_one_file_does_not_hide_errors_in_others() {
    let o = check(
        "syntax_error_in_one_file_does_not_hide_errors_in_others",
        &[
            replace("initech.json", r#""name": "Initech","#, r#""name": "Initech""#),
            replace("globex.jsonc", r#""account": "shared""#, r#""account": "shraed""#),
        ],
    );
    o.expect_code("syntax::json");
    o.expect("tenant::account::unknown", "globex.jsonc", r#""shraed""#);
}

// ------------------------------------------------------------- file level

#[test]
fn byte_order_mark_is_a_warning_only() {
    let o = check_warning(
        "byte_order_mark_is_a_warning_only",
        &[prepend("initech.json", b"\xEF\xBB\xBF".to_vec())],
    );
    o.expect("file::bom", "initech.json", "");
}

#[test]
fn empty_tenant_file_is_an_error() {
    let o = check("empty_tenant_file_is_an_error", &[write("globex.jsonc", "  \n")]);
    o.expect("file::empty", "globex.jsonc", "");
}

#[test]
fn empty_kdl_platform_file_is_an_error() {
    let o = check("empty_kdl_platform_file_is_an_error", &[write("platform.kdl", "")]);
    o.expect("file::empty", "platform.kdl", "");
}

#[test]
fn nul_byte_makes_a_file_binary() {
    let o = check(
        "nul_byte_makes_a_file_binary",
        &[write("globex.jsonc", b"{ \"id\": \"globex\0\" }\n".to_vec())],
    );
    o.expect("file::binary", "globex.jsonc", "");
}

#[test]
fn invalid_utf8_is_an_encoding_error() {
    let o = check(
        "invalid_utf8_is_an_encoding_error",
        &[write("acme.kdl", b"tenant \"acme\" {\n    name \"Acme \xE9\"\n}\n".to_vec())],
    );
    o.expect_first("file::encoding", "acme.kdl");
}

// ------------------------------------------------------------------ schema

#[test]
fn unknown_kdl_property_suggests_the_right_name() {
    let o = check(
        "unknown_kdl_property_suggests_the_right_name",
        &[replace("acme.kdl", "retention-days=30", "retension-days=30")],
    );
    let d = o.expect("schema::unknown-key", "acme.kdl", "retension-days");
    assert_eq!(d.help.as_deref(), Some("did you mean `retention-days`?"));
}

#[test]
fn unknown_kdl_node_suggests_the_kdl_node_name() {
    let o = check(
        "unknown_kdl_node_suggests_the_kdl_node_name",
        &[replace("acme.kdl", r#"secrets "GATEWAY_TOKEN""#, r#"secret "GATEWAY_TOKEN""#)],
    );
    let d = o.expect("schema::unknown-key", "acme.kdl", "secret");
    assert_eq!(d.help.as_deref(), Some("did you mean `secrets`?"));
}

#[test]
fn unknown_json_key_suggests_the_right_name() {
    let o = check(
        "unknown_json_key_suggests_the_right_name",
        &[replace("globex.jsonc", r#""max_messages": 500"#, r#""max_mesages": 500"#)],
    );
    let d = o.expect("schema::unknown-key", "globex.jsonc", r#""max_mesages""#);
    assert_eq!(d.help.as_deref(), Some("did you mean `max_messages`?"));
}

#[test]
fn kdl_string_where_integer_expected_is_a_type_error() {
    let o = check(
        "kdl_string_where_integer_expected_is_a_type_error",
        &[replace("acme.kdl", "max-tokens=1024", r#"max-tokens="1024""#)],
    );
    o.expect("schema::type", "acme.kdl", r#"max-tokens="1024""#);
}

#[test]
fn json_string_where_boolean_expected_is_a_type_error() {
    let o = check(
        "json_string_where_boolean_expected_is_a_type_error",
        &[replace("globex.jsonc", r#""pii_redaction": false"#, r#""pii_redaction": "no""#)],
    );
    o.expect("schema::type", "globex.jsonc", r#""no""#);
}

#[test]
fn kdl_integer_out_of_range_names_the_range() {
    let o = check(
        "kdl_integer_out_of_range_names_the_range",
        &[replace("acme.kdl", "top-k=5", "top-k=500")],
    );
    let d = o.expect("schema::range", "acme.kdl", "top-k=500");
    assert!(d.message.contains("between 1 and 50"), "{}", d.message);
}

#[test]
fn json_temperature_out_of_range_names_the_range() {
    let o = check(
        "json_temperature_out_of_range_names_the_range",
        &[replace("globex.jsonc", r#""temperature": 0.3"#, r#""temperature": 3.5"#)],
    );
    o.expect("schema::range", "globex.jsonc", "3.5");
}

#[test]
fn header_policy_with_underscore_is_an_invalid_choice() {
    let o = check(
        "header_policy_with_underscore_is_an_invalid_choice",
        &[replace("acme.kdl", r#"header="dev-only""#, r#"header="dev_only""#)],
    );
    let d = o.expect("schema::enum", "acme.kdl", r#"header="dev_only""#);
    assert!(d.help.as_deref().unwrap_or("").contains("did you mean `dev-only`"));
}

#[test]
fn kdl_tenant_without_account_is_missing_a_field() {
    let o = check(
        "kdl_tenant_without_account_is_missing_a_field",
        &[replace("acme.kdl", "    account \"acme\"\n", "")],
    );
    let d = o.expect_first("schema::missing", "acme.kdl");
    assert!(d.message.contains("`account`"), "{}", d.message);
}

#[test]
fn json_tenant_without_name_is_missing_a_field() {
    let o = check(
        "json_tenant_without_name_is_missing_a_field",
        &[replace("initech.json", "  \"name\": \"Initech\",\n", "")],
    );
    let d = o.expect_first("schema::missing", "initech.json");
    assert!(d.message.contains("`name`"), "{}", d.message);
}

#[test]
fn json_duplicate_property_is_reported_with_both_locations() {
    let o = check(
        "json_duplicate_property_is_reported_with_both_locations",
        &[replace(
            "globex.jsonc",
            r#""cache": { "search_ttl": 600, "chat_ttl": 60 },"#,
            r#""cache": { "search_ttl": 600, "chat_ttl": 60, "search_ttl": 60 },"#,
        )],
    );
    let d = o.expect_first("schema::duplicate-key", "globex.jsonc");
    assert_eq!(d.labels.len(), 2);
}

#[test]
fn kdl_duplicate_node_is_reported_with_both_locations() {
    let o = check(
        "kdl_duplicate_node_is_reported_with_both_locations",
        &[replace(
            "acme.kdl",
            "    cache search-ttl=300\n",
            "    cache search-ttl=300\n    cache chat-ttl=60\n",
        )],
    );
    let d = o.expect_first("schema::duplicate-key", "acme.kdl");
    assert_eq!(d.labels.len(), 2);
}

#[test]
fn kdl_environment_declared_twice_is_a_duplicate() {
    let o = check(
        "kdl_environment_declared_twice_is_a_duplicate",
        &[replace("acme.kdl", r#"env "stage" {"#, r#"env "dev" {"#)],
    );
    let d = o.expect_first("schema::duplicate-key", "acme.kdl");
    assert_eq!(d.labels.len(), 2);
}

#[test]
fn json_header_policy_with_underscore_is_an_invalid_choice() {
    let o = check(
        "json_header_policy_with_underscore_is_an_invalid_choice",
        &[replace("globex.jsonc", r#""header": "never""#, r#""header": "dev_only""#)],
    );
    let d = o.expect("schema::enum", "globex.jsonc", r#""dev_only""#);
    assert!(d.help.as_deref().unwrap_or("").contains("did you mean `dev-only`"));
}

#[test]
fn kdl_setting_written_as_a_bare_argument_is_unexpected() {
    let o = check(
        "kdl_setting_written_as_a_bare_argument_is_unexpected",
        &[replace("acme.kdl", "max-tokens=1024", "1024")],
    );
    o.expect("schema::unexpected-argument", "acme.kdl", "1024");
}

#[test]
fn kdl_platform_without_environments_is_missing_a_field() {
    let o = check(
        "kdl_platform_without_environments_is_missing_a_field",
        &[replace(
            "platform.kdl",
            "    environment \"dev\" development=#true workers-dev=#true\n    environment \"stage\"\n    environment \"prod\"\n",
            "",
        )],
    );
    let d = o.expect_first("schema::missing", "platform.kdl");
    assert!(d.message.contains("`environment`"), "{}", d.message);
}

// ------------------------------------------------------------------ tenants

#[test]
fn tenant_id_declared_in_two_files_is_labelled_in_both() {
    let o = check(
        "tenant_id_declared_in_two_files_is_labelled_in_both",
        &[write("acme.json", json_tenant("acme", "acme", 2))],
    );
    let d = o.expect_first("tenant::id::duplicate", "acme.kdl");
    let files: Vec<&str> = d.labels.iter().map(|l| o.sources.get(l.span.file).name.as_str()).collect();
    assert_eq!(files, ["tenants/acme.kdl", "tenants/acme.json"]);
}

#[test]
fn tenant_id_must_match_the_file_name() {
    let o = check(
        "tenant_id_must_match_the_file_name",
        &[replace("initech.json", r#""id": "initech""#, r#""id": "initek""#)],
    );
    o.expect("tenant::id::file-name", "initech.json", r#""initek""#);
}

#[test]
fn unknown_account_suggests_a_known_one() {
    let o = check(
        "unknown_account_suggests_a_known_one",
        &[replace("acme.kdl", r#"account "acme""#, r#"account "acmee""#)],
    );
    let d = o.expect("tenant::account::unknown", "acme.kdl", r#""acmee""#);
    assert_eq!(d.help.as_deref(), Some("did you mean `acme`?"));
}

#[test]
fn misspelled_environment_is_unknown_and_the_real_one_missing() {
    let o = check(
        "misspelled_environment_is_unknown_and_the_real_one_missing",
        &[replace("acme.kdl", r#"env "prod" {"#, r#"env "prdo" {"#)],
    );
    let d = o.expect("tenant::env::unknown", "acme.kdl", r#""prdo""#);
    assert_eq!(d.help.as_deref(), Some("did you mean `prod`?"));
    o.expect_code("tenant::env::missing");
}

#[test]
fn environment_without_settings_is_missing() {
    let o = check(
        "environment_without_settings_is_missing",
        &[replace(
            "acme.kdl",
            r#"    env "stage" {
        host "acme.stage.example.com"
        kv CACHE id="7be2d1c09a8f4e6d8c1b2a3f4e5d6c7b"
        vectorize DOCS index="acme-docs-stage"
        queue INGEST name="acme-ingest-stage"
        // The default, written out: the platform's `ai` binding, through acme-gw.
        ai-provider "workers-ai"
    }
"#,
            "",
        )],
    );
    let d = o.expect("tenant::env::missing", "acme.kdl", r#""acme""#);
    assert!(d.message.contains("`stage`"), "{}", d.message);
}

#[test]
fn json_tenant_id_declared_in_two_files_is_labelled_in_both() {
    let o = check(
        "json_tenant_id_declared_in_two_files_is_labelled_in_both",
        &[write("globex.json", json_tenant("globex", "shared", 3))],
    );
    let d = o.expect("tenant::id::duplicate", "globex.jsonc", r#""globex""#);
    let files: Vec<&str> = d.labels.iter().map(|l| o.sources.get(l.span.file).name.as_str()).collect();
    assert_eq!(files, ["tenants/globex.jsonc", "tenants/globex.json"]);
}

#[test]
fn kdl_tenant_id_must_match_the_file_name() {
    let o = check(
        "kdl_tenant_id_must_match_the_file_name",
        &[replace("acme.kdl", r#"tenant "acme""#, r#"tenant "acme-corp""#)],
    );
    o.expect("tenant::id::file-name", "acme.kdl", r#""acme-corp""#);
}

#[test]
fn kdl_uppercase_tenant_id_is_invalid() {
    let o = check(
        "kdl_uppercase_tenant_id_is_invalid",
        &[replace("acme.kdl", r#"tenant "acme""#, r#"tenant "Acme""#)],
    );
    o.expect("tenant::id::invalid", "acme.kdl", r#""Acme""#);
}

#[test]
fn json_tenant_id_with_underscore_is_invalid() {
    let o = check(
        "json_tenant_id_with_underscore_is_invalid",
        &[replace("initech.json", r#""id": "initech""#, r#""id": "init_ech""#)],
    );
    o.expect("tenant::id::invalid", "initech.json", r#""init_ech""#);
}

#[test]
fn json_blank_display_name_is_invalid() {
    let o = check(
        "json_blank_display_name_is_invalid",
        &[replace("initech.json", r#""name": "Initech""#, r#""name": "   ""#)],
    );
    o.expect("tenant::name::invalid", "initech.json", r#""   ""#);
}

#[test]
fn kdl_display_name_over_200_characters_is_invalid() {
    let long = format!("\"Acme {}\"", "x".repeat(200));
    let o = check(
        "kdl_display_name_over_200_characters_is_invalid",
        &[replace("acme.kdl", r#""Acme Corp""#, long.clone())],
    );
    o.expect("tenant::name::invalid", "acme.kdl", &long);
}

#[test]
fn json_misspelled_environment_is_unknown_and_the_real_one_missing() {
    let o = check(
        "json_misspelled_environment_is_unknown_and_the_real_one_missing",
        &[replace("globex.jsonc", r#""prod": {"#, r#""prdo": {"#)],
    );
    let d = o.expect("tenant::env::unknown", "globex.jsonc", r#""prdo""#);
    assert_eq!(d.help.as_deref(), Some("did you mean `prod`?"));
    o.expect_first("tenant::env::missing", "globex.jsonc");
}

#[test]
fn json_environment_without_settings_is_missing() {
    let o = check(
        "json_environment_without_settings_is_missing",
        &[replace(
            "initech.json",
            r#"    "stage": {
      "hosts": ["initech-stage.example.net"],
      "kv": { "CACHE": { "id": "5e6f708192a3b4c5d6e7f80112233445" } },
      "vectorize": { "DOCS": { "index": "shared-docs-stage" } },
      "queues": { "INGEST": { "name": "initech-ingest-stage" } }
    },
"#,
            "",
        )],
    );
    let d = o.expect_first("tenant::env::missing", "initech.json");
    assert!(d.message.contains("`stage`"), "{}", d.message);
}

// ------------------------------------------------------------------ hosts

#[test]
fn host_claimed_by_two_tenants_is_labelled_in_both_files() {
    let o = check(
        "host_claimed_by_two_tenants_is_labelled_in_both_files",
        &[replace("globex.jsonc", r#""globex.example.org","#, r#""acme.example.com","#)],
    );
    let d = o.expect("tenant::host::conflict", "globex.jsonc", r#""acme.example.com""#);
    let files: Vec<&str> = d.labels.iter().map(|l| o.sources.get(l.span.file).name.as_str()).collect();
    assert_eq!(files, ["tenants/globex.jsonc", "tenants/acme.kdl"]);
}

#[test]
fn wildcard_host_overlapping_another_tenants_host_is_a_conflict() {
    let o = check(
        "wildcard_host_overlapping_another_tenants_host_is_a_conflict",
        &[replace("globex.jsonc", r#""ai.globex.example.org""#, r#""*.example.com""#)],
    );
    let d = o.expect("tenant::host::conflict", "acme.kdl", r#""acme.example.com""#);
    assert!(d.message.contains("overlaps `*.example.com`"), "{}", d.message);
}

#[test]
fn same_host_in_two_environments_of_one_tenant_is_a_conflict() {
    let o = check(
        "same_host_in_two_environments_of_one_tenant_is_a_conflict",
        &[replace(
            "acme.kdl",
            r#"host "acme.stage.example.com""#,
            r#"host "acme.example.com""#,
        )],
    );
    let d = o.expect("tenant::host::conflict", "acme.kdl", r#""acme.example.com""#);
    assert!(d.message.contains("in both `stage` and `prod`"), "{}", d.message);
}

#[test]
fn uppercase_host_is_invalid() {
    let o = check(
        "uppercase_host_is_invalid",
        &[replace("acme.kdl", r#"host "acme.localhost""#, r#"host "Acme.localhost""#)],
    );
    let d = o.expect("tenant::host::invalid", "acme.kdl", r#""Acme.localhost""#);
    assert_eq!(d.help.as_deref(), Some("write `acme.localhost`"));
}

#[test]
fn host_with_scheme_is_invalid() {
    let o = check(
        "host_with_scheme_is_invalid",
        &[replace(
            "initech.json",
            r#""initech-stage.example.net""#,
            r#""https://initech-stage.example.net/""#,
        )],
    );
    let d = o.expect("tenant::host::invalid", "initech.json", r#""https://initech-stage.example.net/""#);
    assert_eq!(d.help.as_deref(), Some("write the host only, e.g. `initech-stage.example.net`"));
}

#[test]
fn host_with_port_is_invalid() {
    let o = check(
        "host_with_port_is_invalid",
        &[replace("globex.jsonc", r#""globex.localhost""#, r#""globex.localhost:8787""#)],
    );
    o.expect("tenant::host::invalid", "globex.jsonc", r#""globex.localhost:8787""#);
}

#[test]
fn cors_origin_with_a_path_is_invalid() {
    let o = check(
        "cors_origin_with_a_path_is_invalid",
        &[replace(
            "acme.kdl",
            r#"cors-origin "http://localhost:3000""#,
            r#"cors-origin "http://localhost:3000/app""#,
        )],
    );
    let d = o.expect("tenant::cors::invalid", "acme.kdl", r#""http://localhost:3000/app""#);
    assert_eq!(
        d.help.as_deref(),
        Some("write `http://localhost:3000`: browsers send scheme, host and port only")
    );
}

#[test]
fn wildcard_cors_origin_is_invalid_in_json() {
    let o = check(
        "wildcard_cors_origin_is_invalid_in_json",
        &[replace("globex.jsonc", r#""https://portal.globex.example.org""#, r#""*""#)],
    );
    o.expect("tenant::cors::invalid", "globex.jsonc", r#""*""#);
}

#[test]
fn environment_with_an_empty_host_list_has_no_host() {
    let o = check(
        "environment_with_an_empty_host_list_has_no_host",
        &[replace("globex.jsonc", r#""hosts": ["globex.localhost"],"#, r#""hosts": [],"#)],
    );
    o.expect("tenant::host::missing", "globex.jsonc", r#""dev""#);
}

#[test]
fn kdl_environment_without_a_host_has_no_host() {
    let o = check(
        "kdl_environment_without_a_host_has_no_host",
        &[replace("acme.kdl", "        host \"acme.localhost\"\n", "")],
    );
    o.expect("tenant::host::missing", "acme.kdl", r#""dev""#);
}

#[test]
fn kdl_host_listed_twice_in_one_environment_is_a_duplicate() {
    let o = check(
        "kdl_host_listed_twice_in_one_environment_is_a_duplicate",
        &[replace(
            "acme.kdl",
            r#"host "acme.localhost""#,
            "host \"acme.localhost\"\n        host \"acme.localhost\"",
        )],
    );
    let d = o.expect("tenant::host::duplicate", "acme.kdl", r#""acme.localhost""#);
    assert_eq!(d.labels.len(), 2);
}

#[test]
fn json_host_listed_twice_with_a_trailing_dot_is_a_duplicate() {
    let o = check(
        "json_host_listed_twice_with_a_trailing_dot_is_a_duplicate",
        &[replace(
            "initech.json",
            r#""hosts": ["initech.localhost"]"#,
            r#""hosts": ["initech.localhost", "initech.localhost."]"#,
        )],
    );
    let d = o.expect("tenant::host::duplicate", "initech.json", r#""initech.localhost.""#);
    assert_eq!(d.labels.len(), 2);
}

// --------------------------------------------------------------- resources

#[test]
fn kv_namespace_shared_by_two_tenants_is_labelled_in_both_files() {
    let o = check(
        "kv_namespace_shared_by_two_tenants_is_labelled_in_both_files",
        &[replace(
            "globex.jsonc",
            "3c4d5e6f708192a3b4c5d6e7f8011223",
            "9d6c1f0e0a1b4c2d8e3f405162738495",
        )],
    );
    let d = o.expect("tenant::resource::shared", "globex.jsonc", r#""9d6c1f0e0a1b4c2d8e3f405162738495""#);
    assert_eq!(d.labels.len(), 2);
}

#[test]
fn vectorize_index_and_namespace_shared_by_two_tenants_is_an_error() {
    let o = check(
        "vectorize_index_and_namespace_shared_by_two_tenants_is_an_error",
        &[replace(
            "initech.json",
            r#""vectorize": { "DOCS": { "index": "shared-docs" } },"#,
            r#""vectorize": { "DOCS": { "index": "shared-docs", "namespace": "globex" } },"#,
        )],
    );
    let d = o.expect_first("tenant::resource::shared", "initech.json");
    assert!(d.message.contains("`shared-docs` namespace `globex`"), "{}", d.message);
    assert_eq!(d.labels.len(), 2);
}

#[test]
fn misspelled_binding_is_unknown_with_suggestion() {
    let o = check(
        "misspelled_binding_is_unknown_with_suggestion",
        &[replace(
            "acme.kdl",
            r#"kv CACHE id="0f2ac74b498b48028cb68387c421e279""#,
            r#"kv CACH id="0f2ac74b498b48028cb68387c421e279""#,
        )],
    );
    let d = o.expect("tenant::binding::unknown", "acme.kdl", "CACH");
    assert_eq!(d.help.as_deref(), Some("did you mean `CACHE`?"));
}

#[test]
fn kv_entry_for_a_vectorize_binding_is_the_wrong_kind() {
    let o = check(
        "kv_entry_for_a_vectorize_binding_is_the_wrong_kind",
        &[replace(
            "acme.kdl",
            r#"vectorize DOCS index="acme-docs-dev""#,
            r#"kv DOCS id="0f2ac74b498b48028cb68387c421e27a""#,
        )],
    );
    let d = o.expect("tenant::binding::kind", "acme.kdl", "DOCS");
    assert_eq!(o.sources.get(d.labels[1].span.file).name, "tenants/platform.kdl");
}

#[test]
fn kdl_env_without_vectorize_resource_is_missing_a_binding() {
    let o = check(
        "kdl_env_without_vectorize_resource_is_missing_a_binding",
        &[replace("acme.kdl", "        vectorize DOCS index=\"acme-docs-stage\"\n", "")],
    );
    let d = o.expect("tenant::resource::missing", "acme.kdl", r#""stage""#);
    assert!(d.message.contains("binding `DOCS`"), "{}", d.message);
}

#[test]
fn json_env_without_kv_resource_is_missing_a_binding() {
    let o = check(
        "json_env_without_kv_resource_is_missing_a_binding",
        &[replace(
            "initech.json",
            "      \"kv\": { \"CACHE\": { \"id\": \"5e6f708192a3b4c5d6e7f80112233445\" } },\n",
            "",
        )],
    );
    let d = o.expect("tenant::resource::missing", "initech.json", r#""stage""#);
    assert!(d.help.as_deref().unwrap_or("").contains(r#""kv": { "CACHE""#));
}

#[test]
fn invalid_kv_namespace_id_is_rejected() {
    let o = check(
        "invalid_kv_namespace_id_is_rejected",
        &[replace(
            "initech.json",
            r#""4d5e6f708192a3b4c5d6e7f801122334""#,
            r#""4d5e6f70-8192-a3b4-c5d6-e7f801122334""#,
        )],
    );
    o.expect("tenant::kv::id", "initech.json", r#""4d5e6f70-8192-a3b4-c5d6-e7f801122334""#);
}

#[test]
fn kdl_kv_namespace_shared_by_two_tenants_is_labelled_in_both_files() {
    let o = check(
        "kdl_kv_namespace_shared_by_two_tenants_is_labelled_in_both_files",
        &[
            write("hooli.kdl", kdl_tenant("hooli", "shared", 7)),
            replace("hooli.kdl", "73".repeat(16), "3c4d5e6f708192a3b4c5d6e7f8011223"),
        ],
    );
    let d = o.expect("tenant::resource::shared", "hooli.kdl", r#"id="3c4d5e6f708192a3b4c5d6e7f8011223""#);
    assert_eq!(o.sources.get(d.labels[1].span.file).name, "tenants/globex.jsonc");
}

#[test]
fn kdl_vectorize_index_and_namespace_shared_by_two_tenants_is_an_error() {
    let o = check(
        "kdl_vectorize_index_and_namespace_shared_by_two_tenants_is_an_error",
        &[
            write("hooli.kdl", kdl_tenant("hooli", "shared", 7)),
            replace(
                "hooli.kdl",
                r#"index="hooli7-docs-prod""#,
                r#"index="shared-docs" namespace="globex""#,
            ),
        ],
    );
    let d = o.expect("tenant::resource::shared", "hooli.kdl", r#"namespace="globex""#);
    assert!(d.message.contains("`shared-docs` namespace `globex`"), "{}", d.message);
    assert_eq!(o.sources.get(d.labels[1].span.file).name, "tenants/globex.jsonc");
}

#[test]
fn json_misspelled_binding_is_unknown_with_suggestion() {
    let o = check(
        "json_misspelled_binding_is_unknown_with_suggestion",
        &[replace(
            "initech.json",
            r#""kv": { "CACHE": { "id": "4d5e6f708192a3b4c5d6e7f801122334" } }"#,
            r#""kv": { "CACH": { "id": "4d5e6f708192a3b4c5d6e7f801122334" } }"#,
        )],
    );
    let d = o.expect("tenant::binding::unknown", "initech.json", r#""CACH""#);
    assert_eq!(d.help.as_deref(), Some("did you mean `CACHE`?"));
}

#[test]
fn json_kv_entry_for_a_vectorize_binding_is_the_wrong_kind() {
    let o = check(
        "json_kv_entry_for_a_vectorize_binding_is_the_wrong_kind",
        &[replace(
            "initech.json",
            "\"kv\": { \"CACHE\": { \"id\": \"4d5e6f708192a3b4c5d6e7f801122334\" } },\n      \"vectorize\": { \"DOCS\": { \"index\": \"shared-docs-dev\" } }",
            r#""kv": { "CACHE": { "id": "4d5e6f708192a3b4c5d6e7f801122334" }, "DOCS": { "id": "4d5e6f708192a3b4c5d6e7f801122335" } }"#,
        )],
    );
    let d = o.expect("tenant::binding::kind", "initech.json", r#""DOCS""#);
    assert_eq!(o.sources.get(d.labels[1].span.file).name, "tenants/platform.kdl");
}

#[test]
fn kdl_invalid_kv_namespace_id_is_rejected() {
    let o = check(
        "kdl_invalid_kv_namespace_id_is_rejected",
        &[replace(
            "acme.kdl",
            r#"id="0f2ac74b498b48028cb68387c421e279""#,
            r#"id="0f2ac74b-498b-4802-8cb6-8387c421e279""#,
        )],
    );
    o.expect("tenant::kv::id", "acme.kdl", r#"id="0f2ac74b-498b-4802-8cb6-8387c421e279""#);
}

#[test]
fn kdl_vectorize_index_with_underscores_is_invalid() {
    let o = check(
        "kdl_vectorize_index_with_underscores_is_invalid",
        &[replace("acme.kdl", r#"index="acme-docs-dev""#, r#"index="acme_docs_dev""#)],
    );
    o.expect("tenant::vectorize::index", "acme.kdl", r#"index="acme_docs_dev""#);
}

#[test]
fn json_vectorize_index_with_uppercase_is_invalid() {
    let o = check(
        "json_vectorize_index_with_uppercase_is_invalid",
        &[replace(
            "initech.json",
            r#""index": "shared-docs-dev""#,
            r#""index": "Shared-Docs-Dev""#,
        )],
    );
    o.expect("tenant::vectorize::index", "initech.json", r#""Shared-Docs-Dev""#);
}

#[test]
fn json_vectorize_namespace_over_64_characters_is_invalid() {
    let long = format!("\"globex-{}\"", "x".repeat(60));
    let o = check(
        "json_vectorize_namespace_over_64_characters_is_invalid",
        &[replace(
            "globex.jsonc",
            r#""index": "shared-docs-dev", "namespace": "globex""#,
            format!(r#""index": "shared-docs-dev", "namespace": {long}"#),
        )],
    );
    o.expect("tenant::vectorize::namespace", "globex.jsonc", &long);
}

#[test]
fn kdl_empty_vectorize_namespace_is_invalid() {
    let o = check(
        "kdl_empty_vectorize_namespace_is_invalid",
        &[replace(
            "acme.kdl",
            r#"index="acme-docs-dev""#,
            r#"index="acme-docs-dev" namespace="""#,
        )],
    );
    o.expect("tenant::vectorize::namespace", "acme.kdl", r#"namespace="""#);
}

#[test]
fn kdl_analytics_dataset_with_dashes_is_invalid() {
    let o = check(
        "kdl_analytics_dataset_with_dashes_is_invalid",
        &[replace("acme.kdl", r#"dataset="acme_events""#, r#"dataset="acme-events""#)],
    );
    o.expect("tenant::analytics::dataset", "acme.kdl", r#"dataset="acme-events""#);
}

#[test]
fn json_analytics_dataset_with_dashes_is_invalid() {
    let o = check(
        "json_analytics_dataset_with_dashes_is_invalid",
        &[replace("initech.json", r#""initech_events""#, r#""initech-events""#)],
    );
    o.expect("tenant::analytics::dataset", "initech.json", r#""initech-events""#);
}

// ------------------------------------------------------------------- tools

#[test]
fn misspelled_tool_is_unknown_with_suggestion() {
    let o = check(
        "misspelled_tool_is_unknown_with_suggestion",
        &[replace("acme.kdl", r#"tool "summarize""#, r#"tool "summarise""#)],
    );
    let d = o.expect("tenant::tool::unknown", "acme.kdl", r#""summarise""#);
    assert_eq!(d.help.as_deref(), Some("did you mean `summarize`?"));
}

#[test]
fn tool_granted_to_a_role_the_platform_does_not_allow() {
    let o = check(
        "tool_granted_to_a_role_the_platform_does_not_allow",
        &[replace(
            "globex.jsonc",
            r#""roles": ["analyst"]"#,
            r#""roles": ["analyst", "intern"]"#,
        )],
    );
    let d = o.expect("tenant::tool::role", "globex.jsonc", r#""intern""#);
    assert_eq!(d.help.as_deref(), Some("the platform allows: admin, analyst"));
}

#[test]
fn json_misspelled_tool_is_unknown_with_suggestion() {
    let o = check(
        "json_misspelled_tool_is_unknown_with_suggestion",
        &[replace("globex.jsonc", r#""summarize": {},"#, r#""summarise": {},"#)],
    );
    let d = o.expect("tenant::tool::unknown", "globex.jsonc", r#""summarise""#);
    assert_eq!(d.help.as_deref(), Some("did you mean `summarize`?"));
}

#[test]
fn kdl_tool_granted_to_a_role_the_platform_does_not_allow() {
    let o = check(
        "kdl_tool_granted_to_a_role_the_platform_does_not_allow",
        &[replace(
            "acme.kdl",
            r#"tool "ingest-docs" roles="admin""#,
            r#"tool "ingest-docs" roles="intern""#,
        )],
    );
    let d = o.expect("tenant::tool::role", "acme.kdl", r#"roles="intern""#);
    assert_eq!(d.help.as_deref(), Some("the platform allows: admin"));
}

// ------------------------------------------------------------------ models

#[test]
fn misspelled_chat_model_is_unknown_with_suggestion() {
    let o = check(
        "misspelled_chat_model_is_unknown_with_suggestion",
        &[replace(
            "acme.kdl",
            r#"chat "@cf/meta/llama-3.1-8b-instruct""#,
            r#"chat "@cf/meta/llama-3.1-8b-instuct""#,
        )],
    );
    let d = o.expect("tenant::model::unknown", "acme.kdl", r#""@cf/meta/llama-3.1-8b-instuct""#);
    assert!(d
        .help
        .as_deref()
        .unwrap_or("")
        .starts_with("did you mean `@cf/meta/llama-3.1-8b-instruct`?"));
}

#[test]
fn chat_model_used_as_embedding_model_is_the_wrong_task() {
    let o = check(
        "chat_model_used_as_embedding_model_is_the_wrong_task",
        &[replace(
            "globex.jsonc",
            r#""embedding": "@cf/baai/bge-base-en-v1.5""#,
            r#""embedding": "@cf/meta/llama-3.1-8b-instruct""#,
        )],
    );
    o.expect("tenant::model::task", "globex.jsonc", r#""@cf/meta/llama-3.1-8b-instruct""#);
}

#[test]
fn embedding_model_used_as_chat_model_is_the_wrong_task() {
    let o = check(
        "embedding_model_used_as_chat_model_is_the_wrong_task",
        &[replace(
            "initech.json",
            r#""chat": "@cf/mistralai/mistral-small-3.1-24b-instruct""#,
            r#""chat": "@cf/baai/bge-m3""#,
        )],
    );
    o.expect("tenant::model::task", "initech.json", r#""@cf/baai/bge-m3""#);
}

#[test]
fn embedding_dimensions_differ_from_the_index_labelled_in_tenant_and_platform() {
    let o = check(
        "embedding_dimensions_differ_from_the_index_labelled_in_tenant_and_platform",
        &[replace(
            "acme.kdl",
            r#"embedding "@cf/baai/bge-base-en-v1.5""#,
            r#"embedding "@cf/baai/bge-small-en-v1.5""#,
        )],
    );
    let d = o.expect("tenant::model::dimensions", "acme.kdl", r#""@cf/baai/bge-small-en-v1.5""#);
    let second = &d.labels[1];
    assert_eq!(o.sources.get(second.span.file).name, "tenants/platform.kdl");
    assert_eq!(o.sources.get(second.span.file).slice(second.span), "dimensions=768");
}

#[test]
fn missing_embedding_model_when_the_platform_has_a_vectorize_index() {
    let o = check(
        "missing_embedding_model_when_the_platform_has_a_vectorize_index",
        &[replace("acme.kdl", "        embedding \"@cf/baai/bge-base-en-v1.5\"\n", "")],
    );
    o.expect("tenant::ai::embedding-missing", "acme.kdl", "a");
}

#[test]
fn tts_enabled_without_a_tts_model() {
    let o = check(
        "tts_enabled_without_a_tts_model",
        &[replace("acme.kdl", "        tts \"@cf/myshell-ai/melotts\"\n", "")],
    );
    o.expect("tenant::tts::model-missing", "acme.kdl", "enabled=#true");
}

#[test]
fn unknown_route_override_suggests_a_route() {
    let o = check(
        "unknown_route_override_suggests_a_route",
        &[replace("acme.kdl", r#"route "search""#, r#"route "serach""#)],
    );
    let d = o.expect("tenant::ai::route", "acme.kdl", r#""serach""#);
    assert_eq!(d.help.as_deref(), Some("did you mean `search`?"));
}

#[test]
fn rag_overlap_not_smaller_than_chunk_size() {
    let o = check(
        "rag_overlap_not_smaller_than_chunk_size",
        &[replace("acme.kdl", "overlap=100", "overlap=800")],
    );
    o.expect("tenant::rag::overlap", "acme.kdl", "overlap=800");
}

#[test]
fn sessions_retention_in_days_and_in_seconds_is_a_conflict() {
    let o = check(
        "sessions_retention_in_days_and_in_seconds_is_a_conflict",
        &[replace("acme.kdl", "retention-days=30", "retention-days=30 retention-seconds=120")],
    );
    let d = o.expect("tenant::sessions::retention-conflict", "acme.kdl", "retention-seconds=120");
    assert_eq!(d.message, "`retention-days` and `retention-seconds` are both given");
    assert_eq!(d.labels.len(), 2, "labelled at both");
    assert_eq!(o.errors(), 1, "one mistake, one error");
}

#[test]
fn sessions_retention_seconds_below_a_minute_is_out_of_range() {
    let o = check(
        "sessions_retention_seconds_below_a_minute_is_out_of_range",
        &[replace("acme.kdl", "retention-days=30", "retention-seconds=30")],
    );
    let d = o.expect("tenant::sessions::retention-range", "acme.kdl", "retention-seconds=30");
    assert_eq!(d.message, "`retention-seconds` is 30, must be between 60 and 31536000");
    assert_eq!(d.help.as_deref(), Some("use at least 60 seconds (a minute)"));
    assert_eq!(o.errors(), 1);
}

#[test]
fn json_misspelled_chat_model_is_unknown_with_suggestion() {
    let o = check(
        "json_misspelled_chat_model_is_unknown_with_suggestion",
        &[replace(
            "initech.json",
            r#""chat": "@cf/mistralai/mistral-small-3.1-24b-instruct""#,
            r#""chat": "@cf/mistralai/mistral-smal-3.1-24b-instruct""#,
        )],
    );
    let d = o.expect(
        "tenant::model::unknown",
        "initech.json",
        r#""@cf/mistralai/mistral-smal-3.1-24b-instruct""#,
    );
    assert!(d
        .help
        .as_deref()
        .unwrap_or("")
        .starts_with("did you mean `@cf/mistralai/mistral-small-3.1-24b-instruct`?"));
}

#[test]
fn kdl_embedding_model_used_as_chat_model_is_the_wrong_task() {
    let o = check(
        "kdl_embedding_model_used_as_chat_model_is_the_wrong_task",
        &[replace(
            "acme.kdl",
            r#"chat "@cf/meta/llama-3.1-8b-instruct" max-tokens=1024"#,
            r#"chat "@cf/baai/bge-m3" max-tokens=1024"#,
        )],
    );
    o.expect("tenant::model::task", "acme.kdl", r#""@cf/baai/bge-m3""#);
}

#[test]
fn json_embedding_dimensions_differ_from_the_index_labelled_in_tenant_and_platform() {
    let o = check(
        "json_embedding_dimensions_differ_from_the_index_labelled_in_tenant_and_platform",
        &[replace(
            "initech.json",
            r#""embedding": { "model": "@cf/baai/bge-base-en-v1.5" }"#,
            r#""embedding": { "model": "@cf/baai/bge-small-en-v1.5" }"#,
        )],
    );
    let d = o.expect("tenant::model::dimensions", "initech.json", r#""@cf/baai/bge-small-en-v1.5""#);
    let second = &d.labels[1];
    assert_eq!(o.sources.get(second.span.file).name, "tenants/platform.kdl");
    assert_eq!(o.sources.get(second.span.file).slice(second.span), "dimensions=768");
}

#[test]
fn json_platform_embedding_dimensions_are_labelled_in_the_platform_file() {
    let o = check(
        "json_platform_embedding_dimensions_are_labelled_in_the_platform_file",
        &on_json_platform([replace(
            "acme.kdl",
            r#"embedding "@cf/baai/bge-base-en-v1.5""#,
            r#"embedding "@cf/baai/bge-small-en-v1.5""#,
        )]),
    );
    let d = o.expect("tenant::model::dimensions", "acme.kdl", r#""@cf/baai/bge-small-en-v1.5""#);
    let second = &d.labels[1];
    assert_eq!(o.sources.get(second.span.file).name, "tenants/platform.jsonc");
    assert_eq!(o.sources.get(second.span.file).slice(second.span), "768");
}

#[test]
fn json_missing_embedding_model_when_the_platform_has_a_vectorize_index() {
    let o = check(
        "json_missing_embedding_model_when_the_platform_has_a_vectorize_index",
        &[replace(
            "initech.json",
            "    \"embedding\": { \"model\": \"@cf/baai/bge-base-en-v1.5\" },\n",
            "",
        )],
    );
    o.expect_first("tenant::ai::embedding-missing", "initech.json");
}

#[test]
fn json_tts_enabled_without_a_tts_model() {
    let o = check(
        "json_tts_enabled_without_a_tts_model",
        &[replace("initech.json", ",\n    \"tts\": \"@cf/deepgram/aura-1\"", "")],
    );
    o.expect_first("tenant::tts::model-missing", "initech.json");
}

#[test]
fn json_unknown_route_override_suggests_a_route() {
    let o = check(
        "json_unknown_route_override_suggests_a_route",
        &[replace(
            "globex.jsonc",
            "\"routes\": {\n      \"chat\": {",
            "\"routes\": {\n      \"caht\": {",
        )],
    );
    let d = o.expect("tenant::ai::route", "globex.jsonc", r#""caht""#);
    assert_eq!(d.help.as_deref(), Some("did you mean `chat`?"));
}

#[test]
fn json_rag_overlap_not_smaller_than_chunk_size() {
    let o = check(
        "json_rag_overlap_not_smaller_than_chunk_size",
        &[replace("globex.jsonc", r#""overlap": 200"#, r#""overlap": 1200"#)],
    );
    o.expect("tenant::rag::overlap", "globex.jsonc", "1200");
}

#[test]
fn json_sessions_retention_in_days_and_in_seconds_is_a_conflict() {
    let o = check(
        "json_sessions_retention_in_days_and_in_seconds_is_a_conflict",
        &[replace(
            "globex.jsonc",
            r#""retention_days": 90"#,
            r#""retention_days": 90, "retention_seconds": 3600"#,
        )],
    );
    let d = o.expect("tenant::sessions::retention-conflict", "globex.jsonc", "3600");
    assert_eq!(d.message, "`retention_days` and `retention_seconds` are both given");
    assert_eq!(o.errors(), 1, "one mistake, one error");
}

#[test]
fn json_sessions_retention_seconds_above_a_year_points_to_days() {
    let o = check(
        "json_sessions_retention_seconds_above_a_year_points_to_days",
        &[replace(
            "globex.jsonc",
            r#""retention_days": 90"#,
            r#""retention_seconds": 31536001"#,
        )],
    );
    let d = o.expect("tenant::sessions::retention-range", "globex.jsonc", "31536001");
    assert_eq!(
        d.help.as_deref(),
        Some("`retention_seconds` covers up to 365 days; for longer, give the days instead: `\"retention_days\": 366`")
    );
    assert_eq!(o.errors(), 1);
}

#[test]
fn kdl_gateway_id_with_a_space_is_invalid() {
    let o = check(
        "kdl_gateway_id_with_a_space_is_invalid",
        &[replace("acme.kdl", r#"gateway="acme-gw""#, r#"gateway="Acme GW""#)],
    );
    o.expect("tenant::ai::gateway", "acme.kdl", r#"gateway="Acme GW""#);
}

#[test]
fn json_gateway_id_with_underscore_is_invalid() {
    let o = check(
        "json_gateway_id_with_underscore_is_invalid",
        &[replace("globex.jsonc", r#""gateway": "globex-gw""#, r#""gateway": "globex_gw""#)],
    );
    o.expect("tenant::ai::gateway", "globex.jsonc", r#""globex_gw""#);
}

// ------------------------------------------------------- ai providers and fallbacks

#[test]
fn kdl_unknown_ai_provider_kind_suggests_the_closest() {
    let o = check(
        "kdl_unknown_ai_provider_kind_suggests_the_closest",
        &[replace("acme.kdl", r#"ai-provider "gateway""#, r#"ai-provider "gatway""#)],
    );
    let d = o.expect("tenant::ai::provider-unknown", "acme.kdl", r#""gatway""#);
    assert!(d.help.as_deref().unwrap().starts_with("did you mean `gateway`?"), "{:?}", d.help);
}

#[test]
fn json_unknown_ai_provider_kind_suggests_the_closest() {
    let o = check(
        "json_unknown_ai_provider_kind_suggests_the_closest",
        &[replace(
            "globex.jsonc",
            r#""kind": "openai-compatible""#,
            r#""kind": "openai_compatible""#,
        )],
    );
    let d = o.expect("tenant::ai::provider-unknown", "globex.jsonc", r#""openai_compatible""#);
    assert!(
        d.help.as_deref().unwrap().starts_with("did you mean `openai-compatible`?"),
        "{:?}",
        d.help
    );
}

#[test]
fn kdl_gateway_provider_needs_the_tenants_ai_gateway() {
    let o = check(
        "kdl_gateway_provider_needs_the_tenants_ai_gateway",
        &[replace("acme.kdl", r#"ai gateway="acme-gw" "#, "ai ")],
    );
    o.expect("tenant::ai::gateway-required", "acme.kdl", r#""gateway""#);
    assert_eq!(o.errors(), 1, "only the gateway provider needs the gateway");
}

#[test]
fn json_gateway_provider_needs_the_tenants_ai_gateway() {
    let o = check(
        "json_gateway_provider_needs_the_tenants_ai_gateway",
        &[replace(
            "initech.json",
            r#""vectorize": { "DOCS": { "index": "shared-docs-stage" } }"#,
            r#""vectorize": { "DOCS": { "index": "shared-docs-stage" } },
      "ai_provider": { "kind": "gateway", "token_secret": "GATEWAY_TOKEN" }"#,
        )],
    );
    let d = o.expect("tenant::ai::gateway-required", "initech.json", r#""gateway""#);
    assert!(d.help.as_deref().unwrap().contains(r#""gateway": "<gateway id>""#), "{:?}", d.help);
}

#[test]
fn kdl_base_url_over_plain_http_to_a_public_host_is_rejected() {
    let o = check(
        "kdl_base_url_over_plain_http_to_a_public_host_is_rejected",
        &[replace(
            "acme.kdl",
            r#"base-url="http://127.0.0.1:11434/v1""#,
            r#"base-url="http://ollama.acme.example.com:11434/v1""#,
        )],
    );
    let d = o.expect(
        "tenant::ai::base-url",
        "acme.kdl",
        r#"base-url="http://ollama.acme.example.com:11434/v1""#,
    );
    assert_eq!(d.message, "a base URL must use https");
    assert!(d.help.as_deref().unwrap().contains("loopback"), "{:?}", d.help);
}

#[test]
fn json_base_url_with_a_query_is_rejected() {
    let o = check(
        "json_base_url_with_a_query_is_rejected",
        &[replace(
            "globex.jsonc",
            r#""base_url": "http://127.0.0.1:11434/v1""#,
            r#""base_url": "http://127.0.0.1:11434/v1?api-version=1""#,
        )],
    );
    let d = o.expect(
        "tenant::ai::base-url",
        "globex.jsonc",
        r#""http://127.0.0.1:11434/v1?api-version=1""#,
    );
    assert_eq!(d.message, "a base URL has no query (`?…`)");
}

#[test]
fn json_base_url_with_a_password_is_a_pasted_credential() {
    let o = check(
        "json_base_url_with_a_password_is_a_pasted_credential",
        &[replace(
            "globex.jsonc",
            r#""base_url": "http://127.0.0.1:11434/v1""#,
            r#""base_url": "https://llm:hunter2hunter2@llm.globex.example.org/v1""#,
        )],
    );
    o.expect(
        "tenant::secret::value",
        "globex.jsonc",
        r#""https://llm:hunter2hunter2@llm.globex.example.org/v1""#,
    );
}

#[test]
fn json_openai_compatible_provider_without_base_url_is_missing() {
    let o = check(
        "json_openai_compatible_provider_without_base_url_is_missing",
        &[replace(
            "initech.json",
            r#""kind": "openai-compatible", "base_url": "http://localhost:11434/v1", "#,
            r#""kind": "openai-compatible", "#,
        )],
    );
    let d = o.expect_first("schema::missing", "initech.json");
    assert_eq!(d.message, "`ai_provider` of environment `dev` is missing `base_url`");
}

#[test]
fn kdl_provider_secret_that_is_not_declared_suggests_a_declared_one() {
    let o = check(
        "kdl_provider_secret_that_is_not_declared_suggests_a_declared_one",
        &[replace(
            "acme.kdl",
            r#"token-secret="GATEWAY_TOKEN""#,
            r#"token-secret="GATEWAY_TOKN""#,
        )],
    );
    let d = o.expect("tenant::ai::secret-undeclared", "acme.kdl", r#"token-secret="GATEWAY_TOKN""#);
    assert!(
        d.help.as_deref().unwrap().starts_with("did you mean `GATEWAY_TOKEN`?"),
        "{:?}",
        d.help
    );
}

#[test]
fn json_api_key_pasted_into_api_key_secret_is_flagged() {
    let o = check(
        "json_api_key_pasted_into_api_key_secret_is_flagged",
        &[replace(
            "globex.jsonc",
            r#""base_url": "http://127.0.0.1:11434/v1""#,
            r#""base_url": "http://127.0.0.1:11434/v1", "api_key_secret": "sk-proj4f9a8b7c6d5e4f3a2b1c""#,
        )],
    );
    let d = o.expect("tenant::secret::value", "globex.jsonc", r#""sk-proj4f9a8b7c6d5e4f3a2b1c""#);
    assert_eq!(d.message, "`api_key_secret` looks like an API key, not a name");
    assert!(!o.codes().contains(&"tenant::ai::secret-undeclared"), "one error for one mistake");
}

#[test]
fn kdl_setting_of_another_provider_kind_does_not_apply() {
    let o = check(
        "kdl_setting_of_another_provider_kind_does_not_apply",
        &[replace(
            "acme.kdl",
            r#"ai-provider "gateway" token-secret="GATEWAY_TOKEN""#,
            r#"ai-provider "gateway" token-secret="GATEWAY_TOKEN" base-url="https://gateway.acme.example.com/v1""#,
        )],
    );
    let d = o.expect(
        "tenant::ai::provider-field",
        "acme.kdl",
        r#"base-url="https://gateway.acme.example.com/v1""#,
    );
    assert_eq!(d.message, "`base-url` does not apply to a `gateway` provider");
    assert_eq!(d.help.as_deref(), Some("remove it: `gateway` takes `token-secret`"));
}

#[test]
fn workers_ai_provider_without_an_ai_binding_in_the_platform_is_an_error() {
    let o = check(
        "workers_ai_provider_without_an_ai_binding_in_the_platform_is_an_error",
        &[replace("platform.kdl", "    ai AI\n", "")],
    );
    // Written out in acme's stage, and the default in globex's and initech's.
    let d = o.expect("tenant::ai::binding-missing", "acme.kdl", r#""workers-ai""#);
    assert!(d.message.contains("`stage` uses the Workers AI binding"), "{}", d.message);
    let d = o.expect("tenant::ai::binding-missing", "globex.jsonc", r#""stage""#);
    assert!(d.message.contains("has no AI provider"), "{}", d.message);
    o.expect("tenant::ai::binding-missing", "initech.json", r#""prod""#);
}

#[test]
fn json_provider_model_with_a_space_is_invalid() {
    let o = check(
        "json_provider_model_with_a_space_is_invalid",
        &[replace("initech.json", r#""model": "llama3.2""#, r#""model": "llama 3.2""#)],
    );
    o.expect("tenant::ai::provider-model", "initech.json", r#""llama 3.2""#);
}

#[test]
fn kdl_ai_provider_outside_an_env_block_belongs_in_one() {
    let o = check(
        "kdl_ai_provider_outside_an_env_block_belongs_in_one",
        &[replace(
            "acme.kdl",
            "    rag chunk-size=800",
            "    ai-provider \"workers-ai\"\n    rag chunk-size=800",
        )],
    );
    let d = o.expect("schema::unknown-key", "acme.kdl", "ai-provider");
    assert!(d.help.as_deref().unwrap().contains("belongs inside an `env"), "{:?}", d.help);
}

#[test]
fn kdl_fallback_equal_to_the_chat_model_is_an_error() {
    let o = check(
        "kdl_fallback_equal_to_the_chat_model_is_an_error",
        &[replace(
            "acme.kdl",
            r#"fallback "@cf/meta/llama-3.1-8b-instruct-fast""#,
            r#"fallback "@cf/meta/llama-3.1-8b-instruct""#,
        )],
    );
    let d = o.expect("tenant::ai::fallback", "acme.kdl", r#""@cf/meta/llama-3.1-8b-instruct""#);
    assert_eq!(d.labels.len(), 2, "labelled at the fallback and at the chat model");
}

#[test]
fn json_fallback_listed_twice_is_an_error() {
    let o = check(
        "json_fallback_listed_twice_is_an_error",
        &[replace(
            "globex.jsonc",
            r#""fallbacks": ["@cf/meta/llama-3.2-3b-instruct"]"#,
            r#""fallbacks": ["@cf/meta/llama-3.2-3b-instruct", "@cf/meta/llama-3.2-1b-instruct", "@cf/meta/llama-3.2-3b-instruct"]"#,
        )],
    );
    let d = o.expect_first("tenant::ai::fallback", "globex.jsonc");
    assert_eq!(d.message, "fallback `@cf/meta/llama-3.2-3b-instruct` is listed twice");
    assert_eq!(o.errors(), 1);
}

#[test]
fn kdl_misspelled_fallback_model_is_unknown_with_suggestion() {
    let o = check(
        "kdl_misspelled_fallback_model_is_unknown_with_suggestion",
        &[replace(
            "acme.kdl",
            r#"fallback "@cf/meta/llama-3.1-8b-instruct-fast""#,
            r#"fallback "@cf/meta/llama-3.1-8b-instruct-fats""#,
        )],
    );
    let d = o.expect("tenant::model::unknown", "acme.kdl", r#""@cf/meta/llama-3.1-8b-instruct-fats""#);
    assert!(d.help.as_deref().unwrap().contains("llama-3.1-8b-instruct-fast"), "{:?}", d.help);
}

#[test]
fn json_embedding_model_as_a_fallback_is_the_wrong_task() {
    let o = check(
        "json_embedding_model_as_a_fallback_is_the_wrong_task",
        &[replace(
            "globex.jsonc",
            r#""fallbacks": ["@cf/meta/llama-3.2-3b-instruct"]"#,
            r#""fallbacks": ["@cf/baai/bge-base-en-v1.5"]"#,
        )],
    );
    let d = o.expect("tenant::model::task", "globex.jsonc", r#""@cf/baai/bge-base-en-v1.5""#);
    assert!(d.message.contains("used as fallback model"), "{}", d.message);
}

#[test]
fn json_more_than_five_fallbacks_are_too_many() {
    let six = [
        "@cf/meta/llama-3.1-8b-instruct",
        "@cf/meta/llama-3.1-8b-instruct-fast",
        "@cf/meta/llama-3.2-1b-instruct",
        "@cf/meta/llama-3.2-3b-instruct",
        "@cf/google/gemma-3-12b-it",
        "@cf/qwen/qwq-32b",
    ]
    .map(|m| format!("\"{m}\""))
    .join(", ");
    let o = check(
        "json_more_than_five_fallbacks_are_too_many",
        &[replace(
            "globex.jsonc",
            r#""max_tokens": 2048, "temperature": 0.3 }"#,
            format!(r#""max_tokens": 2048, "temperature": 0.3, "fallbacks": [{six}] }}"#),
        )],
    );
    let d = o.expect("tenant::ai::fallback", "globex.jsonc", r#""@cf/qwen/qwq-32b""#);
    assert_eq!(d.message, "6 fallbacks, at most 5");
}

#[test]
fn json_empty_route_fallbacks_is_an_error() {
    let o = check(
        "json_empty_route_fallbacks_is_an_error",
        &[replace(
            "globex.jsonc",
            r#""fallbacks": ["@cf/meta/llama-3.2-3b-instruct"]"#,
            r#""fallbacks": []"#,
        )],
    );
    let d = o.expect("tenant::ai::fallback", "globex.jsonc", r#""chat""#);
    assert!(d.help.as_deref().unwrap().contains("leave `fallbacks` out"), "{:?}", d.help);
}

#[test]
fn kdl_fallbacks_node_suggests_one_fallback_node_per_model() {
    let o = check(
        "kdl_fallbacks_node_suggests_one_fallback_node_per_model",
        &[replace(
            "acme.kdl",
            r#"fallback "@cf/meta/llama-3.1-8b-instruct-fast""#,
            r#"fallbacks "@cf/meta/llama-3.1-8b-instruct-fast""#,
        )],
    );
    let d = o.expect("schema::unknown-key", "acme.kdl", "fallbacks");
    assert!(d.help.as_deref().unwrap().starts_with("did you mean `fallback`?"), "{:?}", d.help);
}

#[test]
fn kdl_user_budget_above_the_tenant_budget_is_an_error() {
    let o = check(
        "kdl_user_budget_above_the_tenant_budget_is_an_error",
        &[replace("acme.kdl", "user-tokens-per-day=100000", "user-tokens-per-day=3000000")],
    );
    let d = o.expect("tenant::ai::budget", "acme.kdl", "user-tokens-per-day=3000000");
    assert_eq!(
        d.message,
        "`user-tokens-per-day` (3000000) is more than the tenant's `tokens-per-day` (2000000)"
    );
    assert_eq!(d.labels.len(), 2);
}

#[test]
fn json_timeout_out_of_range_names_the_range() {
    let o = check(
        "json_timeout_out_of_range_names_the_range",
        &[replace(
            "globex.jsonc",
            r#""gateway": "globex-gw","#,
            r#""gateway": "globex-gw", "timeout_ms": 500, "retries": 9,"#,
        )],
    );
    let d = o.expect("schema::range", "globex.jsonc", "500");
    assert_eq!(d.message, "`timeout_ms` is 500, must be between 1000 and 300000");
    o.expect("schema::range", "globex.jsonc", "9");
}

// ----------------------------------------------------------------- secrets

#[test]
fn api_key_pasted_into_secrets_is_flagged() {
    let o = check(
        "api_key_pasted_into_secrets_is_flagged",
        &[replace(
            "globex.jsonc",
            r#""secrets": ["GATEWAY_TOKEN", "SEARCH_API_KEY"]"#,
            r#""secrets": ["GATEWAY_TOKEN", "sk-live-4f9a8b7c6d5e4f3a2b1c0d9e"]"#,
        )],
    );
    o.expect("tenant::secret::value", "globex.jsonc", r#""sk-live-4f9a8b7c6d5e4f3a2b1c0d9e""#);
}

#[test]
fn cloudflare_token_pasted_into_secrets_is_flagged() {
    let o = check(
        "cloudflare_token_pasted_into_secrets_is_flagged",
        &[replace(
            "acme.kdl",
            r#"secrets "GATEWAY_TOKEN""#,
            r#"secrets "GATEWAY_TOKEN" "Zx8KqP3mW7vN2bR5tY9uL4hG6jF1dS0aE8cV3xQ7""#,
        )],
    );
    o.expect("tenant::secret::value", "acme.kdl", r#""Zx8KqP3mW7vN2bR5tY9uL4hG6jF1dS0aE8cV3xQ7""#);
}

#[test]
fn bearer_token_in_a_var_value_is_flagged() {
    let o = check(
        "bearer_token_in_a_var_value_is_flagged",
        &[replace(
            "acme.kdl",
            r#"var SUPPORT_EMAIL "support@acme.example.com""#,
            r#"var UPSTREAM_AUTH "Bearer 3f9c2e7a1b8d4f6e""#,
        )],
    );
    let d = o.expect("tenant::secret::value", "acme.kdl", r#""Bearer 3f9c2e7a1b8d4f6e""#);
    assert!(d.message.contains("var `UPSTREAM_AUTH`"), "{}", d.message);
}

#[test]
fn secret_listed_twice_is_reported_with_both_locations() {
    let o = check(
        "secret_listed_twice_is_reported_with_both_locations",
        &[replace(
            "initech.json",
            r#""secrets": ["GATEWAY_TOKEN"]"#,
            r#""secrets": ["GATEWAY_TOKEN", "GATEWAY_TOKEN"]"#,
        )],
    );
    let d = o.expect("tenant::secret::duplicate", "initech.json", r#""GATEWAY_TOKEN""#);
    assert_eq!(d.labels.len(), 2);
}

#[test]
fn var_named_tenant_id_is_reserved() {
    let o = check(
        "var_named_tenant_id_is_reserved",
        &[replace(
            "globex.jsonc",
            r#""vars": { "LOG_LEVEL": "info" }"#,
            r#""vars": { "TENANT_ID": "globex" }"#,
        )],
    );
    o.expect("tenant::var::reserved", "globex.jsonc", r#""TENANT_ID""#);
}

#[test]
fn kdl_secret_listed_twice_is_reported_with_both_locations() {
    let o = check(
        "kdl_secret_listed_twice_is_reported_with_both_locations",
        &[replace(
            "acme.kdl",
            r#"secrets "GATEWAY_TOKEN""#,
            r#"secrets "GATEWAY_TOKEN" "GATEWAY_TOKEN""#,
        )],
    );
    let d = o.expect("tenant::secret::duplicate", "acme.kdl", r#""GATEWAY_TOKEN""#);
    assert_eq!(d.labels.len(), 2);
}

#[test]
fn json_lowercase_secret_name_is_invalid() {
    let o = check(
        "json_lowercase_secret_name_is_invalid",
        &[replace(
            "initech.json",
            r#""secrets": ["GATEWAY_TOKEN"]"#,
            r#""secrets": ["gateway-token"]"#,
        )],
    );
    o.expect("tenant::secret::name", "initech.json", r#""gateway-token""#);
}

#[test]
fn kdl_secret_name_with_a_space_is_invalid() {
    let o = check(
        "kdl_secret_name_with_a_space_is_invalid",
        &[replace("acme.kdl", r#"secrets "GATEWAY_TOKEN""#, r#"secrets "Gateway Token""#)],
    );
    o.expect("tenant::secret::name", "acme.kdl", r#""Gateway Token""#);
}

#[test]
fn json_secret_with_the_name_of_an_environment_var_is_a_conflict() {
    let o = check(
        "json_secret_with_the_name_of_an_environment_var_is_a_conflict",
        &[replace(
            "globex.jsonc",
            r#""vars": { "LOG_LEVEL": "warn" },"#,
            r#""vars": { "LOG_LEVEL": "warn", "SEARCH_API_KEY": "none" },"#,
        )],
    );
    o.expect("tenant::secret::conflict", "globex.jsonc", r#""SEARCH_API_KEY""#);
}

#[test]
fn kdl_secret_with_the_name_of_a_var_is_a_conflict() {
    let o = check(
        "kdl_secret_with_the_name_of_a_var_is_a_conflict",
        &[replace(
            "acme.kdl",
            r#"secrets "GATEWAY_TOKEN""#,
            r#"secrets "GATEWAY_TOKEN" "SUPPORT_EMAIL""#,
        )],
    );
    o.expect("tenant::secret::conflict", "acme.kdl", r#""SUPPORT_EMAIL""#);
}

#[test]
fn json_var_with_the_name_of_a_binding_is_a_conflict() {
    let o = check(
        "json_var_with_the_name_of_a_binding_is_a_conflict",
        &[replace(
            "globex.jsonc",
            r#""vars": { "LOG_LEVEL": "info" }"#,
            r#""vars": { "LOG_LEVEL": "info", "CACHE": "on" }"#,
        )],
    );
    o.expect("tenant::var::conflict", "globex.jsonc", r#""CACHE""#);
}

#[test]
fn kdl_environment_var_with_the_name_of_a_binding_is_a_conflict() {
    let o = check(
        "kdl_environment_var_with_the_name_of_a_binding_is_a_conflict",
        &[replace("acme.kdl", r#"var LOG_LEVEL "debug""#, r#"var EVENTS "off""#)],
    );
    o.expect("tenant::var::conflict", "acme.kdl", "EVENTS");
}

#[test]
fn kdl_var_named_tenant_env_is_reserved() {
    let o = check(
        "kdl_var_named_tenant_env_is_reserved",
        &[replace(
            "acme.kdl",
            r#"var SUPPORT_EMAIL "support@acme.example.com""#,
            r#"var TENANT_ENV "prod""#,
        )],
    );
    o.expect("tenant::var::reserved", "acme.kdl", "TENANT_ENV");
}

#[test]
fn json_lowercase_var_name_is_invalid() {
    let o = check(
        "json_lowercase_var_name_is_invalid",
        &[replace(
            "globex.jsonc",
            r#""vars": { "LOG_LEVEL": "info" }"#,
            r#""vars": { "log-level": "info" }"#,
        )],
    );
    o.expect("tenant::var::name", "globex.jsonc", r#""log-level""#);
}

#[test]
fn kdl_camel_case_var_name_is_invalid() {
    let o = check(
        "kdl_camel_case_var_name_is_invalid",
        &[replace("acme.kdl", r#"var LOG_LEVEL "debug""#, r#"var logLevel "debug""#)],
    );
    o.expect("tenant::var::name", "acme.kdl", "logLevel");
}

// ---------------------------------------------------- platform and accounts

#[test]
fn platform_compatibility_date_must_be_a_real_date() {
    let o = check(
        "platform_compatibility_date_must_be_a_real_date",
        &[replace("platform.kdl", r#""2026-11-01""#, r#""2026-11-31""#)],
    );
    o.expect("platform::compatibility-date", "platform.kdl", r#""2026-11-31""#);
}

#[test]
fn durable_object_binding_without_class() {
    let o = check(
        "durable_object_binding_without_class",
        &[replace(
            "platform.kdl",
            r#"durable-object RATE_LIMITER class="RateLimiter""#,
            "durable-object RATE_LIMITER",
        )],
    );
    o.expect("schema::missing", "platform.kdl", "RATE_LIMITER");
}

#[test]
fn malformed_account_id_is_rejected() {
    let o = check(
        "malformed_account_id_is_rejected",
        &[replace(
            "accounts.jsonc",
            r#""5f1d2c3b4a5968778695a4b3c2d1e0f9""#,
            r#""5F1D2C3B4A5968778695A4B3C2D1E0F""#,
        )],
    );
    o.expect("accounts::account-id", "accounts.jsonc", r#""5F1D2C3B4A5968778695A4B3C2D1E0F""#);
}

#[test]
fn api_token_value_instead_of_env_var_name_is_flagged() {
    let o = check(
        "api_token_value_instead_of_env_var_name_is_flagged",
        &[replace(
            "accounts.jsonc",
            r#""CF_API_TOKEN_SHARED""#,
            r#""Zx8KqP3mW7vN2bR5tY9uL4hG6jF1dS0aE8cV3xQ7""#,
        )],
    );
    o.expect(
        "accounts::token-value",
        "accounts.jsonc",
        r#""Zx8KqP3mW7vN2bR5tY9uL4hG6jF1dS0aE8cV3xQ7""#,
    );
}

#[test]
fn lowercase_token_env_is_not_an_env_var_name() {
    let o = check(
        "lowercase_token_env_is_not_an_env_var_name",
        &[replace("accounts.jsonc", r#""CF_API_TOKEN_ACME""#, r#""cf-api-token-acme""#)],
    );
    o.expect("accounts::token-env", "accounts.jsonc", r#""cf-api-token-acme""#);
}

#[test]
fn kdl_accounts_file_reports_bad_id_and_missing_token_env() {
    let o = check(
        "kdl_accounts_file_reports_bad_id_and_missing_token_env",
        &[
            remove("accounts.jsonc"),
            write(
                "accounts.kdl",
                r#"account "acme" account-id="5f1d2c3b4a5968778695a4b3c2d1e0f9" token-env="CF_API_TOKEN_ACME"
account "shared" account-id="a1b2c3d4-e5f6-0718-293a-4b5c6d7e8f90"
"#,
            ),
        ],
    );
    o.expect(
        "accounts::account-id",
        "accounts.kdl",
        r#"account-id="a1b2c3d4-e5f6-0718-293a-4b5c6d7e8f90""#,
    );
    let d = o.expect_first("schema::missing", "accounts.kdl");
    assert!(d.message.contains("`token-env`"), "{}", d.message);
}

#[test]
fn kdl_worker_name_with_spaces_is_invalid() {
    let o = check(
        "kdl_worker_name_with_spaces_is_invalid",
        &[replace("platform.kdl", r#"platform "ai-platform""#, r#"platform "AI Platform""#)],
    );
    o.expect("platform::worker::invalid", "platform.kdl", r#""AI Platform""#);
}

#[test]
fn json_platform_worker_name_with_underscore_is_invalid() {
    let o = check(
        "json_platform_worker_name_with_underscore_is_invalid",
        &on_json_platform([replace(
            "platform.jsonc",
            r#""worker": "ai-platform""#,
            r#""worker": "ai_platform""#,
        )]),
    );
    o.expect("platform::worker::invalid", "platform.jsonc", r#""ai_platform""#);
}

#[test]
fn json_platform_compatibility_date_must_be_a_real_date() {
    let o = check(
        "json_platform_compatibility_date_must_be_a_real_date",
        &on_json_platform([replace("platform.jsonc", r#""2026-11-01""#, r#""2026-11-31""#)]),
    );
    o.expect("platform::compatibility-date", "platform.jsonc", r#""2026-11-31""#);
}

#[test]
fn kdl_compatibility_flag_with_dashes_is_invalid() {
    let o = check(
        "kdl_compatibility_flag_with_dashes_is_invalid",
        &[replace("platform.kdl", r#""nodejs_compat""#, r#""nodejs-compat""#)],
    );
    o.expect("platform::compatibility-flag", "platform.kdl", r#""nodejs-compat""#);
}

#[test]
fn json_platform_compatibility_flag_with_uppercase_is_invalid() {
    let o = check(
        "json_platform_compatibility_flag_with_uppercase_is_invalid",
        &on_json_platform([replace("platform.jsonc", r#""nodejs_compat""#, r#""Nodejs_Compat""#)]),
    );
    o.expect("platform::compatibility-flag", "platform.jsonc", r#""Nodejs_Compat""#);
}

#[test]
fn kdl_uppercase_environment_name_is_invalid() {
    let o = check(
        "kdl_uppercase_environment_name_is_invalid",
        &[replace("platform.kdl", r#"environment "stage""#, r#"environment "Stage""#)],
    );
    o.expect("platform::env::invalid", "platform.kdl", r#""Stage""#);
}

#[test]
fn json_platform_environment_name_over_16_characters_is_invalid() {
    let o = check(
        "json_platform_environment_name_over_16_characters_is_invalid",
        &on_json_platform([replace("platform.jsonc", r#""stage": {},"#, r#""staging-environment": {},"#)]),
    );
    o.expect("platform::env::invalid", "platform.jsonc", r#""staging-environment""#);
}

#[test]
fn json_platform_with_no_environments_is_an_error() {
    let o = check(
        "json_platform_with_no_environments_is_an_error",
        &on_json_platform([replace(
            "platform.jsonc",
            r#"  "environments": {
    "dev": { "development": true, "workers_dev": true },
    // `environment "stage"` without settings: an empty object.
    "stage": {},
    "prod": {},
  },"#,
            r#"  "environments": {},"#,
        )]),
    );
    o.expect("platform::env::none", "platform.jsonc", r#""environments""#);
}

#[test]
fn json_platform_durable_object_binding_without_class() {
    let o = check(
        "json_platform_durable_object_binding_without_class",
        &on_json_platform([replace(
            "platform.jsonc",
            r#""RATE_LIMITER": { "type": "durable-object", "class": "RateLimiter" }"#,
            r#""RATE_LIMITER": { "type": "durable-object" }"#,
        )]),
    );
    let d = o.expect("schema::missing", "platform.jsonc", r#""RATE_LIMITER""#);
    assert!(d.message.contains("`class`"), "{}", d.message);
}

#[test]
fn kdl_lowercase_binding_name_is_invalid() {
    let o = check(
        "kdl_lowercase_binding_name_is_invalid",
        &[replace(
            "platform.kdl",
            "durable-object RATE_LIMITER",
            "durable-object rate-limiter",
        )],
    );
    o.expect("platform::binding::name", "platform.kdl", "rate-limiter");
}

#[test]
fn json_platform_lowercase_binding_name_is_invalid() {
    let o = check(
        "json_platform_lowercase_binding_name_is_invalid",
        &on_json_platform([replace("platform.jsonc", r#""RATE_LIMITER": {"#, r#""rate-limiter": {"#)]),
    );
    o.expect("platform::binding::name", "platform.jsonc", r#""rate-limiter""#);
}

#[test]
fn kdl_dimensions_on_a_kv_binding_does_not_apply() {
    let o = check(
        "kdl_dimensions_on_a_kv_binding_does_not_apply",
        &[replace("platform.kdl", "kv CACHE", "kv CACHE dimensions=768")],
    );
    o.expect("platform::binding::field", "platform.kdl", "dimensions=768");
}

#[test]
fn json_platform_dimensions_on_a_kv_binding_does_not_apply() {
    let o = check(
        "json_platform_dimensions_on_a_kv_binding_does_not_apply",
        &on_json_platform([replace(
            "platform.jsonc",
            r#""CACHE": { "type": "kv" }"#,
            r#""CACHE": { "type": "kv", "dimensions": 768 }"#,
        )]),
    );
    o.expect("platform::binding::field", "platform.jsonc", "768");
}

#[test]
fn kdl_durable_object_class_in_kebab_case_is_invalid() {
    let o = check(
        "kdl_durable_object_class_in_kebab_case_is_invalid",
        &[replace("platform.kdl", r#"class="ChatSession""#, r#"class="chat-session""#)],
    );
    o.expect("platform::binding::class", "platform.kdl", r#"class="chat-session""#);
}

#[test]
fn json_platform_durable_object_class_in_snake_case_is_invalid() {
    let o = check(
        "json_platform_durable_object_class_in_snake_case_is_invalid",
        &on_json_platform([replace("platform.jsonc", r#""class": "ChatSession""#, r#""class": "chat_session""#)]),
    );
    o.expect("platform::binding::class", "platform.jsonc", r#""chat_session""#);
}

#[test]
fn kdl_platform_dataset_with_dashes_is_invalid() {
    let o = check(
        "kdl_platform_dataset_with_dashes_is_invalid",
        &[replace(
            "platform.kdl",
            r#"dataset="ai_platform_events""#,
            r#"dataset="ai-platform-events""#,
        )],
    );
    o.expect("platform::binding::dataset", "platform.kdl", r#"dataset="ai-platform-events""#);
}

#[test]
fn json_platform_dataset_with_dashes_is_invalid() {
    let o = check(
        "json_platform_dataset_with_dashes_is_invalid",
        &on_json_platform([replace(
            "platform.jsonc",
            r#""dataset": "ai_platform_events""#,
            r#""dataset": "ai-platform-events""#,
        )]),
    );
    o.expect("platform::binding::dataset", "platform.jsonc", r#""ai-platform-events""#);
}

#[test]
fn kdl_second_ai_binding_is_an_error() {
    let o = check(
        "kdl_second_ai_binding_is_an_error",
        &[replace("platform.kdl", "    ai AI\n", "    ai AI\n    ai WORKERS_AI\n")],
    );
    o.expect("platform::binding::duplicate-ai", "platform.kdl", "WORKERS_AI");
}

#[test]
fn json_platform_second_ai_binding_is_an_error() {
    let o = check(
        "json_platform_second_ai_binding_is_an_error",
        &on_json_platform([replace(
            "platform.jsonc",
            r#""AI": { "type": "ai" },"#,
            "\"AI\": { \"type\": \"ai\" },\n    \"WORKERS_AI\": { \"type\": \"ai\" },",
        )]),
    );
    o.expect("platform::binding::duplicate-ai", "platform.jsonc", r#""WORKERS_AI""#);
}

#[test]
fn kdl_model_id_without_namespace_is_invalid() {
    let o = check(
        "kdl_model_id_without_namespace_is_invalid",
        &[replace(
            "platform.kdl",
            "    analytics-engine EVENTS dataset=\"ai_platform_events\"\n",
            "    analytics-engine EVENTS dataset=\"ai_platform_events\"\n    model \"acme/support-llama\" task=\"text-generation\"\n",
        )],
    );
    o.expect("platform::model::id", "platform.kdl", r#""acme/support-llama""#);
}

#[test]
fn json_platform_model_id_without_at_sign_is_invalid() {
    let o = check(
        "json_platform_model_id_without_at_sign_is_invalid",
        &on_json_platform([replace(
            "platform.jsonc",
            r#"  "tools": {"#,
            "  \"models\": { \"cf/acme/support-llama\": { \"task\": \"text-generation\" } },\n  \"tools\": {",
        )]),
    );
    o.expect("platform::model::id", "platform.jsonc", r#""cf/acme/support-llama""#);
}

#[test]
fn kdl_tool_name_with_underscore_is_invalid() {
    let o = check(
        "kdl_tool_name_with_underscore_is_invalid",
        &[replace("platform.kdl", r#"tool "extract-entities""#, r#"tool "extract_entities""#)],
    );
    o.expect("platform::tool::name", "platform.kdl", r#""extract_entities""#);
}

#[test]
fn json_platform_tool_name_with_a_space_is_invalid() {
    let o = check(
        "json_platform_tool_name_with_a_space_is_invalid",
        &on_json_platform([replace("platform.jsonc", r#""extract-entities": {"#, r#""Web Search": {"#)]),
    );
    o.expect("platform::tool::name", "platform.jsonc", r#""Web Search""#);
}

#[test]
fn kdl_uppercase_tool_role_is_invalid() {
    let o = check(
        "kdl_uppercase_tool_role_is_invalid",
        &[replace("platform.kdl", r#"roles "admin" "analyst""#, r#"roles "admin" "Analyst""#)],
    );
    o.expect("platform::tool::role", "platform.kdl", r#""Analyst""#);
}

#[test]
fn json_platform_tool_role_with_a_space_is_invalid() {
    let o = check(
        "json_platform_tool_role_with_a_space_is_invalid",
        &on_json_platform([replace(
            "platform.jsonc",
            r#""roles": ["admin", "analyst"]"#,
            r#""roles": ["admin", "data analyst"]"#,
        )]),
    );
    o.expect("platform::tool::role", "platform.jsonc", r#""data analyst""#);
}

#[test]
fn kdl_api_token_value_instead_of_env_var_name_is_flagged() {
    let o = check(
        "kdl_api_token_value_instead_of_env_var_name_is_flagged",
        &on_kdl_accounts([replace(
            "accounts.kdl",
            r#""CF_API_TOKEN_SHARED""#,
            r#""Zx8KqP3mW7vN2bR5tY9uL4hG6jF1dS0aE8cV3xQ7""#,
        )]),
    );
    o.expect(
        "accounts::token-value",
        "accounts.kdl",
        r#"token-env="Zx8KqP3mW7vN2bR5tY9uL4hG6jF1dS0aE8cV3xQ7""#,
    );
}

#[test]
fn kdl_lowercase_token_env_is_not_an_env_var_name() {
    let o = check(
        "kdl_lowercase_token_env_is_not_an_env_var_name",
        &on_kdl_accounts([replace("accounts.kdl", r#""CF_API_TOKEN_ACME""#, r#""cf-api-token-acme""#)]),
    );
    o.expect("accounts::token-env", "accounts.kdl", r#"token-env="cf-api-token-acme""#);
}

#[test]
fn json_account_key_with_a_space_is_invalid() {
    let o = check(
        "json_account_key_with_a_space_is_invalid",
        &[replace(
            "accounts.jsonc",
            r#""accounts": {"#,
            "\"accounts\": {\n    \"Acme Corp\": { \"account_id\": \"00112233445566778899aabbccddeeff\", \"token_env\": \"CF_API_TOKEN_ACME_CORP\" },",
        )],
    );
    o.expect("accounts::key", "accounts.jsonc", r#""Acme Corp""#);
}

#[test]
fn kdl_account_key_with_underscore_is_invalid() {
    let o = check(
        "kdl_account_key_with_underscore_is_invalid",
        &on_kdl_accounts([replace("accounts.kdl", r#"account "shared""#, r#"account "shared_2""#)]),
    );
    o.expect("accounts::key", "accounts.kdl", r#""shared_2""#);
}

// ---------------------------------------------------------- all at once

#[test]
fn every_error_in_one_file_is_reported_in_one_run() {
    let o = check(
        "every_error_in_one_file_is_reported_in_one_run",
        &[
            replace("acme.kdl", r#"header="dev-only""#, r#"header="dev_only""#),
            replace("acme.kdl", r#"host "acme.localhost""#, r#"host "Acme.localhost""#),
            replace("acme.kdl", "max-tokens=1024", r#"max-tokens="1024""#),
            replace("acme.kdl", "overlap=100", "overlap=900"),
            replace("acme.kdl", "top-k=5", "top-k=0"),
            replace("acme.kdl", "retention-days=30", "retension-days=30"),
            replace("acme.kdl", r#"tool "summarize""#, r#"tool "sumarize""#),
            replace("acme.kdl", r#"route "search""#, r#"route "serach""#),
        ],
    );
    for code in [
        "schema::enum",
        "schema::type",
        "schema::range",
        "schema::unknown-key",
        "tenant::host::invalid",
        "tenant::rag::overlap",
        "tenant::tool::unknown",
        "tenant::ai::route",
    ] {
        o.expect_code(code);
    }
    assert!(o.errors() >= 8, "{}", diag::render_short(&o.sources, &o.items));
    assert!(o.items.iter().all(|d| o.sources.get(d.primary().file).name == "tenants/acme.kdl"));
}

#[test]
fn kdl_placeholder_left_by_a_generator_is_one_error_each() {
    let o = check(
        "kdl_placeholder_left_by_a_generator_is_one_error_each",
        &[
            replace(
                "acme.kdl",
                r#"id="7be2d1c09a8f4e6d8c1b2a3f4e5d6c7b""#,
                r#"id="TODO: KV namespace id""#,
            ),
            replace(
                "acme.kdl",
                r#"host "acme.stage.example.com""#,
                r#"host "TODO: host of acme in stage""#,
            ),
        ],
    );
    o.expect("tenant::placeholder", "acme.kdl", r#"id="TODO: KV namespace id""#);
    o.expect("tenant::placeholder", "acme.kdl", r#""TODO: host of acme in stage""#);
    // No second error about the placeholder's shape (not hex, not a host).
    assert_eq!(o.errors(), 2, "{}", diag::render_short(&o.sources, &o.items));
}

#[test]
fn json_placeholder_vectorize_index_is_flagged() {
    let o = check(
        "json_placeholder_vectorize_index_is_flagged",
        &[replace(
            "initech.json",
            r#""index": "shared-docs-stage""#,
            r#""index": "TODO: Vectorize index""#,
        )],
    );
    o.expect("tenant::placeholder", "initech.json", r#""TODO: Vectorize index""#);
    assert_eq!(o.errors(), 1, "{}", diag::render_short(&o.sources, &o.items));
}

// -------------------------------------------------------------------- auth

#[path = "common/keys.rs"]
mod keys;

/// acme's tenant-level `auth` block, as written in the example.
const ACME_AUTH: &str = r#"    auth {
        jwt issuer="https://login.acme.example.com/" audience="acme-ai" {
            jwks-url "https://login.acme.example.com/.well-known/jwks.json"
            algorithms "RS256"
        }
        api-keys #true
    }"#;

/// acme's tenant-level `auth` replaced by `block` (KDL, indented like it).
fn acme_auth(block: &str) -> Edit {
    replace("acme.kdl", ACME_AUTH, block)
}

/// globex's tenant-level `"auth"` member, as written in the example.
const GLOBEX_AUTH: &str = r#"  "auth": {
    "access": { "team_domain": "globex.cloudflareaccess.com", "audience": "9e1f5c2a7b3d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f" },
    "api_keys": true,
  },"#;

fn globex_auth(member: &str) -> Edit {
    replace("globex.jsonc", GLOBEX_AUTH, member)
}

#[test]
fn non_development_environment_without_auth_is_an_error() {
    let o = check(
        "non_development_environment_without_auth_is_an_error",
        &[replace(
            "initech.json",
            "\"secrets\": [\"GATEWAY_TOKEN\"],\n  \"auth\": { \"api_keys\": { \"kv\": \"CACHE\" } }",
            "\"secrets\": [\"GATEWAY_TOKEN\"]",
        )],
    );
    let d = o.expect("tenant::auth::missing", "initech.json", r#""prod""#);
    assert!(d.help.as_deref().unwrap().contains(r#""api_keys": true"#), "{:?}", d.help);
    o.expect("tenant::auth::missing", "initech.json", r#""stage""#);
    // dev has no auth either: allowed (it refuses every request that needs a caller).
    assert_eq!(o.errors(), 2, "{}", diag::render_short(&o.sources, &o.items));
}

#[test]
fn development_environment_without_auth_is_valid_and_fails_closed() {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, tmp.path().join(path.file_name().unwrap())).unwrap();
    }
    let globex = tmp.path().join("globex.jsonc");
    let text = std::fs::read_to_string(&globex).unwrap();
    std::fs::write(
        &globex,
        text.replacen("      \"auth\": { \"none\": true },\n", "", 1)
            .replacen(GLOBEX_AUTH, "", 1),
    )
    .unwrap();
    let text = std::fs::read_to_string(&globex).unwrap();
    // Stage and prod get their own; dev has none at all.
    let text = text.replacen(
        "\"vars\": { \"LOG_LEVEL\": \"warn\" },",
        "\"vars\": { \"LOG_LEVEL\": \"warn\" },\n      \"auth\": { \"api_keys\": true },",
        1,
    );
    let text = text.replacen(
        "\"vectorize\": { \"DOCS\": { \"index\": \"shared-docs-stage\", \"namespace\": \"globex\" } },",
        "\"vectorize\": { \"DOCS\": { \"index\": \"shared-docs-stage\", \"namespace\": \"globex\" } },\n      \"auth\": { \"api_keys\": true },",
        1,
    );
    std::fs::write(&globex, text).unwrap();
    let comp = tenants_compiler::compile(tmp.path()).unwrap();
    assert!(
        comp.diagnostics.items.is_empty(),
        "{}",
        diag::render_short(&comp.sources, &comp.diagnostics.items)
    );
    let model = comp.model.unwrap();
    let g = model.tenants.iter().find(|t| t.id == "globex").unwrap();
    let dev = &g.envs.iter().find(|e| e.name == "dev").unwrap().auth;
    assert_eq!(*dev, Default::default(), "no method: nobody gets in");
    assert!(dev.methods().is_empty());
}

#[test]
fn kdl_environment_auth_that_enables_no_method_is_missing() {
    let o = check(
        "kdl_environment_auth_that_enables_no_method_is_missing",
        &[replace(
            "acme.kdl",
            "        analytics-engine EVENTS dataset=\"acme_events\"\n",
            "        analytics-engine EVENTS dataset=\"acme_events\"\n        auth { api-keys #false; }\n",
        )],
    );
    let d = o.expect("tenant::auth::missing", "acme.kdl", "auth");
    assert!(d.message.contains("environment `prod`"), "{}", d.message);
    assert_eq!(o.errors(), 1);
}

#[test]
fn none_in_a_non_development_environment_is_an_error() {
    let o = check(
        "none_in_a_non_development_environment_is_an_error",
        &[replace(
            "acme.kdl",
            "        analytics-engine EVENTS dataset=\"acme_events\"\n",
            "        analytics-engine EVENTS dataset=\"acme_events\"\n        auth { none #true; api-keys #true; }\n",
        )],
    );
    let d = o.expect("tenant::auth::none", "acme.kdl", "none #true");
    assert!(d.message.contains("`prod`"), "{}", d.message);
    assert!(d.help.as_deref().unwrap().contains("development=#true"), "{:?}", d.help);
    assert_eq!(o.errors(), 1);
}

#[test]
fn json_tenant_level_none_is_an_error_in_each_non_development_environment_it_reaches() {
    let o = check(
        "json_tenant_level_none_is_an_error_in_each_non_development_environment_it_reaches",
        &[replace(
            "globex.jsonc",
            "    \"api_keys\": true,\n  },",
            "    \"api_keys\": true,\n    \"none\": true,\n  },",
        )],
    );
    let prod = o
        .items
        .iter()
        .filter(|d| d.code == "tenant::auth::none")
        .map(|d| d.message.as_str())
        .collect::<Vec<_>>();
    assert_eq!(prod.len(), 2, "stage and prod (dev has its own auth): {prod:?}");
    assert!(prod.iter().any(|m| m.contains("`prod`")) && prod.iter().any(|m| m.contains("`stage`")));
    let d = o.expect_first("tenant::auth::none", "globex.jsonc");
    assert_eq!(o.sources.get(d.labels[0].span.file).slice(d.labels[0].span), r#""none": true"#);
    assert_eq!(d.labels.len(), 2, "the environment it reaches is labelled too");
}

#[test]
fn jwt_without_jwks_url_or_keys_has_no_key_source() {
    let o = check(
        "jwt_without_jwks_url_or_keys_has_no_key_source",
        &[replace(
            "acme.kdl",
            "            jwks-url \"https://login.acme.example.com/.well-known/jwks.json\"\n",
            "",
        )],
    );
    let d = o.expect("tenant::auth::key-source", "acme.kdl", "jwt");
    assert!(d.help.as_deref().unwrap().contains("jwks-url"), "{:?}", d.help);
}

#[test]
fn json_jwt_with_both_jwks_url_and_keys_is_ambiguous() {
    let o = check(
        "json_jwt_with_both_jwks_url_and_keys_is_ambiguous",
        &[globex_auth(&format!(
            r#"  "auth": {{
    "jwt": {{
      "issuer": "https://idp.globex.example.org/",
      "audience": "globex",
      "jwks_url": "https://idp.globex.example.org/jwks",
      "keys": [{{ "kid": "k1", "kty": "RSA", "n": "{}", "e": "AQAB" }}],
    }},
  }},"#,
            keys::RSA_N
        ))],
    );
    o.expect(
        "tenant::auth::key-source",
        "globex.jsonc",
        r#""https://idp.globex.example.org/jwks""#,
    );
}

#[test]
fn jwks_url_over_plain_http_to_a_public_host_is_rejected() {
    let o = check(
        "jwks_url_over_plain_http_to_a_public_host_is_rejected",
        &[replace(
            "acme.kdl",
            r#"jwks-url "https://login.acme.example.com/.well-known/jwks.json""#,
            r#"jwks-url "http://login.acme.example.com/.well-known/jwks.json""#,
        )],
    );
    let d = o.expect(
        "tenant::auth::url",
        "acme.kdl",
        r#""http://login.acme.example.com/.well-known/jwks.json""#,
    );
    assert!(d.help.as_deref().unwrap().contains("loopback"), "{:?}", d.help);
}

#[test]
fn jwks_url_over_plain_http_to_localhost_is_allowed() {
    let o = run(
        "jwks_url_over_plain_http_to_localhost_is_allowed",
        &[replace(
            "acme.kdl",
            r#"jwks-url "https://login.acme.example.com/.well-known/jwks.json""#,
            r#"jwks-url "http://127.0.0.1:8787/.well-known/jwks.json""#,
        )],
    );
    assert_eq!(o.errors(), 0, "{}", diag::render_short(&o.sources, &o.items));
}

#[test]
fn hmac_algorithm_is_rejected_because_a_public_key_could_forge_tokens() {
    let o = check(
        "hmac_algorithm_is_rejected_because_a_public_key_could_forge_tokens",
        &[replace("acme.kdl", r#"algorithms "RS256""#, r#"algorithms "RS256" "HS256""#)],
    );
    let d = o.expect("tenant::auth::algorithm", "acme.kdl", r#""HS256""#);
    assert!(d.help.as_deref().unwrap().contains("forge"), "{:?}", d.help);
}

#[test]
fn json_none_algorithm_is_rejected_because_it_turns_verification_off() {
    let o = check(
        "json_none_algorithm_is_rejected_because_it_turns_verification_off",
        &[globex_auth(
            r#"  "auth": {
    "jwt": { "issuer": "https://idp.globex.example.org/", "audience": "globex", "jwks_url": "https://idp.globex.example.org/jwks", "algorithms": ["none"] },
  },"#,
        )],
    );
    let d = o.expect("tenant::auth::algorithm", "globex.jsonc", r#""none""#);
    assert!(d.help.as_deref().unwrap().contains("verification off"), "{:?}", d.help);
}

#[test]
fn kdl_algorithm_listed_twice_is_reported_with_both_locations() {
    let o = check(
        "kdl_algorithm_listed_twice_is_reported_with_both_locations",
        &[replace(
            "acme.kdl",
            r#"algorithms "RS256""#,
            r#"algorithms "RS256" "ES256" "RS256""#,
        )],
    );
    let d = o.expect("tenant::auth::algorithm", "acme.kdl", r#""RS256""#);
    assert_eq!(d.labels.len(), 2);
}

#[test]
fn misspelled_algorithm_suggests_the_supported_one() {
    let o = check(
        "misspelled_algorithm_suggests_the_supported_one",
        &[replace("acme.kdl", r#"algorithms "RS256""#, r#"algorithms "rs256""#)],
    );
    let d = o.expect("tenant::auth::algorithm", "acme.kdl", r#""rs256""#);
    assert!(d.help.as_deref().unwrap().starts_with("did you mean `RS256`?"), "{:?}", d.help);
}

#[test]
fn json_inline_private_key_is_an_error_with_rotate_help() {
    let o = check(
        "json_inline_private_key_is_an_error_with_rotate_help",
        &[globex_auth(&format!(
            r#"  "auth": {{
    "access": {{
      "team_domain": "globex.cloudflareaccess.com",
      "audience": "{}",
      "keys": [{{ "kid": "k1", "kty": "RSA", "n": "{}", "e": "AQAB", "d": "bm90LWEtcmVhbC1rZXk", "p": "bm90LXJlYWw" }}],
    }},
  }},"#,
            keys::AUD,
            keys::RSA_N
        ))],
    );
    let d = o.expect("tenant::auth::private-key", "globex.jsonc", r#""d""#);
    assert_eq!(
        d.help.as_deref(),
        Some("this is a private key: remove it, rotate the key pair, and publish only the public JWK")
    );
    assert_eq!(d.labels.len(), 2, "`d` and `p`");
    assert!(!o.codes().contains(&"schema::unknown-key"), "private members are not unknown keys");
}

#[test]
fn kdl_rsa_key_shorter_than_2048_bits_is_rejected() {
    let o = check(
        "kdl_rsa_key_shorter_than_2048_bits_is_rejected",
        &[replace(
            "acme.kdl",
            r#"            jwks-url "https://login.acme.example.com/.well-known/jwks.json""#,
            format!(r#"            key kid="old" kty="RSA" n="{}" e="AQAB""#, keys::RSA_1024_N),
        )],
    );
    let d = o.expect_first("tenant::auth::key", "acme.kdl");
    assert!(d.message.contains("1024 bits"), "{}", d.message);
}

#[test]
fn json_ec_key_that_the_algorithms_do_not_accept_is_rejected() {
    let o = check(
        "json_ec_key_that_the_algorithms_do_not_accept_is_rejected",
        &[globex_auth(&format!(
            r#"  "auth": {{
    "jwt": {{
      "issuer": "https://idp.globex.example.org/",
      "audience": "globex",
      "keys": [{{ "kid": "ec-1", "kty": "EC", "crv": "P-256", "x": "{}", "y": "{}" }}],
    }},
  }},"#,
            keys::EC_X,
            keys::EC_Y
        ))],
    );
    let d = o.expect("tenant::auth::key", "globex.jsonc", r#""EC""#);
    assert!(d.message.contains("ES256"), "{}", d.message);
    assert!(d.help.as_deref().unwrap().contains("add \"ES256\" to `algorithms`"), "{:?}", d.help);
}

#[test]
fn json_symmetric_oct_key_is_rejected_as_a_shared_secret() {
    let o = check(
        "json_symmetric_oct_key_is_rejected_as_a_shared_secret",
        &[globex_auth(
            r#"  "auth": {
    "jwt": {
      "issuer": "https://idp.globex.example.org/",
      "audience": "globex",
      "keys": [{ "kid": "shared", "kty": "oct", "k": "c2hhcmVkLXNlY3JldA" }],
    },
  },"#,
        )],
    );
    o.expect("tenant::auth::key", "globex.jsonc", r#""oct""#);
    o.expect("tenant::auth::private-key", "globex.jsonc", r#""k""#);
}

#[test]
fn kdl_key_members_that_are_not_unpadded_base64url_or_of_another_type_are_rejected() {
    let o = check(
        "kdl_key_members_that_are_not_unpadded_base64url_or_of_another_type_are_rejected",
        &[
            replace("acme.kdl", r#"algorithms "RS256""#, r#"algorithms "EdDSA""#),
            replace(
                "acme.kdl",
                r#"            jwks-url "https://login.acme.example.com/.well-known/jwks.json""#,
                format!(
                    r#"            key kid="ed-1" kty="OKP" crv="Ed25519" x="{}=" y="{}" use="enc""#,
                    keys::ED_X,
                    keys::EC_Y
                ),
            ),
        ],
    );
    let d = o.expect("tenant::auth::key", "acme.kdl", &format!("x=\"{}=\"", keys::ED_X));
    assert!(d.message.contains("base64url"), "{}", d.message);
    let d = o.expect("tenant::auth::key", "acme.kdl", &format!("y=\"{}\"", keys::EC_Y));
    assert!(d.message.contains("does not belong to an OKP key"), "{}", d.message);
    o.expect("tenant::auth::key", "acme.kdl", r#"use="enc""#);
}

#[test]
fn kdl_duplicate_kid_in_one_key_list_is_labelled_twice() {
    let o = check(
        "kdl_duplicate_kid_in_one_key_list_is_labelled_twice",
        &[
            replace("acme.kdl", r#"algorithms "RS256""#, r#"algorithms "RS256" "ES256""#),
            replace(
                "acme.kdl",
                r#"            jwks-url "https://login.acme.example.com/.well-known/jwks.json""#,
                format!(
                    "            key kid=\"k1\" kty=\"RSA\" n=\"{}\" e=\"AQAB\"\n            key kid=\"k1\" kty=\"EC\" crv=\"P-256\" x=\"{}\" y=\"{}\"",
                    keys::RSA_N,
                    keys::EC_X,
                    keys::EC_Y
                ),
            ),
        ],
    );
    let d = o.expect("tenant::auth::duplicate-kid", "acme.kdl", r#"kid="k1""#);
    assert_eq!(d.labels.len(), 2);
    assert_eq!(o.errors(), 1);
}

#[test]
fn kdl_empty_issuer_and_claim_name_with_a_space_are_rejected() {
    let o = check(
        "kdl_empty_issuer_and_claim_name_with_a_space_are_rejected",
        &[
            replace("acme.kdl", r#"issuer="https://login.acme.example.com/""#, r#"issuer="""#),
            replace(
                "acme.kdl",
                r#"            algorithms "RS256""#,
                "            algorithms \"RS256\"\n            roles-claim \"app roles\"",
            ),
        ],
    );
    o.expect("tenant::auth::issuer", "acme.kdl", r#"issuer="""#);
    o.expect("tenant::auth::claim", "acme.kdl", r#""app roles""#);
}

#[test]
fn json_access_audience_that_is_not_an_aud_tag_is_rejected() {
    let o = check(
        "json_access_audience_that_is_not_an_aud_tag_is_rejected",
        &[replace(
            "globex.jsonc",
            r#""audience": "9e1f5c2a7b3d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f""#,
            r#""audience": "globex-portal""#,
        )],
    );
    let d = o.expect("tenant::auth::audience", "globex.jsonc", r#""globex-portal""#);
    assert!(
        d.help.as_deref().unwrap().contains("Application Audience (AUD) Tag"),
        "{:?}",
        d.help
    );
}

#[test]
fn json_access_team_domain_with_a_scheme_is_rejected() {
    let o = check(
        "json_access_team_domain_with_a_scheme_is_rejected",
        &[replace(
            "globex.jsonc",
            r#""team_domain": "globex.cloudflareaccess.com""#,
            r#""team_domain": "https://globex.cloudflareaccess.com/""#,
        )],
    );
    let d = o.expect(
        "tenant::auth::team-domain",
        "globex.jsonc",
        r#""https://globex.cloudflareaccess.com/""#,
    );
    assert!(d.help.as_deref().unwrap().contains("globex.cloudflareaccess.com"), "{:?}", d.help);
}

#[test]
fn json_api_keys_naming_a_misspelled_kv_binding_suggests_the_right_one() {
    let o = check(
        "json_api_keys_naming_a_misspelled_kv_binding_suggests_the_right_one",
        &[replace(
            "initech.json",
            r#""auth": { "api_keys": { "kv": "CACHE" } }"#,
            r#""auth": { "api_keys": { "kv": "CAHCE" } }"#,
        )],
    );
    let d = o.expect("tenant::auth::kv", "initech.json", r#""CAHCE""#);
    assert_eq!(d.help.as_deref(), Some("did you mean `CACHE`?"));
}

#[test]
fn kdl_api_keys_naming_a_vectorize_binding_is_not_a_kv_binding() {
    let o = check(
        "kdl_api_keys_naming_a_vectorize_binding_is_not_a_kv_binding",
        &[acme_auth(
            &ACME_AUTH.replace("        api-keys #true", "        api-keys kv=\"DOCS\""),
        )],
    );
    let d = o.expect("tenant::auth::kv", "acme.kdl", r#"kv="DOCS""#);
    assert_eq!(d.labels.len(), 2, "labelled at the platform's declaration too");
}

#[test]
fn api_keys_without_a_binding_on_a_platform_with_two_kv_bindings_must_name_one() {
    let o = check(
        "api_keys_without_a_binding_on_a_platform_with_two_kv_bindings_must_name_one",
        &[replace("platform.kdl", "    kv CACHE\n", "    kv CACHE\n    kv API_KEYS\n")],
    );
    let d = o.expect("tenant::auth::kv", "acme.kdl", "api-keys #true");
    assert!(d.help.as_deref().unwrap().contains(r#"api-keys kv="API_KEYS""#), "{:?}", d.help);
    o.expect("tenant::auth::kv", "globex.jsonc", r#""api_keys": true"#);
    // initech names its binding: no error there.
    assert!(!o
        .items
        .iter()
        .any(|d| d.code == "tenant::auth::kv" && o.sources.get(d.primary().file).name.ends_with("initech.json")));
}

#[test]
fn credentials_pasted_into_auth_settings_are_flagged() {
    let o = check(
        "credentials_pasted_into_auth_settings_are_flagged",
        &[
            replace(
                "acme.kdl",
                r#"audience="acme-ai""#,
                r#"audience="eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLWJ5dGVz""#,
            ),
            replace(
                "acme.kdl",
                r#"jwks-url "https://login.acme.example.com/.well-known/jwks.json""#,
                r#"jwks-url "https://svc:hunter2@login.acme.example.com/.well-known/jwks.json""#,
            ),
        ],
    );
    // A KDL property is labelled whole (`key=value`), as everywhere.
    let d = o.expect(
        "tenant::secret::value",
        "acme.kdl",
        r#"audience="eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLWJ5dGVz""#,
    );
    assert!(d.message.contains("JSON Web Token"), "{}", d.message);
    let d = o.expect(
        "tenant::secret::value",
        "acme.kdl",
        r#""https://svc:hunter2@login.acme.example.com/.well-known/jwks.json""#,
    );
    assert!(d.message.contains("password"), "{}", d.message);
}

#[test]
fn unknown_key_in_kdl_jwt_suggests_the_right_name() {
    let o = check(
        "unknown_key_in_kdl_jwt_suggests_the_right_name",
        &[replace(
            "acme.kdl",
            "            jwks-url \"https://",
            "            jwks-uri \"https://",
        )],
    );
    let d = o.expect("schema::unknown-key", "acme.kdl", "jwks-uri");
    assert_eq!(d.help.as_deref(), Some("did you mean `jwks-url`?"));
    // One mistake, one error: not also "neither `jwks-url` nor keys".
    assert_eq!(o.errors(), 1, "{}", diag::render_short(&o.sources, &o.items));
}

#[test]
fn json_unknown_key_in_auth_suggests_the_right_name() {
    let o = check(
        "json_unknown_key_in_auth_suggests_the_right_name",
        &[replace(
            "globex.jsonc",
            "    \"api_keys\": true,\n  },",
            "    \"api_key\": true,\n  },",
        )],
    );
    let d = o.expect("schema::unknown-key", "globex.jsonc", r#""api_key""#);
    assert_eq!(d.help.as_deref(), Some("did you mean `api_keys`?"));
    // One mistake, one error: no "enables no method" on top.
    assert!(!o.codes().contains(&"tenant::auth::missing"), "{:?}", o.codes());
}

#[test]
fn kdl_keys_node_suggests_one_key_node_per_key() {
    let o = check(
        "kdl_keys_node_suggests_one_key_node_per_key",
        &[replace(
            "acme.kdl",
            r#"            jwks-url "https://login.acme.example.com/.well-known/jwks.json""#,
            format!(r#"            keys kid="k1" kty="RSA" n="{}" e="AQAB""#, keys::RSA_N),
        )],
    );
    let d = o.expect("schema::unknown-key", "acme.kdl", "keys");
    assert!(d.help.as_deref().unwrap().starts_with("did you mean `key`?"), "{:?}", d.help);
    assert_eq!(o.errors(), 1, "{}", diag::render_short(&o.sources, &o.items));
}

// ------------------------------------------------------------ queues and RAG

#[test]
fn kdl_queue_name_with_an_underscore_is_invalid() {
    let o = check(
        "kdl_queue_name_with_an_underscore_is_invalid",
        &[replace("acme.kdl", r#"name="acme-ingest-dev""#, r#"name="acme_ingest_dev""#)],
    );
    let d = o.expect("tenant::queue::name", "acme.kdl", r#"name="acme_ingest_dev""#);
    assert!(d.help.as_deref().unwrap().contains("1 to 63 characters"), "{:?}", d.help);
}

#[test]
fn json_queue_name_over_63_characters_is_invalid() {
    let long = format!("globex-{}", "q".repeat(60));
    let o = check(
        "json_queue_name_over_63_characters_is_invalid",
        &[replace(
            "globex.jsonc",
            r#""name": "globex-ingest""#,
            format!(r#""name": "{long}""#),
        )],
    );
    o.expect("tenant::queue::name", "globex.jsonc", &format!("\"{long}\""));
}

#[test]
fn kdl_env_without_queue_resource_is_missing_a_binding() {
    let o = check(
        "kdl_env_without_queue_resource_is_missing_a_binding",
        &[replace("acme.kdl", "        queue INGEST name=\"acme-ingest-stage\"\n", "")],
    );
    let d = o.expect("tenant::resource::missing", "acme.kdl", r#""stage""#);
    assert_eq!(d.message, "environment `stage` has no queue for binding `INGEST`");
    assert_eq!(d.help.as_deref(), Some(r#"add `queue INGEST name="<queue name>"` to this env"#));
    assert_eq!(o.sources.get(d.labels[1].span.file).name, "tenants/platform.kdl");
}

#[test]
fn json_env_without_queue_resource_is_missing_a_binding() {
    let o = check(
        "json_env_without_queue_resource_is_missing_a_binding",
        &[replace(
            "initech.json",
            ",\n      \"queues\": { \"INGEST\": { \"name\": \"initech-ingest-stage\" } }\n",
            "\n",
        )],
    );
    let d = o.expect("tenant::resource::missing", "initech.json", r#""stage""#);
    assert!(d
        .help
        .as_deref()
        .unwrap()
        .contains(r#""queues": { "INGEST": { "name": "<queue name>" } }"#));
}

#[test]
fn kdl_queue_shared_by_two_tenants_is_labelled_in_both_files() {
    let o = check(
        "kdl_queue_shared_by_two_tenants_is_labelled_in_both_files",
        &[
            write("hooli.kdl", kdl_tenant("hooli", "shared", 7)),
            replace("hooli.kdl", r#"name="hooli7-ingest-prod""#, r#"name="globex-ingest""#),
        ],
    );
    let d = o.expect("tenant::resource::shared", "hooli.kdl", r#"name="globex-ingest""#);
    assert_eq!(d.message, "queue `globex-ingest` is used by tenants `globex` and `hooli`");
    assert_eq!(o.sources.get(d.labels[1].span.file).name, "tenants/globex.jsonc");
}

#[test]
fn json_queue_in_two_environments_of_one_tenant_is_shared() {
    let o = check(
        "json_queue_in_two_environments_of_one_tenant_is_shared",
        &[replace(
            "initech.json",
            r#""name": "initech-ingest-stage""#,
            r#""name": "initech-ingest-dev""#,
        )],
    );
    let d = o.expect("tenant::resource::shared", "initech.json", r#""initech-ingest-dev""#);
    assert_eq!(
        d.message,
        "queue `initech-ingest-dev` is used by tenant `initech` in both `dev` and `stage`"
    );
    assert_eq!(o.errors(), 1, "{}", diag::render_short(&o.sources, &o.items));
}

#[test]
fn kdl_queue_entry_for_a_kv_binding_is_the_wrong_kind() {
    let o = check(
        "kdl_queue_entry_for_a_kv_binding_is_the_wrong_kind",
        &[replace(
            "acme.kdl",
            r#"        kv CACHE id="7be2d1c09a8f4e6d8c1b2a3f4e5d6c7b""#,
            r#"        queue CACHE name="acme-cache-stage""#,
        )],
    );
    let d = o.expect("tenant::binding::kind", "acme.kdl", "CACHE");
    assert_eq!(d.message, "`CACHE` is a kv binding, given a queue resource");
    assert_eq!(d.help.as_deref(), Some("write it as `kv CACHE …`"));
}

#[test]
fn json_analytics_entry_for_a_queue_binding_is_the_wrong_kind() {
    let o = check(
        "json_analytics_entry_for_a_queue_binding_is_the_wrong_kind",
        &[replace(
            "globex.jsonc",
            r#""queues": { "INGEST": { "name": "globex-ingest" } },"#,
            r#""analytics_engine": { "INGEST": { "dataset": "globex_ingest" } },"#,
        )],
    );
    let d = o.expect("tenant::binding::kind", "globex.jsonc", r#""INGEST""#);
    assert_eq!(d.message, "`INGEST` is a queue binding, given an analytics-engine resource");
    assert_eq!(d.help.as_deref(), Some("write it under `queues`"));
}

#[test]
fn kdl_placeholder_queue_name_is_flagged() {
    let o = check(
        "kdl_placeholder_queue_name_is_flagged",
        &[replace("acme.kdl", r#"name="acme-ingest""#, r#"name="TODO: queue name""#)],
    );
    let d = o.expect("tenant::placeholder", "acme.kdl", r#"name="TODO: queue name""#);
    assert_eq!(d.message, "the queue of `INGEST` in environment `prod` is still a placeholder");
    assert_eq!(o.errors(), 1, "{}", diag::render_short(&o.sources, &o.items));
}

#[test]
fn kdl_platform_with_vectorize_and_a_development_environment_needs_a_local_index() {
    let o = check(
        "kdl_platform_with_vectorize_and_a_development_environment_needs_a_local_index",
        &[replace("platform.kdl", "    durable-object DOC_INDEX class=\"DocIndex\"\n", "")],
    );
    let d = o.expect("platform::rag::no-local-index", "platform.kdl", "DOCS");
    assert!(d.message.contains("`dev`") && d.message.contains("`DocIndex`"), "{}", d.message);
    assert_eq!(o.sources.get(d.labels[1].span.file).slice(d.labels[1].span), r#""dev""#);
    assert_eq!(
        d.help.as_deref(),
        Some(r#"declare the local index: `durable-object DOC_INDEX class="DocIndex"` (the Worker exports the class)"#)
    );
    // The platform stays usable: the tenants are checked and have nothing to report.
    assert_eq!(o.errors(), 1, "{}", diag::render_short(&o.sources, &o.items));
}

#[test]
fn json_platform_with_vectorize_and_a_development_environment_needs_a_local_index() {
    let o = check(
        "json_platform_with_vectorize_and_a_development_environment_needs_a_local_index",
        &on_json_platform([replace(
            "platform.jsonc",
            "    \"DOC_INDEX\": { \"type\": \"durable-object\", \"class\": \"DocIndex\" },\n",
            "    \"DOC_INDEX\": { \"type\": \"durable-object\", \"class\": \"DocIndexV2\" },\n",
        )]),
    );
    let d = o.expect("platform::rag::no-local-index", "platform.jsonc", r#""DOCS""#);
    assert!(d.help.as_deref().unwrap().contains(r#""class": "DocIndex""#), "{:?}", d.help);
}

#[test]
fn a_platform_without_a_development_environment_needs_no_local_index() {
    let o = run(
        "a_platform_without_a_development_environment_needs_no_local_index",
        &[
            replace("platform.kdl", "    durable-object DOC_INDEX class=\"DocIndex\"\n", ""),
            replace(
                "platform.kdl",
                "environment \"dev\" development=#true workers-dev=#true",
                "environment \"dev\" development=#false workers-dev=#true",
            ),
            // `none` is for development environments only.
            replace("acme.kdl", "auth { none #true; api-keys #true }", "auth { api-keys #true }"),
            replace("globex.jsonc", r#""auth": { "none": true },"#, r#""auth": { "api_keys": true },"#),
            replace("initech.json", r#""auth": { "none": true, "api_keys""#, r#""auth": { "api_keys""#),
        ],
    );
    assert_eq!(o.errors(), 0, "{}", diag::render_short(&o.sources, &o.items));
}

#[test]
fn kdl_rerank_with_an_embedding_model_is_the_wrong_task() {
    let o = check(
        "kdl_rerank_with_an_embedding_model_is_the_wrong_task",
        &[replace(
            "acme.kdl",
            r#"rerank="@cf/baai/bge-reranker-base""#,
            r#"rerank="@cf/baai/bge-base-en-v1.5""#,
        )],
    );
    let d = o.expect("tenant::model::task", "acme.kdl", r#"rerank="@cf/baai/bge-base-en-v1.5""#);
    assert_eq!(
        d.message,
        "`@cf/baai/bge-base-en-v1.5` is a text-embeddings model, used as rerank model"
    );
    assert_eq!(d.help.as_deref(), Some("use a reranking model such as @cf/baai/bge-reranker-base"));
}

#[test]
fn json_misspelled_rerank_model_is_unknown_with_suggestion() {
    let o = check(
        "json_misspelled_rerank_model_is_unknown_with_suggestion",
        &[replace(
            "globex.jsonc",
            r#""min_score": 0.4 }"#,
            r#""min_score": 0.4, "rerank": "@cf/baai/bge-reranker-bse" }"#,
        )],
    );
    let d = o.expect("tenant::model::unknown", "globex.jsonc", r#""@cf/baai/bge-reranker-bse""#);
    assert!(
        d.help.as_deref().unwrap().starts_with("did you mean `@cf/baai/bge-reranker-base`?"),
        "{:?}",
        d.help
    );
}

#[test]
fn kdl_uppercase_ingest_role_is_invalid() {
    let o = check(
        "kdl_uppercase_ingest_role_is_invalid",
        &[replace("acme.kdl", r#"ingest-role="admin""#, r#"ingest-role="Admin""#)],
    );
    let d = o.expect("tenant::rag::ingest-role", "acme.kdl", r#"ingest-role="Admin""#);
    assert!(
        d.help.as_deref().unwrap().starts_with("`ingest-role` names the role"),
        "{:?}",
        d.help
    );
}

#[test]
fn json_ingest_role_with_a_space_is_invalid() {
    let o = check(
        "json_ingest_role_with_a_space_is_invalid",
        &[replace(
            "globex.jsonc",
            r#""min_score": 0.4 }"#,
            r#""min_score": 0.4, "ingest_role": "doc admins" }"#,
        )],
    );
    let d = o.expect("tenant::rag::ingest-role", "globex.jsonc", r#""doc admins""#);
    assert!(
        d.help.as_deref().unwrap().starts_with("`ingest_role` names the role"),
        "{:?}",
        d.help
    );
}

#[test]
fn kdl_rag_setting_outside_rag_belongs_inside_it() {
    let o = check(
        "kdl_rag_setting_outside_rag_belongs_inside_it",
        &[replace(
            "acme.kdl",
            "    cache search-ttl=300\n",
            "    cache search-ttl=300\n    hybrid #true\n",
        )],
    );
    let d = o.expect("schema::unknown-key", "acme.kdl", "hybrid");
    assert!(d.help.as_deref().unwrap().contains("belongs inside `rag`"), "{:?}", d.help);
}

// ------------------------------------------------------------- tools

#[test]
fn kdl_platform_tool_the_worker_does_not_implement() {
    let o = check(
        "kdl_platform_tool_the_worker_does_not_implement",
        &[replace(
            "platform.kdl",
            r#"tool "tag-and-chunk" description"#,
            r#"tool "web-search" description"#,
        )],
    );
    o.expect("platform::tool::unimplemented", "platform.kdl", r#""web-search""#);
    // The platform stays usable: the tenant enabling the old name is told.
    o.expect("tenant::tool::unknown", "acme.kdl", r#""tag-and-chunk""#);
}

#[test]
fn json_platform_tool_misspelled_suggests_the_implemented_one() {
    let o = check(
        "json_platform_tool_misspelled_suggests_the_implemented_one",
        &on_json_platform([replace("platform.jsonc", r#""tag-and-chunk": {"#, r#""tag-and-chunks": {"#)]),
    );
    let d = o.expect("platform::tool::unimplemented", "platform.jsonc", r#""tag-and-chunks""#);
    assert!(d.help.as_deref().unwrap_or("").contains("`tag-and-chunk`"), "{:?}", d.help);
}

#[test]
fn kdl_platform_tools_without_an_audit_log() {
    let o = check(
        "kdl_platform_tools_without_an_audit_log",
        &[replace("platform.kdl", r#"durable-object AUDIT class="AuditLog""#, "")],
    );
    o.expect("platform::tool::no-audit-log", "platform.kdl", r#""summarize""#);
}

#[test]
fn kdl_classify_intent_with_one_label_and_labels_on_another_tool() {
    let o = check(
        "kdl_classify_intent_with_one_label_and_labels_on_another_tool",
        &[
            replace(
                "acme.kdl",
                r#"labels "billing" "technical-support" "sales" "account""#,
                r#"labels "billing""#,
            ),
            replace("acme.kdl", r#"tool "tag-and-chunk""#, r#"tool "tag-and-chunk" { labels "a" "b"; }"#),
        ],
    );
    o.expect("tenant::tool::labels", "acme.kdl", "labels");
    assert_eq!(o.items.iter().filter(|d| d.code == "tenant::tool::labels").count(), 2);
}

#[test]
fn json_tool_labels_duplicated_and_timeout_out_of_range() {
    let o = check(
        "json_tool_labels_duplicated_and_timeout_out_of_range",
        &[replace(
            "initech.json",
            r#""summarize": { "timeout_ms": 1500 }"#,
            r#""summarize": { "timeout_ms": 50 }, "classify-intent": { "labels": ["sales", "sales", "support"] }"#,
        )],
    );
    o.expect("schema::range", "initech.json", "50");
    o.expect("tenant::tool::labels", "initech.json", r#""sales""#);
}

#[test]
fn kdl_route_override_for_tts_says_tts_uses_its_own_model() {
    let o = check(
        "kdl_route_override_for_tts_says_tts_uses_its_own_model",
        &[replace("acme.kdl", r#"route "search" chat="#, r#"route "tts" chat="#)],
    );
    let d = o.expect("tenant::ai::route", "acme.kdl", r#""tts""#);
    assert!(d.help.as_deref().unwrap_or("").contains("`tts` model"), "{:?}", d.help);
}

// ------------------------------------------------------ look-alike slips

#[test]
fn typographic_quotes_in_kdl_are_named_by_code_point() {
    let o = check(
        "typographic_quotes_in_kdl_are_named_by_code_point",
        &[replace("acme.kdl", r#"name "Acme Corp""#, "name “Acme Corp”")],
    );
    let d = o.expect("syntax::typographic-quote", "acme.kdl", "“");
    assert!(d.message.contains("U+201C LEFT DOUBLE QUOTATION MARK"), "{}", d.message);
    assert_eq!(d.fix.as_ref().unwrap().edits[0].replacement, "\"");
    o.expect("syntax::typographic-quote", "acme.kdl", "”");
    // The file is not parsed further: no "found a list" from the two words.
    assert!(!o.items.iter().any(|d| d.code == "schema::type"));
}

#[test]
fn typographic_quotes_in_json_are_named_by_code_point() {
    let o = check(
        "typographic_quotes_in_json_are_named_by_code_point",
        &[replace(
            "globex.jsonc",
            r#""name": "Globex Corporation""#,
            "\"name\": “Globex Corporation”",
        )],
    );
    o.expect("syntax::typographic-quote", "globex.jsonc", "“");
    assert!(!o.items.iter().any(|d| d.code == "syntax::json"), "no bare 'unexpected token'");
}

#[test]
fn a_no_break_space_is_named_and_a_zero_width_space_in_a_key_warns() {
    let o = check(
        "a_no_break_space_is_named_and_a_zero_width_space_in_a_key_warns",
        &[
            replace("initech.json", r#""id": "initech","#, "\"id\":\u{a0}\"initech\","),
            replace("globex.jsonc", r#""account": "shared""#, "\"acc\u{200b}ount\": \"shared\""),
        ],
    );
    let d = o.expect("syntax::invisible-char", "initech.json", "\u{a0}");
    assert_eq!(d.message, "invisible character U+00A0 NO-BREAK SPACE");
    let w = o.expect("syntax::invisible-char", "globex.jsonc", "\u{200b}");
    assert_eq!(w.severity, Severity::Warning);
    // The key itself is unknown, with the rename as its fix.
    o.expect("schema::unknown-key", "globex.jsonc", "\"acc\u{200b}ount\"");
}

#[test]
fn kdl_v1_raw_string_gets_the_v2_spelling() {
    let o = check(
        "kdl_v1_raw_string_gets_the_v2_spelling",
        &[replace("acme.kdl", r#"name "Acme Corp""#, r##"name r#"Acme Corp"#"##)],
    );
    let d = o.expect("syntax::kdl-v1", "acme.kdl", r##"r#"Acme Corp"#"##);
    assert_eq!(d.fix.as_ref().unwrap().edits[0].replacement, r##"#"Acme Corp"#"##);
    assert_eq!(o.errors(), 1, "the parser's own messages on that line are left out");
}

#[test]
fn kdl_hash_comment_and_bare_keyword_are_named_as_v1_habits() {
    let o = check(
        "kdl_hash_comment_and_bare_keyword_are_named_as_v1_habits",
        &[
            replace("acme.kdl", r#"account "acme""#, r#"account "acme" # the shared one"#),
            replace("acme.kdl", "tts enabled=#true", "tts enabled=true"),
        ],
    );
    o.expect("syntax::kdl-v1", "acme.kdl", "#");
    let d = o.expect("syntax::kdl-v1", "acme.kdl", "true");
    assert_eq!(d.fix.as_ref().unwrap().edits[0].replacement, "#true");
}

#[test]
fn a_model_id_without_its_prefix_gets_the_closest_by_family_and_size() {
    let o = check(
        "a_model_id_without_its_prefix_gets_the_closest_by_family_and_size",
        &[replace(
            "acme.kdl",
            r#"route "search" chat="@cf/meta/llama-3.3-70b-instruct-fp8-fast""#,
            r#"route "search" chat="llama-3.3-70b-instruct""#,
        )],
    );
    let d = o.expect("tenant::model::unknown", "acme.kdl", "chat=\"llama-3.3-70b-instruct\"");
    assert!(
        d.help
            .as_deref()
            .unwrap()
            .starts_with("did you mean `@cf/meta/llama-3.3-70b-instruct-fp8-fast`?"),
        "{:?}",
        d.help
    );
}

#[test]
fn a_hugging_face_model_id_says_how_workers_ai_names_models() {
    let o = check(
        "a_hugging_face_model_id_says_how_workers_ai_names_models",
        &[replace(
            "globex.jsonc",
            r#""model": "@cf/meta/llama-3.3-70b-instruct-fp8-fast""#,
            r#""model": "meta-llama/Llama-3.3-70B-Instruct""#,
        )],
    );
    let d = o.expect("tenant::model::unknown", "globex.jsonc", "\"meta-llama/Llama-3.3-70B-Instruct\"");
    let help = d.help.as_deref().unwrap();
    assert!(help.contains("`@cf/meta/llama-3.3-70b-instruct-fp8-fast`"), "{help}");
    assert!(help.contains("a Hugging Face id is not one"), "{help}");
}

#[test]
fn voice_on_the_tts_model_belongs_inside_the_tts_block() {
    let o = check(
        "voice_on_the_tts_model_belongs_inside_the_tts_block",
        &[replace(
            "acme.kdl",
            r#"tts "@cf/myshell-ai/melotts""#,
            r#"tts "@cf/myshell-ai/melotts" voice="en-us""#,
        )],
    );
    let d = o.expect_first("schema::unknown-key", "acme.kdl");
    assert!(
        d.help.as_deref().unwrap().starts_with("`voice` belongs inside `tts`"),
        "{:?}",
        d.help
    );
}

#[test]
fn vars_directly_under_envs_is_not_an_environment() {
    let o = check(
        "vars_directly_under_envs_is_not_an_environment",
        &[replace(
            "globex.jsonc",
            r#""envs": {"#,
            "\"envs\": {\n    \"vars\": { \"LOG_LEVEL\": \"info\" },",
        )],
    );
    let d = o.expect("schema::unknown-key", "globex.jsonc", "\"vars\"");
    assert_eq!(d.message, "`vars` is not an environment");
    assert!(d.help.as_deref().unwrap().contains("belongs inside an environment"));
    assert_eq!(o.errors(), 1, "no `unknown environment` or unknown keys inside it on top");
}

// ------------------------------------------- credentials are errors (issue 17)

/// A Cloudflare API token in the scannable format, as the dashboard shows
/// it since 2025 (made up).
const CFUT: &str = "cfut_Xq9vL2mN8pR4sT6uW1yZ3bC5dF7gH0jK2lM4nP6q0a1b2c3d";

#[test]
fn a_cloudflare_token_in_an_env_var_is_an_error() {
    let o = check(
        "a_cloudflare_token_in_an_env_var_is_an_error",
        &[replace(
            "globex.jsonc",
            r#""vars": { "LOG_LEVEL": "warn" }"#,
            format!(r#""vars": {{ "LOG_LEVEL": "warn", "CF_TOKEN": "{CFUT}" }}"#),
        )],
    );
    let d = o.expect("tenant::secret::value", "globex.jsonc", &format!("\"{CFUT}\""));
    assert_eq!(d.severity, Severity::Error);
    assert!(d.message.contains("a Cloudflare API token"), "{}", d.message);
    let help = d.help.as_deref().unwrap();
    assert!(
        help.contains("rotate") && help.contains("`secrets`") && help.contains("not-secret"),
        "{help}"
    );
}

#[test]
fn a_high_entropy_var_value_is_an_error_not_a_warning() {
    let o = check(
        "a_high_entropy_var_value_is_an_error_not_a_warning",
        &[replace(
            "acme.kdl",
            r#"var SUPPORT_EMAIL "support@acme.example.com""#,
            r#"var WIDGET_KEY "Q2xpZW50S2V5OnB1YmxpYzo4ZjNhMmI5YzdkNmU1""#,
        )],
    );
    let d = o.expect("tenant::secret::value", "acme.kdl", r#""Q2xpZW50S2V5OnB1YmxpYzo4ZjNhMmI5YzdkNmU1""#);
    assert_eq!(d.severity, Severity::Error);
}

#[test]
fn a_value_in_not_secrets_passes_and_only_that_value() {
    let value = "Q2xpZW50S2V5OnB1YmxpYzo4ZjNhMmI5YzdkNmU1";
    let o = run(
        "a_value_in_not_secrets_passes_and_only_that_value",
        &[
            replace(
                "acme.kdl",
                r#"var SUPPORT_EMAIL "support@acme.example.com""#,
                format!(r#"var WIDGET_KEY "{value}""#),
            ),
            replace(
                "globex.jsonc",
                r#""vars": { "LOG_LEVEL": "warn" }"#,
                format!(r#""vars": {{ "LOG_LEVEL": "warn", "WIDGET_KEY": "{value}x" }}"#),
            ),
            replace(
                "platform.kdl",
                "    queue INGEST\n",
                format!("    queue INGEST\n    not-secret \"{value}\" reason=\"the chat widget's public site key\"\n"),
            ),
        ],
    );
    // The listed value passes; one character more is another value.
    assert!(
        !o.items.iter().any(|d| o.sources.get(d.primary().file).name.ends_with("acme.kdl")),
        "{}",
        diag::render_short(&o.sources, &o.items)
    );
    o.expect("tenant::secret::value", "globex.jsonc", &format!("\"{value}x\""));
    assert_eq!(o.errors(), 1, "{}", diag::render_short(&o.sources, &o.items));
}

#[test]
fn an_unused_not_secrets_entry_is_a_warning() {
    let o = check_warning(
        "an_unused_not_secrets_entry_is_a_warning",
        &on_json_platform([replace(
            "platform.jsonc",
            r#""tools": {"#,
            r#""not_secrets": { "Q2xpZW50S2V5OnB1YmxpYzo4ZjNhMmI5YzdkNmU1": { "reason": "the old widget's site key" } },
  "tools": {"#,
        )]),
    );
    o.expect(
        "platform::not-secret::unused",
        "platform.jsonc",
        r#""Q2xpZW50S2V5OnB1YmxpYzo4ZjNhMmI5YzdkNmU1""#,
    );
}

#[test]
fn a_not_secrets_entry_needs_a_reason() {
    let o = check(
        "a_not_secrets_entry_needs_a_reason",
        &[replace(
            "platform.kdl",
            "    queue INGEST\n",
            "    queue INGEST\n    not-secret \"Q2xpZW50S2V5OnB1YmxpYzo4ZjNhMmI5YzdkNmU1\"\n    not-secret \"Zx8KqP3mW7vN2bR5tY9uL4hG6jF1dS0aE8cV3xQ7\" reason=\" \"\n",
        )],
    );
    o.expect_first("schema::missing", "platform.kdl");
    o.expect("platform::not-secret::reason", "platform.kdl", r#"reason=" ""#);
}

#[test]
fn a_cloudflare_token_under_an_unknown_accounts_key_is_a_leaked_secret() {
    let o = check(
        "a_cloudflare_token_under_an_unknown_accounts_key_is_a_leaked_secret",
        &[replace(
            "accounts.jsonc",
            r#""token_env": "CF_API_TOKEN_ACME""#,
            r#""token_env": "CF_API_TOKEN_ACME",
      "api_token": "YQSn-xWAQiiEh9qM58wZNnyQS7FUdoqGIUAbrh7T""#,
        )],
    );
    o.expect_first("schema::unknown-key", "accounts.jsonc");
    let d = o.expect(
        "accounts::secret::value",
        "accounts.jsonc",
        r#""YQSn-xWAQiiEh9qM58wZNnyQS7FUdoqGIUAbrh7T""#,
    );
    assert!(d.message.contains("a Cloudflare API token"), "{}", d.message);
}

#[test]
fn a_global_api_key_pasted_as_the_account_id_is_a_leaked_secret() {
    let o = check(
        "a_global_api_key_pasted_as_the_account_id_is_a_leaked_secret",
        &[replace(
            "accounts.jsonc",
            "5f1d2c3b4a5968778695a4b3c2d1e0f9",
            "1e29fa6b8a2ab9d8e6f7c1d2a3b4c5d6e7f8a",
        )],
    );
    let d = o.expect(
        "accounts::secret::value",
        "accounts.jsonc",
        r#""1e29fa6b8a2ab9d8e6f7c1d2a3b4c5d6e7f8a""#,
    );
    assert!(d.message.contains("a Cloudflare Global API Key"), "{}", d.message);
    assert!(!o.codes().contains(&"accounts::account-id"), "one error, not two");
}

#[test]
fn a_token_in_a_display_name_or_tool_description_is_a_leaked_secret() {
    let o = check(
        "a_token_in_a_display_name_or_tool_description_is_a_leaked_secret",
        &[
            replace("acme.kdl", r#"name "Acme Corp""#, format!(r#"name "{CFUT}""#)),
            replace(
                "platform.kdl",
                r#"description="Summarise a text or one of your chat sessions""#,
                r#"description="Bearer 3f9c2e7a1b8d4f6e9a""#,
            ),
        ],
    );
    o.expect("tenant::secret::value", "acme.kdl", &format!("\"{CFUT}\""));
    o.expect(
        "platform::secret::value",
        "platform.kdl",
        r#"description="Bearer 3f9c2e7a1b8d4f6e9a""#,
    );
}

// ---------------------------------- every rule runs beside a broken file (issue 17)

#[test]
fn a_broken_platform_file_leaves_var_and_secret_checks_running_on_every_tenant() {
    let o = check(
        "a_broken_platform_file_leaves_var_and_secret_checks_running_on_every_tenant",
        &[
            replace("platform.kdl", "    queue INGEST\n", "    queue INGEST {\n"),
            replace(
                "acme.kdl",
                r#"var LOG_LEVEL "debug""#,
                format!(
                    r#"var log-level "debug"
        var CF_TOKEN "{CFUT}""#
                ),
            ),
            replace(
                "globex.jsonc",
                r#""vars": { "LOG_LEVEL": "warn" }"#,
                r#""vars": { "LOG_LEVEL": "warn", "UPSTREAM": "Bearer 3f9c2e7a1b8d4f6e" }"#,
            ),
            replace(
                "initech.json",
                r#""queues": { "INGEST": { "name": "initech-ingest-stage" } }"#,
                r#""queues": { "INGEST": { "name": "initech-ingest-stage" } },
      "vars": { "GATEWAY_TOKEN": "gw" }"#,
            ),
            replace("accounts.jsonc", "\n}", "\n"),
        ],
    );
    o.expect_first("syntax::kdl", "platform.kdl");
    o.expect("tenant::var::name", "acme.kdl", "log-level");
    o.expect("tenant::secret::value", "acme.kdl", &format!("\"{CFUT}\""));
    o.expect("tenant::secret::value", "globex.jsonc", r#""Bearer 3f9c2e7a1b8d4f6e""#);
    o.expect_first("tenant::secret::conflict", "initech.json");
}

// ------------------------------------------------------------------ file limits

#[test]
fn a_file_over_one_mebibyte_is_not_read() {
    let mut big = String::from("{\n  \"id\": \"huge\",\n  \"name\": \"");
    big.push_str(&"x".repeat(1024 * 1024));
    big.push_str("\"\n}\n");
    let o = check("a_file_over_one_mebibyte_is_not_read", &[write("huge.json", big)]);
    o.expect_first("file::too-large", "huge.json");
}

#[test]
fn nesting_deeper_than_64_levels_is_refused() {
    let deep = format!("{{ \"id\": \"deep\", \"x\": {}1{} }}\n", "[".repeat(70), "]".repeat(70));
    let o = check("nesting_deeper_than_64_levels_is_refused", &[write("deep.json", deep)]);
    o.expect_first("file::nesting", "deep.json");
}
