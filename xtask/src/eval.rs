//! `cargo xtask eval retrieval [--model-url URL] [--update-baseline]`: the
//! retrieval-quality evaluation CI defends.
//!
//! Every tenant with a folder in `xtask/eval/corpus/` gets its own `wrangler
//! dev --local` (development environment, fresh state in `target/eval/`)
//! talking to the scripted model server (or, with `--model-url`, a real
//! OpenAI-compatible embedding and rerank server). Its corpus is ingested
//! through `POST /documents` (batches within the inline limits), then every
//! labelled query of `xtask/eval/queries/<tenant>.json` is sent to `POST
//! /v1/dev/retrieve` in each mode (`vector`, `hybrid`, `rerank`) and scored:
//!
//! - recall@5: relevant documents in the top 5 / relevant documents;
//! - MRR@10: 1 / rank of the first relevant document in the top 10 (0 if none);
//! - nDCG@10: gain 2 for a `relevant` document, 1 for a `related` one, a
//!   log2(rank + 1) discount, normalised by the ideal ranking of the labels.
//!
//! Means over queries, in points (0–100), per tenant × mode, an `all` row per
//! mode (macro-averaged over every query) and per query kind. A result from
//! another tenant (its url not under `https://<tenant>.docs.example/`, or
//! its id not a document of the tenant's corpus) fails the run, as does any
//! metric more than [`TOLERANCE`] points below `xtask/eval/baseline.json`
//! (skipped with `--model-url`: the baseline belongs to the scripted
//! embedder). `--update-baseline` writes the baseline from the run.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::e2e::{registry, render_from, start_dev, Dev, Tenant};
use crate::fail;
use crate::model_server::ModelServer;
use crate::toolchain::Toolchain;

/// The retrieval modes of `POST /v1/dev/retrieve`, in table order.
pub const MODES: [&str; 3] = ["vector", "hybrid", "rerank"];
/// How many points below its baseline a metric may fall.
pub const TOLERANCE: f64 = 2.0;
/// The corpus must give at least this many chunks in all.
pub const MIN_CHUNKS: u64 = 300;
/// Documents returned per query.
const K: usize = 10;
/// The inline ingestion limits of `POST /documents`.
const BATCH_DOCS: usize = 20;
const BATCH_CHARS: usize = 400_000;

/// Options of `cargo xtask eval retrieval`.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// A real OpenAI-compatible server instead of the scripted one.
    pub model_url: Option<String>,
    /// Write `xtask/eval/baseline.json` from this run.
    pub update_baseline: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--model-url" => {
                    let u = it.next().filter(|u| !u.is_empty()).ok_or("--model-url needs a URL")?;
                    o.model_url = Some(u.clone());
                }
                "--update-baseline" => o.update_baseline = true,
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        if o.update_baseline && o.model_url.is_some() {
            return Err("--update-baseline with --model-url: the baseline belongs to the scripted embedder".into());
        }
        Ok(o)
    }
}

// ---------------------------------------------------------------- metrics

/// The labels of a query: `relevant` documents (gain 2) and `related` ones (gain 1).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Labels {
    pub relevant: Vec<String>,
    pub related: Vec<String>,
}

impl Labels {
    fn gain(&self, id: &str) -> f64 {
        if self.relevant.iter().any(|r| r == id) {
            2.0
        } else if self.related.iter().any(|r| r == id) {
            1.0
        } else {
            0.0
        }
    }
}

/// The first `k` distinct ids of a ranking (a repeated id counts once, at
/// its first rank).
fn top(ranked: &[String], k: usize) -> Vec<&str> {
    let mut seen = HashSet::new();
    ranked.iter().map(String::as_str).filter(|id| seen.insert(*id)).take(k).collect()
}

/// Relevant documents among the first `k` / relevant documents (0 without any).
pub fn recall_at(ranked: &[String], labels: &Labels, k: usize) -> f64 {
    let relevant: HashSet<&str> = labels.relevant.iter().map(String::as_str).collect();
    if relevant.is_empty() {
        return 0.0;
    }
    let found = top(ranked, k).into_iter().filter(|id| relevant.contains(id)).count();
    found as f64 / relevant.len() as f64
}

/// 1 / rank of the first relevant document among the first `k`, 0 if none.
pub fn mrr_at(ranked: &[String], labels: &Labels, k: usize) -> f64 {
    top(ranked, k)
        .iter()
        .position(|id| labels.relevant.iter().any(|r| r == id))
        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// nDCG over the first `k`: gain 2 (relevant) or 1 (related), discount
/// log2(rank + 1); the ideal ranking is the labels' gains, best first.
pub fn ndcg_at(ranked: &[String], labels: &Labels, k: usize) -> f64 {
    let discount = |i: usize| ((i + 2) as f64).log2();
    let dcg: f64 = top(ranked, k).iter().enumerate().map(|(i, id)| labels.gain(id) / discount(i)).sum();
    let mut ideal: Vec<f64> = {
        let mut ids: Vec<&str> = labels.relevant.iter().chain(&labels.related).map(String::as_str).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter().map(|id| labels.gain(id)).collect()
    };
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal.iter().take(k).enumerate().map(|(i, g)| g / discount(i)).sum();
    if idcg == 0.0 {
        0.0
    } else {
        dcg / idcg
    }
}

/// The three metrics, as fractions (0..1) or, in tables and the baseline, points.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metrics {
    pub recall5: f64,
    pub mrr10: f64,
    pub ndcg10: f64,
}

