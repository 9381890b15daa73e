//! Differential test of the KDL fast path (`frontend::kdl_fast`) against the
//! reference parser (the `kdl` crate): whenever the fast path returns a
//! document, it must be the reference's document — node names, values,
//! properties, children and every span the converter reads; whenever the
//! reference rejects an input, the fast path must give up.

use kdl::{KdlDocument, KdlNode};
use proptest::prelude::*;
use tenants_compiler::frontend::kdl_fast;

#[path = "../examples/common/corpus.rs"]
mod corpus;

fn same_doc(fast: &KdlDocument, reference: &KdlDocument, path: &str) -> Result<(), String> {
    if fast.nodes().len() != reference.nodes().len() {
        return Err(format!("{path}: {} nodes vs {}", fast.nodes().len(), reference.nodes().len()));
    }
    for (i, (a, b)) in fast.nodes().iter().zip(reference.nodes()).enumerate() {
        same_node(a, b, &format!("{path}/{i}:{}", b.name().value()))?;
    }
    Ok(())
}

fn same_node(a: &KdlNode, b: &KdlNode, path: &str) -> Result<(), String> {
    let check = |what: &str, x: String, y: String| {
        if x == y {
            Ok(())
        } else {
            Err(format!("{path}: {what}: fast {x} vs reference {y}"))
        }
    };
    check("name", a.name().value().into(), b.name().value().into())?;
    check("name span", format!("{:?}", a.name().span()), format!("{:?}", b.name().span()))?;
    check("node span", format!("{:?}", a.span()), format!("{:?}", b.span()))?;
    check("entries", a.entries().len().to_string(), b.entries().len().to_string())?;
    for (x, y) in a.entries().iter().zip(b.entries()) {
        check(
            "entry name",
            format!("{:?}", x.name().map(|n| n.value())),
            format!("{:?}", y.name().map(|n| n.value())),
        )?;
        check(
            "entry name span",
            format!("{:?}", x.name().map(|n| n.span())),
            format!("{:?}", y.name().map(|n| n.span())),
        )?;
        check("entry value", format!("{:?}", x.value()), format!("{:?}", y.value()))?;
        check("entry span", format!("{:?}", x.span()), format!("{:?}", y.span()))?;
    }
    match (a.children(), b.children()) {
        (None, None) => Ok(()),
        (Some(x), Some(y)) => same_doc(x, y, path),
        (x, y) => Err(format!("{path}: children {} vs {}", x.is_some(), y.is_some())),
    }
}

/// Returns whether the fast path took the input.
fn agree(text: &str) -> bool {
    let reference = KdlDocument::parse_v2(text);
    match (kdl_fast::parse(text), reference) {
        (None, _) => false,
        (Some(fast), Ok(reference)) => {
            if let Err(e) = same_doc(&fast, &reference, "") {
                panic!("fast path differs from the kdl crate on {text:?}:\n{e}");
            }
            true
        }
        (Some(_), Err(e)) => panic!("fast path accepted {text:?}, which the kdl crate rejects: {e:?}"),
    }
}

fn workspace_file(rel: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)).unwrap()
}

#[test]
fn example_and_fixture_kdl_files_take_the_fast_path_with_identical_documents() {
    let mut files = vec![];
    for dir in ["tenants", "compiler/tests/fixtures/equivalence"] {
        for e in std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "kdl") {
                files.push(p);
            }
        }
    }
    assert!(files.len() >= 5);
    for p in files {
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(agree(&text), "{} fell back to the kdl crate", p.display());
    }
}

#[test]
fn generated_corpus_tenants_take_the_fast_path() {
    for i in 0..50 {
        let mut s = String::new();
        let id = corpus::kdl_id(i);
        corpus::kdl_tenant(&mut s, i, &id);
        assert!(agree(&s), "corpus tenant {i} fell back");
    }
}

