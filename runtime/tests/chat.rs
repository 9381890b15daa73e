//! `/chat` and `/v1/chat/completions` natively, over the in-memory ports
//! and a scripted upstream: wire format, sessions, fallbacks, failures,
//! budgets, the cache, cancellation. (The same paths run on workerd
//! against the scripted model server in `cargo xtask e2e`.)

mod support;

use futures_util::StreamExt;
use serde_json::{json, Value};
use support::{block_on, text, Harness};
use tenants_runtime::app::DeploymentState;
use tenants_runtime::http::{Body, Response, TestRequest};
use tenants_runtime::objects::budget::{BudgetOp, Ledger};
use tenants_runtime::objects::sessions::{SessionOp, SessionReply};
use tenants_runtime::ports::memory::Scripted;
use tenants_runtime::ports::FetchError;
use tenants_runtime::tenancy::resolve::Deployment;
use tenants_runtime::tenants::{EnvName, TenantId};

fn dev(t: TenantId) -> DeploymentState {
    DeploymentState::Ready(Deployment::complete(t, EnvName::Dev))
}

fn host(t: TenantId) -> &'static str {
    t.config().envs[EnvName::Dev as usize].hosts[0]
}

fn post(t: TenantId, path: &str, user: &str, body: Value) -> TestRequest {
    TestRequest::new("POST", path)
        .with("host", host(t))
        .with("x-user-id", user)
        .with("content-type", "application/json")
        .body(body.to_string())
}

fn get(t: TenantId, path: &str, user: &str) -> TestRequest {
    TestRequest::get(path).with("host", host(t)).with("x-user-id", user)
}

/// A well-formed upstream stream: the text in pieces, usage, [DONE].
fn upstream_reply(pieces: &[&str]) -> Scripted {
    let mut chunks = vec![": keep-alive\n\n".to_string()];
    for p in pieces {
        chunks.push(format!(
            "data: {}\n\n",
            json!({"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": null}]})
        ));
    }
    chunks.push(format!(
        "data: {}\n\n",
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    ));
    chunks.push("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n".into());
    // Split at awkward places: every event cut in two.
    let all = chunks.concat().into_bytes();
    let mut parts = vec![];
    let mut i = 0;
    while i < all.len() {
        let n = (i % 7) + 3;
        parts.push(all[i..(i + n).min(all.len())].to_vec());
        i += n;
    }
    Scripted::Reply {
        status: 200,
        headers: vec![("content-type".into(), "text/event-stream".into())],
        chunks: parts,
    }
}

fn events(sse: &str) -> Vec<String> {
    sse.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| e.trim_start_matches("data: ").to_string())
        .collect()
}

fn code(r: &Response) -> String {
    let v: Value = serde_json::from_slice(r.body.bytes()).unwrap();
    v["error"]["code"].as_str().unwrap_or_default().to_string()
}

fn session(h: &Harness, t: TenantId, user: &str, id: &str) -> SessionReply {
    let key = format!("t/{}/session/{user}", t.as_str());
    h.sessions.apply(&key, &SessionOp::Get { session_id: id.into() })
}

