//! `POST /chat` and `POST /v1/chat/completions`: one handler, two request
//! flavours.
//!
//! Order of work: body → safety ([`safety`]) → plan (models, limits,
//! provider: [`crate::ai::plan`]) → budget reservation → session (the
//! user's message stored, history read) → answer cache → model
//! ([`engine`]: fallbacks, retries, timeout to first token) → reply
//! ([`reply`]: OpenAI chunks over SSE, or one `chat.completion`) →
//! settlement when the answer ends, however it ends: the session gets the
//! answer (`complete`, `interrupted`, `failed`), the budget the real
//! usage, the cache a complete answer, the log line (and with it the
//! request's metrics data point, `crate::app::metrics`) its fields.
//!
//! Invariants: nothing is charged or stored for a request refused before
//! the model call (body, safety, plan, budget); a failure before the first
//! token is an envelope (502/504), after it an SSE error event and a clean
//! end; the settlement runs exactly once.

pub mod cache;
pub mod engine;
pub mod reply;
pub mod safety;
pub mod tools;

use std::rc::Rc;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::ai::plan::{self, Plan};
use crate::ai::{estimate_tokens, CallMeta, Message};
use crate::app::envelope::{ErrorCode, Failure};
use crate::app::log::AiLog;
use crate::app::Scope;
use crate::http::{Incoming, Response};
use crate::objects::budget::{day_of, BudgetOp};
use crate::objects::sessions::{SessionOp, SessionReply};
use crate::ports::{Budget, Kv, Sessions};
use crate::tenancy::keys::{Space, StorageKey};
use reply::{Answer, Settle};

/// Message content: text, or OpenAI's array of parts (text parts only).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

/// A content part; only `text` parts are accepted.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct Part {
    #[serde(rename = "type")]
    #[schemars(regex(pattern = "^text$"))]
    pub kind: String,
    pub text: String,
}

/// One incoming message.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct InMessage {
    /// `system`, `user` or `assistant`; the last must be `user`.
    pub role: String,
    pub content: Content,
}

/// OpenAI's `stream_options`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// The body of `POST /chat` and `POST /v1/chat/completions`. Fields the
/// OpenAI API has and this Worker does not use are ignored.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct ChatRequest {
    /// Continue this session (yours); omitted: a new session.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub session_id: Option<String>,
    #[schemars(length(min = 1, max = 256))]
    pub messages: Vec<InMessage>,
    /// Server-sent events (default: true on `/chat`, false on
    /// `/v1/chat/completions`, as in OpenAI's API).
    #[serde(default)]
    pub stream: Option<bool>,
    /// At most the route's `max-tokens`.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_tokens: Option<u32>,
    /// OpenAI's newer name for `max_tokens`.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f64>,
    /// `default`, or one of the tenant's chat models.
    #[serde(default)]
    #[schemars(length(max = 200))]
    pub model: Option<String>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// `auto` (default): the model may call the tools your roles allow
    /// (`GET /tools`), which the Worker runs; `none`: no tools.
    #[serde(default)]
    #[schemars(regex(pattern = "^(auto|none)$"))]
    pub tool_choice: Option<String>,
    /// Not supported: the Worker offers the tenant's own tools and runs
    /// them itself. A non-empty list is refused.
    #[serde(default)]
    #[schemars(length(max = 0))]
    pub tools: Option<Vec<serde_json::Value>>,
}

/// Which path the request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `/chat`: streams by default, always ends with a usage chunk.
    Chat,
    /// `/v1/chat/completions`: OpenAI's defaults.
    OpenAi,
}

fn text_of(c: Content) -> Result<String, Failure> {
    match c {
        Content::Text(t) => Ok(t),
        Content::Parts(parts) => {
            if let Some(p) = parts.iter().find(|p| p.kind != "text") {
                return Err(Failure::new(
                    ErrorCode::InvalidRequest,
                    format!("content parts of type `{}` are not supported; send text", p.kind),
                ));
            }
            Ok(parts.into_iter().map(|p| p.text).collect::<Vec<_>>().join("\n"))
        }
    }
}

fn unavailable(what: &str) -> Failure {
    Failure::new(ErrorCode::BindingUnavailable, format!("this deployment lacks the {what}"))
}

fn port_failure(what: &str, e: crate::ports::PortError) -> Failure {
    Failure::new(ErrorCode::Internal, format!("the {what} cannot be reached")).with_log_detail(format!("{what}: {e}"))
}

