//! The JSON/JSONC fast path: a single-pass parser straight into
//! [`Value`], for files that are well formed (the common case).
//!
//! It accepts strict JSON (RFC 8259: objects, arrays, double-quoted strings
//! with the standard escapes, numbers without leading zeros, `true`,
//! `false`, `null`, whitespace of space, tab, CR and LF) and, for `.jsonc`,
//! `//` and `/* */` comments and trailing commas — and gives up (`None`) on
//! everything else: any syntax error, a control character or a surrogate
//! escape in a string, nesting deeper than [`MAX_NESTING`]. Then the
//! reference front end (`jsonc-parser`, [`super::json`]) parses the file and
//! reports the problem, so diagnostics always come from one place.
//!
//! Invariant: whenever it returns a value, that value (kinds, keys, strings,
//! numbers and every span) is the one the reference front end produces
//! (`tests/json_fast.rs` holds it to that, differentially).

use crate::frontend::value::{intern, Entry, Key, Kind, Value};
use crate::frontend::MAX_NESTING;
use crate::source::{FileId, Span};

/// Parse `text`; `None` when the reference parser must take over.
pub fn parse(text: &str, file: FileId, jsonc: bool) -> Option<Value> {
    let mut p = Parser {
        b: text.as_bytes(),
        text,
        i: 0,
        file,
        jsonc,
        depth: 0,
    };
    p.ws()?;
    let v = p.value()?;
    p.ws()?;
    (p.i == p.b.len()).then_some(v)
}

struct Parser<'t> {
    b: &'t [u8],
    text: &'t str,
    i: usize,
    file: FileId,
    jsonc: bool,
    depth: usize,
}

