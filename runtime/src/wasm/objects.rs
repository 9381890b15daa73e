//! The Durable Object classes the platform file declares, over their
//! state logic in [`crate::objects`]. An error becomes an envelope, never
//! a bare 500.

use std::cell::{Cell, RefCell};

use worker::js_sys;
use worker::wasm_bindgen;
use worker::{durable_object, DurableObject, Env, State};

use crate::app::envelope::{error_response, ErrorCode, Failure};
use crate::objects::budget::{self, BudgetOp, Ledger};
use crate::objects::rate_limiter::{self, BucketState, Buckets, HitRequest};
use crate::objects::sessions::{self, SessionOp, SessionReply, SessionSummary, SessionView, StoredMessage};

thread_local! {
    /// The Worker's `LOG_LEVEL` var is `debug`: objects log one line per call.
    static DEBUG: Cell<bool> = const { Cell::new(false) };
}

/// Read what the objects' logging needs from the Worker's vars.
fn note_env(env: &Env) {
    let debug = env.var("LOG_LEVEL").map(|v| v.to_string() == "debug").unwrap_or(false);
    DEBUG.with(|d| d.set(debug));
}

/// The request id and `traceparent` a call carries (empty when none).
fn call_ids(req: &worker::Request) -> (String, String) {
    let h = |n: &str| req.headers().get(n).ok().flatten().unwrap_or_default();
    (h("x-request-id"), h("traceparent"))
}

/// Serve a Durable Object request; an error becomes an envelope naming the
/// request that made the call. With `LOG_LEVEL=debug`, one line per call:
/// `{"level":"debug","msg":"object","class","path","status","error",
/// "request_id","trace_id"}`.
async fn object_reply<F>(class: &str, path: String, (request_id, traceparent): (String, String), f: F) -> worker::Result<worker::Response>
where
    F: std::future::Future<Output = Result<worker::Response, Failure>>,
{
    let (out, status, error) = match f.await {
        Ok(r) => {
            let status = r.status_code();
            (Ok(r), status, None)
        }
        Err(e) => {
            let r = error_response(&e, &request_id);
            let resp = worker::Response::from_bytes(r.body.bytes().to_vec())?
                .with_status(r.status)
                .with_headers(worker::Headers::from_iter([("content-type", crate::app::envelope::JSON)]));
            (Ok(resp), r.status, Some(e.code.code()))
        }
    };
    if DEBUG.with(|d| d.get()) {
        let trace_id = traceparent.split('-').nth(1).unwrap_or("");
        crate::wasm::shim::log_line(
            &serde_json::json!({"level": "debug", "msg": "object", "class": class, "path": path, "status": status,
                "error": error, "request_id": request_id, "trace_id": trace_id})
            .to_string(),
        );
    }
    out
}

fn bad(e: impl std::fmt::Display) -> Failure {
    Failure::new(ErrorCode::Internal, e.to_string())
}

/// Purge buckets that are full again every this many hits.
const PURGE_EVERY: u32 = 1000;

/// `RATE_LIMITER`: one object per tenant (named by
/// `TenantCtx::key(Space::RateLimit)`), holding that tenant's buckets.
/// `POST /hit` with a [`HitRequest`] answers a
/// [`rate_limiter::HitReply`]. The object runs one request at a time; the
/// buckets are read from storage once and kept in memory, and the decision
/// is made synchronously on the in-memory state, so concurrent hits are
/// counted exactly.
#[durable_object]
pub struct RateLimiter {
    state: State,
    buckets: RefCell<Buckets>,
    hits: Cell<u32>,
    /// Today's token budget ledger, loaded on first use.
    ledger: RefCell<Option<Ledger>>,
}

impl RateLimiter {
    /// Read the ledger from storage once per instance.
    async fn load_ledger(&self) -> Result<(), Failure> {
        if self.ledger.borrow().is_none() {
            let stored: Option<Ledger> = self.state.storage().get("budget").await.map_err(bad)?;
            let mut l = self.ledger.borrow_mut();
            if l.is_none() {
                *l = Some(stored.unwrap_or_default());
            }
        }
        Ok(())
    }

    /// `POST /budget`: one settlement (or reservation), atomically.
    async fn budget(&self, op: BudgetOp) -> Result<worker::Response, Failure> {
        let storage = self.state.storage();
        self.load_ledger().await?;
        let (reply, snapshot) = {
            let mut l = self.ledger.borrow_mut();
            let l = l.get_or_insert_with(Ledger::default);
            (budget::apply(l, &op), l.clone())
        };
        storage.put("budget", &snapshot).await.map_err(bad)?;
        worker::Response::from_json(&reply).map_err(bad)
    }
}