/// Session ids: 128 random bits, hex.
fn new_session_id(ports: &crate::ports::Ports) -> String {
    let mut b = [0u8; 16];
    ports.random.fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The history budget in characters: what the model's context leaves
/// after the answer and the new messages (≈ 4 characters a token).
fn history_chars(plan: &Plan, context_tokens: u32, new_chars: usize) -> u64 {
    let room = u64::from(context_tokens).saturating_sub(u64::from(plan.max_tokens)) * 4;
    room.saturating_sub(new_chars as u64)
}

/// What the request asked for, checked.
struct Asked {
    session_id: Option<String>,
    messages: Vec<Message>,
    stream: bool,
    include_usage: bool,
    plan: Plan,
    /// `tool_choice: "none"`.
    no_tools: bool,
}

/// Body, safety and plan: everything that refuses without side effects.
async fn asked<R: Incoming>(s: &Scope<'_, R>, flavor: Flavor) -> Result<Asked, Failure> {
    let body: ChatRequest = s.json().await?;
    let cfg = s.ctx.config();
    let mut messages = Vec::with_capacity(body.messages.len());
    for m in body.messages {
        messages.push(Message {
            role: m.role,
            content: text_of(m.content)?,
        });
    }
    let messages = safety::prepare(messages, &cfg.safety)?;
    let plan = plan::for_request(
        cfg,
        "chat",
        body.model.as_deref(),
        body.max_tokens.or(body.max_completion_tokens),
        body.temperature,
    )?;
    Ok(Asked {
        session_id: body.session_id,
        messages,
        stream: body.stream.unwrap_or(flavor == Flavor::Chat),
        include_usage: flavor == Flavor::Chat || body.stream_options.as_ref().is_some_and(|o| o.include_usage),
        plan,
        no_tools: body.tool_choice.as_deref() == Some("none"),
    })
}

/// A continued session's history (nothing is stored); another user's
/// session is simply not found.
async fn history(sessions: &dyn Sessions, object: &StorageKey, id: Option<&str>, chars: u64) -> Result<Vec<Message>, Failure> {
    let Some(id) = id else { return Ok(Vec::new()) };
    let op = SessionOp::History {
        session_id: id.to_string(),
        history_chars: chars,
    };
    match sessions.call(object, &op).await.map_err(|e| port_failure("session store", e))? {
        SessionReply::Begun { history, .. } => Ok(history),
        _ => Err(Failure::new(ErrorCode::SessionNotFound, "no such session")),
    }
}

pub async fn chat<R: Incoming>(s: &Scope<'_, R>, flavor: Flavor) -> Result<Response, Failure> {
    let principal = s
        .principal
        .ok_or_else(|| Failure::new(ErrorCode::Internal, "chat without a principal"))?;
    let cfg = s.ctx.config();
    let a = asked(s, flavor).await?;
    let provider = plan::provider(s.ctx, s.ports)?;
    let sessions = s
        .ports
        .sessions
        .clone()
        .ok_or_else(|| unavailable("`SESSIONS` Durable Object binding"))?;

    let new_chars: usize = a.messages.iter().map(|m| m.content.chars().count()).sum();
    let session_object = s.ctx.key(Space::Session, &[principal.user()]);
    let history = history(
        sessions.as_ref(),
        &session_object,
        a.session_id.as_deref(),
        history_chars(&a.plan, a.plan.context_tokens, new_chars),
    )
    .await?;
    let history_len: usize = history.iter().map(|m| m.content.chars().count()).sum();
    let offer = tools::Offer::for_caller(cfg, principal, a.no_tools);
    // Budget: reserve the most the first turn can use; a tool loop
    // reserves each further turn before it starts.
    let reserved = estimate_tokens(new_chars + history_len) + u64::from(a.plan.max_tokens);
    let budget = limit_and_reserve(s, principal, reserved).await?;
    let loop_budget = budget.clone();

    // The user's message is stored (Begin) while the model is called.
    let session_id = a.session_id.clone().unwrap_or_else(|| new_session_id(s.ports));
    let begin = SessionOp::Begin {
        session_id: a.session_id.clone(),
        new_id: session_id.clone(),
        now_ms: s.ports.clock.now_ms(),
        message: a.messages.last().cloned().expect("checked non-empty"),
        max_messages: cfg.sessions.max_messages,
        retention_ms: cfg.sessions.retention_secs as f64 * 1000.0,
        history_chars: 0,
    };
    // Prompt: system messages, history, then the rest of the request.
    let (system, rest): (Vec<Message>, Vec<Message>) = a.messages.into_iter().partition(|m| m.role == "system");
    let prompt: Vec<Message> = system.into_iter().chain(history).chain(rest).collect();
    let cache = cache_slot(s, &a.plan, &prompt);
    let mut settle = Settle {
        ports: s.ports.clone(),
        log: s.ai_log.clone(),
        sessions: sessions.clone(),
        session_object: session_object.clone(),
        session_id,
        max_messages: cfg.sessions.max_messages,
        budget,
        cache: None,
        tenant: s.ctx.tenant().as_str(),
        env: s.ctx.env().as_str(),
        route: a.plan.route,
        request_id: s.request_id.to_string(),
        started_ms: s.started_ms,
        prompt_chars: prompt.iter().map(|m| m.content.chars().count()).sum(),
        provider: provider.kind(),
        model: a.plan.models.first().copied().unwrap_or(""),
        attempts: 0,
        ttft_ms: 0.0,
        upstream_id: None,
        cache_hit: false,
        stored: None,
        store_failed: false,
    };
    settle.note_start();

    // Answer cache.
    if let Some((kv, key, ttl)) = cache {
        if let Ok(Some(hit)) = kv.get(&key).await {
            if let Ok(c) = serde_json::from_str::<cache::CachedAnswer>(&hit) {
                settle.cache_hit = true;
                began(sessions.call(&session_object, &begin).await, &settle).await?;
                return Ok(reply::cached(s, flavor, a.stream, a.include_usage, c, settle).await);
            }
        }
        settle.cache = Some((kv, key, ttl));
    }

    let meta = CallMeta {
        tenant: s.ctx.tenant().as_str(),
        route: a.plan.route,
        request_id: s.request_id.to_string(),
        traceparent: s.traceparent.to_string(),
        cache_key: settle.cache.as_ref().map_or_else(
            || s.ctx.key(Space::Cache, &["chat", s.request_id]).as_str().to_string(),
            |c| c.1.as_str().to_string(),
        ),
        // A tool loop's turns share the request's key: never from the
        // gateway's cache.
        skip_cache: settle.cache.is_none() || !offer.offered.is_empty(),
        timeout_ms: a.plan.timeout_ms,
    };
    // The user's message is stored (Begin) while the model is called. A
    // JSON answer waits for both; a stream starts with the first token and
    // ends only once the message is stored (its end waits for Begin).
    let store: crate::ports::LocalFuture<'static, _> = {
        let (store, object, op) = (sessions.clone(), session_object.clone(), begin.clone());
        Box::pin(async move { store.call(&object, &op).await })
    };
    let start = Box::pin(engine::start(
        provider.as_ref(),
        &a.plan,
        &prompt,
        &offer.functions,
        &[],
        &meta,
        s.ports.timer.as_ref(),
        s.ports.clock.as_ref(),
    ));
    let started = match futures_util::future::select(store, start).await {
        futures_util::future::Either::Left((stored, start)) => {
            // Stored first (or failed: the model call is dropped, which
            // cancels it, before anything is sent).
            began(stored, &settle).await?;
            start.await
        }
        futures_util::future::Either::Right((started, store)) => {
            if a.stream {
                settle.stored = Some(store);
            } else {
                began(store.await, &settle).await?;
            }
            started
        }
    };
    let started = match started {
        Ok(st) if !offer.offered.is_empty() => {
            let lp = tools::Loop {
                provider: provider.clone(),
                plan: a.plan.clone(),
                meta: meta.clone(),
                prompt: prompt.clone(),
                offer,
                steps: cfg.ai.tool_steps,
                ports: s.ports.clone(),
                ctx: *s.ctx,
                principal: principal.clone(),
                ids: (s.request_id.to_string(), s.traceparent.to_string()),
                budget: loop_budget,
            };
            Ok(tools::wrap(st, lp))
        }
        other => other,
    };
    answer(s, flavor, (a.stream, a.include_usage), started, settle).await
}

