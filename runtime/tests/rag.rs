//! `/documents` and `/search` natively, over the in-memory ports: a
//! loopback-free upstream that embeds lexically (feature hashing, like
//! the scripted model server), reranks by word overlap and answers
//! grounded prompts by quoting source 1. (The same paths run on workerd
//! against the scripted model server in `cargo xtask e2e`.)

mod support;

use std::cell::RefCell;

use futures_util::StreamExt;
use serde_json::{json, Value};
use support::{block_on, text, Harness};
use tenants_runtime::app::DeploymentState;
use tenants_runtime::http::{Body, Response, TestRequest};
use tenants_runtime::ports::{FetchError, LocalFuture, StreamedResponse, Upstream};
use tenants_runtime::tenancy::resolve::Deployment;
use tenants_runtime::tenants::{EnvName, TenantId};

fn words(t: &str) -> Vec<String> {
    t.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
        .map(|w| w.to_lowercase())
        .collect()
}

fn embed(t: &str) -> Vec<f32> {
    let mut v = vec![0f32; 768];
    for w in words(t) {
        let mut h: u32 = 2166136261;
        for b in w.bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(16777619);
        }
        v[(h % 768) as usize] += if h & 0x8000_0000 != 0 { 1.0 } else { -1.0 };
    }
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
    v.iter().map(|x| x / n).collect()
}

/// A model server in process: embeddings, rerank, rewrite and grounded answers.
#[derive(Default)]
struct RagModel {
    calls: RefCell<Vec<(String, Value)>>,
}

impl Upstream for RagModel {
    fn post<'a>(
        &'a self,
        url: &'a str,
        _h: &'a [(&'static str, String)],
        body: Vec<u8>,
        _t: u32,
    ) -> LocalFuture<'a, Result<StreamedResponse, FetchError>> {
        let req: Value = serde_json::from_slice(&body).unwrap_or_default();
        self.calls.borrow_mut().push((url.to_string(), req.clone()));
        let (sse, out) = if url.ends_with("/embeddings") {
            let data: Vec<Value> = req["input"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(i, t)| json!({"index": i, "embedding": embed(t.as_str().unwrap())}))
                .collect();
            (false, json!({"data": data}).to_string())
        } else if url.ends_with("/rerank") {
            let q = words(req["query"].as_str().unwrap());
            let results: Vec<Value> = req["documents"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let dw = words(d.as_str().unwrap());
                    let hit = q.iter().filter(|w| dw.contains(w)).count() as f64 / q.len().max(1) as f64;
                    json!({"index": i, "relevance_score": hit})
                })
                .collect();
            (false, json!({"results": results}).to_string())
        } else {
            let msgs = req["messages"].as_array().unwrap();
            let system = msgs[0]["content"].as_str().unwrap_or_default();
            let user = msgs.last().unwrap()["content"].as_str().unwrap_or_default();
            let answer = if system.contains("rewrite search queries") {
                json!({"rewritten": user.to_lowercase().trim_end_matches('?'), "intent": "question"}).to_string()
            } else {
                let first = user.split("\">\n").nth(1).unwrap_or("").split('\n').next().unwrap_or("");
                let first = first.split(". ").next().unwrap_or("");
                format!("{first} [1]. Invented [9].\nFollow-up questions:\n- What else?\n")
            };
            let mut s = String::new();
            for w in answer.split_inclusive(' ') {
                s.push_str(&format!("data: {}\n\n", json!({"choices": [{"delta": {"content": w}}]})));
            }
            s.push_str("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":9}}\n\ndata: [DONE]\n\n");
            (true, s)
        };
        let chunks: Vec<Result<Vec<u8>, tenants_runtime::ports::PortError>> = vec![Ok(out.into_bytes())];
        let r = StreamedResponse {
            status: 200,
            headers: vec![(
                "content-type".into(),
                if sse { "text/event-stream" } else { "application/json" }.into(),
            )],
            body: Box::pin(futures_util::stream::iter(chunks)),
        };
        Box::pin(async move { Ok(r) })
    }
}

fn dev(t: TenantId) -> DeploymentState {
    DeploymentState::Ready(Deployment::complete(t, EnvName::Dev))
}

fn host(t: TenantId) -> &'static str {
    t.config().envs[EnvName::Dev as usize].hosts[0]
}

fn req(t: TenantId, method: &str, path: &str, roles: &str, body: Option<Value>) -> TestRequest {
    let mut r = TestRequest::new(method, path)
        .with("host", host(t))
        .with("x-user-id", "u1")
        .with("x-user-roles", roles);
    if let Some(b) = body {
        r = r.with("content-type", "application/json").body(b.to_string());
    }
    r
}