impl DurableObject for RateLimiter {
    fn new(state: State, env: Env) -> Self {
        note_env(&env);
        RateLimiter {
            state,
            buckets: RefCell::new(Buckets::new()),
            hits: Cell::new(0),
            ledger: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: worker::Request) -> worker::Result<worker::Response> {
        let ids = call_ids(&req);
        let path = req.path();
        object_reply("RateLimiter", path, ids, async {
            if req.method() == worker::Method::Post && req.path() == "/budget" {
                let op: BudgetOp = req.json().await.map_err(bad)?;
                return self.budget(op).await;
            }
            if req.method() != worker::Method::Post || req.path() != "/hit" {
                return Err(Failure::new(ErrorCode::NotFound, "RateLimiter serves POST /hit and POST /budget"));
            }
            let h: HitRequest = req.json().await.map_err(bad)?;
            let storage = self.state.storage();
            if h.budget.is_some() {
                self.load_ledger().await?;
            }
            for b in &h.buckets {
                if self.buckets.borrow().contains_key(&b.key) {
                    continue;
                }
                if let Some(s) = storage.get::<BucketState>(&b.key).await.map_err(bad)? {
                    // Another hit may have loaded it meanwhile: keep the newer.
                    self.buckets.borrow_mut().entry(b.key.clone()).or_insert(s);
                }
            }
            let now = js_sys::Date::now();
            let mut reply = rate_limiter::apply(&mut self.buckets.borrow_mut(), now, &h);
            if reply.allowed {
                // Every bucket (and the ledger) in one write.
                let batch = js_sys::Object::new();
                if let Some(op) = &h.budget {
                    let mut l = self.ledger.borrow_mut();
                    let l = l.get_or_insert_with(Ledger::default);
                    reply.budget = Some(budget::apply(l, op));
                    let json = serde_json::to_string(&*l).map_err(bad)?;
                    let v = js_sys::JSON::parse(&json).map_err(|e| bad(format!("{e:?}")))?;
                    js_sys::Reflect::set(&batch, &"budget".into(), &v).map_err(|e| bad(format!("{e:?}")))?;
                }
                for b in &h.buckets {
                    let s = self.buckets.borrow().get(&b.key).cloned();
                    if let Some(s) = s {
                        let json = serde_json::to_string(&s).map_err(bad)?;
                        let v = js_sys::JSON::parse(&json).map_err(|e| bad(format!("{e:?}")))?;
                        js_sys::Reflect::set(&batch, &b.key.as_str().into(), &v).map_err(|e| bad(format!("{e:?}")))?;
                    }
                }
                storage.put_multiple_raw(batch).await.map_err(bad)?;
            }
            let n = self.hits.get().wrapping_add(1);
            self.hits.set(n);
            if n.is_multiple_of(PURGE_EVERY) {
                let gone = rate_limiter::expired(&self.buckets.borrow(), now);
                for k in &gone {
                    self.buckets.borrow_mut().remove(k);
                }
                if !gone.is_empty() {
                    storage
                        .delete_multiple(gone.iter().map(String::as_str).collect())
                        .await
                        .map_err(bad)?;
                }
            }
            worker::Response::from_json(&reply).map_err(bad)
        })
        .await
    }
}

/// `SESSIONS`: one object per (tenant, user), named by
/// `TenantCtx::key(Space::Session, [user])`, holding that user's sessions
/// in SQLite tables (`POST /op` with a [`SessionOp`]). The alarm deletes
/// sessions idle past their retention and sets itself for the next one.
#[durable_object]
pub struct ChatSession {
    state: State,
    ready: Cell<bool>,
    /// When the alarm this instance set will fire (`None`: none set by it).
    alarm_at: Cell<Option<f64>>,
}

const SCHEMA: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, title TEXT NOT NULL, created_ms REAL NOT NULL, updated_ms REAL NOT NULL, retention_ms REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, status TEXT NOT NULL, model TEXT, created_ms REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS messages_by_session ON messages (session_id, seq)",
    "CREATE INDEX IF NOT EXISTS sessions_by_activity ON sessions (updated_ms, id)",
];

#[derive(serde::Deserialize)]
struct Row {
    role: String,
    content: String,
    status: String,
    model: Option<String>,
    created_ms: f64,
}

impl From<Row> for StoredMessage {
    fn from(r: Row) -> StoredMessage {
        StoredMessage {
            role: r.role,
            content: r.content,
            status: r.status,
            model: r.model,
            created_ms: r.created_ms,
        }
    }
}

#[derive(serde::Deserialize)]
struct Count {
    n: f64,
}

#[derive(serde::Deserialize)]
struct Due {
    due: Option<f64>,
}

impl ChatSession {
    fn sql(&self) -> Result<worker::SqlStorage, Failure> {
        let sql = self.state.storage().sql();
        if !self.ready.get() {
            for q in SCHEMA {
                sql.exec(q, None).map_err(bad)?;
            }
            self.ready.set(true);
        }
        Ok(sql)
    }

