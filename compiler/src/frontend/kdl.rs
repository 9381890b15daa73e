//! KDL v2 front end over the `kdl` crate.
//!
//! KDL documents are mapped onto the same [`Value`] tree as JSON through a
//! small table of node rules per context ([`rules`]). Everything not in the
//! table follows the default mapping:
//!
//! - a node name or property name is a key, `kebab-case` → `snake_case`;
//! - a node with exactly one argument and nothing else is that scalar value;
//!   with several arguments, a list;
//! - a node with properties and/or children is an object of both;
//! - a repeated node is kept repeated; the decoder reports the duplicate.
//!
//! The rules add what JSON writes as maps and lists: `env "dev" {…}` is an
//! entry of `envs`, `host "a"` an element of `hosts`, `kv CACHE id=…` the entry
//! `kv.CACHE`, `fallback "…"` an element of `fallbacks`, and so on.
//! `docs/tenant-format.md` lists them.

use kdl::{KdlDocument, KdlNode, KdlValue};

use super::DocKind;
use crate::diag::{Diagnostic, Diagnostics};
use crate::frontend::value::{intern, Entry, Key, Kind, Value};
use crate::source::{FileId, Span};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ctx {
    Default,
    TenantRoot,
    Tenant,
    TenantEnv,
    Ai,
    /// Inside `chat` and `route`: `fallback` nodes.
    AiModel,
    RateLimits,
    Auth,
    AuthMethod,
    PlatformRoot,
    Platform,
    AccountsRoot,
}

#[derive(Clone, Copy, Debug)]
enum Collect {
    /// The node's object becomes the whole document (root nodes).
    Root,
    /// `key: value` once.
    One,
    /// Appended to the list at `key`.
    List,
    /// Entry `first-arg → value` of the object at `key`.
    Map,
}

