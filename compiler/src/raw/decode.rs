//! Decoding helpers: typed, spanned reads out of a [`Value`] object that
//! report every problem (wrong type, out of range, unknown or duplicate key,
//! missing field) and keep going.

use std::ops::RangeInclusive;

use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::frontend::kdl::{node_name_for, snake_to_kebab};
use crate::frontend::value::{Entry, Kind, Value};
use crate::source::{Format, Span};

/// A value with the span it was written at.
#[derive(Debug, Clone, PartialEq)]
pub struct Sp<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Sp<T> {
    pub fn new(value: T, span: Span) -> Self {
        Sp { value, span }
    }
}

pub struct Decoder<'d> {
    pub format: Format,
    pub diags: &'d mut Diagnostics,
    /// The file's text, to size the head of an object (a KDL node name) and
    /// to write fixes.
    text: std::sync::Arc<str>,
    /// The code of a credential found where no rule looks (under an unknown
    /// key): `tenant::secret::value`, `platform::…` or `accounts::…`.
    secret_code: &'static str,
}

/// An object whose keys were checked; look-ups return the first occurrence.
pub struct Obj<'v> {
    pub span: Span,
    pub entries: &'v [Entry],
    /// Name of the object in messages, e.g. "tenant" or "env `dev`".
    pub what: What<'v>,
    head_len: u32,
}

/// How messages name an object, put into words only when a message needs
/// it: most objects have no problem, and formatting a name for each of
/// them is a measurable part of checking 10,000 tenants.
pub enum What<'a> {
    /// As written: "the tenant", "`ai`".
    Text(&'a str),
    /// `<noun> `<name>``: "env `dev`", "tool `summarize`".
    Named(&'static str, &'a str),
    /// `<key> resource `<name>``, the key as the file writes it: "kv resource `CACHE`".
    Resource(&'static str, &'a str),
    /// `` `<key>` of environment `<env>` ``, the key as the file writes it.
    InEnv(&'static str, &'a str),
    /// `` `<key>` ``, the key as the file writes it.
    Key(&'static str),
    Owned(String),
}

impl<'a> From<&'a str> for What<'a> {
    fn from(s: &'a str) -> Self {
        What::Text(s)
    }
}

impl From<String> for What<'_> {
    fn from(s: String) -> Self {
        What::Owned(s)
    }
}

impl What<'_> {
    /// The words, in the file's spelling of keys.
    pub fn render(&self, d: &Decoder<'_>) -> String {
        match self {
            What::Text(s) => s.to_string(),
            What::Named(noun, name) => format!("{noun} `{name}`"),
            What::Resource(key, name) => format!("{} resource `{name}`", d.disp(key)),
            What::InEnv(key, env) => format!("`{}` of environment `{env}`", d.disp(key)),
            What::Key(key) => format!("`{}`", d.disp(key)),
            What::Owned(s) => s.clone(),
        }
    }
}

impl<'v> Obj<'v> {
    pub fn get(&self, key: &str) -> Option<&'v Entry> {
        self.entries.iter().find(|e| same_key(&e.key, key))
    }
    /// Where a missing field should be reported: the opening `{` of a JSON
    /// object, the node name of a KDL node.
    pub fn head(&self) -> Span {
        Span {
            end: (self.span.start + self.head_len).min(self.span.end),
            ..self.span
        }
    }
}

impl<'d> Decoder<'d> {
    pub fn new(format: Format, text: std::sync::Arc<str>, diags: &'d mut Diagnostics) -> Self {
        Decoder {
            format,
            diags,
            text,
            secret_code: "tenant::secret::value",
        }
    }

    /// The kind of file decoded (it names the code of a credential found
    /// under an unknown key).
    pub fn for_kind(mut self, kind: crate::frontend::DocKind) -> Self {
        self.secret_code = match kind {
            crate::frontend::DocKind::Tenant => "tenant::secret::value",
            crate::frontend::DocKind::Platform => "platform::secret::value",
            crate::frontend::DocKind::Accounts => "accounts::secret::value",
        };
        self
    }

