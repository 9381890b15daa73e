//! Characters that look right and parse wrong: typographic quotes (“ ” ‘ ’,
//! what word processors and chat tools put in pasted text) and invisible
//! characters (zero-width space, no-break space, bidirectional controls).
//!
//! A linear scan that knows each format's strings and comments runs before
//! the parser, only on files that are not pure ASCII (all these characters
//! are non-ASCII, so the common file costs one `is_ascii` pass):
//!
//! - outside strings and comments, such a character is an error that names
//!   it by code point at its column (`syntax::typographic-quote`,
//!   `syntax::invisible-char`), with a certain fix (the straight quote; the
//!   character removed), and the file is not parsed further — the parser
//!   would only report the consequences (a list of two words, an unexpected
//!   token);
//! - inside a string, an invisible character is a warning (it may be meant;
//!   in a key or an id it never is), and a typographic quote is fine.
//!
//! Comments are skipped: nothing there can break the file.

use crate::diag::{Diagnostic, Diagnostics};
use crate::source::{FileId, Format, Span};

/// The name of a character this module reports, and whether it is a quote.
fn describe(c: char) -> Option<(&'static str, bool)> {
    Some(match c {
        '\u{201C}' => ("LEFT DOUBLE QUOTATION MARK", true),
        '\u{201D}' => ("RIGHT DOUBLE QUOTATION MARK", true),
        '\u{201E}' => ("DOUBLE LOW-9 QUOTATION MARK", true),
        '\u{2018}' => ("LEFT SINGLE QUOTATION MARK", true),
        '\u{2019}' => ("RIGHT SINGLE QUOTATION MARK", true),
        '\u{00AB}' => ("LEFT-POINTING DOUBLE ANGLE QUOTATION MARK", true),
        '\u{00BB}' => ("RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK", true),
        '\u{00A0}' => ("NO-BREAK SPACE", false),
        '\u{2007}' => ("FIGURE SPACE", false),
        '\u{202F}' => ("NARROW NO-BREAK SPACE", false),
        '\u{200B}' => ("ZERO WIDTH SPACE", false),
        '\u{200C}' => ("ZERO WIDTH NON-JOINER", false),
        '\u{200D}' => ("ZERO WIDTH JOINER", false),
        '\u{2060}' => ("WORD JOINER", false),
        '\u{FEFF}' => ("ZERO WIDTH NO-BREAK SPACE", false),
        '\u{00AD}' => ("SOFT HYPHEN", false),
        '\u{200E}' => ("LEFT-TO-RIGHT MARK", false),
        '\u{200F}' => ("RIGHT-TO-LEFT MARK", false),
        '\u{202A}'..='\u{202E}' => ("BIDIRECTIONAL FORMATTING CHARACTER", false),
        '\u{2066}'..='\u{2069}' => ("BIDIRECTIONAL ISOLATE CHARACTER", false),
        _ => return None,
    })
}

/// Report the slips of `text`; `false` when one of them stops the file
/// from being parsed.
pub fn check(text: &str, file: FileId, format: Format, diags: &mut Diagnostics) -> bool {
    if text.is_ascii() {
        return true;
    }
    let mut fit = true;
    for (at, c, in_string) in scan(text, format) {
        let Some((name, quote)) = describe(c) else { continue };
        let span = Span::new(file, at, at + c.len_utf8());
        let code_point = format!("U+{:04X}", c as u32);
        if in_string {
            if !quote {
                diags.push(
                    Diagnostic::warning(
                        "syntax::invisible-char",
                        format!("string contains an invisible character, {code_point} {name}"),
                        span,
                        format!("{code_point} here"),
                    )
                    .with_help("an invisible character makes a name or an id differ from what it shows; delete it unless it is meant"),
                );
            }
            continue;
        }
        fit = false;
        if quote {
            let straight = "\"";
            diags.push(
                Diagnostic::error(
                    "syntax::typographic-quote",
                    format!("typographic quote {c} ({code_point} {name}) where a straight quote belongs"),
                    span,
                    code_point.clone(),
                )
                .with_help(format!(
                    "strings are written between straight double quotes `{straight}`; an editor or chat tool replaced them"
                ))
                .with_fix(format!("write `{straight}`"), span, straight),
            );
        } else {
            let space_like = matches!(c, '\u{00A0}' | '\u{2007}' | '\u{202F}');
            diags.push(
                Diagnostic::error(
                    "syntax::invisible-char",
                    format!("invisible character {code_point} {name}"),
                    span,
                    format!("{code_point} here"),
                )
                .with_help("it shows as nothing (or as a space) but is not whitespace to the parser: delete it, or type a plain space")
                .with_fix(
                    if space_like {
                        "write a plain space"
                    } else {
                        "delete the invisible character"
                    },
                    span,
                    if space_like { " " } else { "" },
                ),
            );
        }
    }
    fit
}

