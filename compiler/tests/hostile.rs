//! Hostile inputs: files and directories that are empty, huge, binary,
//! badly encoded, absurdly nested, unreadable or simply numerous.
//!
//! Every case copies `tenants/` into a temporary directory, adds or replaces
//! a file, then checks both the library (`compile` returns `Ok` with the
//! expected diagnostic, or `Err(LoadError)`) and the `tenants` binary (exit 1
//! or 2 as appropriate, never 101 or a signal, no "panicked" in its output,
//! `--format json` output that parses).
//!
//! Cases whose failure mode is a stack overflow (an abort, which would take
//! the whole test binary down with it) run their library half in a child
//! copy of this test binary: see [`lib_in_child`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tenants_compiler::diag::{self, Severity};
use tenants_compiler::frontend::{MAX_FILE_BYTES, MAX_NESTING};
use tenants_compiler::{compile, Compilation};

const BIN: &str = env!("CARGO_BIN_EXE_tenants");
const ALL_FORMATS: &[&str] = &["human", "json", "github"];

// ------------------------------------------------------------------ fixture

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("tenants")
}

/// A copy of `tenants/` in a temporary directory.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    /// `tenants/` copied (files only, not recursive).
    fn new() -> Self {
        let fx = Fixture::bare();
        for entry in std::fs::read_dir(examples_dir()).expect("read tenants/") {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), fx.root.join(entry.file_name())).unwrap();
            }
        }
        fx
    }

    /// An empty tenants directory.
    fn bare() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("tenants");
        std::fs::create_dir(&root).unwrap();
        Fixture { _tmp: tmp, root }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn example(name: &str) -> String {
        std::fs::read_to_string(examples_dir().join(name)).unwrap()
    }

    /// Library: must return `Ok`, with every span inside its file, and
    /// every renderer must cope with the diagnostics.
    fn compile_ok(&self) -> Compilation {
        let c = compile(&self.root).unwrap_or_else(|e| panic!("compile returned LoadError: {e}"));
        assert_spans_in_bounds(&c);
        render_all(&c);
        c
    }

    fn cli(&self, args: &[&str]) -> CliRun {
        run_cli(&self.root, args)
    }
}

/// A valid tenant derived from `acme.kdl`: id, hosts, queues and KV namespace
/// ids changed so that it conflicts with no other tenant (`n` makes the KV ids unique).
fn valid_kdl_tenant(id: &str, n: u64) -> String {
    let acme = Fixture::example("acme.kdl");
    assert!(acme.contains("\"acme-ingest"), "acme.kdl changed: no `acme-ingest…` queue");
    let mut s = acme
        .replace("tenant \"acme\"", &format!("tenant \"{id}\""))
        .replace("\"acme.", &format!("\"{id}."))
        .replace("\"*.acme.", &format!("\"*.{id}."))
        .replace("\"acme-ingest", &format!("\"{id}-ingest"));
    for (slot, old) in [
        "0f2ac74b498b48028cb68387c421e279",
        "7be2d1c09a8f4e6d8c1b2a3f4e5d6c7b",
        "9d6c1f0e0a1b4c2d8e3f405162738495",
    ]
    .iter()
    .enumerate()
    {
        assert!(s.contains(old), "acme.kdl changed: KV id {old} not found");
        s = s.replace(old, &format!("{:08x}{:024x}", n, 0xabc0 + slot as u64));
    }
    s
}

// ------------------------------------------------------------ assertions

/// Every label of every diagnostic points inside its file, on char boundaries.
fn assert_spans_in_bounds(c: &Compilation) {
    let files = c.sources.files();
    for d in &c.diagnostics.items {
        assert!(!d.labels.is_empty(), "diagnostic without label: {d:?}");
        for l in &d.labels {
            let s = l.span;
            assert!((s.file.0 as usize) < files.len(), "span in unknown file: {d:?}");
            let text = &c.sources.get(s.file).text;
            assert!(s.start <= s.end, "reversed span: {d:?}");
            assert!(
                s.end as usize <= text.len(),
                "span beyond end of file ({} bytes): {d:?}",
                text.len()
            );
            assert!(
                text.is_char_boundary(s.start as usize) && text.is_char_boundary(s.end as usize),
                "span not on char boundaries: {d:?}"
            );
        }
    }
}

/// Every renderer of the library, on every diagnostic.
fn render_all(c: &Compilation) {
    let items = &c.diagnostics.items;
    let json = diag::render_json(&c.sources, items, &c.summary());
    serde_json::from_str::<serde_json::Value>(&json).expect("render_json output is JSON");
    let _ = diag::render_github(&c.sources, items);
    let _ = diag::render_short(&c.sources, items);
    let human = diag::render_human(&c.sources, items, false);
    for d in items {
        assert!(human.contains(d.code), "render_human lost `{}`", d.code);
    }
}

fn codes(c: &Compilation) -> Vec<&'static str> {
    c.diagnostics.items.iter().map(|d| d.code).collect()
}

fn has_code(c: &Compilation, code: &str, severity: Severity) -> bool {
    c.diagnostics.items.iter().any(|d| d.code == code && d.severity == severity)
}

