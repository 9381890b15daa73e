//! In-memory adapters for native tests, benchmarks and tools. They behave
//! like the real ones where the core can tell (KV listing by prefix, the
//! limiter's atomic multi-bucket hit through the same state logic as the
//! Durable Object), and can be told to fail.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use super::{Clock, Fetched, HttpClient, Kv, KvEntry, Limiter, LocalFuture, LogSink, PortError, Random, Timer};
use crate::objects::rate_limiter::{self, Buckets, HitReply, HitRequest};
use crate::tenancy::keys::StorageKey;

/// A clock that returns the values it is given, in turn (then the last).
#[derive(Debug, Default)]
pub struct FixedClock {
    pub times: RefCell<Vec<f64>>,
}

impl FixedClock {
    pub fn new(times: &[f64]) -> FixedClock {
        let mut v = times.to_vec();
        v.reverse();
        FixedClock { times: RefCell::new(v) }
    }
}

impl Clock for FixedClock {
    fn now_ms(&self) -> f64 {
        let mut t = self.times.borrow_mut();
        if t.len() > 1 {
            t.pop().unwrap_or_default()
        } else {
            t.last().copied().unwrap_or_default()
        }
    }
}

/// A clock tests move by hand; [`ManualTimer`] advances it.
#[derive(Debug, Default)]
pub struct ManualClock(pub Cell<f64>);

impl ManualClock {
    pub fn at(ms: f64) -> Rc<ManualClock> {
        Rc::new(ManualClock(Cell::new(ms)))
    }
    pub fn advance(&self, ms: f64) {
        self.0.set(self.0.get() + ms);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> f64 {
        self.0.get()
    }
}

/// Log lines kept in memory.
#[derive(Debug, Default)]
pub struct MemoryLog {
    pub lines: RefCell<Vec<String>>,
}

impl LogSink for MemoryLog {
    fn line(&self, json: &str) {
        self.lines.borrow_mut().push(json.to_string());
    }
}

/// A timer that moves a [`ManualClock`] (if any) by the time slept; its
/// sleeps end after a number of polls proportional to their length.
#[derive(Default)]
pub struct ManualTimer {
    pub clock: Option<Rc<ManualClock>>,
    pub slept_ms: Cell<u64>,
}

/// A sleep of `ms` is ready after being polled `ms` times (at least
/// once): with the spinning executors of the tests, a short sleep ends
/// before a long one, and other futures polled alongside make progress
/// first — a timeout does not win against an answer that is ready.
struct Polls(u32);

impl std::future::Future for Polls {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 <= 1 {
            return std::task::Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

impl Timer for ManualTimer {
    fn sleep(&self, ms: u32) -> LocalFuture<'static, ()> {
        if let Some(c) = &self.clock {
            c.advance(f64::from(ms));
        }
        self.slept_ms.set(self.slept_ms.get() + u64::from(ms));
        Box::pin(Polls(ms))
    }
}

/// Deterministic "randomness" (a counter through splitmix64): tests only.
#[derive(Default)]
pub struct SeqRandom(pub Cell<u64>);

impl Random for SeqRandom {
    fn fill(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let mut z = self.0.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            self.0.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// HTTP answers by URL; counts requests. An unknown URL is a `PortError`.
#[derive(Default)]
pub struct MemoryHttp {
    pub routes: RefCell<BTreeMap<String, Fetched>>,
    pub requests: RefCell<Vec<String>>,
}

impl MemoryHttp {
    pub fn serve(&self, url: &str, status: u16, body: &str) {
        self.routes.borrow_mut().insert(
            url.to_string(),
            Fetched {
                status,
                body: body.as_bytes().to_vec(),
            },
        );
    }
}

impl HttpClient for MemoryHttp {
    fn get<'a>(&'a self, url: &'a str, _timeout_ms: u32) -> LocalFuture<'a, Result<Fetched, PortError>> {
        self.requests.borrow_mut().push(url.to_string());
        let r = self.routes.borrow().get(url).cloned();
        Box::pin(async move { r.ok_or_else(|| PortError(format!("connection refused: {url}"))) })
    }
}

/// A KV namespace in memory (key → (value, metadata)).
#[derive(Default)]
pub struct MemoryKv {
    pub map: RefCell<BTreeMap<String, (String, Option<String>)>>,
    /// When set, every call fails.
    pub down: Cell<bool>,
    /// The expiry each `put_expiring` asked for, by key.
    pub ttls: RefCell<BTreeMap<String, u32>>,
}

impl MemoryKv {
    fn check(&self) -> Result<(), PortError> {
        if self.down.get() {
            Err(PortError("KV is unavailable".into()))
        } else {
            Ok(())
        }
    }
}

impl Kv for MemoryKv {
    fn get<'a>(&'a self, key: &'a StorageKey) -> LocalFuture<'a, Result<Option<String>, PortError>> {
        let r = self.check().map(|_| self.map.borrow().get(key.as_str()).map(|(v, _)| v.clone()));
        Box::pin(async move { r })
    }

    fn put<'a>(&'a self, key: &'a StorageKey, value: &'a str, metadata: Option<&'a str>) -> LocalFuture<'a, Result<(), PortError>> {
        let r = self.check().map(|_| {
            self.map
                .borrow_mut()
                .insert(key.as_str().to_string(), (value.to_string(), metadata.map(str::to_string)));
        });
        Box::pin(async move { r })
    }

    fn put_expiring<'a>(&'a self, key: &'a StorageKey, value: &'a str, ttl_secs: u32) -> LocalFuture<'a, Result<(), PortError>> {
        let r = self.check().map(|_| {
            self.ttls.borrow_mut().insert(key.as_str().to_string(), ttl_secs);
            self.map.borrow_mut().insert(key.as_str().to_string(), (value.to_string(), None));
        });
        Box::pin(async move { r })
    }

