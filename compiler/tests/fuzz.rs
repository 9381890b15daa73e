//! Property-based fuzzing of the three front ends (KDL, JSON, JSONC) through
//! the whole pipeline: [`tenants_compiler::compile`] on a temporary tenants
//! directory holding the example platform and accounts files plus one fuzzed
//! file.
//!
//! Inputs, per front end:
//! - (a) arbitrary bytes (and arbitrary Unicode strings);
//! - (b) token soup from a grammar-ish alphabet (braces, quotes, `=`,
//!   `#true`, comments, escapes, numbers, identifiers, odd whitespace),
//!   bare or wrapped in a plausible tenant skeleton;
//! - (c) random byte-range mutations (delete / insert / duplicate) of the
//!   example files, written back under their own name (so mutated
//!   `platform.kdl` and `accounts.jsonc` exercise those document kinds too).
//!
//! Properties: no panic, no hang, `compile` returns `Ok`, every label of every
//! diagnostic lies within its file's text and on char boundaries, every
//! renderer copes, and a model exists exactly when there is no error.
//!
//! Bounded: 200 cases per property unless `PROPTEST_CASES` says otherwise.
//! A stack overflow aborts the process before proptest can report: the
//! crashing input is then left in `$TMPDIR/tenants-fuzz-<property>-*/`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tenants_compiler::diag;

const PLATFORM: &str = include_str!("../../tenants/platform.kdl");
const ACCOUNTS: &str = include_str!("../../tenants/accounts.jsonc");
const ACME: &str = include_str!("../../tenants/acme.kdl");
const INITECH: &str = include_str!("../../tenants/initech.json");
const GLOBEX: &str = include_str!("../../tenants/globex.jsonc");

/// Longest a single case may take before it counts as a hang.
const CASE_TIMEOUT: Duration = Duration::from_secs(20);

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(200);
    Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..Config::default()
    }
}

// ------------------------------------------------------------------ inputs

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fmt {
    Kdl,
    Json,
    Jsonc,
}

impl Fmt {
    fn ext(self) -> &'static str {
        match self {
            Fmt::Kdl => "kdl",
            Fmt::Json => "json",
            Fmt::Jsonc => "jsonc",
        }
    }
    /// Example files of this format: (file name, text).
    fn seeds(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Fmt::Kdl => &[("acme.kdl", ACME), ("platform.kdl", PLATFORM)],
            Fmt::Json => &[("initech.json", INITECH)],
            Fmt::Jsonc => &[("globex.jsonc", GLOBEX), ("accounts.jsonc", ACCOUNTS)],
        }
    }
    /// Skeletons the token soup is (sometimes) wrapped in.
    fn wrappers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Fmt::Kdl => &[
                ("", ""),
                ("tenant \"fz\" {\n", "\n}\n"),
                ("tenant \"fz\" {\n    env \"dev\" {\n", "\n    }\n}\n"),
            ],
            Fmt::Json | Fmt::Jsonc => &[
                ("", ""),
                ("{\"id\": \"fz\", ", "}"),
                ("{\"id\": \"fz\", \"envs\": {\"dev\": {", "}}}"),
            ],
        }
    }
}

/// One fuzzed file: its name in the tenants directory and its bytes.
#[derive(Clone)]
struct Input {
    file: String,
    bytes: Vec<u8>,
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Readable and copy-pasteable as a Rust byte string.
        let escaped: String = self
            .bytes
            .iter()
            .flat_map(|b| std::ascii::escape_default(*b))
            .map(char::from)
            .collect();
        write!(f, "{} ({} bytes): b\"{escaped}\"", self.file, self.bytes.len())
    }
}