#[track_caller]
fn assert_error(c: &Compilation, code: &str) {
    assert!(has_code(c, code, Severity::Error), "expected error `{code}`, got {:?}", codes(c));
    assert!(c.model.is_none(), "a model was produced despite errors");
}

/// The file got past the file checks and the parser.
#[track_caller]
fn assert_parsed(c: &Compilation, file_name: &str) {
    let bad: Vec<_> = codes_in(c, file_name)
        .into_iter()
        .filter(|code| code.starts_with("file::") || code.starts_with("syntax::"))
        .collect();
    assert!(bad.is_empty(), "{file_name} was not parsed: {bad:?}");
}

/// The exit code the CLI should give for this compilation.
fn exit_for(c: &Compilation) -> i32 {
    if c.has_io_errors() {
        2
    } else if c.diagnostics.has_errors() {
        1
    } else {
        0
    }
}

/// Diagnostics whose primary label is in the file named `name` (as registered).
fn codes_in(c: &Compilation, file_name: &str) -> Vec<&'static str> {
    c.diagnostics
        .items
        .iter()
        .filter(|d| c.sources.get(d.primary().file).path.file_name().and_then(|n| n.to_str()) == Some(file_name))
        .map(|d| d.code)
        .collect()
}

struct CliRun {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run `tenants check --root ROOT ARGS`; fails on a signal, exit 101 or "panicked".
fn run_cli(root: &Path, args: &[&str]) -> CliRun {
    let out = Command::new(BIN)
        .arg("check")
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("run tenants");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let tail = |s: &str| s.chars().rev().take(2000).collect::<Vec<_>>().into_iter().rev().collect::<String>();
    let Some(code) = out.status.code() else {
        panic!(
            "tenants {args:?} was killed by a signal ({:?})\nstderr tail:\n{}",
            out.status,
            tail(&stderr)
        );
    };
    assert_ne!(code, 101, "tenants {args:?} panicked\nstderr tail:\n{}", tail(&stderr));
    assert!(
        !stdout.contains("panicked") && !stderr.contains("panicked"),
        "tenants {args:?} printed `panicked`\nstderr tail:\n{}",
        tail(&stderr)
    );
    CliRun { code, stdout, stderr }
}

/// Run the CLI in every output format; each must exit with `exit`, JSON must
/// parse, agree with the library's counts, and contain `code` when given.
fn assert_cli(fx: &Fixture, lib: Option<&Compilation>, exit: i32, code: Option<&str>) {
    assert_cli_formats(fx, lib, exit, code, ALL_FORMATS);
}

fn assert_cli_formats(fx: &Fixture, lib: Option<&Compilation>, exit: i32, code: Option<&str>, formats: &[&str]) {
    for format in formats {
        let run = fx.cli(&["--format", format]);
        assert_eq!(
            run.code,
            exit,
            "--format {format}: exit {} instead of {exit}\nstderr:\n{}",
            run.code,
            &run.stderr[..run.stderr.len().min(4000)]
        );
        match *format {
            "json" => {
                let v: serde_json::Value =
                    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("--format json output is not JSON: {e}"));
                let diags = v["diagnostics"].as_array().expect("diagnostics array");
                if let Some(code) = code {
                    assert!(diags.iter().any(|d| d["code"] == code), "--format json output lacks `{code}`");
                }
                if let Some(c) = lib {
                    assert_eq!(v["summary"]["errors"], c.diagnostics.error_count(), "CLI and library disagree");
                    assert_eq!(v["summary"]["warnings"], c.diagnostics.warning_count(), "CLI and library disagree");
                    assert_eq!(diags.len(), c.diagnostics.items.len(), "CLI and library disagree");
                }
            }
            "human" => {
                assert!(run.stdout.is_empty(), "human output goes to stderr");
                let last = run.stderr.lines().last().unwrap_or("");
                assert!(
                    last.starts_with("ok:") || last.starts_with("invalid:"),
                    "human output does not end with a summary: {last:?}"
                );
                if let Some(code) = code {
                    assert!(run.stderr.contains(code), "human output lacks `{code}`");
                }
            }
            "github" => {
                if let Some(code) = code {
                    let escaped = code.replace(':', "%3A");
                    assert!(run.stdout.contains(&escaped), "github output lacks `{code}`");
                }
                for line in run.stdout.lines() {
                    assert!(
                        line.starts_with("::error ") || line.starts_with("::warning "),
                        "not a workflow command: {line:?}"
                    );
                }
            }
            _ => unreachable!(),
        }
    }
}

/// The whole check fails before any file is looked at: library `Err`, exit 2.
#[track_caller]
/// A file that cannot be read is reported as `file::read` (the other files
/// are still checked) and the CLI exits 2, an I/O error, in every format.
fn assert_read_error(fx: &Fixture, file: &str) {
    let c = fx.compile_ok();
    assert_eq!(codes_in(&c, file), ["file::read"], "{:?}", codes(&c));
    assert!(c.has_io_errors());
    assert_cli(fx, Some(&c), 2, Some("file::read"));
}

