//! `POST /search`: a cited answer from the tenant's own documents.
//!
//! Order of work: body → safety (blocked terms, PII) on the query →
//! answer cache (key: tenant, normalised query, filters, index version)
//! → rate limit and budget reservation (one round trip) → query rewrite
//! and intent (a short model call, skipped for keyword queries) →
//! embedding → candidates (vector, and full text when `hybrid`) → rerank
//! (when the tenant names a reranker) → one source per document, `top-k`
//! → no source: an answer that says so, without a model call → the
//! grounded answer (the `search` route's models, fallbacks and timeout)
//! → citations, follow-ups, confidence → cache, budget settlement, log
//! fields (the request's data point is written from them).
//!
//! Invariants: every index call is the tenant's (`rag::index`); the
//! answer's citations name only sources that exist; the same safety rules
//! as chat apply to the answer; a failure before the answer starts is an
//! envelope, after a stream began an `error` event and a clean end.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ai::plan::{self, Plan};
use crate::ai::{estimate_tokens, AiError, CallMeta, ChatEvent, Message, Usage};
use crate::app::envelope::{ErrorCode, Failure};
use crate::app::Scope;
use crate::features::chat::engine;
use crate::features::chat::safety;
use crate::http::sse::{Event, CONTENT_TYPE};
use crate::http::{Body, Incoming, Response};
use crate::ports::Kv;
use crate::rag::index::{snippet, Index};
use crate::rag::search::{self as rs, Candidate, Source};
use crate::tenancy::keys::{Space, StorageKey};

/// Restrict the search.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// Only these documents (ids as ingested).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub documents: Vec<String>,
}

/// The body of `POST /search`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct SearchRequest {
    /// The question or keywords.
    #[schemars(length(min = 1, max = 2000))]
    pub query: String,
    /// Stream the answer as server-sent events.
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub filters: Filters,
    /// At most this many sources (the tenant's `top-k` caps it).
    #[serde(default)]
    #[schemars(range(min = 1, max = 20))]
    pub top_k: Option<u32>,
}

/// How the query was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QueryInfo {
    pub original: String,
    /// The query the index was searched with.
    pub rewritten: String,
    /// `question`, `how-to` or `lookup` (keyword queries).
    pub intent: String,
}

/// The answer of `POST /search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchResult {
    /// Cites sources as `[n]` (1-based, in `sources` order).
    pub answer: String,
    pub sources: Vec<Source>,
    /// 0..1: 0.6 × the best source's score + 0.4 × citation coverage.
    pub confidence: f64,
    pub follow_ups: Vec<String>,
    pub query: QueryInfo,
    /// Answered from the search cache.
    pub cached: bool,
    /// The model that answered (`null` when no model was called).
    #[serde(default)]
    pub model: Option<String>,
    /// The index that served it: `local` or `vectorize`.
    pub index: String,
}

/// What a search found and still has to answer.
struct Found {
    query: QueryInfo,
    sources: Vec<Candidate>,
}

/// The answer when no source is good enough.
pub const NO_SOURCES: &str = "None of this tenant's documents answers that question.";

fn unavailable(what: &str) -> Failure {
    Failure::new(ErrorCode::BindingUnavailable, format!("this deployment lacks {what}"))
}