#[test]
fn chat_streams_openai_chunks_and_stores_both_messages() {
    let h = Harness::new(&[1_000.0]);
    *h.upstream.script.borrow_mut() = vec![upstream_reply(&["Hel", "lo caf\u{e9}"])];
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &post(
            TenantId::Acme,
            "/chat",
            "u1",
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        ),
    ));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream; charset=utf-8"));
    let sid = r.header("x-session-id").unwrap().to_string();
    let model = r.header("x-model").unwrap().to_string();
    let body = text(r);
    let ev = events(&body);
    assert_eq!(ev.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = ev[..ev.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"], json!({"role": "assistant", "content": ""}));
    let content: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(content, "Hello caf\u{e9}");
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk" && c["model"] == model.as_str()));
    assert_eq!(chunks[chunks.len() - 2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        chunks.last().unwrap()["usage"],
        json!({"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14})
    );
    // What went upstream.
    let calls = h.upstream.calls.borrow();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].url.ends_with("/chat/completions"), "{}", calls[0].url);
    assert_eq!(calls[0].body["stream"], true);
    assert_eq!(calls[0].body["stream_options"]["include_usage"], true);
    assert_eq!(calls[0].body["messages"], json!([{"role": "user", "content": "hi"}]));
    // Both messages are in the user's session.
    let SessionReply::Session(v) = session(&h, TenantId::Acme, "u1", &sid) else {
        panic!("no session")
    };
    let stored: Vec<(&str, &str, &str)> = v
        .messages
        .iter()
        .map(|m| (m.role.as_str(), m.content.as_str(), m.status.as_str()))
        .collect();
    assert_eq!(stored, [("user", "hi", "complete"), ("assistant", "Hello caf\u{e9}", "complete")]);
    // The log line names the model and the tokens.
    let line = h.last_log();
    assert_eq!(
        (line["model"].as_str(), line["tokens_in"].as_u64(), line["tokens_out"].as_u64()),
        (Some(model.as_str()), Some(11), Some(3))
    );
    assert_eq!(line["stream"], "completed");
}

#[test]
fn a_session_continues_with_its_history_and_is_invisible_to_others() {
    let h = Harness::new(&[1_000.0]);
    *h.upstream.script.borrow_mut() = vec![upstream_reply(&["first answer"])];
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &post(
            TenantId::Acme,
            "/chat",
            "u1",
            json!({"messages": [{"role": "user", "content": "one"}]}),
        ),
    ));
    let sid = r.header("x-session-id").unwrap().to_string();
    text(r);
    let again = json!({"session_id": sid, "stream": false, "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "two"}]});
    let r = block_on(h.handle(&dev(TenantId::Acme), &post(TenantId::Acme, "/chat", "u1", again.clone())));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(r.body.bytes()));
    let v: Value = serde_json::from_slice(r.body.bytes()).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["session_id"], sid.as_str());
    assert_eq!(v["choices"][0]["message"]["content"], "first answer");
    let sent = &h.upstream.calls.borrow()[1].body["messages"];
    assert_eq!(
        sent,
        &json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "one"}, {"role": "assistant", "content": "first answer"}, {"role": "user", "content": "two"}])
    );
    // Another user of the same tenant: not found, and nothing was called.
    let r = block_on(h.handle(&dev(TenantId::Acme), &post(TenantId::Acme, "/chat", "u2", again.clone())));
    assert_eq!((r.status, code(&r).as_str()), (404, "session_not_found"));
    let r = block_on(h.handle(&dev(TenantId::Acme), &get(TenantId::Acme, &format!("/sessions/{sid}"), "u2")));
    assert_eq!((r.status, code(&r).as_str()), (404, "session_not_found"));
    // Another tenant, same user name: not found either.
    let r = block_on(h.handle(&dev(TenantId::Globex), &post(TenantId::Globex, "/chat", "u1", again)));
    assert_eq!((r.status, code(&r).as_str()), (404, "session_not_found"));
    assert_eq!(h.upstream.calls.borrow().len(), 2);
    // The owner lists and reads it, then deletes it.
    let r = block_on(h.handle(&dev(TenantId::Acme), &get(TenantId::Acme, "/sessions", "u1")));
    let v: Value = serde_json::from_slice(r.body.bytes()).unwrap();
    assert_eq!(v["data"]["sessions"][0]["id"], sid.as_str());
    assert_eq!(v["data"]["sessions"][0]["message_count"], 4);
    let r = block_on(
        h.handle(
            &dev(TenantId::Acme),
            &TestRequest::new("DELETE", &format!("/sessions/{sid}"))
                .with("host", host(TenantId::Acme))
                .with("x-user-id", "u1"),
        ),
    );
    assert_eq!(r.status, 200);
    let r = block_on(h.handle(&dev(TenantId::Acme), &get(TenantId::Acme, &format!("/sessions/{sid}"), "u1")));
    assert_eq!(r.status, 404);
}

