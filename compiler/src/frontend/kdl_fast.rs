//! A fast path for the common subset of KDL v2 used by tenant files.
//!
//! The `kdl` crate's parser is the reference: it is exact, recovers from
//! errors and writes good messages, but it costs ~0.6 ms per tenant file
//! (measured; about 35× a JSONC file), which made `tenants check` on 10,000
//! tenants take over 3 s. This module parses the subset tenant files actually
//! use — bare identifiers, quoted strings with simple escapes, decimal
//! numbers, `#true`/`#false`/`#null`, properties, children, `//` and nested
//! `/* */` comments, `;` — into the same [`KdlDocument`] with the same spans.
//!
//! Invariant: it either returns exactly the document the `kdl` crate would
//! return for the input (names, values, spans), or `None`, and the caller
//! falls back to the `kdl` crate. It gives up on anything outside the subset
//! and on every error, so diagnostics always come from the reference parser.
//! A differential test (`tests/kdl_fast.rs`) holds it to this on the example
//! files, generated corpora and random documents.

use kdl::{KdlDocument, KdlEntry, KdlIdentifier, KdlNode, KdlValue};

struct P<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

/// Parse `text`, or `None` when it is outside the fast subset or invalid.
pub fn parse(text: &str) -> Option<KdlDocument> {
    let mut p = P {
        s: text,
        b: text.as_bytes(),
        i: 0,
    };
    let nodes = p.nodes(false)?;
    let mut doc = KdlDocument::new();
    *doc.nodes_mut() = nodes;
    Some(doc)
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'_'
                | b'.'
                | b'@'
                | b':'
                | b'!'
                | b'$'
                | b'%'
                | b'&'
                | b'*'
                | b'+'
                | b'<'
                | b'>'
                | b'?'
                | b'~'
                | b'|'
                | b'^'
                | b','
                | b'\''
        )
}

