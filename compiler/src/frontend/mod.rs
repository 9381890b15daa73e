//! Front ends: bytes on disk → [`Value`] tree plus diagnostics.
//!
//! Invariants: a front end never panics and never stops at the first problem
//! it can recover from; it returns whatever value it could read (possibly
//! none) together with every diagnostic. File-level checks that protect the
//! parsers (size, encoding, binary content, nesting depth) run first, here.

pub mod json;
pub mod kdl;

use std::sync::Arc;

use crate::diag::{Diagnostic, Diagnostics};
use crate::source::{FileId, Format, SourceMap, Span};
use crate::value::Value;

/// Files larger than this are rejected before parsing (a tenant file is a few KiB).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Deepest `{`/`[` nesting accepted; real files nest at most 6 levels.
pub const MAX_NESTING: usize = 64;

/// What kind of document a file holds; decides the KDL root rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Platform,
    Accounts,
    Tenant,
}

/// Turn raw bytes into source text: reports binary content, invalid UTF-8 and
/// a byte-order mark. Returns the text to register (lossy when invalid) and
/// whether parsing may proceed.
pub fn decode_text(bytes: &[u8]) -> (String, Vec<TextProblem>) {
    let mut problems = Vec::new();
    let mut body = bytes;
    if body.starts_with(&[0xEF, 0xBB, 0xBF]) {
        body = &body[3..];
        problems.push(TextProblem::Bom);
    }
    if let Some(pos) = body.iter().position(|b| *b == 0) {
        problems.push(TextProblem::Binary(pos));
    }
    let text = match std::str::from_utf8(body) {
        Ok(s) => s.to_string(),
        Err(e) => {
            problems.push(TextProblem::InvalidUtf8(e.valid_up_to()));
            String::from_utf8_lossy(body).into_owned()
        }
    };
    (text, problems)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextProblem {
    Bom,
    Binary(usize),
    InvalidUtf8(usize),
}

/// Report the problems of [`decode_text`]; returns `true` when the file is fit to parse.
pub fn report_text_problems(file: FileId, text: &str, problems: &[TextProblem], diags: &mut Diagnostics) -> bool {
    let mut ok = true;
    for p in problems {
        match p {
            TextProblem::Bom => diags.push(
                Diagnostic::warning("file::bom", "file starts with a byte-order mark", Span::file_start(file), "ignored")
                    .with_help("save the file as UTF-8 without BOM"),
            ),
            TextProblem::Binary(pos) => {
                ok = false;
                let at = floor_char(text, *pos);
                diags.push(
                    Diagnostic::error(
                        "file::binary",
                        "file looks binary (contains a NUL byte)",
                        Span::new(file, at, at),
                        "NUL byte here",
                    )
                    .with_help("tenant files are UTF-8 text in KDL, JSON or JSONC"),
                );
            }
            TextProblem::InvalidUtf8(pos) => {
                ok = false;
                let at = floor_char(text, *pos);
                diags.push(
                    Diagnostic::error(
                        "file::encoding",
                        "file is not valid UTF-8",
                        Span::new(file, at, at),
                        "invalid byte sequence starts here",
                    )
                    .with_help("re-save the file with UTF-8 encoding"),
                );
            }
        }
    }
    ok
}

fn floor_char(text: &str, mut pos: usize) -> usize {
    pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    pos
}

/// Deepest bracket nesting outside strings and comments, with the offset
/// where [`MAX_NESTING`] was first exceeded. A cheap pre-scan: the parsers are
/// recursive, so hostile nesting is refused before they see it.
pub fn nesting_violation(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(i);
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Parse one registered file into a value tree.
pub fn parse(sources: &SourceMap, file: FileId, kind: DocKind, diags: &mut Diagnostics) -> Option<Value> {
    let f = sources.get(file);
    let text: Arc<str> = f.text.clone();
    if text.trim().is_empty() {
        diags.push(
            Diagnostic::error("file::empty", "file is empty", Span::file_start(file), "nothing here").with_help(match kind {
                DocKind::Tenant => {
                    "a tenant file declares one tenant; copy an existing tenant file to start (docs/tenant-format.md lists every field)"
                }
                DocKind::Platform => "the platform file declares the Worker, its environments and bindings",
                DocKind::Accounts => "the accounts file lists Cloudflare accounts and the env var holding each API token",
            }),
        );
        return None;
    }
    if let Some(at) = nesting_violation(&text) {
        diags.push(
            Diagnostic::error(
                "file::nesting",
                format!("nesting deeper than {MAX_NESTING} levels"),
                Span::new(file, at, at + 1),
                "too deep here",
            )
            .with_help("tenant files nest a few levels at most; this file is probably not a tenant file"),
        );
        return None;
    }
    match f.format {
        Format::Json | Format::Jsonc => json::parse(&text, file, f.format, diags),
        Format::Kdl => kdl::parse(&text, file, kind, diags),
    }
}
