//! Diagnostics: one type for every problem the compiler finds, and its three
//! renderings (human via miette, JSON, GitHub annotations).
//!
//! Invariants:
//! - every diagnostic has a stable `code` (`area::subject::problem`), a
//!   message, and at least one label; the first label is the primary one and
//!   decides file, line and column in machine output;
//! - labels may point into several files (a host claimed twice has a label in
//!   each tenant file); the human renderer shows the secondary files as
//!   related reports, each with its own source;
//! - diagnostics are sorted by (file, offset, code) before printing, so output
//!   is deterministic;
//! - a [`Fix`] is attached only where the repair is certain (a quoted number
//!   where a number belongs, a misspelled key with exactly one close match):
//!   `tenants check --fix` applies fixes without asking, as text edits that
//!   leave comments and formatting alone.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use serde::Serialize;

use crate::source::{FileId, SourceMap, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
    /// A location the problem is as much at as the first label's: the other
    /// file of a conflict between two files, the var of a secret/var clash.
    /// The first label is always primary. `--format github` annotates each
    /// primary label; [`blame_changed`] moves one in a changed file first.
    pub primary: bool,
}

/// One text edit: replace the bytes of `span` with `replacement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub span: Span,
    pub replacement: String,
}

/// A machine-applicable repair: what it does, and its edits (never
/// overlapping, all in the diagnostic's primary file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub message: String,
    pub edits: Vec<Edit>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    /// First label is the primary location.
    pub labels: Vec<Label>,
    pub help: Option<String>,
    /// Set only when the repair is certain.
    pub fix: Option<Fix>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            labels: vec![Label {
                span,
                message: label.into(),
                primary: true,
            }],
            help: None,
            fix: None,
        }
    }
    pub fn warning(code: &'static str, message: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message, span, label)
        }
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: false,
        });
        self
    }
    /// Another primary location (see [`Label::primary`]).
    pub fn with_primary_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: true,
        });
        self
    }
    /// A certain repair: replace `span` with `replacement`.
    pub fn with_fix(mut self, message: impl Into<String>, span: Span, replacement: impl Into<String>) -> Self {
        self.fix = Some(Fix {
            message: message.into(),
            edits: vec![Edit {
                span,
                replacement: replacement.into(),
            }],
        });
        self
    }
    pub fn primary(&self) -> Span {
        self.labels[0].span
    }
}

/// Collects diagnostics; never stops a pass early.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
    /// Errors in `items` (kept by `push` and `sort`).
    errors: usize,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        if d.severity == Severity::Error {
            self.errors += 1;
        }
        self.items.push(d);
    }
    /// Recount the errors after `items` was extended directly.
    pub fn recount(&mut self) {
        self.errors = self.items.iter().filter(|d| d.severity == Severity::Error).count();
    }
    /// O(1): passes call this per tenant to see whether they added errors.
    pub fn error_count(&self) -> usize {
        self.errors
    }
    pub fn warning_count(&self) -> usize {
        self.items.iter().filter(|d| d.severity == Severity::Warning).count()
    }
    pub fn has_errors(&self) -> bool {
        self.error_count() > 0
    }
    /// Deterministic order: file, start offset, code, message.
    pub fn sort(&mut self) {
        self.items.sort_by(|a, b| {
            let (pa, pb) = (a.primary(), b.primary());
            (pa.file, pa.start, a.code, &a.message).cmp(&(pb.file, pb.start, b.code, &b.message))
        });
        self.items.dedup();
        self.errors = self.items.iter().filter(|d| d.severity == Severity::Error).count();
    }
}

/// Whether `candidate` is close enough to `name` to be suggested for it.
fn is_close(name: &str, candidate: &str) -> bool {
    strsim::jaro_winkler(name, candidate) >= 0.8 || (strsim::levenshtein(name, candidate) <= 2 && candidate.len() > 2)
}

/// Candidates within two edits of `name` (a misspelling rather than a
/// different word): a rename is certain only when there is exactly one.
pub fn close_matches<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    candidates
        .into_iter()
        .filter(|c| c.len() > 3 && strsim::levenshtein(&name.to_lowercase(), c) <= 2)
        .collect()
}

/// Suggest the closest candidate for a misspelled name (Jaro-Winkler ≥ 0.8, or
/// a Levenshtein distance of at most 2 for short names).
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(name, c);
        let ok = is_close(name, c);
        // Ties go to the alphabetically first candidate, so suggestions are
        // stable whatever order the candidates come in.
        if ok && best.is_none_or(|(s, b)| score > s || (score == s && c < b)) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

// ---------------------------------------------------------------- rendering

/// A location resolved to file name, line and column (1-based).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

pub fn locate(sources: &SourceMap, span: Span) -> Location {
    let f = sources.get(span.file);
    let (line, column) = f.line_col(span.start);
    let (end_line, end_column) = f.line_col(span.end);
    Location {
        file: f.name.clone(),
        line,
        column,
        end_line,
        end_column,
    }
}

#[derive(Serialize)]
struct JsonLabel {
    #[serde(flatten)]
    location: Location,
    message: String,
    /// The problem is as much here as at the diagnostic's own location.
    primary: bool,
}