fn harness() -> (Harness, std::rc::Rc<RagModel>) {
    let mut h = Harness::new(&[1_000.0]);
    let m = std::rc::Rc::new(RagModel::default());
    h.upstream_override = Some(m.clone());
    (h, m)
}

fn docs() -> Value {
    json!({"documents": [
        {"id": "password-reset", "title": "Resetting your password", "url": "https://docs.acme.example/password-reset",
         "text": "# Resetting your password\n\nOpen the Acme app and tap Forgot password. A reset link arrives by email within five minutes.\n\nThe link expires after 24 hours.", "format": "markdown"},
        {"id": "invoices", "url": "https://docs.acme.example/invoices",
         "text": "<html><head><title>Billing and invoices</title><script>var leak = 'scriptonly-token';</script></head><body><nav>Home</nav><h1>Invoices</h1><p>Invoices are issued on the first day of each month as PDF files.</p></body></html>", "format": "html"},
    ]})
}

fn ingest(h: &Harness, t: TenantId) -> Value {
    let r = block_on(h.handle(&dev(t), &req(t, "POST", "/documents", "admin", Some(docs()))));
    let status = r.status;
    let body = text(r);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn search(h: &Harness, t: TenantId, q: &str, stream: bool) -> Response {
    block_on(h.handle(&dev(t), &req(t, "POST", "/search", "", Some(json!({"query": q, "stream": stream})))))
}

#[test]
fn ingest_then_search_answers_with_citations_from_the_ingested_metadata() {
    let (h, model) = harness();
    let v = ingest(&h, TenantId::Acme);
    let ing = &v["data"]["ingested"];
    assert_eq!(ing[0]["id"], "password-reset");
    assert_eq!(ing[1]["title"], "Billing and invoices", "the HTML title is used: {v}");
    assert_eq!(v["data"]["errors"], json!([]));
    let r = search(&h, TenantId::Acme, "How do I reset my password?", false);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-cache"), Some("miss"));
    let v: Value = serde_json::from_str(&text(r)).unwrap();
    let s0 = &v["sources"][0];
    assert_eq!(
        (s0["id"].as_str(), s0["title"].as_str(), s0["url"].as_str()),
        (
            Some("password-reset"),
            Some("Resetting your password"),
            Some("https://docs.acme.example/password-reset")
        )
    );
    assert!(v["answer"].as_str().unwrap().contains("[1]"), "{v}");
    assert!(
        !v["answer"].as_str().unwrap().contains("[9]"),
        "an invented citation is dropped: {v}"
    );
    assert_eq!(v["follow_ups"], json!(["What else?"]));
    assert!(v["confidence"].as_f64().unwrap() > 0.0);
    assert_eq!(v["query"]["intent"], "question");
    assert_eq!(v["index"], "local");
    // Script text was never indexed.
    assert!(!serde_json::to_string(&h.doc_index.objects()).unwrap().is_empty());
    let r = search(&h, TenantId::Acme, "scriptonly-token", false);
    let v: Value = serde_json::from_str(&text(r)).unwrap();
    assert!(
        v["sources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["id"] != "invoices" || !s["snippet"].as_str().unwrap().contains("scriptonly")),
        "{v}"
    );
    assert!(model.calls.borrow().iter().any(|(u, _)| u.ends_with("/embeddings")));
}

#[test]
fn another_tenant_never_sees_these_documents() {
    let (h, _) = harness();
    ingest(&h, TenantId::Acme);
    let r = search(&h, TenantId::Globex, "How do I reset my password?", false);
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_str(&text(r)).unwrap();
    assert_eq!(v["sources"], json!([]), "{v}");
    assert_eq!(v["model"], Value::Null, "no model call without sources");
    // Each tenant has its own object.
    assert!(h
        .doc_index
        .objects()
        .iter()
        .all(|o| o.starts_with("t/acme/") || o.starts_with("t/globex/")));
    let list = block_on(h.handle(&dev(TenantId::Globex), &req(TenantId::Globex, "GET", "/documents", "", None)));
    let v: Value = serde_json::from_str(&text(list)).unwrap();
    assert_eq!(v["data"]["documents"], json!([]));
}

#[test]
fn ingesting_needs_the_role_and_bad_documents_are_reported() {
    let (h, _) = harness();
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &req(TenantId::Acme, "POST", "/documents", "reader", Some(docs())),
    ));
    assert_eq!(r.status, 403);
    let bad = json!({"documents": [{"id": "a b", "text": "x"}, {"id": "ok", "text": "x", "url": "ftp://x"}]});
    let r = block_on(h.handle(&dev(TenantId::Acme), &req(TenantId::Acme, "POST", "/documents", "admin", Some(bad))));
    let status = r.status;
    assert_eq!(status, 422, "{}", text(r));
    let empty = json!({"documents": [{"id": "e", "text": "<script>only</script>", "format": "html"}]});
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &req(TenantId::Acme, "POST", "/documents", "admin", Some(empty)),
    ));
    let v: Value = serde_json::from_str(&text(r)).unwrap();
    assert_eq!(v["data"]["errors"][0]["id"], "e", "{v}");
}

