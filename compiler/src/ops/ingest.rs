//! Documents from files and folders for a tenant's Worker: the library
//! half of `tenants ingest` (docs/ingest.md).
//!
//! - [`walk`] finds the files under the PATH arguments (folders
//!   recursively; `.md`, `.markdown`, `.txt`, `.html`, `.htm`; dotfiles and
//!   dot-folders left out, symbolic links to folders not followed);
//! - [`prepare`] reads them into documents — id from the relative path,
//!   format from the extension, `url` from `--base-url` — or a per-file
//!   error (id too long or taken, file too large, not UTF-8);
//! - [`plan_batches`] packs them into requests the Worker ingests inline
//!   (at most [`BATCH_DOCS`] documents and [`BATCH_CHARS`] characters);
//! - [`Client`] sends one batch to `POST /documents` and reads the
//!   per-document answer or the error envelope.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

/// Documents per request at most (the Worker's inline limit).
pub const BATCH_DOCS: usize = 20;
/// Characters per request at most (the Worker's inline limit); a larger
/// single document is not sent.
pub const BATCH_CHARS: usize = 400_000;
/// Characters of a document id at most.
pub const MAX_ID_CHARS: usize = 128;
/// Characters of a document `url` at most.
pub const MAX_URL_CHARS: usize = 2048;
/// The extensions ingested (matched case-insensitively).
pub const EXTENSIONS: &[&str] = &["md", "markdown", "txt", "html", "htm"];

/// How the Worker reads a document's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DocFormat {
    Text,
    Markdown,
    Html,
}

impl DocFormat {
    /// The format a file's extension means; `None` for files not ingested.
    pub fn of(path: &Path) -> Option<DocFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "md" | "markdown" => Some(DocFormat::Markdown),
            "txt" => Some(DocFormat::Text),
            "html" | "htm" => Some(DocFormat::Html),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DocFormat::Text => "text",
            DocFormat::Markdown => "markdown",
            DocFormat::Html => "html",
        }
    }
}

/// A file to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    /// The path relative to the folder argument (the file name for a file
    /// argument), `/`-separated, without the extension.
    pub rel: String,
    pub format: DocFormat,
}

/// What [`walk`] found.
#[derive(Debug, Default)]
pub struct Walk {
    pub files: Vec<Found>,
    /// Files with another extension.
    pub skipped: Vec<PathBuf>,
}

/// The files under `paths`, in argument order, each folder's entries by
/// name. `Err`: a path that does not exist or a folder that cannot be read.
pub fn walk(paths: &[PathBuf]) -> Result<Walk, String> {
    let mut w = Walk::default();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        if meta.is_dir() {
            walk_dir(p, &mut Vec::new(), &mut w)?;
        } else {
            let name = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            add_file(p.clone(), &[], &name, &mut w);
        }
    }
    Ok(w)
}

fn walk_dir(dir: &Path, parents: &mut Vec<String>, w: &mut Walk) -> Result<(), String> {
    let mut entries: Vec<std::fs::DirEntry> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        let path = e.path();
        let ty = e.file_type().map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        if ty.is_dir() {
            parents.push(name);
            walk_dir(&path, parents, w)?;
            parents.pop();
        } else if ty.is_file() || (ty.is_symlink() && path.is_file()) {
            add_file(path, parents, &name, w);
        }
        // Symbolic links to folders (possible cycles) and anything else: left out.
    }
    Ok(())
}

fn add_file(path: PathBuf, parents: &[String], name: &str, w: &mut Walk) {
    let Some(format) = DocFormat::of(&path) else {
        w.skipped.push(path);
        return;
    };
    let stem = match name.rfind('.') {
        Some(i) if i > 0 => &name[..i],
        _ => name,
    };
    let mut rel = parents.join("/");
    if !rel.is_empty() {
        rel.push('/');
    }
    rel.push_str(stem);
    w.files.push(Found { path, rel, format });
}

/// The document id of a relative path: `/` kept, every character outside
/// `[A-Za-z0-9._:/-]` replaced by `-`. `Err` when it is empty or longer
/// than [`MAX_ID_CHARS`].
pub fn doc_id(rel: &str) -> Result<String, String> {
    let id: String = rel
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._:/-".contains(c) { c } else { '-' })
        .collect();
    if id.is_empty() {
        return Err("the file name gives an empty document id".into());
    }
    if id.len() > MAX_ID_CHARS {
        return Err(format!(
            "the document id `{}…` would be {} characters (at most {MAX_ID_CHARS}): shorten the path",
            &id[..40],
            id.len()
        ));
    }
    Ok(id)
}

