//! Documents reduced to plain text before chunking: Markdown through
//! pulldown-cmark, HTML through html5gum's tokenizer, plain text as is.
//!
//! Invariants:
//! - the output is text a person would read: no markup, no script or
//!   style content, no navigation; paragraphs are separated by one blank
//!   line, runs of spaces collapse to one, lines are trimmed;
//! - a document's title is its first level-one heading (Markdown), its
//!   `<title>` or else its first `<h1>` (HTML), or the first non-empty
//!   line (plain text) — used only when the request names no title;
//! - nothing here fails: malformed markup is read as well as it can be.

use serde::{Deserialize, Serialize};

/// How a document's `text` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Text,
    Markdown,
    Html,
}

/// A document as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub title: Option<String>,
    pub text: String,
}

/// Reduce `raw` (written in `format`) to plain text.
pub fn extract(format: Format, raw: &str) -> Extracted {
    match format {
        Format::Text => {
            let text = tidy(raw);
            let title = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(|l| l.chars().take(200).collect());
            Extracted { title, text }
        }
        Format::Markdown => markdown(raw),
        Format::Html => html(raw),
    }
}

fn markdown(raw: &str) -> Extracted {
    use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
    let mut out = String::with_capacity(raw.len());
    let mut title: Option<String> = None;
    let mut in_h1 = false;
    let mut h1 = String::new();
    for ev in Parser::new_ext(raw, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH) {
        match ev {
            Event::Start(Tag::Heading { level, .. }) => {
                out.push_str("\n\n");
                in_h1 = level == HeadingLevel::H1 && title.is_none();
            }
            Event::End(TagEnd::Heading(_)) => {
                if in_h1 {
                    title = Some(tidy(&h1));
                    in_h1 = false;
                }
                out.push_str("\n\n");
            }
            Event::Text(t) | Event::Code(t) => {
                if in_h1 {
                    h1.push_str(&t);
                }
                out.push_str(&t);
            }
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => out.push('\n'),
            Event::Start(Tag::Item) | Event::End(TagEnd::TableRow) | Event::End(TagEnd::TableHead) => out.push('\n'),
            Event::End(TagEnd::TableCell) => out.push(' '),
            Event::End(TagEnd::Paragraph | TagEnd::CodeBlock | TagEnd::BlockQuote(_) | TagEnd::List(_) | TagEnd::Table) => {
                out.push_str("\n\n")
            }
            Event::Rule => out.push_str("\n\n"),
            // Inline and block HTML inside Markdown: its text only.
            Event::Html(h) | Event::InlineHtml(h) => out.push_str(&html(&h).text),
            _ => {}
        }
    }
    Extracted { title, text: tidy(&out) }
}

/// Elements whose content is never text a reader sees.
const SKIPPED: &[&[u8]] = &[
    b"script",
    b"style",
    b"noscript",
    b"template",
    b"nav",
    b"svg",
    b"head",
    b"iframe",
    b"object",
];
/// Elements that end a paragraph.
const BLOCKS: &[&[u8]] = &[
    b"p",
    b"div",
    b"section",
    b"article",
    b"main",
    b"header",
    b"footer",
    b"aside",
    b"h1",
    b"h2",
    b"h3",
    b"h4",
    b"h5",
    b"h6",
    b"ul",
    b"ol",
    b"table",
    b"pre",
    b"blockquote",
    b"figure",
    b"dl",
    b"form",
    b"hr",
    b"body",
    b"html",
];
/// Elements that end a line.
const LINES: &[&[u8]] = &[b"br", b"li", b"tr", b"dt", b"dd", b"caption"];