impl Parser<'_> {
    fn span(&self, start: usize) -> Span {
        Span::new(self.file, start, self.i)
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skip whitespace (and comments in JSONC); `None` on an unterminated
    /// comment or a comment in strict JSON.
    fn ws(&mut self) -> Option<()> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.i += 1,
                Some(b'/') if self.jsonc => match self.b.get(self.i + 1) {
                    Some(b'/') => {
                        self.i = self.b[self.i..]
                            .iter()
                            .position(|c| *c == b'\n')
                            .map_or(self.b.len(), |n| self.i + n);
                    }
                    Some(b'*') => {
                        let end = self.b[self.i + 2..].windows(2).position(|w| w == b"*/")?;
                        self.i += 2 + end + 2;
                    }
                    _ => return None,
                },
                _ => return Some(()),
            }
        }
    }

    fn value(&mut self) -> Option<Value> {
        let start = self.i;
        match self.peek()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => {
                let s = self.string()?;
                Some(Value {
                    span: self.span(start),
                    kind: Kind::Str(s),
                })
            }
            b't' => self.word(b"true", Kind::Bool(true)),
            b'f' => self.word(b"false", Kind::Bool(false)),
            b'n' => self.word(b"null", Kind::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn word(&mut self, w: &[u8], kind: Kind) -> Option<Value> {
        let start = self.i;
        if !self.b[self.i..].starts_with(w) {
            return None;
        }
        self.i += w.len();
        // `truex`, `null1`: a word, not a literal — the reference reports it.
        if self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
            return None;
        }
        Some(Value {
            span: self.span(start),
            kind,
        })
    }

    fn digits(&mut self) -> usize {
        let n = self.b[self.i..].iter().take_while(|c| c.is_ascii_digit()).count();
        self.i += n;
        n
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, read as the
    /// reference front end reads it: an `i64` when it is one, else an `f64`
    /// (`f64::MAX` beyond the finite range).
    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => {
                self.i += 1;
                if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    return None; // a leading zero
                }
            }
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        if self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.') {
            return None;
        }
        let raw = &self.text[start..self.i];
        let kind = match raw.parse::<i64>() {
            Ok(i) => Kind::Int(i),
            Err(_) => match raw.parse::<f64>() {
                Ok(f) if f.is_finite() => Kind::Float(f),
                _ => Kind::Float(f64::MAX),
            },
        };
        Some(Value {
            span: self.span(start),
            kind,
        })
    }

    /// A string at `"`; its unescaped value. Gives up on control characters
    /// and surrogate escapes.
    /// An object key: interned ([`intern`]) straight from the text when it
    /// has no escape.
    fn key(&mut self) -> Option<Key> {
        let open = self.i;
        let mut j = open + 1;
        while let Some(&c) = self.b.get(j) {
            match c {
                b'"' => {
                    let k = intern(&self.text[open + 1..j]);
                    self.i = j + 1;
                    return Some(k);
                }
                b'\\' => break,
                c if c < 0x20 => return None,
                _ => j += 1,
            }
        }
        self.string().map(|s| intern(&s))
    }

    fn string(&mut self) -> Option<String> {
        self.i += 1; // the opening quote
        let start = self.i;
        // The common case: no escape before the closing quote.
        loop {
            match *self.b.get(self.i)? {
                b'"' => {
                    let s = self.text[start..self.i].to_string();
                    self.i += 1;
                    return Some(s);
                }
                b'\\' => break,
                c if c < 0x20 => return None,
                _ => self.i += 1,
            }
        }
        let mut out = String::from(&self.text[start..self.i]);
        loop {
            match *self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(out);
                }
                b'\\' => {
                    let esc = *self.b.get(self.i + 1)?;
                    self.i += 2;
                    out.push(match esc {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hex = self.text.get(self.i..self.i + 4)?;
                            let code = u32::from_str_radix(hex, 16)
                                .ok()
                                .filter(|_| hex.bytes().all(|c| c.is_ascii_hexdigit()))?;
                            self.i += 4;
                            char::from_u32(code)? // surrogates: the reference decides
                        }
                        _ => return None,
                    });
                }
                c if c < 0x20 => return None,
                _ => {
                    // Copy the run up to the next quote or backslash.
                    let run = self.b[self.i..]
                        .iter()
                        .position(|c| *c == b'"' || *c == b'\\' || *c < 0x20)
                        .map_or(self.b.len(), |n| self.i + n);
                    out.push_str(&self.text[self.i..run]);
                    self.i = run;
                }
            }
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_NESTING).then_some(())
    }

    fn array(&mut self) -> Option<Value> {
        let start = self.i;
        self.enter()?;
        self.i += 1;
        let mut items = Vec::new();
        self.ws()?;
        if self.peek()? != b']' {
            loop {
                items.push(self.value()?);
                self.ws()?;
                match self.peek()? {
                    b',' => {
                        self.i += 1;
                        self.ws()?;
                        if self.peek()? == b']' && self.jsonc {
                            break;
                        }
                    }
                    b']' => break,
                    _ => return None,
                }
            }
        }
        self.i += 1; // `]`
        self.depth -= 1;
        Some(Value {
            span: self.span(start),
            kind: Kind::Array(items),
        })
    }

    fn object(&mut self) -> Option<Value> {
        let start = self.i;
        self.enter()?;
        self.i += 1;
        let mut entries = Vec::new();
        self.ws()?;
        if self.peek()? != b'}' {
            loop {
                if self.peek()? != b'"' {
                    return None;
                }
                let key_start = self.i;
                let key = self.key()?;
                let key_span = self.span(key_start);
                self.ws()?;
                if self.peek()? != b':' {
                    return None;
                }
                self.i += 1;
                self.ws()?;
                let value = self.value()?;
                entries.push(Entry { key, key_span, value });
                self.ws()?;
                match self.peek()? {
                    b',' => {
                        self.i += 1;
                        self.ws()?;
                        if self.peek()? == b'}' && self.jsonc {
                            break;
                        }
                    }
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        self.i += 1; // `}`
        self.depth -= 1;
        Some(Value {
            span: self.span(start),
            kind: Kind::Object(entries),
        })
    }
}
