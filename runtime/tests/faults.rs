//! Fault injection, one dependency at a time (docs/failure-modes.md): the
//! in-memory ports and the scripted upstream fail, answer garbage or are
//! not bound, and each test checks what the user sees, what is logged and
//! whether the request went on without the dependency (fail open) or was
//! refused (fail closed).

mod support;

use serde_json::{json, Value};
use support::{block_on, text, Harness};
use tenants_runtime::app::DeploymentState;
use tenants_runtime::auth::api_keys;
use tenants_runtime::http::TestRequest;
use tenants_runtime::ports::memory::Scripted;
use tenants_runtime::ports::FetchError;
use tenants_runtime::tenancy::resolve::{resolve, Deployment};
use tenants_runtime::tenants::{EnvName, TenantId};

fn state(t: TenantId, e: EnvName) -> DeploymentState {
    DeploymentState::Ready(Deployment::complete(t, e))
}

fn host(t: TenantId, e: EnvName) -> &'static str {
    t.config().envs[e as usize].hosts[0].trim_start_matches("*.")
}

/// An API key of `t` in `e` with `roles`, stored where the Worker looks.
fn api_key(h: &Harness, t: TenantId, e: EnvName, roles: &[&str]) -> String {
    let ctx = resolve(&Deployment::complete(t, e), Some(host(t, e)), None).unwrap();
    let key = api_keys::generate(t.as_str(), &[9; 32]);
    let hash = api_keys::sha256_hex(&key);
    let rec = api_keys::KeyRecord {
        id: hash[..16].to_string(),
        name: "faults".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        tenant: t.as_str().into(),
        env: e.as_str().into(),
        created_at: "2026-12-06T00:00:00Z".into(),
    };
    let json = serde_json::to_string(&rec).unwrap();
    block_on(
        h.ports()
            .kv("CACHE")
            .unwrap()
            .put(&api_keys::storage_key(&ctx, &hash), &json, Some(&json)),
    )
    .unwrap();
    key
}

fn post(t: TenantId, e: EnvName, path: &str, auth: &str, body: Value) -> TestRequest {
    let r = TestRequest::new("POST", path)
        .with("host", host(t, e))
        .with("content-type", "application/json")
        .body(body.to_string());
    if auth.starts_with("tak_") {
        r.with("authorization", &format!("Bearer {auth}"))
    } else {
        r.with("x-user-id", auth).with("x-user-roles", "admin")
    }
}

