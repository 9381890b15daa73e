//! `cargo xtask bench rag [--quick]`: retrieval-augmented generation on
//! the local index — the development environment's `DocIndex` Durable
//! Object (SQLite + FTS5, vectors kept in memory, exact cosine scan) —
//! under `wrangler dev --local` with the scripted model server (lexical
//! embedder, 768 dimensions; reranker; scripted answers), tenant `acme`:
//!
//! 1. **ingestion**: documents of ~3 chunks through `POST /documents` in
//!    batches of 20 (ingested in the request: chunking, one embedding call
//!    and one index write per document), sequential requests, end to end;
//! 2. **`/search`**: distinct questions (cache miss: rewrite, embedding,
//!    hybrid candidates, rerank, grounded answer, cache write) then the
//!    same questions again (cache hit: acme's `cache search-ttl=300`),
//!    the model server writing each SSE event whole (`[[scripted:plain]]`);
//!    then other questions with its default writes (events cut with 1 ms
//!    pauses), to show what that pacing alone costs a miss;
//! 3. **index size**: synthetic documents of 20–25 chunks (every chunk
//!    different) until the index holds 1k, 10k and 50k chunks (`--quick`:
//!    1k and 5k); at each size `POST /v1/dev/retrieve` (retrieval only) in
//!    `vector` and `hybrid` mode, then `wrangler dev` restarted on the same
//!    state and the first query timed again (the object loads every vector
//!    from SQLite), with the RSS of that `wrangler dev`'s workerd process
//!    (`VmRSS`, and `VmHWM` as its peak) after each step. A size whose
//!    build takes more than [`BUILD_LIMIT`] stops the growth, as does a
//!    failing request (reported, not hidden). `BENCH_RAG_CHUNKS=1000,100000`
//!    measures other sizes.
//!
//! Every request is its own development user from its own address, so the
//! tenant's per-user and per-IP limits are not what is measured. State is
//! on tmpfs when there is one. Every process is stopped by its process
//! group, also on failure.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::e2e::{registry, render, start_dev, Dev, Tenant};
use crate::fail;
use crate::model_server::ModelServer;
use crate::net::request_within;
use crate::toolchain::{build_worker, Toolchain};

const TENANT: &str = "acme";
/// The inline ingestion limits of `POST /documents`.
const BATCH_DOCS: usize = 20;
const BATCH_CHARS: usize = 400_000;
/// A size whose build takes longer stops the growth.
const BUILD_LIMIT: Duration = Duration::from_secs(600);
/// One request at most (a large index loaded into memory is slow).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// The scripted embedder's dimensions.
const DIMS: usize = 768;
/// Documents returned by `/v1/dev/retrieve`.
const K: u32 = 10;

/// Development users (and client addresses) used so far in this run.
static USERS: AtomicU32 = AtomicU32::new(0);

struct Sizes {
    ingest_docs: usize,
    search_queries: usize,
    index_chunks: Vec<usize>,
    index_queries: usize,
}

impl Sizes {
    /// `BENCH_RAG_CHUNKS=1000,100000`: other index sizes (ascending).
    fn of(quick: bool) -> Sizes {
        let mut s = Sizes::default_for(quick);
        if let Ok(v) = std::env::var("BENCH_RAG_CHUNKS") {
            let mut sizes: Vec<usize> = v.split(',').filter_map(|x| x.trim().replace('_', "").parse().ok()).collect();
            sizes.sort_unstable();
            sizes.dedup();
            if !sizes.is_empty() {
                s.index_chunks = sizes;
            }
        }
        s
    }

    fn default_for(quick: bool) -> Sizes {
        if quick {
            Sizes {
                ingest_docs: 100,
                search_queries: 15,
                index_chunks: vec![1_000, 5_000],
                index_queries: 10,
            }
        } else {
            Sizes {
                ingest_docs: 200,
                search_queries: 30,
                index_chunks: vec![1_000, 10_000, 50_000],
                index_queries: 20,
            }
        }
    }
}

// ---------------------------------------------------------------- text

/// xorshift64*: the same documents and queries on every run.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng((seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const FUNCTION_WORDS: [&str; 16] = [
    "the", "of", "and", "a", "to", "in", "is", "for", "on", "with", "by", "as", "that", "from", "this", "each",
];

