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

/// Serve a Durable Object request; an error becomes an envelope.
async fn object_reply<F>(f: F) -> worker::Result<worker::Response>
where
    F: std::future::Future<Output = Result<worker::Response, Failure>>,
{
    match f.await {
        Ok(r) => Ok(r),
        Err(e) => {
            let r = error_response(&e, "");
            Ok(worker::Response::from_bytes(r.body.bytes().to_vec())?
                .with_status(r.status)
                .with_headers(worker::Headers::from_iter([("content-type", crate::app::envelope::JSON)])))
        }
    }
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
    fn new(state: State, _env: Env) -> Self {
        RateLimiter {
            state,
            buckets: RefCell::new(Buckets::new()),
            hits: Cell::new(0),
            ledger: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: worker::Request) -> worker::Result<worker::Response> {
        object_reply(async {
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
    fn new(state: State, _env: Env) -> Self {
        ChatSession {
            state,
            ready: Cell::new(false),
            alarm_at: Cell::new(None),
        }
    }

    async fn fetch(&self, mut req: worker::Request) -> worker::Result<worker::Response> {
        object_reply(async {
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
