//! End-to-end cases for `/chat` on local workerd, against the scripted
//! model server (test infrastructure; see docs/scripted-model-server.md):
//! chunks arriving as the upstream produces them, the JSON form, the
//! official `openai` npm package on `/v1/chat/completions`, sessions that
//! persist (also across a restart of the dev server) and that no other
//! user or tenant can name, budgets under 20 parallel requests, fallback
//! on an upstream 500, upstream timeout, malformed upstream SSE, a client
//! that leaves (the upstream sees the disconnect; the answer is kept as
//! interrupted), and a cache hit with no upstream call.
//!
//! The tenants copy the run builds from ([`patch_tenants`]) gives globex a
//! 2 s timeout without retries, and initech a small daily budget and a
//! 60-second session retention (a session made at the start of the run,
//! [`retention_begin`], must be gone at its end, [`retention_check`]).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::e2e::{check, envelope, send, Dev, Tally};
use crate::model_server::ModelServer;

/// globex's per-attempt timeout in the e2e copy (ms).
pub const GLOBEX_TIMEOUT_MS: u64 = 2000;
/// initech's daily budget in the e2e copy (tokens).
pub const INITECH_BUDGET: u64 = 3000;
/// globex's `summarize` timeout in the e2e copy (the tool timeout case).
pub const GLOBEX_TOOL_TIMEOUT_MS: u64 = 1500;
/// initech's session retention in the e2e copy (the shortest allowed).
pub const INITECH_RETENTION_SECS: u64 = 60;
/// initech's chat max_tokens in the e2e copy.
pub const INITECH_MAX_TOKENS: u64 = 500;

/// Adjust the e2e copy of the tenants (see the module doc).
pub fn patch_tenants(dir: &std::path::Path) -> Result<(), String> {
    // Every e2e request to acme comes from one address: its per-IP limit
    // would count the whole suite (the limiter's own cases use initech).
    let a = dir.join("acme.kdl");
    let text = std::fs::read_to_string(&a).map_err(|e| e.to_string())?;
    let anchor = "ip 120 per=\"minute\"";
    check(text.contains(anchor), || format!("acme.kdl has no `{anchor}` to raise"))?;
    std::fs::write(&a, text.replacen(anchor, "ip 100000 per=\"minute\"", 1)).map_err(|e| e.to_string())?;
    let g = dir.join("globex.jsonc");
    let text = std::fs::read_to_string(&g).map_err(|e| e.to_string())?;
    let anchor = "\"gateway\": \"globex-gw\",";
    check(text.contains(anchor), || {
        "globex.jsonc has no `\"gateway\": \"globex-gw\",` to extend".into()
    })?;
    let text = text.replacen(anchor, &format!("{anchor} \"timeout_ms\": {GLOBEX_TIMEOUT_MS}, \"retries\": 0,"), 1);
    // A short tool timeout for the tool cases (initech's chat budget is
    // spent by the chat cases before they run).
    let tool = "\"summarize\": {},";
    check(text.contains(tool), || {
        "globex.jsonc has no `\"summarize\": {},` to give a timeout".into()
    })?;
    let text = text.replacen(tool, &format!("\"summarize\": {{ \"timeout_ms\": {GLOBEX_TOOL_TIMEOUT_MS} }},"), 1);
    std::fs::write(&g, text).map_err(|e| e.to_string())?;
    let i = dir.join("initech.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&i).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let chat = v["ai"]["chat"].clone();
    let model = chat
        .as_str()
        .map(str::to_string)
        .or_else(|| chat["model"].as_str().map(str::to_string))
        .ok_or("initech has no chat model")?;
    v["ai"]["chat"] = json!({"model": model, "max_tokens": INITECH_MAX_TOKENS});
    v["ai"]["budget"] = json!({"tokens_per_day": INITECH_BUDGET});
    v["sessions"] = json!({"retention_seconds": INITECH_RETENTION_SECS});
    std::fs::write(&i, serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

fn chat_body(text: &str, extra: Value) -> Vec<u8> {
    let mut v = json!({"messages": [{"role": "user", "content": text}]});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            o.insert(k.clone(), x.clone());
        }
    }
    v.to_string().into_bytes()
}

fn post_chat(d: &Dev, user: &str, path: &str, body: &[u8]) -> Result<crate::net::Reply, String> {
    post(d.port, path, &[("host", &d.tenant.host), ("x-user-id", user)], body)
}

/// POST a JSON body (with its length).
fn post(port: u16, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<crate::net::Reply, String> {
    let len = body.len().to_string();
    let mut h = headers.to_vec();
    h.extend([("content-type", "application/json"), ("content-length", len.as_str())]);
    send(port, "POST", path, &h, body)
}

/// A streamed POST over a raw socket: the response read as it arrives.
struct Streamed {
    sock: TcpStream,
    raw: Vec<u8>,
    start: Instant,
}

impl Streamed {
    fn open(d: &Dev, user: &str, path: &str, body: &[u8]) -> Result<Streamed, String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], d.port));
        let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {}\r\nx-user-id: {user}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            d.tenant.host,
            body.len()
        );
        sock.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
        sock.write_all(body).map_err(|e| e.to_string())?;
        Ok(Streamed {
            sock,
            raw: Vec::new(),
            start: Instant::now(),
        })
    }

    /// Read until `pred` holds on the decoded body (or the end); the time
    /// each read arrived.
    fn read_until(&mut self, pred: impl Fn(&str) -> bool) -> Result<Vec<(Duration, usize)>, String> {
        let mut arrivals = Vec::new();
        let mut buf = [0u8; 8192];
        while !pred(&self.body()) {
            let n = self.sock.read(&mut buf).map_err(|e| format!("read: {e} after {:?}", self.body()))?;
            if n == 0 {
                break;
            }
            self.raw.extend_from_slice(&buf[..n]);
            arrivals.push((self.start.elapsed(), self.body().matches("\n\n").count()));
        }
        Ok(arrivals)
    }

    fn head(&self) -> String {
        let text = String::from_utf8_lossy(&self.raw);
        text.split("\r\n\r\n").next().unwrap_or_default().to_string()
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head().lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The body, de-chunked.
    fn body(&self) -> String {
        let Some(at) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            return String::new();
        };
        let rest = &self.raw[at + 4..];
        if !self.head().to_ascii_lowercase().contains("transfer-encoding: chunked") {
            return String::from_utf8_lossy(rest).to_string();
        }
        String::from_utf8_lossy(&crate::net::dechunk_prefix(rest).0).to_string()
    }
}