fn assert_load_error(fx: &Fixture, mentions: &str) {
    match compile(&fx.root) {
        Ok(c) => panic!("expected LoadError, got Ok with {:?}", codes(&c)),
        Err(e) => assert!(e.to_string().contains(mentions), "LoadError `{e}` does not mention `{mentions}`"),
    }
    for format in ALL_FORMATS {
        let run = fx.cli(&["--format", format]);
        assert_eq!(run.code, 2, "--format {format}: exit {} instead of 2\n{}", run.code, run.stderr);
        assert!(run.stderr.contains("error:"), "no error message on stderr: {:?}", run.stderr);
        assert!(
            run.stderr.contains(mentions),
            "stderr does not mention `{mentions}`: {:?}",
            run.stderr
        );
        // Note: with --format json a load error prints nothing on stdout (not a JSON object).
        if *format == "json" && !run.stdout.trim().is_empty() {
            serde_json::from_str::<serde_json::Value>(&run.stdout).expect("--format json output is not JSON");
        }
    }
}

/// The common case: the library reports error `code`, the CLI exits 1.
fn assert_rejected_with(fx: &Fixture, code: &str) -> Compilation {
    let c = fx.compile_ok();
    assert_error(&c, code);
    assert_cli(fx, Some(&c), 1, Some(code));
    c
}

const CHILD_ENV: &str = "TENANTS_HOSTILE_CHILD";

/// Run the library half of a test in a child copy of this test binary, so
/// that a stack overflow (SIGABRT, not a catchable panic) fails only that
/// test instead of aborting every test in the file. Returns `true` in the
/// child, after `body` ran (the caller should return); in the parent,
/// returns `false` once the child passed.
fn lib_in_child(test_name: &str, body: impl FnOnce()) -> bool {
    if std::env::var(CHILD_ENV).as_deref() == Ok(test_name) {
        body();
        return true;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test_name)
        .output()
        .expect("re-run test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "library half of `{test_name}` failed in a child process ({:?}; a signal means a stack overflow or abort)\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        &stderr[..stderr.len().min(4000)]
    );
    assert!(stdout.contains("1 passed"), "child did not run `{test_name}`:\n{stdout}");
    false
}

// --------------------------------------------------------- sanity baseline

#[test]
fn examples_copy_is_valid_in_library_and_cli() {
    let fx = Fixture::new();
    let c = fx.compile_ok();
    assert!(c.diagnostics.items.is_empty(), "examples have diagnostics: {:?}", codes(&c));
    assert!(c.model.is_some());
    assert_cli(&fx, Some(&c), 0, None);
}

#[test]
fn generated_tenant_is_valid() {
    let fx = Fixture::new();
    fx.write("zeta.kdl", valid_kdl_tenant("zeta", 1));
    let c = fx.compile_ok();
    assert!(c.diagnostics.items.is_empty(), "generated tenant has diagnostics: {:?}", codes(&c));
    assert_eq!(c.tenant_files.len(), 4);
}

// ------------------------------------------------------------ empty files

#[test]
fn empty_kdl_tenant_file_is_file_empty() {
    let fx = Fixture::new();
    fx.write("void.kdl", "");
    let c = assert_rejected_with(&fx, "file::empty");
    assert_eq!(codes_in(&c, "void.kdl"), ["file::empty"]);
}

#[test]
fn empty_json_tenant_file_is_file_empty() {
    let fx = Fixture::new();
    fx.write("void.json", "");
    let c = assert_rejected_with(&fx, "file::empty");
    assert_eq!(codes_in(&c, "void.json"), ["file::empty"]);
}

#[test]
fn empty_jsonc_tenant_file_is_file_empty() {
    let fx = Fixture::new();
    fx.write("void.jsonc", "");
    let c = assert_rejected_with(&fx, "file::empty");
    assert_eq!(codes_in(&c, "void.jsonc"), ["file::empty"]);
}

#[test]
fn whitespace_only_files_are_file_empty() {
    for name in ["blank.kdl", "blank.json", "blank.jsonc"] {
        let fx = Fixture::new();
        fx.write(name, " \n\t\r\n   \n\u{3000}\u{a0}");
        let c = assert_rejected_with(&fx, "file::empty");
        assert_eq!(codes_in(&c, name), ["file::empty"], "{name}");
    }
}

#[test]
fn comment_only_jsonc_file_is_file_empty() {
    let fx = Fixture::new();
    fx.write("quiet.jsonc", "// nothing here\n/* nor here */\n");
    let c = assert_rejected_with(&fx, "file::empty");
    assert_eq!(codes_in(&c, "quiet.jsonc"), ["file::empty"]);
}

#[test]
fn comment_only_kdl_file_reports_missing_tenant_node() {
    let fx = Fixture::new();
    fx.write("quiet.kdl", "// nothing here\n/* nor here */\n");
    let c = assert_rejected_with(&fx, "schema::missing");
    assert_eq!(codes_in(&c, "quiet.kdl"), ["schema::missing"]);
}

