//! docs/diagnostics.md against the compiler's source: every diagnostic code
//! the compiler can emit has a row in the code tables, every row names a
//! code the compiler emits, each row says how severe it is (matching
//! `Diagnostic::error` / `Diagnostic::warning` at the places that emit it),
//! what it means and how to fix it, and each code is pinned by at least one
//! snapshot test or is listed here as emitted only where a snapshot cannot
//! reach (an unreadable file).

use std::collections::{BTreeMap, BTreeSet};
mod common;

use std::path::Path;

fn is_code(s: &str) -> bool {
    let mut parts = s.split("::");
    let head = parts.next().unwrap_or("");
    matches!(head, "file" | "syntax" | "schema" | "platform" | "accounts" | "tenant")
        && s.contains("::")
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b':')
        && !s.ends_with(':')
}

/// Every `"<area>::…"` string literal in `compiler/src`, with the
/// severities of the `Diagnostic::error(` / `Diagnostic::warning(` calls
/// that name it directly (a code passed on through a variable has none).
fn source_codes() -> BTreeMap<String, BTreeSet<char>> {
    let files = common::src_files();
    let mut out: BTreeMap<String, BTreeSet<char>> = BTreeMap::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find('"') {
            let after = &rest[i + 1..];
            let Some(j) = after.find('"') else { break };
            let lit = &after[..j];
            if is_code(lit) {
                let before = rest[..i].trim_end();
                let sev = out.entry(lit.to_string()).or_default();
                if before.ends_with("Diagnostic::error(") {
                    sev.insert('E');
                } else if before.ends_with("Diagnostic::warning(") {
                    sev.insert('W');
                }
                rest = &after[j + 1..];
            } else {
                rest = after;
            }
        }
    }
    out
}

struct Row {
    severity: String,
    meaning: String,
    fix: String,
}

fn documented_codes() -> BTreeMap<String, Row> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/diagnostics.md")).unwrap();
    let mut out = BTreeMap::new();
    for line in doc.lines() {
        let Some(rest) = line.strip_prefix("| `") else { continue };
        let Some(end) = rest.find('`') else { continue };
        let code = &rest[..end];
        if !is_code(code) {
            continue;
        }
        let cells: Vec<&str> = line.split(" | ").collect();
        if cells.len() < 4 {
            continue; // the short tables that only list codes
        }
        let row = Row {
            severity: cells[1].trim().trim_matches('*').to_string(),
            meaning: cells[2].trim().to_string(),
            fix: cells[3..].join(" | ").trim_end_matches('|').trim().to_string(),
        };
        assert!(
            out.insert(code.to_string(), row).is_none(),
            "`{code}` has two rows in docs/diagnostics.md"
        );
    }
    out
}

#[test]
fn every_code_is_documented_and_every_documented_code_exists() {
    let src = source_codes();
    let docs = documented_codes();
    assert!(
        src.len() > 100 && docs.len() > 100,
        "{} codes in the source, {} in the docs",
        src.len(),
        docs.len()
    );
    let undocumented: Vec<&String> = src.keys().filter(|c| !docs.contains_key(*c)).collect();
    let stale: Vec<&String> = docs.keys().filter(|c| !src.contains_key(*c)).collect();
    assert!(
        undocumented.is_empty(),
        "codes without a row in docs/diagnostics.md: {undocumented:?}"
    );
    assert!(
        stale.is_empty(),
        "rows in docs/diagnostics.md for codes the compiler never emits: {stale:?}"
    );
}

#[test]
fn every_documented_code_says_its_severity_meaning_and_fix() {
    let src = source_codes();
    for (code, row) in documented_codes() {
        assert!(row.meaning.len() > 10, "`{code}`: no meaning in docs/diagnostics.md");
        assert!(row.fix.len() > 3, "`{code}`: no typical fix in docs/diagnostics.md");
        let documented: BTreeSet<char> = match row.severity.as_str() {
            "E" => ['E'].into(),
            "W" => ['W'].into(),
            s if s.starts_with('E') && s.contains('W') => ['E', 'W'].into(),
            s => panic!("`{code}`: severity {s:?} is neither E nor W"),
        };
        let emitted = &src[&code];
        assert!(
            emitted.is_subset(&documented),
            "`{code}` is emitted as {emitted:?} but documented as {:?}",
            row.severity
        );
    }
}

/// Codes that no snapshot test can produce on any machine: a file the
/// compiler cannot read (root reads every file).
const NOT_IN_SNAPSHOTS: &[&str] = &["file::read"];

#[test]
fn every_documented_code_is_pinned_by_a_snapshot() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let mut seen = BTreeSet::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if !p.to_string_lossy().ends_with("-json.snap") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for part in text.split("\"code\": \"").skip(1) {
            seen.insert(part[..part.find('"').unwrap()].to_string());
        }
    }
    let missing: Vec<String> = documented_codes()
        .into_keys()
        .filter(|c| !seen.contains(c) && !NOT_IN_SNAPSHOTS.contains(&c.as_str()))
        .collect();
    assert!(missing.is_empty(), "documented codes no snapshot test produces: {missing:?}");
}