/// The grammar-ish alphabet shared by all front ends.
#[rustfmt::skip]
const TOKENS: &[&str] = &[
    // structure
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    ",",
    ":",
    ";",
    "=",
    "\n",
    " ",
    "\t",
    "\r\n",
    "\\",
    // strings, raw strings, escapes
    "\"",
    "\"\"\"",
    "#\"",
    "\"#",
    "##\"",
    "\"##",
    "'",
    "\\\"",
    "\\n",
    "\\u{1F600}",
    "\\u{110000}",
    "\\u{",
    "\\ud800",
    "\\udc00",
    "\\u00e9",
    "\\x41",
    "\\s",
    "\\ \n",
    "\"a\"",
    "\"\"",
    "\"acme\"",
    "\"dev\"",
    "\"@cf/meta/llama-3.1-8b-instruct\"",
    // keywords
    "#true",
    "#false",
    "#null",
    "#inf",
    "#-inf",
    "#nan",
    "true",
    "false",
    "null",
    "NaN",
    "Infinity",
    // comments
    "//",
    "/*",
    "*/",
    "/-",
    "/* /* */ */",
    "// c\n",
    // identifiers and keys
    "tenant",
    "platform",
    "account",
    "env",
    "host",
    "kv",
    "id",
    "name",
    "vectorize",
    "queue",
    "var",
    "ai",
    "tool",
    "secrets",
    "rate-limit",
    "index",
    "namespace",
    "a",
    "x-y",
    "CACHE",
    "DOCS",
    "(u8)",
    "(type)",
    "\"id\"",
    "\"name\"",
    "\"envs\"",
    "\"hosts\"",
    "\"kv\"",
    "\"queues\"",
    "\"accounts\"",
    // numbers
    "0",
    "1",
    "-1",
    "+1",
    "1.5",
    ".5",
    "1e10",
    "1e999",
    "-0",
    "0x1F",
    "0o17",
    "0b101",
    "1_000",
    "99999999999999999999",
    "-9223372036854775809",
    "00",
    // odd characters
    "é",
    "😀",
    "\u{FEFF}",
    "\u{0085}",
    "\u{2028}",
    "\u{200B}",
    "\u{7F}",
    "\u{FFFD}",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(select(TOKENS), 0..160).prop_map(|v| v.concat())
}

fn arbitrary_input(fmt: Fmt) -> impl Strategy<Value = Input> {
    let file = format!("fz.{}", fmt.ext());
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..1024),
        any::<String>().prop_map(String::into_bytes),
    ]
    .prop_map(move |bytes| Input { file: file.clone(), bytes })
}

/// (b): either flat token soup, or a random but mostly well-formed document
/// of the right format whose names, keys and scalars come from the real
/// vocabulary (so the decoder and validator see something to chew on), with
/// a few soup tokens spliced in.
fn grammar_input(fmt: Fmt) -> impl Strategy<Value = Input> {
    let file = format!("fz.{}", fmt.ext());
    let soup_doc = (select(fmt.wrappers()), soup()).prop_map(|((pre, post), body)| format!("{pre}{body}{post}"));
    let structured = match fmt {
        Fmt::Kdl => kdl_document().boxed(),
        Fmt::Json => json_document(false).boxed(),
        Fmt::Jsonc => json_document(true).boxed(),
    };
    let noisy = (structured.clone(), prop::collection::vec((any::<Index>(), select(TOKENS)), 1..4)).prop_map(|(mut doc, noise)| {
        for (at, tok) in noise {
            let mut pos = at.index(doc.len() + 1);
            while !doc.is_char_boundary(pos) {
                pos -= 1;
            }
            doc.insert_str(pos, tok);
        }
        doc
    });
    prop_oneof![2 => soup_doc, 2 => structured, 1 => noisy].prop_map(move |text| Input {
        file: file.clone(),
        bytes: text.into_bytes(),
    })
}