// Regression: a KDL file without a `tenant` node was once silently accepted
// when an earlier file had an error (the check looked at all diagnostics, not
// this file's). Repro: `a.json` = `{`, `b.kdl` = `// nothing`.
#[test]
fn kdl_file_without_tenant_node_is_reported_even_after_errors_in_other_files() {
    let fx = Fixture::new();
    fx.write("a.json", "{");
    fx.write("b.kdl", "// nothing\n");
    let c = assert_rejected_with(&fx, "syntax::json");
    assert_eq!(codes_in(&c, "a.json"), ["syntax::json"]);
    assert_eq!(codes_in(&c, "b.kdl"), ["schema::missing"], "b.kdl declares no tenant");
}

#[test]
fn empty_platform_file_is_file_empty() {
    let fx = Fixture::new();
    fx.write("platform.kdl", "");
    assert_rejected_with(&fx, "file::empty");
}

// --------------------------------------------------------------- encoding

#[test]
fn invalid_utf8_is_file_encoding() {
    let fx = Fixture::new();
    let mut bytes = b"tenant \"enc\" {\n    name \"Caf".to_vec();
    bytes.extend_from_slice(&[0xE9, 0xFF, 0xC3]); // Latin-1 é, a stray byte, a truncated sequence
    bytes.extend_from_slice(b"\"\n}\n");
    fx.write("enc.kdl", &bytes);
    let c = assert_rejected_with(&fx, "file::encoding");
    assert_eq!(codes_in(&c, "enc.kdl"), ["file::encoding"]);
    let d = c.diagnostics.items.iter().find(|d| d.code == "file::encoding").unwrap();
    let text = &c.sources.get(d.primary().file).text;
    assert_eq!(
        &text[..d.primary().start as usize],
        "tenant \"enc\" {\n    name \"Caf",
        "points at the first bad byte"
    );
}

#[test]
fn invalid_utf8_in_json_is_file_encoding() {
    let fx = Fixture::new();
    let mut bytes = Fixture::example("initech.json").into_bytes();
    let at = bytes.len() / 2;
    bytes.insert(at, 0x80); // a lone continuation byte
    fx.write("initech.json", &bytes);
    let c = assert_rejected_with(&fx, "file::encoding");
    assert_eq!(codes_in(&c, "initech.json"), ["file::encoding"]);
}

#[test]
fn bom_on_a_valid_file_is_only_a_warning() {
    for name in ["initech.json", "acme.kdl", "globex.jsonc"] {
        let fx = Fixture::new();
        let mut bytes = vec![0xEF, 0xBB, 0xBF];
        bytes.extend_from_slice(Fixture::example(name).as_bytes());
        fx.write(name, &bytes);
        let c = fx.compile_ok();
        assert!(has_code(&c, "file::bom", Severity::Warning), "{name}: {:?}", codes(&c));
        assert_eq!(c.diagnostics.error_count(), 0, "{name}: {:?}", codes(&c));
        assert!(c.model.is_some(), "{name}: a warning must not prevent the model");
        assert_cli(&fx, Some(&c), 0, Some("file::bom"));
        let denied = fx.cli(&["--deny-warnings"]);
        assert_eq!(denied.code, 1, "{name}: --deny-warnings must turn the BOM warning into exit 1");
        let denied = fx.cli(&["--deny-warnings", "--format", "json"]);
        assert_eq!(denied.code, 1);
        serde_json::from_str::<serde_json::Value>(&denied.stdout).expect("json");
    }
}

#[test]
fn bom_alone_is_an_empty_file() {
    let fx = Fixture::new();
    fx.write("bom.kdl", [0xEF, 0xBB, 0xBF]);
    let c = assert_rejected_with(&fx, "file::empty");
    assert!(has_code(&c, "file::bom", Severity::Warning));
}

#[test]
fn binary_file_is_file_binary() {
    let fx = Fixture::new();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut bytes: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
    bytes[17] = 0;
    fx.write("blob.kdl", &bytes);
    let c = assert_rejected_with(&fx, "file::binary");
    // Binary and encoding problems are reported, but nothing is parsed.
    for code in codes_in(&c, "blob.kdl") {
        assert!(matches!(code, "file::binary" | "file::encoding"), "parsed a binary file: {code}");
    }
}

#[test]
fn valid_utf8_with_a_nul_is_file_binary() {
    let fx = Fixture::new();
    let text = Fixture::example("initech.json").replacen("\"name\"", "\"na\0me\"", 1);
    fx.write("initech.json", text);
    let c = assert_rejected_with(&fx, "file::binary");
    assert_eq!(codes_in(&c, "initech.json"), ["file::binary"]);
}

// ------------------------------------------------------------------- size

#[test]
fn fifty_megabyte_file_is_rejected_without_being_read() {
    let fx = Fixture::new();
    let f = std::fs::File::create(fx.path("huge.json")).unwrap();
    f.set_len(50 * 1024 * 1024).unwrap(); // sparse: all NUL bytes, none on disk
    drop(f);
    let t = Instant::now();
    let c = assert_rejected_with(&fx, "file::too-large");
    assert!(t.elapsed() < Duration::from_secs(20), "took {:?}", t.elapsed());
    // Had the file been read, its NUL bytes would also give `file::binary`.
    assert_eq!(codes_in(&c, "huge.json"), ["file::too-large"]);
    let huge = c.sources.files().iter().find(|f| f.name.ends_with("huge.json")).unwrap();
    assert!(huge.text.is_empty(), "the oversize file's text was kept");
}

