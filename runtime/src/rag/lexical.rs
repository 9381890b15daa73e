//! Lexical matching: the terms of a text, and BM25 over chunks (the
//! reference model's; the SQLite index uses FTS5's `bm25()` with the
//! Porter stemmer, which ranks the same way up to its stemming).
//!
//! Invariants: terms are lowercase alphanumeric words of at least two
//! characters, stop words removed, with a light suffix stemmer; the same
//! text always gives the same terms.

/// Common English words that carry no topic.
const STOP: &[&str] = &[
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been", "before", "but", "by", "can", "could",
    "did", "do", "does", "for", "from", "get", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not",
    "of", "on", "or", "our", "should", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to", "up",
    "us", "was", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
];

/// A light suffix stemmer (plural, -ing, -ed), enough for matching
/// "resets" with "reset" and "invoices" with "invoice".
pub fn stem(w: &str) -> String {
    for (suffix, keep) in [("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", "e"), ("s", "")] {
        if let Some(base) = w.strip_suffix(suffix) {
            if base.chars().count() >= 3 && !(suffix == "s" && (base.ends_with('s') || base.ends_with('u'))) {
                // "resetting" → "reset", "planned" → "plan".
                let b = base.as_bytes();
                let n = b.len();
                if keep.is_empty()
                    && (suffix == "ing" || suffix == "ed")
                    && b[n - 1] == b[n - 2]
                    && !b"lsz".contains(&b[n - 1])
                    && b[n - 1].is_ascii_alphabetic()
                {
                    return base[..n - 1].to_string();
                }
                return format!("{base}{keep}");
            }
        }
    }
    w.to_string()
}

/// The terms of a text, in order (with repeats).
pub fn terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
        .map(str::to_lowercase)
        .filter(|w| !STOP.contains(&w.as_str()))
        .map(|w| stem(&w))
        .collect()
}

/// The distinct terms of a query, in order.
pub fn query_terms(q: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in terms(q) {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out.truncate(32);
    out
}

/// BM25 (k1 = 1.2, b = 0.75) of each document for `query`; documents are
/// term lists. Returns (position, score) for documents with a score > 0,
/// best first, at most `k`.
pub fn bm25(docs: &[&[String]], query: &[String], k: usize) -> Vec<(usize, f64)> {
    let n = docs.len() as f64;
    if docs.is_empty() || query.is_empty() {
        return Vec::new();
    }
    let avg = docs.iter().map(|d| d.len()).sum::<usize>() as f64 / n;
    let idf: Vec<f64> = query
        .iter()
        .map(|t| {
            let df = docs.iter().filter(|d| d.contains(t)).count() as f64;
            ((n - df + 0.5) / (df + 0.5) + 1.0).ln()
        })
        .collect();
    let mut scored: Vec<(usize, f64)> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let len = d.len() as f64;
            let s: f64 = query
                .iter()
                .zip(&idf)
                .map(|(t, idf)| {
                    let tf = d.iter().filter(|w| *w == t).count() as f64;
                    idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len / avg.max(1.0)))
                })
                .sum();
            (i, s)
        })
        .filter(|(_, s)| *s > 0.0)
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(k);
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_lowercase_stemmed_without_stop_words() {
        assert_eq!(
            terms("How do I reset the Passwords? Resetting invoices!"),
            vec!["reset", "password", "reset", "invoice"]
        );
        assert_eq!(query_terms("reset reset RESET"), vec!["reset"]);
        assert_eq!(stem("policies"), "policy");
        assert_eq!(stem("status"), "status");
        assert_eq!(stem("is"), "is");
    }

    #[test]
    fn bm25_prefers_rarer_terms_and_shorter_documents() {
        let d: Vec<Vec<String>> = [
            "password reset steps",
            "password policy for administrators password",
            "holiday schedule",
        ]
        .iter()
        .map(|t| terms(t))
        .collect();
        let refs: Vec<&[String]> = d.iter().map(|v| v.as_slice()).collect();
        let r = bm25(&refs, &query_terms("reset my password"), 10);
        assert_eq!(r[0].0, 0);
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(bm25(&refs, &query_terms("the and of"), 10).is_empty());
    }
}