#[test]
fn openai_path_defaults_to_one_json_completion_and_checks_the_model() {
    let h = Harness::new(&[1_000.0]);
    *h.upstream.script.borrow_mut() = vec![upstream_reply(&["ok"])];
    let body = json!({"model": "default", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]});
    let r = block_on(h.handle(&dev(TenantId::Acme), &post(TenantId::Acme, "/v1/chat/completions", "u1", body)));
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_slice(r.body.bytes()).unwrap();
    assert_eq!(
        (v["object"].as_str(), v["choices"][0]["message"]["content"].as_str()),
        (Some("chat.completion"), Some("ok"))
    );
    assert_eq!(v["usage"]["total_tokens"], 14);
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &post(
            TenantId::Acme,
            "/v1/chat/completions",
            "u1",
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
        ),
    ));
    assert_eq!((r.status, code(&r).as_str()), (400, "model_not_allowed"));
    let msg: Value = serde_json::from_slice(r.body.bytes()).unwrap();
    assert!(
        msg["error"]["message"]
            .as_str()
            .unwrap()
            .contains(TenantId::Acme.config().ai.chat_model),
        "{msg}"
    );
    // Streaming on the OpenAI path: usage only when asked.
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &post(
            TenantId::Acme,
            "/v1/chat/completions",
            "u1",
            json!({"stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        ),
    ));
    assert!(!text(r).contains("\"usage\""));
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &post(
            TenantId::Acme,
            "/v1/chat/completions",
            "u1",
            json!({"stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "hi"}]}),
        ),
    ));
    assert!(text(r).contains("\"total_tokens\":14"));
}

#[test]
fn a_failing_model_falls_back_before_the_first_token() {
    let h = Harness::new(&[1_000.0]);
    let cfg = TenantId::Acme.config();
    assert!(
        !cfg.ai.fallbacks.is_empty() || cfg.ai.routes.iter().any(|r| r.route == "chat" && !r.fallbacks.is_empty()),
        "acme has a fallback"
    );
    let attempts = cfg.ai.retries + 1;
    let mut script: Vec<Scripted> = (0..attempts)
        .map(|_| Scripted::status(500, "{\"error\":{\"message\":\"boom\"}}"))
        .collect();
    script.push(upstream_reply(&["from the fallback"]));
    *h.upstream.script.borrow_mut() = script;
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &post(
            TenantId::Acme,
            "/chat",
            "u1",
            json!({"stream": false, "messages": [{"role": "user", "content": "hi"}]}),
        ),
    ));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(r.body.bytes()));
    let calls = h.upstream.calls.borrow();
    assert_eq!(calls.len() as u32, attempts + 1);
    assert_ne!(calls[0].body["model"], calls[calls.len() - 1].body["model"]);
    let v: Value = serde_json::from_slice(r.body.bytes()).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "from the fallback");
    assert_eq!(h.last_log()["attempts"], attempts + 1);
    // Backoff between retries of the same model.
    assert!(h.timer.slept_ms.get() >= 100);
}

#[test]
fn upstream_failures_before_the_first_token_are_envelopes() {
    for (script, status, code_) in [
        (Scripted::Fail(FetchError::Timeout), 504, "upstream_timeout"),
        (Scripted::status(503, "busy"), 502, "upstream_error"),
        (Scripted::status(400, "{\"error\":{\"message\":\"bad\"}}"), 502, "upstream_error"),
        (Scripted::sse(&["data: {not json\n\n"]), 502, "upstream_error"),
    ] {
        let h = Harness::new(&[1_000.0]);
        *h.upstream.script.borrow_mut() = vec![script];
        let r = block_on(h.handle(
            &dev(TenantId::Acme),
            &post(
                TenantId::Acme,
                "/chat",
                "u1",
                json!({"messages": [{"role": "user", "content": "hi"}]}),
            ),
        ));
        assert_eq!((r.status, code(&r).as_str()), (status, code_));
        // A 400 is not retried; the session keeps the question and a failed answer.
        let sessions = h.sessions.apply("t/acme/session/u1", &SessionOp::List { limit: 5, cursor: None });
        let SessionReply::Listed { sessions, .. } = sessions else {
            panic!()
        };
        let SessionReply::Session(v) = session(&h, TenantId::Acme, "u1", &sessions[0].id) else {
            panic!()
        };
        assert_eq!(v.messages[1].status, "failed");
    }
}