fn html(raw: &str) -> Extracted {
    use html5gum::{DefaultEmitter, Token, Tokenizer};
    let mut emitter = DefaultEmitter::default();
    // Script and style content is raw text, not markup.
    emitter.naively_switch_states(true);
    let mut out = String::with_capacity(raw.len() / 2);
    let mut skip: Vec<Vec<u8>> = Vec::new();
    let (mut title, mut h1) = (String::new(), String::new());
    let (mut in_title, mut in_h1, mut h1_done) = (false, false, false);
    for tok in Tokenizer::new_with_emitter(raw, emitter).flatten() {
        match tok {
            Token::StartTag(t) => {
                let name = t.name.to_ascii_lowercase();
                if name == b"title" {
                    in_title = true;
                } else if name == b"h1" && !h1_done {
                    in_h1 = true;
                }
                if SKIPPED.contains(&name.as_slice()) && !t.self_closing {
                    skip.push(name.clone());
                }
                if BLOCKS.contains(&name.as_slice()) {
                    out.push_str("\n\n");
                } else if LINES.contains(&name.as_slice()) {
                    out.push('\n');
                } else if name == b"td" || name == b"th" {
                    out.push(' ');
                }
            }
            Token::EndTag(t) => {
                let name = t.name.to_ascii_lowercase();
                if name == b"title" {
                    in_title = false;
                } else if name == b"h1" && in_h1 {
                    in_h1 = false;
                    h1_done = true;
                }
                if let Some(i) = skip.iter().rposition(|s| *s == name) {
                    skip.truncate(i);
                }
                if BLOCKS.contains(&name.as_slice()) {
                    out.push_str("\n\n");
                }
            }
            Token::String(s) => {
                // Line ends in HTML source are spaces.
                let s = String::from_utf8_lossy(&s).replace(['\n', '\r'], " ");
                if in_title {
                    title.push_str(&s);
                }
                if !skip.is_empty() {
                    continue;
                }
                if in_h1 {
                    h1.push_str(&s);
                }
                out.push_str(&s);
            }
            _ => {}
        }
    }
    let title = [tidy(&title), tidy(&h1)].into_iter().find(|t| !t.is_empty());
    Extracted { title, text: tidy(&out) }
}

/// Collapse spaces and tabs, trim lines, keep at most one blank line.
pub fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = 0usize;
    for line in s.lines() {
        let mut l = String::with_capacity(line.len());
        for w in line.split(|c: char| c.is_whitespace()).filter(|w| !w.is_empty()) {
            if !l.is_empty() {
                l.push(' ');
            }
            l.push_str(w);
        }
        if l.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(&l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_loses_its_markup_and_keeps_its_title() {
        let md = "# Resetting a password\n\nOpen **Settings**, then `Account`.\nClick *Reset*.\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<div>inline <b>html</b></div>\n";
        let e = extract(Format::Markdown, md);
        assert_eq!(e.title.as_deref(), Some("Resetting a password"));
        assert!(
            e.text
                .starts_with("Resetting a password\n\nOpen Settings, then Account. Click Reset."),
            "{}",
            e.text
        );
        assert!(e.text.contains("one\ntwo"), "{}", e.text);
        assert!(e.text.contains("a b"), "{}", e.text);
        assert!(e.text.contains("inline html"), "{}", e.text);
        assert!(!e.text.contains('*') && !e.text.contains('`') && !e.text.contains('#') && !e.text.contains('|'));
    }

    #[test]
    fn html_keeps_the_reading_text_only() {
        let h = r#"<!doctype html><html><head><title>Billing &amp; invoices</title><style>p{color:red}</style></head>
<body><nav><a href="/">Home</a> | <a href="/x">Docs</a></nav><h1>Invoices</h1><p>Invoices are sent on the
 <b>1st</b> of&nbsp;each month.</p><script>var secret = "<p>not text</p>"; if (a < b) {}</script>
<ul><li>PDF</li><li>CSV</li></ul><p>Caf&eacute; &#8364;5</p></body></html>"#;
        let e = extract(Format::Html, h);
        assert_eq!(e.title.as_deref(), Some("Billing & invoices"));
        assert_eq!(
            e.text,
            "Invoices\n\nInvoices are sent on the 1st of each month.\n\nPDF\nCSV\n\nCafé €5"
        );
    }

    #[test]
    fn html_title_falls_back_to_the_first_h1() {
        let e = extract(Format::Html, "<h1>Only <i>heading</i></h1><h1>second</h1><p>x</p>");
        assert_eq!(e.title.as_deref(), Some("Only heading"));
    }

    #[test]
    fn broken_markup_never_fails() {
        for s in [
            "<p",
            "<script>never closed",
            "</div></div>",
            "<<>>",
            "&#xFFFFFFFF;",
            "<a href='x>y</a>",
            "\u{0}",
        ] {
            let _ = extract(Format::Html, s);
            let _ = extract(Format::Markdown, s);
        }
        assert_eq!(extract(Format::Html, "<script>x").text, "");
    }

    #[test]
    fn plain_text_is_tidied_and_titled_by_its_first_line() {
        let e = extract(Format::Text, "\n  Holiday   schedule \n\n\n\nClosed on\tMonday.  \n");
        assert_eq!(e.title.as_deref(), Some("Holiday schedule"));
        assert_eq!(e.text, "Holiday schedule\n\nClosed on Monday.");
    }
}