fn normalise(q: &str) -> String {
    q.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

fn cache_key<R: Incoming>(s: &Scope<'_, R>, plan: &Plan, norm: &str, filters: &Filters, top_k: u32, version: u64) -> StorageKey {
    use sha2::{Digest, Sha256};
    let rag = &s.ctx.config().rag;
    let mut h = Sha256::new();
    // What shapes the answer besides the query: the models and the
    // retrieval settings (a changed tenant file misses the old entries).
    h.update(
        format!(
            "{:?}|{}|{}|{:?}|{}|{}|{}|{}",
            plan.models,
            plan.max_tokens,
            plan.temperature,
            s.ctx.config().ai.embedding_model,
            rag.hybrid,
            rag.min_score,
            rag.chunk_size,
            rag.rerank_model.unwrap_or("")
        )
        .as_bytes(),
    );
    h.update([0]);
    h.update(norm.as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(filters).unwrap_or_default());
    h.update(top_k.to_le_bytes());
    let hex: String = h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect();
    s.ctx.key(Space::Cache, &["search", &version.to_string(), &hex])
}

fn to_source(c: &Candidate) -> Source {
    Source {
        id: c.row.doc_id.clone(),
        chunk: c.row.id.clone(),
        title: c.row.title.clone(),
        url: c.row.url.clone(),
        snippet: snippet(&c.row.text),
        score: (c.score.clamp(0.0, 1.0) * 10_000.0).round() / 10_000.0,
    }
}

/// Model text → the answer's text (PII redacted when the tenant says so).
fn clean(text: &str, pii: bool) -> String {
    if pii {
        safety::redact(text)
    } else {
        text.to_string()
    }
}

pub async fn search<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    let principal = s
        .principal
        .ok_or_else(|| Failure::new(ErrorCode::Internal, "search without a principal"))?;
    let cfg = s.ctx.config();
    let body: SearchRequest = s.json().await?;
    let query = checked_query(&body.query, &cfg.safety)?;
    let index = Index::of(s.ctx, s.ports)?;
    let embedding_model = cfg
        .ai
        .embedding_model
        .ok_or_else(|| unavailable("an embedding model (`ai embedding`)"))?;
    let plan = plan::for_request(cfg, "search", None, None, None)?;
    let top_k = body.top_k.unwrap_or(cfg.rag.top_k).clamp(1, cfg.rag.top_k.max(1)) as usize;

    // Answer cache: the key includes the index version, so a cached
    // answer never outlives the documents it cites.
    let cache = match cached(s, principal, &index, &plan, &query, &body, top_k).await? {
        Cached::Hit(resp) => return Ok(resp),
        Cached::Miss(slot) => slot,
    };

    // Rate limit and the budget reservation: the rewrite, the embedding,
    // the context and the answer at most.
    let context_chars = ((plan.context_tokens.saturating_sub(plan.max_tokens + 512)) as usize * 4).min(48_000);
    let reserved = 96 + 2 * estimate_tokens(query.chars().count()) + estimate_tokens(context_chars) + u64::from(plan.max_tokens);
    // The models first (no I/O): a deployment without its binding or
    // secret is refused before anything is reserved, so nothing leaks.
    let provider = plan::provider(s.ctx, s.ports)?;
    let models = plan::rag_models(s.ctx, s.ports)?;
    let budget = crate::features::chat::limit_and_reserve(s, principal, reserved).await?;
    let meta = CallMeta {
        tenant: s.ctx.tenant().as_str(),
        route: "search",
        request_id: s.request_id.to_string(),
        traceparent: s.traceparent.to_string(),
        cache_key: s.ctx.key(Space::Cache, &["search-call", s.request_id]).as_str().to_string(),
        skip_cache: true,
        timeout_ms: plan.timeout_ms,
    };
    let used = Rc::new(RefCell::new(Usage::default()));
    let found = retrieve(
        s,
        &index,
        &models,
        embedding_model,
        &plan,
        &meta,
        &query,
        &body.filters,
        top_k,
        provider.as_ref(),
        &used,
    )
    .await;
    let found = match found {
        Ok(f) => f,
        Err(f) => {
            if let Some(b) = &budget {
                let total = used.borrow().total();
                b.release(total).await;
            }
            return Err(f);
        }
    };
    let sources: Vec<Source> = found.sources.iter().map(to_source).collect();
    crate::features::chat::log_fields(&s.ai_log, |l| {
        l.cache = Some(if cache.is_some() { "miss" } else { "off" });
        l.provider = Some(provider.kind());
    });

    if sources.is_empty() {
        let r = SearchResult {
            answer: NO_SOURCES.into(),
            sources,
            confidence: 0.0,
            follow_ups: Vec::new(),
            query: found.query,
            cached: false,
            model: None,
            index: index.kind().into(),
        };
        if let Some(b) = &budget {
            let total = used.borrow().total();
            b.release(total).await;
        }
        let mut resp = if body.stream { replay(&r) } else { json(&r, s.request_id) };
        resp.set_header("x-cache", if cache.is_some() { "miss" } else { "off" });
        return Ok(resp);
    }

    let (context, n) = rs::context(&found.sources, &found.query.original, context_chars);
    let sources: Vec<Source> = sources.into_iter().take(n).collect();
    let prompt = vec![
        Message {
            role: "system".into(),
            content: rs::ANSWER_SYSTEM.into(),
        },
        Message {
            role: "user".into(),
            content: context,
        },
    ];
    let prompt_chars: usize = prompt.iter().map(|m| m.content.chars().count()).sum();
    let started = engine::start(
        provider.as_ref(),
        &plan,
        &prompt,
        &[],
        &[],
        &meta,
        s.ports.timer.as_ref(),
        s.ports.clock.as_ref(),
    )
    .await;
    let st = match started {
        Ok(st) => st,
        Err(ex) => {
            if let Some(b) = &budget {
                let total = used.borrow().total();
                b.release(total).await;
            }
            return Err(ex.failure());
        }
    };
    crate::features::chat::log_fields(&s.ai_log, |l| {
        l.model = Some(st.model.to_string());
        l.attempts = Some(st.attempts);
        l.ttft_ms = Some(st.ttft_ms.round() as u64);
        l.upstream_id = st.upstream_id.clone();
    });
    let fin = Finisher {
        ports: s.ports.clone(),
        log: s.ai_log.clone(),
        budget,
        cache,
        used,
        prompt_chars,
        pii: cfg.safety.pii_redaction,
        blocked: cfg.safety.blocked_terms,
        base: SearchResult {
            answer: String::new(),
            sources,
            confidence: 0.0,
            follow_ups: Vec::new(),
            query: found.query,
            cached: false,
            model: Some(st.model.to_string()),
            index: index.kind().into(),
        },
    };
    if body.stream {
        let cached = fin.cache.is_some();
        let mut r = stream(fin, st);
        r.set_header("x-cache", if cached { "miss" } else { "off" });
        Ok(r)
    } else {
        let (text, usage, err) = read_answer(st).await;
        if let Some(e) = err {
            fin.settle(&text, usage, "failed").await;
            return Err(engine::Exhausted {
                error: e,
                attempts: 1,
                model: fin_model(&plan),
            }
            .failure());
        }
        let cached = fin.cache.is_some();
        let r = fin.settle(&text, usage, "complete").await;
        let mut resp = json(&r, s.request_id);
        resp.set_header("x-cache", if cached { "miss" } else { "off" });
        Ok(resp)
    }
}