#[test]
fn file_of_exactly_the_size_limit_is_parsed_and_one_byte_more_is_not() {
    let fx = Fixture::new();
    let mut text = valid_kdl_tenant("edge", 7);
    let pad = MAX_FILE_BYTES as usize - text.len();
    text.push_str(&" ".repeat(pad));
    assert_eq!(text.len() as u64, MAX_FILE_BYTES);
    fx.write("edge.kdl", &text);
    let c = fx.compile_ok();
    assert!(c.diagnostics.items.is_empty(), "{:?}", codes(&c));
    assert_cli(&fx, Some(&c), 0, None);

    text.push(' ');
    fx.write("edge.kdl", &text);
    let c = assert_rejected_with(&fx, "file::too-large");
    assert_eq!(codes_in(&c, "edge.kdl"), ["file::too-large"]);
}

#[test]
fn megabyte_long_line_in_a_kdl_string_is_parsed() {
    let fx = Fixture::new();
    let base = valid_kdl_tenant("longline", 3);
    let filler = MAX_FILE_BYTES as usize - base.len() - 16;
    let text = base.replace("name \"Acme Corp\"", &format!("name \"{}\"", "a".repeat(filler)));
    assert!(text.len() as u64 <= MAX_FILE_BYTES && text.len() as u64 > MAX_FILE_BYTES - 64);
    fx.write("longline.kdl", &text);
    // Parsed like any file (a name rule may reject a 1 MB name; that is fine).
    let c = fx.compile_ok();
    assert_parsed(&c, "longline.kdl");
    assert_cli(&fx, Some(&c), exit_for(&c), None);
}

#[test]
fn megabyte_long_line_with_an_error_on_it_renders() {
    // The diagnostic sits on the 1 MB line: renderers must cope with it.
    let fx = Fixture::new();
    let base = valid_kdl_tenant("longline", 3);
    let filler = MAX_FILE_BYTES as usize - base.len() - 32;
    let text = base.replace("name \"Acme Corp\"", &format!("name \"{}\" 42", "a".repeat(filler)));
    fx.write("longline.kdl", &text);
    let c = assert_rejected_with(&fx, "schema::type");
    assert!(codes_in(&c, "longline.kdl").contains(&"schema::type"));
}

#[test]
fn megabyte_long_line_in_a_json_string_is_parsed() {
    let fx = Fixture::new();
    let base = Fixture::example("initech.json");
    let needle = "\"name\": \"";
    let at = base.find(needle).expect("initech.json has a name") + needle.len();
    let filler = MAX_FILE_BYTES as usize - base.len() - 8;
    let text = format!("{}{}{}", &base[..at], "a".repeat(filler), &base[at..]);
    assert!(text.len() as u64 <= MAX_FILE_BYTES);
    fx.write("initech.json", &text);
    let c = fx.compile_ok();
    assert_parsed(&c, "initech.json");
    assert_cli(&fx, Some(&c), exit_for(&c), None);
}

// ---------------------------------------------------------------- nesting

fn deep_json(depth: usize) -> String {
    format!("{{\"id\": {}{}}}", "[".repeat(depth), "]".repeat(depth))
}

fn deep_kdl(depth: usize) -> String {
    format!("tenant \"deep\" {{\n{}{}\n}}\n", "a { ".repeat(depth), "} ".repeat(depth))
}

#[test]
fn ten_thousand_deep_json_is_file_nesting_without_stack_overflow() {
    const NAME: &str = "ten_thousand_deep_json_is_file_nesting_without_stack_overflow";
    let setup = |ext: &str| {
        let fx = Fixture::new();
        fx.write(&format!("deep.{ext}"), "[".repeat(10_000) + &"]".repeat(10_000));
        fx.write(&format!("deeper.{ext}"), deep_json(10_000));
        fx
    };
    if lib_in_child(NAME, || {
        for ext in ["json", "jsonc"] {
            let c = setup(ext).compile_ok();
            assert_eq!(codes_in(&c, &format!("deep.{ext}")), ["file::nesting"]);
            assert_eq!(codes_in(&c, &format!("deeper.{ext}")), ["file::nesting"]);
        }
    }) {
        return;
    }
    for ext in ["json", "jsonc"] {
        assert_cli(&setup(ext), None, 1, Some("file::nesting"));
    }
}

#[test]
fn ten_thousand_deep_kdl_is_file_nesting_without_stack_overflow() {
    const NAME: &str = "ten_thousand_deep_kdl_is_file_nesting_without_stack_overflow";
    let setup = || {
        let fx = Fixture::new();
        fx.write("deep.kdl", "a { ".repeat(10_000) + &"} ".repeat(10_000));
        fx.write("deeper.kdl", deep_kdl(10_000));
        fx
    };
    if lib_in_child(NAME, || {
        let c = setup().compile_ok();
        assert_eq!(codes_in(&c, "deep.kdl"), ["file::nesting"]);
        assert_eq!(codes_in(&c, "deeper.kdl"), ["file::nesting"]);
        let d = c.diagnostics.items.iter().find(|d| d.code == "file::nesting").unwrap();
        assert_eq!(c.sources.get(d.primary().file).slice(d.primary()), "{");
    }) {
        return;
    }
    assert_cli(&setup(), None, 1, Some("file::nesting"));
}

