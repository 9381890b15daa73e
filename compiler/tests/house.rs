//! The compiler's house rules, checked on its own source:
//!
//! - no function in `compiler/src` is longer than [`MAX_FN_LINES`] lines
//!   (signature to closing brace, as formatted by rustfmt), so that each one
//!   can be read at once;
//! - every module file opens with a `//!` doc comment saying what it owns.
//!
//! The function scan is lexical: it finds `fn` items and matches their
//! braces, skipping comments, strings (raw ones too) and character literals.

mod common;

use common::src_files;

const MAX_FN_LINES: usize = 150;

/// Skip a comment, string, raw string or character literal starting at `i`;
/// the index after it, or `None` when `i` starts none of them.
fn skip_literal(b: &[u8], i: usize) -> Option<usize> {
    let at = |k: usize| b.get(k).copied().unwrap_or(0);
    if b[i..].starts_with(b"//") {
        return Some(b[i..].iter().position(|c| *c == b'\n').map_or(b.len(), |n| i + n));
    }
    if b[i..].starts_with(b"/*") {
        let (mut k, mut depth) = (i + 2, 1);
        while k < b.len() && depth > 0 {
            if b[k..].starts_with(b"/*") {
                depth += 1;
                k += 2;
            } else if b[k..].starts_with(b"*/") {
                depth -= 1;
                k += 2;
            } else {
                k += 1;
            }
        }
        return Some(k);
    }
    let ident_before = i > 0 && (at(i - 1).is_ascii_alphanumeric() || at(i - 1) == b'_');
    // Raw strings: r"…", r#"…"#, br"…".
    if (b[i] == b'r' || (b[i] == b'b' && at(i + 1) == b'r')) && !ident_before {
        let start = if b[i] == b'b' { i + 2 } else { i + 1 };
        let hashes = b[start..].iter().take_while(|c| **c == b'#').count();
        if at(start + hashes) == b'"' {
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            let body = start + hashes + 1;
            let end = b[body..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(b.len(), |n| body + n);
            return Some(end + close.len());
        }
    }
    if b[i] == b'"' {
        let mut k = i + 1;
        while k < b.len() && b[k] != b'"' {
            k += if b[k] == b'\\' { 2 } else { 1 };
        }
        return Some(k + 1);
    }
    if b[i] == b'\'' {
        // A character literal ('a', '\n', '\u{1F600}', '"'), not a lifetime ('a).
        if at(i + 1) == b'\\' {
            let end = b[i + 2..].iter().position(|c| *c == b'\'').map_or(b.len(), |n| i + 2 + n);
            return Some(end + 1);
        }
        let ch_len = std::str::from_utf8(&b[i + 1..(i + 5).min(b.len())])
            .map(|s| s.chars().next().map_or(1, char::len_utf8))
            .unwrap_or_else(|e| {
                std::str::from_utf8(&b[i + 1..i + 1 + e.valid_up_to()])
                    .ok()
                    .and_then(|s| s.chars().next())
                    .map_or(1, char::len_utf8)
            });
        if at(i + 1 + ch_len) == b'\'' {
            return Some(i + 2 + ch_len);
        }
    }
    None
}

/// Every `fn` with a body: (name, first line, number of lines).
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let b = text.as_bytes();
    let line_of = |pos: usize| b[..pos].iter().filter(|c| **c == b'\n').count() + 1;
    let mut out = Vec::new();
    // Open `fn` items: (name, start line, brace depth of the body).
    let mut open: Vec<(String, usize, usize)> = Vec::new();
    let mut pending: Option<(String, usize)> = None;
    let (mut depth, mut paren) = (0usize, 0usize);
    let mut i = 0;
    while i < b.len() {
        if let Some(next) = skip_literal(b, i) {
            i = next;
            continue;
        }
        let c = b[i];
        let word_start = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if word_start && b[i..].starts_with(b"fn ") {
            let name: String = text[i + 3..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                pending = Some((name, line_of(i)));
                paren = 0;
            }
            i += 3;
            continue;
        }
        match c {
            b'(' | b'[' => paren += 1,
            b')' | b']' => paren = paren.saturating_sub(1),
            b';' if paren == 0 => pending = None, // a declaration without a body
            b'{' => {
                depth += 1;
                if paren == 0 {
                    if let Some((name, line)) = pending.take() {
                        open.push((name, line, depth));
                    }
                }
            }
            b'}' => {
                if open.last().is_some_and(|(_, _, d)| *d == depth) {
                    let (name, line, _) = open.pop().unwrap();
                    out.push((name, line, line_of(i) - line + 1));
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        i += 1;
    }
    out
}

#[test]
fn the_scanner_measures_functions() {
    let text = "fn a() {\n    let s = \"}\";\n    let c = '}';\n    // }\n}\nfn b<'x>(v: &'x [u8; 2]) -> u8 {\n    let r = r#\"}\"#;\n    v[0]\n}\ntrait T { fn c(&self); }\n";
    let fns = functions(text);
    assert_eq!(fns, vec![("a".to_string(), 1, 5), ("b".to_string(), 6, 4)]);
}

#[test]
fn no_compiler_function_is_longer_than_the_limit() {
    let mut long = Vec::new();
    let mut counted = 0;
    for f in src_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        for (name, line, lines) in functions(&text) {
            counted += 1;
            if lines > MAX_FN_LINES {
                long.push(format!("{}:{line} `{name}`: {lines} lines", f.display()));
            }
        }
    }
    assert!(counted > 500, "the scan found only {counted} functions");
    assert!(
        long.is_empty(),
        "functions longer than {MAX_FN_LINES} lines (split them by concern):\n{}",
        long.join("\n")
    );
}

#[test]
fn every_module_opens_with_a_doc_comment() {
    let missing: Vec<String> = src_files()
        .into_iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap().trim_start().starts_with("//!"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(missing.is_empty(), "modules without a `//!` doc comment:\n{}", missing.join("\n"));
}