/// Synthetic documents: made-up words, a topic of its own per document, so
/// that chunks differ and queries find some documents more than others.
struct Corpus {
    vocab: Vec<String>,
}

impl Corpus {
    fn new() -> Corpus {
        const ONSETS: [&str; 24] = [
            "b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "cr", "dr", "gl", "pl", "st", "tr", "sh", "th",
        ];
        const VOWELS: [&str; 8] = ["a", "e", "i", "o", "u", "ai", "ea", "ou"];
        const CODAS: [&str; 8] = ["", "n", "r", "s", "l", "x", "nd", "rt"];
        let mut rng = Rng::new(7);
        let mut seen = std::collections::HashSet::new();
        let mut vocab = Vec::new();
        while vocab.len() < 4000 {
            let syllables = 2 + rng.below(2);
            let w: String = (0..syllables)
                .map(|_| format!("{}{}{}", ONSETS[rng.below(24)], VOWELS[rng.below(8)], CODAS[rng.below(8)]))
                .collect();
            if seen.insert(w.clone()) {
                vocab.push(w);
            }
        }
        Corpus { vocab }
    }

    /// The words a document is mostly about.
    fn topic(&self, doc: u64) -> Vec<&str> {
        let mut rng = Rng::new(doc.wrapping_mul(7919) ^ 0x70_91C5);
        (0..40).map(|_| self.vocab[rng.below(self.vocab.len())].as_str()).collect()
    }

    /// About `chars` characters of sentences (paragraphs of five).
    fn text(&self, doc: u64, chars: usize) -> String {
        let topic = self.topic(doc);
        let mut rng = Rng::new(doc.wrapping_mul(104_729) ^ 0x7E_7A);
        let mut out = String::with_capacity(chars + 200);
        let mut sentences = 0u32;
        while out.len() < chars {
            let n = 8 + rng.below(8);
            for i in 0..n {
                let r = rng.below(100);
                let w = if r < 25 {
                    FUNCTION_WORDS[rng.below(FUNCTION_WORDS.len())]
                } else if r < 75 {
                    topic[rng.below(topic.len())]
                } else {
                    self.vocab[rng.below(self.vocab.len())].as_str()
                };
                if i == 0 {
                    let mut c = w.chars();
                    out.extend(c.next().map(|f| f.to_ascii_uppercase()));
                    out.push_str(c.as_str());
                } else {
                    out.push(' ');
                    out.push_str(w);
                }
            }
            out.push('.');
            sentences += 1;
            out.push_str(if sentences.is_multiple_of(5) { "\n\n" } else { " " });
        }
        out.trim_end().to_string()
    }

    /// A query about document `doc`: four of its topic words and two others;
    /// `question`: phrased as a question (so `/search` rewrites it).
    fn query(&self, doc: u64, salt: u64, question: bool) -> String {
        let topic = self.topic(doc);
        let mut rng = Rng::new(doc ^ salt.wrapping_mul(0x51_7CC1));
        let t: Vec<&str> = (0..4).map(|_| topic[rng.below(topic.len())]).collect();
        let o: Vec<&str> = (0..2).map(|_| self.vocab[rng.below(self.vocab.len())].as_str()).collect();
        if question {
            format!("How does the {} {} work with {} {} and {} {}?", t[0], t[1], t[2], o[0], t[3], o[1])
        } else {
            format!("{} {} {} {} {} {}", t[0], o[0], t[1], t[2], o[1], t[3])
        }
    }
}

// ---------------------------------------------------------------- requests

/// The running Worker of the tenant.
struct Client {
    port: u16,
    host: String,
}

/// One answer: its body, how long it took, its `x-cache` header.
struct Answer {
    body: Value,
    took: Duration,
    cache: Option<String>,
}

impl Client {
    fn of(d: &Dev) -> Client {
        Client {
            port: d.port,
            host: d.tenant.host.clone(),
        }
    }