#[derive(Serialize)]
struct JsonDiagnostic {
    severity: Severity,
    code: &'static str,
    message: String,
    file: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    help: Option<String>,
    labels: Vec<JsonLabel>,
    /// Present only when the repair is certain (`tenants check --fix` applies it).
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<JsonFix>,
}

#[derive(Serialize)]
struct JsonFix {
    message: String,
    edits: Vec<JsonEdit>,
}

#[derive(Serialize)]
struct JsonEdit {
    #[serde(flatten)]
    location: Location,
    /// Byte offsets of the replaced text in the file.
    start: u32,
    end: u32,
    replacement: String,
}

/// Counts printed with every report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub tenants: usize,
    pub errors: usize,
    pub warnings: usize,
    pub valid: bool,
}

/// `--format json`: one object `{"diagnostics":[…],"summary":{…}}`.
pub fn render_json(sources: &SourceMap, diags: &[Diagnostic], summary: &Summary) -> String {
    let list: Vec<JsonDiagnostic> = diags
        .iter()
        .map(|d| {
            let loc = locate(sources, d.primary());
            JsonDiagnostic {
                severity: d.severity,
                code: d.code,
                message: d.message.clone(),
                file: loc.file.clone(),
                line: loc.line,
                column: loc.column,
                end_line: loc.end_line,
                end_column: loc.end_column,
                help: d.help.clone(),
                labels: d
                    .labels
                    .iter()
                    .map(|l| JsonLabel {
                        location: locate(sources, l.span),
                        message: l.message.clone(),
                        primary: l.primary,
                    })
                    .collect(),
                fix: d.fix.as_ref().map(|f| JsonFix {
                    message: f.message.clone(),
                    edits: f
                        .edits
                        .iter()
                        .map(|e| JsonEdit {
                            location: locate(sources, e.span),
                            start: e.span.start,
                            end: e.span.end,
                            replacement: e.replacement.clone(),
                        })
                        .collect(),
                }),
            }
        })
        .collect();
    let v = serde_json::json!({ "diagnostics": list, "summary": summary });
    let mut s = serde_json::to_string_pretty(&v).expect("diagnostics serialize");
    s.push('\n');
    s
}

/// GitHub workflow commands escape `%`, CR and LF in data, and also `:` and
/// `,` in properties.
fn gh_escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}
fn gh_escape_prop(s: &str) -> String {
    gh_escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `--format github`: one `::error …::message` line per diagnostic and
/// primary label, so that a conflict between two files is annotated in
/// both (a pull request shows the one it touched).
pub fn render_github(sources: &SourceMap, diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let kind = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut msg = d.message.clone();
        for l in &d.labels {
            if !l.message.is_empty() {
                let ll = locate(sources, l.span);
                msg.push_str(&format!("\n{}:{}:{}: {}", ll.file, ll.line, ll.column, l.message));
            }
        }
        if let Some(h) = help_with_fix(d) {
            msg.push_str("\nhelp: ");
            msg.push_str(&h);
        }
        for l in d.labels.iter().filter(|l| l.primary) {
            let loc = locate(sources, l.span);
            out.push_str(&format!(
                "::{kind} file={},line={},col={},endLine={},endColumn={},title={}::{}\n",
                gh_escape_prop(&loc.file),
                loc.line,
                loc.column,
                loc.end_line,
                loc.end_column,
                gh_escape_prop(d.code),
                gh_escape_data(&msg)
            ));
        }
    }
    out
}

/// Make a primary label in a changed file the diagnostic's location: for a
/// conflict between two files, the file the change touched is the one to
/// blame (`tenants check --changed-since REV`, or files named on the
/// command line). `changed` says whether a file changed.
pub fn blame_changed(diags: &mut [Diagnostic], changed: impl Fn(FileId) -> bool) {
    for d in diags {
        // A repair edits its diagnostic's own file: its location stays.
        if d.fix.is_some() || changed(d.labels[0].span.file) {
            continue;
        }
        if let Some(i) = d.labels.iter().position(|l| l.primary && changed(l.span.file)) {
            d.labels.swap(0, i);
        }
    }
}

/// A diagnostic prepared for miette: labels of one file, with that file's source.
#[derive(Debug)]
struct MietteReport {
    severity: Severity,
    code: &'static str,
    message: String,
    help: Option<String>,
    src: NamedSource<std::sync::Arc<str>>,
    labels: Vec<LabeledSpan>,
    related: Vec<MietteReport>,
}

impl fmt::Display for MietteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for MietteReport {}

impl miette::Diagnostic for MietteReport {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        if self.code.is_empty() {
            None
        } else {
            Some(Box::new(self.code))
        }
    }
    fn severity(&self) -> Option<miette::Severity> {
        if self.code.is_empty() {
            // A secondary file of a cross-file diagnostic.
            return Some(miette::Severity::Advice);
        }
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic)))
        }
    }
}