    fn delete<'a>(&'a self, key: &'a StorageKey) -> LocalFuture<'a, Result<(), PortError>> {
        let r = self.check().map(|_| {
            self.map.borrow_mut().remove(key.as_str());
        });
        Box::pin(async move { r })
    }

    fn list<'a>(&'a self, prefix: &'a StorageKey) -> LocalFuture<'a, Result<Vec<KvEntry>, PortError>> {
        let r = self.check().map(|_| {
            self.map
                .borrow()
                .iter()
                .filter(|(k, _)| k.starts_with(prefix.as_str()))
                .map(|(k, (_, m))| KvEntry {
                    key: k.clone(),
                    metadata: m.clone(),
                })
                .collect()
        });
        Box::pin(async move { r })
    }
}

/// The limiter's state logic ([`rate_limiter::apply`]) over in-memory
/// buckets, one map per limiter object, like the Durable Object.
pub struct MemoryLimiter {
    pub clock: Rc<dyn Clock>,
    pub objects: RefCell<BTreeMap<String, Buckets>>,
    /// Token budget ledgers, by object (the same object as the buckets).
    pub ledgers: RefCell<BTreeMap<String, crate::objects::budget::Ledger>>,
    /// When set, every call fails (the object cannot be reached).
    pub down: Cell<bool>,
}

impl MemoryLimiter {
    pub fn new(clock: Rc<dyn Clock>) -> MemoryLimiter {
        MemoryLimiter {
            clock,
            objects: RefCell::new(BTreeMap::new()),
            ledgers: RefCell::new(BTreeMap::new()),
            down: Cell::new(false),
        }
    }
}

impl Limiter for MemoryLimiter {
    fn hit<'a>(&'a self, object: &'a StorageKey, req: &'a HitRequest) -> LocalFuture<'a, Result<HitReply, PortError>> {
        let r = if self.down.get() {
            Err(PortError("the rate limiter object cannot be reached".into()))
        } else {
            let mut objects = self.objects.borrow_mut();
            let buckets = objects.entry(object.as_str().to_string()).or_default();
            let mut reply = rate_limiter::apply(buckets, self.clock.now_ms(), req);
            if let (true, Some(op)) = (reply.allowed, &req.budget) {
                let mut ledgers = self.ledgers.borrow_mut();
                reply.budget = Some(crate::objects::budget::apply(
                    ledgers.entry(object.as_str().to_string()).or_default(),
                    op,
                ));
            }
            Ok(reply)
        };
        Box::pin(async move { r })
    }
}