/// Check what `Begin` answered; on failure, give the reservation back.
async fn began(r: Result<SessionReply, crate::ports::PortError>, settle: &Settle) -> Result<(), Failure> {
    let f = match r {
        Ok(SessionReply::Begun { .. }) => return Ok(()),
        Ok(_) => Failure::new(ErrorCode::SessionNotFound, "no such session"),
        Err(e) => port_failure("session store", e),
    };
    if let Some(b) = &settle.budget {
        b.release(0).await;
    }
    Err(f)
}

/// The answer of a model that started, or the envelope of one that did not.
async fn answer<R: Incoming>(
    s: &Scope<'_, R>,
    flavor: Flavor,
    (stream, include_usage): (bool, bool),
    started: Result<engine::Started, engine::Exhausted>,
    mut settle: Settle,
) -> Result<Response, Failure> {
    match started {
        Err(ex) => {
            settle.model = ex.model;
            settle.attempts = ex.attempts;
            // The log line (and the data point) name the model last tried
            // and every attempt; there was no first token.
            settle.note_start();
            log_fields(&settle.log, |l| l.ttft_ms = None);
            let f = ex.failure();
            settle.finish(Answer::failed(f.code.code())).await;
            Err(f)
        }
        Ok(st) => {
            settle.model = st.model;
            settle.attempts = st.attempts;
            settle.ttft_ms = st.ttft_ms;
            settle.upstream_id = st.upstream_id.clone();
            settle.note_start();
            if stream {
                Ok(reply::stream(s, flavor, include_usage, st, settle))
            } else {
                reply::whole(s, st, settle).await
            }
        }
    }
}