#[test]
fn a_failure_mid_stream_ends_with_an_error_event_and_no_done() {
    let h = Harness::new(&[1_000.0]);
    *h.upstream.script.borrow_mut() = vec![Scripted::sse(&[
        "data: {\"choices\":[{\"delta\":{\"content\":\"par\"}}]}\n\n",
        "data: {broken\n\n",
    ])];
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &post(
            TenantId::Acme,
            "/chat",
            "u1",
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        ),
    ));
    assert_eq!(r.status, 200);
    let sid = r.header("x-session-id").unwrap().to_string();
    let body = text(r);
    assert!(!body.contains("[DONE]"), "{body}");
    let last: Value = serde_json::from_str(events(&body).last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "upstream_error");
    let SessionReply::Session(v) = session(&h, TenantId::Acme, "u1", &sid) else {
        panic!()
    };
    assert_eq!((v.messages[1].content.as_str(), v.messages[1].status.as_str()), ("par", "failed"));
    assert_eq!(h.last_log()["stream"], "failed");
    // A stream cut before [DONE] fails the same way.
    *h.upstream.script.borrow_mut() = vec![Scripted::sse(&["data: {\"choices\":[{\"delta\":{\"content\":\"par\"}}]}\n\n"])];
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &post(
            TenantId::Acme,
            "/chat",
            "u1",
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        ),
    ));
    assert!(text(r).contains("upstream_error"));
}

#[test]
fn a_client_that_leaves_cancels_the_upstream_and_the_answer_is_kept_as_interrupted() {
    let h = Harness::new(&[1_000.0]);
    *h.upstream.script.borrow_mut() = vec![upstream_reply(&["a ", "b ", "c ", "d "])];
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &post(
            TenantId::Acme,
            "/chat",
            "u1",
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        ),
    ));
    let sid = r.header("x-session-id").unwrap().to_string();
    let Body::Stream(mut s) = r.body else { panic!("not a stream") };
    for _ in 0..3 {
        block_on(s.next()).unwrap().unwrap();
    }
    drop(s);
    assert_eq!(h.upstream.cancelled.get(), 1, "the upstream body was dropped before its end");
    assert_eq!(h.background.drain(), 1);
    let SessionReply::Session(v) = session(&h, TenantId::Acme, "u1", &sid) else {
        panic!()
    };
    assert_eq!(v.messages[1].status, "interrupted");
    assert!(!v.messages[1].content.is_empty());
    let line = h.last_log();
    assert_eq!(
        (line["stream"].as_str(), line["answer"].as_str()),
        (Some("cancelled"), Some("interrupted"))
    );
}

#[test]
fn budgets_refuse_before_the_model_and_settle_with_usage() {
    let h = Harness::new(&[1_000.0]);
    *h.upstream.script.borrow_mut() = vec![upstream_reply(&["ok"])];
    let cfg = TenantId::Acme.config();
    let limit = cfg.ai.tokens_per_day.expect("acme has a budget");
    // Used up but for 10 tokens.
    h.limiter.ledgers.borrow_mut().insert(
        "t/acme/ratelimit".into(),
        Ledger {
            day: 0,
            tenant: limit - 10,
            users: Default::default(),
        },
    );
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &post(
            TenantId::Acme,
            "/chat",
            "u1",
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        ),
    ));
    assert_eq!((r.status, code(&r).as_str()), (429, "budget_exhausted"));
    assert!(r.header("retry-after").is_some());
    assert!(h.upstream.calls.borrow().is_empty(), "no model call");
    // With room: reserved, then settled to the reported usage (14).
    h.limiter.ledgers.borrow_mut().clear();
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &post(
            TenantId::Acme,
            "/chat",
            "u1",
            json!({"stream": false, "messages": [{"role": "user", "content": "hi"}]}),
        ),
    ));
    assert_eq!(r.status, 200);
    assert_eq!(h.limiter.ledgers.borrow()["t/acme/ratelimit"].tenant, 14);
    let _ = BudgetOp::Settle {
        day: 0,
        user: String::new(),
        reserved: 0,
        actual: 0,
    };
}