impl super::Budget for MemoryLimiter {
    fn call<'a>(
        &'a self,
        object: &'a StorageKey,
        op: &'a crate::objects::budget::BudgetOp,
    ) -> LocalFuture<'a, Result<crate::objects::budget::BudgetReply, PortError>> {
        let r = if self.down.get() {
            Err(PortError("the rate limiter object cannot be reached".into()))
        } else {
            let mut ledgers = self.ledgers.borrow_mut();
            Ok(crate::objects::budget::apply(
                ledgers.entry(object.as_str().to_string()).or_default(),
                op,
            ))
        };
        Box::pin(async move { r })
    }
}

/// What a scripted upstream answers one call with.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// A status, headers and body chunks (sent as separate reads).
    Reply {
        status: u16,
        headers: Vec<(String, String)>,
        chunks: Vec<Vec<u8>>,
    },
    /// No response.
    Fail(super::FetchError),
}

impl Scripted {
    /// A 200 event stream of `chunks`.
    pub fn sse(chunks: &[&str]) -> Scripted {
        Scripted::Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            chunks: chunks.iter().map(|c| c.as_bytes().to_vec()).collect(),
        }
    }

    pub fn status(status: u16, body: &str) -> Scripted {
        Scripted::Reply {
            status,
            headers: vec![],
            chunks: vec![body.as_bytes().to_vec()],
        }
    }
}

/// A recorded upstream call.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamCall {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: serde_json::Value,
}

/// An upstream (or AI binding) that answers from a script, in order (the
/// last answer repeats), and records every call. `cancelled` counts bodies
/// dropped before their end.
#[derive(Default)]
pub struct ScriptedUpstream {
    pub script: RefCell<Vec<Scripted>>,
    pub calls: RefCell<Vec<UpstreamCall>>,
    pub cancelled: Rc<Cell<u32>>,
}

impl ScriptedUpstream {
    pub fn new(script: Vec<Scripted>) -> ScriptedUpstream {
        ScriptedUpstream {
            script: RefCell::new(script),
            ..ScriptedUpstream::default()
        }
    }

    fn next(&self) -> Scripted {
        let mut s = self.script.borrow_mut();
        if s.len() > 1 {
            s.remove(0)
        } else {
            s.first().cloned().unwrap_or_else(|| Scripted::status(500, "no script"))
        }
    }

    fn body(&self, chunks: Vec<Vec<u8>>) -> super::ByteStream {
        /// Each chunk arrives on its own: a poll after a chunk is
        /// `Pending` once (as a network read would be).
        struct Body {
            chunks: std::collections::VecDeque<Vec<u8>>,
            cancelled: Rc<Cell<u32>>,
            arrived: bool,
        }
        impl futures_util::Stream for Body {
            type Item = Result<Vec<u8>, PortError>;
            fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
                if self.arrived {
                    self.arrived = false;
                    cx.waker().wake_by_ref();
                    return std::task::Poll::Pending;
                }
                self.arrived = true;
                std::task::Poll::Ready(self.chunks.pop_front().map(Ok))
            }
        }
        impl Drop for Body {
            fn drop(&mut self) {
                if !self.chunks.is_empty() {
                    self.cancelled.set(self.cancelled.get() + 1);
                }
            }
        }
        Box::pin(Body {
            chunks: chunks.into(),
            cancelled: self.cancelled.clone(),
            arrived: false,
        })
    }
}

