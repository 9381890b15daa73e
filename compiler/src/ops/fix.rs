//! `tenants check --fix`: apply the certain repairs diagnostics carry
//! ([`crate::diag::Fix`]) to the files in place.
//!
//! Invariants:
//! - a fix is a set of text edits on the file as read: everything outside
//!   the edited bytes (comments, formatting, key order) stays as it was, in
//!   KDL, JSON and JSONC alike;
//! - a fix whose edits overlap an edit already taken is left for the next
//!   pass (the CLI re-checks and applies again, a bounded number of times);
//! - a file is written atomically (temporary file, rename), and only when
//!   its text still is what was checked.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::diag::{Diagnostic, Edit};
use crate::source::{FileId, SourceMap};

/// What one pass changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Fixes applied.
    pub fixes: usize,
    /// Files written, with the number of fixes applied to each, in file order.
    pub files: Vec<(PathBuf, usize)>,
}

/// Apply every applicable fix of `diags` to its file. An I/O error stops at
/// the file it happened to; files written before it stay written.
pub fn apply(sources: &SourceMap, diags: &[Diagnostic]) -> std::io::Result<Applied> {
    let mut by_file: BTreeMap<FileId, Vec<&Diagnostic>> = BTreeMap::new();
    for d in diags.iter().filter(|d| d.fix.is_some()) {
        by_file.entry(d.primary().file).or_default().push(d);
    }
    let mut applied = Applied::default();
    for (file, list) in by_file {
        let source = sources.get(file);
        let (text, count) = edit_text(&source.text, file, &list);
        if count == 0 {
            continue;
        }
        // Written only when the file on disk is still the text that was checked.
        let on_disk = std::fs::read(&source.path)?;
        if crate::frontend::decode_text(&on_disk).0.as_str() != &*source.text {
            return Err(std::io::Error::other(format!(
                "{} changed while it was being checked; nothing was written to it",
                source.path.display()
            )));
        }
        crate::write_atomic(&source.path, text.as_bytes())?;
        applied.fixes += count;
        applied.files.push((source.path.clone(), count));
    }
    Ok(applied)
}

/// The text with the fixes of `list` applied (those that fit), and how many
/// were applied.
pub fn edit_text(text: &str, file: FileId, list: &[&Diagnostic]) -> (String, usize) {
    let mut taken: Vec<&Edit> = Vec::new();
    let mut count = 0;
    for d in list {
        let Some(fix) = &d.fix else { continue };
        let fits = fix.edits.iter().all(|e| {
            e.span.file == file
                && e.span.start <= e.span.end
                && (e.span.end as usize) <= text.len()
                && text.is_char_boundary(e.span.start as usize)
                && text.is_char_boundary(e.span.end as usize)
                && taken.iter().all(|t| e.span.end <= t.span.start || e.span.start >= t.span.end)
        });
        if fits {
            taken.extend(fix.edits.iter());
            count += 1;
        }
    }
    taken.sort_by_key(|e| e.span.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0usize;
    for e in taken {
        out.push_str(&text[at..e.span.start as usize]);
        out.push_str(&e.replacement);
        at = e.span.end as usize;
    }
    out.push_str(&text[at..]);
    (out, count)
}