/// Every non-ASCII character outside comments: (byte offset, character,
/// inside a string).
fn scan(text: &str, format: Format) -> Vec<(usize, char, bool)> {
    let b = text.as_bytes();
    let kdl = format == Format::Kdl;
    let mut out = Vec::new();
    let mut i = 0;
    // Non-ASCII characters from `from` up to `to`, all in or out of a string.
    let collect = |from: usize, to: usize, in_string: bool, out: &mut Vec<(usize, char, bool)>| {
        if let Some(seg) = text.get(from..to.min(text.len())) {
            if !seg.is_ascii() {
                out.extend(
                    seg.char_indices()
                        .filter(|(_, c)| !c.is_ascii())
                        .map(|(k, c)| (from + k, c, in_string)),
                );
            }
        }
    };
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = b[i..].iter().position(|c| *c == b'\n').map_or(b.len(), |n| i + n);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut level = 1;
                i += 2;
                while i < b.len() && level > 0 {
                    if kdl && b[i..].starts_with(b"/*") {
                        level += 1;
                        i += 2;
                    } else if b[i..].starts_with(b"*/") {
                        level -= 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
            }
            b'"' if kdl && b[i..].starts_with(b"\"\"\"") => {
                let start = i + 3;
                let end = find_unescaped(b, start, b"\"\"\"");
                collect(start, end, true, &mut out);
                i = end + 3;
            }
            b'#' if kdl && b[i..].iter().find(|c| **c != b'#') == Some(&b'"') => {
                let hashes = b[i..].iter().take_while(|c| **c == b'#').count();
                let start = i + hashes + 1;
                let (end, after) = raw_string_end(b, start, hashes).unwrap_or((b.len(), b.len()));
                collect(start, end, true, &mut out);
                i = after;
            }
            b'"' => {
                let start = i + 1;
                let end = find_unescaped(b, start, b"\"");
                collect(start, end, true, &mut out);
                i = end + 1;
            }
            c if c.is_ascii() => i += 1,
            _ => {
                // A non-ASCII character outside strings and comments.
                let c = text[i..].chars().next().unwrap_or('\u{FFFD}');
                out.push((i, c, false));
                i += c.len_utf8();
            }
        }
    }
    out
}

/// The end of a raw string's body starting at `body` and closed by `"`
/// and `hashes` `#`: (end of the body, index after the closing), or `None`
/// when it is not closed.
fn raw_string_end(b: &[u8], body: usize, hashes: usize) -> Option<(usize, usize)> {
    let mut close = vec![b'"'];
    close.extend(std::iter::repeat_n(b'#', hashes));
    let n = b.get(body..)?.windows(close.len()).position(|w| w == close.as_slice())?;
    Some((body + n, body + n + close.len()))
}

/// Where `close` next occurs at or after `from`, not escaped by a backslash
/// (the end of the text when it does not).
fn find_unescaped(b: &[u8], from: usize, close: &[u8]) -> usize {
    let mut i = from;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i..].starts_with(close) {
            return i;
        }
        // An unterminated single-line string ends at the line's end.
        if close == b"\"" && b[i] == b'\n' {
            return i;
        }
        i += 1;
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str, format: Format) -> Vec<(&'static str, String)> {
        let mut d = Diagnostics::default();
        check(text, FileId(0), format, &mut d);
        d.items.iter().map(|x| (x.code, x.message.clone())).collect()
    }

    #[test]
    fn typographic_quotes_outside_strings_are_errors_and_inside_are_fine() {
        let c = codes("tenant \"a\" {\n    name “Acme Corp”\n}\n", Format::Kdl);
        assert_eq!(c.len(), 2);
        assert!(c[0].1.contains("U+201C LEFT DOUBLE QUOTATION MARK"), "{c:?}");
        assert!(codes("tenant \"a\" {\n    name \"The “Best” Corp\"\n}\n", Format::Kdl).is_empty());
        assert!(codes("{\"name\": \"The “Best” Corp\"}", Format::Json).is_empty());
        assert_eq!(codes("{\"name\": “Globex”}", Format::Json).len(), 2);
    }

    #[test]
    fn invisible_characters_are_named_and_comments_are_skipped() {
        let c = codes("{\"id\":\u{00A0}\"a\"}", Format::Json);
        assert_eq!(
            c,
            [("syntax::invisible-char", "invisible character U+00A0 NO-BREAK SPACE".to_string())]
        );
        let c = codes("{\"acc\u{200B}ount\": \"a\"}", Format::Jsonc);
        assert_eq!(c[0].0, "syntax::invisible-char");
        assert!(c[0].1.starts_with("string contains"));
        assert!(codes("// “quoted” \u{200B}\n{}", Format::Jsonc).is_empty());
        assert!(codes("/* “a” /* “b” */ */ node #\"“raw”\"#", Format::Kdl).is_empty());
    }
}