    fn exists(sql: &worker::SqlStorage, id: &str) -> Result<bool, Failure> {
        let c: Vec<Count> = sql
            .exec("SELECT COUNT(*) AS n FROM sessions WHERE id = ?", vec![id.into()])
            .map_err(bad)?
            .to_array()
            .map_err(bad)?;
        Ok(c.first().is_some_and(|c| c.n > 0.0))
    }

    fn messages(sql: &worker::SqlStorage, id: &str) -> Result<Vec<StoredMessage>, Failure> {
        let rows: Vec<Row> = sql
            .exec(
                "SELECT role, content, status, model, created_ms FROM messages WHERE session_id = ? ORDER BY seq",
                vec![id.into()],
            )
            .map_err(bad)?
            .to_array()
            .map_err(bad)?;
        Ok(rows.into_iter().map(StoredMessage::from).collect())
    }

    /// Append a message, touch the session, keep the newest `max` (`None`:
    /// a new session, nothing to trim).
    fn push(sql: &worker::SqlStorage, id: &str, m: &StoredMessage, max: Option<u32>) -> Result<(), Failure> {
        sql.exec(
            "INSERT INTO messages (session_id, role, content, status, model, created_ms) VALUES (?, ?, ?, ?, ?, ?)",
            vec![
                id.into(),
                m.role.as_str().into(),
                m.content.as_str().into(),
                m.status.as_str().into(),
                m.model.clone().into(),
                m.created_ms.into(),
            ],
        )
        .map_err(bad)?;
        sql.exec(
            "UPDATE sessions SET updated_ms = ? WHERE id = ?",
            vec![m.created_ms.into(), id.into()],
        )
        .map_err(bad)?;
        if let Some(max) = max {
            sql.exec(
                "DELETE FROM messages WHERE session_id = ? AND seq NOT IN (SELECT seq FROM messages WHERE session_id = ? ORDER BY seq DESC LIMIT ?)",
                vec![id.into(), id.into(), i64::from(max.max(2)).into()],
            )
            .map_err(bad)?;
        }
        Ok(())
    }

    /// Keep an alarm at or before the next expiry. While an alarm this
    /// instance set is pending nothing is done (activity only moves
    /// expiries later; the alarm recomputes when it fires), so most
    /// requests neither query nor write. With no session left, no alarm is
    /// set (one that fires finds nothing and sets none).
    async fn schedule(&self, sql: &worker::SqlStorage) -> Result<(), Failure> {
        if self.alarm_at.get().is_some() {
            // Activity only moves expiries later: the pending alarm is early enough.
            return Ok(());
        }
        let due: Vec<Due> = sql
            .exec("SELECT MIN(updated_ms + retention_ms) AS due FROM sessions", None)
            .map_err(bad)?
            .to_array()
            .map_err(bad)?;
        let storage = self.state.storage();
        if let Some(at) = due.first().and_then(|d| d.due) {
            let offset = (at - js_sys::Date::now()).max(0.0) as i64 + 1;
            storage.set_alarm(offset).await.map_err(bad)?;
            self.alarm_at.set(Some(at));
        }
        Ok(())
    }

