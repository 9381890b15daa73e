//! `tenants ingest` against a loopback HTTP server that answers like the
//! Worker's `POST /documents` (per-document reports, error envelopes with
//! request ids), recording every request: the `host` header, the
//! credentials, the batches. Exit codes 0, 1, 2 and 3.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};

const KEY: &str = "tak_acme_0123456789abcdef0123456789abcdef";

/// One request the server saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    host: String,
    authorization: Option<String>,
    user_id: Option<String>,
    user_roles: Option<String>,
    content_type: Option<String>,
    body: Value,
}

impl Seen {
    fn ids(&self) -> Vec<String> {
        self.body["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_string())
            .collect()
    }
}

/// What the server answers: status, body, extra header lines (`name: value\r\n`).
type Answer = (u16, Value, String);

/// The loopback Worker; stopped (and its thread joined) when dropped, so
/// also when a test fails.
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(answer: impl Fn(usize, &Seen) -> Answer + Send + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let Some(req) = read_request(&stream) else { continue };
                let n = {
                    let mut s = seen2.lock().unwrap();
                    s.push(req.clone());
                    s.len() - 1
                };
                let (status, body, extra) = answer(n, &req);
                let b = body.to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{b}",
                    b.len()
                );
                let _ = stream.flush();
            }
        });
        Server {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// A server answering like the Worker: every document ingested (one
    /// chunk per 1,000 characters, at least one; ids starting `old` replace
    /// 2 chunks), except texts containing `FAIL`.
    fn worker() -> Server {
        Server::start(|n, req| (200, report(n, req), String::new()))
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop up so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_request(stream: &TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut req = Seen {
        method,
        path,
        host: String::new(),
        authorization: None,
        user_id: None,
        user_roles: None,
        content_type: None,
        body: Value::Null,
    };
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h.trim().is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        let value = value.trim().to_string();
        match name.trim().to_ascii_lowercase().as_str() {
            "host" => req.host = value,
            "authorization" => req.authorization = Some(value),
            "x-user-id" => req.user_id = Some(value),
            "x-user-roles" => req.user_roles = Some(value),
            "content-type" => req.content_type = Some(value),
            "content-length" => len = value.parse().ok()?,
            _ => {}
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    req.body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Some(req)
}

/// The Worker's report for a batch.
fn report(n: usize, req: &Seen) -> Value {
    let mut ingested = Vec::new();
    let mut errors = Vec::new();
    for d in req.body["documents"].as_array().into_iter().flatten() {
        let id = d["id"].as_str().unwrap();
        let text = d["text"].as_str().unwrap();
        if text.contains("FAIL") {
            errors.push(json!({"id": id, "error": "the document has no text"}));
        } else {
            let replaced = if id.starts_with("old") { 2 } else { 0 };
            ingested.push(json!({"id": id, "title": id, "chunks": text.len().div_ceil(1000).max(1), "replaced": replaced}));
        }
    }
    json!({"data": {"ingested": ingested, "errors": errors}, "request_id": format!("req-{n}")})
}

fn workspace_tenants() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenants")
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// `tenants ingest ARGS --root <the examples>`, with no API key in the
/// environment unless `key` and no proxy.
fn ingest(args: &[&str], key: Option<&str>) -> Output {
    ingest_in(&workspace_tenants(), args, key)
}

fn ingest_in(root: &Path, args: &[&str], key: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tenants"));
    c.arg("ingest").args(args).arg("--root").arg(root);
    for v in [
        "TENANTS_API_KEY",
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        c.env_remove(v);
    }
    if let Some(k) = key {
        c.env("TENANTS_API_KEY", k);
    }
    c.output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

#[test]
fn folders_and_files_go_in_batches_with_the_tenant_host_and_the_key() {
    let d = tempfile::tempdir().unwrap();
    let docs = d.path().join("docs");
    for i in 0..21 {
        write(&docs, &format!("guide/p{i:02}.md"), &format!("# Page {i}\n\nSome text."));
    }
    write(&docs, "index.html", "<title>Home</title><p>Welcome</p>");
    write(&docs, "notes.txt", "plain notes");
    write(&docs, "a b.md", "# Spaces");
    write(&docs, "logo.png", "not a document");
    let big = d.path().join("big");
    for i in 1..=3 {
        write(&big, &format!("b{i}.txt"), &"y".repeat(150_000));
    }
    let single = d.path().join("old-faq.markdown");
    std::fs::write(&single, "# FAQ").unwrap();

    let server = Server::worker();
    let url = server.url();
    let o = ingest(
        &[
            "--tenant",
            "acme",
            "--env",
            "dev",
            "--url",
            &url,
            "--base-url",
            "https://kb.acme.example.com/help/",
            docs.to_str().unwrap(),
            big.to_str().unwrap(),
            single.to_str().unwrap(),
        ],
        Some(KEY),
    );
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "stdout:\n{out}\nstderr:\n{err}");
    let seen = server.seen();
    // 24 small documents, then 3 of 150,000 characters and a small one:
    // 20 | 4 small + 2 big (300,000+) | the third big one + the file.
    assert_eq!(seen.iter().map(|s| s.ids().len()).collect::<Vec<_>>(), vec![20, 6, 2]);
    for s in &seen {
        assert_eq!((s.method.as_str(), s.path.as_str()), ("POST", "/documents"));
        assert_eq!(s.host, "acme.localhost", "the Worker finds the tenant by its host");
        assert_eq!(s.authorization.as_deref(), Some(format!("Bearer {KEY}").as_str()));
        assert_eq!(s.user_id, None);
        assert!(s.content_type.as_deref().unwrap().starts_with("application/json"));
        let chars: usize = s.body["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["text"].as_str().unwrap().chars().count())
            .sum();
        assert!(chars <= 400_000, "{chars}");
    }
    let all: Vec<String> = seen.iter().flat_map(|s| s.ids()).collect();
    assert_eq!(&all[..3], ["a-b", "guide/p00", "guide/p01"]);
    assert_eq!(&all[22..], ["index", "notes", "b1", "b2", "b3", "old-faq"]);
    let doc = |id: &str| -> Value {
        seen.iter()
            .flat_map(|s| s.body["documents"].as_array().unwrap().clone())
            .find(|d| d["id"] == id)
            .unwrap()
    };
    assert_eq!(
        doc("guide/p03"),
        json!({"id": "guide/p03", "url": "https://kb.acme.example.com/help/guide/p03", "text": "# Page 3\n\nSome text.", "format": "markdown"})
    );
    assert_eq!(doc("index")["format"], "html");
    assert_eq!(doc("notes")["format"], "text");
    assert_eq!(doc("a-b")["url"], "https://kb.acme.example.com/help/a%20b");
    assert_eq!(doc("old-faq")["url"], "https://kb.acme.example.com/help/old-faq");
    assert!(doc("index").get("title").is_none(), "the title is left to the Worker");
    // 25 one-chunk documents, 3 × 150 chunks; old-faq replaced 2.
    assert!(
        out.contains("ingested 28 of 28 document(s) into acme (dev): 475 chunk(s), 2 replaced chunk(s)"),
        "{out}"
    );
    assert!(out.contains("skipped 1 file(s)"), "{out}");
    assert!(
        err.contains("batch 1/3: 20 document(s)"),
        "one line per batch off a terminal:\n{err}"
    );
    assert!(
        err.contains("batch 3/3: 2 document(s), 150,005 chars: 2 ingested (151 chunks), 0 failed"),
        "{err}"
    );
}

#[test]
fn failed_documents_exit_1_and_an_oversized_file_is_not_sent() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "good.md", "# Good");
    write(d.path(), "broken.md", "FAIL");
    write(d.path(), "huge.txt", &"z".repeat(400_001));
    write(d.path(), &format!("{}.md", "n".repeat(130)), "long name");
    let server = Server::worker();
    let url = server.url();
    let o = ingest(
        &["--tenant", "acme", "--env", "dev", "--url", &url, d.path().to_str().unwrap()],
        Some(KEY),
    );
    let (out, err) = text(&o);
    assert_eq!(code(&o), 1, "stdout:\n{out}\nstderr:\n{err}");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].ids(), ["broken", "good"]);
    assert!(out.contains("ingested 1 of 4 document(s)"), "{out}");
    assert!(out.contains("failed: 3 document(s):"), "{out}");
    assert!(out.contains("  broken ("), "{out}");
    assert!(out.contains("the document has no text"), "{out}");
    assert!(out.contains("400,001 characters: a request holds at most 400,000"), "{out}");
    assert!(out.contains("would be 130 characters (at most 128)"), "{out}");
}