/// `base` joined with `rel` (percent-encoded where a URL path needs it).
pub fn doc_url(base: &str, rel: &str) -> String {
    let mut url = base.trim_end_matches('/').to_string();
    url.push('/');
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// One document as `POST /documents` takes it (the title is left to the
/// Worker: the first heading or `<title>`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Doc {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub text: String,
    pub format: DocFormat,
}

/// A file read for sending, or why it is not sent.
#[derive(Debug, Clone)]
pub struct Item {
    pub path: PathBuf,
    /// The document id (as far as it could be made).
    pub id: String,
    pub format: DocFormat,
    /// Characters of the text (0 when unread).
    pub chars: usize,
    pub doc: Result<Doc, String>,
}

/// Read every found file into a document; per-file problems become the
/// item's error: an id too long or already taken by an earlier file, a
/// `url` too long, text that is not UTF-8 or longer than [`BATCH_CHARS`].
pub fn prepare(files: &[Found], base_url: Option<&str>) -> Vec<Item> {
    let mut taken: std::collections::HashMap<String, PathBuf> = std::collections::HashMap::new();
    let mut items = Vec::with_capacity(files.len());
    for f in files {
        let mut item = Item {
            path: f.path.clone(),
            id: String::new(),
            format: f.format,
            chars: 0,
            doc: Err(String::new()),
        };
        item.doc = (|| {
            let id = doc_id(&f.rel).inspect_err(|_| item.id = f.rel.clone())?;
            item.id = id.clone();
            if let Some(other) = taken.get(&id) {
                return Err(format!("the id `{id}` is also {}'s: rename one of them", other.display()));
            }
            taken.insert(id.clone(), f.path.clone());
            let url = base_url.map(|b| doc_url(b, &f.rel));
            if url.as_ref().is_some_and(|u| u.len() > MAX_URL_CHARS) {
                return Err(format!("its url would be longer than {MAX_URL_CHARS} characters"));
            }
            let mut bytes = Vec::new();
            std::fs::File::open(&f.path)
                .and_then(|mut h| h.read_to_end(&mut bytes))
                .map_err(|e| format!("cannot read it: {e}"))?;
            let mut text = String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())?;
            if text.starts_with('\u{feff}') {
                text.drain(..'\u{feff}'.len_utf8());
            }
            item.chars = text.chars().count();
            if item.chars > BATCH_CHARS {
                return Err(format!(
                    "{} characters: a request holds at most {} — split the file",
                    group(item.chars),
                    group(BATCH_CHARS)
                ));
            }
            Ok(Doc {
                id,
                url,
                text,
                format: f.format,
            })
        })();
        items.push(item);
    }
    items
}

/// Pack documents (their character counts, in order) into batches of at
/// most [`BATCH_DOCS`] documents and [`BATCH_CHARS`] characters, keeping
/// the order; the indices of each batch. A document larger than
/// [`BATCH_CHARS`] goes alone (callers do not send those).
pub fn plan_batches(chars: &[usize]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut sum = 0;
    for (i, &c) in chars.iter().enumerate() {
        match out.last_mut() {
            Some(b) if b.len() < BATCH_DOCS && sum + c <= BATCH_CHARS => {
                b.push(i);
                sum += c;
            }
            _ => {
                out.push(vec![i]);
                sum = c;
            }
        }
    }
    out
}

/// `1234567` → `1,234,567`.
pub fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// How the client authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `authorization: Bearer <token>` (an API key `tak_…` or a JWT).
    Bearer(String),
    /// `x-user-id` and `x-user-roles`: a development user (development
    /// environments whose auth accepts `none` only).
    DevUser { id: String, roles: String },
}

/// One document the Worker ingested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    pub id: String,
    pub title: String,
    pub chunks: u64,
    pub replaced: u64,
}

/// The Worker's answer to a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub ingested: Vec<Ingested>,
    /// (id, error).
    pub errors: Vec<(String, String)>,
    pub request_id: Option<String>,
}

/// A batch the Worker did not take: unreachable, or an error envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchError {
    /// The HTTP status; `None` when the Worker could not be reached.
    pub status: Option<u16>,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    /// `pointer: message` of each detail, pointers into the batch turned
    /// into document ids where they can be.
    pub details: Vec<String>,
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "HTTP {s} {}: {}", self.code, self.message)?,
            None => write!(f, "{}: {}", self.code, self.message)?,
        }
        if let Some(r) = &self.request_id {
            write!(f, " (request id {r})")?;
        }
        for d in &self.details {
            write!(f, "\n  {d}")?;
        }
        Ok(())
    }
}