    async fn apply(&self, op: SessionOp) -> Result<SessionReply, Failure> {
        let sql = self.sql()?;
        Ok(match op {
            SessionOp::Begin {
                session_id,
                new_id,
                now_ms,
                message,
                max_messages,
                retention_ms,
                history_chars,
            } => {
                let fresh = session_id.is_none();
                let id = match session_id {
                    Some(id) if !Self::exists(&sql, &id)? => return Ok(SessionReply::NotFound),
                    Some(id) => {
                        sql.exec(
                            "UPDATE sessions SET retention_ms = ? WHERE id = ?",
                            vec![retention_ms.into(), id.as_str().into()],
                        )
                        .map_err(bad)?;
                        id
                    }
                    None => {
                        sql.exec(
                            "INSERT INTO sessions (id, title, created_ms, updated_ms, retention_ms) VALUES (?, ?, ?, ?, ?)",
                            vec![
                                new_id.as_str().into(),
                                sessions::title_of(&message.content).into(),
                                now_ms.into(),
                                now_ms.into(),
                                retention_ms.into(),
                            ],
                        )
                        .map_err(bad)?;
                        new_id
                    }
                };
                // A new session has no history; a caller that read it
                // already (History) asks for none.
                let history = if fresh || history_chars == 0 {
                    Vec::new()
                } else {
                    sessions::history_within(&Self::messages(&sql, &id)?, history_chars)
                };
                let m = StoredMessage {
                    role: message.role,
                    content: message.content,
                    status: "complete".into(),
                    model: None,
                    created_ms: now_ms,
                };
                Self::push(&sql, &id, &m, if fresh { None } else { Some(max_messages) })?;
                self.schedule(&sql).await?;
                SessionReply::Begun { session_id: id, history }
            }
            SessionOp::History { session_id, history_chars } => {
                if !Self::exists(&sql, &session_id)? {
                    return Ok(SessionReply::NotFound);
                }
                SessionReply::Begun {
                    history: sessions::history_within(&Self::messages(&sql, &session_id)?, history_chars),
                    session_id,
                }
            }
            SessionOp::Finish {
                session_id,
                now_ms,
                content,
                status,
                model,
                max_messages,
            } => {
                if !Self::exists(&sql, &session_id)? {
                    return Ok(SessionReply::NotFound);
                }
                let m = StoredMessage {
                    role: "assistant".into(),
                    content,
                    status,
                    model,
                    created_ms: now_ms,
                };
                Self::push(&sql, &session_id, &m, Some(max_messages))?;
                self.schedule(&sql).await?;
                SessionReply::Done
            }
            SessionOp::List { limit, cursor } => {
                let (t, after) = match cursor.as_deref().and_then(sessions::parse_cursor) {
                    Some((t, id)) => (t, id.to_string()),
                    None => (f64::MAX, String::new()),
                };
                let rows: Vec<SessionSummary> = sql
                    .exec(
                        "SELECT id, title, created_ms, updated_ms, (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id) AS message_count \
                         FROM sessions s WHERE updated_ms < ? OR (updated_ms = ? AND id < ?) ORDER BY updated_ms DESC, id DESC LIMIT ?",
                        vec![t.into(), t.into(), after.as_str().into(), i64::from(limit.max(1) + 1).into()],
                    )
                    .map_err(bad)?
                    .to_array()
                    .map_err(bad)?;
                sessions::page_reply(rows, limit)
            }
            SessionOp::Get { session_id } => {
                let rows: Vec<SessionSummary> = sql
                    .exec(
                        "SELECT id, title, created_ms, updated_ms, (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id) AS message_count FROM sessions s WHERE id = ?",
                        vec![session_id.as_str().into()],
                    )
                    .map_err(bad)?
                    .to_array()
                    .map_err(bad)?;
                match rows.into_iter().next() {
                    None => SessionReply::NotFound,
                    Some(summary) => SessionReply::Session(SessionView {
                        messages: Self::messages(&sql, &session_id)?,
                        summary,
                    }),
                }
            }
            SessionOp::Delete { session_id } => {
                if !Self::exists(&sql, &session_id)? {
                    return Ok(SessionReply::NotFound);
                }
                sql.exec("DELETE FROM messages WHERE session_id = ?", vec![session_id.as_str().into()])
                    .map_err(bad)?;
                sql.exec("DELETE FROM sessions WHERE id = ?", vec![session_id.as_str().into()])
                    .map_err(bad)?;
                self.schedule(&sql).await?;
                SessionReply::Done
            }
        })
    }
}

impl DurableObject for ChatSession {
    fn new(state: State, env: Env) -> Self {
        note_env(&env);
        ChatSession {
            state,
            ready: Cell::new(false),
            alarm_at: Cell::new(None),
        }
    }

    async fn fetch(&self, mut req: worker::Request) -> worker::Result<worker::Response> {
        let ids = call_ids(&req);
        let path = req.path();
        object_reply("ChatSession", path, ids, async {
            if req.method() != worker::Method::Post || req.path() != "/op" {
                return Err(Failure::new(ErrorCode::NotFound, "ChatSession serves POST /op"));
            }
            let op: SessionOp = req.json().await.map_err(bad)?;
            let reply = self.apply(op).await?;
            worker::Response::from_json(&reply).map_err(bad)
        })
        .await
    }

    async fn alarm(&self) -> worker::Result<worker::Response> {
        // The alarm that fired is spent.
        self.alarm_at.set(None);
        let now = js_sys::Date::now();
        let run = async {
            let sql = self.sql()?;
            sql.exec(
                "DELETE FROM messages WHERE session_id IN (SELECT id FROM sessions WHERE updated_ms + retention_ms <= ?)",
                vec![now.into()],
            )
            .map_err(bad)?;
            sql.exec("DELETE FROM sessions WHERE updated_ms + retention_ms <= ?", vec![now.into()])
                .map_err(bad)?;
            self.schedule(&sql).await
        };
        match run.await {
            Ok(()) => worker::Response::ok("ok"),
            Err(e) => worker::Response::error(e.message, 500),
        }
    }
}

/// `DOC_INDEX`: one object per tenant (named by
/// `TenantCtx::key(Space::Docs)`), `POST /op` with an
/// [`crate::objects::doc_index::IndexOp`]. SQLite tables: `docs` (the
/// catalog, one JSON row per document), `chunks` (text, and in
/// development the vector as a little-endian `f32` blob), `fts` (FTS5,
/// Porter stemmer) over the chunks' text, `jobs`, `meta` (the version).
/// Every operation runs without awaiting, so it is atomic. Vectors are
/// read from storage once and kept in memory for exact cosine search,
/// updated by every write.
/// A chunk id and its vector.
type ChunkVector = (String, Vec<f32>);