fn code(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .map(|v| v["error"]["code"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

fn chat_body() -> Value {
    json!({"stream": false, "messages": [{"role": "user", "content": "hello"}]})
}

// 1. AI provider: the Workers AI binding.

#[test]
fn workers_ai_binding_errors_are_retried_per_model_then_a_502_envelope() {
    let h = Harness::new(&[1_000.0]);
    let key = api_key(&h, TenantId::Acme, EnvName::Stage, &[]);
    // acme: the chat model and one fallback, 2 retries each.
    let attempts = 2 * (1 + TenantId::Acme.config().ai.retries as usize);
    *h.ai.script.borrow_mut() = (0..attempts).map(|_| Scripted::status(503, "capacity")).collect();
    let r = block_on(h.handle(
        &state(TenantId::Acme, EnvName::Stage),
        &post(TenantId::Acme, EnvName::Stage, "/chat", &key, chat_body()),
    ));
    let status = r.status;
    let body = text(r);
    assert_eq!((status, code(&body).as_str()), (502, "upstream_error"), "{body}");
    assert_eq!(h.ai.calls.borrow().len(), attempts, "every model, every retry, then no more");
    let log = h.last_log();
    assert_eq!(log["error"], "upstream_error");
    assert_eq!(log["attempts"], attempts as u64, "{log}");
    assert_eq!(log["ttft_ms"], Value::Null, "no first token: {log}");
    assert!(log["detail"].as_str().unwrap_or("").contains("503"), "{log}");
    // The data point says the same: a server error, no first token.
    let p = h.metrics.points.borrow().last().cloned().unwrap();
    assert_eq!((p.doubles[7], p.doubles[11], p.doubles[12]), (1.0, 0.0, attempts as f64));
}

#[test]
fn a_missing_ai_binding_is_503_and_reserves_nothing() {
    let h = Harness::new(&[1_000.0]);
    let key = api_key(&h, TenantId::Acme, EnvName::Stage, &[]);
    let st = state(TenantId::Acme, EnvName::Stage);
    for path in ["/chat", "/search"] {
        let body = if path == "/chat" {
            chat_body()
        } else {
            json!({"query": "refunds"})
        };
        let r = block_on(h.handle_with(&st, &post(TenantId::Acme, EnvName::Stage, path, &key, body), |p| p.ai = None));
        let status = r.status;
        let b = text(r);
        assert_eq!((status, code(&b).as_str()), (503, "binding_unavailable"), "{path}: {b}");
    }
    // Nothing was reserved (and so nothing leaked) by either route.
    let me = block_on(
        h.handle(
            &st,
            &TestRequest::get("/v1/me")
                .with("host", host(TenantId::Acme, EnvName::Stage))
                .with("authorization", &format!("Bearer {key}")),
        ),
    );
    let v: Value = serde_json::from_str(&text(me)).unwrap();
    assert_eq!(v["data"]["budget"]["tenant_used"], 0, "{v}");
}

// 2. AI Gateway (acme's prod: the gateway's OpenAI-compatible endpoint).

#[test]
fn a_gateway_that_refuses_or_times_out_is_an_envelope_and_the_token_is_sent() {
    let h = Harness::new(&[1_000.0]);
    let key = api_key(&h, TenantId::Acme, EnvName::Prod, &[]);
    let st = state(TenantId::Acme, EnvName::Prod);
    *h.upstream.script.borrow_mut() = vec![Scripted::status(401, r#"{"error":"bad token"}"#)];
    let r = block_on(h.handle(&st, &post(TenantId::Acme, EnvName::Prod, "/chat", &key, chat_body())));
    let status = r.status;
    let b = text(r);
    assert_eq!((status, code(&b).as_str()), (502, "upstream_error"), "{b}");
    assert_eq!(h.upstream.calls.borrow().len(), 1, "a 401 is not retried");
    let call = h.upstream.calls.borrow()[0].clone();
    assert!(call.url.contains("/compat/chat/completions"), "{}", call.url);
    assert!(call.headers.iter().any(|(k, _)| *k == "cf-aig-authorization"), "{:?}", call.headers);
    // A gateway that does not answer in time: every attempt times out → 504.
    let attempts = 2 * (1 + TenantId::Acme.config().ai.retries as usize);
    *h.upstream.script.borrow_mut() = (0..attempts).map(|_| Scripted::Fail(FetchError::Timeout)).collect();
    let r = block_on(h.handle(&st, &post(TenantId::Acme, EnvName::Prod, "/chat", &key, chat_body())));
    let status = r.status;
    let b = text(r);
    assert_eq!((status, code(&b).as_str()), (504, "upstream_timeout"), "{b}");
    // Without its token secret the gateway is not called at all.
    let r = block_on(
        h.handle_with(&st, &post(TenantId::Acme, EnvName::Prod, "/chat", &key, chat_body()), |p| {
            p.secrets = std::rc::Rc::new([])
        }),
    );
    assert_eq!(r.status, 503);
}

// 3. Vectorize (stage and prod; development uses the local index).

#[test]
fn vectorize_down_fails_the_documents_and_the_deletion_closed() {
    let h = Harness::new(&[1_000.0]);
    let key = api_key(&h, TenantId::Acme, EnvName::Stage, &["admin"]);
    let st = state(TenantId::Acme, EnvName::Stage);
    let vector: Vec<f32> = (0..768).map(|i| ((i % 7) as f32) / 7.0).collect();
    let embedded = Scripted::status(200, &json!({"shape": [1, 768], "data": [vector]}).to_string());
    *h.ai.script.borrow_mut() = vec![embedded.clone(), embedded];
    let docs = json!({"documents": [{"id": "refunds", "title": "Refunds", "text": "Refunds within 30 days."}]});
    // Indexed while Vectorize is up; then it goes down.
    let r = block_on(h.handle(&st, &post(TenantId::Acme, EnvName::Stage, "/documents", &key, docs.clone())));
    let status = r.status;
    assert_eq!(status, 200, "{}", text(r));
    h.vectors.down.set(true);
    let r = block_on(h.handle(&st, &post(TenantId::Acme, EnvName::Stage, "/documents", &key, docs)));
    let status = r.status;
    let b = text(r);
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(status, 200, "{b}");
    assert_eq!(v["data"]["errors"][0]["id"], "refunds", "{v}");
    assert!(b.contains("vector index cannot be reached"), "{b}");
    assert!(h.vectors.calls.borrow().iter().any(|(m, _)| *m == "upsert"), "Vectorize was tried");
    let r = block_on(
        h.handle(
            &st,
            &TestRequest::new("DELETE", "/documents/refunds")
                .with("host", host(TenantId::Acme, EnvName::Stage))
                .with("authorization", &format!("Bearer {key}")),
        ),
    );
    let status = r.status;
    let b = text(r);
    assert_eq!((status, code(&b).as_str()), (500, "internal"), "{b}");
    assert!(
        h.last_log()["detail"].as_str().unwrap_or("").contains("vectorize"),
        "{}",
        h.last_log()
    );
}

// 3b. The local index (development): the DocIndex Durable Object.

#[test]
fn the_document_index_down_fails_search_closed_with_the_cause_in_the_log() {
    let h = Harness::new(&[1_000.0]);
    h.doc_index.down.set(true);
    let st = state(TenantId::Acme, EnvName::Dev);
    let r = block_on(h.handle(
        &st,
        &post(TenantId::Acme, EnvName::Dev, "/search", "u1", json!({"query": "refunds"})),
    ));
    let status = r.status;
    let b = text(r);
    assert_eq!((status, code(&b).as_str()), (500, "internal"), "{b}");
    assert!(!b.contains("object answered"), "the cause stays in the log: {b}");
    assert!(
        h.last_log()["detail"].as_str().unwrap_or("").contains("object answered 500"),
        "{}",
        h.last_log()
    );
    assert!(
        h.upstream.calls.borrow().iter().all(|c| !c.url.ends_with("/chat/completions")),
        "no answer without sources"
    );
}

// 4. KV: the chat cache fails open (a miss), API keys fail closed.

#[test]
fn kv_down_makes_the_chat_cache_a_miss_and_api_keys_unusable() {
    let h = Harness::new(&[1_000.0]);
    assert!(TenantId::Globex.config().cache.chat_ttl > 0);
    h.kv.down.set(true);
    *h.upstream.script.borrow_mut() = vec![Scripted::sse(&[
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    ])];
    let r = block_on(h.handle(
        &state(TenantId::Globex, EnvName::Dev),
        &post(TenantId::Globex, EnvName::Dev, "/chat", "u1", chat_body()),
    ));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-cache"), Some("miss"));
    assert_eq!(h.upstream.calls.borrow().len(), 1, "answered by the model");
    // initech keeps API keys in KV: a key cannot be checked, so it is not accepted.
    let r = block_on(
        h.handle(
            &state(TenantId::Initech, EnvName::Dev),
            &TestRequest::get("/v1/me")
                .with("host", host(TenantId::Initech, EnvName::Dev))
                .with("authorization", "Bearer tak_initech_0000000000000000000000000000000000000000000"),
        ),
    );
    assert!(r.status == 401 || r.status == 503, "{}", r.status);
}

// 5. Durable Objects: the limiter (fail closed), the audit log (no tool without it).

#[test]
fn the_rate_limiter_down_refuses_budgeted_routes_before_any_model_call() {
    let h = Harness::new(&[1_000.0]);
    h.limiter.down.set(true);
    let r = block_on(h.handle(
        &state(TenantId::Acme, EnvName::Dev),
        &post(TenantId::Acme, EnvName::Dev, "/chat", "u1", chat_body()),
    ));
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(code(&text(r)), "rate_limiter_unavailable");
    assert!(h.upstream.calls.borrow().is_empty(), "no model call");
}

#[test]
fn without_the_audit_binding_no_tool_runs() {
    let h = Harness::new(&[1_000.0]);
    let body = json!({"text": "Globex ships from Springfield.", "length": "short"});
    let r = block_on(h.handle_with(
        &state(TenantId::Globex, EnvName::Dev),
        &post(TenantId::Globex, EnvName::Dev, "/tools/summarize", "u1", body),
        |p| p.audit = None,
    ));
    let status = r.status;
    let b = text(r);
    assert_eq!((status, code(&b).as_str()), (503, "audit_unavailable"), "{b}");
    assert!(h.upstream.calls.borrow().is_empty(), "the tool did not run");
}

// 6. Queues: a batch that cannot be queued fails closed.

#[test]
fn a_queue_that_refuses_the_batch_is_a_500_and_nothing_is_indexed() {
    let h = Harness::new(&[1_000.0]);
    h.queue.down.set(true);
    let docs: Vec<Value> = (0..46)
        .map(|i| json!({"id": format!("d{i}"), "text": format!("Document number {i} about refunds.")}))
        .collect();
    let r = block_on(h.handle(
        &state(TenantId::Acme, EnvName::Dev),
        &post(TenantId::Acme, EnvName::Dev, "/documents", "u1", json!({"documents": docs})),
    ));
    let status = r.status;
    let b = text(r);
    assert_eq!((status, code(&b).as_str()), (500, "internal"), "{b}");
    assert!(h.queue.sent.borrow().is_empty());
    assert!(h.upstream.calls.borrow().is_empty(), "nothing embedded in the request");
}

// 7. Analytics Engine: metrics never fail a request.

#[test]
fn metrics_lost_or_unbound_never_fail_a_request() {
    let h = Harness::new(&[1_000.0]);
    h.metrics.down.set(true);
    let st = state(TenantId::Acme, EnvName::Dev);
    let r = block_on(h.handle(&st, &TestRequest::get("/health").with("host", host(TenantId::Acme, EnvName::Dev))));
    assert_eq!(r.status, 200);
    assert_eq!(h.metrics.lost.get(), 1, "the point was attempted and lost");
    let r = block_on(h.handle_with(
        &st,
        &TestRequest::get("/health").with("host", host(TenantId::Acme, EnvName::Dev)),
        |p| p.metrics = None,
    ));
    assert_eq!(r.status, 200);
    assert_eq!(h.log.lines.borrow().len(), 2, "the log lines are written either way");
}

// 8. The JWKS endpoint: keys that cannot be fetched refuse the token.

#[test]
fn jwks_unreachable_or_garbage_is_503_with_retry_after_never_anonymous() {
    let h = Harness::new(&[1_000.0]);
    let st = state(TenantId::Acme, EnvName::Stage);
    let claims = json!({"iss": "https://login.acme.example.com/", "aud": "acme-ai", "sub": "user-1", "exp": 4_000_000_000u64, "iat": 1});
    let token = support::keys().sign("RS256", "k1", &claims);
    let me = || {
        TestRequest::get("/v1/me")
            .with("host", host(TenantId::Acme, EnvName::Stage))
            .with("authorization", &format!("Bearer {token}"))
    };
    // Unreachable (the in-memory client knows no such URL).
    let r = block_on(h.handle(&st, &me()));
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(code(&text(r)), "auth_unavailable");
    assert!(h.last_log()["detail"].as_str().unwrap_or("").contains("jwt"), "{}", h.last_log());
    // Garbage instead of a key set.
    h.http
        .serve("https://login.acme.example.com/.well-known/jwks.json", 200, "not json");
    let r = block_on(h.handle(&st, &me()));
    assert!(r.status == 503 || r.status == 401, "{}", r.status);
    assert_ne!(r.status, 200);
}

// The search stream that fails midway is logged as failed.

#[test]
fn a_search_stream_failing_midway_ends_with_an_error_event_and_is_logged_failed() {
    use tenants_runtime::ports::{LocalFuture, StreamedResponse, Upstream};
    struct Broken;
    impl Upstream for Broken {
        fn post<'a>(
            &'a self,
            url: &'a str,
            _h: &'a [(&'static str, String)],
            body: Vec<u8>,
            _t: u32,
        ) -> LocalFuture<'a, Result<StreamedResponse, FetchError>> {
            let req: Value = serde_json::from_slice(&body).unwrap_or_default();
            let (ct, chunks): (&str, Vec<Vec<u8>>) = if url.ends_with("/embeddings") {
                let n = req["input"].as_array().map_or(1, Vec::len);
                let data: Vec<Value> = (0..n).map(|i| json!({"index": i, "embedding": vec![0.5f32; 768]})).collect();
                ("application/json", vec![json!({"data": data}).to_string().into_bytes()])
            } else if req["stream"] == true {
                (
                    "text/event-stream",
                    vec![
                        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Refunds take \"}}]}\n\n".to_vec(),
                        b"data: {broken".to_vec(),
                    ],
                )
            } else {
                (
                    "application/json",
                    vec![json!({"choices": [{"message": {"content": "refunds"}}]}).to_string().into_bytes()],
                )
            };
            let body: tenants_runtime::ports::ByteStream = Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok)));
            Box::pin(async move {
                Ok(StreamedResponse {
                    status: 200,
                    headers: vec![("content-type".into(), ct.into())],
                    body,
                })
            })
        }
    }
    let mut h = Harness::new(&[1_000.0]);
    h.upstream_override = Some(std::rc::Rc::new(Broken));
    let st = state(TenantId::Acme, EnvName::Dev);
    let docs = json!({"documents": [{"id": "refunds", "title": "Refunds", "text": "Refunds take five business days."}]});
    let r = block_on(h.handle(&st, &post(TenantId::Acme, EnvName::Dev, "/documents", "u1", docs)));
    let status = r.status;
    assert_eq!(status, 200, "{}", text(r));
    let r = block_on(h.handle(
        &st,
        &post(
            TenantId::Acme,
            EnvName::Dev,
            "/search",
            "u1",
            json!({"query": "refunds", "stream": true}),
        ),
    ));
    assert_eq!(r.status, 200);
    let body = text(r);
    assert!(body.contains("event: error"), "{body}");
    assert!(!body.contains("broken"), "the cause stays in the log: {body}");
    let log = h.last_log();
    assert_eq!(
        (log["stream"].as_str(), log["level"].as_str()),
        (Some("failed"), Some("error")),
        "{log}"
    );
    assert_eq!(log["answer"], "failed");
}
