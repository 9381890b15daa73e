//! Helpers shared by the integration tests: where the example and fixture
//! files live, building throw-away tenants directories, compiling them and
//! showing their diagnostics, reading JSON/JSONC into `serde_json`.

#![allow(dead_code)]

pub mod keys;

use std::path::{Path, PathBuf};

use tenants_compiler::{diag, resolved::Model, Compilation};

/// `tenants/` at the workspace root: the example files.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenants")
}

/// `compiler/tests/fixtures/equivalence/`: each example written in the other format.
pub fn mirrors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/equivalence")
}

/// `schemas/` at the workspace root: the committed JSON Schemas.
pub fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

/// Every `.rs` file under `compiler/src`, sorted.
pub fn src_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    files.sort();
    assert!(files.len() > 20, "compiler/src not found");
    files
}

pub fn is_config_file(p: &Path) -> bool {
    p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("kdl" | "json" | "jsonc"))
}

/// Config files (`*.kdl`, `*.json`, `*.jsonc`) of a directory, sorted.
pub fn config_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| is_config_file(p))
        .collect();
    v.sort();
    v
}

pub fn stem(p: &Path) -> &str {
    p.file_stem().and_then(|s| s.to_str()).unwrap()
}

pub fn file_name(p: &Path) -> &str {
    p.file_name().and_then(|s| s.to_str()).unwrap()
}

/// A fresh directory holding the given files (name, contents).
pub fn dir_with(files: &[(String, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// A fresh directory with a copy of `tenants/` in `tenants/` (the layout
/// the CLI expects when run from a repository root).
pub fn repo_with_examples() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dir.path().join("tenants");
    std::fs::create_dir_all(&t).unwrap();
    for e in std::fs::read_dir(examples_dir()).unwrap().flatten() {
        std::fs::copy(e.path(), t.join(e.file_name())).unwrap();
    }
    dir
}

/// The example files as (name, contents).
pub fn example_files() -> Vec<(String, String)> {
    config_files(&examples_dir())
        .iter()
        .map(|p| (file_name(p).to_string(), std::fs::read_to_string(p).unwrap()))
        .collect()
}

pub fn compile(dir: &Path) -> Compilation {
    tenants_compiler::compile(dir).unwrap_or_else(|e| panic!("{} cannot be checked: {e}", dir.display()))
}

/// Every diagnostic, one line each.
pub fn render(c: &Compilation) -> String {
    diag::render_short(&c.sources, &c.diagnostics.items)
}

/// Compile and demand an error-free model.
pub fn compile_ok(dir: &Path, what: &str) -> Model {
    let c = compile(dir);
    assert!(!c.diagnostics.has_errors(), "{what}: expected no errors, got:\n{}", render(&c));
    match c.model {
        Some(m) => m,
        None => panic!("{what}: no errors but no model either:\n{}", render(&c)),
    }
}

/// Parse JSON (strict) or JSONC (comments and trailing commas) with the same
/// strictness as the compiler, into a `serde_json::Value`.
pub fn parse_json(text: &str, jsonc: bool) -> Result<serde_json::Value, String> {
    let opts = jsonc_parser::ParseOptions {
        allow_comments: jsonc,
        allow_loose_object_property_names: false,
        allow_trailing_commas: jsonc,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    };
    match jsonc_parser::parse_to_value(text, &opts) {
        Ok(Some(v)) => Ok(to_serde(v)),
        Ok(None) => Err("empty document".into()),
        Err(e) => Err(e.to_string()),
    }
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let jsonc = path.extension().is_some_and(|e| e == "jsonc");
    parse_json(&text, jsonc).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn to_serde(v: jsonc_parser::JsonValue<'_>) -> serde_json::Value {
    use jsonc_parser::JsonValue as J;
    use serde_json::Value as V;
    match v {
        J::String(s) => V::String(s.into_owned()),
        J::Number(n) => serde_json::from_str::<V>(n).unwrap_or_else(|e| panic!("number {n}: {e}")),
        J::Boolean(b) => V::Bool(b),
        J::Null => V::Null,
        J::Array(a) => V::Array(a.into_iter().map(to_serde).collect()),
        J::Object(o) => V::Object(o.into_iter().map(|(k, v)| (k.into_owned(), to_serde(v))).collect()),
    }
}

/// Where two JSON values differ, as `pointer: left ≠ right` lines.
pub fn json_diff(a: &serde_json::Value, b: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    use serde_json::Value as V;
    match (a, b) {
        (V::Object(x), V::Object(y)) => {
            for (k, va) in x {
                match y.get(k) {
                    Some(vb) => json_diff(va, vb, &format!("{path}/{k}"), out),
                    None => out.push(format!("{path}/{k}: {va} ≠ (absent)")),
                }
            }
            for (k, vb) in y {
                if !x.contains_key(k) {
                    out.push(format!("{path}/{k}: (absent) ≠ {vb}"));
                }
            }
        }
        (V::Array(x), V::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                json_diff(va, vb, &format!("{path}/{i}"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} ≠ {b}")),
        _ => {}
    }
}

/// `assert_eq!` on models, with a readable list of the differences.
#[track_caller]
pub fn assert_models_eq(left: &Model, right: &Model, context: &str) {
    if left == right {
        return;
    }
    let mut diffs = Vec::new();
    json_diff(
        &serde_json::to_value(left).unwrap(),
        &serde_json::to_value(right).unwrap(),
        "",
        &mut diffs,
    );
    if diffs.is_empty() {
        // Equal serializations but unequal models (e.g. NaN): fall back to Debug.
        assert_eq!(left, right, "{context}");
    }
    panic!("{context}\nthe models differ (left ≠ right):\n  {}", diffs.join("\n  "));
}