/// A client of one Worker's `POST /documents`.
pub struct Client {
    agent: ureq::Agent,
    endpoint: String,
    host: Option<String>,
    credentials: Credentials,
    /// Retries of a batch after a connection error, 429, 502, 503 or 504.
    pub retries: u32,
    /// The first pause before a retry; doubled each time (`retry-after` wins).
    pub backoff: Duration,
}

impl Client {
    /// `base`: the Worker's URL (`http://127.0.0.1:8787`); `host`: the
    /// `host` header to send instead of the URL's own.
    pub fn new(base: &str, host: Option<&str>, credentials: Credentials, timeout: Duration) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .user_agent(concat!("tenants-ingest/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            agent,
            endpoint: format!("{}/documents", base.trim_end_matches('/')),
            host: host.map(String::from),
            credentials,
            retries: 3,
            backoff: Duration::from_millis(500),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Send one batch. Ingesting is idempotent (the same id replaces), so a
    /// batch is retried after a connection error or a passing refusal.
    pub fn send(&self, docs: &[&Doc]) -> Result<BatchReport, BatchError> {
        let body = serde_json::to_vec(&serde_json::json!({ "documents": docs })).map_err(|e| BatchError {
            status: None,
            code: "encode".into(),
            message: e.to_string(),
            request_id: None,
            details: vec![],
        })?;
        let mut wait = self.backoff;
        let mut attempt = 0;
        loop {
            let mut req = self.agent.post(&self.endpoint).header("content-type", "application/json");
            if let Some(h) = &self.host {
                req = req.header("host", h);
            }
            req = match &self.credentials {
                Credentials::Bearer(t) => req.header("authorization", &format!("Bearer {t}")),
                Credentials::DevUser { id, roles } => req.header("x-user-id", id).header("x-user-roles", roles),
            };
            let (err, retry_after) = match req.send(&body[..]) {
                Err(e) => (
                    BatchError {
                        status: None,
                        code: "unreachable".into(),
                        message: format!("cannot reach {}: {e}", self.endpoint),
                        request_id: None,
                        details: vec![],
                    },
                    None,
                ),
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|s| s.trim().parse::<u64>().ok());
                    let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).map(String::from);
                    let text = resp.body_mut().read_to_string().unwrap_or_default();
                    match read_answer(status, &text, docs) {
                        Ok(r) => return Ok(r),
                        Err(mut e) => {
                            if let Some(l) = location.filter(|_| (300..400).contains(&status)) {
                                e.message = format!("redirected to {l}: pass the final address as --url");
                            }
                            (e, retry_after)
                        }
                    }
                }
            };
            let passing = match err.status {
                None => true,
                Some(429 | 502 | 503 | 504) => !matches!(err.code.as_str(), "budget_exhausted" | "binding_unavailable"),
                Some(_) => false,
            };
            if !passing || attempt >= self.retries {
                return Err(err);
            }
            attempt += 1;
            let pause = retry_after.map(Duration::from_secs).unwrap_or(wait).min(Duration::from_secs(60));
            std::thread::sleep(pause);
            wait *= 2;
        }
    }
}