/// The query after the tenant's safety rules (problems reported at `/query`).
fn checked_query(raw: &str, rules: &crate::tenants::SafetyConfig) -> Result<String, Failure> {
    let asked = safety::prepare(
        vec![Message {
            role: "user".into(),
            content: raw.trim().to_string(),
        }],
        rules,
    )
    .map_err(|mut f| {
        for d in &mut f.details {
            d.pointer = "/query".into();
        }
        f
    })?;
    let query = asked.into_iter().next().map(|m| m.content).unwrap_or_default();
    if query.is_empty() {
        return Err(Failure::new(ErrorCode::InvalidRequest, "the query is empty"));
    }
    Ok(query)
}

/// The cache's verdict: an answer, or the slot a computed answer goes to
/// (`None` when the tenant does not cache search answers).
enum Cached {
    Hit(Response),
    Miss(Option<(Rc<dyn Kv>, StorageKey, u32)>),
}

/// Look the query up in the answer cache. The key includes the index
/// version, so a cached answer never outlives the documents it cites; a
/// hit spends no tokens but is still charged to the rate limits.
async fn cached<R: Incoming>(
    s: &Scope<'_, R>,
    principal: &crate::auth::Principal,
    index: &Index,
    plan: &Plan,
    query: &str,
    body: &SearchRequest,
    top_k: usize,
) -> Result<Cached, Failure> {
    let ttl = s.ctx.config().cache.search_ttl;
    let Some(kv) = s.ports.kv("CACHE").filter(|_| ttl > 0) else {
        return Ok(Cached::Miss(None));
    };
    let version = index.version().await?;
    let key = cache_key(s, plan, &normalise(query), &body.filters, top_k as u32, version);
    if let Some(mut r) = kv
        .get(&key)
        .await
        .ok()
        .flatten()
        .and_then(|hit| serde_json::from_str::<SearchResult>(&hit).ok())
    {
        let ip = s.req.header(crate::http::Header::CfConnectingIp);
        let (headers, _) = crate::limits::check_with(s.ctx, principal, ip.as_deref(), s.ports, None).await?;
        *s.limit_headers.borrow_mut() = headers;
        r.cached = true;
        crate::features::chat::log_fields(&s.ai_log, |l| {
            l.cache = Some("hit");
            l.model = r.model.clone();
        });
        let mut resp = if body.stream { replay(&r) } else { json(&r, s.request_id) };
        resp.set_header("x-cache", "hit");
        return Ok(Cached::Hit(resp));
    }
    Ok(Cached::Miss(Some((kv.clone(), key, ttl.max(60)))))
}