fn to_miette(sources: &SourceMap, d: &Diagnostic) -> MietteReport {
    let primary_file = d.primary().file;
    let mk_labels = |file| -> Vec<LabeledSpan> {
        d.labels
            .iter()
            .enumerate()
            .filter(|(_, l)| l.span.file == file)
            .map(|(i, l)| {
                let span = SourceSpan::new((l.span.start as usize).into(), l.span.len());
                let text = (!l.message.is_empty()).then(|| l.message.clone());
                if i == 0 {
                    LabeledSpan::new_primary_with_span(text, span)
                } else {
                    LabeledSpan::new_with_span(text, span)
                }
            })
            .collect()
    };
    let src = |file| {
        let f = sources.get(file);
        NamedSource::new(f.name.clone(), f.text.clone())
    };
    let mut others: Vec<_> = d.labels.iter().map(|l| l.span.file).filter(|f| *f != primary_file).collect();
    others.dedup();
    let mut seen = std::collections::HashSet::new();
    let related = others
        .into_iter()
        .filter(|f| seen.insert(*f))
        .map(|file| MietteReport {
            severity: d.severity,
            code: "",
            message: format!("see also {}", sources.get(file).name),
            help: None,
            src: src(file),
            labels: mk_labels(file),
            related: vec![],
        })
        .collect();
    MietteReport {
        severity: d.severity,
        code: d.code,
        message: d.message.clone(),
        help: help_with_fix(d),
        src: src(primary_file),
        labels: mk_labels(primary_file),
        related,
    }
}

/// Human output: miette's graphical report for each diagnostic. `color`
/// selects ANSI colours (off for snapshots and non-terminals).
pub fn render_human(sources: &SourceMap, diags: &[Diagnostic], color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false)
        .without_syntax_highlighting();
    let mut out = String::new();
    let mut per_file: std::collections::HashMap<crate::source::FileId, usize> = std::collections::HashMap::new();
    let mut hidden: std::collections::BTreeMap<crate::source::FileId, usize> = std::collections::BTreeMap::new();
    for d in diags {
        // A terminal shows the first MAX_HUMAN_PER_FILE of a file; the machine
        // formats always carry every diagnostic.
        let n = per_file.entry(d.primary().file).or_insert(0);
        *n += 1;
        if *n > MAX_HUMAN_PER_FILE {
            *hidden.entry(d.primary().file).or_insert(0) += 1;
            continue;
        }
        // miette cannot draw labels far right on very long lines (it panics
        // past column 65,535): such diagnostics get the plain form.
        let too_wide = d.labels.iter().any(|l| {
            let f = sources.get(l.span.file);
            let (_, col) = f.line_col(l.span.start);
            let (_, end_col) = f.line_col(l.span.end);
            col > MAX_RENDER_COLUMN || end_col > MAX_RENDER_COLUMN
        });
        if too_wide {
            out.push_str(&render_plain(sources, d));
            out.push('\n');
            continue;
        }
        let report = to_miette(sources, d);
        let mut s = String::new();
        if handler.render_report(&mut s, &report).is_err() {
            // Fall back to a plain line: rendering must never lose a diagnostic.
            let loc = locate(sources, d.primary());
            s = format!(
                "{}: {} [{}] at {}:{}:{}\n",
                sev_word(d.severity),
                d.message,
                d.code,
                loc.file,
                loc.line,
                loc.column
            );
        }
        out.push_str(&s);
        out.push('\n');
    }
    for (file, n) in hidden {
        out.push_str(&format!(
            "… and {n} more diagnostic(s) in {} not shown here (`--format json` lists all)\n\n",
            sources.get(file).name
        ));
    }
    out
}

/// Diagnostics per file drawn by [`render_human`].
pub const MAX_HUMAN_PER_FILE: usize = 100;

/// Widest column the graphical renderer is asked to draw.
const MAX_RENDER_COLUMN: usize = 4096;

/// A diagnostic without source snippets: header, every label's location, help.
fn render_plain(sources: &SourceMap, d: &Diagnostic) -> String {
    let mut s = format!("{}[{}]: {}\n", sev_word(d.severity), d.code, d.message);
    for l in &d.labels {
        let loc = locate(sources, l.span);
        s.push_str(&format!("  --> {}:{}:{}: {}\n", loc.file, loc.line, loc.column, l.message));
    }
    if let Some(h) = help_with_fix(d) {
        s.push_str(&format!("  help: {h}\n"));
    }
    s
}

/// The help, and (when there is one) the certain fix `--fix` would apply.
fn help_with_fix(d: &Diagnostic) -> Option<String> {
    match (&d.help, &d.fix) {
        (Some(h), Some(f)) => Some(format!("{h}\nfix: {} (`tenants check --fix` applies it)", f.message)),
        (None, Some(f)) => Some(format!("fix: {} (`tenants check --fix` applies it)", f.message)),
        (h, None) => h.clone(),
    }
}

fn sev_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// One line per diagnostic, `file:line:col: severity[code]: message`, for logs
/// and the build script.
pub fn render_short(sources: &SourceMap, diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let loc = locate(sources, d.primary());
        out.push_str(&format!(
            "{}:{}:{}: {}[{}]: {}\n",
            loc.file,
            loc.line,
            loc.column,
            sev_word(d.severity),
            d.code,
            d.message
        ));
    }
    out
}
