//! The format-neutral, spanned value tree that every front end produces.
//!
//! JSON/JSONC map onto it one to one; KDL maps onto it through the node rules
//! in [`crate::frontend::kdl`]. Keys are always in their JSON spelling
//! (`snake_case`), so one decoder ([`crate::raw`]) serves every format and a
//! tenant written in KDL and in JSON yields the same raw model.

use crate::source::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub span: Span,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Value>),
    Object(Vec<Entry>),
    /// A value the front end already reported as broken (e.g. a KDL `var`
    /// node without a value); decoders skip it silently, so one mistake
    /// gives one diagnostic.
    Invalid,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key in its JSON spelling.
    pub key: Key,
    pub key_span: Span,
    pub value: Value,
}

/// A key of an object: borrowed from the compiler's own key names when it
/// is one of them ([`intern`]), which most keys are, so that parsing a file
/// allocates only for the names its author chose.
pub type Key = std::borrow::Cow<'static, str>;

/// `s` as a [`Key`]: a name of the format (every key of every object, the
/// usual environment, binding, tool and route names) without allocating.
pub fn intern(s: &str) -> Key {
    static TABLE: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        // Open addressing, at most a quarter full: a look-up is one slot, rarely two.
        let mut t = vec![""; SLOTS];
        for k in crate::raw::KEY_LISTS
            .iter()
            .flat_map(|l| l.iter().copied())
            .chain(COMMON_NAMES.iter().copied())
        {
            let mut i = slot(k);
            while !t[i].is_empty() && t[i] != k {
                i = (i + 1) % SLOTS;
            }
            t[i] = k;
        }
        t
    });
    if !s.is_empty() {
        let mut i = slot(s);
        while !table[i].is_empty() {
            let k = table[i];
            if k.len() == s.len() && k.bytes().zip(s.bytes()).all(|(x, y)| x == y) {
                return Key::Borrowed(k);
            }
            i = (i + 1) % SLOTS;
        }
    }
    Key::Owned(s.to_string())
}

const SLOTS: usize = 1024;

/// Where [`intern`] looks for `s` first: a hash of its length and of three
/// of its bytes, enough to tell the format's names apart.
fn slot(s: &str) -> usize {
    let b = s.as_bytes();
    let (first, mid, last) = (b[0] as u32, b[b.len() / 2] as u32, b[b.len() - 1] as u32);
    let h = (b.len() as u32).wrapping_mul(0x9E37_79B9)
        ^ first.wrapping_mul(0x85EB_CA6B)
        ^ mid.wrapping_mul(0xC2B2_AE35)
        ^ last.wrapping_mul(0x27D4_EB2F);
    (h ^ (h >> 15)) as usize % SLOTS
}

/// Map keys most files use (environment, binding, tool and route names, as
/// in the examples and what `tenants new` writes): interned too.
const COMMON_NAMES: &[&str] = &[
    "dev",
    "stage",
    "prod",
    "staging",
    "production",
    "CACHE",
    "DOCS",
    "INGEST",
    "EVENTS",
    "AI",
    "SESSIONS",
    "RATE_LIMITER",
    "AUDIT",
    "DOC_INDEX",
    "LOG_LEVEL",
    "summarize",
    "classify-intent",
    "tag-and-chunk",
    "ingest-docs",
    "extract-entities",
    "search",
    "tools",
];

impl Kind {
    /// The type name used in "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Array(_) => "a list",
            Kind::Object(_) => "an object",
            Kind::Invalid => "an invalid value",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_the_format_are_borrowed_and_others_kept_as_written() {
        for list in crate::raw::KEY_LISTS {
            for k in *list {
                assert!(matches!(intern(k), Key::Borrowed(b) if b == *k), "{k}");
            }
        }
        assert!(matches!(intern("dev"), Key::Borrowed("dev")));
        let odd = intern("my-own-env");
        assert!(matches!(&odd, Key::Owned(s) if s == "my-own-env"));
    }
}