#[rustfmt::skip]
const KDL_NODES: &[&str] = &[
    "tenant", "env", "host", "kv", "vectorize", "analytics-engine", "var", "name", "account", "resolution", "ai", "chat",
    "embedding", "tts", "route", "budget", "rag", "sessions", "rate-limit", "tenant", "user", "ip", "cache", "tool",
    "safety", "secrets", "platform", "environment", "durable-object", "model", "compatibility-date", "roles", "bogus",
    "\"quoted node\"", "r#x", "auth", "jwt", "access", "api-keys", "none", "key", "keys", "jwks-url", "algorithms",
];
#[rustfmt::skip]
const KDL_PROPS: &[&str] = &[
    "id", "index", "dataset", "namespace", "header", "gateway", "max-tokens", "per", "roles", "enabled", "voice",
    "chunk-size", "top-k", "min-score", "tokens-per-day", "class", "dimensions", "metric", "development", "workers-dev",
    "description", "account-id", "token-env", "retention-days", "retention-seconds", "bogus", "\"odd key\"", "issuer", "audience",
    "team-domain", "kid", "kty", "crv", "n", "e", "x", "y", "d", "alg", "use",
];
#[rustfmt::skip]
const KDL_SCALARS: &[&str] = &[
    "\"acme\"", "\"fz\"", "\"dev\"", "\"prod\"", "\"fz.example.com\"", "\"*.fz.example.com\"", "\"CACHE\"", "\"DOCS\"",
    "\"0f2ac74b498b48028cb68387c421e279\"", "\"fz-docs\"", "\"fz_events\"", "\"@cf/meta/llama-3.1-8b-instruct\"",
    "\"@cf/baai/bge-base-en-v1.5\"", "\"minute\"", "\"admin\"", "\"summarize\"", "\"LOG_LEVEL\"", "\"\"", "\"é😀\"",
    "#\"raw\"#", "\"\"\"\n  multi\n  \"\"\"", "0", "1", "-1", "1000", "0.5", "1e400", "99999999999999999999", "#true",
    "#false", "#null", "#inf", "#nan", "(u8)1", "bare-ident", "\"RS256\"", "\"HS256\"", "\"RSA\"", "\"EC\"", "\"P-256\"",
    "\"AQAB\"", "\"https://idp.example.com/jwks\"",
];

fn kdl_node_line() -> impl Strategy<Value = String> {
    (
        select(KDL_NODES),
        prop::collection::vec(select(KDL_SCALARS), 0..3),
        prop::collection::vec((select(KDL_PROPS), select(KDL_SCALARS)), 0..3),
    )
        .prop_map(|(name, args, props)| {
            let mut s = name.to_string();
            for a in args {
                s.push(' ');
                s.push_str(a);
            }
            for (k, v) in props {
                s.push_str(&format!(" {k}={v}"));
            }
            s
        })
}

fn kdl_nodes() -> impl Strategy<Value = String> {
    let leaf = kdl_node_line();
    leaf.prop_recursive(4, 48, 6, |inner| {
        (
            kdl_node_line(),
            prop::collection::vec(inner, 0..6),
            select(&["\n", "; ", "\n// c\n", "\n/- x\n"][..]),
        )
            .prop_map(|(head, children, sep)| {
                if children.is_empty() {
                    format!("{head} {{ }}")
                } else {
                    format!("{head} {{\n{}\n}}", children.join(sep))
                }
            })
    })
}

fn kdl_document() -> impl Strategy<Value = String> {
    (prop::collection::vec(kdl_nodes(), 0..8), any::<bool>()).prop_map(|(nodes, wrap)| {
        let body = nodes.join("\n");
        if wrap {
            format!("tenant \"fz\" {{\n{body}\n}}\n")
        } else {
            body
        }
    })
}