#[durable_object]
pub struct DocIndex {
    state: State,
    ready: Cell<bool>,
    vectors: RefCell<Option<Vec<ChunkVector>>>,
}

const INDEX_SCHEMA: [&str; 6] = [
    "CREATE TABLE IF NOT EXISTS docs (id TEXT PRIMARY KEY, json TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS chunks (id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, idx INTEGER NOT NULL, text TEXT NOT NULL, vector BLOB)",
    "CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks (doc_id)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(id UNINDEXED, text, tokenize='porter unicode61')",
    "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, json TEXT NOT NULL)",
];

#[derive(serde::Deserialize)]
struct IdRow {
    id: String,
}

#[derive(serde::Deserialize)]
struct JsonRow {
    json: String,
}

#[derive(serde::Deserialize)]
struct ChunkDbRow {
    id: String,
    doc_id: String,
    idx: f64,
    text: String,
}

#[derive(serde::Deserialize)]
struct LexRow {
    id: String,
    score: f64,
}

#[derive(serde::Deserialize)]
struct VersionRow {
    v: f64,
}

fn f32s_to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bytes_to_f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// An FTS5 query: the query's words, each quoted, OR-ed (BM25 ranks
/// documents with more and rarer words first).
fn fts_query(q: &str) -> Option<String> {
    let words: Vec<String> = crate::rag::lexical::query_terms(q)
        .into_iter()
        .map(|w| format!("\"{}\"", w.replace('"', "")))
        .collect();
    (!words.is_empty()).then(|| words.join(" OR "))
}

impl DocIndex {
    fn sql(&self) -> Result<worker::SqlStorage, Failure> {
        let sql = self.state.storage().sql();
        if !self.ready.get() {
            for q in INDEX_SCHEMA {
                sql.exec(q, None).map_err(bad)?;
            }
            self.ready.set(true);
        }
        Ok(sql)
    }

    fn version(sql: &worker::SqlStorage) -> Result<u64, Failure> {
        let v: Vec<VersionRow> = sql
            .exec("SELECT v FROM meta WHERE k = 'version'", None)
            .map_err(bad)?
            .to_array()
            .map_err(bad)?;
        Ok(v.first().map_or(0, |r| r.v as u64))
    }

    fn bump(sql: &worker::SqlStorage) -> Result<u64, Failure> {
        sql.exec(
            "INSERT INTO meta (k, v) VALUES ('version', 1) ON CONFLICT(k) DO UPDATE SET v = v + 1",
            None,
        )
        .map_err(bad)?;
        Self::version(sql)
    }