#[test]
fn reingest_replaces_delete_removes_and_the_cache_follows_the_index_version() {
    let (h, model) = harness();
    ingest(&h, TenantId::Acme);
    let first = search(&h, TenantId::Acme, "invoice pdf", false);
    assert_eq!(first.header("x-cache"), Some("miss"));
    let calls = model.calls.borrow().len();
    let again = search(&h, TenantId::Acme, "  Invoice   PDF ", false);
    assert_eq!(again.header("x-cache"), Some("hit"));
    assert_eq!(model.calls.borrow().len(), calls, "a cache hit calls no model");
    let v: Value = serde_json::from_str(&text(again)).unwrap();
    assert_eq!(v["cached"], true);
    // Re-ingest with a shorter text: the old chunks go, the cache misses.
    let short = json!({"documents": [{"id": "invoices", "title": "Invoices", "text": "Invoices come monthly."}]});
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &req(TenantId::Acme, "POST", "/documents", "admin", Some(short)),
    ));
    assert_eq!(r.status, 200);
    let r = search(&h, TenantId::Acme, "invoice pdf", false);
    assert_eq!(r.header("x-cache"), Some("miss"));
    // Delete.
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &req(TenantId::Acme, "DELETE", "/documents/invoices", "admin", None),
    ));
    assert_eq!(r.status, 200);
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &req(TenantId::Acme, "DELETE", "/documents/invoices", "admin", None),
    ));
    assert_eq!(r.status, 404);
    let v: Value = serde_json::from_str(&text(search(&h, TenantId::Acme, "invoices monthly", false))).unwrap();
    assert!(v["sources"].as_array().unwrap().iter().all(|s| s["id"] != "invoices"), "{v}");
}

#[test]
fn a_streamed_search_sends_deltas_then_sources_follow_ups_and_done() {
    let (h, _) = harness();
    ingest(&h, TenantId::Acme);
    let r = search(&h, TenantId::Acme, "How do I reset my password?", true);
    assert_eq!(r.status, 200);
    let body = text(r);
    let names: Vec<&str> = body.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    assert_eq!(names.first(), Some(&"query"));
    assert!(names.contains(&"delta"));
    let tail: Vec<&str> = names.iter().rev().take(3).rev().copied().collect();
    assert_eq!(tail, ["sources", "follow_ups", "done"], "{body}");
    assert!(!body.contains("Follow-up questions"), "the marker is never streamed: {body}");
}