/// The metric names, as in the baseline file.
pub const METRIC_NAMES: [&str; 3] = ["recall@5", "mrr@10", "ndcg@10"];

impl Metrics {
    pub fn of(ranked: &[String], labels: &Labels) -> Metrics {
        Metrics {
            recall5: recall_at(ranked, labels, 5),
            mrr10: mrr_at(ranked, labels, 10),
            ndcg10: ndcg_at(ranked, labels, 10),
        }
    }

    /// Macro-average (every query weighs the same); zeros when empty.
    pub fn mean(all: &[Metrics]) -> Metrics {
        if all.is_empty() {
            return Metrics::default();
        }
        let n = all.len() as f64;
        Metrics {
            recall5: all.iter().map(|m| m.recall5).sum::<f64>() / n,
            mrr10: all.iter().map(|m| m.mrr10).sum::<f64>() / n,
            ndcg10: all.iter().map(|m| m.ndcg10).sum::<f64>() / n,
        }
    }

    pub fn points(self) -> Metrics {
        Metrics {
            recall5: self.recall5 * 100.0,
            mrr10: self.mrr10 * 100.0,
            ndcg10: self.ndcg10 * 100.0,
        }
    }

    fn get(&self, name: &str) -> f64 {
        match name {
            "recall@5" => self.recall5,
            "mrr@10" => self.mrr10,
            _ => self.ndcg10,
        }
    }
}

// ---------------------------------------------------------------- baseline

/// Points per tenant, per mode.
pub type Scores = BTreeMap<String, BTreeMap<String, Metrics>>;

/// One decimal, as printed and stored.
fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub fn baseline_to_json(s: &Scores) -> Value {
    let mut tenants = serde_json::Map::new();
    for (t, modes) in s {
        let mut m = serde_json::Map::new();
        for (mode, x) in modes {
            let mut o = serde_json::Map::new();
            for name in METRIC_NAMES {
                o.insert(name.into(), json!(round1(x.get(name))));
            }
            m.insert(mode.clone(), Value::Object(o));
        }
        tenants.insert(t.clone(), Value::Object(m));
    }
    json!({
        "about": "Retrieval quality in points (0-100) per tenant and mode, from `cargo xtask eval retrieval --update-baseline` against the scripted model server's lexical embedder and reranker. A run fails when a metric is more than 2.0 points below its value here.",
        "tolerance_points": TOLERANCE,
        "k": K,
        "scores": Value::Object(tenants),
    })
}

pub fn baseline_from_json(v: &Value) -> Result<Scores, String> {
    let tenants = v["scores"].as_object().ok_or("no `scores` object")?;
    let mut out = Scores::new();
    for (t, modes) in tenants {
        let modes = modes.as_object().ok_or_else(|| format!("`scores.{t}` is not an object"))?;
        for (mode, m) in modes {
            let num = |name: &str| {
                m[name]
                    .as_f64()
                    .ok_or_else(|| format!("`scores.{t}.{mode}.{name}` is not a number"))
            };
            let x = Metrics {
                recall5: num("recall@5")?,
                mrr10: num("mrr@10")?,
                ndcg10: num("ndcg@10")?,
            };
            out.entry(t.clone()).or_default().insert(mode.clone(), x);
        }
    }
    Ok(out)
}

/// One metric of one tenant × mode, baseline against this run (points).
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    pub tenant: String,
    pub mode: String,
    pub metric: &'static str,
    pub baseline: f64,
    pub current: f64,
}

/// What the gate found.
#[derive(Debug, Default, PartialEq)]
pub struct Comparison {
    /// More than the tolerance below the baseline: the run fails.
    pub regressions: Vec<Delta>,
    /// Above the baseline (after rounding to one decimal).
    pub improvements: Vec<Delta>,
    /// Tenant × mode scored now with no baseline.
    pub unbaselined: Vec<String>,
    /// Tenant × mode in the baseline that this run did not score.
    pub missing: Vec<String>,
}

impl Comparison {
    pub fn passed(&self) -> bool {
        self.regressions.is_empty() && self.unbaselined.is_empty() && self.missing.is_empty()
    }
}

/// Compare this run (points) with the baseline (points).
pub fn compare(baseline: &Scores, current: &Scores, tolerance: f64) -> Comparison {
    let mut c = Comparison::default();
    for (t, modes) in current {
        for (mode, now) in modes {
            let Some(base) = baseline.get(t).and_then(|m| m.get(mode)) else {
                c.unbaselined.push(format!("{t}/{mode}"));
                continue;
            };
            for metric in METRIC_NAMES {
                let d = Delta {
                    tenant: t.clone(),
                    mode: mode.clone(),
                    metric,
                    baseline: base.get(metric),
                    current: now.get(metric),
                };
                if d.current < d.baseline - tolerance - 1e-9 {
                    c.regressions.push(d);
                } else if round1(d.current) > d.baseline + 1e-9 {
                    c.improvements.push(d);
                }
            }
        }
    }
    for (t, modes) in baseline {
        for mode in modes.keys() {
            if !current.get(t).is_some_and(|m| m.contains_key(mode)) {
                c.missing.push(format!("{t}/{mode}"));
            }
        }
    }
    c
}

// ---------------------------------------------------------------- corpus

#[derive(Debug, Clone)]
struct Doc {
    id: String,
    format: &'static str,
    text: String,
}

#[derive(Debug, Clone)]
struct Query {
    id: String,
    query: String,
    kind: String,
    labels: Labels,
}

