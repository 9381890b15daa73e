//! Front ends: bytes on disk → [`Value`] tree plus diagnostics.
//!
//! Invariants: a front end never panics and never stops at the first problem
//! it can recover from; it returns whatever value it could read (possibly
//! none) together with every diagnostic. File-level checks that protect the
//! parsers (size, encoding, binary content, nesting depth) run first, here.

pub mod json;
pub mod json_fast;
pub mod kdl;
pub mod kdl_fast;
pub mod slips;
pub mod value;

use std::sync::Arc;

use crate::diag::{Diagnostic, Diagnostics};
use crate::frontend::value::Value;
use crate::source::{FileId, Format, SourceMap, Span};

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

/// [`decode_text`] taking the bytes: valid UTF-8 without a byte-order mark
/// or NUL byte (the usual file) becomes the text without a copy.
pub fn decode_text_owned(bytes: Vec<u8>) -> (String, Vec<TextProblem>) {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) || bytes.contains(&0) {
        return decode_text(&bytes);
    }
    match String::from_utf8(bytes) {
        Ok(text) => (text, Vec::new()),
        Err(e) => decode_text(e.as_bytes()),
    }
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

/// Where bracket nesting first exceeds [`MAX_NESTING`], outside strings and
/// comments. A linear pre-scan: the parsers are recursive, so hostile nesting
/// is refused before they see it. The scan knows each format's strings and
/// comments (KDL raw strings `#"…"#`, multi-line `"""…"""`, nested `/* */`);
/// and as a safety net, if it ever loses track, a file whose brackets would
/// nest too deep when counted *ignoring* strings and comments is scanned
/// again that way (a false positive needs more than 64 levels of brackets
/// inside strings, which no tenant file has).
pub fn nesting_violation(text: &str, format: Format) -> Option<usize> {
    let b = text.as_bytes();
    let kdl = format == Format::Kdl;
    let mut depth = 0usize;
    let mut i = 0;
    let mut unterminated = false;
    while i < b.len() {
        match b[i] {
            b'"' if kdl && b[i..].starts_with(b"\"\"\"") => {
                i += 3;
                loop {
                    if i >= b.len() {
                        unterminated = true;
                        break;
                    }
                    if b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i..].starts_with(b"\"\"\"") {
                        i += 2;
                        break;
                    }
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= b.len() {
                    unterminated = true;
                }
            }
            b'#' if kdl => {
                let hashes = b[i..].iter().take_while(|c| **c == b'#').count();
                if b.get(i + hashes) == Some(&b'"') {
                    // Raw string: ends at a quote followed by the same number of `#`.
                    i += hashes + 1;
                    loop {
                        if i >= b.len() {
                            unterminated = true;
                            break;
                        }
                        if b[i] == b'"' && b[i + 1..].iter().take(hashes).filter(|c| **c == b'#').count() == hashes {
                            i += hashes;
                            break;
                        }
                        i += 1;
                    }
                } else {
                    i += hashes - 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut level = 1;
                i += 2;
                while i < b.len() && level > 0 {
                    if kdl && b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        level += 1;
                        i += 1;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        level -= 1;
                        i += 1;
                    }
                    i += 1;
                }
                if level > 0 {
                    unterminated = true;
                }
                continue;
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
    if unterminated {
        // The scan ran into an unterminated string or comment: whatever
        // follows was not checked. Fall back to counting every bracket.
        return raw_nesting_violation(b, MAX_NESTING);
    }
    // Belt and braces: even counting brackets inside strings, no file nests
    // beyond what the recursive parsers handle on a small (2 MiB) stack.
    raw_nesting_violation(b, MAX_RAW_NESTING)
}

/// Hard bound on bracket depth counted without regard to strings.
pub const MAX_RAW_NESTING: usize = 1024;

fn raw_nesting_violation(b: &[u8], limit: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in b.iter().enumerate() {
        match c {
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > limit {
                    return Some(i);
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Parse one registered file into a value tree.
pub fn parse(sources: &SourceMap, file: FileId, kind: DocKind, diags: &mut Diagnostics) -> Option<Value> {
    parse_file(sources.get(file), kind, diags)
}

/// [`parse`] for a file that need not be in a [`SourceMap`] yet.
pub fn parse_file(f: &crate::source::SourceFile, kind: DocKind, diags: &mut Diagnostics) -> Option<Value> {
    let file = f.id;
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
    if !slips::check(&text, file, f.format, diags) {
        return None; // typographic quotes or invisible characters: reported
    }
    // Well-formed JSON and JSONC (the common case) in one pass; anything
    // else goes through the pre-scan and the reference parser below.
    if f.format != Format::Kdl {
        if let Some(v) = json_fast::parse(&text, file, f.format == Format::Jsonc) {
            return Some(v);
        }
    }
    if let Some(at) = nesting_violation(&text, f.format) {
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