#[test]
fn a_refused_batch_exits_3_with_its_code_message_and_request_id_and_stops() {
    let d = tempfile::tempdir().unwrap();
    for i in 0..25 {
        write(d.path(), &format!("d{i:02}.md"), "text");
    }
    let server = Server::start(|_, _| {
        (
            401,
            json!({"error": {"code": "unauthenticated", "message": "the credentials were not accepted", "request_id": "req-7f3a"}}),
            "www-authenticate: Bearer realm=\"acme\"\r\n".into(),
        )
    });
    let url = server.url();
    let o = ingest(
        &["--tenant", "acme", "--env", "dev", "--url", &url, d.path().to_str().unwrap()],
        Some("tak_acme_revoked"),
    );
    let (out, err) = text(&o);
    assert_eq!(code(&o), 3, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(server.seen().len(), 1, "a 401 is not retried and later batches are not sent");
    assert!(err.contains("batch 1 of 2"), "{err}");
    assert!(
        err.contains("HTTP 401 unauthenticated: the credentials were not accepted (request id req-7f3a)"),
        "{err}"
    );
    assert!(
        !err.contains("tak_acme_revoked") && !out.contains("tak_acme_revoked"),
        "the key is never printed"
    );
    assert!(out.contains("not sent: 25 document(s)"), "{out}");
}

#[test]
fn passing_refusals_are_retried_and_a_validation_error_names_the_document() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "one.md", "# One");
    write(d.path(), "two.md", "# Two");
    let server = Server::start(|n, req| match n {
        0 => (
            503,
            json!({"error": {"code": "rate_limiter_unavailable", "message": "try again", "request_id": "req-a"}}),
            "retry-after: 0\r\n".into(),
        ),
        1 => (200, report(n, req), String::new()),
        _ => (
            422,
            json!({"error": {"code": "invalid_request", "message": "the batch has invalid documents", "request_id": "req-c",
                "details": [{"pointer": "/documents/1/url", "message": "`url` must be an http(s) URL"}]}}),
            String::new(),
        ),
    });
    let url = server.url();
    let args = ["--tenant", "acme", "--env", "dev", "--url", &url, d.path().to_str().unwrap()];
    let o = ingest(&args, Some(KEY));
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(server.seen().len(), 2, "the 503 was retried once");
    assert_eq!(server.seen()[0].body, server.seen()[1].body);

    let o = ingest(&args, Some(KEY));
    let (out, err) = text(&o);
    assert_eq!(code(&o), 3, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("HTTP 422 invalid_request: the batch has invalid documents (request id req-c)"),
        "{err}"
    );
    assert!(
        err.contains("document `two` (/documents/1/url): `url` must be an http(s) URL"),
        "{err}"
    );
}