#[rustfmt::skip]
const JSON_KEYS: &[&str] = &[
    "id", "name", "account", "envs", "dev", "stage", "prod", "hosts", "kv", "CACHE", "DOCS", "EVENTS", "vectorize",
    "analytics_engine", "index", "namespace", "dataset", "vars", "secrets", "ai", "chat", "embedding", "model", "routes",
    "tools", "rate_limits", "tenant", "user", "limit", "per", "accounts", "account_id", "token_env", "resolution",
    "header", "bogus", "$schema", "", "é", "auth", "jwt", "access", "api_keys", "none", "keys", "kid", "kty", "n",
    "e", "x", "crv", "d", "issuer", "audience", "jwks_url", "algorithms", "team_domain",
];
#[rustfmt::skip]
const JSON_SCALARS: &[&str] = &[
    "\"acme\"", "\"fz\"", "\"dev\"", "\"fz.example.com\"", "\"*.fz.example.com\"", "\"0f2ac74b498b48028cb68387c421e279\"",
    "\"fz-docs\"", "\"@cf/meta/llama-3.1-8b-instruct\"", "\"minute\"", "\"\"", "\"\\ud83d\\ude00\"", "\"\\ud800\"", "\"é\"",
    "0", "1", "-1", "1000", "0.5", "-1.5e3", "1e400", "99999999999999999999", "true", "false", "null", "[]", "{}",
];

fn json_value(jsonc: bool) -> impl Strategy<Value = String> {
    let seps: &'static [&'static str] = if jsonc {
        &[", ", ",\n// c\n", " /* c */, "]
    } else {
        &[", ", ",\n"]
    };
    select(JSON_SCALARS)
        .prop_map(str::to_string)
        .prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                (prop::collection::vec(inner.clone(), 0..6), select(seps), any::<bool>()).prop_map(move |(items, sep, trailing)| {
                    let t = if jsonc && trailing && !items.is_empty() { "," } else { "" };
                    format!("[{}{t}]", items.join(sep))
                }),
                (prop::collection::vec((select(JSON_KEYS), inner), 0..6), select(seps), any::<bool>()).prop_map(
                    move |(entries, sep, trailing)| {
                        let t = if jsonc && trailing && !entries.is_empty() { "," } else { "" };
                        let body: Vec<String> = entries.into_iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
                        format!("{{{}{t}}}", body.join(sep))
                    }
                ),
            ]
        })
}

fn json_document(jsonc: bool) -> impl Strategy<Value = String> {
    (prop::collection::vec((select(JSON_KEYS), json_value(jsonc)), 0..8), any::<bool>()).prop_map(|(entries, with_id)| {
        let mut body: Vec<String> = entries.into_iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
        if with_id {
            body.insert(0, "\"id\": \"fz\"".to_string());
        }
        format!("{{\n{}\n}}\n", body.join(",\n"))
    })
}

#[derive(Clone, Debug)]
enum Mutation {
    Delete { at: Index, len: usize },
    Insert { at: Index, bytes: Vec<u8> },
    Duplicate { from: Index, len: usize, to: Index },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let insert_bytes = prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 1..8),
        6 => select(TOKENS).prop_map(|t| t.as_bytes().to_vec()),
    ];
    prop_oneof![
        3 => (any::<Index>(), 0..16usize).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => (any::<Index>(), 0..256usize).prop_map(|(at, len)| Mutation::Delete { at, len }),
        4 => (any::<Index>(), insert_bytes).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        2 => (any::<Index>(), 0..256usize, any::<Index>()).prop_map(|(from, len, to)| Mutation::Duplicate { from, len, to }),
    ]
}

fn apply(seed: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut buf = seed.as_bytes().to_vec();
    for m in mutations {
        match m {
            Mutation::Delete { at, len } => {
                let start = at.index(buf.len() + 1);
                let end = (start + len).min(buf.len());
                buf.drain(start..end);
            }
            Mutation::Insert { at, bytes } => {
                let pos = at.index(buf.len() + 1);
                buf.splice(pos..pos, bytes.iter().copied());
            }
            Mutation::Duplicate { from, len, to } => {
                let start = from.index(buf.len() + 1);
                let end = (start + len).min(buf.len());
                let chunk = buf[start..end].to_vec();
                let pos = to.index(buf.len() + 1);
                buf.splice(pos..pos, chunk);
            }
        }
    }
    buf
}