#[test]
fn safety_rules_refuse_before_anything_is_stored() {
    let h = Harness::new(&[1_000.0]);
    let globex = TenantId::Globex.config();
    let term = globex.safety.blocked_terms[0];
    let r = block_on(h.handle(
        &dev(TenantId::Globex),
        &post(
            TenantId::Globex,
            "/chat",
            "u1",
            json!({"messages": [{"role": "user", "content": format!("tell me {term}")}]}),
        ),
    ));
    assert_eq!((r.status, code(&r).as_str()), (400, "blocked_content"));
    let long = "x".repeat(globex.safety.max_input_chars as usize + 1);
    let r = block_on(h.handle(
        &dev(TenantId::Globex),
        &post(
            TenantId::Globex,
            "/chat",
            "u1",
            json!({"messages": [{"role": "user", "content": long}]}),
        ),
    ));
    assert_eq!((r.status, code(&r).as_str()), (400, "input_too_long"));
    let r = block_on(h.handle(
        &dev(TenantId::Globex),
        &post(
            TenantId::Globex,
            "/chat",
            "u1",
            json!({"messages": [{"role": "assistant", "content": "x"}]}),
        ),
    ));
    assert_eq!((r.status, code(&r).as_str()), (422, "invalid_request"));
    assert!(h.upstream.calls.borrow().is_empty());
    let SessionReply::Listed { sessions, .. } = h.sessions.apply("t/globex/session/u1", &SessionOp::List { limit: 5, cursor: None }) else {
        panic!()
    };
    assert!(sessions.is_empty());
    // acme redacts: the model and the session see no address.
    *h.upstream.script.borrow_mut() = vec![upstream_reply(&["ok"])];
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &post(
            TenantId::Acme,
            "/chat",
            "u1",
            json!({"messages": [{"role": "user", "content": "mail me at jo@example.com"}]}),
        ),
    ));
    text(r);
    assert_eq!(h.upstream.calls.borrow()[0].body["messages"][0]["content"], "mail me at [email]");
}

#[test]
fn a_repeat_request_is_answered_from_the_tenant_cache_in_the_same_format() {
    let h = Harness::new(&[1_000.0]);
    assert!(TenantId::Globex.config().cache.chat_ttl > 0);
    *h.upstream.script.borrow_mut() = vec![upstream_reply(&["cached ", "answer"])];
    let body = json!({"messages": [{"role": "user", "content": "same question"}]});
    let r = block_on(h.handle(&dev(TenantId::Globex), &post(TenantId::Globex, "/chat", "u1", body.clone())));
    assert_eq!(r.header("x-cache"), Some("miss"));
    let first = text(r);
    let r = block_on(h.handle(&dev(TenantId::Globex), &post(TenantId::Globex, "/chat", "u2", body.clone())));
    assert_eq!(r.header("x-cache"), Some("hit"));
    let second = text(r);
    assert_eq!(h.upstream.calls.borrow().len(), 1, "no second model call");
    let content = |s: &str| -> String {
        events(s)
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(e).ok())
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(content(&first), content(&second));
    assert!(second.ends_with("data: [DONE]\n\n"));
    // The key is the tenant's; its expiry is the tenant's chat-ttl.
    let ttls = h.kv.ttls.borrow();
    let (k, ttl) = ttls.iter().next().unwrap();
    assert!(k.starts_with("t/globex/cache/chat/"), "{k}");
    assert_eq!(*ttl, TenantId::Globex.config().cache.chat_ttl.max(60));
    // Another tenant with the same question is not served globex's answer.
    drop(ttls);
    *h.upstream.script.borrow_mut() = vec![upstream_reply(&["acme answer"])];
    let r = block_on(h.handle(&dev(TenantId::Acme), &post(TenantId::Acme, "/chat", "u1", body)));
    assert_ne!(r.header("x-cache"), Some("hit"));
    assert!(text(r).contains("acme answer"));
    // The metrics: a miss, a hit (a lookup each, no tokens for the hit),
    // and acme's own point under its own index.
    let points = h.metrics.points.borrow();
    let hm: Vec<_> = points
        .iter()
        .map(|p| (p.index.as_str(), p.blobs[7].as_str(), p.doubles[9], p.doubles[10]))
        .collect();
    assert_eq!(&hm[..2], [("globex", "miss", 0.0, 1.0), ("globex", "hit", 1.0, 1.0)]);
    assert_eq!(hm[2].0, "acme");
}