    fn chunk_ids(sql: &worker::SqlStorage, doc_id: &str) -> Result<Vec<String>, Failure> {
        let rows: Vec<IdRow> = sql
            .exec("SELECT id FROM chunks WHERE doc_id = ? ORDER BY idx", vec![doc_id.into()])
            .map_err(bad)?
            .to_array()
            .map_err(bad)?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    fn remove_chunks(&self, sql: &worker::SqlStorage, ids: &[String]) -> Result<(), Failure> {
        for id in ids {
            sql.exec("DELETE FROM chunks WHERE id = ?", vec![id.as_str().into()]).map_err(bad)?;
            sql.exec("DELETE FROM fts WHERE id = ?", vec![id.as_str().into()]).map_err(bad)?;
        }
        if let Some(v) = self.vectors.borrow_mut().as_mut() {
            v.retain(|(id, _)| !ids.contains(id));
        }
        Ok(())
    }

    /// Every stored vector (loaded once per instance).
    fn load_vectors(&self, sql: &worker::SqlStorage) -> Result<(), Failure> {
        if self.vectors.borrow().is_some() {
            return Ok(());
        }
        let mut all = Vec::new();
        for row in sql
            .exec("SELECT id, vector FROM chunks WHERE vector IS NOT NULL", None)
            .map_err(bad)?
            .raw()
        {
            let row = row.map_err(bad)?;
            if let (Some(worker::SqlStorageValue::String(id)), Some(worker::SqlStorageValue::Blob(b))) = (row.first(), row.get(1)) {
                all.push((id.clone(), crate::objects::doc_index::unit(&bytes_to_f32s(b))));
            }
        }
        *self.vectors.borrow_mut() = Some(all);
        Ok(())
    }

    fn docs_by_id(
        sql: &worker::SqlStorage,
        ids: &[&str],
    ) -> Result<std::collections::HashMap<String, crate::objects::doc_index::DocMeta>, Failure> {
        let mut out = std::collections::HashMap::new();
        for id in ids {
            if out.contains_key(*id) {
                continue;
            }
            let rows: Vec<JsonRow> = sql
                .exec("SELECT json FROM docs WHERE id = ?", vec![(*id).into()])
                .map_err(bad)?
                .to_array()
                .map_err(bad)?;
            if let Some(r) = rows.first() {
                if let Ok(d) = serde_json::from_str(&r.json) {
                    out.insert(id.to_string(), d);
                }
            }
        }
        Ok(out)
    }

    /// `Put`: replace a document's chunks (kept ids are written again).
    fn put(
        &self,
        sql: &worker::SqlStorage,
        doc: crate::objects::doc_index::DocMeta,
        chunks: Vec<crate::objects::doc_index::ChunkIn>,
    ) -> Result<crate::objects::doc_index::IndexReply, Failure> {
        use crate::objects::doc_index::IndexReply;
        let sql = sql.clone();
        let keep: Vec<String> = chunks.iter().map(|c| crate::rag::chunk::chunk_id(&doc.id, c.index)).collect();
        let old = Self::chunk_ids(&sql, &doc.id)?;
        let stale: Vec<String> = old.iter().filter(|id| !keep.contains(id)).cloned().collect();
        // Every old chunk goes (kept ids are written again below).
        self.remove_chunks(&sql, &old)?;
        let loaded = self.vectors.borrow().is_some();
        for (c, id) in chunks.iter().zip(&keep) {
            let blob = c.vector.as_ref().map(|v| worker::SqlStorageValue::Blob(f32s_to_bytes(v)));
            sql.exec(
                "INSERT INTO chunks (id, doc_id, idx, text, vector) VALUES (?, ?, ?, ?, ?)",
                vec![
                    id.as_str().into(),
                    doc.id.as_str().into(),
                    i64::from(c.index).into(),
                    c.text.as_str().into(),
                    blob.unwrap_or(worker::SqlStorageValue::Null),
                ],
            )
            .map_err(bad)?;
            sql.exec(
                "INSERT INTO fts (id, text) VALUES (?, ?)",
                vec![id.as_str().into(), c.text.as_str().into()],
            )
            .map_err(bad)?;
            if let (true, Some(v)) = (loaded, &c.vector) {
                if let Some(all) = self.vectors.borrow_mut().as_mut() {
                    all.push((id.clone(), crate::objects::doc_index::unit(v)));
                }
            }
        }
        let json = serde_json::to_string(&doc).map_err(bad)?;
        sql.exec(
            "INSERT INTO docs (id, json) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET json = excluded.json",
            vec![doc.id.as_str().into(), json.into()],
        )
        .map_err(bad)?;
        Ok(IndexReply::Put {
            version: Self::bump(&sql)?,
            stale,
        })
    }

    /// `Search`: full text and (local) vector hits, and the rows of the hits and of `fetch`.
    fn search(
        &self,
        sql: &worker::SqlStorage,
        lexical: Option<crate::objects::doc_index::LexicalQuery>,
        vector: Option<crate::objects::doc_index::VectorQuery>,
        fetch: Vec<String>,
        only: Vec<String>,
    ) -> Result<crate::objects::doc_index::IndexReply, Failure> {
        use crate::objects::doc_index::{ChunkRow, Hit, IndexReply};
        let sql = sql.clone();
        // A chunk id is `{document id}#{index}` (ids hold no `#`).
        let keep = |id: &str| only.is_empty() || id.rsplit_once('#').is_some_and(|(d, _)| only.iter().any(|o| o == d));
        let mut lex = Vec::new();
        if let Some(q) = lexical {
            if let Some(m) = fts_query(&q.query) {
                let rows: Vec<LexRow> = sql
                    .exec(
                        "SELECT id, -bm25(fts) AS score FROM fts WHERE fts MATCH ? ORDER BY bm25(fts) LIMIT ?",
                        // Filtered searches read further down the ranking.
                        vec![m.into(), i64::from(if only.is_empty() { q.k.min(100) } else { 500 }).into()],
                    )
                    .map_err(bad)?
                    .to_array()
                    .map_err(bad)?;
                lex = rows
                    .into_iter()
                    .filter(|r| keep(&r.id))
                    .take(q.k as usize)
                    .map(|r| Hit { id: r.id, score: r.score })
                    .collect();
            }
        }
        let mut vec_hits = Vec::new();
        if let Some(q) = vector {
            self.load_vectors(&sql)?;
            if let Some(all) = self.vectors.borrow().as_ref() {
                // Vectors are kept unit length: one dot product each,
                // and only the best `k` are sorted.
                let q_unit = crate::objects::doc_index::unit(&q.values);
                let k = q.k.min(100) as usize;
                vec_hits = crate::objects::doc_index::nearest(
                    &q_unit,
                    all.iter()
                        .enumerate()
                        .filter(|(_, (id, _))| keep(id))
                        .map(|(i, (_, v))| (i, v.as_slice())),
                    k,
                )
                .into_iter()
                .map(|(i, score)| Hit {
                    id: all[i].0.clone(),
                    score,
                })
                .collect();
            }
            vec_hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
            vec_hits.truncate(q.k.min(100) as usize);
        }
        let mut want: Vec<String> = lex
            .iter()
            .map(|h| h.id.clone())
            .chain(vec_hits.iter().map(|h| h.id.clone()))
            .chain(fetch)
            .collect();
        want.sort();
        want.dedup();
        let mut found = Vec::new();
        for id in &want {
            let r: Vec<ChunkDbRow> = sql
                .exec("SELECT id, doc_id, idx, text FROM chunks WHERE id = ?", vec![id.as_str().into()])
                .map_err(bad)?
                .to_array()
                .map_err(bad)?;
            found.extend(r);
        }
        let docs = Self::docs_by_id(&sql, &found.iter().map(|r| r.doc_id.as_str()).collect::<Vec<_>>())?;
        let rows = found
            .into_iter()
            .filter_map(|r| {
                let d = docs.get(&r.doc_id)?;
                Some(ChunkRow {
                    id: r.id,
                    doc_id: r.doc_id,
                    index: r.idx as u32,
                    title: d.title.clone(),
                    url: d.url.clone(),
                    text: r.text,
                })
            })
            .collect();
        Ok(IndexReply::Found {
            lexical: lex,
            vector: vec_hits,
            rows,
            version: Self::version(&sql)?,
        })
    }

    fn apply(&self, op: crate::objects::doc_index::IndexOp) -> Result<crate::objects::doc_index::IndexReply, Failure> {
        use crate::objects::doc_index::{IndexOp, IndexReply, JobState};
        let sql = self.sql()?;
        Ok(match op {
            IndexOp::Put { doc, chunks } => self.put(&sql, doc, chunks)?,
            IndexOp::Delete { doc_id } => {
                let removed = Self::chunk_ids(&sql, &doc_id)?;
                self.remove_chunks(&sql, &removed)?;
                let existed = !Self::docs_by_id(&sql, &[doc_id.as_str()])?.is_empty();
                sql.exec("DELETE FROM docs WHERE id = ?", vec![doc_id.as_str().into()])
                    .map_err(bad)?;
                let version = if existed { Self::bump(&sql)? } else { Self::version(&sql)? };
                IndexReply::Deleted { version, removed }
            }
            IndexOp::List { after, limit } => {
                let limit = limit.clamp(1, 1000);
                let rows: Vec<JsonRow> = sql
                    .exec(
                        "SELECT json FROM docs WHERE id > ? ORDER BY id LIMIT ?",
                        vec![after.unwrap_or_default().into(), i64::from(limit + 1).into()],
                    )
                    .map_err(bad)?
                    .to_array()
                    .map_err(bad)?;
                let mut docs: Vec<crate::objects::doc_index::DocMeta> =
                    rows.iter().filter_map(|r| serde_json::from_str(&r.json).ok()).collect();
                let next = (docs.len() > limit as usize).then(|| docs[limit as usize - 1].id.clone());
                docs.truncate(limit as usize);
                IndexReply::Docs { docs, next }
            }
            IndexOp::Search {
                lexical,
                vector,
                fetch,
                docs: only,
            } => self.search(&sql, lexical, vector, fetch, only)?,
            IndexOp::Version => IndexReply::Version {
                version: Self::version(&sql)?,
            },
            IndexOp::JobStart { job, total, now_ms } => {
                let j = JobState {
                    id: job.clone(),
                    state: if total == 0 { "done" } else { "queued" }.into(),
                    total,
                    done: 0,
                    failed: 0,
                    errors: Vec::new(),
                    created_ms: now_ms,
                    updated_ms: now_ms,
                };
                sql.exec(
                    "INSERT OR REPLACE INTO jobs (id, json) VALUES (?, ?)",
                    vec![job.as_str().into(), serde_json::to_string(&j).map_err(bad)?.into()],
                )
                .map_err(bad)?;
                IndexReply::Job { job: Some(j) }
            }
            IndexOp::JobReport { job, done, errors, now_ms } => {
                let rows: Vec<JsonRow> = sql
                    .exec("SELECT json FROM jobs WHERE id = ?", vec![job.as_str().into()])
                    .map_err(bad)?
                    .to_array()
                    .map_err(bad)?;
                let mut j: Option<JobState> = rows.first().and_then(|r| serde_json::from_str(&r.json).ok());
                if let Some(j) = j.as_mut() {
                    crate::objects::doc_index::advance(j, done, errors, now_ms);
                    sql.exec(
                        "UPDATE jobs SET json = ? WHERE id = ?",
                        vec![serde_json::to_string(&j).map_err(bad)?.into(), job.as_str().into()],
                    )
                    .map_err(bad)?;
                }
                IndexReply::Job { job: j }
            }
            IndexOp::JobGet { job } => {
                let rows: Vec<JsonRow> = sql
                    .exec("SELECT json FROM jobs WHERE id = ?", vec![job.as_str().into()])
                    .map_err(bad)?
                    .to_array()
                    .map_err(bad)?;
                IndexReply::Job {
                    job: rows.first().and_then(|r| serde_json::from_str(&r.json).ok()),
                }
            }
        })
    }
}

impl DurableObject for DocIndex {
    fn new(state: State, env: Env) -> Self {
        note_env(&env);
        DocIndex {
            state,
            ready: Cell::new(false),
            vectors: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: worker::Request) -> worker::Result<worker::Response> {
        let ids = call_ids(&req);
        let path = req.path();
        object_reply("DocIndex", path, ids, async {
            if req.method() != worker::Method::Post || req.path() != "/op" {
                return Err(Failure::new(ErrorCode::NotFound, "DocIndex serves POST /op"));
            }
            let op: crate::objects::doc_index::IndexOp = req.json().await.map_err(bad)?;
            let reply = self.apply(op)?;
            worker::Response::from_json(&reply).map_err(bad)
        })
        .await
    }
}

/// `AUDIT`: one object per tenant (named by `TenantCtx::key(Space::Audit)`),
/// `POST /op` with a [`crate::objects::audit::AuditOp`]. SQLite table
/// `records`: the sequence number, time and tool (for filtering) and the
/// whole sealed record as JSON. An append reads the last record and stores
/// the next without awaiting in between, so the chain has no forks and the
/// numbering no gaps.
#[durable_object]
pub struct AuditLog {
    state: State,
    ready: Cell<bool>,
}

const AUDIT_SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, time_ms REAL NOT NULL, tool TEXT NOT NULL, hash TEXT NOT NULL, body TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS records_by_time ON records (time_ms, seq)",
];

#[derive(serde::Deserialize)]
struct Body {
    body: String,
}

impl AuditLog {
    fn sql(&self) -> Result<worker::SqlStorage, Failure> {
        let sql = self.state.storage().sql();
        if !self.ready.get() {
            for q in AUDIT_SCHEMA {
                sql.exec(q, None).map_err(bad)?;
            }
            self.ready.set(true);
        }
        Ok(sql)
    }

