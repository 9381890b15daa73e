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
    pub key: String,
    pub key_span: Span,
    pub value: Value,
}

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