#[test]
fn an_unreachable_worker_exits_3() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "one.md", "# One");
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let o = ingest(
        &[
            "--tenant",
            "acme",
            "--env",
            "dev",
            "--url",
            &url,
            "--retries",
            "0",
            d.path().to_str().unwrap(),
        ],
        Some(KEY),
    );
    let (out, err) = text(&o);
    assert_eq!(code(&o), 3, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("cannot reach"), "{err}");
    assert!(out.contains("not sent: 1 document(s)"), "{out}");
}

#[test]
fn a_development_user_is_sent_instead_of_a_key() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "one.md", "# One");
    let server = Server::worker();
    let url = server.url();
    let o = ingest(
        &[
            "--tenant",
            "initech",
            "--env",
            "dev",
            "--url",
            &url,
            "--dev-user",
            "ann",
            d.path().to_str().unwrap(),
        ],
        Some(KEY),
    );
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "stdout:\n{out}\nstderr:\n{err}");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].host, "initech.localhost");
    assert_eq!(seen[0].user_id.as_deref(), Some("ann"));
    assert_eq!(seen[0].user_roles.as_deref(), Some("admin"));
    assert_eq!(seen[0].authorization, None, "a presented key would be verified instead");
}

#[test]
fn usage_and_config_errors_exit_2_and_send_nothing() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "one.md", "# One");
    write(d.path(), "skip/logo.png", "png");
    let server = Server::worker();
    let url = server.url();
    let p = d.path().to_str().unwrap();
    let skip = d.path().join("skip");
    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (
            vec!["--tenant", "acme", "--env", "dev", "--url", &url, p],
            None,
            "no credentials: set $TENANTS_API_KEY",
        ),
        (
            vec!["--tenant", "acme", "--env", "prod", "--url", &url, "--dev-user", "ann", p],
            None,
            "does not accept development users",
        ),
        (
            vec!["--tenant", "acme", "--env", "qa", "--url", &url, p],
            Some(KEY),
            "has no `qa` environment",
        ),
        (
            vec!["--tenant", "nobody", "--env", "dev", "--url", &url, p],
            Some(KEY),
            "unknown tenant `nobody`",
        ),
        (
            vec!["--tenant", "acme", "--env", "dev", "--url", &url, "/no/such/folder"],
            Some(KEY),
            "/no/such/folder",
        ),
        (
            vec!["--tenant", "acme", "--env", "dev", "--url", &url, skip.to_str().unwrap()],
            Some(KEY),
            "nothing to ingest",
        ),
        (
            vec!["--tenant", "acme", "--env", "dev", "--url", "127.0.0.1:1", p],
            Some(KEY),
            "--url must be",
        ),
        (
            vec!["--tenant", "acme", "--env", "dev", "--dev-user", "ann", "--api-key-env", "K", p],
            Some(KEY),
            "cannot be used with",
        ),
    ];
    for (args, key, want) in cases {
        let o = ingest(&args, key);
        let (out, err) = text(&o);
        assert_eq!(code(&o), 2, "{args:?}\nstdout:\n{out}\nstderr:\n{err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert_eq!(server.seen().len(), 0);
}

#[test]
fn dry_run_lists_the_batches_and_sends_nothing() {
    let d = tempfile::tempdir().unwrap();
    for i in 0..21 {
        write(d.path(), &format!("kb/q{i:02}.txt"), "question");
    }
    let server = Server::worker();
    let url = server.url();
    let o = ingest(
        &[
            "--tenant",
            "acme",
            "--env",
            "dev",
            "--url",
            &url,
            "--dry-run",
            d.path().to_str().unwrap(),
        ],
        None,
    );
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(server.seen().len(), 0);
    assert!(
        out.contains(&format!(
            "would send 21 document(s) in 2 batch(es) to {url}/documents (host acme.localhost) for acme (dev)"
        )),
        "{out}"
    );
    assert!(out.contains("    1  text              8  kb/q00"), "{out}");
    assert!(out.contains("    2  text              8  kb/q20"), "{out}");
    assert!(out.contains("credentials: none: $TENANTS_API_KEY is not set"), "{out}");

    // Without --url: the tenant's first exact host in the environment.
    let o = ingest(
        &["--tenant", "acme", "--env", "prod", "--dry-run", d.path().to_str().unwrap()],
        Some(KEY),
    );
    let (out, _) = text(&o);
    assert_eq!(code(&o), 0);
    assert!(out.contains("to https://acme.example.com/documents for acme (prod)"), "{out}");
    assert!(out.contains("credentials: $TENANTS_API_KEY (authorization: Bearer)"), "{out}");
}

#[test]
fn only_wildcard_hosts_need_url_and_host() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("tenants");
    std::fs::create_dir_all(&root).unwrap();
    for e in std::fs::read_dir(workspace_tenants()).unwrap().flatten() {
        std::fs::copy(e.path(), root.join(e.file_name())).unwrap();
    }
    let acme = root.join("acme.kdl");
    let s = std::fs::read_to_string(&acme).unwrap();
    assert!(s.contains("        host \"acme.example.com\"\n"));
    std::fs::write(&acme, s.replacen("        host \"acme.example.com\"\n", "", 1)).unwrap();
    write(d.path(), "docs/one.md", "# One");
    let docs = d.path().join("docs");
    let o = ingest_in(
        &root,
        &["--tenant", "acme", "--env", "prod", "--dry-run", docs.to_str().unwrap()],
        Some(KEY),
    );
    let (out, err) = text(&o);
    assert_eq!(code(&o), 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("every host of `acme` in `prod` is a wildcard (*.acme.example.com): pass --url URL"),
        "{err}"
    );

    let o = ingest_in(
        &root,
        &[
            "--tenant",
            "acme",
            "--env",
            "prod",
            "--dry-run",
            "--url",
            "http://127.0.0.1:9",
            "--host",
            "app.acme.example.com",
            docs.to_str().unwrap(),
        ],
        Some(KEY),
    );
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("http://127.0.0.1:9/documents (host app.acme.example.com)"), "{out}");
}