#[test]
fn a_large_batch_goes_through_the_queue_with_progress_and_stays_in_its_tenant() {
    let (h, _) = harness();
    let docs: Vec<Value> = (0..45)
        .map(|i| json!({"id": format!("doc-{i:03}"), "text": format!("Document number {i} talks about topic {i} and nothing else."), "url": format!("https://docs.acme.example/{i}")}))
        .collect();
    let mut docs = docs;
    docs.push(json!({"id": "huge", "text": "word ".repeat(30_000)}));
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &req(TenantId::Acme, "POST", "/documents", "admin", Some(json!({"documents": docs}))),
    ));
    let status = r.status;
    let body = text(r);
    assert_eq!(status, 202, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let job = v["data"]["job"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["data"]["job"]["total"], 46);
    assert_eq!(v["data"]["job"]["failed"], 1, "the oversized document is reported at once: {v}");
    assert_eq!(v["data"]["status_url"], format!("/documents/jobs/{job}"));
    let sent = h.queue.sent.borrow().clone();
    assert!(!sent.is_empty() && sent.iter().all(|b| b.len() <= 96 * 1024));
    // Nothing is ingested before the consumer runs.
    let j: Value = serde_json::from_str(&text(block_on(h.handle(
        &dev(TenantId::Acme),
        &req(TenantId::Acme, "GET", &format!("/documents/jobs/{job}"), "", None),
    ))))
    .unwrap();
    assert_eq!(
        (j["data"]["done"].as_u64(), j["data"]["state"].as_str()),
        (Some(0), Some("running")),
        "one document is already accounted for (the oversized one)"
    );
    // A message that claims another tenant is dropped by this deployment.
    let dep = Deployment::complete(TenantId::Acme, EnvName::Dev);
    let forged = sent[0].replace("\"tenant\":\"acme\"", "\"tenant\":\"globex\"");
    assert!(block_on(tenants_runtime::features::documents::consume(&dep, &h.ports(), &forged)).is_ok());
    assert!(
        h.doc_index.objects().iter().all(|o| !o.starts_with("t/globex/")),
        "nothing reached globex"
    );
    // Delivered to its own deployment, every message is ingested.
    for b in &sent {
        block_on(tenants_runtime::features::documents::consume(&dep, &h.ports(), b)).unwrap();
    }
    let j: Value = serde_json::from_str(&text(block_on(h.handle(
        &dev(TenantId::Acme),
        &req(TenantId::Acme, "GET", &format!("/documents/jobs/{job}"), "", None),
    ))))
    .unwrap();
    assert_eq!(
        (
            j["data"]["done"].as_u64(),
            j["data"]["failed"].as_u64(),
            j["data"]["state"].as_str()
        ),
        (Some(45), Some(1), Some("done")),
        "{j}"
    );
    let list: Value = serde_json::from_str(&text(block_on(
        h.handle(&dev(TenantId::Acme), &req(TenantId::Acme, "GET", "/documents?limit=1000", "", None)),
    )))
    .unwrap();
    assert_eq!(list["data"]["documents"].as_array().unwrap().len(), 45);
    // Another tenant cannot read the job.
    let other = block_on(h.handle(
        &dev(TenantId::Globex),
        &req(TenantId::Globex, "GET", &format!("/documents/jobs/{job}"), "", None),
    ));
    assert_eq!(other.status, 404);
}

#[test]
fn a_client_that_leaves_a_streamed_search_still_settles_it_as_interrupted() {
    let (h, _) = harness();
    ingest(&h, TenantId::Acme);
    let r = search(&h, TenantId::Acme, "How do I reset my password?", true);
    let Body::Stream(mut s) = r.body else { panic!("not a stream") };
    let first = block_on(s.next()).unwrap().unwrap();
    assert!(String::from_utf8(first).unwrap().starts_with("event: query"));
    drop(s);
    // The request's data point is written as the stream is dropped, with
    // the answer interrupted and its tokens; the budget settles after.
    {
        let points = h.metrics.points.borrow();
        assert_eq!(points.len(), 2, "the ingestion's and the search's: {points:?}");
        let p = &points[1];
        assert_eq!(
            (p.blobs[2].as_str(), p.blobs[11].as_str(), p.blobs[12].as_str()),
            ("search", "cancelled", "interrupted")
        );
        assert!(p.doubles[3] > 0.0, "the prompt's tokens are counted: {p:?}");
    }
    assert_eq!(h.background.drain(), 1, "the settlement runs after the client left");
}

#[test]
fn a_document_id_with_a_slash_is_deleted_by_its_percent_encoded_path() {
    let (h, _) = harness();
    let one = json!({"documents": [{"id": "guides/setup", "text": "Setup guide text."}]});
    let r = block_on(h.handle(&dev(TenantId::Acme), &req(TenantId::Acme, "POST", "/documents", "admin", Some(one))));
    assert_eq!(r.status, 200);
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &req(TenantId::Acme, "DELETE", "/documents/guides%2Fsetup", "admin", None),
    ));
    let status = r.status;
    assert_eq!(status, 200, "{}", text(r));
}

#[test]
fn a_cached_search_is_still_charged_to_the_rate_limit() {
    let (h, _) = harness();
    ingest(&h, TenantId::Acme);
    let _ = search(&h, TenantId::Acme, "invoice pdf", false);
    let hit = search(&h, TenantId::Acme, "invoice pdf", false);
    assert_eq!(hit.header("x-cache"), Some("hit"));
    assert!(hit.header("ratelimit-remaining").is_some(), "{:?}", hit.headers);
}

#[test]
fn a_filtered_search_only_cites_the_named_documents() {
    let (h, _) = harness();
    ingest(&h, TenantId::Acme);
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &req(
            TenantId::Acme,
            "POST",
            "/search",
            "",
            Some(json!({"query": "How do I reset my password?", "filters": {"documents": ["invoices"]}})),
        ),
    ));
    let v: Value = serde_json::from_str(&text(r)).unwrap();
    assert!(v["sources"].as_array().unwrap().iter().all(|s| s["id"] == "invoices"), "{v}");
}
