//! # tenants-compiler
//!
//! One library behind every front end of tenants-as-code (the `tenants` CLI,
//! the proc-macro, the build script). Pipeline:
//!
//! ```text
//! files ─ frontend (KDL | JSON | JSONC) → value::Value (spanned, format-neutral)
//!       ─ raw::decode_*                → raw model (as written, spanned)
//!       ─ validate::validate           → resolved::Model (as used, plain data)
//!       ─ emitters: schema (JSON Schemas), wrangler + artifacts (configs,
//!         registry), diff, codegen (tokens for the proc-macro)
//!
//! Front ends: the `tenants` CLI (`main.rs`), `cargo_build` (build scripts),
//! `generate` (generators that edit files), and the `tenants-macros` crate.
//! ```
//!
//! Invariants:
//! - no input makes this library panic; every problem becomes a
//!   [`diag::Diagnostic`] with a code, a span and (almost always) help;
//! - every pass runs over every file and reports everything it finds:
//!   a syntax error in one tenant file does not hide errors in the others;
//! - a [`resolved::Model`] is produced only when there is no error at all;
//! - the same tenant written in KDL, JSON or JSONC yields an identical model.
//!
//! Entry point: [`compile`] (or [`load`] + [`check`] for finer control).

pub mod cargo_build;
pub mod diag;
pub mod emit;
pub mod frontend;
pub mod ops;
pub mod raw;
pub mod resolved;
pub mod source;
pub mod tmp;
pub mod validate;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use diag::{Diagnostic, Diagnostics, Summary};
use frontend::DocKind;
use source::{FileId, Format, SourceMap, Span};

/// The result of checking a tenants directory.
pub struct Compilation {
    pub sources: SourceMap,
    pub diagnostics: Diagnostics,
    pub model: Option<resolved::Model>,
    /// Tenant files, in file-name order.
    pub tenant_files: Vec<FileId>,
}

impl Compilation {
    /// True when a file could not be read (an I/O error: exit code 2).
    pub fn has_io_errors(&self) -> bool {
        self.diagnostics.items.iter().any(|d| d.code == "file::read")
    }

    pub fn summary(&self) -> Summary {
        Summary {
            files: self.sources.files().len(),
            tenants: self.tenant_files.len(),
            errors: self.diagnostics.error_count(),
            warnings: self.diagnostics.warning_count(),
            valid: !self.diagnostics.has_errors(),
        }
    }
}

/// A problem that prevents checking at all (exit code 2): the directory is
/// missing or unreadable, or the platform/accounts file is absent.
#[derive(Debug)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for LoadError {}

/// File names (without extension) that are not tenant files.
pub const PLATFORM_STEM: &str = "platform";
pub const ACCOUNTS_STEM: &str = "accounts";

/// The files of a tenants directory, classified.
#[derive(Debug, Clone)]
pub struct Layout {
    pub platform: PathBuf,
    pub accounts: PathBuf,
    pub tenants: Vec<PathBuf>,
}

/// Find the platform, accounts and tenant files in `root` (not recursive).
/// Files with other extensions are ignored.
pub fn discover(root: &Path) -> Result<Layout, LoadError> {
    let rd = std::fs::read_dir(root).map_err(|e| LoadError(format!("cannot read tenants directory {}: {e}", root.display())))?;
    let mut platform = Vec::new();
    let mut accounts = Vec::new();
    let mut tenants = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| LoadError(format!("cannot read tenants directory {}: {e}", root.display())))?;
        let path = entry.path();
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        // Dotfiles (editor backups, `.x.json`) are not tenants.
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')) {
            continue;
        }
        // The entry's type comes with the directory listing (no stat per
        // file); a symlink is followed to see whether it is a file.
        let is_file = match entry.file_type() {
            Ok(t) if t.is_symlink() => path.is_file(),
            Ok(t) => t.is_file(),
            Err(_) => path.is_file(),
        };
        if Format::from_extension(ext).is_none() || !is_file {
            continue;
        }
        match path.file_stem().and_then(|s| s.to_str()) {
            Some(PLATFORM_STEM) => platform.push(path),
            Some(ACCOUNTS_STEM) => accounts.push(path),
            _ => tenants.push(path),
        }
    }
    // One directory: the byte order of the paths is that of the file names,
    // without comparing them component by component.
    tenants.sort_unstable_by(|a, b| a.as_os_str().as_encoded_bytes().cmp(b.as_os_str().as_encoded_bytes()));
    let one = |mut v: Vec<PathBuf>, what: &str| -> Result<PathBuf, LoadError> {
        v.sort();
        match v.len() {
            1 => Ok(v.remove(0)),
            0 => Err(LoadError(format!(
                "no {what} file in {} (expected {what}.kdl, {what}.json or {what}.jsonc)",
                root.display()
            ))),
            _ => Err(LoadError(format!(
                "more than one {what} file in {}: {}",
                root.display(),
                v.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ))),
        }
    };
    Ok(Layout {
        platform: one(platform, PLATFORM_STEM)?,
        accounts: one(accounts, ACCOUNTS_STEM)?,
        tenants,
    })
}