    /// The text of a value and its span, without a KDL property's `name=`
    /// (a property value's span covers the whole property).
    fn value_text(&self, span: Span) -> Option<(Span, &str)> {
        let t = self.text.get(span.start as usize..span.end as usize)?;
        if self.format == Format::Kdl {
            if let Some(eq) = t.find('=').filter(|eq| !t[..*eq].contains('"')) {
                let start = span.start + eq as u32 + 1;
                return Some((Span { start, ..span }, &t[eq + 1..]));
            }
        }
        Some((span, t))
    }

    /// Renaming a misspelled key is certain when exactly one known key is
    /// close to it and the key is written plainly in the text: the edit.
    fn rename_fix<'a>(&self, key_span: Span, name: &str, to: &str, known: impl Iterator<Item = &'a str>) -> Option<(Span, String)> {
        if crate::diag::close_matches(name, known) != [to] {
            return None;
        }
        let text = self.text.get(key_span.start as usize..key_span.end as usize)?;
        let at = text.find(name)?;
        let start = key_span.start + at as u32;
        let span = Span {
            start,
            end: start + name.len() as u32,
            ..key_span
        };
        Some((span, to.to_string()))
    }

    /// Report the credentials [`credentials`] found under an unknown key as
    /// leaked secrets, one diagnostic per string.
    fn leaked_secrets(&mut self, found: &[(Span, &'static str)], key: &str) {
        for (span, what) in found {
            self.push(
                Diagnostic::error(
                    self.secret_code,
                    format!("the value of `{key}` looks like {what}"),
                    *span,
                    "this looks like a credential",
                )
                .with_help(
                    "a credential in a committed file is leaked: remove it, rotate it (it stays in git history), and name it as a secret instead (`secrets` in the tenant file, set with `wrangler secret put NAME`)",
                ),
            );
        }
    }

    /// What to say about a value of the wrong type, and the certain repair
    /// when there is one: (help, fix message, span, replacement).
    fn type_help(&self, v: &Value, key: &str, what: &str, expected: &str) -> (String, Option<(String, Span, String)>) {
        let name = self.disp(key);
        let kdl = self.format == Format::Kdl;
        let (vspan, vtext) = self.value_text(v.span).unwrap_or((v.span, ""));
        let quoted = |s: &str| vtext == format!("\"{s}\"");
        match (&v.kind, expected) {
            (Kind::Str(s), "an integer" | "a number") if is_number(s.trim(), expected == "an integer") && quoted(s) => {
                let n = s.trim().to_string();
                (
                    format!("drop the quotes: `{n}` is a number, `\"{n}\"` is a string"),
                    Some((format!("write `{n}` without quotes"), vspan, n)),
                )
            }
            (Kind::Str(s), "a boolean") if (s == "true" || s == "false") && quoted(s) => {
                let b = if kdl { format!("#{s}") } else { s.clone() };
                (
                    format!("write `{b}` without quotes: `\"{s}\"` is a string"),
                    Some((format!("write `{b}`"), vspan, b)),
                )
            }
            (_, "a boolean") if kdl => ("write `#true` or `#false` (KDL v2 spells booleans with `#`)".into(), None),
            (_, "a boolean") => ("write `true` or `false`, without quotes".into(), None),
            (Kind::Null, _) => (
                format!("give {what} {expected}; `null` does not mean \"the default\": to use the default, leave the key out"),
                None,
            ),
            (Kind::Bool(true), "an object") if key == "tools" => (
                if kdl {
                    "enable a tool with `tool \"<name>\"` (add `roles=\"admin\"` to limit it)".into()
                } else {
                    "write `{}` to enable the tool for every authenticated user, or `{ \"roles\": [\"admin\"] }` to limit it".into()
                },
                (!kdl).then(|| ("write `{}`".to_string(), vspan, "{}".to_string())),
            ),
            (Kind::Bool(false), "an object") if key == "tools" => (
                "remove the entry to leave the tool disabled: a tool is enabled by being listed".into(),
                None,
            ),
            (Kind::Str(_), "a list of strings") if !kdl && vtext.starts_with('"') => (
                format!("write a list, even of one: `[{vtext}]`"),
                Some(("make it a list of one".to_string(), vspan, format!("[{vtext}]"))),
            ),
            (Kind::Int(_) | Kind::Float(_) | Kind::Bool(_), "a string") => {
                (format!("put the value in quotes: `\"{}\"`", vtext.trim()), None)
            }
            (Kind::Float(_), "an integer") => ("use a whole number".into(), None),
            (_, "an object") if kdl => (format!("write `{name}` as a node with properties or a `{{ … }}` block"), None),
            (_, "an object") => (format!("write `\"{key}\": {{ … }}`"), None),
            (_, "a list of strings") if kdl => (format!("list the values as arguments: `{name} \"a\" \"b\"`"), None),
            (_, "a list of strings") => (format!("write `\"{key}\": [\"a\", \"b\"]`"), None),
            _ => (format!("write {expected} here"), None),
        }
    }

    fn head_len(&self, span: Span) -> u32 {
        let rest = self.text.get(span.start as usize..span.end as usize).unwrap_or("");
        match self.format {
            Format::Kdl => rest
                .char_indices()
                .find(|(_, c)| c.is_whitespace() || *c == '{' || *c == ';' || *c == '"')
                .map(|(i, _)| i)
                .unwrap_or(rest.len())
                .max(1) as u32,
            _ => 1,
        }
    }

    /// A key as the user wrote it in this file's format.
    pub fn disp(&self, key: &str) -> String {
        match self.format {
            Format::Kdl => node_name_for(key).map(str::to_string).unwrap_or_else(|| snake_to_kebab(key)),
            _ => key.to_string(),
        }
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Whether an error (of the front end or the decoder) was already
    /// reported inside `span`: later rules then hold back on conclusions
    /// drawn from what is missing there, so one mistake gives one error.
    pub fn errors_within(&self, span: Span) -> bool {
        self.diags.items.iter().any(|x| {
            let p = x.primary();
            x.severity == crate::diag::Severity::Error && p.file == span.file && p.start >= span.start && p.end <= span.end
        })
    }

    fn type_error(&mut self, v: &Value, key: &str, expected: &str) {
        let shown = format!("`{}`", self.disp(key));
        self.type_error_of(v, key, &shown, expected);
    }

    /// [`Decoder::type_error`] naming the value as `what` (e.g. "tool `summarize`").
    fn type_error_of(&mut self, v: &Value, key: &str, what: &str, expected: &str) {
        if v.kind == Kind::Invalid {
            return; // reported by the front end
        }
        let found = v.kind.type_name();
        if self.format == Format::Kdl && matches!(v.kind, Kind::Object(_)) && expected != "an object" {
            let name = self.disp(key);
            self.push(
                Diagnostic::error(
                    "schema::type",
                    format!("`{name}` takes a single value, not properties or children"),
                    v.span,
                    format!("expected {expected}"),
                )
                .with_help(format!(
                    "write `{name} <value>` on its own line; other settings go on their own lines too"
                )),
            );
            return;
        }
        let (help, fix) = self.type_help(v, key, what, expected);
        let mut d = Diagnostic::error(
            "schema::type",
            format!("{what} must be {expected}, found {found}"),
            v.span,
            format!("expected {expected}"),
        )
        .with_help(help);
        if let Some((message, span, replacement)) = fix {
            d = d.with_fix(message, span, replacement);
        }
        self.push(d);
    }

    /// `$schema`, where present, is a string (editors read it; the compiler does not).
    pub fn schema_key(&mut self, o: &Obj<'_>) {
        self.string(o, "$schema");
    }

    /// Check that `v` is an object, with no duplicate and no unknown keys.
    pub fn object<'v>(&mut self, v: &'v Value, key: &str, what: impl Into<What<'v>>, known: &[&str]) -> Option<Obj<'v>> {
        let what = what.into();
        let Kind::Object(entries) = &v.kind else {
            let what = what.render(self);
            self.type_error_of(v, key, &what, "an object");
            return None;
        };
        // First index of each key: linear even for objects with 100k keys
        // (a hash map), and no map at all for the usual handful of keys.
        let mut seen = FirstIndex::new(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let first_index = seen.first(entries, i);
            if first_index != i {
                let first = &entries[first_index];
                self.push(
                    Diagnostic::error(
                        "schema::duplicate-key",
                        format!("`{}` is set twice in {}", self.disp(&e.key), what.render(self)),
                        e.key_span,
                        "second definition",
                    )
                    .with_label(first.key_span, "first definition")
                    .with_help("remove one of them; nothing is merged or overridden silently"),
                );
                continue;
            }
            if !known.iter().any(|k| same_key(k, &e.key)) {
                let shown: Vec<String> = known
                    .iter()
                    .filter(|k| **k != "$schema" && !(self.format == Format::Kdl && crate::frontend::kdl::hidden_in_kdl(k)))
                    .map(|k| self.disp(k))
                    .collect();
                let name = self.disp(&e.key);
                let what = what.render(self);
                let mut d = Diagnostic::error(
                    "schema::unknown-key",
                    format!("unknown key `{name}` in {what}"),
                    e.key_span,
                    "unknown key",
                );
                let home = home_of(&e.key).filter(|(ctx_key, _, _)| !what.contains(ctx_key));
                // A value no rule reads: any credential in it is a leak.
                let mut leaked = Vec::new();
                credentials(&e.value, &mut leaked);
                d = match (did_you_mean(&name, shown.iter().map(String::as_str)), home) {
                    (_, Some((_, kdl, json))) => d.with_help(match self.format {
                        Format::Kdl => format!("`{name}` belongs inside {kdl}"),
                        _ => format!("`{name}` belongs inside {json}"),
                    }),
                    (Some(s), None) => {
                        // Never move a credential into a known key.
                        let fix = leaked
                            .is_empty()
                            .then(|| self.rename_fix(e.key_span, &name, s, shown.iter().map(String::as_str)))
                            .flatten();
                        let d = d.with_help(format!("did you mean `{s}`?"));
                        match fix {
                            Some((span, replacement)) => d.with_fix(format!("rename `{name}` to `{s}`"), span, replacement),
                            None => d,
                        }
                    }
                    (None, None) => d.with_help(format!("expected one of: {}", shown.join(", "))),
                };
                self.push(d);
                self.leaked_secrets(&leaked, &name);
            }
        }
        Some(Obj {
            span: v.span,
            entries,
            what,
            head_len: self.head_len(v.span),
        })
    }

    pub fn missing(&mut self, o: &Obj<'_>, key: &str, help: impl Into<String>) {
        let d = Diagnostic::error(
            "schema::missing",
            format!("{} is missing `{}`", o.what.render(self), self.disp(key)),
            o.head(),
            format!("`{}` required", self.disp(key)),
        )
        .with_help(help);
        self.push(d);
    }

    pub fn string(&mut self, o: &Obj<'_>, key: &str) -> Option<Sp<String>> {
        let e = o.get(key)?;
        match &e.value.kind {
            Kind::Str(s) => Some(Sp::new(s.clone(), e.value.span)),
            _ => {
                self.type_error(&e.value, key, "a string");
                None
            }
        }
    }

    pub fn req_string(&mut self, o: &Obj<'_>, key: &str, help: &str) -> Option<Sp<String>> {
        if o.get(key).is_none() {
            self.missing(o, key, help);
            return None;
        }
        self.string(o, key)
    }

    pub fn boolean(&mut self, o: &Obj<'_>, key: &str) -> Option<Sp<bool>> {
        let e = o.get(key)?;
        match &e.value.kind {
            Kind::Bool(b) => Some(Sp::new(*b, e.value.span)),
            _ => {
                self.type_error(&e.value, key, "a boolean");
                None
            }
        }
    }

    pub fn int(&mut self, o: &Obj<'_>, key: &str, range: RangeInclusive<i64>) -> Option<Sp<i64>> {
        let e = o.get(key)?;
        self.int_value(&e.value, key, range)
    }

    /// An integer whose range a later rule checks, with help of its own;
    /// `shown` is the range quoted for a value beyond ±9×10¹⁸.
    pub fn int_checked_later(&mut self, o: &Obj<'_>, key: &str, shown: RangeInclusive<i64>) -> Option<Sp<i64>> {
        let e = o.get(key)?;
        self.int_value_shown(&e.value, key, i64::MIN..=i64::MAX, shown)
    }

    pub fn int_value(&mut self, v: &Value, key: &str, range: RangeInclusive<i64>) -> Option<Sp<i64>> {
        self.int_value_shown(v, key, range.clone(), range)
    }

    /// [`Decoder::int_value`], quoting `shown` for a value beyond ±9×10¹⁸.
    fn int_value_shown(&mut self, v: &Value, key: &str, range: RangeInclusive<i64>, shown: RangeInclusive<i64>) -> Option<Sp<i64>> {
        // An integer written with a fraction of zero (`8.0`) is an integer,
        // as JSON Schema counts it.
        if let Kind::Float(f) = v.kind {
            if f.fract() == 0.0 && f.abs() < 9.0e18 {
                let as_int = Value {
                    span: v.span,
                    kind: Kind::Int(f as i64),
                };
                return self.int_value_shown(&as_int, key, range, shown);
            }
        }
        match &v.kind {
            Kind::Int(i) => {
                if range.contains(i) {
                    Some(Sp::new(*i, v.span))
                } else {
                    self.push(
                        Diagnostic::error(
                            "schema::range",
                            format!("`{}` is {i}, must be between {} and {}", self.disp(key), range.start(), range.end()),
                            v.span,
                            "out of range",
                        )
                        .with_help(format!("use a value from {} to {}", range.start(), range.end())),
                    );
                    None
                }
            }
            Kind::Float(f) if f.fract() == 0.0 && f.abs() >= 9.0e18 => {
                self.push(
                    Diagnostic::error(
                        "schema::range",
                        format!("`{}` is far too large", self.disp(key)),
                        v.span,
                        "out of range",
                    )
                    .with_help(format!("use a value from {} to {}", shown.start(), shown.end())),
                );
                None
            }
            _ => {
                self.type_error(v, key, "an integer");
                None
            }
        }
    }

    pub fn number(&mut self, o: &Obj<'_>, key: &str, range: RangeInclusive<f64>) -> Option<Sp<f64>> {
        let e = o.get(key)?;
        let x = match &e.value.kind {
            Kind::Int(i) => *i as f64,
            Kind::Float(f) => *f,
            _ => {
                self.type_error(&e.value, key, "a number");
                return None;
            }
        };
        if range.contains(&x) {
            Some(Sp::new(x, e.value.span))
        } else {
            self.push(
                Diagnostic::error(
                    "schema::range",
                    format!("`{}` is {x}, must be between {} and {}", self.disp(key), range.start(), range.end()),
                    e.value.span,
                    "out of range",
                )
                .with_help(format!("use a value from {} to {}", range.start(), range.end())),
            );
            None
        }
    }

    /// A string that must be one of `variants`.
    pub fn choice(&mut self, o: &Obj<'_>, key: &str, variants: &[&str]) -> Option<Sp<String>> {
        let s = self.string(o, key)?;
        if variants.contains(&s.value.as_str()) {
            return Some(s);
        }
        let mut d = Diagnostic::error(
            "schema::enum",
            format!("`{}` cannot be `{}`", self.disp(key), s.value),
            s.span,
            "not a valid choice",
        );
        d = match did_you_mean(&s.value, variants.iter().copied()) {
            Some(v) => d.with_help(format!("did you mean `{v}`? valid values: {}", variants.join(", "))),
            None => d.with_help(format!("valid values: {}", variants.join(", "))),
        };
        self.push(d);
        None
    }

    /// A list of strings. In KDL a single value stands for a one-element list.
    pub fn string_list(&mut self, o: &Obj<'_>, key: &str) -> Vec<Sp<String>> {
        let Some(e) = o.get(key) else { return vec![] };
        self.string_list_value(&e.value, key)
    }

    pub fn string_list_value(&mut self, v: &Value, key: &str) -> Vec<Sp<String>> {
        match &v.kind {
            Kind::Array(items) => items
                .iter()
                .filter_map(|it| match &it.kind {
                    Kind::Str(s) => Some(Sp::new(s.clone(), it.span)),
                    _ => {
                        self.type_error(it, key, "a string");
                        None
                    }
                })
                .collect(),
            Kind::Str(s) if self.format == Format::Kdl => vec![Sp::new(s.clone(), v.span)],
            _ => {
                self.type_error(v, key, "a list of strings");
                vec![]
            }
        }
    }

    /// Entries of a map-valued key (`envs`, `kv`, `tools`, …); checks duplicates.
    pub fn map<'v>(&mut self, o: &Obj<'v>, key: &str) -> Vec<&'v Entry> {
        let Some(e) = o.get(key) else { return vec![] };
        match &e.value.kind {
            Kind::Object(entries) => {
                let mut out: Vec<&Entry> = Vec::with_capacity(entries.len());
                let mut seen = FirstIndex::new(entries.len());
                for (i, ent) in entries.iter().enumerate() {
                    let first_index = seen.first(entries, i);
                    if first_index != i {
                        let first = &entries[first_index];
                        self.push(
                            Diagnostic::error(
                                "schema::duplicate-key",
                                format!("`{}` is declared twice in `{}`", ent.key, self.disp(key)),
                                ent.key_span,
                                "second declaration",
                            )
                            .with_label(first.key_span, "first declaration")
                            .with_help("remove one of them; nothing is merged or overridden silently"),
                        );
                        continue;
                    }
                    out.push(ent);
                }
                out
            }
            _ => {
                self.type_error(&e.value, key, "an object");
                vec![]
            }
        }
    }
}