#[test]
fn each_request_writes_one_data_point_in_the_documented_layout_with_its_cost() {
    let h = Harness::new(&[1_000.0]);
    *h.upstream.script.borrow_mut() = vec![upstream_reply(&["ok"])];
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &post(
            TenantId::Acme,
            "/chat",
            "u1",
            json!({"stream": false, "messages": [{"role": "user", "content": "hi"}]}),
        ),
    ));
    assert_eq!(r.status, 200);
    let points = h.metrics.points.borrow();
    assert_eq!(points.len(), 1, "one point per request");
    let p = &points[0];
    let log = h.last_log();
    assert_eq!(p.index, "acme");
    assert_eq!((p.blobs.len(), p.doubles.len()), (15, 15));
    assert_eq!(&p.blobs[..5], ["acme", "dev", "chat", "POST", ""]);
    assert_eq!(p.blobs[5], log["model"].as_str().unwrap(), "blob6 is the model that answered");
    assert_eq!(p.blobs[7], "off", "no cache binding in this harness");
    assert_eq!(p.blobs[8], log["request_id"].as_str().unwrap());
    assert_eq!(p.blobs[9], log["trace_id"].as_str().unwrap());
    assert_eq!(p.blobs[10], log["principal"].as_str().unwrap());
    assert_eq!(p.blobs[12], "complete");
    assert_eq!(p.blobs[14], tenants_runtime::app::metrics::LAYOUT);
    assert_eq!((p.doubles[0], p.doubles[3], p.doubles[4]), (200.0, 11.0, 3.0));
    assert_eq!((p.doubles[7], p.doubles[8], p.doubles[9], p.doubles[10]), (0.0, 0.0, 0.0, 0.0));
    // acme's chat model is priced: llama-3.1-8b-instruct, $0.282 / $0.827
    // per M tokens, 25608 / 75147 neurons per M.
    assert_eq!(p.blobs[5], "@cf/meta/llama-3.1-8b-instruct");
    assert_eq!(p.doubles[14], 1.0, "priced");
    let usd = 11.0 * 0.282 / 1e6 + 3.0 * 0.827 / 1e6;
    let neurons = 11.0 * 25608.0 / 1e6 + 3.0 * 75147.0 / 1e6;
    assert!((p.doubles[6] - usd).abs() < 1e-12, "{}", p.doubles[6]);
    assert!((p.doubles[5] - neurons).abs() < 1e-9, "{}", p.doubles[5]);
}

#[test]
fn refusals_are_points_too_and_an_unknown_host_writes_none() {
    let h = Harness::new(&[1_000.0]);
    let r = block_on(h.handle(&dev(TenantId::Acme), &post(TenantId::Acme, "/chat", "u1", json!({"messages": []}))));
    assert_eq!(r.status, 422);
    let r = block_on(h.handle(&dev(TenantId::Acme), &TestRequest::get("/health").with("host", "nobody.example")));
    assert_eq!(r.status, 404);
    let points = h.metrics.points.borrow();
    assert_eq!(points.len(), 1, "the unknown host has a log line, not a point");
    let p = &points[0];
    assert_eq!(&p.blobs[2..5], ["chat", "POST", "invalid_request"]);
    assert_eq!((p.doubles[0], p.doubles[7], p.doubles[8]), (422.0, 0.0, 1.0));
    assert_eq!((p.doubles[3], p.doubles[4], p.doubles[6], p.doubles[14]), (0.0, 0.0, 0.0, 0.0));
}