/// The name diagnostics show: the path as reached from the given root (so a
/// relative `--root tenants` gives `tenants/acme.kdl`, what GitHub annotations
/// and editors expect when run from the repository root).
fn display_name(_root: &Path, path: &Path) -> String {
    let s = path.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// Read one file into the source map; oversize, binary and non-UTF-8 files
/// are registered (so diagnostics can point at them) but not parsed.
fn read_file(sources: &mut SourceMap, root: &Path, path: &Path, diags: &mut Diagnostics) -> Result<(FileId, bool), LoadError> {
    let (file, ok) = load_source(root, path, sources.next_id(), diags);
    Ok((sources.push(file), ok))
}

/// One file as source `id`, and whether it is fit to parse (problems reading
/// or decoding it are in `diags`).
fn load_source(root: &Path, path: &Path, id: FileId, diags: &mut Diagnostics) -> (source::SourceFile, bool) {
    let format = path
        .extension()
        .and_then(|e| e.to_str())
        .and_then(Format::from_extension)
        .unwrap_or(Format::Json);
    let name = display_name(root, path);
    let empty = |name: String| source::SourceFile::new(id, name, path.to_path_buf(), format, Arc::from(""));
    let unreadable = |diags: &mut Diagnostics, e: std::io::Error| {
        diags.push(
            Diagnostic::error("file::read", format!("cannot read file: {e}"), Span::file_start(id), "not read")
                .with_help("check the file's permissions; the other files were still checked"),
        );
        (empty(name.clone()), false)
    };
    // One open, one fstat, one read: no second look-up of the path.
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return unreadable(diags, e),
    };
    let meta = match f.metadata() {
        Ok(m) => m,
        Err(e) => return unreadable(diags, e),
    };
    if meta.len() > frontend::MAX_FILE_BYTES {
        diags.push(
            Diagnostic::error(
                "file::too-large",
                format!("file is {} bytes, more than the {} allowed", meta.len(), frontend::MAX_FILE_BYTES),
                Span::file_start(id),
                "not read",
            )
            .with_help("a tenant file is a few KiB; this is probably not a tenant file"),
        );
        return (empty(name), false);
    }
    // Read the size fstat gave: one read for a tenant file, no extra read
    // to find the end, no zeroed buffer (a file that grows while it is read
    // is read up to its size at open; a special file that reports size 0 is
    // read to its end).
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    let read = if meta.len() == 0 {
        std::io::Read::read_to_end(&mut f, &mut bytes)
    } else {
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut f, meta.len()), &mut bytes)
    };
    if let Err(e) = read {
        return unreadable(diags, e);
    }
    let (text, problems) = frontend::decode_text_owned(bytes);
    let ok = frontend::report_text_problems(id, &text, &problems, diags);
    (source::SourceFile::new(id, name, path.to_path_buf(), format, Arc::from(text)), ok)
}

/// Load and check a tenants directory. Errors in files are diagnostics; only
/// an unusable directory is a [`LoadError`].
pub fn compile(root: &Path) -> Result<Compilation, LoadError> {
    let layout = discover(root)?;
    compile_layout(root, &layout)
}

/// [`compile`] without keeping the resolved model (`model` is `None`): what
/// `tenants check` needs, in less memory.
pub fn check_only(root: &Path) -> Result<Compilation, LoadError> {
    let layout = discover(root)?;
    compile_with(root, &layout, false)
}

pub fn compile_layout(root: &Path, layout: &Layout) -> Result<Compilation, LoadError> {
    compile_with(root, layout, true)
}