    /// POST JSON as a new development user from its own address.
    fn post(&self, path: &str, admin: bool, body: &Value) -> Result<Answer, String> {
        let n = USERS.fetch_add(1, Ordering::Relaxed) + 1;
        let b = body.to_string();
        let len = b.len().to_string();
        let user = format!("bench-rag-{n}");
        let ip = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
        let mut h: Vec<(&str, &str)> = vec![
            ("host", &self.host),
            ("x-user-id", &user),
            ("cf-connecting-ip", &ip),
            ("content-type", "application/json"),
            ("content-length", &len),
        ];
        if admin {
            h.push(("x-user-roles", "admin"));
        }
        let t0 = Instant::now();
        let r = request_within(self.port, "POST", path, &h, b.as_bytes(), REQUEST_TIMEOUT).map_err(|e| format!("POST {path}: {e}"))?;
        let took = t0.elapsed();
        if r.status != 200 {
            let text = String::from_utf8_lossy(&r.body);
            return Err(format!(
                "POST {path}: status {}: {}",
                r.status,
                text.chars().take(400).collect::<String>()
            ));
        }
        Ok(Answer {
            body: r.json().map_err(|e| format!("POST {path}: {e}"))?,
            took,
            cache: r.header("x-cache").map(String::from),
        })
    }
}

/// What ingesting a range of documents did.
#[derive(Default)]
struct Ingested {
    docs: usize,
    chunks: u64,
    /// Milliseconds per request.
    requests: Vec<f64>,
    secs: f64,
}

fn doc_json(corpus: &Corpus, prefix: &str, i: u64, chars: usize) -> Value {
    json!({
        "id": format!("{prefix}-{i:06}"),
        "title": format!("{prefix} {i}"),
        "url": format!("https://{TENANT}.docs.example/{prefix}/{i}"),
        "text": corpus.text(i, chars),
        "format": "text",
    })
}

/// POST one batch; the chunks it made.
fn post_batch(c: &Client, docs: Vec<Value>, into: &mut Ingested) -> Result<(), String> {
    let n = docs.len();
    let chars: usize = docs.iter().map(|d| d["text"].as_str().map_or(0, |t| t.chars().count())).sum();
    if n > BATCH_DOCS || chars > BATCH_CHARS {
        return Err(format!("a batch of {n} documents and {chars} characters is over the inline limits"));
    }
    let a = c.post("/documents", true, &json!({ "documents": docs }))?;
    let errors = a.body["data"]["errors"].as_array().cloned().unwrap_or_default();
    if !errors.is_empty() {
        return Err(format!("documents not ingested: {}", Value::Array(errors)));
    }
    let ingested = a.body["data"]["ingested"].as_array().cloned().unwrap_or_default();
    if ingested.len() != n {
        return Err(format!("{} of {n} documents in the ingestion report", ingested.len()));
    }
    into.docs += n;
    into.chunks += ingested.iter().map(|i| i["chunks"].as_u64().unwrap_or(0)).sum::<u64>();
    into.requests.push(a.took.as_secs_f64() * 1e3);
    into.secs += a.took.as_secs_f64();
    Ok(())
}

fn ms(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

// ---------------------------------------------------------------- memory

/// A process's resident set now and at its peak (KiB).
#[derive(Clone, Copy, Default)]
struct Mem {
    rss_kib: u64,
    hwm_kib: u64,
}

impl Mem {
    fn show(m: Option<Mem>) -> String {
        m.map_or("?".into(), |m| format!("{:.0} MiB", m.rss_kib as f64 / 1024.0))
    }
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The workerd processes started by `root` (its descendants), the largest first.
fn workerd_of(root: u32) -> Option<u32> {
    let mut procs: Vec<(u32, u32, String)> = Vec::new();
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let ppid = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        procs.push((pid, ppid, comm));
    }
    let mut family = vec![root];
    let mut i = 0;
    while i < family.len() {
        let parent = family[i];
        family.extend(procs.iter().filter(|p| p.1 == parent).map(|p| p.0));
        i += 1;
    }
    procs
        .iter()
        .filter(|p| family.contains(&p.0) && p.2 == "workerd")
        .max_by_key(|p| status_kib(p.0, "VmRSS:").unwrap_or(0))
        .map(|p| p.0)
}

fn memory(d: &Dev) -> Option<Mem> {
    let pid = workerd_of(d.guard.pid())?;
    Some(Mem {
        rss_kib: status_kib(pid, "VmRSS:")?,
        hwm_kib: status_kib(pid, "VmHWM:")?,
    })
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---------------------------------------------------------------- processes

/// Removes its directory when dropped (declared before the processes
/// using it, so it goes after them).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Env<'a> {
    tc: &'a Toolchain,
    tenant: Tenant,
    vars: Vec<String>,
    work: PathBuf,
}

impl Env<'_> {
    fn start(&self, state: &Path, log: &str) -> Result<Dev, String> {
        let log = self.work.join(log);
        let mut d = start_dev(self.tc, &self.tenant, None, state, &log, &self.vars).map_err(|_| "cannot start wrangler dev".to_string())?;
        d.wait(Duration::from_secs(90))?;
        Ok(d)
    }
}