/// The index of the first entry with the same key as entry `i`: a scan of
/// the earlier entries in a small object (no allocation, no hashing), a
/// hash map in a large one (linear overall, even for 100k keys).
enum FirstIndex<'v> {
    Small,
    Large(std::collections::HashMap<&'v str, usize>),
}

impl<'v> FirstIndex<'v> {
    fn new(len: usize) -> Self {
        if len <= 32 {
            FirstIndex::Small
        } else {
            FirstIndex::Large(std::collections::HashMap::with_capacity(len))
        }
    }

    fn first(&mut self, entries: &'v [Entry], i: usize) -> usize {
        match self {
            FirstIndex::Small => entries[..i].iter().position(|e| same_key(&e.key, &entries[i].key)).unwrap_or(i),
            FirstIndex::Large(seen) => *seen.entry(&*entries[i].key).or_insert(i),
        }
    }
}

/// Key equality for the short keys of the format, compared byte by byte in
/// line: a `memcmp` call per comparison costs more than the comparison when
/// every object compares each of its keys with a list of known ones. An
/// interned key ([`crate::frontend::value::intern`]) is often the very
/// same string, found by its address.
#[inline]
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && (std::ptr::eq(a.as_ptr(), b.as_ptr()) || a.bytes().zip(b.bytes()).all(|(x, y)| x == y))
}

