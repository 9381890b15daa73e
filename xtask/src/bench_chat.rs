//! `cargo xtask bench chat [--quick]`: what the Worker adds to a streamed
//! chat, on plain `workerd serve` (no wrangler proxy) with the scripted
//! model server as the upstream (token delay 0, clean writes), side by
//! side in one run:
//!
//! - **direct**: the client → the model server;
//! - **Rust**: the client → the Worker's `/chat` (tenant resolution,
//!   development user, rate limit, budget reserve/settle, session
//!   begin/finish in SQLite Durable Objects, upstream SSE parsed and
//!   re-encoded) → the model server;
//! - **Hono**: the client → a TypeScript Worker that passes the upstream's
//!   SSE through unchanged (bench/hono/index.ts);
//! - **Hono, chunk by chunk**: the same Worker's `/chat-relay`, where
//!   each upstream chunk is read and enqueued in JavaScript (no parsing):
//!   the floor of any Worker that looks at each event.
//!
//! Time to first token (the first non-empty content delta reaching the
//! client, p50/p95 over sequential requests by returning users — each
//! user's session object exists; a brand-new user's first request also
//! creates its SQLite object) and streaming throughput (SSE events/s over 100 concurrent
//! streams, median of rounds), each also as a ratio to direct.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::bench_runtime::{add_hono_classes, bundle_hono, start_with, worker_modules, Bundle};
use crate::e2e::{registry, render};
use crate::fail;
use crate::model_server::ModelServer;
use crate::toolchain::{build_worker, Toolchain};

const HOST: &str = "acme.localhost";
/// Distinct users the load is spread over (each has its own session
/// object; they exist before measuring, as returning users' do).
const USERS: usize = 100;

/// One streamed request: time to the first token, events, whole time.
fn stream_once(port: u16, path: &str, user: &str, body: &str) -> Result<(Duration, usize, Duration), String> {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).map_err(|e| e.to_string())?;
    s.set_nodelay(true).ok();
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    // Many clients, as in production: a user and an address each (the
    // tenant's per-user and per-IP limits would otherwise refuse the run).
    let n = user.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let ip = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: {HOST}\r\nx-user-id: {user}\r\ncf-connecting-ip: {ip}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65536];
    let mut seen = Vec::new();
    let mut first = None;
    loop {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
        if first.is_none() && seen.windows(13).any(|w| w.starts_with(b"\"content\":\"") && w[11] != b'"') {
            first = Some(t0.elapsed());
        }
        if seen.windows(6).rev().take(n + 6).any(|w| w == b"[DONE]") {
            break;
        }
    }
    let head_end = seen.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0);
    let status_ok = seen.starts_with(b"HTTP/1.1 200");
    if !status_ok {
        return Err(format!("{path}: {}", String::from_utf8_lossy(&seen[..seen.len().min(300)])));
    }
    let events = seen[head_end..].windows(5).filter(|w| w == b"data:").count();
    Ok((first.unwrap_or_default(), events, t0.elapsed()))
}

fn body(tokens: u32) -> String {
    serde_json::json!({"messages": [{"role": "user", "content": format!("bench [[scripted:plain,delay=0,tokens={tokens}]]")}], "stream": true, "max_tokens": 1024, "model": "@cf/meta/llama-3.1-8b-instruct", "stream_options": {"include_usage": true}}).to_string()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

struct Target {
    name: &'static str,
    port: u16,
    path: &'static str,
}

/// p50 and p95 time to first token (ms) over `n` sequential requests.
fn ttfb(t: &Target, n: usize, round: usize) -> Result<(f64, f64), String> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        let _ = round;
        let (first, _, _) = stream_once(t.port, t.path, &format!("user-{}", i % USERS), &body(5))?;
        v.push(first.as_secs_f64() * 1e3);
    }
    Ok((pct(&mut v, 0.5), pct(&mut v, 0.95)))
}

/// SSE events per second over `conns` concurrent streams of `tokens` tokens.
fn throughput(t: &Target, conns: usize, tokens: u32, round: usize) -> Result<f64, String> {
    let barrier = Arc::new(Barrier::new(conns));
    let handles: Vec<_> = (0..conns)
        .map(|i| {
            let (port, path, b) = (t.port, t.path, barrier.clone());
            std::thread::spawn(move || {
                b.wait();
                let t0 = Instant::now();
                let _ = round;
                stream_once(port, path, &format!("user-{}", i % USERS), &body(tokens)).map(|(_, ev, _)| (ev, t0))
            })
        })
        .collect();
    let mut events = 0;
    let mut start: Option<Instant> = None;
    for h in handles {
        let (ev, t0) = h.join().map_err(|_| "client thread panicked")??;
        events += ev;
        start = Some(start.map_or(t0, |s| s.min(t0)));
    }
    let secs = start.map_or(1.0, |s| s.elapsed().as_secs_f64());
    Ok(events as f64 / secs)
}

