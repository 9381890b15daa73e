//! Ports: what the core needs from the platform, as traits. Handlers and
//! middleware talk to these, never to workers-rs. The wasm adapters
//! (`crate::wasm::adapters`) implement them over the real bindings; the
//! in-memory ones in [`memory`] keep the core testable with `cargo test`.
//!
//! Invariants:
//! - every port that stores or reads tenant data takes a
//!   [`StorageKey`], which only [`crate::tenancy::resolve::TenantCtx::key`]
//!   builds: no port accepts a raw string key;
//! - futures are `!Send` ([`LocalFuture`]): workerd runs one request at a
//!   time per isolate thread, and JavaScript values cannot cross threads;
//! - a port that cannot reach its backend returns [`PortError`]; the
//!   pipeline decides what that means (see `crate::limits` for the
//!   limiter's policy).

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use crate::tenancy::keys::{StorageKey, VectorNamespace};

pub mod memory;

/// A boxed, single-threaded future.
pub type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A backend failed or could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortError(pub String);

impl std::fmt::Display for PortError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Milliseconds since the Unix epoch. (On workerd the clock advances only
/// across I/O, so CPU-only requests log a latency of 0.)
pub trait Clock {
    fn now_ms(&self) -> f64;
}

/// Where log lines go.
pub trait LogSink {
    fn line(&self, json: &str);
}

/// Timers.
pub trait Timer {
    fn sleep(&self, ms: u32) -> LocalFuture<'static, ()>;
}

/// Randomness from the platform's CSPRNG.
pub trait Random {
    fn fill(&self, buf: &mut [u8]);
}

/// A JWS algorithm the verifier supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA P-256 with SHA-256; the signature is `r || s` (64 bytes).
    Es256,
    /// Ed25519.
    EdDsa,
}

impl SigAlg {
    pub const fn as_str(self) -> &'static str {
        match self {
            SigAlg::Rs256 => "RS256",
            SigAlg::Es256 => "ES256",
            SigAlg::EdDsa => "EdDSA",
        }
    }
}

/// Signature verification (WebCrypto on workerd).
pub trait Crypto {
    /// Verify `sig` over `data` with the public key `jwk` (a JSON Web Key,
    /// as JSON text). `Err` when the key cannot be imported for `alg`.
    fn verify<'a>(&'a self, alg: SigAlg, jwk: &'a str, data: &'a [u8], sig: &'a [u8]) -> LocalFuture<'a, Result<bool, PortError>>;
}

/// An HTTP response as the core sees it (JWKS documents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Outgoing HTTP `GET` (JWKS and Access certificates).
pub trait HttpClient {
    fn get<'a>(&'a self, url: &'a str, timeout_ms: u32) -> LocalFuture<'a, Result<Fetched, PortError>>;
}

/// One entry of a KV listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvEntry {
    pub key: String,
    /// The metadata stored with the value (JSON text), if any.
    pub metadata: Option<String>,
}

/// A KV namespace (one binding). Keys are [`StorageKey`]s only.
pub trait Kv {
    fn get<'a>(&'a self, key: &'a StorageKey) -> LocalFuture<'a, Result<Option<String>, PortError>>;
    fn put<'a>(&'a self, key: &'a StorageKey, value: &'a str, metadata: Option<&'a str>) -> LocalFuture<'a, Result<(), PortError>>;
    /// Put a value that KV deletes after `ttl_secs` (at least 60).
    fn put_expiring<'a>(&'a self, key: &'a StorageKey, value: &'a str, ttl_secs: u32) -> LocalFuture<'a, Result<(), PortError>>;
    fn delete<'a>(&'a self, key: &'a StorageKey) -> LocalFuture<'a, Result<(), PortError>>;
    /// Keys under `prefix` (a key of the same tenant and space), with metadata.
    fn list<'a>(&'a self, prefix: &'a StorageKey) -> LocalFuture<'a, Result<Vec<KvEntry>, PortError>>;
}

/// The ids a request's Durable Object calls carry (`x-request-id` and
/// `traceparent` headers), so an object's log lines and errors name the
/// request that caused them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallIds {
    pub request_id: String,
    pub traceparent: String,
}

/// The rate limiter (the `RATE_LIMITER` Durable Object on workerd).
pub trait Limiter {
    /// Apply `req` atomically in the limiter object named `object`.
    fn hit<'a>(
        &'a self,
        object: &'a StorageKey,
        req: &'a crate::objects::rate_limiter::HitRequest,
    ) -> LocalFuture<'a, Result<crate::objects::rate_limiter::HitReply, PortError>>;
    /// This port for one request, its calls carrying `ids` (`None`: the
    /// port has nothing to carry them on).
    fn for_request(&self, _ids: &Rc<CallIds>) -> Option<Rc<dyn Limiter>> {
        None
    }
}