/// A whole answer: its text, the last usage, and the error that ended it early.
async fn read_answer(st: engine::Started) -> (String, Option<Usage>, Option<AiError>) {
    let (mut text, mut usage, mut err) = (String::new(), None, None);
    for ev in st.first.into_iter().map(Ok).chain(collect(st.rest).await) {
        match ev {
            Ok(ChatEvent::Delta(t)) => text.push_str(&t),
            Ok(ChatEvent::Usage(u)) => usage = Some(u),
            Ok(ChatEvent::Finish(_) | ChatEvent::ToolCall(_) | ChatEvent::ToolsRan(_)) => {}
            Err(e) => err = Some(e),
        }
    }
    (text, usage, err)
}

fn fin_model(plan: &Plan) -> &'static str {
    plan.models.first().copied().unwrap_or("")
}

async fn collect(mut rest: crate::ai::EventStream) -> Vec<Result<ChatEvent, AiError>> {
    let mut v = Vec::new();
    while let Some(e) = rest.next().await {
        let end = e.is_err();
        v.push(e);
        if end {
            break;
        }
    }
    v
}

/// Rewrite, embed, search, rerank, pick the sources.
#[allow(clippy::too_many_arguments)]
async fn retrieve<R: Incoming>(
    s: &Scope<'_, R>,
    index: &Index,
    models: &crate::ai::embed::Models,
    embedding_model: &str,
    plan: &Plan,
    meta: &CallMeta,
    query: &str,
    filters: &Filters,
    top_k: usize,
    provider: &dyn crate::ai::ChatModel,
    used: &Rc<RefCell<Usage>>,
) -> Result<Found, Failure> {
    let cfg = s.ctx.config();
    let (rewritten, intent) = if rs::is_keyword_query(query) {
        (query.to_string(), "lookup".to_string())
    } else {
        rewrite(s, provider, plan, meta, query, used)
            .await
            .unwrap_or_else(|| (query.to_string(), "question".to_string()))
    };
    let vectors = crate::ai::embed::embed_all(models.embedder.as_ref(), embedding_model, std::slice::from_ref(&rewritten), meta)
        .await
        .map_err(|e| Failure::new(ErrorCode::UpstreamError, "the embedding model failed").with_log_detail(e.to_string()))?;
    used.borrow_mut().prompt_tokens += estimate_tokens(rewritten.chars().count());
    let values = vectors.into_iter().next().unwrap_or_default();
    // Full text searches the user's words as well as the rewrite.
    let lexical_q = if rewritten == query {
        query.to_string()
    } else {
        format!("{query} {rewritten}")
    };
    let mut c = rs::candidates(index, &lexical_q, &values, cfg.rag.min_score, cfg.rag.hybrid, &filters.documents).await?;
    if !filters.documents.is_empty() {
        c.retain(|c| filters.documents.contains(&c.row.doc_id));
    }
    if let (Some(model), false) = (cfg.rag.rerank_model, c.is_empty()) {
        let texts: Vec<String> = c.iter().map(|c| c.row.text.clone()).collect();
        match models.reranker.rerank(model, &rewritten, &texts, meta).await {
            Ok(scores) => c = rs::apply_rerank(c, &scores),
            Err(e) => {
                // Without the reranker the fused order stands.
                s.ports.log.line(
                    &serde_json::json!({"level": "warn", "msg": "rerank failed", "request_id": s.request_id, "detail": e.to_string()})
                        .to_string(),
                );
            }
        }
    }
    Ok(Found {
        query: QueryInfo {
            original: query.to_string(),
            rewritten,
            intent,
        },
        sources: rs::one_per_document(c, top_k),
    })
}