pub fn bench(tc: &Toolchain, quick: bool) -> Result<(), ExitCode> {
    if std::env::var_os("BENCH_NO_BUILD").is_none() {
        build_worker(tc)?;
    }
    let work = tc.root.join("target/bench-chat");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| fail(format!("{}: {e}", work.display())))?;
    let configs = work.join("configs");
    render(tc, &configs, Some("dev"), None)?;
    registry(&configs, "dev")?;
    let model = ModelServer::start(tc, &work.join("scripted-model-server.log"), 0).map_err(fail)?;
    let rust = Bundle {
        name: "Rust (workers-rs)",
        modules: worker_modules(&tc.root.join("runtime/build"))?,
    };
    let hono = bundle_hono(tc, &work, &configs)?;
    add_hono_classes(&hono)?;
    let vars = [("AI_BASE_URL", model.url.as_str())];
    let running = [start_with(tc, &rust, &work, &vars)?, start_with(tc, &hono, &work, &vars)?];
    let targets = [
        Target {
            name: "direct (scripted model server)",
            port: model.port,
            path: "/v1/chat/completions",
        },
        Target {
            name: running[0].name,
            port: running[0].port,
            path: "/chat",
        },
        Target {
            name: running[1].name,
            port: running[1].port,
            path: "/chat",
        },
        Target {
            name: "Hono, chunk by chunk through JavaScript",
            port: running[1].port,
            path: "/chat-relay",
        },
    ];
    let (mut n, rounds, conns, mut tokens) = if quick { (40, 1, 50, 100) } else { (100, 3, 100, 200) };
    // BENCH_CHAT_REQUESTS=N: more sequential requests (to profile the
    // time to first token in a steady state).
    if let Some(r) = std::env::var("BENCH_CHAT_REQUESTS").ok().and_then(|v| v.parse().ok()) {
        n = r;
    }
    // BENCH_CHAT_TOKENS=N: longer (or shorter) streams, to tell the cost per
    // request (sessions, budget, limiter) from the cost per event.
    if let Some(t) = std::env::var("BENCH_CHAT_TOKENS").ok().and_then(|v| v.parse().ok()) {
        tokens = t;
    }
    eprintln!("==> bench chat: time to first token (TTFT) over {n} sequential requests; {conns} concurrent streams x {tokens} tokens; {rounds} round(s), median");
    // Warm-up: every user's session object exists before measuring.
    for t in &targets {
        ttfb(t, USERS, 99).map_err(fail)?;
    }
    let mut table: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = vec![(vec![], vec![], vec![]); targets.len()];
    for round in 0..rounds {
        for (i, t) in targets.iter().enumerate() {
            let (p50, p95) = ttfb(t, n, round).map_err(fail)?;
            let tp = throughput(t, conns, tokens, round).map_err(fail)?;
            eprintln!(
                "    {} round {}: TTFT p50 {p50:.2} ms, p95 {p95:.2} ms; {tp:.0} events/s",
                t.name,
                round + 1
            );
            table[i].0.push(p50);
            table[i].1.push(p95);
            table[i].2.push(tp);
        }
    }
    let med = |v: &mut Vec<f64>| pct(v, 0.5);
    let rows: Vec<(f64, f64, f64)> = table.iter_mut().map(|(a, b, c)| (med(a), med(b), med(c))).collect();
    println!();
    println!("| path | TTFT p50 | TTFT p95 | added p50 vs direct | events/s ({conns} streams) | vs direct |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (t, r) in targets.iter().zip(&rows) {
        println!(
            "| {} | {:.2} ms | {:.2} ms | {:+.2} ms | {:.0} | {:.2}x |",
            t.name,
            r.0,
            r.1,
            r.0 - rows[0].0,
            r.2,
            r.2 / rows[0].2
        );
    }
    println!();
    println!("Rust / Hono streaming throughput: {:.2}x", rows[1].2 / rows[2].2);
    println!(
        "Hono chunk by chunk / Hono pass-through: {:.2}x (the ceiling of any Worker that handles each event in JavaScript)",
        rows[3].2 / rows[2].2
    );
    let stats = model.stats().map_err(fail)?;
    println!(
        "scripted model server after the run: {} streams started, {} finished, {} open",
        stats["streams_started"], stats["streams_finished"], stats["open_streams"]
    );
    drop(running);
    crate::bench_runtime::remove_shm_dirs();
    Ok(())
}