#[test]
fn nesting_at_the_limit_is_accepted_and_one_more_is_refused() {
    let fx = Fixture::new();
    // The tenant's own `{` is level 1.
    fx.write("edge.kdl", deep_kdl(MAX_NESTING - 1));
    let c = fx.compile_ok();
    assert!(!codes_in(&c, "edge.kdl").contains(&"file::nesting"), "{:?}", codes(&c));
    fx.write("edge.kdl", deep_kdl(MAX_NESTING));
    let c = fx.compile_ok();
    assert_eq!(codes_in(&c, "edge.kdl"), ["file::nesting"]);
}

#[test]
fn brackets_inside_strings_and_comments_do_not_count_as_nesting() {
    let fx = Fixture::new();
    // 3 × 300 unbalanced brackets: inside strings and comments they do not count
    // towards the 64-level limit (the raw safety bound is 1,024).
    let deep = "{[(".repeat(100);
    let text = valid_kdl_tenant("quoted", 5).replace("name \"Acme Corp\"", &format!("name \"{deep}\"\n    // {deep}\n    /* {deep} */"));
    fx.write("quoted.kdl", text);
    let deep_json = format!("{{\"id\": \"quoted2\", \"name\": \"{deep}\" /* {deep} */ // {deep}\n}}");
    fx.write("quoted2.jsonc", deep_json);
    let c = fx.compile_ok();
    assert_parsed(&c, "quoted.kdl");
    assert_parsed(&c, "quoted2.jsonc");
}

// Regression: the nesting pre-scan once read only `"…"` strings, so a KDL raw
// string `#" " "#` (or `#"\"#`, or a raw multi-line string) desynchronised it
// and deep `a { a { … } }` reached the recursive KDL parser, overflowing the
// stack at about 3,000 levels. Repro, a tenant file:
//     tenant "x" { n #" " "#
//     a{a{a{…3000 times…}}}
//     }
#[test]
fn kdl_raw_strings_cannot_smuggle_nesting_past_the_depth_check() {
    const NAME: &str = "kdl_raw_strings_cannot_smuggle_nesting_past_the_depth_check";
    let setup = || {
        let fx = Fixture::new();
        let nest = format!("{}{}", "a{".repeat(10_000), "}".repeat(10_000));
        fx.write("raw1.kdl", format!("tenant \"raw1\" {{ n #\" \" \"#\n{nest}\n}}\n"));
        fx.write("raw2.kdl", format!("tenant \"raw2\" {{ n #\"\\\"#\n{nest}\n}}\n"));
        fx.write("raw3.kdl", format!("tenant \"raw3\" {{ n #\"\"\"\n\"\n\"\"\"#\n{nest}\n}}\n"));
        fx
    };
    if lib_in_child(NAME, || {
        let c = setup().compile_ok();
        for f in ["raw1.kdl", "raw2.kdl", "raw3.kdl"] {
            assert!(codes_in(&c, f).contains(&"file::nesting"), "{f}: {:?}", codes_in(&c, f));
        }
    }) {
        return;
    }
    assert_cli(&setup(), None, 1, Some("file::nesting"));
}

// ---------------------------------------------------------- many of things

// Regression: miette 7.6 panics (`graphical.rs:1159`, "Formatting argument
// out of range") when a label starts at or beyond column 65,536; files up to
// 1 MiB are accepted, so a minified JSON file was enough. `render_human` now
// prints such diagnostics without a snippet. Repro, a tenant file `x.json`:
// 65,536 spaces followed by `x`.
#[test]
fn error_beyond_column_65535_renders_in_human_format() {
    let fx = Fixture::new();
    fx.write("wide.json", " ".repeat(65_536) + "x");
    assert_rejected_with(&fx, "syntax::json");
}

#[test]
fn duplicate_keys_in_json_are_schema_duplicate_key() {
    let fx = Fixture::new();
    let base = Fixture::example("initech.json");
    let text = base.replacen("{", "{\n  \"name\": \"First\",\n  \"name\": \"Second\",", 1);
    fx.write("initech.json", &text);
    let c = assert_rejected_with(&fx, "schema::duplicate-key");
    let dups = c.diagnostics.items.iter().filter(|d| d.code == "schema::duplicate-key").count();
    assert!(dups >= 2, "three `name` keys, expected at least two duplicates, got {dups}");
}

#[test]
fn thousands_of_duplicate_keys_in_json_are_all_reported() {
    let fx = Fixture::new();
    let mut text = String::from("{\"id\": \"dups\"");
    for i in 0..5_000 {
        text.push_str(&format!(",\n  \"name\": \"n{i}\""));
    }
    text.push('}');
    fx.write("dups.json", &text);
    let c = assert_rejected_with(&fx, "schema::duplicate-key");
    let dups = c.diagnostics.items.iter().filter(|d| d.code == "schema::duplicate-key").count();
    assert_eq!(dups, 4_999);
}