/// The `data:` payloads of an SSE body.
fn data_events(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")).map(str::to_string))
        .collect()
}

fn content_of(body: &str) -> String {
    data_events(body)
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_string))
        .collect()
}

/// Poll `f` for up to `secs` seconds.
fn eventually(secs: u64, mut f: impl FnMut() -> Result<(), String>) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match f() {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn session_of(d: &Dev, user: &str, id: &str) -> Result<Value, String> {
    let r = send(
        d.port,
        "GET",
        &format!("/sessions/{id}"),
        &[("host", &d.tenant.host), ("x-user-id", user)],
        b"",
    )?;
    check(r.status == 200, || {
        format!("GET /sessions/{id}: {} {}", r.status, String::from_utf8_lossy(&r.body))
    })?;
    Ok(r.json()?["data"].clone())
}

/// The chat cases; returns a session (user, id) of acme's for the restart
/// check ([`after_restart`]).
pub fn cases(devs: &[Dev], model: &ModelServer, tally: &mut Tally) -> Option<(String, String)> {
    let find = |id: &str| devs.iter().find(|d| d.tenant.id == id);
    let (Some(acme), Some(globex), Some(initech)) = (find("acme"), find("globex"), find("initech")) else {
        tally.case(
            "chat: acme, globex and initech run in dev",
            Err("a dev deployment is missing".into()),
        );
        return None;
    };
    streaming_cases(acme, model, tally);
    let kept = session_cases(acme, globex, tally);
    failure_cases(acme, globex, model, tally);
    disconnect_case(acme, model, tally);
    cache_case(globex, model, tally);
    budget_case(initech, model, tally);
    kept
}

/// After acme's dev server was stopped and started again on the same
/// state: the session is still there, with its messages.
pub fn after_restart(d: &Dev, kept: &(String, String), tally: &mut Tally) {
    tally.case(
        "chat: acme's session survives a restart of the dev server",
        (|| {
            let s = session_of(d, &kept.0, &kept.1)?;
            let n = s["messages"].as_array().map_or(0, Vec::len);
            check(n == 4, || format!("{n} messages after the restart: {s}"))
        })(),
    );
}

fn streaming_cases(d: &Dev, model: &ModelServer, tally: &mut Tally) {
    tally.case(
        "chat: acme /chat streams chunks as the model produces them (curl -N style)",
        (|| {
            let mut s = Streamed::open(
                d,
                "streamer",
                "/chat",
                &chat_body("Hello there [[scripted:delay=80,tokens=12]]", json!({})),
            )?;
            let arrivals = s.read_until(|b| b.contains("data: [DONE]"))?;
            let body = s.body();
            check(s.head().starts_with("HTTP/1.1 200"), || s.head())?;
            check(s.header("content-type").is_some_and(|c| c.starts_with("text/event-stream")), || {
                s.head()
            })?;
            check(s.header("x-session-id").is_some(), || format!("no x-session-id: {}", s.head()))?;
            let text = content_of(&body);
            check(text.starts_with("Scripted reply to: Hello there"), || format!("content {text:?}"))?;
            // 12 tokens 80 ms apart: the first content arrives well before the last.
            let first = arrivals.iter().find(|(_, n)| *n >= 2).map(|(t, _)| *t).ok_or("no content chunk")?;
            let last = arrivals.last().map(|(t, _)| *t).unwrap_or_default();
            check(last.saturating_sub(first) >= Duration::from_millis(500), || {
                format!("chunk arrivals {arrivals:?}: buffered?")
            })?;
            let last_usage = data_events(&body).iter().rev().nth(1).cloned().unwrap_or_default();
            check(last_usage.contains("\"usage\""), || format!("no usage chunk before [DONE]: {body}"))?;
            println!(
                "    chunk timing: first content at {:.0} ms, last byte at {:.0} ms, {} reads",
                first.as_secs_f64() * 1e3,
                last.as_secs_f64() * 1e3,
                arrivals.len()
            );
            Ok(())
        })(),
    );
    tally.case(
        "chat: acme /chat with stream:false answers one chat.completion with its session",
        (|| {
            let r = post_chat(d, "jsonuser", "/chat", &chat_body("Plain please", json!({"stream": false})))?;
            check(r.status == 200, || format!("{} {}", r.status, String::from_utf8_lossy(&r.body)))?;
            let v = r.json()?;
            check(v["object"] == "chat.completion" && v["session_id"].is_string(), || v.to_string())?;
            check(
                v["choices"][0]["message"]["content"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("Scripted reply to: Plain please")),
                || v.to_string(),
            )?;
            check(v["usage"]["total_tokens"].as_u64().is_some_and(|n| n > 0), || v.to_string())?;
            let stats = model.stats()?;
            let last = &stats["last_requests"]
                .as_array()
                .and_then(|a| a.last().cloned())
                .unwrap_or_default();
            check(last["stream"] == true, || format!("the upstream call streams: {last}"))
        })(),
    );
    tally.case(
        "chat: the official openai npm and Python packages against /v1/chat/completions (stream and not, and a streamed tool call)",
        openai_sdk(d),
    );
}

/// Issue an API key over HTTP (dev admin) and run xtask/e2e/openai-client.mjs.
fn openai_sdk(d: &Dev) -> Result<(), String> {
    let r = post(
        d.port,
        "/v1/keys",
        &[("host", &d.tenant.host), ("x-user-id", "sdk-admin"), ("x-user-roles", "admin")],
        br#"{"name":"openai-sdk"}"#,
    )?;
    check(r.status == 201 || r.status == 200, || {
        format!("key: {} {}", r.status, String::from_utf8_lossy(&r.body))
    })?;
    let key = r.json()?["data"]["key"].as_str().ok_or("no key")?.to_string();
    let tc = crate::toolchain::Toolchain::locate().map_err(|e| format!("{e:?}"))?;
    for (program, script) in [(&tc.node, "openai-client.mjs"), (&tc.py_openai, "openai_client.py")] {
        let out = std::process::Command::new(program)
            .arg(tc.root.join("xtask/e2e").join(script))
            .env("OPENAI_BASE_URL", format!("http://127.0.0.1:{}/v1", d.port))
            .env("OPENAI_API_KEY", &key)
            .env("TENANT_ID", &d.tenant.id)
            .output()
            .map_err(|e| e.to_string())?;
        sdk_result(script, &out)?;
    }
    Ok(())
}

/// What a client script printed: the same answer whole and streamed, a
/// usage report, and a 400 for a model the tenant does not have.
fn sdk_result(script: &str, out: &std::process::Output) -> Result<(), String> {
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    check(out.status.success(), || {
        format!("{script} failed: {text}\n{}", String::from_utf8_lossy(&out.stderr))
    })?;
    let v: Value = serde_json::from_str(text.trim()).map_err(|e| format!("{script}: {e}: {text}"))?;
    check(
        v["whole"].as_str().is_some_and(|t| t.starts_with("Scripted reply to: Say hi")),
        || format!("{script}: {v}"),
    )?;
    check(v["streamed"] == v["whole"], || format!("{script}: streamed and whole differ: {v}"))?;
    check(v["chunks"].as_u64().is_some_and(|n| n >= 3), || format!("{script}: {v}"))?;
    check(!v["usage"].is_null(), || format!("{script}: no usage: {v}"))?;
    check(v["bad_model_status"] == 400, || format!("{script}: {v}"))?;
    check(v["tool_names"] == json!(["tag-and-chunk"]), || {
        format!("{script}: the SDK did not see the one tool call: {v}")
    })?;
    check(
        v["tool_answer"]
            .as_str()
            .is_some_and(|t| t.starts_with("Tool results: ") && t.contains("kestrel")),
        || format!("{script}: no answer from the tool's result: {v}"),
    )
}

fn session_cases(d: &Dev, other_tenant: &Dev, tally: &mut Tally) -> Option<(String, String)> {
    let mut kept = None;
    tally.case(
        "chat: a session continues with its history; another user and another tenant get 404",
        (|| {
            let r = post_chat(d, "alice", "/chat", &chat_body("first question", json!({"stream": false})))?;
            let sid = r.json()?["session_id"].as_str().ok_or("no session id")?.to_string();
            let r = post_chat(
                d,
                "alice",
                "/chat",
                &chat_body("second question", json!({"stream": false, "session_id": sid})),
            )?;
            check(r.status == 200, || String::from_utf8_lossy(&r.body).to_string())?;
            let s = session_of(d, "alice", &sid)?;
            let msgs: Vec<(String, String)> = s["messages"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|m| {
                    (
                        m["role"].as_str().unwrap_or("").to_string(),
                        m["status"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            check(msgs.len() == 4 && msgs.iter().all(|(_, st)| st == "complete"), || {
                format!("messages {s}")
            })?;
            let r = post_chat(
                d,
                "mallory",
                "/chat",
                &chat_body("hijack", json!({"stream": false, "session_id": sid})),
            )?;
            envelope(&r, 404, "session_not_found")?;
            let r = send(
                d.port,
                "GET",
                &format!("/sessions/{sid}"),
                &[("host", &d.tenant.host), ("x-user-id", "mallory")],
                b"",
            )?;
            envelope(&r, 404, "session_not_found")?;
            let r = send(
                d.port,
                "DELETE",
                &format!("/sessions/{sid}"),
                &[("host", &d.tenant.host), ("x-user-id", "mallory")],
                b"",
            )?;
            envelope(&r, 404, "session_not_found")?;
            let r = post_chat(
                other_tenant,
                "alice",
                "/chat",
                &chat_body("cross tenant", json!({"stream": false, "session_id": sid})),
            )?;
            envelope(&r, 404, "session_not_found")?;
            let r = send(d.port, "GET", "/sessions", &[("host", &d.tenant.host), ("x-user-id", "alice")], b"")?;
            let list = r.json()?;
            check(list["data"]["sessions"][0]["id"] == sid.as_str(), || list.to_string())?;
            kept = Some(("alice".to_string(), sid));
            Ok(())
        })(),
    );
    kept
}

fn failure_cases(acme: &Dev, globex: &Dev, model: &ModelServer, tally: &mut Tally) {
    tally.case(
        "chat: acme falls back to its second model when the first answers 500",
        (|| {
            let primary = "@cf/meta/llama-3.1-8b-instruct";
            let r = post_chat(
                acme,
                "fb",
                "/chat",
                &chat_body(
                    &format!("fallback please [[scripted:fail-model={primary}:500]]"),
                    json!({"stream": false}),
                ),
            )?;
            check(r.status == 200, || format!("{} {}", r.status, String::from_utf8_lossy(&r.body)))?;
            let answered = r.json()?["model"].as_str().unwrap_or_default().to_string();
            check(answered != primary && !answered.is_empty(), || format!("answered by {answered}"))?;
            check(r.header("x-model") == Some(answered.as_str()), || {
                format!("x-model {:?}", r.header("x-model"))
            })?;
            let stats = model.stats()?;
            let models: Vec<String> = stats["last_requests"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .rev()
                .take(4)
                .filter_map(|x| x["model"].as_str().map(str::to_string))
                .collect();
            check(models.iter().any(|m| m == primary) && models.contains(&answered), || {
                format!("upstream saw {models:?}")
            })
        })(),
    );
    tally.case(
        "chat: globex answers 504 upstream_timeout when the model hangs past its timeout",
        (|| {
            let t = Instant::now();
            let r = post_chat(
                globex,
                "slow",
                "/chat",
                &chat_body("hang [[scripted:hang]]", json!({"stream": false})),
            )?;
            envelope(&r, 504, "upstream_timeout")?;
            let took = t.elapsed();
            check(
                took >= Duration::from_millis(GLOBEX_TIMEOUT_MS) && took < Duration::from_secs(15),
                || format!("took {took:?}"),
            )
        })(),
    );
    tally.case(
        "chat: acme, malformed upstream SSE mid-stream ends with an error event and no [DONE]",
        (|| {
            let mut s = Streamed::open(acme, "malformed", "/chat", &chat_body("break [[scripted:malformed]]", json!({})))?;
            s.read_until(|_| false)?;
            let body = s.body();
            let last = data_events(&body).last().cloned().unwrap_or_default();
            check(last.contains("\"error\"") && !body.contains("[DONE]"), || format!("body {body}"))
        })(),
    );
}

fn disconnect_case(d: &Dev, model: &ModelServer, tally: &mut Tally) {
    tally.case(
        "chat: a client that leaves mid-stream closes the upstream connection; the answer is kept as interrupted",
        (|| {
            let before = model.stats()?["streams_aborted_by_client"].as_u64().unwrap_or(0);
            let mut s = Streamed::open(
                d,
                "leaver",
                "/chat",
                &chat_body("long one [[scripted:delay=150,tokens=60]]", json!({})),
            )?;
            s.read_until(|b| content_of(b).len() > 30)?;
            let sid = s.header("x-session-id").ok_or("no session id")?;
            drop(s);
            eventually(10, || {
                let st = model.stats()?;
                let aborted = st["streams_aborted_by_client"].as_u64().unwrap_or(0);
                check(aborted > before && st["open_streams"] == 0, || format!("scripted server: {st}"))
            })?;
            eventually(10, || {
                let sess = session_of(d, "leaver", &sid)?;
                let last = sess["messages"].as_array().and_then(|m| m.last().cloned()).unwrap_or_default();
                check(
                    last["status"] == "interrupted" && last["content"].as_str().is_some_and(|c| !c.is_empty()),
                    || format!("session {sess}"),
                )
            })
        })(),
    );
}

fn cache_case(d: &Dev, model: &ModelServer, tally: &mut Tally) {
    tally.case(
        "chat: globex answers a repeated request from its cache, streamed, without an upstream call",
        (|| {
            let body = chat_body("cache me please", json!({}));
            let mut a = Streamed::open(d, "c1", "/chat", &body)?;
            a.read_until(|b| b.contains("[DONE]"))?;
            check(a.header("x-cache").as_deref() == Some("miss"), || a.head())?;
            let calls = model.stats()?["completions"].as_u64().unwrap_or(0);
            let mut b = Streamed::open(d, "c2", "/chat", &body)?;
            b.read_until(|x| x.contains("[DONE]"))?;
            check(b.header("x-cache").as_deref() == Some("hit"), || b.head())?;
            check(content_of(&a.body()) == content_of(&b.body()), || "cached content differs".into())?;
            let after = model.stats()?["completions"].as_u64().unwrap_or(0);
            check(after == calls, || format!("upstream completions {calls} -> {after}"))
        })(),
    );
}

fn budget_case(d: &Dev, model: &ModelServer, tally: &mut Tally) {
    tally.case(
        "chat: initech's daily budget holds under 20 parallel requests (reserve, then settle)",
        (|| {
            let _ = model;
            let handles: Vec<_> = (0..20)
                .map(|i| {
                    let (port, host) = (d.port, d.tenant.host.clone());
                    std::thread::spawn(move || {
                        let body = chat_body("budget [[scripted:delay=100,tokens=6]]", json!({"stream": false}));
                        let user = format!("b{i}");
                        post(port, "/chat", &[("host", &host), ("x-user-id", &user)], &body)
                    })
                })
                .collect();
            let mut ok = 0u64;
            let mut used = 0u64;
            for h in handles {
                let r = h.join().map_err(|_| "thread panicked")??;
                match r.status {
                    200 => {
                        ok += 1;
                        used += r.json()?["usage"]["total_tokens"].as_u64().unwrap_or(0);
                    }
                    429 => {
                        envelope(&r, 429, "budget_exhausted")?;
                        check(r.header("retry-after").is_some(), || "no retry-after".into())?;
                    }
                    s => return Err(format!("status {s}: {}", String::from_utf8_lossy(&r.body))),
                }
            }
            // Each request reserves its prompt estimate + max_tokens; all 20 are
            // in flight together, so at most budget / reservation pass.
            let most = INITECH_BUDGET / INITECH_MAX_TOKENS;
            println!("    budget: {ok} of 20 answered ({used} tokens used), at most {most} could reserve");
            check(ok >= 1 && ok <= most, || format!("{ok} answered"))?;
            check(used <= INITECH_BUDGET, || format!("{used} tokens used > budget"))
        })(),
    );
}

/// A copy of `t`'s config whose `AI` binding is the stand-in Worker
/// (xtask/e2e/standin-ai/worker.mjs), and the `--config` arguments that run
/// both in one `wrangler dev`.
pub fn with_standin_ai(
    tc: &crate::toolchain::Toolchain,
    t: &crate::e2e::Tenant,
    work: &std::path::Path,
    scripted_model_url: &str,
) -> Result<(crate::e2e::Tenant, Vec<String>), String> {
    let text = std::fs::read_to_string(&t.config).map_err(|e| e.to_string())?;
    let mut v = crate::e2e::jsonc_value(&text);
    let binding = v["ai"]["binding"]
        .as_str()
        .ok_or("the stage config has no `ai` binding to stand in for")?
        .to_string();
    // Vectorize has no local emulation either: its bindings become the
    // stand-in index (xtask/e2e/standin-vectorize/worker.mjs).
    let vectorize: Vec<String> = v["vectorize"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["binding"].as_str().map(str::to_string))
        .collect();
    if let Some(o) = v.as_object_mut() {
        o.remove("ai");
        o.remove("vectorize");
        let mut services = vec![json!({"binding": binding, "service": "standin-ai", "entrypoint": "StandInAi"})];
        services.extend(
            vectorize
                .iter()
                .map(|b| json!({"binding": b, "service": "standin-vectorize", "entrypoint": "StandInVectorize"})),
        );
        o.insert("services".into(), json!(services));
    }
    let config = t.config.with_file_name("wrangler.standin-ai.json");
    std::fs::write(&config, serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let dir = work.join("standin-ai");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let standin = dir.join("wrangler.json");
    let cfg = json!({
        "name": "standin-ai",
        "main": tc.root.join("xtask/e2e/standin-ai/worker.mjs"),
        "compatibility_date": v["compatibility_date"],
        // Speech: the stand-in fetches real audio from the scripted model server.
        "vars": {"SCRIPTED_MODEL_URL": scripted_model_url},
    });
    std::fs::write(&standin, cfg.to_string()).map_err(|e| e.to_string())?;
    let vdir = work.join("standin-vectorize");
    std::fs::create_dir_all(&vdir).map_err(|e| e.to_string())?;
    let vstandin = vdir.join("wrangler.json");
    let vcfg = json!({
        "name": "standin-vectorize",
        "main": tc.root.join("xtask/e2e/standin-vectorize/worker.mjs"),
        "compatibility_date": v["compatibility_date"],
    });
    std::fs::write(&vstandin, vcfg.to_string()).map_err(|e| e.to_string())?;
    let mut t = t.clone();
    t.config = config;
    Ok((
        t,
        vec![
            "--config".into(),
            standin.display().to_string(),
            "--config".into(),
            vstandin.display().to_string(),
        ],
    ))
}

/// The Workers AI binding adapter on workerd: acme's stage deployment
/// calls the stand-in binding with the gateway options.
pub fn binding_case(stage: &Dev, idp: &crate::e2e_api::TestIdp, tally: &mut Tally) {
    tally.case(
        "chat: acme (stage) streams through the Workers AI binding with its gateway options",
        (|| {
            let token = idp
                .tokens
                .iter()
                .find(|t| t.2 == 200)
                .map(|t| t.1.clone())
                .ok_or("no valid token")?;
            let bearer = format!("Bearer {token}");
            let body = chat_body("through the binding", json!({"stream": false}));
            let r = post(
                stage.port,
                "/chat",
                &[("host", &stage.tenant.host), ("authorization", &bearer)],
                &body,
            )?;
            check(r.status == 200, || format!("{} {}", r.status, String::from_utf8_lossy(&r.body)))?;
            let v = r.json()?;
            let text = v["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_string();
            let id = r.header("x-request-id").unwrap_or_default().to_string();
            for want in [
                "stand-in binding:".to_string(),
                "stream=true".into(),
                "gateway=acme-gw".into(),
                "cacheKey=t/acme/cache/chat/".into(),
                "tenant=acme".into(),
                "route=chat".into(),
                format!("request={id}"),
                "asked=\"through the binding\"".into(),
            ] {
                check(text.contains(&want), || format!("`{want}` not in the binding's answer: {text}"))?;
            }
            check(v["usage"]["completion_tokens"].as_u64().is_some_and(|n| n > 0), || v.to_string())
        })(),
    );
}

/// Start a session on initech (60-second retention) at the start of the run.
pub fn retention_begin(devs: &[Dev]) -> Option<(String, String, Instant)> {
    let d = devs.iter().find(|d| d.tenant.id == "initech")?;
    let r = post_chat(d, "short-lived", "/chat", &chat_body("forget me", json!({"stream": false}))).ok()?;
    let sid = r.json().ok()?["session_id"].as_str()?.to_string();
    Some(("short-lived".into(), sid, Instant::now()))
}

/// At the end of the run: the retention alarm has deleted that session.
/// (initech allows a user 20 requests an hour, so the check waits out the
/// retention and then polls every 5 s, at most 12 times.)
pub fn retention_check(devs: &[Dev], kept: Option<(String, String, Instant)>, tally: &mut Tally) {
    let Some(d) = devs.iter().find(|d| d.tenant.id == "initech") else {
        return;
    };
    tally.case(
        "chat: initech's retention alarm deletes a session 60 s after its last activity",
        (|| {
            let (user, sid, made) = kept.ok_or("the session was not created")?;
            let due = made + Duration::from_secs(INITECH_RETENTION_SECS + 1);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let mut last = String::new();
            for _ in 0..12 {
                let r = send(
                    d.port,
                    "GET",
                    &format!("/sessions/{sid}"),
                    &[("host", &d.tenant.host), ("x-user-id", &user)],
                    b"",
                )?;
                if r.status == 404 {
                    return envelope(&r, 404, "session_not_found").map(drop);
                }
                last = format!("{} {}", r.status, String::from_utf8_lossy(&r.body));
                std::thread::sleep(Duration::from_secs(5));
            }
            Err(format!("still there a minute after its retention: {last}"))
        })(),
    );
}
