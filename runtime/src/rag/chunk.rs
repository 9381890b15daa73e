//! The chunker: a document's text cut into pieces of at most
//! `rag chunk-size` characters, each starting with up to `rag overlap`
//! characters of the one before.
//!
//! Invariants:
//! - sizes count characters (Unicode scalar values), so no chunk ever
//!   splits a UTF-8 character;
//! - cuts fall on paragraph boundaries where they can, else on sentence
//!   boundaries, else between words; only a word longer than a chunk is
//!   cut inside;
//! - the overlap is made of the previous chunk's last whole sentences
//!   when they fit, else its last words;
//! - the same text and settings give the same chunks (ids are the
//!   document id and the chunk's index: [`chunk_id`]).

/// One piece of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// 0-based position in the document.
    pub index: u32,
    pub text: String,
}

/// A chunk's id: deterministic from the document id and the index.
pub fn chunk_id(doc_id: &str, index: u32) -> String {
    format!("{doc_id}#{index}")
}

/// A piece that is never cut further (a sentence, or a part of one).
struct Unit<'a> {
    text: &'a str,
    chars: usize,
    /// The first unit of a paragraph (joined with a blank line).
    para: bool,
}

/// Cut `text` into chunks of at most `size` characters overlapping by up
/// to `overlap` (at most half of `size`, so every chunk adds new text).
pub fn chunk(text: &str, size: usize, overlap: usize) -> Vec<Chunk> {
    let size = size.max(1);
    let overlap = overlap.min(size / 2);
    // Pieces of long sentences leave room for the overlap.
    let units = units(text, (size - overlap).max(1));
    let mut out: Vec<String> = Vec::new();
    let mut cur: Vec<(String, usize, bool)> = Vec::new();
    let len = |cur: &[(String, usize, bool)]| -> usize {
        cur.iter()
            .enumerate()
            .map(|(i, (_, n, para))| {
                n + if i == 0 {
                    0
                } else if *para {
                    2
                } else {
                    1
                }
            })
            .sum()
    };
    for u in units {
        let extra = if cur.is_empty() {
            0
        } else if u.para {
            2
        } else {
            1
        };
        if !cur.is_empty() && len(&cur) + extra + u.chars > size {
            let done = join(&cur);
            let mut tail: Vec<(String, usize, bool)> = Vec::new();
            let mut tail_len = 0;
            for (t, n, para) in cur.iter().rev() {
                let add = n + usize::from(!tail.is_empty()) * 2;
                if tail_len + add > overlap {
                    break;
                }
                tail_len += add;
                tail.insert(0, (t.clone(), *n, *para));
            }
            if tail.is_empty() && overlap > 0 {
                let t = last_words(&done, overlap);
                if !t.is_empty() {
                    let n = t.chars().count();
                    tail.push((t, n, false));
                }
            }
            out.push(done);
            cur = tail;
            // Never let the overlap push the new unit out of its chunk.
            while !cur.is_empty() && len(&cur) + if u.para { 2 } else { 1 } + u.chars > size {
                cur.remove(0);
            }
        }
        cur.push((u.text.to_string(), u.chars, u.para));
    }
    if !cur.is_empty() {
        out.push(join(&cur));
    }
    out.into_iter()
        .enumerate()
        .map(|(i, text)| Chunk { index: i as u32, text })
        .collect()
}

fn join(cur: &[(String, usize, bool)]) -> String {
    let mut s = String::new();
    for (i, (t, _, para)) in cur.iter().enumerate() {
        if i > 0 {
            s.push_str(if *para { "\n\n" } else { " " });
        }
        s.push_str(t);
    }
    s
}

/// The last words of `s` within `max` characters (whole words only,
/// unless a single word is longer).
fn last_words(s: &str, max: usize) -> String {
    let total = s.chars().count();
    if total <= max {
        return s.to_string();
    }
    let start = s.char_indices().nth(total - max).map_or(0, |(i, _)| i);
    let tail = &s[start..];
    match tail.find(char::is_whitespace) {
        Some(i) if !tail[..i].is_empty() && !s[..start].ends_with(char::is_whitespace) => tail[i..].trim().to_string(),
        _ => tail.trim().to_string(),
    }
}

/// Paragraphs → sentences → (for sentences longer than `size`) words →
/// (for words longer than `size`) character runs.
fn units(text: &str, size: usize) -> Vec<Unit<'_>> {
    let mut out = Vec::new();
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        let mut first = true;
        for sentence in sentences(para) {
            let n = sentence.chars().count();
            if n <= size {
                out.push(Unit {
                    text: sentence,
                    chars: n,
                    para: first,
                });
                first = false;
                continue;
            }
            // Greedy runs of words.
            let mut start: Option<usize> = None;
            let mut run = 0usize;
            let mut last_end = 0usize;
            for (i, w) in words(sentence) {
                let wn = w.chars().count();
                if wn > size {
                    if let Some(s) = start.take() {
                        out.push(Unit {
                            text: &sentence[s..last_end],
                            chars: run,
                            para: first,
                        });
                        first = false;
                    }
                    for piece in char_runs(w, size) {
                        out.push(Unit {
                            text: piece,
                            chars: piece.chars().count(),
                            para: first,
                        });
                        first = false;
                    }
                    run = 0;
                    continue;
                }
                match start {
                    Some(s) if run + 1 + wn <= size => {
                        run += 1 + wn;
                        let _ = s;
                    }
                    Some(s) => {
                        out.push(Unit {
                            text: &sentence[s..last_end],
                            chars: run,
                            para: first,
                        });
                        first = false;
                        start = Some(i);
                        run = wn;
                    }
                    None => {
                        start = Some(i);
                        run = wn;
                    }
                }
                last_end = i + w.len();
            }
            if let Some(s) = start {
                out.push(Unit {
                    text: &sentence[s..last_end],
                    chars: run,
                    para: first,
                });
                first = false;
            }
        }
    }
    out
}