/// The rewrite call; `None` on any failure (the original query is used).
async fn rewrite<R: Incoming>(
    s: &Scope<'_, R>,
    provider: &dyn crate::ai::ChatModel,
    plan: &Plan,
    meta: &CallMeta,
    query: &str,
    used: &Rc<RefCell<Usage>>,
) -> Option<(String, String)> {
    let mut p = plan.clone();
    p.max_tokens = 96;
    p.temperature = 0.0;
    p.retries = 0;
    let msgs = [
        Message {
            role: "system".into(),
            content: rs::REWRITE_SYSTEM.into(),
        },
        Message {
            role: "user".into(),
            content: query.to_string(),
        },
    ];
    let st = engine::start(provider, &p, &msgs, &[], &[], meta, s.ports.timer.as_ref(), s.ports.clock.as_ref())
        .await
        .ok()?;
    let (text, usage, err) = read_answer(st).await;
    if err.is_some() {
        return None;
    }
    let u = usage.unwrap_or(Usage {
        prompt_tokens: estimate_tokens(rs::REWRITE_SYSTEM.len() + query.len()),
        completion_tokens: estimate_tokens(text.len()),
    });
    {
        let mut t = used.borrow_mut();
        t.prompt_tokens += u.prompt_tokens;
        t.completion_tokens += u.completion_tokens;
    }
    rs::parse_rewrite(&text)
}

fn json(r: &SearchResult, request_id: &str) -> Response {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    v["request_id"] = request_id.into();
    Response::new(
        200,
        vec![("content-type", "application/json".to_string())],
        v.to_string().into_bytes(),
    )
}

fn ev(event: &str, data: &impl Serialize) -> Vec<u8> {
    Event {
        event: Some(event),
        id: None,
        data: &serde_json::to_string(data).unwrap_or_default(),
    }
    .encode()
}

/// The stream's last events: sources, follow-ups, and the whole result.
fn tail(r: &SearchResult) -> Vec<u8> {
    let mut out = ev("sources", &r.sources);
    out.extend(ev("follow_ups", &r.follow_ups));
    out.extend(ev("done", r));
    out
}

fn sse(body: crate::http::ChunkStream) -> Response {
    Response {
        status: 200,
        headers: vec![("content-type", CONTENT_TYPE.to_string())],
        body: Body::Stream(body),
    }
}

/// A finished result as a stream (cache hits, no sources).
fn replay(r: &SearchResult) -> Response {
    let mut out = ev("query", &r.query);
    out.extend(ev("delta", &serde_json::json!({"text": r.answer})));
    out.extend(tail(r));
    sse(Box::pin(futures_util::stream::once(async move { Ok(out) })))
}

/// What the answer's end needs.
struct Finisher {
    ports: crate::ports::Ports,
    log: Rc<RefCell<Option<crate::app::log::AiLog>>>,
    budget: Option<crate::features::chat::Reservation>,
    cache: Option<(Rc<dyn Kv>, StorageKey, u32)>,
    used: Rc<RefCell<Usage>>,
    prompt_chars: usize,
    pii: bool,
    blocked: &'static [&'static str],
    base: SearchResult,
}

impl Finisher {
    /// Build the result from the model's text; settle budget, cache and
    /// log fields (the request's data point is written from them).
    async fn settle(&self, text: &str, usage: Option<Usage>, status: &'static str) -> SearchResult {
        let (r, total) = self.account(text, usage, status);
        self.release(r, total, status).await
    }