/// Bytes as they arrive from an upstream. Dropping the stream cancels the
/// transfer (the wasm adapter aborts its `fetch` or cancels the binding's
/// stream).
pub type ByteStream = Pin<Box<dyn futures_util::Stream<Item = Result<Vec<u8>, PortError>>>>;

/// A streamed HTTP response.
pub struct StreamedResponse {
    pub status: u16,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: ByteStream,
}

impl StreamedResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Why an upstream call produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// No response headers within the timeout.
    Timeout,
    /// The connection failed.
    Network(String),
}

/// Outgoing streaming `POST` (model providers).
pub trait Upstream {
    /// Send `body` to `url`; resolves when the response headers arrive or
    /// `timeout_ms` passes.
    fn post<'a>(
        &'a self,
        url: &'a str,
        headers: &'a [(&'static str, String)],
        body: Vec<u8>,
        timeout_ms: u32,
    ) -> LocalFuture<'a, Result<StreamedResponse, FetchError>>;
}

/// What a streamed Workers AI binding call returned.
pub struct BindingRun {
    /// The event-stream body.
    pub body: ByteStream,
    /// `env.AI.aiGatewayLogId` after the call.
    pub log_id: Option<String>,
}

/// Why a binding call failed: the error's message, and an HTTP-like status
/// when the binding gave one (its errors carry none for most failures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingError {
    pub status: Option<u16>,
    pub message: String,
}

/// The Workers AI binding (`env.AI`), called with the options argument
/// that workers-rs does not pass.
pub trait AiBinding {
    /// `run(model, inputs, options)` with `inputs.stream = true`; `inputs`
    /// and `options` are JSON objects.
    fn run_stream<'a>(&'a self, model: &'a str, inputs: String, options: String) -> LocalFuture<'a, Result<BindingRun, BindingError>>;
    /// `run(model, inputs, options)` without streaming (embeddings,
    /// rerank); the result as JSON text.
    fn run_json<'a>(&'a self, model: &'a str, inputs: String, options: String) -> LocalFuture<'a, Result<String, BindingError>>;
}

/// The `SESSIONS` Durable Object (one object per tenant and user).
pub trait Sessions {
    fn call<'a>(
        &'a self,
        object: &'a StorageKey,
        op: &'a crate::objects::sessions::SessionOp,
    ) -> LocalFuture<'a, Result<crate::objects::sessions::SessionReply, PortError>>;
    fn for_request(&self, _ids: &Rc<CallIds>) -> Option<Rc<dyn Sessions>> {
        None
    }
}

/// The `DOC_INDEX` Durable Object (one object per tenant): catalog,
/// chunk text, full-text search, jobs and, in development, vectors.
pub trait DocIndex {
    fn call<'a>(
        &'a self,
        object: &'a StorageKey,
        op: &'a crate::objects::doc_index::IndexOp,
    ) -> LocalFuture<'a, Result<crate::objects::doc_index::IndexReply, PortError>>;
    fn for_request(&self, _ids: &Rc<CallIds>) -> Option<Rc<dyn DocIndex>> {
        None
    }
}

/// The `AUDIT` Durable Object (one object per tenant): the tool audit log.
pub trait Audit {
    fn call<'a>(
        &'a self,
        object: &'a StorageKey,
        op: &'a crate::objects::audit::AuditOp,
    ) -> LocalFuture<'a, Result<crate::objects::audit::AuditReply, PortError>>;
    fn for_request(&self, _ids: &Rc<CallIds>) -> Option<Rc<dyn Audit>> {
        None
    }
}

/// A vector to store in Vectorize.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorRecord {
    /// From [`VectorNamespace::vector_id`].
    pub id: String,
    pub values: Vec<f32>,
    /// JSON object: document id, chunk index, title, url, snippet.
    pub metadata: serde_json::Value,
}

/// A Vectorize match.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatch {
    pub id: String,
    pub score: f64,
    pub metadata: serde_json::Value,
}

/// A Vectorize index binding. Every call takes the tenant's
/// [`VectorNamespace`]: there is no call path without one.
pub trait Vectors {
    fn upsert<'a>(&'a self, ns: &'a VectorNamespace, vectors: Vec<VectorRecord>) -> LocalFuture<'a, Result<(), PortError>>;
    /// The nearest vectors in the tenant's namespace; `docs`, when not
    /// empty, restricts them to those documents (a metadata filter
    /// `{"doc_id": {"$in": docs}}`: the index needs a `doc_id` metadata
    /// index, docs/rag.md).
    fn query<'a>(
        &'a self,
        ns: &'a VectorNamespace,
        values: &'a [f32],
        top_k: u32,
        docs: &'a [String],
    ) -> LocalFuture<'a, Result<Vec<VectorMatch>, PortError>>;
    /// Delete by ids (ids from `ns.vector_id`, so only the tenant's).
    fn delete<'a>(&'a self, ns: &'a VectorNamespace, ids: Vec<String>) -> LocalFuture<'a, Result<(), PortError>>;
}