#[test]
fn inputs_outside_the_subset_fall_back_and_errors_always_fall_back() {
    for text in [
        "a (u8)1",
        "(t)a",
        "a #\"raw\"#",
        "a \"\"\"\n  multi\n  \"\"\"",
        "a 0x10",
        "a 1_000",
        "a #inf",
        "/-a 1",
        "a /-1 2",
        "a \\\n 1",
        "a \"\\u{41}\"",
        "a x = 1",
        "a\u{a0}1",
        // KDL newlines and forbidden code points inside comments and strings.
        "a // note\u{2028}b 1",
        "a \"x\u{2028}y\"",
        "a \"\u{202e}\"",
        "a /* \u{85} */ 1",
        "a \"\u{feff}\"",
        // Errors: the reference parser must produce the diagnostics.
        "a {",
        "a }",
        "a \"unterminated",
        "a true",
        "a 1.",
        "a {}}",
        "a b=",
        "a; ;",
        "1a",
    ] {
        assert!(!agree(text), "fast path took {text:?}");
    }
}

#[test]
fn common_shapes_take_the_fast_path() {
    for text in [
        "",
        "a",
        "a 1 -2 3.5 -0.25 1e3 2.5E-2",
        "a \"x\\\"y\\\\z\\n\\t\" b=#true c=#false d=#null",
        "a;b;c",
        "a { b; c { d 1 } }",
        "a{\n}\n",
        "a b=\"é ü\" // comment\n/* block /* nested */ */ c",
        "a   \n\n\r\nb   // trailing\n",
        "node CACHE id=\"0f2a\" { child }   \n",
        "a \"quoted key\"=1",
        "\"quoted node\" 1",
    ] {
        assert!(agree(text), "{text:?} fell back");
    }
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("node-name".to_string()),
        Just("CACHE".to_string()),
        Just("\"str\"".to_string()),
        Just("\"esc\\\"q\\\\\"".to_string()),
        Just("\"é\"".to_string()),
        Just("k=1".to_string()),
        Just("k=\"v\"".to_string()),
        Just("k=#true".to_string()),
        Just("#false".to_string()),
        Just("#null".to_string()),
        Just("12".to_string()),
        Just("-3".to_string()),
        Just("4.5".to_string()),
        Just("1e2".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just(";".to_string()),
        Just("\n".to_string()),
        Just(" ".to_string()),
        Just("\t".to_string()),
        Just("// c\n".to_string()),
        Just("/* c */".to_string()),
        Just("=".to_string()),
        Just("#".to_string()),
        Just("\"".to_string()),
        Just("true".to_string()),
        Just("(t)".to_string()),
        Just("/-".to_string()),
        Just("\r\n".to_string()),
        Just("\u{2028}".to_string()),
        Just("\u{85}".to_string()),
        Just("\u{202e}".to_string()),
        Just("\u{feff}".to_string()),
        Just("\"a\u{2028}b\"".to_string()),
        Just("\"\u{202e}\"".to_string()),
        Just("// c\u{2028}x\n".to_string()),
        Just("/* \u{200e} */".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Token soup: whatever the fast path accepts must equal the reference.
    #[test]
    fn token_soup_agrees(tokens in prop::collection::vec(token(), 0..40), seps in prop::collection::vec(prop_oneof![Just(""), Just(" "), Just("\n")], 40)) {
        let mut text = String::new();
        for (t, s) in tokens.iter().zip(seps.iter()) {
            text.push_str(t);
            text.push_str(s);
        }
        agree(&text);
    }

    /// Mutations of a real tenant file.
    #[test]
    fn mutated_examples_agree(at in 0usize..2000, len in 0usize..8, insert in token()) {
        let base = workspace_file("tenants/acme.kdl");
        let at = at.min(base.len());
        let mut cut = at;
        while !base.is_char_boundary(cut) { cut -= 1; }
        let mut end = (cut + len).min(base.len());
        while !base.is_char_boundary(end) { end -= 1; }
        let text = format!("{}{}{}", &base[..cut], insert, &base[end..]);
        agree(&text);
    }
}