/// The Worker's answer: the report of a 2xx `{"data": {"ingested", "errors"}}`,
/// else the error envelope `{"error": {code, message, request_id, details}}`.
pub fn read_answer(status: u16, text: &str, docs: &[&Doc]) -> Result<BatchReport, BatchError> {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let request_id = v["request_id"]
        .as_str()
        .or(v["error"]["request_id"].as_str())
        .filter(|s| !s.is_empty())
        .map(String::from);
    if (200..300).contains(&status) {
        let data = &v["data"];
        if let (Some(ing), Some(errs)) = (data["ingested"].as_array(), data["errors"].as_array()) {
            return Ok(BatchReport {
                ingested: ing
                    .iter()
                    .map(|i| Ingested {
                        id: i["id"].as_str().unwrap_or_default().to_string(),
                        title: i["title"].as_str().unwrap_or_default().to_string(),
                        chunks: i["chunks"].as_u64().unwrap_or(0),
                        replaced: i["replaced"].as_u64().unwrap_or(0),
                    })
                    .collect(),
                errors: errs
                    .iter()
                    .map(|e| {
                        (
                            e["id"].as_str().unwrap_or_default().to_string(),
                            e["error"].as_str().unwrap_or("failed").to_string(),
                        )
                    })
                    .collect(),
                request_id,
            });
        }
        return Err(BatchError {
            status: Some(status),
            code: "unexpected_answer".into(),
            message: format!("the answer is not an ingestion report: {}", snippet(text)),
            request_id,
            details: vec![],
        });
    }
    let e = &v["error"];
    let details = e["details"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let pointer = d["pointer"].as_str().unwrap_or_default();
            // `/documents/3/url` → the id of the batch's fourth document.
            let at = pointer
                .strip_prefix("/documents/")
                .and_then(|rest| rest.split('/').next())
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| docs.get(i))
                .map(|doc| format!("document `{}` ({pointer})", doc.id))
                .unwrap_or_else(|| if pointer.is_empty() { "body".into() } else { pointer.to_string() });
            format!("{at}: {}", d["message"].as_str().unwrap_or_default())
        })
        .collect();
    Err(BatchError {
        status: Some(status),
        code: e["code"].as_str().map(String::from).unwrap_or_else(|| format!("http_{status}")),
        message: e["message"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| format!("not the Worker's error envelope: {}", snippet(text))),
        request_id,
        details,
    })
}