/// The environment's ingestion queue (producer side).
pub trait IngestQueue {
    /// Send message bodies (JSON text) in one batch.
    fn send_batch<'a>(&'a self, bodies: Vec<String>) -> LocalFuture<'a, Result<(), PortError>>;
}

/// Daily token budgets (the tenant's `RATE_LIMITER` object).
pub trait Budget {
    fn call<'a>(
        &'a self,
        object: &'a StorageKey,
        op: &'a crate::objects::budget::BudgetOp,
    ) -> LocalFuture<'a, Result<crate::objects::budget::BudgetReply, PortError>>;
    fn for_request(&self, _ids: &Rc<CallIds>) -> Option<Rc<dyn Budget>> {
        None
    }
}

/// Work that must finish after the response is sent (`ctx.waitUntil` on
/// workerd): storing an interrupted answer, settling a budget.
pub trait Background {
    fn spawn(&self, work: LocalFuture<'static, ()>);
}

/// One usage data point (Analytics Engine; see docs/chat.md for the layout).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DataPoint {
    /// The index: the tenant.
    pub index: String,
    pub blobs: Vec<String>,
    pub doubles: Vec<f64>,
}

/// Usage metrics (the environment's `analytics-engine` binding).
pub trait Metrics {
    fn write(&self, point: &DataPoint);
}

/// Everything the pipeline and handlers reach the platform through.
/// Optional ports are bindings a deployment may lack (a 503 on the routes
/// that need them).
#[derive(Clone)]
pub struct Ports {
    pub clock: Rc<dyn Clock>,
    pub log: Rc<dyn LogSink>,
    pub timer: Rc<dyn Timer>,
    pub random: Rc<dyn Random>,
    pub crypto: Rc<dyn Crypto>,
    pub http: Rc<dyn HttpClient>,
    /// KV namespaces by binding name. (The lists are `Rc<[_]>`: the ports
    /// are cloned for every request.)
    pub kv: Rc<[(&'static str, Rc<dyn Kv>)]>,
    pub limiter: Option<Rc<dyn Limiter>>,
    pub budget: Option<Rc<dyn Budget>>,
    pub sessions: Option<Rc<dyn Sessions>>,
    pub doc_index: Option<Rc<dyn DocIndex>>,
    /// The tool audit log, if the deployment has the `AuditLog` binding.
    pub audit: Option<Rc<dyn Audit>>,
    /// The ingestion queue, if the environment has one.
    pub ingest_queue: Option<Rc<dyn IngestQueue>>,
    /// Vectorize bindings by name.
    pub vectors: Rc<[(&'static str, Rc<dyn Vectors>)]>,
    pub upstream: Rc<dyn Upstream>,
    /// The Workers AI binding, if the deployment has one.
    pub ai: Option<Rc<dyn AiBinding>>,
    pub metrics: Option<Rc<dyn Metrics>>,
    /// The isolate's recent request lines (development deployments only;
    /// the playground links each call to its line).
    pub recent: Option<Rc<crate::app::log::RecentLines>>,
    pub background: Rc<dyn Background>,
    /// Secret values by name (provider tokens), read once per isolate.
    pub secrets: Rc<[(&'static str, String)]>,
    /// Vars read at runtime (`AI_BASE_URL` in development), by name.
    pub vars: Rc<[(&'static str, String)]>,
}

impl Ports {
    /// The KV namespace of a binding, if the deployment has it.
    pub fn kv(&self, binding: &str) -> Option<&Rc<dyn Kv>> {
        self.kv.iter().find(|(b, _)| *b == binding).map(|(_, k)| k)
    }

    /// A secret's value, if the deployment has it.
    pub fn secret(&self, name: &str) -> Option<&str> {
        self.secrets.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// These ports for one request: every Durable Object call carries its
    /// request id and `traceparent`.
    pub fn for_request(&self, request_id: &str, traceparent: &str) -> Ports {
        let ids = Rc::new(CallIds {
            request_id: request_id.to_string(),
            traceparent: traceparent.to_string(),
        });
        let mut p = self.clone();
        p.limiter = self.limiter.as_ref().map(|x| x.for_request(&ids).unwrap_or_else(|| x.clone()));
        p.budget = self.budget.as_ref().map(|x| x.for_request(&ids).unwrap_or_else(|| x.clone()));
        p.sessions = self.sessions.as_ref().map(|x| x.for_request(&ids).unwrap_or_else(|| x.clone()));
        p.doc_index = self.doc_index.as_ref().map(|x| x.for_request(&ids).unwrap_or_else(|| x.clone()));
        p.audit = self.audit.as_ref().map(|x| x.for_request(&ids).unwrap_or_else(|| x.clone()));
        p
    }

    /// A runtime var's value, if set.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}