/// A granted reservation, to settle later.
#[derive(Clone)]
pub struct Reservation {
    pub budget: Rc<dyn Budget>,
    pub object: StorageKey,
    pub day: u32,
    pub user: String,
    /// Tokens reserved so far (a tool loop reserves more per turn).
    pub reserved: Rc<std::cell::Cell<u64>>,
    pub tenant_limit: Option<u64>,
    pub user_limit: Option<u64>,
}

impl Reservation {
    /// Replace the reservation with the tokens actually used.
    pub async fn release(&self, actual: u64) {
        let op = BudgetOp::Settle {
            day: self.day,
            user: self.user.clone(),
            reserved: self.reserved.get(),
            actual,
        };
        // A failed settlement leaves the reservation charged: the budget
        // errs on the side of refusing, never of overspending.
        let _ = self.budget.call(&self.object, &op).await;
    }

    /// Reserve `amount` more (another model turn); false when the budget
    /// (or the object) refuses.
    pub async fn extend(&self, amount: u64) -> bool {
        let op = BudgetOp::Reserve {
            day: self.day,
            amount,
            tenant_limit: self.tenant_limit,
            user: self.user.clone(),
            user_limit: self.user_limit,
        };
        match self.budget.call(&self.object, &op).await {
            Ok(crate::objects::budget::BudgetReply { allowed: true, .. }) => {
                self.reserved.set(self.reserved.get() + amount);
                true
            }
            _ => false,
        }
    }
}

/// Charge the rate limit and reserve the budget in one round trip to the
/// tenant's `RATE_LIMITER` object (the limit alone when the tenant has no
/// budget); the reservation to settle later.
pub(crate) async fn limit_and_reserve<R: Incoming>(
    s: &Scope<'_, R>,
    principal: &crate::auth::Principal,
    amount: u64,
) -> Result<Option<Reservation>, Failure> {
    let ai = &s.ctx.config().ai;
    let user = principal.user();
    let object = s.ctx.key(Space::RateLimit, &[]);
    let (day, reset_ms) = day_of(s.ports.clock.now_ms());
    let op = (ai.tokens_per_day.is_some() || ai.user_tokens_per_day.is_some()).then(|| BudgetOp::Reserve {
        day,
        amount,
        tenant_limit: ai.tokens_per_day,
        user: user.to_string(),
        user_limit: ai.user_tokens_per_day,
    });
    let ip = s.req.header(crate::http::Header::CfConnectingIp);
    let (headers, reply) = crate::limits::check_with(s.ctx, principal, ip.as_deref(), s.ports, op).await?;
    *s.limit_headers.borrow_mut() = headers;
    let Some(r) = reply else { return Ok(None) };
    let budget = s
        .ports
        .budget
        .clone()
        .ok_or_else(|| unavailable("`RATE_LIMITER` Durable Object binding (token budgets)"))?;
    if !r.allowed {
        let retry = ((reset_ms - s.ports.clock.now_ms()) / 1000.0).ceil().max(1.0) as u64;
        let whose = if r.exhausted.as_deref() == Some("user") {
            "your"
        } else {
            "this tenant's"
        };
        return Err(Failure::new(
            ErrorCode::BudgetExhausted,
            format!("{whose} daily token budget is used up; it resets at 00:00 UTC"),
        )
        .with_header("retry-after", retry.to_string())
        .with_header("x-budget-reset", format!("{}", (reset_ms / 1000.0) as u64))
        .with_log_detail(format!(
            "{} budget: {amount} tokens asked, {} used",
            r.exhausted.unwrap_or_default(),
            r.tenant_used
        )));
    }
    Ok(Some(Reservation {
        budget,
        object,
        day,
        user: user.to_string(),
        reserved: Rc::new(std::cell::Cell::new(amount)),
        tenant_limit: ai.tokens_per_day,
        user_limit: ai.user_tokens_per_day,
    }))
}

/// The KV slot for this prompt, when the tenant caches chat answers.
fn cache_slot<R: Incoming>(s: &Scope<'_, R>, plan: &Plan, prompt: &[Message]) -> Option<(Rc<dyn Kv>, StorageKey, u32)> {
    let ttl = s.ctx.config().cache.chat_ttl;
    if ttl == 0 {
        return None;
    }
    let kv = s.ports.kv("CACHE")?.clone();
    let hash = cache::prompt_hash(&plan.models, plan.max_tokens, plan.temperature, prompt);
    Some((kv, cache::key(s.ctx, &hash), ttl.max(cache::MIN_TTL_SECS)))
}

/// Fill the log's AI fields.
pub(crate) fn log_fields(log: &std::cell::RefCell<Option<AiLog>>, f: impl FnOnce(&mut AiLog)) {
    f(log.borrow_mut().get_or_insert_with(AiLog::default));
}