#[derive(Clone, Copy, Debug)]
enum Arg {
    /// Default mapping (see module docs).
    Auto,
    /// The (remaining) single argument is the value.
    Value,
    /// The (remaining) single argument goes into this field of the node's object.
    Field(&'static str),
    /// All (remaining) arguments form a list.
    Values,
}

struct Rule {
    node: &'static str,
    key: &'static str,
    collect: Collect,
    arg: Arg,
    /// A field set from the node name (binding kind in the platform file).
    tag: Option<&'static str>,
    children: Ctx,
}

const fn r(node: &'static str, key: &'static str, collect: Collect, arg: Arg, children: Ctx) -> Rule {
    Rule {
        node,
        key,
        collect,
        arg,
        tag: None,
        children,
    }
}
const fn binding(node: &'static str) -> Rule {
    Rule {
        node,
        key: "bindings",
        collect: Collect::Map,
        arg: Arg::Auto,
        tag: Some("type"),
        children: Ctx::Default,
    }
}

static TENANT_ROOT: &[Rule] = &[r("tenant", "", Collect::Root, Arg::Field("id"), Ctx::Tenant)];
static TENANT: &[Rule] = &[
    r("env", "envs", Collect::Map, Arg::Auto, Ctx::TenantEnv),
    r("tool", "tools", Collect::Map, Arg::Auto, Ctx::Default),
    r("var", "vars", Collect::Map, Arg::Value, Ctx::Default),
    r("secrets", "secrets", Collect::One, Arg::Values, Ctx::Default),
    r("ai", "ai", Collect::One, Arg::Auto, Ctx::Ai),
    r("rate-limit", "rate_limits", Collect::One, Arg::Auto, Ctx::RateLimits),
    r("auth", "auth", Collect::One, Arg::Auto, Ctx::Auth),
];
static TENANT_ENV: &[Rule] = &[
    r("host", "hosts", Collect::List, Arg::Value, Ctx::Default),
    r("cors-origin", "cors_origins", Collect::List, Arg::Value, Ctx::Default),
    r("kv", "kv", Collect::Map, Arg::Auto, Ctx::Default),
    r("vectorize", "vectorize", Collect::Map, Arg::Auto, Ctx::Default),
    r("analytics-engine", "analytics_engine", Collect::Map, Arg::Auto, Ctx::Default),
    r("queue", "queues", Collect::Map, Arg::Auto, Ctx::Default),
    r("var", "vars", Collect::Map, Arg::Value, Ctx::Default),
    r("auth", "auth", Collect::One, Arg::Auto, Ctx::Auth),
    r("ai-provider", "ai_provider", Collect::One, Arg::Field("kind"), Ctx::Default),
];
static AI: &[Rule] = &[
    r("chat", "chat", Collect::One, Arg::Field("model"), Ctx::AiModel),
    r("embedding", "embedding", Collect::One, Arg::Field("model"), Ctx::Default),
    r("tts", "tts", Collect::One, Arg::Field("model"), Ctx::Default),
    r("route", "routes", Collect::Map, Arg::Auto, Ctx::AiModel),
];
/// Inside `chat` and `route`: one `fallback "<model>"` node per fallback, in order.
static AI_MODEL: &[Rule] = &[r("fallback", "fallbacks", Collect::List, Arg::Value, Ctx::Default)];
static RATE_LIMITS: &[Rule] = &[
    r("tenant", "tenant", Collect::One, Arg::Field("limit"), Ctx::Default),
    r("user", "user", Collect::One, Arg::Field("limit"), Ctx::Default),
    r("ip", "ip", Collect::One, Arg::Field("limit"), Ctx::Default),
];
static AUTH: &[Rule] = &[
    r("jwt", "jwt", Collect::One, Arg::Auto, Ctx::AuthMethod),
    r("access", "access", Collect::One, Arg::Auto, Ctx::AuthMethod),
];
/// Inside `jwt` and `access`: each `key kid=… kty=… …` node is one inline JWK.
static AUTH_METHOD: &[Rule] = &[r("key", "keys", Collect::List, Arg::Auto, Ctx::Default)];
static PLATFORM_ROOT: &[Rule] = &[r("platform", "", Collect::Root, Arg::Field("worker"), Ctx::Platform)];
static PLATFORM: &[Rule] = &[
    r(
        "compatibility-flags",
        "compatibility_flags",
        Collect::One,
        Arg::Values,
        Ctx::Default,
    ),
    r("environment", "environments", Collect::Map, Arg::Auto, Ctx::Default),
    binding("kv"),
    binding("durable-object"),
    binding("vectorize"),
    binding("ai"),
    binding("analytics-engine"),
    binding("queue"),
    r("model", "models", Collect::Map, Arg::Auto, Ctx::Default),
    r("tool", "tools", Collect::Map, Arg::Auto, Ctx::Default),
    r("not-secret", "not_secrets", Collect::Map, Arg::Auto, Ctx::Default),
];
static ACCOUNTS_ROOT: &[Rule] = &[r("account", "accounts", Collect::Map, Arg::Auto, Ctx::Default)];

fn rules(ctx: Ctx) -> &'static [Rule] {
    match ctx {
        Ctx::Default => &[],
        Ctx::TenantRoot => TENANT_ROOT,
        Ctx::Tenant => TENANT,
        Ctx::TenantEnv => TENANT_ENV,
        Ctx::Ai => AI,
        Ctx::AiModel => AI_MODEL,
        Ctx::RateLimits => RATE_LIMITS,
        Ctx::Auth => AUTH,
        Ctx::AuthMethod => AUTH_METHOD,
        Ctx::PlatformRoot => PLATFORM_ROOT,
        Ctx::Platform => PLATFORM,
        Ctx::AccountsRoot => ACCOUNTS_ROOT,
    }
}

/// The KDL node name that writes a JSON key in a given object, where it is
/// not simply the kebab-case key (used for did-you-mean suggestions).
pub fn node_name_for(json_key: &str) -> Option<&'static str> {
    for table in [
        TENANT,
        TENANT_ENV,
        AI,
        AI_MODEL,
        RATE_LIMITS,
        AUTH,
        AUTH_METHOD,
        PLATFORM,
        ACCOUNTS_ROOT,
    ] {
        for rule in table {
            if rule.key == json_key && rule.tag.is_none() {
                return Some(rule.node);
            }
        }
    }
    None
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// JSON keys that have no KDL spelling of their own (written through node
/// kinds, e.g. `kv CACHE` for `bindings.CACHE`); never suggested to KDL users.
pub fn hidden_in_kdl(json_key: &str) -> bool {
    matches!(json_key, "$schema" | "bindings")
}

pub fn kebab_to_snake(s: &str) -> String {
    s.replace('-', "_")
}
pub fn snake_to_kebab(s: &str) -> String {
    s.replace('_', "-")
}

