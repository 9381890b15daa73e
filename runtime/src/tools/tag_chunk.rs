//! `tag-and-chunk`: a document → the chunks the RAG ingestion would make
//! of it (the same text extraction and chunker, with the tenant's
//! `rag chunk-size` and `overlap` unless the call sets them) and tags: its
//! most frequent content words (stopwords dropped, words grouped by the
//! search index's stemmer, each shown in its most frequent spelling).
//! Nothing is stored and no model is called.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Tool, ToolCx, ToolError};
use crate::http::body::Detail;
use crate::ports::LocalFuture;
use crate::rag::text::{extract, Format};

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// The document (1–400000 characters).
    #[schemars(length(min = 1, max = 400000))]
    pub text: String,
    /// `text` (default), `markdown` or `html`.
    #[serde(default)]
    pub format: Format,
    /// Characters per chunk (100–8000; default: the tenant's `rag chunk-size`).
    #[serde(default)]
    #[schemars(range(min = 100, max = 8000))]
    pub chunk_size: Option<u32>,
    /// Characters shared by neighbouring chunks (0–2000, at most half the
    /// chunk size; default: the tenant's `rag overlap`).
    #[serde(default)]
    #[schemars(range(min = 0, max = 2000))]
    pub overlap: Option<u32>,
    /// Tags at most (1–20, default 8).
    #[serde(default)]
    #[schemars(range(min = 1, max = 20))]
    pub max_tags: Option<u32>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ChunkOut {
    #[schemars(range(min = 0))]
    pub index: u32,
    pub text: String,
    #[schemars(range(min = 1))]
    pub chars: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Tag {
    pub tag: String,
    #[schemars(range(min = 1))]
    pub count: u32,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// From the first heading (markdown, html) or line (text).
    pub title: Option<String>,
    pub chunks: Vec<ChunkOut>,
    /// Most frequent first.
    pub tags: Vec<Tag>,
    /// Characters of extracted text.
    #[schemars(range(min = 0))]
    pub chars: u64,
    #[schemars(range(min = 1))]
    pub chunk_size: u32,
    #[schemars(range(min = 0))]
    pub overlap: u32,
}

pub struct TagAndChunk;

impl Tool for TagAndChunk {
    const NAME: &'static str = "tag-and-chunk";
    const DESCRIPTION: &'static str =
        "Split a document (text, markdown or html) into the chunks search would index, and tag it with its most frequent content words.";
    const TIMEOUT_MS: u32 = 10_000;
    const USES_MODEL: bool = false;
    type Args = Args;
    type Output = Output;

    fn run<'a>(cx: &'a ToolCx<'a>, args: Args) -> LocalFuture<'a, Result<Output, ToolError>> {
        Box::pin(async move {
            let rag = &cx.ctx.config().rag;
            let size = args.chunk_size.unwrap_or(rag.chunk_size).max(1);
            let overlap = args.overlap.unwrap_or(rag.overlap);
            if overlap > size / 2 {
                return Err(ToolError::Invalid(vec![Detail::at(
                    "/overlap",
                    format!("at most half the chunk size ({})", size / 2),
                )]));
            }
            let doc = extract(args.format, &args.text);
            let chunks = crate::rag::chunk::chunk(&doc.text, size as usize, overlap as usize)
                .into_iter()
                .map(|c| ChunkOut {
                    index: c.index,
                    chars: c.text.chars().count() as u32,
                    text: c.text,
                })
                .filter(|c| c.chars > 0)
                .collect();
            Ok(Output {
                title: doc.title,
                chunks,
                tags: tags(&doc.text, args.max_tags.unwrap_or(8) as usize),
                chars: doc.text.chars().count() as u64,
                chunk_size: size,
                overlap,
            })
        })
    }
}

/// The `n` most frequent content words (at least 3 letters, not only
/// digits), grouped by stem; ties alphabetically.
pub fn tags(text: &str, n: usize) -> Vec<Tag> {
    let mut by_stem: HashMap<String, HashMap<String, u32>> = HashMap::new();
    for w in text.split(|c: char| !c.is_alphanumeric()) {
        let lower = w.to_lowercase();
        if lower.chars().count() < 3 || lower.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let terms = crate::rag::lexical::terms(&lower);
        let Some(stem) = terms.first() else { continue };
        *by_stem.entry(stem.clone()).or_default().entry(lower).or_default() += 1;
    }
    let mut out: Vec<Tag> = by_stem
        .into_values()
        .map(|forms| {
            let count = forms.values().sum();
            let mut forms: Vec<(String, u32)> = forms.into_iter().collect();
            forms.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            Tag {
                tag: forms.swap_remove(0).0,
                count,
            }
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.tag.cmp(&b.tag)));
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_group_forms_drop_stopwords_and_rank_by_count() {
        let t = tags(
            "Invoices and billing: the invoice is due. Billing questions? Ask billing. The 2026 invoices are here.",
            3,
        );
        let want = [("billing", 3), ("invoices", 3), ("ask", 1)];
        assert_eq!(t, want.map(|(tag, count)| Tag { tag: tag.into(), count }));
    }
}