#[test]
fn repeated_kdl_node_is_schema_duplicate_key() {
    let fx = Fixture::new();
    let text = valid_kdl_tenant("twice", 9).replace("name \"Acme Corp\"", "name \"Acme Corp\"\n    name \"Again\"");
    fx.write("twice.kdl", &text);
    assert_rejected_with(&fx, "schema::duplicate-key");
}

// The 10,000 arguments make a ~90 KB line: most labels sit past column
// 65,535, where miette's graphical renderer would panic; the human output
// falls back to plain lines there.
#[test]
fn ten_thousand_arguments_on_one_kdl_node_are_all_reported() {
    let fx = Fixture::new();
    let args: Vec<String> = (0..10_000).map(|i| format!("\"a{i}\"")).collect();
    fx.write("args.kdl", format!("tenant \"args\" {} {{\n}}\n", args.join(" ")));
    let c = assert_rejected_with(&fx, "schema::unexpected-argument");
    let n = c
        .diagnostics
        .items
        .iter()
        .filter(|d| d.code == "schema::unexpected-argument")
        .count();
    assert_eq!(n, 10_000, "`args` is the id; each of the 10,000 arguments after it is unexpected");
}

#[test]
fn ten_thousand_secrets_on_one_kdl_node_are_valid() {
    let fx = Fixture::new();
    let names: Vec<String> = (0..10_000).map(|i| format!("\"SECRET_{i}\"")).collect();
    // GATEWAY_TOKEN stays: the prod `ai-provider` names it.
    let text = valid_kdl_tenant("vault", 11).replace(
        "secrets \"GATEWAY_TOKEN\"",
        &format!("secrets \"GATEWAY_TOKEN\" {}", names.join(" ")),
    );
    fx.write("vault.kdl", &text);
    let c = fx.compile_ok();
    assert!(c.diagnostics.items.is_empty(), "{:?}", codes(&c));
    assert_cli(&fx, Some(&c), 0, None);
}

#[test]
fn ten_thousand_valid_tenant_files_check_clean() {
    let fx = Fixture::new();
    for i in 0..10_000u64 {
        let id = format!("t{i:05}");
        fx.write(&format!("{id}.kdl"), valid_kdl_tenant(&id, i));
    }
    let t = Instant::now();
    let c = fx.compile_ok();
    let lib_time = t.elapsed();
    assert_eq!(c.diagnostics.error_count(), 0, "first: {:?}", c.diagnostics.items.first());
    assert_eq!(c.diagnostics.items.len(), 0);
    assert_eq!(c.tenant_files.len(), 10_003);
    assert_eq!(c.model.as_ref().map(|m| m.tenants.len()), Some(10_003));
    eprintln!("10,000 valid tenants: library {lib_time:?}");
    // One format is enough here: the others only differ for diagnostics.
    assert_cli_formats(&fx, Some(&c), 0, None, &["json"]);
}

// Every garbage file gets its own diagnostic, including lone comments such
// as g02190.kdl (see the `schema::missing` regression above).
#[test]
fn ten_thousand_garbage_tenant_files_are_each_reported() {
    let fx = Fixture::new();
    let mut rng = XorShift(42);
    let mut names = Vec::new();
    for i in 0..10_000usize {
        let ext = ["kdl", "json", "jsonc"][i % 3];
        let body: Vec<u8> = match i % 7 {
            0 => b"tenant { = }}\"".to_vec(),
            1 => (0..64).map(|_| rng.next() as u8).chain([0]).collect(),
            2 => vec![b'x', 0xFF, 0xFE, b'{'],
            3 => b"{{{{ [[[ ((( ".to_vec(),
            4 => Vec::new(),
            5 => b"[1, 2, , }".to_vec(),
            _ => {
                const SOUP: &[u8] = b"{}[]\"=#/*\n ab1";
                (0..32).map(|_| SOUP[rng.next() as usize % SOUP.len()]).collect()
            }
        };
        let name = format!("g{i:05}.{ext}");
        fx.write(&name, body);
        names.push(name);
    }
    let c = fx.compile_ok();
    assert!(
        c.diagnostics.items.len() >= 10_000,
        "only {} diagnostics",
        c.diagnostics.items.len()
    );
    let with_errors: BTreeSet<String> = c
        .diagnostics
        .items
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            c.sources
                .get(d.primary().file)
                .path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let silent: Vec<_> = names.iter().filter(|n| !with_errors.contains(*n)).take(10).collect();
    assert!(silent.is_empty(), "garbage files without an error: {silent:?}");
    assert_cli_formats(&fx, Some(&c), 1, None, &["json", "human"]);
}

// ------------------------------------------------------ directory problems

#[test]
fn missing_tenants_directory_is_exit_2() {
    let fx = Fixture::bare();
    std::fs::remove_dir(&fx.root).unwrap();
    assert_load_error(&fx, "cannot read tenants directory");
}

#[test]
fn tenants_path_that_is_a_file_is_exit_2() {
    let fx = Fixture::bare();
    std::fs::remove_dir(&fx.root).unwrap();
    std::fs::write(&fx.root, "not a directory").unwrap();
    assert_load_error(&fx, "cannot read tenants directory");
}