fn mutated_input(fmt: Fmt) -> impl Strategy<Value = Input> {
    (select(fmt.seeds()), prop::collection::vec(mutation(), 1..5)).prop_map(|((name, text), ms)| Input {
        file: name.to_string(),
        bytes: apply(text, &ms),
    })
}

// ----------------------------------------------------------------- harness

/// A tenants directory with the example platform and accounts files (and,
/// with `all_examples`, the example tenants) that one fuzzed file joins.
struct Harness {
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    /// Set after a hang: later cases (shrinking) are skipped so the run ends
    /// and reports the input that hung.
    hung: AtomicBool,
}

impl Harness {
    fn new(property: &str, all_examples: bool) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("tenants-fuzz-{property}-"))
            .tempdir()
            .expect("tempdir");
        let root = dir.path().join("tenants");
        std::fs::create_dir(&root).unwrap();
        let h = Harness {
            dir: Some(dir),
            root,
            hung: AtomicBool::new(false),
        };
        h.write_original("platform.kdl");
        h.write_original("accounts.jsonc");
        if all_examples {
            for name in ["acme.kdl", "initech.json", "globex.jsonc"] {
                h.write_original(name);
            }
        }
        h
    }

    fn original(name: &str) -> Option<&'static str> {
        Some(match name {
            "platform.kdl" => PLATFORM,
            "accounts.jsonc" => ACCOUNTS,
            "acme.kdl" => ACME,
            "initech.json" => INITECH,
            "globex.jsonc" => GLOBEX,
            _ => return None,
        })
    }

    fn write_original(&self, name: &str) {
        std::fs::write(self.root.join(name), Harness::original(name).unwrap()).unwrap();
    }

    /// Write the input, compile in a worker thread (to catch hangs), check, restore.
    fn check(&self, input: &Input) -> Result<(), TestCaseError> {
        if self.hung.load(Ordering::Relaxed) {
            return Ok(());
        }
        let path = self.root.join(&input.file);
        std::fs::write(&path, &input.bytes).unwrap();
        let root = self.root.clone();
        let (tx, rx) = mpsc::channel();
        let worker = std::thread::Builder::new()
            .name("fuzz-case".into())
            .spawn(move || {
                let _ = tx.send(examine(&root));
            })
            .expect("spawn");
        let result = match rx.recv_timeout(CASE_TIMEOUT) {
            Ok(r) => {
                let _ = worker.join();
                r
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // The worker is left running; the directory stays as it is.
                self.hung.store(true, Ordering::Relaxed);
                return Err(TestCaseError::fail(format!("hang: no result after {CASE_TIMEOUT:?}")));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let payload = worker.join().expect_err("worker ended without a result");
                let msg = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "non-string panic payload".into());
                Err(TestCaseError::fail(format!("panicked: {msg}")))
            }
        };
        match Harness::original(&input.file) {
            Some(_) => self.write_original(&input.file),
            None => std::fs::remove_file(&path).unwrap(),
        }
        result
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if self.hung.load(Ordering::Relaxed) {
            // Keep the directory: the hanging input is in it.
            if let Some(dir) = self.dir.take() {
                let kept = dir.keep();
                eprintln!("input that hung kept in {}", kept.display());
            }
        }
    }
}