#[test]
fn chat_is_rate_limited_with_its_budget_in_the_same_hit() {
    let h = Harness::new(&[1_000.0]);
    *h.upstream.script.borrow_mut() = vec![upstream_reply(&["ok"])];
    let limit = TenantId::Initech.config().rate_limits.user.limit;
    let body = json!({"stream": false, "messages": [{"role": "user", "content": "hi"}]});
    for i in 0..limit {
        let r = block_on(h.handle(&dev(TenantId::Initech), &post(TenantId::Initech, "/chat", "u1", body.clone())));
        assert_eq!(r.status, 200, "request {i}");
        assert!(r.header("ratelimit-remaining").is_some(), "limit headers on a chat answer");
    }
    let calls = h.upstream.calls.borrow().len();
    let r = block_on(h.handle(&dev(TenantId::Initech), &post(TenantId::Initech, "/chat", "u1", body)));
    assert_eq!((r.status, code(&r).as_str()), (429, "rate_limited"));
    assert!(r.header("retry-after").is_some());
    assert_eq!(h.upstream.calls.borrow().len(), calls, "no model call when the limit refuses");
}

#[test]
fn a_refused_hit_reserves_nothing() {
    let h = Harness::new(&[1_000.0]);
    *h.upstream.script.borrow_mut() = vec![upstream_reply(&["ok"])];
    let limit = TenantId::Acme.config().rate_limits.user.limit;
    let body = json!({"stream": false, "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..limit {
        block_on(h.handle(&dev(TenantId::Acme), &post(TenantId::Acme, "/chat", "u9", body.clone())));
    }
    let used = h.limiter.ledgers.borrow()["t/acme/ratelimit"].tenant;
    let r = block_on(h.handle(&dev(TenantId::Acme), &post(TenantId::Acme, "/chat", "u9", body)));
    assert_eq!(r.status, 429);
    assert_eq!(h.limiter.ledgers.borrow()["t/acme/ratelimit"].tenant, used);
}

/// A session store that answers `Begin` only after `delay` polls (and can
/// refuse it), to see a stream that starts before the message is stored.
struct SlowStore {
    inner: std::rc::Rc<tenants_runtime::objects::sessions::MemorySessions>,
    delay: u32,
    refuse_begin: bool,
}

impl tenants_runtime::ports::Sessions for SlowStore {
    fn call<'a>(
        &'a self,
        object: &'a tenants_runtime::tenancy::keys::StorageKey,
        op: &'a SessionOp,
    ) -> tenants_runtime::ports::LocalFuture<'a, Result<SessionReply, tenants_runtime::ports::PortError>> {
        let is_begin = matches!(op, SessionOp::Begin { .. });
        let (delay, refuse) = if is_begin { (self.delay, self.refuse_begin) } else { (0, false) };
        Box::pin(async move {
            for _ in 0..delay {
                let mut yielded = false;
                std::future::poll_fn(|cx| {
                    if yielded {
                        std::task::Poll::Ready(())
                    } else {
                        yielded = true;
                        cx.waker().wake_by_ref();
                        std::task::Poll::Pending
                    }
                })
                .await;
            }
            if refuse {
                return Err(tenants_runtime::ports::PortError("store down".into()));
            }
            self.inner.call(object, op).await
        })
    }
}

fn serve_with_store(h: &Harness, store: SlowStore, req: &TestRequest) -> Response {
    use tenants_runtime::app::{handle, Context};
    let mut ports = h.ports();
    ports.sessions = Some(std::rc::Rc::new(store));
    let st = dev(TenantId::Acme);
    let cx = Context {
        deployment: &st,
        ids: &h.ids,
        ports: &ports,
        auth: &h.auth,
    };
    block_on(handle(req, &cx))
}

