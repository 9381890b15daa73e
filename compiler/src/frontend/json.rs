//! JSON and JSONC front end over `jsonc-parser`.
//!
//! `.jsonc` allows `//` and `/* */` comments and trailing commas, nothing
//! looser (no single quotes, unquoted keys, hex, `+1`, `.5`, NaN/Infinity or
//! JSON5 escapes). `.json` is strict JSON. Duplicate keys are kept in the
//! tree; the decoder reports them.

use jsonc_parser::ast;
use jsonc_parser::{parse_to_ast, CollectOptions, ParseOptions};

use crate::diag::{Diagnostic, Diagnostics};
use crate::frontend::value::{intern, Entry, Kind, Value};
use crate::source::{FileId, Format, Span};

pub fn parse(text: &str, file: FileId, format: Format, diags: &mut Diagnostics) -> Option<Value> {
    let jsonc = format == Format::Jsonc;
    let opts = ParseOptions {
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
    let collect = CollectOptions {
        comments: jsonc_parser::CommentCollectionStrategy::Off,
        tokens: false,
    };
    match parse_to_ast(text, &collect, &opts) {
        Ok(res) => match res.value {
            Some(v) => Some(lower(&v, file, text, diags)),
            None => {
                diags.push(
                    Diagnostic::error("file::empty", "file holds no JSON value", Span::file_start(file), "nothing here")
                        .with_help("the file must contain one JSON object"),
                );
                None
            }
        },
        Err(e) => {
            let r = e.range();
            let mut msg = e.kind().to_string();
            let help = match e.kind() {
                jsonc_parser::errors::ParseErrorKind::CommentsNotAllowed
                | jsonc_parser::errors::ParseErrorKind::TrailingCommasNotAllowed => {
                    Some("plain `.json` files are strict JSON; rename the file to `.jsonc` to allow comments and trailing commas")
                }
                jsonc_parser::errors::ParseErrorKind::SingleQuotedStringsNotAllowed => Some("JSON strings use double quotes"),
                jsonc_parser::errors::ParseErrorKind::ExpectedStringObjectProperty
                | jsonc_parser::errors::ParseErrorKind::UnexpectedWord => {
                    Some("object keys are double-quoted strings; values are strings, numbers, true, false, null, objects or lists")
                }
                jsonc_parser::errors::ParseErrorKind::NonFiniteNumbersNotAllowed => Some("NaN and Infinity are not JSON numbers"),
                jsonc_parser::errors::ParseErrorKind::ExpectedComma => Some(
                    "separate the entries of an object or a list with `,`: a comma is probably missing at the end of the previous line",
                ),
                jsonc_parser::errors::ParseErrorKind::ExpectedColonAfterObjectKey => {
                    Some("write `\"key\": value`, with a `:` after the key")
                }
                jsonc_parser::errors::ParseErrorKind::ExpectedObjectValue => {
                    Some("give the key a value: a string, a number, true, false, an object or a list")
                }
                jsonc_parser::errors::ParseErrorKind::UnterminatedObject
                | jsonc_parser::errors::ParseErrorKind::UnterminatedArray
                | jsonc_parser::errors::ParseErrorKind::UnexpectedCloseBrace
                | jsonc_parser::errors::ParseErrorKind::UnexpectedCloseBracket => Some(
                    "every `{` needs its `}` and every `[` its `]`: check the brackets up to here (an editor's bracket matching helps)",
                ),
                jsonc_parser::errors::ParseErrorKind::UnterminatedCommentBlock => Some("close the comment with `*/`"),
                jsonc_parser::errors::ParseErrorKind::String(_) => {
                    Some("close the string with `\"`; inside a string write `\\\"` for a quote and `\\\\` for a backslash")
                }
                jsonc_parser::errors::ParseErrorKind::MultipleRootJsonValues => {
                    Some("a file holds one JSON object: remove what follows its closing `}`")
                }
                jsonc_parser::errors::ParseErrorKind::UnexpectedComma | jsonc_parser::errors::ParseErrorKind::UnexpectedColon => {
                    Some("remove the extra punctuation: entries are `\"key\": value`, separated by one `,`")
                }
                jsonc_parser::errors::ParseErrorKind::HexadecimalNumbersNotAllowed
                | jsonc_parser::errors::ParseErrorKind::UnaryPlusNumbersNotAllowed
                | jsonc_parser::errors::ParseErrorKind::BareDecimalPointNumbersNotAllowed
                | jsonc_parser::errors::ParseErrorKind::ExpectedDigit
                | jsonc_parser::errors::ParseErrorKind::ExpectedDigitFollowingNegativeSign
                | jsonc_parser::errors::ParseErrorKind::ExpectedPlusMinusOrDigitInNumberLiteral => {
                    Some("write numbers in decimal, e.g. `1024`, `-1`, `0.5` or `1e3`")
                }
                jsonc_parser::errors::ParseErrorKind::NestingDepthExceeded => {
                    Some("a tenant file nests a few levels deep; this is probably not a tenant file")
                }
                _ => Some("check the JSON syntax here: `\"key\": value` pairs separated by `,` inside `{ }`"),
            };
            if let Some(first) = msg.get(..1) {
                msg = first.to_lowercase() + &msg[1..];
            }
            let mut d = Diagnostic::error("syntax::json", msg, Span::new(file, r.start, r.end), "here");
            if let Some(h) = help {
                d = d.with_help(h);
            }
            diags.push(d);
            None
        }
    }
}

fn lower(v: &ast::Value<'_>, file: FileId, text: &str, diags: &mut Diagnostics) -> Value {
    let sp = |r: jsonc_parser::common::Range| Span::new(file, r.start, r.end);
    match v {
        ast::Value::StringLit(s) => {
            control_chars(text, s.range, file, diags);
            Value {
                span: sp(s.range),
                kind: Kind::Str(s.value.to_string()),
            }
        }
        ast::Value::NumberLit(n) => {
            let kind = if let Ok(i) = n.value.parse::<i64>() {
                Kind::Int(i)
            } else {
                match n.value.parse::<f64>() {
                    Ok(f) if f.is_finite() => Kind::Float(f),
                    _ => Kind::Float(f64::MAX),
                }
            };
            Value { span: sp(n.range), kind }
        }
        ast::Value::BooleanLit(b) => Value {
            span: sp(b.range),
            kind: Kind::Bool(b.value),
        },
        ast::Value::NullKeyword(n) => Value {
            span: sp(n.range),
            kind: Kind::Null,
        },
        ast::Value::Array(a) => Value {
            span: sp(a.range),
            kind: Kind::Array(a.elements.iter().map(|e| lower(e, file, text, diags)).collect()),
        },
        ast::Value::Object(o) => Value {
            span: sp(o.range),
            kind: Kind::Object(
                o.properties
                    .iter()
                    .map(|p| {
                        let (key, key_range) = match &p.name {
                            ast::ObjectPropName::String(s) => {
                                control_chars(text, s.range, file, diags);
                                (s.value.to_string(), s.range)
                            }
                            ast::ObjectPropName::Word(w) => (w.value.to_string(), w.range),
                        };
                        Entry {
                            key: intern(&key),
                            key_span: sp(key_range),
                            value: lower(&p.value, file, text, diags),
                        }
                    })
                    .collect(),
            ),
        },
    }
}

/// JSON forbids raw control characters (U+0000–U+001F) inside strings; they
/// must be escaped (`\n`, `\t`, `\u0001`). jsonc-parser lets them through.
fn control_chars(text: &str, range: jsonc_parser::common::Range, file: FileId, diags: &mut Diagnostics) {
    let raw = text.as_bytes().get(range.start..range.end).unwrap_or(&[]);
    if let Some(pos) = raw.iter().position(|b| *b < 0x20) {
        let at = range.start + pos;
        diags.push(
            Diagnostic::error(
                "syntax::json",
                "control character in a string",
                Span::new(file, at, at + 1),
                "raw control character",
            )
            .with_help("JSON strings escape control characters: write \\n, \\t or \\u00XX"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str, format: Format) -> Vec<&'static str> {
        let mut d = Diagnostics::default();
        parse(text, FileId(0), format, &mut d);
        d.items.iter().map(|x| x.code).collect()
    }

    #[test]
    fn raw_control_characters_in_strings_are_syntax_errors_in_both_formats() {
        for f in [Format::Json, Format::Jsonc] {
            assert_eq!(codes("{\"a\": \"x\ty\"}", f), ["syntax::json"]);
            assert_eq!(codes("{\"a\u{1}\": 1}", f), ["syntax::json"]);
            assert!(codes("{\"a\": \"x\\ty\"}", f).is_empty(), "escaped tab is fine");
        }
    }

    #[test]
    fn json_is_strict_and_jsonc_allows_only_comments_and_trailing_commas() {
        assert_eq!(codes("{\"a\": 1, // c\n}", Format::Json), ["syntax::json"]);
        assert!(codes("{\"a\": 1, // c\n}", Format::Jsonc).is_empty());
        for loose in ["{'a': 1}", "{a: 1}", "{\"a\": NaN}", "{\"a\": 0x1}", "{\"a\": +1}", "{\"a\": .5}"] {
            assert_eq!(codes(loose, Format::Jsonc), ["syntax::json"], "{loose}");
        }
    }
}