/// The properties, for one compilation of `root`.
fn examine(root: &Path) -> Result<(), TestCaseError> {
    let c = match tenants_compiler::compile(root) {
        Ok(c) => c,
        Err(e) => return Err(TestCaseError::fail(format!("compile returned LoadError: {e}"))),
    };
    let files = c.sources.files();
    for d in &c.diagnostics.items {
        prop_assert!(!d.code.is_empty() && !d.message.is_empty(), "empty code or message: {:?}", d);
        prop_assert!(!d.labels.is_empty(), "diagnostic without label: {:?}", d);
        for l in &d.labels {
            let s = l.span;
            prop_assert!((s.file.0 as usize) < files.len(), "span in unknown file: {:?}", d);
            let text = &c.sources.get(s.file).text;
            prop_assert!(s.start <= s.end, "reversed span: {:?}", d);
            prop_assert!(
                s.end as usize <= text.len(),
                "span beyond end of {} ({} bytes): {:?}",
                c.sources.get(s.file).name,
                text.len(),
                d
            );
            prop_assert!(
                text.is_char_boundary(s.start as usize) && text.is_char_boundary(s.end as usize),
                "span not on char boundaries of {}: {:?}",
                c.sources.get(s.file).name,
                d
            );
        }
    }
    let errors = c.diagnostics.has_errors();
    prop_assert_eq!(
        c.model.is_some(),
        !errors,
        "a model must exist exactly when there is no error: {:?}",
        c.diagnostics.items
    );

    // Every renderer copes with whatever was found.
    let items = &c.diagnostics.items;
    let summary = c.summary();
    let json = diag::render_json(&c.sources, items, &summary);
    let v: serde_json::Value = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(format!("render_json: {e}")))?;
    prop_assert_eq!(v["diagnostics"].as_array().map(Vec::len), Some(items.len()));
    let human = diag::render_human(&c.sources, items, false);
    for d in items {
        prop_assert!(human.contains(d.code), "render_human lost `{}`", d.code);
    }
    let github = diag::render_github(&c.sources, items);
    let primary_labels: usize = items.iter().map(|d| d.labels.iter().filter(|l| l.primary).count()).sum();
    prop_assert_eq!(github.lines().count(), primary_labels, "one annotation line per primary label");
    let _ = diag::render_short(&c.sources, items);
    Ok(())
}

fn fuzz<S>(property: &str, all_examples: bool, strategy: S)
where
    S: Strategy<Value = Input>,
{
    let harness = Harness::new(property, all_examples);
    let mut runner = TestRunner::new(config());
    if let Err(e) = runner.run(&strategy, |input| harness.check(&input)) {
        panic!("{property}: {e}");
    }
}

// -------------------------------------------------------------- properties

#[test]
fn kdl_survives_arbitrary_bytes() {
    fuzz("kdl-bytes", false, arbitrary_input(Fmt::Kdl));
}

#[test]
fn json_survives_arbitrary_bytes() {
    fuzz("json-bytes", false, arbitrary_input(Fmt::Json));
}

#[test]
fn jsonc_survives_arbitrary_bytes() {
    fuzz("jsonc-bytes", false, arbitrary_input(Fmt::Jsonc));
}

#[test]
fn kdl_survives_token_soup() {
    fuzz("kdl-soup", false, grammar_input(Fmt::Kdl));
}

#[test]
fn json_survives_token_soup() {
    fuzz("json-soup", false, grammar_input(Fmt::Json));
}

#[test]
fn jsonc_survives_token_soup() {
    fuzz("jsonc-soup", false, grammar_input(Fmt::Jsonc));
}

#[test]
fn kdl_survives_mutated_examples() {
    fuzz("kdl-mutated", true, mutated_input(Fmt::Kdl));
}

#[test]
fn json_survives_mutated_examples() {
    fuzz("json-mutated", true, mutated_input(Fmt::Json));
}

#[test]
fn jsonc_survives_mutated_examples() {
    fuzz("jsonc-mutated", true, mutated_input(Fmt::Jsonc));
}

#[test]
fn unmutated_examples_are_valid() {
    // Sanity check for the harness: zero mutations of every seed pass with no diagnostics.
    let harness = Harness::new("seeds", true);
    for fmt in [Fmt::Kdl, Fmt::Json, Fmt::Jsonc] {
        for (name, text) in fmt.seeds() {
            let input = Input {
                file: name.to_string(),
                bytes: text.as_bytes().to_vec(),
            };
            harness.check(&input).unwrap();
            let c = tenants_compiler::compile(&harness.root).unwrap();
            assert!(c.diagnostics.items.is_empty(), "{name}: {:?}", c.diagnostics.items);
        }
    }
}