#[test]
fn missing_platform_file_is_exit_2() {
    let fx = Fixture::new();
    std::fs::remove_file(fx.path("platform.kdl")).unwrap();
    assert_load_error(&fx, "no platform file");
}

#[test]
fn missing_accounts_file_is_exit_2() {
    let fx = Fixture::new();
    std::fs::remove_file(fx.path("accounts.jsonc")).unwrap();
    assert_load_error(&fx, "no accounts file");
}

#[test]
fn two_platform_files_are_exit_2() {
    let fx = Fixture::new();
    fx.write("platform.json", "{}");
    assert_load_error(&fx, "more than one platform file");
}

#[test]
fn empty_tenants_directory_is_exit_2() {
    let fx = Fixture::bare();
    assert_load_error(&fx, "no platform file");
}

#[test]
fn directory_named_like_a_tenant_file_is_ignored() {
    let fx = Fixture::new();
    std::fs::create_dir(fx.path("x.kdl")).unwrap();
    std::fs::write(fx.path("x.kdl").join("inner.kdl"), "garbage {{{").unwrap();
    std::fs::create_dir(fx.path("y.json")).unwrap();
    let c = fx.compile_ok();
    assert!(c.diagnostics.items.is_empty(), "{:?}", codes(&c));
    assert_eq!(c.tenant_files.len(), 3);
    assert_cli(&fx, Some(&c), 0, None);
}

#[test]
fn files_with_other_extensions_are_ignored() {
    let fx = Fixture::new();
    fx.write("notes.txt", [0u8, 1, 2, 0xFF]);
    fx.write("acme.kdl.bak", "garbage {{{");
    fx.write("README", "hello");
    fx.write(".kdl", "garbage"); // a dot file: no extension
    let c = fx.compile_ok();
    assert!(c.diagnostics.items.is_empty(), "{:?}", codes(&c));
    assert_eq!(c.tenant_files.len(), 3);
    assert_cli(&fx, Some(&c), 0, None);
}

#[cfg(unix)]
#[test]
fn non_utf8_file_name_is_reported_without_crashing() {
    use std::os::unix::ffi::OsStrExt;
    let fx = Fixture::new();
    let name = std::ffi::OsStr::from_bytes(b"bad\xFFname.kdl");
    std::fs::write(fx.root.join(name), "").unwrap();
    let c = fx.compile_ok();
    assert_error(&c, "file::empty");
    assert_cli(&fx, Some(&c), 1, Some("file::empty"));
}

#[cfg(unix)]
#[test]
fn file_names_with_commas_colons_and_newlines_do_not_break_github_output() {
    let fx = Fixture::new();
    fx.write("a,b:c\nd%e.kdl", "");
    let c = fx.compile_ok();
    assert_error(&c, "file::empty");
    assert_cli(&fx, Some(&c), 1, Some("file::empty"));
    let gh = fx.cli(&["--format", "github"]);
    assert!(
        gh.stdout.contains("file=") && gh.stdout.contains("a%2Cb%3Ac%0Ad%25e.kdl"),
        "{}",
        gh.stdout
    );
}

#[cfg(unix)]
#[test]
fn unreadable_tenant_file_is_reported_and_exit_2() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    let p = fx.write("locked.kdl", valid_kdl_tenant("locked", 13));
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&p).is_err() {
        assert_read_error(&fx, "locked.kdl");
    } else {
        // Running as root: permissions do not block reads, so the file is
        // simply checked (and valid).
        let c = fx.compile_ok();
        assert!(c.diagnostics.items.is_empty(), "{:?}", codes(&c));
        assert_cli(&fx, Some(&c), 0, None);
    }
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();

    // A file that fails to read even for root: /proc/self/mem is a regular
    // file whose first page is not mapped (EIO).
    #[cfg(target_os = "linux")]
    {
        std::fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink("/proc/self/mem", fx.path("mem.kdl")).unwrap();
        if std::fs::read(fx.path("mem.kdl")).is_err() {
            assert_read_error(&fx, "mem.kdl");
        }
    }
}

#[cfg(unix)]
#[test]
fn dangling_symlink_does_not_crash() {
    // Today a dangling `ghost.kdl` is skipped silently (`is_file()` is false);
    // reporting it would be fine too. Either way: no crash, no LoadError.
    let fx = Fixture::new();
    std::os::unix::fs::symlink(fx.path("nowhere.kdl"), fx.path("ghost.kdl")).unwrap();
    let c = fx.compile_ok();
    assert_cli(&fx, Some(&c), exit_for(&c), None);
}

#[cfg(unix)]
#[test]
fn symlink_loop_does_not_hang() {
    let fx = Fixture::new();
    std::os::unix::fs::symlink(fx.path("loop.kdl"), fx.path("loop.kdl")).unwrap();
    let c = fx.compile_ok();
    assert_cli(&fx, Some(&c), exit_for(&c), None);
}

// ------------------------------------------------------------------- misc

/// A tiny deterministic PRNG (no extra dev-dependency).
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}