pub fn parse(text: &str, file: FileId, kind: DocKind, diags: &mut Diagnostics) -> Option<Value> {
    // The fast path returns the reference parser's document or nothing.
    let doc = match super::kdl_fast::parse(text).map(Ok).unwrap_or_else(|| KdlDocument::parse_v2(text)) {
        Ok(doc) => doc,
        Err(err) => {
            // KDL v1 spellings first: the parser's own messages on their
            // lines say less (and twice), so those are left out.
            let habits = super::slips::kdl_v1_habits(text, file);
            let line_of = |at: usize| text.as_bytes()[..at.min(text.len())].iter().filter(|c| **c == b'\n').count();
            let habit_lines: Vec<usize> = habits.iter().map(|d| line_of(d.primary().start as usize)).collect();
            for d in habits {
                diags.push(d);
            }
            for d in err.diagnostics {
                let start = d.span.offset().min(text.len());
                let end = (start + d.span.len()).min(text.len());
                if habit_lines.contains(&line_of(start)) {
                    continue;
                }
                let mut msg = d.message.unwrap_or_else(|| "invalid KDL".to_string());
                if let Some(first) = msg.get(..1) {
                    msg = first.to_lowercase() + &msg[1..];
                }
                let unclosed = msg == "unexpected newline in single-line quoted string";
                let mut diag = Diagnostic::error(
                    "syntax::kdl",
                    msg,
                    Span::new(file, start, end),
                    d.label.unwrap_or_else(|| "here".into()),
                );
                let word: String = text[start..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                if matches!(word.as_str(), "true" | "false" | "null" | "inf" | "nan") {
                    let span = Span::new(file, start, start + word.len());
                    diag = Diagnostic::error("syntax::kdl-v1", format!("`{word}` without `#` is KDL v1"), span, "KDL v1 spelling")
                        .with_help(format!("KDL v2 writes keywords with a `#`: `#{word}`"))
                        .with_fix(format!("write `#{word}`"), span, format!("#{word}"));
                } else if unclosed {
                    diag = Diagnostic::error(
                        "syntax::kdl",
                        "a string is not closed on its line",
                        Span::new(file, start, start + 1),
                        "the string opens here",
                    )
                    .with_help("close it with `\"` on the same line; a string over several lines is written between `\"\"\"` lines");
                } else if let Some(h) = d.help {
                    diag = diag.with_help(lower_first(&h));
                } else if diag.message.contains("closing '}'") {
                    diag = diag.with_help("every `{` needs its `}`: check the braces from the block that opens here to the end of the file (an editor's bracket matching helps)");
                } else {
                    diag = diag.with_help("KDL v2 writes a node as `name \"argument\" key=\"value\" { children }`, strings in double quotes, keywords as `#true`, `#false` and `#null`, comments with `//` (docs/tenant-format.md#formats-kdl-json-jsonc)");
                }
                diags.push(diag);
            }
            return None;
        }
    };
    let root_ctx = match kind {
        DocKind::Tenant => Ctx::TenantRoot,
        DocKind::Platform => Ctx::PlatformRoot,
        DocKind::Accounts => Ctx::AccountsRoot,
    };
    let errors_before = diags.error_count();
    let mut cv = Converter { file, diags };
    let doc_span = Span::new(file, 0, text.len());
    match kind {
        DocKind::Accounts => {
            let entries = cv.children(&doc, root_ctx);
            Some(Value {
                span: doc_span,
                kind: Kind::Object(entries),
            })
        }
        DocKind::Tenant | DocKind::Platform => {
            let root_name = if kind == DocKind::Tenant { "tenant" } else { "platform" };
            let mut root: Option<Value> = None;
            for node in doc.nodes() {
                let name = node.name().value();
                if name == root_name {
                    if root.is_some() {
                        cv.diags.push(
                            Diagnostic::error(
                                "schema::duplicate-key",
                                format!("a second `{root_name}` node"),
                                cv.span(node.name().span()),
                                "second declaration",
                            )
                            .with_help(format!("one file declares exactly one {root_name}")),
                        );
                        continue;
                    }
                    let rule = &rules(root_ctx)[0];
                    root = Some(cv.node_object(node, rule.arg, rule.children, None));
                } else {
                    let mut d = Diagnostic::error(
                        "schema::unknown-key",
                        format!("unknown top-level node `{name}`"),
                        cv.span(node.name().span()),
                        format!("expected `{root_name}`"),
                    );
                    d = d.with_help(format!("everything goes inside the `{root_name} \"…\" {{ … }}` node"));
                    cv.diags.push(d);
                }
            }
            if root.is_none() && cv.diags.error_count() == errors_before {
                cv.diags.push(
                    Diagnostic::error(
                        "schema::missing",
                        format!("no `{root_name}` node"),
                        Span::file_start(file),
                        "expected here",
                    )
                    .with_help(format!("the file must declare `{root_name} \"<id>\" {{ … }}`")),
                );
            }
            root
        }
    }
}

struct Converter<'d> {
    file: FileId,
    diags: &'d mut Diagnostics,
}