/// Characters the KDL v2 spec treats as newlines or forbids outright (bidi
/// controls, a mid-file BOM, C0/C1 controls). Inside a comment or a string
/// the fast path gives up on them, so the reference parser decides — what a
/// reviewer sees in a pull request must be what the compiler reads.
fn special(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Check the character at byte `i` (non-ASCII or control) for [`special`].
fn plain_at(s: &str, i: usize) -> Option<()> {
    if !s.is_char_boundary(i) {
        return Some(()); // inside a character already checked at its first byte
    }
    let c = s[i..].chars().next()?;
    (!special(c)).then_some(())
}

fn span(start: usize, end: usize) -> miette::SourceSpan {
    miette::SourceSpan::new(start.into(), end - start)
}

impl P<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn at(&self, s: &[u8]) -> bool {
        self.b[self.i..].starts_with(s)
    }

    /// Skip a `/* … */` comment (nested). `None` when unterminated.
    fn block_comment(&mut self) -> Option<()> {
        self.i += 2;
        let mut level = 1;
        while level > 0 {
            if self.i >= self.b.len() {
                return None;
            }
            if self.at(b"/*") {
                level += 1;
                self.i += 2;
            } else if self.at(b"*/") {
                level -= 1;
                self.i += 2;
            } else {
                let c = self.b[self.i];
                if c >= 0x80 || (c < 0x20 && c != b'\t' && c != b'\n') || c == 0x7f {
                    plain_at(self.s, self.i)?;
                }
                self.i += 1;
            }
        }
        Some(())
    }

    /// Spaces, tabs and block comments within a line. Returns whether any was consumed.
    fn node_space(&mut self) -> Option<bool> {
        let start = self.i;
        loop {
            match self.peek() {
                Some(b' ' | b'\t') => self.i += 1,
                Some(b'/') if self.at(b"/*") => self.block_comment()?,
                Some(b'\\') => return None, // line continuation: not in the subset
                Some(c) if c >= 0x80 => {
                    // Unicode whitespace is legal KDL: leave it to the reference parser.
                    let ch = self.s[self.i..].chars().next()?;
                    if ch.is_whitespace() {
                        return None;
                    }
                    break;
                }
                _ => break,
            }
        }
        Some(self.i > start)
    }

    /// Blank lines, comments, whitespace between nodes.
    fn line_space(&mut self) -> Option<()> {
        loop {
            self.node_space()?;
            match self.peek() {
                Some(b'\n') => self.i += 1,
                Some(b'\r') if self.at(b"\r\n") => self.i += 2,
                Some(b'\r' | 0x0b | 0x0c) => return None,
                Some(b'/') if self.at(b"//") => self.line_comment()?,
                _ => return Some(()),
            }
        }
    }

    fn line_comment(&mut self) -> Option<()> {
        while let Some(c) = self.peek() {
            if c >= 0x80 || (c < 0x20 && c != b'\t' && c != b'\n') || c == 0x7f {
                plain_at(self.s, self.i)?;
            }
            self.i += 1;
            if c == b'\n' {
                break;
            }
        }
        Some(())
    }

    fn nodes(&mut self, in_children: bool) -> Option<Vec<KdlNode>> {
        let mut out = Vec::new();
        loop {
            self.line_space()?;
            match self.peek() {
                None => return if in_children { None } else { Some(out) },
                Some(b'}') => {
                    if in_children {
                        return Some(out);
                    }
                    return None;
                }
                Some(b';') => return None,
                Some(b'/') if self.at(b"/-") => return None,
                _ => out.push(self.node()?),
            }
        }
    }

    fn node(&mut self) -> Option<KdlNode> {
        let start = self.i;
        if self.peek() == Some(b'(') {
            return None;
        }
        let name = self.identifier_or_string()?;
        let mut node = KdlNode::new(name);
        loop {
            let spaced = self.node_space()?;
            match self.peek() {
                None | Some(b'\n' | b'\r' | b';' | b'}') => break,
                Some(b'/') if self.at(b"//") => break,
                Some(b'/') if self.at(b"/-") => return None,
                Some(b'{') => {
                    self.i += 1;
                    let children = self.nodes(true)?;
                    self.i += 1; // the closing `}`
                    let mut doc = KdlDocument::new();
                    *doc.nodes_mut() = children;
                    node.set_children(doc);
                    self.node_space()?;
                    match self.peek() {
                        None | Some(b'\n' | b'\r' | b';' | b'}') => break,
                        Some(b'/') if self.at(b"//") => break,
                        _ => return None,
                    }
                }
                Some(_) if !spaced => return None,
                Some(_) => {
                    let e = self.entry()?;
                    node.entries_mut().push(e);
                }
            }
        }
        node.set_span(span(start, self.i));
        // Terminator.
        match self.peek() {
            Some(b';') => self.i += 1,
            Some(b'\n') => self.i += 1,
            Some(b'\r') if self.at(b"\r\n") => self.i += 2,
            Some(b'/') if self.at(b"//") => self.line_comment()?,
            None | Some(b'}') => {}
            _ => return None,
        }
        Some(node)
    }

    fn entry(&mut self) -> Option<KdlEntry> {
        let start = self.i;
        match self.peek()? {
            b'"' | b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let (value, is_string_like) = self.string_like()?;
                let key_end = self.i;
                if self.peek() == Some(b'=') && is_string_like {
                    self.i += 1;
                    let v = self.value()?;
                    let mut key = KdlIdentifier::from(value);
                    key.set_span(span(start, key_end));
                    let mut e = KdlEntry::new_prop(key, v);
                    e.set_span(span(start, self.i));
                    self.delimited()?;
                    return Some(e);
                }
                let mut e = KdlEntry::new(KdlValue::String(value));
                e.set_span(span(start, self.i));
                self.delimited()?;
                Some(e)
            }
            _ => {
                let v = self.value()?;
                let mut e = KdlEntry::new(v);
                e.set_span(span(start, self.i));
                self.delimited()?;
                Some(e)
            }
        }
    }

    /// After a value: whitespace, a terminator, `{` or the end must follow.
    fn delimited(&self) -> Option<()> {
        match self.peek() {
            None | Some(b' ' | b'\t' | b'\n' | b'\r' | b';' | b'}' | b'/') => Some(()),
            _ => None,
        }
    }

    fn value(&mut self) -> Option<KdlValue> {
        match self.peek()? {
            b'"' => Some(KdlValue::String(self.quoted()?)),
            b'#' => {
                for (kw, v) in [
                    ("#true", KdlValue::Bool(true)),
                    ("#false", KdlValue::Bool(false)),
                    ("#null", KdlValue::Null),
                ] {
                    if self.at(kw.as_bytes()) && !self.b.get(self.i + kw.len()).copied().is_some_and(is_ident_byte) {
                        self.i += kw.len();
                        return Some(v);
                    }
                }
                None
            }
            b'0'..=b'9' | b'-' => self.number(),
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => Some(KdlValue::String(self.bare()?)),
            _ => None,
        }
    }

    fn number(&mut self) -> Option<KdlValue> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.i;
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.i += 1;
            }
            p.i > s
        };
        if !digits(self) {
            return None;
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !digits(self) {
                return None;
            }
            float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return None;
            }
            float = true;
        }
        if self.peek().is_some_and(is_ident_byte) {
            return None; // `0x…`, `1_000`, `12abc`: leave to the reference parser
        }
        let text = &self.s[start..self.i];
        if float {
            let f: f64 = text.parse().ok()?;
            f.is_finite().then_some(KdlValue::Float(f))
        } else {
            text.parse::<i128>().ok().map(KdlValue::Integer)
        }
    }

    /// A quoted string or a bare identifier; the flag says it may be a property key.
    fn string_like(&mut self) -> Option<(String, bool)> {
        if self.peek() == Some(b'"') {
            Some((self.quoted()?, true))
        } else {
            Some((self.bare()?, true))
        }
    }

    fn identifier_or_string(&mut self) -> Option<KdlIdentifier> {
        let start = self.i;
        let value = match self.peek()? {
            b'"' => self.quoted()?,
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => self.bare()?,
            _ => return None,
        };
        let mut id = KdlIdentifier::from(value);
        id.set_span(span(start, self.i));
        Some(id)
    }

    /// A bare identifier starting with a letter or `_` (ASCII only).
    fn bare(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_ident_byte) {
            self.i += 1;
        }
        if self.peek().is_some_and(|c| c >= 0x80) {
            return None;
        }
        let word = &self.s[start..self.i];
        if matches!(word, "true" | "false" | "null" | "inf" | "nan") || word.is_empty() {
            return None;
        }
        Some(word.to_string())
    }

    /// A single-line quoted string with the escapes `\" \\ \n \t \r`.
    fn quoted(&mut self) -> Option<String> {
        if self.at(b"\"\"\"") {
            return None;
        }
        self.i += 1;
        let mut out = String::new();
        let mut run = self.i;
        loop {
            match self.peek()? {
                b'"' => {
                    out.push_str(&self.s[run..self.i]);
                    self.i += 1;
                    return Some(out);
                }
                b'\\' => {
                    out.push_str(&self.s[run..self.i]);
                    let esc = match self.b.get(self.i + 1)? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        _ => return None,
                    };
                    out.push(esc);
                    self.i += 2;
                    run = self.i;
                }
                b'\n' | b'\r' => return None,
                c if c < 0x20 || c == 0x7f => return None,
                c if c >= 0x80 => {
                    plain_at(self.s, self.i)?;
                    self.i += 1;
                }
                _ => self.i += 1,
            }
        }
    }
}
