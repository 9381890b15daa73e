//! Differential test of the JSON/JSONC fast path (`frontend::json_fast`)
//! against the reference front end (`frontend::json`, over jsonc-parser):
//! whenever the fast path returns a value, it must be the reference's value
//! (kinds, keys, strings, numbers, every span) with no diagnostic; whenever
//! the reference reports anything, the fast path must give up.

use proptest::prelude::*;
use tenants_compiler::diag::Diagnostics;
use tenants_compiler::frontend::{json, json_fast};
use tenants_compiler::source::{FileId, Format};

#[path = "../examples/common/corpus.rs"]
mod corpus;

/// Returns whether the fast path took the input.
fn agree(text: &str, format: Format) -> bool {
    let file = FileId(7);
    let mut diags = Diagnostics::default();
    let reference = json::parse(text, file, format, &mut diags);
    let fast = json_fast::parse(text, file, format == Format::Jsonc);
    match fast {
        Some(v) => {
            assert!(
                diags.items.is_empty(),
                "fast path accepted what the reference reports: {text:?}\n{:?}",
                diags.items
            );
            assert_eq!(Some(v), reference, "fast path and reference differ on {text:?}");
            true
        }
        None => false,
    }
}

fn examples() -> Vec<(String, Format)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenants");
    let mut out = vec![];
    for (name, format) in [
        ("globex.jsonc", Format::Jsonc),
        ("initech.json", Format::Json),
        ("accounts.jsonc", Format::Jsonc),
    ] {
        out.push((std::fs::read_to_string(root.join(name)).unwrap(), format));
    }
    let mut buf = String::new();
    corpus::jsonc_tenant(&mut buf, 3, "globex-00003");
    out.push((buf.clone(), Format::Jsonc));
    buf.clear();
    corpus::json_tenant(&mut buf, 5, "globex-00005");
    out.push((buf, Format::Json));
    out
}

#[test]
fn the_fast_path_takes_every_example_and_agrees() {
    for (text, format) in examples() {
        assert!(agree(&text, format), "the fast path gave up on a valid example:\n{text}");
    }
}

#[test]
fn hand_picked_edges_agree_or_fall_back() {
    let cases: &[(&str, Format)] = &[
        (r#"{"a": "x\"y\\z\/\b\f\n\r\t\u00e9\u0000"}"#, Format::Json),
        (r#"{"a": "\ud83d\ude00"}"#, Format::Json),
        (r#"{"a": "\ud83d"}"#, Format::Json),
        (r#"{"a": "é ✓ 😀"}"#, Format::Json),
        (
            r#"{"a": [1, -0, 0.5, -1.5e3, 1E+2, 9223372036854775807, 9223372036854775808, 1e999, -1e999]}"#,
            Format::Json,
        ),
        (r#"{"a": 01}"#, Format::Json),
        (r#"{"a": 1.}"#, Format::Json),
        (r#"{"a": .5}"#, Format::Json),
        (r#"{"a": +1}"#, Format::Json),
        (r#"{"a": 0x10}"#, Format::Json),
        (r#"{"a": 1e}"#, Format::Json),
        (r#"{"a": truex}"#, Format::Json),
        (r#"{"a": nul}"#, Format::Json),
        (r#"{"a": NaN}"#, Format::Json),
        (r#"{a: 1}"#, Format::Jsonc),
        (r#"{'a': 1}"#, Format::Jsonc),
        ("{\"a\": \"x\ty\"}", Format::Json),
        ("{\"a\": 1, // c\n}", Format::Json),
        ("{\"a\": 1, // c\n}", Format::Jsonc),
        ("{\"a\": [1, 2,], /* x */ \"b\": {},}", Format::Jsonc),
        ("{\"a\": [1, 2,]}", Format::Json),
        ("{\"a\": 1,,}", Format::Jsonc),
        ("{\"a\": [,]}", Format::Jsonc),
        ("{\"a\": 1} {\"b\": 2}", Format::Json),
        ("{\"a\": 1 \"b\": 2}", Format::Json),
        ("{\"a\" 1}", Format::Json),
        ("{\"a\": }", Format::Json),
        ("{\"a\": 1", Format::Json),
        ("{\"a\": [1", Format::Json),
        ("{\"a\": \"x", Format::Json),
        ("/* open", Format::Jsonc),
        ("", Format::Json),
        ("   ", Format::Jsonc),
        ("[]", Format::Json),
        ("{}", Format::Json),
        ("\"x\"", Format::Json),
        ("{\"a\": 1}\u{a0}", Format::Json),
        ("\u{feff}{}", Format::Json),
        ("{\"a\":1,\"a\":2}", Format::Json),
        ("{\"a\": \"\\x\"}", Format::Json),
        ("{\"a\": \"\\u12\"}", Format::Json),
        ("{\"a\": \"\\u12G4\"}", Format::Json),
        ("{\"a\": true/**/}", Format::Jsonc),
        ("{\"a\": true//\n}", Format::Jsonc),
        ("{\"a\": true}//", Format::Jsonc),
        ("{\"a\": true}/", Format::Jsonc),
    ];
    for (text, format) in cases {
        agree(text, *format);
    }
    let deep = format!("{}{}", "[".repeat(70), "]".repeat(70));
    assert!(!agree(&deep, Format::Json), "deep nesting is left to the reference");
}

/// A valid example with one random edit: a byte removed, or one of a few
/// JSON-significant characters inserted.
fn mutated() -> impl Strategy<Value = (String, Format)> {
    let n = examples().len();
    (0..n, any::<prop::sample::Index>(), 0..12usize).prop_map(|(k, at, what)| {
        let (text, format) = examples().swap_remove(k);
        let mut bytes = text.into_bytes();
        let pos = at.index(bytes.len());
        let inserts: &[&[u8]] = &[b"\"", b",", b"{", b"}", b"[", b"]", b":", b"\\", b"/", b"*", b"\t", b"1"];
        if what == 11 {
            bytes.remove(pos);
        } else {
            for (j, c) in inserts[what].iter().enumerate() {
                bytes.insert(pos + j, *c);
            }
        }
        (String::from_utf8_lossy(&bytes).into_owned(), format)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_examples_agree_or_fall_back((text, format) in mutated()) {
        agree(&text, format);
    }
}