impl Converter<'_> {
    fn span(&self, s: miette::SourceSpan) -> Span {
        Span::new(self.file, s.offset(), s.offset() + s.len())
    }

    fn scalar(&mut self, v: &KdlValue, span: Span) -> Value {
        let kind = match v {
            KdlValue::String(s) => Kind::Str(s.clone()),
            KdlValue::Integer(i) => match i64::try_from(*i) {
                Ok(i) => Kind::Int(i),
                Err(_) => Kind::Float(*i as f64),
            },
            KdlValue::Float(f) if f.is_finite() => Kind::Float(*f),
            KdlValue::Float(_) => {
                self.diags.push(Diagnostic::error(
                    "schema::type",
                    "non-finite numbers are not allowed",
                    span,
                    "here",
                ));
                Kind::Invalid
            }
            KdlValue::Bool(b) => Kind::Bool(*b),
            KdlValue::Null => Kind::Null,
        };
        Value { span, kind }
    }

    /// Convert the children of a node (or a document) under `ctx`.
    fn children(&mut self, doc: &KdlDocument, ctx: Ctx) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for node in doc.nodes() {
            let name = node.name().value();
            let name_span = self.span(node.name().span());
            let rule = rules(ctx).iter().find(|r| r.node == name);
            if rule.is_none() {
                // The JSON spelling of a key that KDL writes differently
                // (`hosts` for `host`, `rate-limits` for `rate-limit`), or a
                // snake_case name: point at the KDL spelling instead of
                // accepting it or reporting a confusing cascade.
                let snake = kebab_to_snake(name);
                let alias = rules(ctx)
                    .iter()
                    .find(|r| r.key == snake && r.node != name && r.tag.is_none() && !matches!(r.collect, Collect::Root));
                if alias.is_some() || name.contains('_') {
                    let suggestion = alias.map(|r| r.node.to_string()).unwrap_or_else(|| snake_to_kebab(name));
                    self.diags.push(
                        Diagnostic::error("schema::unknown-key", format!("unknown node `{name}`"), name_span, "unknown node").with_help(
                            format!("did you mean `{suggestion}`? (KDL names use dashes; lists and maps are written as one node per item)"),
                        ),
                    );
                    continue;
                }
            }
            match rule {
                None => {
                    let v = self.auto_value(node, Ctx::Default);
                    out.push(Entry {
                        key: intern(&kebab_to_snake(name)),
                        key_span: name_span,
                        value: v,
                    });
                }
                Some(rule) => match rule.collect {
                    Collect::Root => {}
                    Collect::One => {
                        let v = self.node_value(node, rule.arg, rule.children, rule.tag.map(|t| (t, name)), 0);
                        out.push(Entry {
                            key: Key::Borrowed(rule.key),
                            key_span: name_span,
                            value: v,
                        });
                    }
                    Collect::List => {
                        let v = self.node_value(node, rule.arg, rule.children, None, 0);
                        let node_span = self.span(node.span());
                        match out.iter_mut().find(|e| e.key == rule.key) {
                            Some(Entry {
                                value:
                                    Value {
                                        kind: Kind::Array(items), ..
                                    },
                                ..
                            }) => items.push(v),
                            _ => out.push(Entry {
                                key: Key::Borrowed(rule.key),
                                key_span: name_span,
                                value: Value {
                                    span: node_span,
                                    kind: Kind::Array(vec![v]),
                                },
                            }),
                        }
                    }
                    Collect::Map => {
                        let node_span = self.span(node.span());
                        let first = node.entries().iter().find(|e| e.name().is_none());
                        let Some(first) = first else {
                            self.diags.push(
                                Diagnostic::error(
                                    "schema::missing",
                                    format!("`{name}` needs a name as its first argument"),
                                    name_span,
                                    "no name",
                                )
                                .with_help(format!("write `{name} \"<name>\" …`")),
                            );
                            continue;
                        };
                        let key_span = self.span(first.span());
                        let key = match first.value() {
                            KdlValue::String(s) => intern(s),
                            other => {
                                self.diags.push(Diagnostic::error(
                                    "schema::type",
                                    format!("the name of `{name}` must be a string, found {other}"),
                                    key_span,
                                    "expected a string",
                                ));
                                continue;
                            }
                        };
                        let v = self.node_value(node, rule.arg, rule.children, rule.tag.map(|t| (t, name)), 1);
                        let entry = Entry { key, key_span, value: v };
                        match out.iter_mut().find(|e| e.key == rule.key) {
                            Some(Entry {
                                value:
                                    Value {
                                        kind: Kind::Object(items), ..
                                    },
                                ..
                            }) => items.push(entry),
                            _ => out.push(Entry {
                                key: Key::Borrowed(rule.key),
                                key_span: name_span,
                                value: Value {
                                    span: node_span,
                                    kind: Kind::Object(vec![entry]),
                                },
                            }),
                        }
                    }
                },
            }
        }
        out
    }

    /// The default mapping for a node without a rule.
    fn auto_value(&mut self, node: &KdlNode, children: Ctx) -> Value {
        self.node_value(node, Arg::Auto, children, None, 0)
    }

    /// Value of a node, skipping the first `skip` arguments (a map key).
    fn node_value(&mut self, node: &KdlNode, arg: Arg, children: Ctx, tag: Option<(&'static str, &str)>, skip: usize) -> Value {
        let node_span = self.span(node.span());
        let args: Vec<_> = node.entries().iter().filter(|e| e.name().is_none()).skip(skip).collect();
        let has_props = node.entries().iter().any(|e| e.name().is_some());
        let has_children = node.children().is_some_and(|c| !c.nodes().is_empty());
        let is_object = has_props || has_children || tag.is_some() || matches!(arg, Arg::Field(_));
        match arg {
            Arg::Values if !is_object => {
                let items = args.iter().map(|e| self.scalar(e.value(), self.span(e.span()))).collect();
                return Value {
                    span: node_span,
                    kind: Kind::Array(items),
                };
            }
            Arg::Value | Arg::Auto if !is_object && args.len() == 1 => {
                return self.scalar(args[0].value(), self.span(args[0].span()));
            }
            Arg::Auto if !is_object && args.len() > 1 => {
                let items = args.iter().map(|e| self.scalar(e.value(), self.span(e.span()))).collect();
                return Value {
                    span: node_span,
                    kind: Kind::Array(items),
                };
            }
            Arg::Value if !is_object && args.is_empty() => {
                self.diags.push(Diagnostic::error(
                    "schema::missing",
                    format!("`{}` needs a value", node.name().value()),
                    node_span,
                    "no value given",
                ));
                return Value {
                    span: node_span,
                    kind: Kind::Invalid,
                };
            }
            _ => {}
        }
        // An object: props, children, and possibly one argument as a field.
        let mut entries = Vec::new();
        if let Some((field, value)) = tag {
            entries.push(Entry {
                key: Key::Borrowed(field),
                key_span: self.span(node.name().span()),
                value: Value {
                    span: self.span(node.name().span()),
                    kind: Kind::Str(value.to_string()),
                },
            });
        }
        let mut args_iter = args.iter();
        if let Arg::Field(field) = arg {
            if let Some(a) = args_iter.next() {
                let span = self.span(a.span());
                entries.push(Entry {
                    key: Key::Borrowed(field),
                    key_span: span,
                    value: self.scalar(a.value(), span),
                });
            }
        }
        for extra in args_iter {
            let mut d = Diagnostic::error(
                "schema::unexpected-argument",
                format!("unexpected argument to `{}`", node.name().value()),
                self.span(extra.span()),
                "not expected here",
            );
            d = d.with_help(match arg {
                Arg::Field(f) => format!(
                    "`{}` takes one argument ({}); other settings are properties like `key=value`",
                    node.name().value(),
                    snake_to_kebab(f)
                ),
                _ => "settings are written as properties (`key=value`) or child nodes".to_string(),
            });
            self.diags.push(d);
        }
        for e in node.entries() {
            if let Some(name) = e.name() {
                let span = self.span(e.span());
                if name.value().contains('_') {
                    self.diags.push(
                        Diagnostic::error(
                            "schema::unknown-key",
                            format!("unknown property `{}`", name.value()),
                            self.span(name.span()),
                            "unknown property",
                        )
                        .with_help(format!("did you mean `{}`? KDL names use dashes", snake_to_kebab(name.value()))),
                    );
                    continue;
                }
                entries.push(Entry {
                    key: intern(&kebab_to_snake(name.value())),
                    key_span: self.span(name.span()),
                    value: self.scalar(e.value(), span),
                });
            }
        }
        if let Some(doc) = node.children() {
            entries.extend(self.children(doc, children));
        }
        Value {
            span: node_span,
            kind: Kind::Object(entries),
        }
    }

    fn node_object(&mut self, node: &KdlNode, arg: Arg, children: Ctx, tag: Option<(&'static str, &str)>) -> Value {
        self.node_value(node, arg, children, tag, 0)
    }
}