impl super::Upstream for ScriptedUpstream {
    fn post<'a>(
        &'a self,
        url: &'a str,
        headers: &'a [(&'static str, String)],
        body: Vec<u8>,
        _timeout_ms: u32,
    ) -> LocalFuture<'a, Result<super::StreamedResponse, super::FetchError>> {
        self.calls.borrow_mut().push(UpstreamCall {
            url: url.to_string(),
            headers: headers.to_vec(),
            body: serde_json::from_slice(&body).unwrap_or_default(),
        });
        let r = match self.next() {
            Scripted::Fail(e) => Err(e),
            Scripted::Reply { status, headers, chunks } => Ok(super::StreamedResponse {
                status,
                headers,
                body: self.body(chunks),
            }),
        };
        Box::pin(async move { r })
    }
}

impl super::AiBinding for ScriptedUpstream {
    fn run_stream<'a>(
        &'a self,
        model: &'a str,
        inputs: String,
        options: String,
    ) -> LocalFuture<'a, Result<super::BindingRun, super::BindingError>> {
        self.calls.borrow_mut().push(UpstreamCall {
            url: model.to_string(),
            headers: vec![("options", options)],
            body: serde_json::from_str(&inputs).unwrap_or_default(),
        });
        let r = match self.next() {
            Scripted::Fail(e) => Err(super::BindingError {
                status: None,
                message: format!("{e:?}"),
            }),
            Scripted::Reply { status, chunks, .. } if status >= 400 => Err(super::BindingError {
                status: Some(status),
                message: String::from_utf8_lossy(&chunks.concat()).to_string(),
            }),
            Scripted::Reply { chunks, .. } => Ok(super::BindingRun {
                body: self.body(chunks),
                log_id: Some("log-1".into()),
            }),
        };
        Box::pin(async move { r })
    }

    fn run_json<'a>(&'a self, model: &'a str, inputs: String, options: String) -> LocalFuture<'a, Result<String, super::BindingError>> {
        let r = self.run_json_sync(model, inputs, options);
        Box::pin(async move { r })
    }
}

impl ScriptedUpstream {
    fn run_json_sync(&self, model: &str, inputs: String, options: String) -> Result<String, super::BindingError> {
        self.calls.borrow_mut().push(UpstreamCall {
            url: model.to_string(),
            headers: vec![("options", options)],
            body: serde_json::from_str(&inputs).unwrap_or_default(),
        });
        match self.next() {
            Scripted::Fail(e) => Err(super::BindingError {
                status: None,
                message: format!("{e:?}"),
            }),
            Scripted::Reply { status, chunks, .. } if status >= 400 => Err(super::BindingError {
                status: Some(status),
                message: String::from_utf8_lossy(&chunks.concat()).to_string(),
            }),
            Scripted::Reply { chunks, .. } => Ok(String::from_utf8_lossy(&chunks.concat()).to_string()),
        }
    }
}

/// Background work, kept until [`MemoryBackground::drain`] runs it.
#[derive(Default)]
pub struct MemoryBackground {
    pub pending: RefCell<Vec<LocalFuture<'static, ()>>>,
}

impl MemoryBackground {
    /// Run every pending job to completion (the in-memory ports never wait).
    pub fn drain(&self) -> usize {
        let jobs: Vec<_> = self.pending.borrow_mut().drain(..).collect();
        let n = jobs.len();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        for mut j in jobs {
            while j.as_mut().poll(&mut cx).is_pending() {}
        }
        n
    }
}

impl super::Background for MemoryBackground {
    fn spawn(&self, work: LocalFuture<'static, ()>) {
        self.pending.borrow_mut().push(work);
    }
}

/// Metrics kept in memory. `down`: writes are lost (as a failing
/// `writeDataPoint` is swallowed on workerd).
#[derive(Default)]
pub struct MemoryMetrics {
    pub points: RefCell<Vec<super::DataPoint>>,
    pub down: Cell<bool>,
    /// Writes lost while `down`.
    pub lost: Cell<u32>,
}

impl super::Metrics for MemoryMetrics {
    fn write(&self, point: &super::DataPoint) {
        if self.down.get() {
            self.lost.set(self.lost.get() + 1);
            return;
        }
        self.points.borrow_mut().push(point.clone());
    }
}