/// KDL v1 spellings in a file the KDL v2 parser rejected: raw strings
/// `r"…"`/`r#"…"#` (v2: `#"…"#`) and shell-style `#` comments (v2: `//`).
/// Each is an error with the v2 spelling as its help and a certain fix.
pub fn kdl_v1_habits(text: &str, file: FileId) -> Vec<Diagnostic> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let at_word_start = |i: usize| i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b'-');
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = b[i..].iter().position(|c| *c == b'\n').map_or(b.len(), |n| i + n);
            }
            b'"' => {
                let end = find_unescaped(b, i + 1, b"\"");
                i = end + 1;
            }
            b'r' if at_word_start(i) && matches!(b.get(i + 1), Some(b'"' | b'#')) => {
                let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let body = i + 2 + hashes;
                let Some((body_end, end)) = raw_string_end(b, body, hashes) else {
                    i += 1;
                    continue;
                };
                let n = body_end - body;
                let v2_hashes = "#".repeat(hashes.max(1));
                let inner = &text[body..body + n];
                let d = Diagnostic::error(
                    "syntax::kdl-v1",
                    format!("`{}` is a KDL v1 raw string", &text[i..end]),
                    Span::new(file, i, end),
                    "KDL v1 spelling",
                )
                .with_help(format!(
                    "KDL v2 writes raw strings without the `r`: `{v2_hashes}\"{inner}\"{v2_hashes}`"
                ))
                .with_fix(
                    "write the KDL v2 raw string",
                    Span::new(file, i, end),
                    format!("{v2_hashes}\"{inner}\"{v2_hashes}"),
                );
                out.push(d);
                i = end;
            }
            b'#' if b[i..].iter().find(|c| **c != b'#') == Some(&b'"') => {
                // A KDL v2 raw string: skip to its end.
                let hashes = b[i..].iter().take_while(|c| **c == b'#').count();
                i = raw_string_end(b, i + hashes + 1, hashes).map_or(b.len(), |(_, after)| after);
            }
            b'#' => {
                // v2 uses `#` only before a keyword or a raw string.
                let rest = &text[i + 1..];
                let keyword = ["true", "false", "null", "inf", "-inf", "nan"].iter().any(|k| rest.starts_with(k));
                if !keyword && !rest.starts_with('#') && !rest.starts_with('"') {
                    let line_end = b[i..].iter().position(|c| *c == b'\n').map_or(b.len(), |n| i + n);
                    out.push(
                        Diagnostic::error(
                            "syntax::kdl-v1",
                            "`#` does not start a comment in KDL",
                            Span::new(file, i, i + 1),
                            "not a comment",
                        )
                        .with_help("KDL comments start with `//` (or `/* … */`, or `/-` to comment out a node)")
                        .with_fix("write `//`", Span::new(file, i, i + 1), "//"),
                    );
                    i = line_end;
                    continue;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

#[cfg(test)]
mod v1_tests {
    use super::*;

    #[test]
    fn kdl_v1_raw_strings_and_hash_comments_get_their_v2_spelling() {
        let d = kdl_v1_habits("node r#\"a \"b\"\"# r\"c\\d\"\n# note\nx #true #\"e\"#\n", FileId(0));
        let fixes: Vec<&str> = d.iter().map(|d| d.fix.as_ref().unwrap().edits[0].replacement.as_str()).collect();
        assert_eq!(fixes, ["#\"a \"b\"\"#", "#\"c\\d\"#", "//"]);
        assert!(kdl_v1_habits("bar \"r#\\\"x\" // r\"y\" # z\n", FileId(0)).is_empty());
    }
}