fn snippet(text: &str) -> String {
    let t: String = text.trim().chars().take(200).collect();
    if t.is_empty() {
        "(empty body)".into()
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn walk_recurses_sorted_keeps_known_extensions_and_counts_the_rest() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "b.md", "# B");
        write(d.path(), "a.TXT", "a");
        write(d.path(), "guide/setup.markdown", "s");
        write(d.path(), "guide/deep/page.htm", "<p>x</p>");
        write(d.path(), "guide/index.html", "<p>i</p>");
        write(d.path(), "logo.png", "png");
        write(d.path(), "guide/notes.pdf", "pdf");
        write(d.path(), ".hidden.md", "no");
        write(d.path(), ".git/HEAD.md", "no");
        write(d.path(), "noext", "no");
        let w = walk(&[d.path().to_path_buf()]).unwrap();
        let got: Vec<(&str, DocFormat)> = w.files.iter().map(|f| (f.rel.as_str(), f.format)).collect();
        assert_eq!(
            got,
            vec![
                ("a", DocFormat::Text),
                ("b", DocFormat::Markdown),
                ("guide/deep/page", DocFormat::Html),
                ("guide/index", DocFormat::Html),
                ("guide/setup", DocFormat::Markdown),
            ]
        );
        assert_eq!(w.skipped.len(), 3, "{:?}", w.skipped);
    }

    #[test]
    fn a_file_argument_is_named_by_its_file_name_and_a_missing_path_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "sub/Release Notes.v2.md", "x");
        let w = walk(&[d.path().join("sub/Release Notes.v2.md")]).unwrap();
        assert_eq!(w.files[0].rel, "Release Notes.v2");
        assert_eq!(doc_id(&w.files[0].rel).unwrap(), "Release-Notes.v2");
        assert!(walk(&[d.path().join("nope")]).unwrap_err().contains("nope"));
    }

    #[test]
    fn ids_keep_slashes_replace_the_rest_and_stop_at_128() {
        assert_eq!(doc_id("guide/setup").unwrap(), "guide/setup");
        assert_eq!(doc_id("a b/ç+d:e_f~g").unwrap(), "a-b/--d:e_f-g");
        assert_eq!(doc_id(&"x".repeat(128)).unwrap().len(), 128);
        assert!(doc_id(&"x".repeat(129)).unwrap_err().contains("129"));
        assert!(doc_id("").is_err());
    }

    #[test]
    fn formats_follow_the_extension() {
        assert_eq!(DocFormat::of(Path::new("a.MD")), Some(DocFormat::Markdown));
        assert_eq!(DocFormat::of(Path::new("a.markdown")), Some(DocFormat::Markdown));
        assert_eq!(DocFormat::of(Path::new("a.txt")), Some(DocFormat::Text));
        assert_eq!(DocFormat::of(Path::new("a.html")), Some(DocFormat::Html));
        assert_eq!(DocFormat::of(Path::new("a.htm")), Some(DocFormat::Html));
        assert_eq!(DocFormat::of(Path::new("a.rst")), None);
        assert_eq!(DocFormat::of(Path::new("md")), None);
    }

    #[test]
    fn urls_join_the_base_and_encode_the_path() {
        assert_eq!(
            doc_url("https://docs.acme.example.com/kb/", "guide/setup"),
            "https://docs.acme.example.com/kb/guide/setup"
        );
        assert_eq!(doc_url("https://d.example", "a b/é"), "https://d.example/a%20b/%C3%A9");
    }

    #[test]
    fn batches_hold_at_most_20_documents_and_400000_characters_in_order() {
        assert_eq!(plan_batches(&[]), Vec::<Vec<usize>>::new());
        let b = plan_batches(&[1; 45]);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![20, 20, 5]);
        assert_eq!(b[1][0], 20);
        let b = plan_batches(&[150_000, 150_000, 150_000, 100_000, 150_001]);
        assert_eq!(b, vec![vec![0, 1], vec![2, 3], vec![4]]);
        let b = plan_batches(&[400_000, 1, 399_999]);
        assert_eq!(b, vec![vec![0], vec![1, 2]]);
        for batch in plan_batches(&[7_000; 200]) {
            assert!(batch.len() <= BATCH_DOCS && batch.len() * 7_000 <= BATCH_CHARS);
        }
    }

    #[test]
    fn prepare_reads_files_and_reports_per_file_errors() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a b.md", "\u{feff}# Hello");
        write(d.path(), "a-b.txt", "taken");
        write(d.path(), "big.txt", &"x".repeat(BATCH_CHARS + 1));
        std::fs::write(d.path().join("latin1.txt"), [0xe9u8, 0x74, 0xe9]).unwrap();
        let w = walk(&[d.path().to_path_buf()]).unwrap();
        let items = prepare(&w.files, Some("https://kb.example"));
        let by_path = |n: &str| items.iter().find(|i| i.path.ends_with(n)).unwrap();
        let ok = by_path("a b.md").doc.as_ref().unwrap();
        assert_eq!(ok.id, "a-b");
        assert_eq!(ok.text, "# Hello");
        assert_eq!(ok.url.as_deref(), Some("https://kb.example/a%20b"));
        assert_eq!(ok.format, DocFormat::Markdown);
        assert!(by_path("a-b.txt").doc.as_ref().unwrap_err().contains("a b.md"));
        assert!(by_path("big.txt").doc.as_ref().unwrap_err().contains("400,000"));
        assert_eq!(by_path("big.txt").chars, BATCH_CHARS + 1);
        assert!(by_path("latin1.txt").doc.as_ref().unwrap_err().contains("UTF-8"));
        let body = serde_json::to_value(ok).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"id": "a-b", "url": "https://kb.example/a%20b", "text": "# Hello", "format": "markdown"})
        );
    }

    #[test]
    fn answers_become_reports_or_batch_errors_naming_documents() {
        let d1 = Doc {
            id: "one".into(),
            url: None,
            text: "x".into(),
            format: DocFormat::Text,
        };
        let d2 = Doc {
            id: "two".into(),
            ..d1.clone()
        };
        let docs = [&d1, &d2];
        let ok = r#"{"data":{"ingested":[{"id":"one","title":"One","chunks":3,"replaced":1}],"errors":[{"id":"two","error":"the document has no text"}]},"request_id":"req-1"}"#;
        let r = read_answer(200, ok, &docs).unwrap();
        assert_eq!(r.ingested[0].chunks, 3);
        assert_eq!(r.ingested[0].replaced, 1);
        assert_eq!(r.errors, vec![("two".to_string(), "the document has no text".to_string())]);
        assert_eq!(r.request_id.as_deref(), Some("req-1"));
        let bad = r#"{"error":{"code":"invalid_request","message":"the batch has invalid documents","request_id":"req-2","details":[{"pointer":"/documents/1/url","message":"bad url"}]}}"#;
        let e = read_answer(422, bad, &docs).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str(), e.request_id.as_deref()),
            (Some(422), "invalid_request", Some("req-2"))
        );
        assert_eq!(e.details, vec!["document `two` (/documents/1/url): bad url".to_string()]);
        let shown = e.to_string();
        assert!(
            shown.contains("HTTP 422 invalid_request: the batch has invalid documents (request id req-2)"),
            "{shown}"
        );
        let e = read_answer(502, "<html>bad gateway</html>", &docs).unwrap_err();
        assert_eq!(e.code, "http_502");
        assert!(e.message.contains("bad gateway"));
        assert_eq!(
            read_answer(202, r#"{"data":{"job":"j1"}}"#, &docs).unwrap_err().code,
            "unexpected_answer"
        );
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(400_000), "400,000");
        assert_eq!(group(1_234_567), "1,234,567");
    }
}