#[test]
fn a_stream_starts_before_the_message_is_stored_and_ends_after() {
    let h = Harness::new(&[1_000.0]);
    *h.upstream.script.borrow_mut() = vec![upstream_reply(&["a ", "b"])];
    let store = SlowStore {
        inner: h.sessions.clone(),
        delay: 50,
        refuse_begin: false,
    };
    let r = serve_with_store(
        &h,
        store,
        &post(
            TenantId::Acme,
            "/chat",
            "u1",
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        ),
    );
    assert_eq!(r.status, 200);
    let sid = r.header("x-session-id").unwrap().to_string();
    let body = text(r);
    assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
    let SessionReply::Session(v) = session(&h, TenantId::Acme, "u1", &sid) else {
        panic!("no session")
    };
    let stored: Vec<(&str, &str)> = v.messages.iter().map(|m| (m.role.as_str(), m.status.as_str())).collect();
    assert_eq!(stored, [("user", "complete"), ("assistant", "complete")]);
}

#[test]
fn a_stream_whose_message_cannot_be_stored_ends_with_an_error_and_no_done() {
    let h = Harness::new(&[1_000.0]);
    *h.upstream.script.borrow_mut() = vec![upstream_reply(&["a ", "b"])];
    let store = SlowStore {
        inner: h.sessions.clone(),
        delay: 50,
        refuse_begin: true,
    };
    let r = serve_with_store(
        &h,
        store,
        &post(
            TenantId::Acme,
            "/chat",
            "u1",
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        ),
    );
    // The stream had started (200, event stream) before the store failed.
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("text/event-stream; charset=utf-8"))
    );
    let body = text(r);
    assert!(body.contains("\"content\":\"a \""), "{body}");
    assert!(!body.contains("[DONE]"), "{body}");
    let last: Value = serde_json::from_str(events(&body).last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "internal");
    // The tokens were spent: the reservation settles to the reported usage.
    assert_eq!(h.limiter.ledgers.borrow()["t/acme/ratelimit"].tenant, 14);
}

#[test]
fn me_reports_todays_budget_usage_after_settlement() {
    let h = Harness::new(&[1_000.0]);
    *h.upstream.script.borrow_mut() = vec![upstream_reply(&["ok"])];
    let before: Value = serde_json::from_str(&text(block_on(
        h.handle(&dev(TenantId::Acme), &get(TenantId::Acme, "/v1/me", "u1")),
    )))
    .unwrap();
    assert_eq!(before["data"]["budget"]["tenant_used"], 0, "{before}");
    assert_eq!(before["data"]["budget"]["tenant_limit"], 2_000_000);
    let r = block_on(h.handle(
        &dev(TenantId::Acme),
        &post(
            TenantId::Acme,
            "/chat",
            "u1",
            json!({"stream": false, "messages": [{"role": "user", "content": "hi"}]}),
        ),
    ));
    assert_eq!(r.status, 200);
    let me: Value = serde_json::from_str(&text(block_on(
        h.handle(&dev(TenantId::Acme), &get(TenantId::Acme, "/v1/me", "u1")),
    )))
    .unwrap();
    // The reservation was settled with the real usage: 11 in + 3 out.
    assert_eq!(
        (
            me["data"]["budget"]["tenant_used"].as_u64(),
            me["data"]["budget"]["user_used"].as_u64()
        ),
        (Some(14), Some(14)),
        "{me}"
    );
    let other: Value = serde_json::from_str(&text(block_on(
        h.handle(&dev(TenantId::Acme), &get(TenantId::Acme, "/v1/me", "u2")),
    )))
    .unwrap();
    assert_eq!(
        (
            other["data"]["budget"]["tenant_used"].as_u64(),
            other["data"]["budget"]["user_used"].as_u64()
        ),
        (Some(14), Some(0))
    );
    // A tenant without a budget has none.
    let i: Value = serde_json::from_str(&text(block_on(
        h.handle(&dev(TenantId::Initech), &get(TenantId::Initech, "/v1/me", "u1")),
    )))
    .unwrap();
    assert_eq!(i["data"]["budget"], Value::Null, "{i}");
}