/// Every string in `v` that looks like a credential of a certain kind (not
/// merely high-entropy: an id is not a leak), with what it looks like.
fn credentials(v: &Value, out: &mut Vec<(Span, &'static str)>) {
    match &v.kind {
        Kind::Str(s) => {
            if let Some(what) = crate::validate::rules::looks_like_secret(s).filter(|w| *w != crate::validate::rules::HIGH_ENTROPY) {
                out.push((v.span, what));
            }
        }
        Kind::Array(items) => items.iter().for_each(|i| credentials(i, out)),
        Kind::Object(entries) => entries.iter().for_each(|e| credentials(&e.value, out)),
        _ => {}
    }
}

/// Whether `s` is a number as JSON and KDL write one (an integer when `integer`).
fn is_number(s: &str, integer: bool) -> bool {
    let plain = !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit() || b"+-.eE".contains(&c));
    plain
        && if integer {
            s.parse::<i64>().is_ok()
        } else {
            s.parse::<f64>().is_ok_and(f64::is_finite)
        }
}

/// Where a key that is unknown in one object belongs instead: (the `what`
/// fragment of the object it belongs to, KDL wording, JSON wording).
fn home_of(key: &str) -> Option<(&'static str, &'static str, &'static str)> {
    const ENV: (&str, &str, &str) = ("env `", "an `env \"<name>\" { … }` block", "an environment object under `envs`");
    const AI: (&str, &str, &str) = ("`ai`", "`ai { … }`", "the `ai` object");
    const RAG: (&str, &str, &str) = ("`rag`", "`rag` (e.g. `rag chunk-size=800`)", "the `rag` object");
    const SESSIONS: (&str, &str, &str) = (
        "`sessions`",
        "`sessions` (e.g. `sessions retention-days=30`)",
        "the `sessions` object",
    );
    const CACHE: (&str, &str, &str) = ("`cache`", "`cache` (e.g. `cache search-ttl=300`)", "the `cache` object");
    const SAFETY: (&str, &str, &str) = ("`safety`", "`safety` (e.g. `safety max-input-chars=8000`)", "the `safety` object");
    const TTS: (&str, &str, &str) = ("`tts`", "`tts` (e.g. `tts enabled=#true`)", "the `tts` object");
    const LIMITS: (&str, &str, &str) = ("`rate_limits`", "`rate-limit { … }`", "the `rate_limits` object");
    const BUDGET: (&str, &str, &str) = (
        "`budget`",
        "`budget` inside `ai` (e.g. `budget tokens-per-day=2000000`)",
        "`ai.budget`",
    );
    const RESOLUTION: (&str, &str, &str) = (
        "`resolution`",
        "`resolution` (e.g. `resolution header=\"dev-only\"`)",
        "the `resolution` object",
    );
    const AUTH: (&str, &str, &str) = (
        "`auth`",
        "`auth { … }` (tenant-level, or inside an `env` block to replace it there)",
        "the `auth` object (tenant-level, or in an environment to replace it there)",
    );
    const JWT: (&str, &str, &str) = (
        "`jwt`",
        "`jwt` inside `auth` (e.g. `jwt issuer=\"…\" audience=\"…\" { user-claim \"sub\" }`)",
        "`auth.jwt`",
    );
    const PROVIDER: (&str, &str, &str) = (
        "provider` of",
        "`ai-provider` inside an `env` block (e.g. `ai-provider \"gateway\" token-secret=\"GATEWAY_TOKEN\"`)",
        "an environment's `ai_provider` object",
    );
    Some(match key {
        "jwt" | "access" | "api_keys" => AUTH,
        "ai_provider" => ENV,
        "base_url" | "api_key_secret" | "token_secret" => PROVIDER,
        "timeout_ms" | "retries" => AI,
        "user_claim" | "roles_claim" | "clock_skew" => JWT,
        "host" | "hosts" | "kv" | "vectorize" | "analytics_engine" | "queue" | "queues" => ENV,
        "gateway" | "chat" | "embedding" | "routes" | "route" | "budget" => AI,
        "chunk_size" | "overlap" | "top_k" | "min_score" | "hybrid" | "rerank" | "ingest_role" => RAG,
        "retention_days" | "retention_seconds" | "max_messages" => SESSIONS,
        "search_ttl" | "chat_ttl" => CACHE,
        "max_input_chars" | "pii_redaction" | "blocked_terms" => SAFETY,
        "voice" | "max_chars" => TTS,
        "user" | "ip" => LIMITS,
        "tokens_per_day" | "user_tokens_per_day" => BUDGET,
        "header" => RESOLUTION,
        _ => return None,
    })
}