/// Words with their byte offsets.
fn words(s: &str) -> impl Iterator<Item = (usize, &str)> {
    s.split_whitespace().map(move |w| (w.as_ptr() as usize - s.as_ptr() as usize, w))
}

fn char_runs(w: &str, size: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (n, (i, _)) in w.char_indices().enumerate() {
        if n > 0 && n % size == 0 {
            out.push(&w[start..i]);
            start = i;
        }
    }
    out.push(&w[start..]);
    out
}

/// Sentences of a paragraph: cut after `.`, `!` or `?` (and closing
/// quotes or brackets) followed by white space. Lines inside a paragraph
/// (list items) are sentences too.
fn sentences(p: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in p.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut start = 0;
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if matches!(b[i], b'.' | b'!' | b'?') {
                let mut j = i + 1;
                while j < b.len() && matches!(b[j], b'"' | b'\'' | b')' | b']') {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_whitespace() {
                    out.push(line[start..j].trim());
                    start = j;
                }
                i = j;
                continue;
            }
            i += 1;
        }
        let rest = line[start..].trim();
        if !rest.is_empty() {
            out.push(rest);
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lens(c: &[Chunk]) -> Vec<usize> {
        c.iter().map(|c| c.text.chars().count()).collect()
    }

    #[test]
    fn short_text_is_one_chunk() {
        let c = chunk("One sentence. Two.", 100, 10);
        assert_eq!(
            c,
            vec![Chunk {
                index: 0,
                text: "One sentence. Two.".into()
            }]
        );
        assert!(chunk("", 100, 10).is_empty());
        assert!(chunk("\n\n  \n\n", 100, 10).is_empty());
    }

    #[test]
    fn cuts_fall_on_paragraphs_then_sentences() {
        let text = "First paragraph has one sentence.\n\nSecond paragraph. It has two sentences.";
        let c = chunk(text, 34, 0);
        assert_eq!(
            c.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
            vec!["First paragraph has one sentence.", "Second paragraph.", "It has two sentences."]
        );
    }

    #[test]
    fn overlap_repeats_the_last_sentence_when_it_fits() {
        let text = "Alpha is first. Beta is second. Gamma is third. Delta is fourth.";
        let c = chunk(text, 34, 16);
        assert_eq!(c[0].text, "Alpha is first. Beta is second.");
        assert!(c[1].text.starts_with("Beta is second."), "{:?}", c[1].text);
        assert!(lens(&c).iter().all(|n| *n <= 34), "{:?}", lens(&c));
    }

    #[test]
    fn never_longer_than_the_size_and_never_splits_a_character() {
        let text = "é".repeat(50) + " " + &"日本語のテキスト。".repeat(30) + "\n\n" + &"word ".repeat(300);
        for (size, overlap) in [(7, 3), (10, 0), (33, 10), (100, 50), (800, 100)] {
            let c = chunk(&text, size, overlap);
            assert!(!c.is_empty());
            for ch in &c {
                let n = ch.text.chars().count();
                assert!(n <= size && n > 0, "size {size}: chunk of {n}");
            }
            // Every word of the text is in some chunk (nothing lost).
            for w in text.split_whitespace().take(40) {
                let piece: String = w.chars().take((size - overlap.min(size / 2)).min(5)).collect();
                assert!(c.iter().any(|ch| ch.text.contains(&piece)), "lost {piece}");
            }
            // Deterministic, indexed in order.
            assert_eq!(c, chunk(&text, size, overlap));
            assert!(c.iter().enumerate().all(|(i, ch)| ch.index as usize == i));
        }
    }

    #[test]
    fn long_sentences_are_cut_between_words_with_a_word_overlap() {
        let text = (0..60).map(|i| format!("w{i:02}")).collect::<Vec<_>>().join(" ");
        let c = chunk(&text, 40, 8);
        assert!(c.len() > 4);
        for pair in c.windows(2) {
            let last_word = pair[0].text.split_whitespace().last().unwrap();
            assert!(
                pair[1].text.starts_with(pair[0].text.split_whitespace().rev().nth(1).unwrap()) || pair[1].text.starts_with(last_word),
                "{:?} -> {:?}",
                pair[0].text,
                pair[1].text
            );
        }
    }

    #[test]
    fn ids_are_document_and_index() {
        assert_eq!(chunk_id("password-reset", 3), "password-reset#3");
    }
}