#[derive(Debug, Clone)]
struct Corpus {
    tenant: String,
    docs: Vec<Doc>,
    queries: Vec<Query>,
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    v.as_array()
        .ok_or_else(|| format!("{what} is not an array"))?
        .iter()
        .map(|x| x.as_str().map(String::from).ok_or_else(|| format!("{what} holds a non-string")))
        .collect()
}

/// Every tenant folder of `xtask/eval/corpus/` with its labelled queries,
/// the labels checked against the documents.
fn load(root: &Path) -> Result<Vec<Corpus>, String> {
    let corpus_dir = root.join("xtask/eval/corpus");
    let mut tenants: Vec<PathBuf> = std::fs::read_dir(&corpus_dir)
        .map_err(|e| format!("cannot read {}: {e}", corpus_dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    tenants.sort();
    let mut out = Vec::new();
    for dir in tenants {
        let tenant = dir.file_name().unwrap_or_default().to_string_lossy().to_string();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        let mut docs = Vec::new();
        for f in files {
            let format = match f.extension().and_then(|e| e.to_str()) {
                Some("md") => "markdown",
                Some("html") => "html",
                Some("txt") => "text",
                _ => return Err(format!("{}: not .md, .html or .txt", f.display())),
            };
            let id = f.file_stem().unwrap_or_default().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
            if docs.iter().any(|d: &Doc| d.id == id) {
                return Err(format!("{tenant}: two documents with the id `{id}`"));
            }
            docs.push(Doc { id, format, text });
        }
        if docs.is_empty() {
            return Err(format!("{}: no documents", dir.display()));
        }
        let qpath = root.join(format!("xtask/eval/queries/{tenant}.json"));
        let text = std::fs::read_to_string(&qpath).map_err(|e| format!("cannot read {}: {e}", qpath.display()))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", qpath.display()))?;
        let ids: HashSet<&str> = docs.iter().map(|d| d.id.as_str()).collect();
        let mut queries = Vec::new();
        for (i, q) in v
            .as_array()
            .ok_or_else(|| format!("{} is not an array", qpath.display()))?
            .iter()
            .enumerate()
        {
            let at = format!("{}[{i}]", qpath.display());
            let s = |k: &str| q[k].as_str().map(String::from).ok_or_else(|| format!("{at}: no `{k}` string"));
            let labels = Labels {
                relevant: strings(&q["relevant"], &format!("{at}.relevant"))?,
                related: strings(&q["related"], &format!("{at}.related"))?,
            };
            if labels.relevant.is_empty() {
                return Err(format!("{at}: no relevant document"));
            }
            if let Some(bad) = labels.relevant.iter().chain(&labels.related).find(|d| !ids.contains(d.as_str())) {
                return Err(format!("{at}: `{bad}` is not a document of {tenant}'s corpus"));
            }
            let query = Query {
                id: s("id")?,
                query: s("query")?,
                kind: s("kind")?,
                labels,
            };
            if queries.iter().any(|o: &Query| o.id == query.id) {
                return Err(format!("{at}: the id `{}` appears twice", query.id));
            }
            queries.push(query);
        }
        if queries.is_empty() {
            return Err(format!("{}: no queries", qpath.display()));
        }
        out.push(Corpus { tenant, docs, queries });
    }
    if out.is_empty() {
        return Err(format!("no tenant folder in {}", corpus_dir.display()));
    }
    Ok(out)
}

/// Batches within the inline limits (`POST /documents`).
fn batches(docs: &[Doc]) -> Vec<&[Doc]> {
    let mut out = Vec::new();
    let (mut start, mut chars) = (0, 0);
    for (i, d) in docs.iter().enumerate() {
        let n = d.text.chars().count();
        if i > start && (i - start == BATCH_DOCS || chars + n > BATCH_CHARS) {
            out.push(&docs[start..i]);
            (start, chars) = (i, 0);
        }
        chars += n;
    }
    if start < docs.len() {
        out.push(&docs[start..]);
    }
    out
}

// ---------------------------------------------------------------- requests

/// A tenant's running Worker, as the request threads need it.
#[derive(Clone)]
struct Target {
    tenant: String,
    host: String,
    port: u16,
}

impl Target {
    fn prefix(&self) -> String {
        format!("https://{}.docs.example/", self.tenant)
    }

    /// POST JSON as user `eval-<n>` from its own client address, so that
    /// no per-user or per-IP limit is reached (initech: 20 an hour per user).
    fn post(&self, n: u32, path: &str, roles: Option<&str>, body: &Value) -> Result<Value, String> {
        let b = body.to_string();
        let len = b.len().to_string();
        let user = format!("eval-{n}");
        let ip = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
        let mut h: Vec<(&str, &str)> = vec![
            ("host", &self.host),
            ("x-user-id", &user),
            ("cf-connecting-ip", &ip),
            ("content-type", "application/json"),
            ("content-length", &len),
        ];
        if let Some(r) = roles {
            h.push(("x-user-roles", r));
        }
        let r = crate::net::request(self.port, "POST", path, &h, b.as_bytes()).map_err(|e| format!("{}: POST {path}: {e}", self.tenant))?;
        if r.status == 429 {
            return Err(format!(
                "{}: POST {path} was rate limited (429, retry-after {:?}) although every request is its own user (`{user}`) and client IP: check the tenant's rate limits: {}",
                self.tenant,
                r.header("retry-after"),
                String::from_utf8_lossy(&r.body)
            ));
        }
        if r.status != 200 {
            return Err(format!(
                "{}: POST {path}: status {}: {}",
                self.tenant,
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        r.json().map_err(|e| format!("{}: POST {path}: {e}", self.tenant))
    }
}

/// Ingest a corpus; the chunks per document.
fn ingest(t: &Target, c: &Corpus, n: &mut u32) -> Result<Vec<(String, u64)>, String> {
    let mut chunks = Vec::new();
    for batch in batches(&c.docs) {
        let docs: Vec<Value> = batch
            .iter()
            .map(|d| json!({"id": d.id, "url": format!("{}{}", t.prefix(), d.id), "text": d.text, "format": d.format}))
            .collect();
        *n += 1;
        let v = t.post(*n, "/documents", Some("admin"), &json!({ "documents": docs }))?;
        let errors = v["data"]["errors"].as_array().cloned().unwrap_or_default();
        if !errors.is_empty() {
            return Err(format!("{}: documents not ingested: {}", t.tenant, Value::Array(errors)));
        }
        let ingested = v["data"]["ingested"].as_array().cloned().unwrap_or_default();
        for d in batch {
            let Some(i) = ingested.iter().find(|i| i["id"] == d.id.as_str()) else {
                return Err(format!("{}: `{}` is not in the ingestion report: {v}", t.tenant, d.id));
            };
            let k = i["chunks"].as_u64().unwrap_or(0);
            if k == 0 {
                return Err(format!("{}: `{}` was ingested as no chunk: {i}", t.tenant, d.id));
            }
            chunks.push((d.id.clone(), k));
        }
    }
    Ok(chunks)
}

/// One query in one mode: the ranked document ids and any result that is
/// not this tenant's.
#[derive(Debug, Clone)]
struct Ranked {
    query: String,
    mode: &'static str,
    ids: Vec<String>,
    foreign: Vec<String>,
    metrics: Metrics,
}

fn retrieve(t: &Target, c: &Corpus, n: &mut u32) -> Result<Vec<Ranked>, String> {
    let ids: HashSet<&str> = c.docs.iter().map(|d| d.id.as_str()).collect();
    let prefix = t.prefix();
    let mut out = Vec::new();
    for q in &c.queries {
        for mode in MODES {
            *n += 1;
            let v = t
                .post(
                    *n,
                    "/v1/dev/retrieve",
                    None,
                    &json!({"query": q.query, "mode": mode, "k": K, "min_score": 0.0}),
                )
                .map_err(|e| format!("{} ({mode}): {e}", q.id))?;
            let results = v["data"]["results"]
                .as_array()
                .ok_or_else(|| format!("{}: {} ({mode}): no results array: {v}", t.tenant, q.id))?;
            let mut ranked = Vec::new();
            let mut foreign = Vec::new();
            for r in results {
                let id = r["id"].as_str().unwrap_or_default().to_string();
                let url = r["url"].as_str().unwrap_or_default();
                if !url.starts_with(&prefix) || !ids.contains(id.as_str()) {
                    foreign.push(format!("id `{id}`, url `{url}`"));
                }
                ranked.push(id);
            }
            out.push(Ranked {
                query: q.id.clone(),
                mode,
                metrics: Metrics::of(&ranked, &q.labels),
                ids: ranked,
                foreign,
            });
        }
    }
    Ok(out)
}

/// What one tenant's thread brings back.
struct TenantRun {
    chunks: Vec<(String, u64)>,
    ranked: Vec<Ranked>,
    ingest_secs: f64,
    query_secs: f64,
}

fn run_tenant(t: &Target, c: &Corpus) -> Result<TenantRun, String> {
    let mut n = 0;
    let t0 = Instant::now();
    let chunks = ingest(t, c, &mut n)?;
    let ingest_secs = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let ranked = retrieve(t, c, &mut n)?;
    Ok(TenantRun {
        chunks,
        ranked,
        ingest_secs,
        query_secs: t1.elapsed().as_secs_f64(),
    })
}

// ---------------------------------------------------------------- report

fn row(label: &str, mode: &str, n: usize, m: Metrics) -> String {
    let p = m.points();
    format!("| {label} | {mode} | {n} | {:.1} | {:.1} | {:.1} |", p.recall5, p.mrr10, p.ndcg10)
}

/// The markdown tables: tenant × mode with an `all` row per mode, then by kind.
fn tables(corpora: &[Corpus], runs: &[TenantRun]) -> (String, Scores) {
    let mut scores = Scores::new();
    let mut s = String::from("| tenant | mode | queries | recall@5 | MRR@10 | nDCG@10 |\n|---|---|---:|---:|---:|---:|\n");
    let of = |run: &TenantRun, mode: &str, keep: &dyn Fn(&str) -> bool| -> Vec<Metrics> {
        run.ranked
            .iter()
            .filter(|r| r.mode == mode && keep(&r.query))
            .map(|r| r.metrics)
            .collect()
    };
    for (c, run) in corpora.iter().zip(runs) {
        for mode in MODES {
            let m = of(run, mode, &|_| true);
            let mean = Metrics::mean(&m);
            scores.entry(c.tenant.clone()).or_default().insert(mode.to_string(), mean.points());
            s.push_str(&row(&c.tenant, mode, m.len(), mean));
            s.push('\n');
        }
    }
    for mode in MODES {
        let m: Vec<Metrics> = runs.iter().flat_map(|r| of(r, mode, &|_| true)).collect();
        s.push_str(&row("**all**", mode, m.len(), Metrics::mean(&m)));
        s.push('\n');
    }
    // By query kind, over every tenant.
    let mut kinds: Vec<&str> = corpora.iter().flat_map(|c| c.queries.iter().map(|q| q.kind.as_str())).collect();
    let order = |k: &str| {
        ["keyword", "paraphrase", "distractor"]
            .iter()
            .position(|x| *x == k)
            .unwrap_or(usize::MAX)
    };
    kinds.sort_by(|a, b| order(a).cmp(&order(b)).then(a.cmp(b)));
    kinds.dedup();
    s.push_str(
        "\nBy query kind (all tenants):\n\n| kind | mode | queries | recall@5 | MRR@10 | nDCG@10 |\n|---|---|---:|---:|---:|---:|\n",
    );
    for kind in kinds {
        for mode in MODES {
            let m: Vec<Metrics> = corpora
                .iter()
                .zip(runs)
                .flat_map(|(c, r)| {
                    let of_kind: HashSet<&str> = c.queries.iter().filter(|q| q.kind == kind).map(|q| q.id.as_str()).collect();
                    of(r, mode, &|q| of_kind.contains(q))
                })
                .collect();
            s.push_str(&row(kind, mode, m.len(), Metrics::mean(&m)));
            s.push('\n');
        }
    }
    (s, scores)
}

/// Per query and mode: the ranking and its metrics (target/eval/retrieval.json).
fn details(corpora: &[Corpus], runs: &[TenantRun]) -> Value {
    let mut out = serde_json::Map::new();
    for (c, run) in corpora.iter().zip(runs) {
        let qs: Vec<Value> = c
            .queries
            .iter()
            .map(|q| {
                let mut modes = serde_json::Map::new();
                for r in run.ranked.iter().filter(|r| r.query == q.id) {
                    let p = r.metrics.points();
                    modes.insert(
                        r.mode.into(),
                        json!({"ranked": r.ids, "recall@5": round1(p.recall5), "mrr@10": round1(p.mrr10), "ndcg@10": round1(p.ndcg10), "foreign": r.foreign}),
                    );
                }
                json!({"id": q.id, "query": q.query, "kind": q.kind, "relevant": q.labels.relevant, "related": q.labels.related, "modes": modes})
            })
            .collect();
        let chunks: serde_json::Map<String, Value> = run.chunks.iter().map(|(d, k)| (d.clone(), json!(k))).collect();
        out.insert(c.tenant.clone(), json!({"chunks": chunks, "queries": qs}));
    }
    Value::Object(out)
}

// ---------------------------------------------------------------- the run

/// `cargo xtask eval retrieval`. `build`: build the Worker first; `false`
/// reuses `runtime/build/` (after the e2e suite, which has just built it).
pub fn retrieval(tc: &Toolchain, build: bool, opts: &Options) -> Result<(), ExitCode> {
    let start = Instant::now();
    let corpora = load(&tc.root).map_err(fail)?;
    ensure_worker(tc, build)?;
    let work = tc.root.join("target/eval");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| fail(format!("cannot create {}: {e}", work.display())))?;
    let configs = work.join("configs");
    render_from(tc, &tc.root.join("tenants"), &configs, Some("dev"), None)?;
    let registered = registry(&configs, "dev")?;

    let (devs, scripted) = start_servers(tc, opts, &corpora, &registered, &work)?;
    let ready = Instant::now();
    let results = ingest_and_query(&devs, &corpora);
    let work_secs = ready.elapsed().as_secs_f64();
    drop(devs); // stops every wrangler/workerd process group
    drop(scripted);
    let mut runs = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(r) => runs.push(r),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(fail(format!("eval retrieval:\n      {}", errors.join("\n      "))));
    }

    let mut failures = Vec::new();
    let scores = score(&corpora, &runs, &work, &mut failures);
    gate(tc, opts, &scores, &mut failures)?;
    println!(
        "\neval retrieval: {:.1}s in all ({:.1}s ingesting and querying)",
        start.elapsed().as_secs_f64(),
        work_secs
    );
    if failures.is_empty() {
        println!("eval retrieval: ok");
        Ok(())
    } else {
        // Exit 1, as a failing test does (2 is the tooling failing).
        eprintln!("    FAILED: eval retrieval:\n      {}", failures.join("\n      "));
        Err(ExitCode::from(1))
    }
}

/// Build the Worker (`build`), or check that `runtime/build/` holds one.
fn ensure_worker(tc: &Toolchain, build: bool) -> Result<(), ExitCode> {
    if build {
        crate::toolchain::build_worker_from(tc, None)?;
    } else {
        let main = tc.root.join("runtime/build/index.js");
        if !main.is_file() {
            return Err(fail(format!(
                "no Worker build at {} (run without EVAL_NO_BUILD, or `cargo xtask build-worker`)",
                main.display()
            )));
        }
        eprintln!("==> eval: reusing the Worker build in runtime/build/");
    }
    Ok(())
}

/// The model server (the scripted one unless --model-url) and one
/// `wrangler dev --local` per tenant with a corpus, each ready.
fn start_servers(
    tc: &Toolchain,
    opts: &Options,
    corpora: &[Corpus],
    registered: &[Tenant],
    work: &Path,
) -> Result<(Vec<Dev>, Option<ModelServer>), ExitCode> {
    let mut scripted = None;
    let model_url = match &opts.model_url {
        Some(u) => u.clone(),
        None => {
            let m = ModelServer::start(tc, &work.join("scripted-model-server.log"), 0).map_err(fail)?;
            let u = m.url.clone();
            scripted = Some(m);
            u
        }
    };
    eprintln!(
        "==> eval: wrangler dev --local per tenant with a corpus ({}), models at {model_url}{}",
        corpora.iter().map(|c| c.tenant.as_str()).collect::<Vec<_>>().join(", "),
        if scripted.is_some() {
            " (the scripted model server: lexical embedder and reranker)"
        } else {
            ""
        }
    );
    let vars = ["--var".to_string(), format!("AI_BASE_URL:{model_url}")];
    let mut devs: Vec<Dev> = Vec::new();
    for c in corpora {
        let t = registered
            .iter()
            .find(|t| t.id == c.tenant)
            .ok_or_else(|| fail(format!("xtask/eval/corpus/{} names no tenant with a dev environment", c.tenant)))?;
        let log = work.join(format!("wrangler-dev-{}.log", t.id));
        devs.push(start_dev(tc, t, None, &work.join("state").join(&t.id), &log, &vars)?);
    }
    for d in &mut devs {
        let took = d
            .wait(Duration::from_secs(90))
            .map_err(|e| fail(format!("{}: wrangler dev did not start: {e}", d.tenant.id)))?;
        eprintln!("    {} ready on 127.0.0.1:{} in {:.1}s", d.tenant.id, d.port, took.as_secs_f64());
    }
    Ok((devs, scripted))
}

/// Each tenant in its own thread: ingest, then every query in every mode.
fn ingest_and_query(devs: &[Dev], corpora: &[Corpus]) -> Vec<Result<TenantRun, String>> {
    let targets: Vec<Target> = devs
        .iter()
        .map(|d| Target {
            tenant: d.tenant.id.clone(),
            host: d.tenant.host.clone(),
            port: d.port,
        })
        .collect();
    eprintln!(
        "==> eval: ingesting {} documents, then {} queries x {} modes",
        corpora.iter().map(|c| c.docs.len()).sum::<usize>(),
        corpora.iter().map(|c| c.queries.len()).sum::<usize>(),
        MODES.len()
    );
    std::thread::scope(|s| {
        let handles: Vec<_> = targets
            .iter()
            .zip(corpora)
            .map(|(t, c)| s.spawn(move || run_tenant(t, c)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a tenant's thread panicked".into())))
            .collect()
    })
}

/// Print the chunk counts, the tables and the cross-tenant check, write
/// target/eval/retrieval.{md,json}; the scores for the gate.
fn score(corpora: &[Corpus], runs: &[TenantRun], work: &Path, failures: &mut Vec<String>) -> Scores {
    println!("\n## Retrieval quality (k = {K}; points, 0-100)\n");
    let mut total_chunks = 0;
    for (c, r) in corpora.iter().zip(runs) {
        let n: u64 = r.chunks.iter().map(|(_, k)| k).sum();
        total_chunks += n;
        println!(
            "- {}: {} documents, {n} chunks ingested in {:.1}s; {} queries x {} modes in {:.1}s",
            c.tenant,
            c.docs.len(),
            r.ingest_secs,
            c.queries.len(),
            MODES.len(),
            r.query_secs
        );
    }
    println!("- {total_chunks} chunks in all (at least {MIN_CHUNKS} required)");
    if total_chunks < MIN_CHUNKS {
        failures.push(format!("the corpus gave {total_chunks} chunks, fewer than {MIN_CHUNKS}"));
    }
    let (table, scores) = tables(corpora, runs);
    println!("\n{table}");
    let foreign: Vec<String> = corpora
        .iter()
        .zip(runs)
        .flat_map(|(c, r)| {
            r.ranked.iter().flat_map(move |x| {
                x.foreign
                    .iter()
                    .map(move |f| format!("{}: {} ({}): {f}", c.tenant, x.query, x.mode))
            })
        })
        .collect();
    println!("Cross-tenant results: {} (must be 0)", foreign.len());
    for f in foreign.iter().take(20) {
        println!("    {f}");
    }
    if !foreign.is_empty() {
        failures.push(format!("{} results from outside the tenant's own corpus", foreign.len()));
    }
    let _ = std::fs::write(work.join("retrieval.md"), &table);
    let _ = std::fs::write(
        work.join("retrieval.json"),
        serde_json::to_string_pretty(&details(corpora, runs)).unwrap_or_default(),
    );
    println!("(per query rankings: {})", work.join("retrieval.json").display());
    scores
}

/// The gate: skipped for --model-url, the baseline written for
/// --update-baseline, else the scores compared with the baseline.
fn gate(tc: &Toolchain, opts: &Options, scores: &Scores, failures: &mut Vec<String>) -> Result<(), ExitCode> {
    let baseline_path = tc.root.join("xtask/eval/baseline.json");
    if opts.model_url.is_some() {
        println!("\nBaseline gate SKIPPED: --model-url names another model server; xtask/eval/baseline.json belongs to the scripted lexical embedder.");
    } else if opts.update_baseline {
        if failures.is_empty() {
            let text = serde_json::to_string_pretty(&baseline_to_json(scores)).unwrap_or_default() + "\n";
            std::fs::write(&baseline_path, text).map_err(|e| fail(format!("cannot write {}: {e}", baseline_path.display())))?;
            println!("\nBaseline written: {}", baseline_path.display());
        } else {
            println!("\nBaseline NOT written: the run failed.");
        }
    } else {
        let base = std::fs::read_to_string(&baseline_path)
            .map_err(|e| format!("cannot read {}: {e} (write one with --update-baseline)", baseline_path.display()))
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| format!("{} is not JSON: {e}", baseline_path.display())))
            .and_then(|v| baseline_from_json(&v).map_err(|e| format!("{}: {e}", baseline_path.display())));
        match base {
            Err(e) => failures.push(e),
            Ok(base) => {
                let c = compare(&base, scores, TOLERANCE);
                print_comparison(&c);
                if c.passed() {
                    println!("    ok");
                } else {
                    failures.push(format!(
                        "baseline gate: {} regression(s), {} tenant x mode without baseline, {} not scored",
                        c.regressions.len(),
                        c.unbaselined.len(),
                        c.missing.len()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The baseline comparison, line by line.
fn print_comparison(c: &Comparison) {
    println!("\nBaseline gate (a metric may fall at most {TOLERANCE:.1} points below xtask/eval/baseline.json):");
    for d in &c.regressions {
        println!(
            "    REGRESSION {}/{} {}: {:.1} -> {:.1} ({:+.1})",
            d.tenant,
            d.mode,
            d.metric,
            d.baseline,
            d.current,
            d.current - d.baseline
        );
    }
    for x in &c.unbaselined {
        println!("    NO BASELINE for {x} (run with --update-baseline)");
    }
    for x in &c.missing {
        println!("    NOT SCORED: {x} is in the baseline but not in this run");
    }
    for d in &c.improvements {
        println!(
            "    improved {}/{} {}: {:.1} -> {:.1} ({:+.1})",
            d.tenant,
            d.mode,
            d.metric,
            d.baseline,
            d.current,
            d.current - d.baseline
        );
    }
    if !c.improvements.is_empty() {
        println!("    better than the baseline: `cargo xtask eval retrieval --update-baseline` raises the bar");
    }
}

/// `cargo xtask eval retrieval [--model-url URL] [--update-baseline]`
/// standalone: builds the Worker unless `EVAL_NO_BUILD=1`.
pub fn main(args: &[String]) -> Result<(), ExitCode> {
    let opts = Options::parse(args).map_err(|e| {
        eprintln!("usage: cargo xtask eval retrieval [--model-url URL] [--update-baseline]\n    {e}");
        ExitCode::from(2)
    })?;
    let tc = crate::toolchain::setup()?;
    let build = std::env::var("EVAL_NO_BUILD").map_or(true, |v| v != "1");
    retrieval(&tc, build, &opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn labels(relevant: &[&str], related: &[&str]) -> Labels {
        Labels {
            relevant: ids(relevant),
            related: ids(related),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn recall_at_5_counts_relevant_documents_in_the_top_5_only() {
        let l = labels(&["a", "b"], &["c"]);
        assert!(close(recall_at(&ids(&["a", "x", "b"]), &l, 5), 1.0));
        assert!(close(recall_at(&ids(&["x", "c", "a"]), &l, 5), 0.5));
        // `b` at rank 6 is outside the top 5; related documents do not count.
        assert!(close(recall_at(&ids(&["c", "x", "y", "z", "w", "b"]), &l, 5), 0.0));
        // A repeated id counts once.
        assert!(close(recall_at(&ids(&["a", "a", "a"]), &l, 5), 0.5));
    }

    #[test]
    fn mrr_at_10_is_the_reciprocal_rank_of_the_first_relevant_document() {
        let l = labels(&["a", "b"], &["c"]);
        assert!(close(mrr_at(&ids(&["a", "b"]), &l, 10), 1.0));
        assert!(close(mrr_at(&ids(&["c", "x", "b", "a"]), &l, 10), 1.0 / 3.0));
        let eleven: Vec<String> = (0..10).map(|i| format!("x{i}")).chain(["a".to_string()]).collect();
        assert!(close(mrr_at(&eleven, &l, 10), 0.0));
    }

    #[test]
    fn ndcg_at_10_uses_graded_gains_and_the_ideal_from_the_labels() {
        let l = labels(&["a"], &["c"]);
        // Ideal: a (2) then c (1).
        let idcg = 2.0 + 1.0 / 3f64.log2();
        assert!(close(ndcg_at(&ids(&["a", "c"]), &l, 10), 1.0));
        assert!(close(ndcg_at(&ids(&["c", "a"]), &l, 10), (1.0 + 2.0 / 3f64.log2()) / idcg));
        assert!(close(ndcg_at(&ids(&["x", "a"]), &l, 10), (2.0 / 3f64.log2()) / idcg));
        // Only the related document, at rank 1.
        assert!(close(ndcg_at(&ids(&["c"]), &l, 10), 1.0 / idcg));
        // Two relevant documents: the ideal has both first.
        let l2 = labels(&["a", "b"], &[]);
        let idcg2 = 2.0 + 2.0 / 3f64.log2();
        assert!(close(ndcg_at(&ids(&["a", "x", "b"]), &l2, 10), (2.0 + 2.0 / 4f64.log2()) / idcg2));
        // A duplicate gains nothing the second time.
        assert!(close(ndcg_at(&ids(&["c", "c"]), &l, 10), 1.0 / idcg));
    }

    #[test]
    fn metrics_are_zero_when_nothing_relevant_is_retrieved_or_nothing_at_all() {
        let l = labels(&["a"], &["b"]);
        for ranked in [ids(&["x", "y", "z"]), vec![]] {
            let m = Metrics::of(&ranked, &l);
            assert_eq!(m, Metrics::default(), "{ranked:?}");
        }
        // No labels at all: zero, not NaN.
        let none = Labels::default();
        let m = Metrics::of(&ids(&["a"]), &none);
        assert_eq!(m, Metrics::default());
        assert_eq!(Metrics::mean(&[]), Metrics::default());
    }

    #[test]
    fn the_mean_is_over_queries_and_points_are_percent() {
        let a = Metrics {
            recall5: 1.0,
            mrr10: 0.5,
            ndcg10: 0.25,
        };
        let m = Metrics::mean(&[a, Metrics::default()]).points();
        assert!(close(m.recall5, 50.0) && close(m.mrr10, 25.0) && close(m.ndcg10, 12.5));
    }

    fn scores(entries: &[(&str, &str, f64, f64, f64)]) -> Scores {
        let mut s = Scores::new();
        for (t, mode, r, m, n) in entries {
            s.entry(t.to_string()).or_default().insert(
                mode.to_string(),
                Metrics {
                    recall5: *r,
                    mrr10: *m,
                    ndcg10: *n,
                },
            );
        }
        s
    }

    #[test]
    fn the_gate_fails_more_than_two_points_below_the_baseline() {
        let base = scores(&[("acme", "vector", 50.0, 60.0, 70.0), ("acme", "hybrid", 80.0, 80.0, 80.0)]);
        // Exactly 2.0 below passes; 2.1 below fails; above is an improvement.
        let now = scores(&[("acme", "vector", 48.0, 57.9, 70.04), ("acme", "hybrid", 80.0, 85.0, 79.0)]);
        let c = compare(&base, &now, TOLERANCE);
        assert_eq!(c.regressions.len(), 1, "{c:?}");
        assert_eq!(
            (
                c.regressions[0].tenant.as_str(),
                c.regressions[0].mode.as_str(),
                c.regressions[0].metric
            ),
            ("acme", "vector", "mrr@10")
        );
        assert_eq!(c.improvements.len(), 1, "{c:?}");
        assert_eq!(c.improvements[0].metric, "mrr@10");
        assert!(!c.passed());
        // The same scores pass.
        let same = compare(&base, &base, TOLERANCE);
        assert!(same.passed() && same.improvements.is_empty(), "{same:?}");
    }

    #[test]
    fn the_gate_fails_on_a_tenant_mode_without_baseline_or_not_scored() {
        let base = scores(&[("acme", "vector", 50.0, 50.0, 50.0)]);
        let now = scores(&[("globex", "vector", 50.0, 50.0, 50.0)]);
        let c = compare(&base, &now, TOLERANCE);
        assert_eq!(c.unbaselined, ["globex/vector"]);
        assert_eq!(c.missing, ["acme/vector"]);
        assert!(!c.passed());
    }

    #[test]
    fn the_baseline_file_round_trips_at_one_decimal() {
        let s = scores(&[("acme", "rerank", 12.345, 67.89, 100.0)]);
        let v = baseline_to_json(&s);
        assert_eq!(v["scores"]["acme"]["rerank"]["recall@5"], json!(12.3));
        let back = baseline_from_json(&v).unwrap();
        assert_eq!(back["acme"]["rerank"].mrr10, 67.9);
        // The run that wrote it passes against it.
        assert!(compare(&back, &s, TOLERANCE).passed());
        assert!(baseline_from_json(&json!({"scores": {"acme": {"vector": {"recall@5": 1}}}})).is_err());
    }

    #[test]
    fn batches_keep_within_the_inline_limits() {
        let doc = |n: usize| Doc {
            id: format!("d{n}"),
            format: "text",
            text: "x".repeat(n),
        };
        let docs: Vec<Doc> = (0..45).map(|_| doc(10)).collect();
        let b = batches(&docs);
        assert_eq!(b.iter().map(|b| b.len()).collect::<Vec<_>>(), [20, 20, 5]);
        let big = vec![doc(300_000), doc(150_000), doc(260_000)];
        assert_eq!(batches(&big).iter().map(|b| b.len()).collect::<Vec<_>>(), [1, 1, 1]);
        // Exactly at the limit is one batch.
        let exact = vec![doc(150_000), doc(250_000)];
        assert_eq!(batches(&exact).iter().map(|b| b.len()).collect::<Vec<_>>(), [2]);
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn options_parse() {
        let a = |v: &[&str]| Options::parse(&ids(v));
        let o = a(&["--model-url", "http://127.0.0.1:11434/v1"]).unwrap();
        assert_eq!(o.model_url.as_deref(), Some("http://127.0.0.1:11434/v1"));
        assert!(a(&["--update-baseline"]).unwrap().update_baseline);
        assert!(a(&["--model-url"]).is_err());
        assert!(a(&["--frobnicate"]).is_err());
        assert!(a(&["--update-baseline", "--model-url", "http://x/v1"]).is_err());
    }

    #[test]
    fn the_committed_corpus_and_labels_load() {
        let root = crate::workspace();
        let corpora = load(&root).unwrap();
        assert!(corpora.iter().all(|c| !c.docs.is_empty() && !c.queries.is_empty()));
        for c in &corpora {
            for b in batches(&c.docs) {
                assert!(b.len() <= BATCH_DOCS && b.iter().map(|d| d.text.chars().count()).sum::<usize>() <= BATCH_CHARS);
            }
        }
    }
}
