//! Source files and positions.
//!
//! Every diagnostic points into a [`SourceFile`] through a [`Span`]: a file id
//! plus a half-open byte range. Line and column numbers are computed only when
//! a diagnostic is printed: both are 1-based, columns count Unicode scalar
//! values (what editors and GitHub annotations show), not bytes.

use std::path::PathBuf;
use std::sync::Arc;

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A half-open byte range `[start, end)` in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        let start = start.min(u32::MAX as usize) as u32;
        let end = end.max(start as usize).min(u32::MAX as usize) as u32;
        Span { file, start, end }
    }
    /// An empty span at the start of the file: used when a whole file is at fault.
    pub fn file_start(file: FileId) -> Self {
        Span { file, start: 0, end: 0 }
    }
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// The format a file is written in, decided by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    Kdl,
    Json,
    Jsonc,
}

impl Format {
    pub fn from_extension(ext: &str) -> Option<Format> {
        match ext {
            "kdl" => Some(Format::Kdl),
            "json" => Some(Format::Json),
            "jsonc" => Some(Format::Jsonc),
            _ => None,
        }
    }
    pub fn is_json(self) -> bool {
        matches!(self, Format::Json | Format::Jsonc)
    }
}

/// One loaded file. `text` is what the parsers saw (a byte-order mark is
/// removed; invalid UTF-8 is replaced so positions can still be shown).
///
/// `tenants check` unloads the text of a file once it is checked and has
/// nothing to report ([`SourceFile::unload`]); if a rule across files later
/// points into it, [`SourceMap::reload_for`] reads it again for the report.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub id: FileId,
    /// Path as shown to the user: relative to the root when possible, `/` separated.
    pub name: String,
    pub path: PathBuf,
    pub format: Format,
    pub text: Arc<str>,
    /// Byte offsets of line starts, for line/column look-ups (computed on
    /// first use: most files never need one).
    line_starts: std::sync::OnceLock<Vec<u32>>,
    /// Pure ASCII text: a column is a byte difference (O(1), no counting).
    ascii: bool,
    /// The text was dropped to save memory (see [`SourceFile::unload`]).
    unloaded: bool,
}

impl SourceFile {
    pub fn new(id: FileId, name: String, path: PathBuf, format: Format, text: Arc<str>) -> Self {
        let ascii = text.is_ascii();
        SourceFile {
            id,
            name,
            path,
            format,
            text,
            line_starts: std::sync::OnceLock::new(),
            ascii,
            unloaded: false,
        }
    }

    fn line_starts(&self) -> &[u32] {
        self.line_starts.get_or_init(|| {
            // Lines end at LF, CRLF or a lone CR (as miette and editors count them).
            let mut starts = vec![0u32];
            let bytes = self.text.as_bytes();
            for (i, b) in bytes.iter().enumerate() {
                if *b == b'\n' || (*b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
                    starts.push((i + 1) as u32);
                }
            }
            starts
        })
    }

    /// Drop the text (nothing in this file is reported so far).
    pub fn unload(&mut self) {
        self.text = Arc::from("");
        self.line_starts = std::sync::OnceLock::new();
        self.ascii = true;
        self.unloaded = true;
    }

    /// Read an unloaded file's text again (as [`SourceFile::unload`] found it,
    /// unless the file changed on disk in between).
    fn reload(&mut self) {
        if !self.unloaded {
            return;
        }
        if let Ok(bytes) = std::fs::read(&self.path) {
            let (text, _) = crate::frontend::decode_text(&bytes);
            *self = SourceFile::new(
                self.id,
                std::mem::take(&mut self.name),
                std::mem::take(&mut self.path),
                self.format,
                Arc::from(text),
            );
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let offset = offset.min(self.text.len() as u32);
        let line_starts = self.line_starts();
        let line = match line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = line_starts[line] as usize;
        if self.ascii {
            return (line + 1, offset as usize - start + 1);
        }
        let mut end = offset as usize;
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let col = self.text[start..end].chars().count() + 1;
        (line + 1, col)
    }

    /// The text a span covers (empty when the span is not on char boundaries).
    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.start as usize..span.end as usize).unwrap_or("")
    }
}

/// All files of one compilation, indexed by [`FileId`].
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, name: String, path: PathBuf, format: Format, text: Arc<str>) -> FileId {
        let id = FileId(self.files.len() as u32);
        self.files.push(SourceFile::new(id, name, path, format, text));
        id
    }
    /// Add a file built with [`SourceMap::next_id`]` + k` ahead of time (files
    /// read on several threads join the map in file order).
    /// Room for `n` more files (10,000 pushed one by one copy the list over and over).
    pub fn reserve(&mut self, n: usize) {
        self.files.reserve(n);
    }

    pub fn push(&mut self, file: SourceFile) -> FileId {
        assert_eq!(file.id, self.next_id(), "source files join the map in id order");
        let id = file.id;
        self.files.push(file);
        id
    }
    /// Read again the unloaded files that `diags` point into.
    pub fn reload_for(&mut self, diags: &[crate::diag::Diagnostic]) {
        for d in diags {
            for l in &d.labels {
                if let Some(f) = self.files.get_mut(l.span.file.0 as usize) {
                    f.reload();
                }
            }
        }
    }
    /// The id the next file added will get.
    pub fn next_id(&self) -> FileId {
        FileId(self.files.len() as u32)
    }
    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }
}

/// Source files by id: the whole map, or (while tenant files are checked on
/// several threads, before they join the map) the map plus one file.
pub trait Files: Sync {
    fn file(&self, id: FileId) -> &SourceFile;
}

impl Files for SourceMap {
    fn file(&self, id: FileId) -> &SourceFile {
        self.get(id)
    }
}

/// A map plus one file not in it yet.
pub struct WithFile<'a> {
    pub map: &'a SourceMap,
    pub file: &'a SourceFile,
}

impl Files for WithFile<'_> {
    fn file(&self, id: FileId) -> &SourceFile {
        if id == self.file.id {
            self.file
        } else {
            self.map.get(id)
        }
    }
}