    fn bodies(
        sql: &worker::SqlStorage,
        q: &str,
        args: Vec<worker::SqlStorageValue>,
    ) -> Result<Vec<crate::objects::audit::AuditRecord>, Failure> {
        let rows: Vec<Body> = sql.exec(q, args).map_err(bad)?.to_array().map_err(bad)?;
        rows.into_iter().map(|r| serde_json::from_str(&r.body).map_err(bad)).collect()
    }

    fn apply(&self, op: crate::objects::audit::AuditOp) -> Result<crate::objects::audit::AuditReply, Failure> {
        use crate::objects::audit::{seal, AuditOp, AuditReply, MAX_PAGE};
        let sql = self.sql()?;
        match op {
            AuditOp::Append { entry } => {
                let last = Self::bodies(&sql, "SELECT body FROM records ORDER BY seq DESC LIMIT 1", vec![])?;
                let record = seal(last.first().map(|r| (r.seq, r.hash.as_str())), entry);
                sql.exec(
                    "INSERT INTO records (seq, time_ms, tool, hash, body) VALUES (?, ?, ?, ?, ?)",
                    vec![
                        (record.seq as f64).into(),
                        (record.time_ms as f64).into(),
                        record.tool.as_str().into(),
                        record.hash.as_str().into(),
                        serde_json::to_string(&record).map_err(bad)?.into(),
                    ],
                )
                .map_err(bad)?;
                Ok(AuditReply::Appended { record: Box::new(record) })
            }
            AuditOp::List {
                after,
                since_ms,
                tool,
                limit,
            } => {
                let limit = limit.clamp(1, MAX_PAGE);
                let mut args: Vec<worker::SqlStorageValue> = vec![(after as f64).into(), (since_ms as f64).into()];
                let mut q = "SELECT body FROM records WHERE seq > ? AND time_ms >= ?".to_string();
                if let Some(t) = &tool {
                    q.push_str(" AND tool = ?");
                    args.push(t.as_str().into());
                }
                q.push_str(" ORDER BY seq LIMIT ?");
                args.push(f64::from(limit + 1).into());
                let mut records = Self::bodies(&sql, &q, args)?;
                let more = records.len() > limit as usize;
                records.truncate(limit as usize);
                let next = if more { records.last().map(|r| r.seq) } else { None };
                Ok(AuditReply::Page { records, next })
            }
        }
    }
}

impl DurableObject for AuditLog {
    fn new(state: State, env: Env) -> Self {
        note_env(&env);
        AuditLog {
            state,
            ready: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: worker::Request) -> worker::Result<worker::Response> {
        let ids = call_ids(&req);
        let path = req.path();
        object_reply("AuditLog", path, ids, async {
            if req.method() != worker::Method::Post || req.path() != "/op" {
                return Err(Failure::new(ErrorCode::NotFound, "AuditLog serves POST /op"));
            }
            let op: crate::objects::audit::AuditOp = req.json().await.map_err(bad)?;
            let reply = self.apply(op)?;
            worker::Response::from_json(&reply).map_err(bad)
        })
        .await
    }
}