/// The pipeline. The platform and accounts files are read and checked
/// first; then each tenant file is read, parsed, decoded and checked on
/// one of the cores, keeping only its source, its diagnostics, its resolved
/// tenant (when `keep_model`) and what the rules across files compare;
/// last, those rules and the model.
fn compile_with(root: &Path, layout: &Layout, keep_model: bool) -> Result<Compilation, LoadError> {
    let mut sources = SourceMap::default();
    let mut diags = Diagnostics::default();
    let (pid, pok) = read_file(&mut sources, root, &layout.platform, &mut diags)?;
    let (aid, aok) = read_file(&mut sources, root, &layout.accounts, &mut diags)?;
    let platform = (pok.then(|| frontend::parse(&sources, pid, DocKind::Platform, &mut diags)).flatten()).and_then(|v| {
        let f = sources.get(pid);
        let mut d = raw::decode::Decoder::new(f.format, f.text.clone(), &mut diags).for_kind(DocKind::Platform);
        raw::decode_platform(&mut d, pid, &v)
    });
    let accounts_value = aok.then(|| frontend::parse(&sources, aid, DocKind::Accounts, &mut diags)).flatten();
    let accounts_parsed = accounts_value.is_some();
    let accounts = accounts_value
        .map(|v| {
            let f = sources.get(aid);
            let mut d = raw::decode::Decoder::new(f.format, f.text.clone(), &mut diags).for_kind(DocKind::Accounts);
            raw::decode_accounts(&mut d, &v)
        })
        .unwrap_or_default();
    let prep = validate::prepare(&sources, platform.as_ref(), &accounts, accounts_parsed, &mut diags);

    let first = sources.next_id().0;
    let indexed: Vec<(u32, &PathBuf)> = layout.tenants.iter().enumerate().map(|(i, p)| (first + i as u32, p)).collect();
    let per_file = par_map(&indexed, |(id, path)| {
        let mut fd = Diagnostics::default();
        let (file, ok) = load_source(root, path, FileId(*id), &mut fd);
        let raw = ok
            .then(|| frontend::parse_file(&file, DocKind::Tenant, &mut fd))
            .flatten()
            .and_then(|v| {
                let mut d = raw::decode::Decoder::new(file.format, file.text.clone(), &mut fd);
                raw::decode_tenant(&mut d, file.id, &v)
            });
        let checked = raw.map(|t| {
            let files = source::WithFile {
                map: &sources,
                file: &file,
            };
            validate::check_one(&prep, &files, t, &mut fd, keep_model)
        });
        let mut file = file;
        if !keep_model && fd.items.is_empty() {
            // Nothing to show from this file (so far): its text is not kept.
            file.unload();
        }
        (file, fd, checked)
    });
    let mut tenant_files = Vec::with_capacity(per_file.len());
    let mut tenants = Vec::with_capacity(if keep_model { per_file.len() } else { 0 });
    let mut facts = Vec::with_capacity(per_file.len());
    sources.reserve(per_file.len());
    for (file, fd, checked) in per_file {
        tenant_files.push(sources.push(file));
        diags.items.extend(fd.items);
        if let Some((tenant, f)) = checked {
            tenants.extend(tenant.map(|t| *t));
            facts.push(f);
        }
    }
    diags.recount();
    let model = validate::finish(prep, &sources, &facts, tenants, &mut diags, 0).filter(|_| keep_model);
    drop_later(facts);
    sources.reload_for(&diags.items);
    diags.sort();
    Ok(Compilation {
        sources,
        diagnostics: diags,
        model,
        tenant_files,
    })
}

/// Drop what a large compilation no longer needs on another thread, off the
/// path to the result: freeing the facts of 10,000 tenants one allocation
/// at a time takes milliseconds that nobody waits for (a small one is
/// dropped here, where a thread would cost more).
fn drop_later<T: Send + 'static>(v: Vec<T>) {
    if v.len() < 1000 {
        return;
    }
    std::thread::spawn(move || drop(v));
}

/// Run `f` over `items` on every core (at most 8 threads), keeping the order.
/// The threads take blocks of [`PAR_BLOCK`] items from a shared counter as
/// they finish the last, so a thread that is slowed down (another process
/// on its core) does not hold up the others with half the work.
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    if threads <= 1 || items.len() < 2 * PAR_BLOCK {
        return items.iter().map(&f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut blocks: Vec<(usize, Vec<R>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let start = next.fetch_add(PAR_BLOCK, std::sync::atomic::Ordering::Relaxed);
                        if start >= items.len() {
                            return done;
                        }
                        let end = (start + PAR_BLOCK).min(items.len());
                        done.push((start, items[start..end].iter().map(&f).collect::<Vec<R>>()));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread panicked"))
            .collect()
    });
    blocks.sort_unstable_by_key(|(start, _)| *start);
    // Sized once: growing a vector of 10,000 results copies it over and over.
    let mut out = Vec::with_capacity(items.len());
    for (_, block) in blocks {
        out.extend(block);
    }
    out
}

/// Items a thread of [`par_map`] takes at a time: small enough to even out
/// the threads' ends, large enough that taking them costs nothing.
const PAR_BLOCK: usize = 64;

/// Write a file atomically: write a temporary sibling, flush it, rename over
/// the target. A failure leaves the old file untouched and no partial file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