/// A vector as [`MemoryVectors`] keeps it: namespace, values, metadata.
pub type StoredVector = (String, Vec<f32>, serde_json::Value);

/// A Vectorize index in memory, with exact cosine search per namespace,
/// recording the namespace of every call (tests assert on it).
#[derive(Default)]
pub struct MemoryVectors {
    /// id → (namespace, values, metadata)
    pub vectors: RefCell<std::collections::BTreeMap<String, StoredVector>>,
    /// (method, namespace) of every call.
    pub calls: RefCell<Vec<(&'static str, String)>>,
    /// Every call fails (the index cannot be reached).
    pub down: Cell<bool>,
}

impl MemoryVectors {
    fn fail(&self) -> Option<PortError> {
        self.down.get().then(|| PortError("vectorize: 503 service unavailable".into()))
    }
}

impl super::Vectors for MemoryVectors {
    fn upsert<'a>(
        &'a self,
        ns: &'a crate::tenancy::keys::VectorNamespace,
        vectors: Vec<super::VectorRecord>,
    ) -> LocalFuture<'a, Result<(), PortError>> {
        self.calls.borrow_mut().push(("upsert", ns.namespace().to_string()));
        if let Some(e) = self.fail() {
            return Box::pin(async move { Err(e) });
        }
        let mut v = self.vectors.borrow_mut();
        for r in vectors {
            v.insert(r.id, (ns.namespace().to_string(), r.values, r.metadata));
        }
        Box::pin(async { Ok(()) })
    }

    fn query<'a>(
        &'a self,
        ns: &'a crate::tenancy::keys::VectorNamespace,
        values: &'a [f32],
        top_k: u32,
        docs: &'a [String],
    ) -> LocalFuture<'a, Result<Vec<super::VectorMatch>, PortError>> {
        self.calls.borrow_mut().push(("query", ns.namespace().to_string()));
        if let Some(e) = self.fail() {
            return Box::pin(async move { Err(e) });
        }
        let mut m: Vec<super::VectorMatch> = self
            .vectors
            .borrow()
            .iter()
            .filter(|(_, (n, _, _))| n == ns.namespace())
            .filter(|(_, (_, _, md))| docs.is_empty() || md["doc_id"].as_str().is_some_and(|d| docs.iter().any(|x| x == d)))
            .map(|(id, (_, v, md))| super::VectorMatch {
                id: id.clone(),
                score: crate::objects::doc_index::cosine(values, v),
                metadata: md.clone(),
            })
            .collect();
        m.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        m.truncate(top_k as usize);
        Box::pin(async move { Ok(m) })
    }

    fn delete<'a>(&'a self, ns: &'a crate::tenancy::keys::VectorNamespace, ids: Vec<String>) -> LocalFuture<'a, Result<(), PortError>> {
        self.calls.borrow_mut().push(("delete", ns.namespace().to_string()));
        if let Some(e) = self.fail() {
            return Box::pin(async move { Err(e) });
        }
        let mut v = self.vectors.borrow_mut();
        for id in ids {
            v.remove(&id);
        }
        Box::pin(async { Ok(()) })
    }
}

/// A queue in memory: sent bodies wait in `sent` until a test delivers them.
#[derive(Default)]
pub struct MemoryQueue {
    pub sent: RefCell<Vec<String>>,
    /// Sizes of each `send_batch` call (messages).
    pub batches: RefCell<Vec<usize>>,
    /// Every send fails.
    pub down: Cell<bool>,
}

impl super::IngestQueue for MemoryQueue {
    fn send_batch<'a>(&'a self, bodies: Vec<String>) -> LocalFuture<'a, Result<(), PortError>> {
        if self.down.get() {
            return Box::pin(async { Err(PortError("queue: sendBatch failed".into())) });
        }
        self.batches.borrow_mut().push(bodies.len());
        self.sent.borrow_mut().extend(bodies);
        Box::pin(async { Ok(()) })
    }
}

/// Drive a future to its end by polling it (the in-memory ports never
/// block: everything a test awaits is ready after some polls).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}