fn log_tail(d: &Dev, n: usize) -> String {
    let log = std::fs::read_to_string(&d.log).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(n).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

// ---------------------------------------------------------------- 1 and 2

struct IngestSearch {
    ingest: Ingested,
    miss: Vec<f64>,
    hit: Vec<f64>,
    /// Misses with the model server's default (split) SSE writes.
    miss_split: Vec<f64>,
    /// The two streamed completions of each plain miss, straight from the
    /// model server (the floor under a miss that is not the Worker's).
    upstream: Vec<f64>,
    /// Misses answered with at least one source.
    with_sources: usize,
    /// Answers whose `x-cache` was not what the pass expected.
    wrong_cache: usize,
    index_kind: String,
}

/// One streamed completion of `tokens` tokens straight from the model
/// server, each event written whole (ms, to the end of the stream).
fn direct_completion(model_port: u16, tokens: usize) -> Result<f64, String> {
    let body = json!({"model": "scripted-chat", "stream": true, "messages": [{"role": "user", "content": format!("reference [[scripted:plain,tokens={}]]", tokens.max(1))}]}).to_string();
    let len = body.len().to_string();
    let h = [
        ("host", "127.0.0.1"),
        ("content-type", "application/json"),
        ("content-length", len.as_str()),
    ];
    let t0 = Instant::now();
    let r = request_within(model_port, "POST", "/v1/chat/completions", &h, body.as_bytes(), REQUEST_TIMEOUT)
        .map_err(|e| format!("the model server: {e}"))?;
    let took = t0.elapsed().as_secs_f64() * 1e3;
    if r.status != 200 || !String::from_utf8_lossy(&r.body).contains("[DONE]") {
        return Err(format!("the model server: status {}", r.status));
    }
    Ok(took)
}

fn ingest_and_search(env: &Env, state: &Path, s: &Sizes, corpus: &Corpus, model_port: u16) -> Result<IngestSearch, String> {
    let dev = env.start(state, "wrangler-dev-ingest.log")?;
    let c = Client::of(&dev);
    let run = || -> Result<IngestSearch, String> {
        eprintln!(
            "==> bench rag: ingesting {} documents of ~3 chunks, {BATCH_DOCS} per request",
            s.ingest_docs
        );
        let mut ing = Ingested::default();
        let ids: Vec<u64> = (0..s.ingest_docs as u64).collect();
        for batch in ids.chunks(BATCH_DOCS) {
            let docs = batch.iter().map(|&i| doc_json(corpus, "small", i, 2_000)).collect();
            post_batch(&c, docs, &mut ing)?;
        }
        eprintln!("    {} documents, {} chunks in {:.1}s", ing.docs, ing.chunks, ing.secs);
        let step = (s.ingest_docs / s.search_queries).max(1) as u64;
        // `[[scripted:plain]]`: the model server writes each SSE event in one
        // piece (its default cuts events at awkward places with 1 ms pauses,
        // to test parsers, which would be most of a miss); the rewrite drops
        // the directive, so retrieval sees the question alone.
        let plain: Vec<String> = (0..s.search_queries as u64)
            .map(|i| format!("{} [[scripted:plain]]", corpus.query(i * step, i, true)))
            .collect();
        let split: Vec<String> = (0..s.search_queries as u64)
            .map(|i| corpus.query(i * step + step / 2, 1000 + i, true))
            .collect();
        eprintln!(
            "==> bench rag: /search, {} distinct questions (miss), the same again (hit), {} others with the model server's split writes (miss)",
            plain.len(),
            split.len()
        );
        let (mut miss, mut hit, mut miss_split) = (Vec::new(), Vec::new(), Vec::new());
        let (mut with_sources, mut wrong_cache) = (0, 0);
        let mut index_kind = String::new();
        // Tokens of the two streamed completions of each plain miss: the
        // rewrite (its JSON reply) and the answer.
        let mut streamed: Vec<(usize, usize)> = Vec::new();
        for (pass, queries, want) in [
            (&mut miss, &plain, "miss"),
            (&mut hit, &plain, "hit"),
            (&mut miss_split, &split, "split miss"),
        ] {
            for q in queries {
                let a = c.post("/search", false, &json!({ "query": q }))?;
                pass.push(a.took.as_secs_f64() * 1e3);
                // `/search` answers a SearchResult (not in a `data` envelope).
                let is_hit = want == "hit";
                if a.cache.as_deref() != Some(if is_hit { "hit" } else { "miss" }) || a.body["cached"].as_bool() != Some(is_hit) {
                    wrong_cache += 1;
                }
                if !is_hit {
                    let n = a.body["sources"].as_array().map_or(0, Vec::len);
                    with_sources += usize::from(n > 0);
                    index_kind = a.body["index"].as_str().unwrap_or_default().to_string();
                    if want == "miss" {
                        let words = |v: &Value| v.as_str().map_or(0, |t| t.split_whitespace().count());
                        streamed.push((words(&a.body["query"]["rewritten"]), words(&a.body["answer"])));
                    }
                }
            }
        }
        // What the model server alone takes for those two streams (it
        // paces tokens with a timer, about 1 ms each even at delay 0).
        let mut upstream = Vec::new();
        for (rewrite, answer) in streamed {
            upstream.push(direct_completion(model_port, rewrite)? + direct_completion(model_port, answer)?);
        }
        Ok(IngestSearch {
            ingest: ing,
            miss,
            hit,
            miss_split,
            upstream,
            with_sources,
            wrong_cache,
            index_kind,
        })
    };
    run().map_err(|e| format!("{e}\n--- {} (last lines)\n{}", dev.log.display(), log_tail(&dev, 30)))
}

// ---------------------------------------------------------------- 3

/// One index size.
#[derive(Default)]
struct SizeRow {
    target: usize,
    chunks: u64,
    docs: usize,
    build_secs: f64,
    build_chunks_per_s: f64,
    vector: Vec<f64>,
    hybrid: Vec<f64>,
    /// The first vector query after the build (at the first size it loads
    /// the vectors; later the object already holds them).
    first_ms: Option<f64>,
    /// The first vector query after a restart: every vector read from SQLite.
    cold_ms: Option<f64>,
    restart_secs: Option<f64>,
    mem_built: Option<Mem>,
    mem_queried: Option<Mem>,
    mem_cold: Option<Mem>,
    /// Why the growth stopped here.
    stopped: Option<String>,
}

fn retrieve(c: &Client, query: &str, mode: &str) -> Result<f64, String> {
    let a = c.post(
        "/v1/dev/retrieve",
        false,
        &json!({"query": query, "mode": mode, "k": K, "min_score": 0.0}),
    )?;
    if a.body["data"]["results"].as_array().is_none_or(Vec::is_empty) {
        return Err(format!("no results for `{query}` ({mode}): {}", a.body));
    }
    Ok(a.took.as_secs_f64() * 1e3)
}

/// Grow the index to `target` chunks (documents `next..`), within the limit.
fn grow(c: &Client, corpus: &Corpus, next: &mut u64, have: &mut Ingested, target: usize, row: &mut SizeRow) -> Result<(), String> {
    let t0 = Instant::now();
    let chunks0 = have.chunks;
    while (have.chunks as usize) < target {
        if t0.elapsed() > BUILD_LIMIT {
            row.stopped = Some(format!(
                "building took more than {} min ({} chunks reached)",
                BUILD_LIMIT.as_secs() / 60,
                have.chunks
            ));
            break;
        }
        // Chunks per document so far (22.5 expected): the last batch is cut
        // so that the size is not overshot by a whole batch.
        let per_doc = if have.docs > 0 {
            have.chunks as f64 / have.docs as f64
        } else {
            22.5
        };
        let need = (((target as u64 - have.chunks) as f64 / per_doc).ceil() as usize).clamp(1, BATCH_DOCS);
        let ids: Range<u64> = *next..*next + need as u64;
        *next += need as u64;
        let docs = ids
            .map(|i| {
                let chunks = 20 + Rng::new(i ^ 0xC4_0C).below(6);
                doc_json(corpus, "big", i, chunks * 700)
            })
            .collect();
        post_batch(c, docs, have)?;
        let batches = have.requests.len();
        if batches.is_multiple_of(10) {
            eprintln!(
                "    {} chunks ({} documents), {:.0} chunks/s",
                have.chunks,
                have.docs,
                (have.chunks - chunks0) as f64 / t0.elapsed().as_secs_f64()
            );
        }
    }
    row.build_secs = t0.elapsed().as_secs_f64();
    row.chunks = have.chunks;
    row.docs = have.docs;
    row.build_chunks_per_s = (have.chunks - chunks0) as f64 / row.build_secs.max(1e-9);
    Ok(())
}

fn index_sizes(env: &Env, state: &Path, s: &Sizes, corpus: &Corpus, rows: &mut Vec<SizeRow>) -> Result<Option<Mem>, String> {
    let mut dev = env.start(state, "wrangler-dev-index.log")?;
    let empty = memory(&dev);
    let mut have = Ingested::default();
    let mut next = 0u64;
    for &target in &s.index_chunks {
        let mut row = SizeRow {
            target,
            ..SizeRow::default()
        };
        eprintln!("==> bench rag: local index to {target} chunks (documents of 20-25 chunks, {BATCH_DOCS} per request)");
        let c = Client::of(&dev);
        let measured = (|| -> Result<(), String> {
            grow(&c, corpus, &mut next, &mut have, target, &mut row)?;
            row.mem_built = memory(&dev);
            eprintln!(
                "    {} chunks in {:.1}s ({:.0} chunks/s); workerd RSS {}",
                row.chunks,
                row.build_secs,
                row.build_chunks_per_s,
                Mem::show(row.mem_built)
            );
            let docs = have.docs as u64;
            row.first_ms = Some(retrieve(&c, &corpus.query(0, 999, false), "vector")?);
            for mode in ["vector", "hybrid"] {
                for i in 0..s.index_queries as u64 {
                    let doc = Rng::new(i ^ target as u64).below(docs as usize) as u64;
                    let t = retrieve(&c, &corpus.query(doc, i, false), mode)?;
                    if mode == "vector" {
                        row.vector.push(t);
                    } else {
                        row.hybrid.push(t);
                    }
                }
            }
            row.mem_queried = memory(&dev);
            eprintln!(
                "    vector p50 {:.1} ms, hybrid p50 {:.1} ms (first query {:.1} ms); workerd RSS {}",
                ms(&row.vector, 0.5),
                ms(&row.hybrid, 0.5),
                row.first_ms.unwrap_or(f64::NAN),
                Mem::show(row.mem_queried)
            );
            Ok(())
        })();
        if let Err(e) = measured {
            eprintln!(
                "    FAILED at {target}: {e}\n--- {} (last lines)\n{}",
                dev.log.display(),
                log_tail(&dev, 30)
            );
            row.mem_queried = memory(&dev);
            row.stopped = Some(e);
            rows.push(row);
            break;
        }
        // Restart on the same state: the object loads every vector again.
        drop(dev);
        let t0 = Instant::now();
        dev = env.start(state, "wrangler-dev-index.log")?;
        row.restart_secs = Some(t0.elapsed().as_secs_f64());
        let c = Client::of(&dev);
        match retrieve(&c, &corpus.query(1, 998, false), "vector") {
            Ok(t) => row.cold_ms = Some(t),
            Err(e) => {
                eprintln!(
                    "    FAILED after the restart at {target}: {e}\n--- {} (last lines)\n{}",
                    dev.log.display(),
                    log_tail(&dev, 30)
                );
                row.stopped = Some(format!("first query after a restart: {e}"));
            }
        }
        row.mem_cold = memory(&dev);
        eprintln!(
            "    restarted in {:.1}s; first vector query {:.1} ms; workerd RSS {}",
            row.restart_secs.unwrap_or(f64::NAN),
            row.cold_ms.unwrap_or(f64::NAN),
            Mem::show(row.mem_cold)
        );
        let stop = row.stopped.is_some();
        rows.push(row);
        if stop {
            break;
        }
    }
    Ok(empty)
}

// ---------------------------------------------------------------- report

fn mib(m: Option<Mem>, peak: bool) -> String {
    m.map_or("?".into(), |m| {
        format!("{:.0}", if peak { m.hwm_kib } else { m.rss_kib } as f64 / 1024.0)
    })
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or("—".into(), |t| format!("{t:.1} ms"))
}

fn report(s: &Sizes, a: &IngestSearch, rows: &[SizeRow], empty: Option<Mem>) {
    let i = &a.ingest;
    println!();
    println!("### Ingestion (POST /documents, {BATCH_DOCS} documents per request, sequential)\n");
    println!("| documents | chunks | requests | time | documents/s | chunks/s | request p50 | request p95 |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {} | {:.1} s | {:.1} | {:.1} | {:.0} ms | {:.0} ms |",
        i.docs,
        i.chunks,
        i.requests.len(),
        i.secs,
        i.docs as f64 / i.secs,
        i.chunks as f64 / i.secs,
        ms(&i.requests, 0.5),
        ms(&i.requests, 0.95)
    );
    println!();
    println!(
        "### /search (acme: hybrid, rerank, cache search-ttl=300; {} questions)\n",
        s.search_queries
    );
    println!("| pass | requests | p50 | p95 |");
    println!("|---|---:|---:|---:|");
    println!(
        "| cache miss | {} | {:.1} ms | {:.1} ms |",
        a.miss.len(),
        ms(&a.miss, 0.5),
        ms(&a.miss, 0.95)
    );
    println!(
        "| cache hit | {} | {:.1} ms | {:.1} ms |",
        a.hit.len(),
        ms(&a.hit, 0.5),
        ms(&a.hit, 0.95)
    );
    println!(
        "| cache miss, model server's split SSE writes | {} | {:.1} ms | {:.1} ms |",
        a.miss_split.len(),
        ms(&a.miss_split, 0.5),
        ms(&a.miss_split, 0.95)
    );
    println!(
        "| (reference) a miss's two streams (rewrite, answer) straight from the model server | {} | {:.1} ms | {:.1} ms |",
        a.upstream.len(),
        ms(&a.upstream, 0.5),
        ms(&a.upstream, 0.95)
    );
    println!();
    println!(
        "index `{}`; {}/{} misses answered with sources; {} answer(s) with an unexpected x-cache",
        a.index_kind,
        a.with_sources,
        a.miss.len() + a.miss_split.len(),
        a.wrong_cache
    );
    println!();
    println!(
        "### Local index (DocIndex: SQLite + FTS5, {DIMS}-dim vectors in memory, exact cosine scan; POST /v1/dev/retrieve k={K}, {} queries per mode)\n",
        s.index_queries
    );
    println!("| chunks | vectors | build | build chunks/s | vector p50 | vector p95 | hybrid p50 | hybrid p95 | first query after restart | workerd RSS built / queried / restarted | peak RSS |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let vectors = r.chunks as f64 * DIMS as f64 * 4.0 / (1024.0 * 1024.0);
        let peak = [r.mem_built, r.mem_queried, r.mem_cold]
            .iter()
            .flatten()
            .map(|m| m.hwm_kib)
            .max()
            .map(|k| Some(Mem { rss_kib: 0, hwm_kib: k }));
        println!(
            "| {} | {:.0} MiB | {:.0} s | {:.0} | {} | {} | {} | {} | {} | {} / {} / {} MiB | {} MiB |",
            r.chunks,
            vectors,
            r.build_secs,
            r.build_chunks_per_s,
            opt_ms((!r.vector.is_empty()).then(|| ms(&r.vector, 0.5))),
            opt_ms((!r.vector.is_empty()).then(|| ms(&r.vector, 0.95))),
            opt_ms((!r.hybrid.is_empty()).then(|| ms(&r.hybrid, 0.5))),
            opt_ms((!r.hybrid.is_empty()).then(|| ms(&r.hybrid, 0.95))),
            opt_ms(r.cold_ms),
            mib(r.mem_built, false),
            mib(r.mem_queried, false),
            mib(r.mem_cold, false),
            mib(peak.flatten(), true),
        );
    }
    println!();
    println!("workerd RSS with the empty index: {} MiB", mib(empty, false));
    for r in rows {
        if let Some(f) = r.first_ms {
            println!(
                "{} chunks: first query after the build {f:.1} ms; restart {:.1} s",
                r.chunks,
                r.restart_secs.unwrap_or(f64::NAN)
            );
        }
        if let Some(why) = &r.stopped {
            println!("STOPPED at {} chunks (target {}): {why}", r.chunks, r.target);
        }
    }
    if let Some(last) = rows.last() {
        if last.stopped.is_none() && rows.len() < s.index_chunks.len() {
            println!("(sizes after {} chunks not measured)", last.chunks);
        }
    }
}

pub fn bench(tc: &Toolchain, quick: bool) -> Result<(), ExitCode> {
    let start = Instant::now();
    if std::env::var_os("BENCH_NO_BUILD").is_none() {
        build_worker(tc)?;
    }
    let sizes = Sizes::of(quick);
    let work = tc.root.join("target/bench-rag");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| fail(format!("{}: {e}", work.display())))?;
    // The objects' SQLite files on tmpfs when there is one.
    let shm = Path::new("/dev/shm");
    let scratch = Scratch(if shm.is_dir() {
        shm.join(format!("tenants-bench-rag-{}", std::process::id()))
    } else {
        work.join("state")
    });
    let configs = work.join("configs");
    render(tc, &configs, Some("dev"), Some(TENANT))?;
    let tenant = registry(&configs, "dev")?
        .into_iter()
        .find(|t| t.id == TENANT)
        .ok_or_else(|| fail(format!("no dev environment for {TENANT}")))?;
    let model = ModelServer::start(tc, &work.join("scripted-model-server.log"), 0).map_err(fail)?;
    let env = Env {
        tc,
        tenant,
        vars: vec!["--var".into(), format!("AI_BASE_URL:{}", model.url)],
        work: work.clone(),
    };
    eprintln!(
        "==> bench rag: wrangler dev --local ({TENANT}, dev), scripted model server at {}; load average {}",
        model.url,
        load_average()
    );
    let corpus = Corpus::new();
    let a = ingest_and_search(&env, &scratch.0.join("ingest"), &sizes, &corpus, model.port).map_err(fail)?;
    let mut rows = Vec::new();
    let empty = match index_sizes(&env, &scratch.0.join("index"), &sizes, &corpus, &mut rows) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("    FAILED: {e}");
            None
        }
    };
    report(&sizes, &a, &rows, empty);
    println!(
        "\nbench rag: {:.0} s in all; load average {}",
        start.elapsed().as_secs_f64(),
        load_average()
    );
    drop(model);
    drop(scratch);
    if rows.is_empty() {
        return Err(fail("no index size was measured".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_deterministic_and_differ() {
        let c = Corpus::new();
        let a = c.text(1, 5_000);
        assert_eq!(a, c.text(1, 5_000));
        assert_ne!(a, c.text(2, 5_000));
        assert!(a.len() >= 5_000 && a.len() < 5_300, "{}", a.len());
        assert!(c.query(3, 1, true).ends_with('?'));
        assert_ne!(c.query(3, 1, false), c.query(3, 2, false));
    }

    #[test]
    fn a_batch_of_the_largest_documents_is_within_the_inline_limits() {
        let c = Corpus::new();
        let chars: usize = (0..BATCH_DOCS as u64).map(|i| c.text(i, 25 * 700).chars().count()).sum();
        assert!(chars <= BATCH_CHARS, "{chars}");
    }

    #[test]
    fn percentiles() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(ms(&v, 0.5), 3.0);
        assert_eq!(ms(&v, 0.95), 5.0);
        assert!(ms(&[], 0.5).is_nan());
    }
}