    /// The synchronous part of [`Self::settle`]: the result and the usage,
    /// recorded in the log fields (so a stream the client left reports its
    /// tokens in the log line and data point written as it is dropped).
    fn account(&self, text: &str, usage: Option<Usage>, status: &'static str) -> (SearchResult, Usage) {
        let u = usage.unwrap_or(Usage {
            prompt_tokens: estimate_tokens(self.prompt_chars),
            completion_tokens: estimate_tokens(text.chars().count()),
        });
        let total = {
            let mut t = self.used.borrow_mut();
            t.prompt_tokens += u.prompt_tokens;
            t.completion_tokens += u.completion_tokens;
            *t
        };
        let (answer, follow_ups) = rs::split_follow_ups(text);
        let (answer, _) = rs::citations(&clean(&answer, self.pii), self.base.sources.len());
        let mut r = self.base.clone();
        // An answer carrying a blocked term is withheld, like a query would be.
        let lower = answer.to_lowercase();
        r.answer = if self.blocked.iter().any(|t| lower.contains(&t.to_lowercase())) {
            "The answer was withheld: it contains a term this tenant does not accept.".into()
        } else {
            answer
        };
        r.follow_ups = follow_ups.into_iter().map(|f| clean(&f, self.pii)).collect();
        r.confidence = rs::confidence(&r.sources, &r.answer);
        crate::features::chat::log_fields(&self.log, |l| {
            l.tokens_in = Some(total.prompt_tokens);
            l.tokens_out = Some(total.completion_tokens);
            l.answer = Some(status);
        });
        (r, total)
    }

    /// The asynchronous part: the budget's real usage, the cache.
    async fn release(&self, r: SearchResult, total: Usage, status: &'static str) -> SearchResult {
        if let Some(b) = &self.budget {
            b.release(total.total()).await;
        }
        if let (Some((kv, key, ttl)), "complete") = (&self.cache, status) {
            if let Ok(j) = serde_json::to_string(&r) {
                let _ = kv.put_expiring(key, &j, *ttl).await;
            }
        }
        r
    }
}

/// The answer as it is produced: `query`, `delta`s (the follow-up part
/// held back), then `sources`, `follow_ups` and `done`; a failure after
/// the start is an `error` event and the end.
fn stream(fin: Finisher, st: engine::Started) -> Response {
    struct State {
        /// Taken when the answer is settled; still here when the client
        /// left first (then `Drop` settles it as interrupted).
        fin: Option<Finisher>,
        rest: crate::ai::EventStream,
        text: String,
        sent: usize,
        usage: Option<Usage>,
        done: bool,
        first: Vec<ChatEvent>,
        head: bool,
    }
    impl Drop for State {
        fn drop(&mut self) {
            if let Some(fin) = self.fin.take() {
                let (text, usage) = (std::mem::take(&mut self.text), self.usage);
                let (r, total) = fin.account(&text, usage, "interrupted");
                let bg = fin.ports.background.clone();
                bg.spawn(Box::pin(async move {
                    fin.release(r, total, "interrupted").await;
                }));
            }
        }
    }
    let state = State {
        fin: Some(fin),
        rest: st.rest,
        text: String::new(),
        sent: 0,
        usage: None,
        done: st.ended,
        first: st.first,
        head: true,
    };
    // The state: the answer in progress, or — after an error event was
    // sent — the failure to end the stream with (the log line then says
    // `stream: failed`, as for chat).
    let body = futures_util::stream::unfold((Some(state), None::<String>), |(st, failure)| async move {
        if let Some(detail) = failure {
            return Some((Err(detail), (None, None)));
        }
        let mut st = st?;
        let mut out = Vec::new();
        let (pii, query) = match &st.fin {
            Some(f) => (f.pii, f.base.query.clone()),
            None => return None,
        };
        if st.head {
            st.head = false;
            out.extend(ev("query", &query));
        }
        let mut events: Vec<Result<ChatEvent, AiError>> = st.first.drain(..).map(Ok).collect();
        if events.is_empty() && !st.done {
            match st.rest.next().await {
                Some(e) => events.push(e),
                None => st.done = true,
            }
        }
        let mut failed = None;
        for e in events {
            match e {
                Ok(ChatEvent::Delta(t)) => st.text.push_str(&t),
                Ok(ChatEvent::Usage(u)) => st.usage = Some(u),
                Ok(ChatEvent::Finish(_) | ChatEvent::ToolCall(_) | ChatEvent::ToolsRan(_)) => {}
                Err(e) => failed = Some(e),
            }
        }
        // Send what cannot be the start of the follow-up marker.
        let end = rs::streamable_len(&st.text);
        if end > st.sent && st.text.is_char_boundary(end) {
            let piece = clean(&st.text[st.sent..end], pii);
            out.extend(ev("delta", &serde_json::json!({"text": piece})));
            st.sent = end;
        }
        if let Some(e) = failed {
            if let Some(fin) = st.fin.take() {
                fin.settle(&st.text, st.usage, "failed").await;
            }
            out.extend(ev(
                "error",
                &serde_json::json!({"code": "upstream_error", "message": "the model failed while answering"}),
            ));
            return Some((Ok(out), (None, Some(format!("the model failed while answering: {e}")))));
        }
        if st.done {
            if let Some(fin) = st.fin.take() {
                let r = fin.settle(&st.text, st.usage, "complete").await;
                out.extend(tail(&r));
            }
            return Some((Ok(out), (None, None)));
        }
        Some((Ok(out), (Some(st), None)))
    });
    sse(Box::pin(body))
}

/// The body of `POST /v1/dev/retrieve` (development environments only).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrieveRequest {
    #[schemars(length(min = 1, max = 2000))]
    pub query: String,
    /// `vector`, `hybrid` (vector + full text, fused by reciprocal rank)
    /// or `rerank` (hybrid, then the reranker: the tenant's, else
    /// `@cf/baai/bge-reranker-base`).
    pub mode: String,
    /// Documents to return (1–20, default 10).
    #[serde(default)]
    pub k: Option<u32>,
    /// The vector score a chunk needs (default: the tenant's `min-score`;
    /// 0 ranks every chunk, as a ranking evaluation wants).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_score: Option<f64>,
}

/// One retrieved document (its best chunk).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Retrieved {
    pub results: Vec<Source>,
    pub mode: String,
}

/// `POST /v1/dev/retrieve`: the ranked documents for a query in a given
/// mode, with no rewrite, no answer and no cache — what
/// `cargo xtask eval retrieval` scores.
pub async fn retrieve_only<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    let cfg = s.ctx.config();
    let body: RetrieveRequest = s.json().await?;
    let (hybrid, rerank) = match body.mode.as_str() {
        "vector" => (false, None),
        "hybrid" => (true, None),
        "rerank" => (true, Some(cfg.rag.rerank_model.unwrap_or("@cf/baai/bge-reranker-base"))),
        _ => {
            return Err(
                Failure::new(ErrorCode::InvalidRequest, "`mode` is one of `vector`, `hybrid`, `rerank`")
                    .with_details(vec![crate::http::body::Detail::at("/mode", "one of `vector`, `hybrid`, `rerank`")]),
            )
        }
    };
    let k = body.k.unwrap_or(10).clamp(1, 20) as usize;
    let index = Index::of(s.ctx, s.ports)?;
    let models = plan::rag_models(s.ctx, s.ports)?;
    let embedding_model = cfg
        .ai
        .embedding_model
        .ok_or_else(|| unavailable("an embedding model (`ai embedding`)"))?;
    let meta = CallMeta {
        tenant: s.ctx.tenant().as_str(),
        route: "search",
        request_id: s.request_id.to_string(),
        traceparent: s.traceparent.to_string(),
        cache_key: s.ctx.key(Space::Cache, &["retrieve", s.request_id]).as_str().to_string(),
        skip_cache: true,
        timeout_ms: cfg.ai.timeout_ms,
    };
    let values = crate::ai::embed::embed_all(models.embedder.as_ref(), embedding_model, std::slice::from_ref(&body.query), &meta)
        .await
        .map_err(|e| Failure::new(ErrorCode::UpstreamError, "the embedding model failed").with_log_detail(e.to_string()))?
        .into_iter()
        .next()
        .unwrap_or_default();
    let min_score = body.min_score.unwrap_or(cfg.rag.min_score).clamp(-1.0, 1.0);
    let mut c = rs::candidates(&index, &body.query, &values, min_score, hybrid, &[]).await?;
    if let (Some(model), false) = (rerank, c.is_empty()) {
        let texts: Vec<String> = c.iter().map(|c| c.row.text.clone()).collect();
        let scores = models
            .reranker
            .rerank(model, &body.query, &texts, &meta)
            .await
            .map_err(|e| Failure::new(ErrorCode::UpstreamError, "the reranker failed").with_log_detail(e.to_string()))?;
        c = rs::apply_rerank(c, &scores);
    }
    let results = rs::one_per_document(c, k).iter().map(to_source).collect();
    Ok(crate::app::envelope::data_response(
        &Retrieved { results, mode: body.mode },
        s.request_id,
    ))
}
