//! Answers going out, and the settlement when they end.
//!
//! A streamed answer is OpenAI `chat.completion.chunk`s over SSE: the
//! role, each delta as it arrives, the finish reason, the usage chunk
//! (always on `/chat`; on `/v1/chat/completions` when
//! `stream_options.include_usage` asks), `[DONE]`. A failure after the
//! first chunk is one `data: {"error": …}` event and the end of the
//! stream (the OpenAI SDKs raise on it). A client that leaves drops the
//! stream: the upstream request is cancelled with it and the answer so far
//! is settled in the background as `interrupted`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use futures_util::{FutureExt, StreamExt};
use serde::Serialize;

use super::cache::CachedAnswer;
use super::engine::Started;
use super::{log_fields, Flavor, Reservation};
use crate::ai::wire::{ChunkWriter, OutUsage};
use crate::ai::{estimate_tokens, AiError, ChatEvent, EventStream, Usage};
use crate::app::envelope::{ErrorCode, Failure, JSON};
use crate::app::log::AiLog;
use crate::app::Scope;
use crate::http::{sse, Body, Incoming, Response};
use crate::objects::sessions::SessionOp;
use crate::ports::{Kv, Ports, Sessions};
use crate::tenancy::keys::StorageKey;

/// How an answer ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub text: String,
    pub usage: Option<Usage>,
    pub finish_reason: String,
    /// `complete`, `interrupted` or `failed`.
    pub status: &'static str,
    /// The error code, when it failed.
    pub error: Option<&'static str>,
}

impl Answer {
    pub fn failed(code: &'static str) -> Answer {
        Answer {
            text: String::new(),
            usage: None,
            finish_reason: "error".into(),
            status: "failed",
            error: Some(code),
        }
    }
}

/// Everything that must happen once when an answer ends.
pub struct Settle {
    pub ports: Ports,
    pub log: Rc<RefCell<Option<AiLog>>>,
    pub sessions: Rc<dyn Sessions>,
    pub session_object: StorageKey,
    pub session_id: String,
    pub max_messages: u32,
    pub budget: Option<Reservation>,
    pub cache: Option<(Rc<dyn Kv>, StorageKey, u32)>,
    pub tenant: &'static str,
    pub env: &'static str,
    pub route: &'static str,
    pub request_id: String,
    pub started_ms: f64,
    pub prompt_chars: usize,
    pub provider: &'static str,
    pub model: &'static str,
    pub attempts: u32,
    pub ttft_ms: f64,
    pub upstream_id: Option<String>,
    pub cache_hit: bool,
    /// The store of the user's message (`Begin`), when the answer started
    /// streaming before it completed; awaited before the answer ends.
    pub stored: Option<crate::ports::LocalFuture<'static, Result<crate::objects::sessions::SessionReply, crate::ports::PortError>>>,
    /// `Begin` failed: there is no session message to answer.
    pub store_failed: bool,
}

impl Settle {
    /// Put what is known so far in the log line.
    pub fn note_start(&self) {
        log_fields(&self.log, |l| {
            l.model = Some(self.model.to_string());
            l.provider = Some(self.provider);
            l.session = Some(self.session_id.clone());
            l.attempts = Some(self.attempts);
            l.ttft_ms = Some(self.ttft_ms.round() as u64);
            l.upstream_id = self.upstream_id.clone();
            l.cache = Some(if self.cache_hit {
                "hit"
            } else if self.cache.is_some() {
                "miss"
            } else {
                "off"
            });
        });
    }

    /// The usage to charge: the provider's, else an estimate; nothing for
    /// a cached answer.
    fn usage(&self, a: &Answer) -> Usage {
        if self.cache_hit {
            return Usage::default();
        }
        a.usage.unwrap_or(Usage {
            prompt_tokens: if a.status == "failed" && a.text.is_empty() {
                0
            } else {
                estimate_tokens(self.prompt_chars)
            },
            completion_tokens: estimate_tokens(a.text.chars().count()),
        })
    }

    /// Session, budget, cache and log fields — in that order.
    /// The answer's fields in the log line (written synchronously, also
    /// when the rest of the settlement runs in the background).
    pub fn note_end(&self, a: &Answer) {
        let used = self.usage(a);
        log_fields(&self.log, |l| {
            l.tokens_in = Some(used.prompt_tokens);
            l.tokens_out = Some(used.completion_tokens);
            l.answer = Some(a.status);
            l.finish_reason = Some(a.finish_reason.clone());
        });
    }

    /// Wait for the user's message to be stored, if that is still pending.
    pub async fn confirm_stored(&mut self) -> Result<(), Failure> {
        let Some(f) = self.stored.take() else { return Ok(()) };
        match f.await {
            Ok(crate::objects::sessions::SessionReply::Begun { .. }) => Ok(()),
            other => {
                self.store_failed = true;
                Err(match other {
                    Ok(_) => Failure::new(ErrorCode::SessionNotFound, "no such session"),
                    Err(e) => Failure::new(ErrorCode::Internal, "the session store cannot be reached")
                        .with_log_detail(format!("session store: {e}")),
                })
            }
        }
    }

    pub async fn finish(mut self, a: Answer) {
        let _ = self.confirm_stored().await;
        let used = self.usage(&a);
        self.note_end(&a);
        let now = self.ports.clock.now_ms();
        let op = SessionOp::Finish {
            session_id: self.session_id.clone(),
            now_ms: now,
            content: a.text.clone(),
            status: a.status.to_string(),
            model: Some(self.model.to_string()),
            max_messages: self.max_messages,
        };
        if self.store_failed {
            self.ports.log.line(
                &serde_json::json!({"level": "error", "msg": "answer not stored: the user's message could not be", "request_id": self.request_id})
                    .to_string(),
            );
        } else if let Err(e) = self.sessions.call(&self.session_object, &op).await {
            self.ports.log.line(
                &serde_json::json!({"level": "error", "msg": "session store failed", "request_id": self.request_id, "detail": e.0})
                    .to_string(),
            );
        }
        if let Some(b) = &self.budget {
            b.release(used.total()).await;
        }
        if let (Some((kv, key, ttl)), "complete") = (&self.cache, a.status) {
            let v = CachedAnswer {
                model: self.model.to_string(),
                content: a.text.clone(),
                finish_reason: a.finish_reason.clone(),
                usage: a.usage.unwrap_or(used),
            };
            if let Ok(json) = serde_json::to_string(&v) {
                let _ = kv.put_expiring(key, &json, *ttl).await;
            }
        }
    }
}

fn writer<R: Incoming>(s: &Scope<'_, R>, model: &str) -> ChunkWriter {
    ChunkWriter {
        id: format!("chatcmpl-{}", s.request_id),
        created: (s.ports.clock.now_ms() / 1000.0) as u64,
        model: model.to_string(),
    }
}

fn headers(session_id: &str, model: &str, cache: &Option<AiLog>, stream: bool) -> Vec<(&'static str, String)> {
    let mut h = vec![
        ("content-type", if stream { sse::CONTENT_TYPE } else { JSON }.to_string()),
        ("x-session-id", session_id.to_string()),
        ("x-model", model.to_string()),
    ];
    if let Some(c) = cache.as_ref().and_then(|l| l.cache).filter(|c| *c != "off") {
        h.push(("x-cache", c.to_string()));
    }
    if stream {
        h.push(("x-accel-buffering", "no".into()));
    }
    h
}

/// The state of a streamed answer.
struct Out {
    writer: ChunkWriter,
    pending: VecDeque<Vec<u8>>,
    rest: EventStream,
    include_usage: bool,
    text: String,
    usage: Option<Usage>,
    finish: Option<String>,
    /// Taken when the answer is settled; still here on drop = interrupted.
    settle: Option<Settle>,
    /// After the pending chunks: end (`None`) or fail (`Some(detail)`).
    end: Option<Option<String>>,
    request_id: String,
    /// The next tool call's index in the stream.
    tool_index: u32,
}

impl Out {
    fn take(&mut self, ev: ChatEvent) {
        match ev {
            ChatEvent::Delta(t) => {
                self.pending.push_back(self.writer.delta(&t));
                self.text.push_str(&t);
            }
            ChatEvent::Usage(u) => self.usage = Some(u),
            ChatEvent::Finish(r) => self.finish = Some(r),
            // Pieces of calls are the tool loop's (`super::tools`).
            ChatEvent::ToolCall(_) => {}
            ChatEvent::ToolsRan(runs) => {
                self.pending.push_back(self.writer.tool_calls(&runs, self.tool_index));
                self.tool_index += runs.len() as u32;
                // An answer that used tools is not cached.
                if let Some(s) = self.settle.as_mut() {
                    s.cache = None;
                }
            }
        }
    }

    fn answer(&mut self, status: &'static str, error: Option<&'static str>) -> Answer {
        Answer {
            text: std::mem::take(&mut self.text),
            usage: self.usage,
            finish_reason: self
                .finish
                .clone()
                .unwrap_or_else(|| if status == "complete" { "stop" } else { "error" }.into()),
            status,
            error,
        }
    }

    async fn complete(&mut self) {
        // The answer ends only once the question is stored.
        if let Some(s) = self.settle.as_mut() {
            if let Err(f) = s.confirm_stored().await {
                let a = self.answer("failed", Some(f.code.code()));
                if let Some(s) = self.settle.take() {
                    s.finish(a).await;
                }
                self.pending
                    .push_back(ChunkWriter::error(f.code.code(), &f.message, &self.request_id));
                self.end = Some(Some(format!("session store: {}", f.log_detail.unwrap_or(f.message))));
                return;
            }
        }
        let reason = self.finish.clone().unwrap_or_else(|| "stop".into());
        let a = self.answer("complete", None);
        let usage = a
            .usage
            .unwrap_or_else(|| self.settle.as_ref().map(|s| s.usage(&a)).unwrap_or_default());
        if let Some(s) = self.settle.take() {
            s.finish(a).await;
        }
        self.pending.push_back(self.writer.finish(&reason));
        if self.include_usage {
            self.pending.push_back(self.writer.usage(usage));
        }
        self.pending.push_back(ChunkWriter::done());
        self.end = Some(None);
    }

    async fn fail(&mut self, e: AiError) {
        let code = match e {
            AiError::Timeout => ErrorCode::UpstreamTimeout,
            _ => ErrorCode::UpstreamError,
        };
        let a = self.answer("failed", Some(code.code()));
        if let Some(s) = self.settle.take() {
            s.finish(a).await;
        }
        self.pending.push_back(ChunkWriter::error(
            code.code(),
            "the model failed while answering; the answer is incomplete",
            &self.request_id,
        ));
        self.end = Some(Some(format!("mid-stream: {e}")));
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        if let Some(s) = self.settle.take() {
            let a = self.answer("interrupted", None);
            s.note_end(&a);
            let bg = s.ports.background.clone();
            bg.spawn(Box::pin(s.finish(a)));
        }
    }
}

/// A streamed answer.
pub fn stream<R: Incoming>(s: &Scope<'_, R>, _flavor: Flavor, include_usage: bool, st: Started, settle: Settle) -> Response {
    let mut out = Out {
        writer: writer(s, st.model),
        pending: VecDeque::new(),
        rest: st.rest,
        include_usage,
        text: String::new(),
        usage: None,
        finish: None,
        settle: Some(settle),
        end: None,
        request_id: s.request_id.to_string(),
        tool_index: 0,
    };
    out.pending.push_back(out.writer.role());
    for ev in st.first {
        out.take(ev);
    }
    let ended = st.ended;
    let session_id = out.settle.as_ref().map(|x| x.session_id.clone()).unwrap_or_default();
    let body = futures_util::stream::unfold((out, ended), |(mut out, mut ended)| async move {
        loop {
            if let Some(mut chunk) = out.pending.pop_front() {
                // Everything ready goes out as one chunk.
                while let Some(more) = out.pending.pop_front() {
                    chunk.extend(more);
                }
                return Some((Ok(chunk), (out, ended)));
            }
            match out.end.take() {
                Some(None) => return None,
                Some(Some(detail)) => {
                    out.end = Some(None);
                    return Some((Err(detail), (out, ended)));
                }
                None => {}
            }
            if ended {
                out.complete().await;
                continue;
            }
            match out.rest.next().await {
                Some(Ok(ev)) => {
                    out.take(ev);
                    // And whatever else the upstream has already delivered.
                    loop {
                        match out.rest.next().now_or_never() {
                            Some(Some(Ok(ev))) => out.take(ev),
                            Some(Some(Err(e))) => {
                                out.fail(e).await;
                                break;
                            }
                            Some(None) => {
                                ended = true;
                                break;
                            }
                            None => break,
                        }
                    }
                }
                Some(Err(e)) => out.fail(e).await,
                None => ended = true,
            }
        }
    });
    let log = s.ai_log.borrow().clone();
    Response {
        status: 200,
        headers: headers(&session_id, st.model, &log, true),
        body: Body::Stream(Box::pin(body)),
    }
}

/// `chat.completion` as documented (the OpenAPI document's schema).
#[derive(Serialize, schemars::JsonSchema)]
pub struct CompletionDoc {
    pub id: String,
    /// `chat.completion`
    pub object: String,
    pub created: u64,
    /// The model that answered.
    pub model: String,
    pub choices: Vec<ChoiceDoc>,
    pub usage: OutUsage,
    pub session_id: String,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct ChoiceDoc {
    pub index: u32,
    pub message: crate::ai::Message,
    /// `stop`, `length`, …
    pub finish_reason: String,
}

/// `chat.completion` (non-streamed).
#[derive(Serialize)]
struct Completion<'a> {
    id: String,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: OutUsage,
    session_id: &'a str,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: crate::ai::Message,
    finish_reason: &'a str,
}

fn completion<R: Incoming>(s: &Scope<'_, R>, model: &str, session_id: &str, a: &Answer, usage: Usage) -> Response {
    let w = writer(s, model);
    let c = Completion {
        id: w.id,
        object: "chat.completion",
        created: w.created,
        model,
        choices: [Choice {
            index: 0,
            message: crate::ai::Message {
                role: "assistant".into(),
                content: a.text.clone(),
            },
            finish_reason: &a.finish_reason,
        }],
        usage: usage.into(),
        session_id,
    };
    let log = s.ai_log.borrow().clone();
    Response::new(
        200,
        headers(session_id, model, &log, false),
        serde_json::to_vec(&c).unwrap_or_default(),
    )
}

/// Read the whole answer, then answer once.
pub async fn whole<R: Incoming>(s: &Scope<'_, R>, st: Started, mut settle: Settle) -> Result<Response, Failure> {
    let mut text = String::new();
    let mut usage = None;
    let mut finish = None;
    let mut events: Vec<Result<ChatEvent, AiError>> = st.first.into_iter().map(Ok).collect();
    let mut rest = st.rest;
    let mut ended = st.ended;
    let mut failure = None;
    loop {
        for ev in events.drain(..) {
            match ev {
                Ok(ChatEvent::Delta(t)) => text.push_str(&t),
                Ok(ChatEvent::Usage(u)) => usage = Some(u),
                Ok(ChatEvent::Finish(r)) => finish = Some(r),
                Ok(ChatEvent::ToolCall(_)) => {}
                // An answer that used tools is not cached.
                Ok(ChatEvent::ToolsRan(_)) => settle.cache = None,
                Err(e) => failure = Some(e),
            }
        }
        if ended || failure.is_some() {
            break;
        }
        match rest.next().await {
            Some(ev) => events.push(ev),
            None => ended = true,
        }
    }
    let session_id = settle.session_id.clone();
    let model = settle.model;
    if let Some(e) = failure {
        let code = if e == AiError::Timeout {
            ErrorCode::UpstreamTimeout
        } else {
            ErrorCode::UpstreamError
        };
        settle
            .finish(Answer {
                text,
                usage,
                finish_reason: "error".into(),
                status: "failed",
                error: Some(code.code()),
            })
            .await;
        return Err(Failure::new(code, "the model failed while answering").with_log_detail(e.to_string()));
    }
    let a = Answer {
        text,
        usage,
        finish_reason: finish.unwrap_or_else(|| "stop".into()),
        status: "complete",
        error: None,
    };
    let charged = settle.usage(&a);
    settle.finish(a.clone()).await;
    Ok(completion(s, model, &session_id, &a, a.usage.unwrap_or(charged)))
}

/// An answer from the cache, in the same wire format.
pub async fn cached<R: Incoming>(
    s: &Scope<'_, R>,
    flavor: Flavor,
    stream_it: bool,
    include_usage: bool,
    c: CachedAnswer,
    mut settle: Settle,
) -> Response {
    settle.model = crate::ai::plan::allowed_models(s.ctx.config())
        .into_iter()
        .find(|m| *m == c.model)
        .unwrap_or(settle.model);
    settle.note_start();
    let st = Started {
        model: settle.model,
        first: vec![
            ChatEvent::Delta(c.content.clone()),
            ChatEvent::Finish(c.finish_reason.clone()),
            ChatEvent::Usage(c.usage),
        ],
        rest: Box::pin(futures_util::stream::empty()),
        ended: true,
        upstream_id: None,
        cache_status: None,
        attempts: 0,
        ttft_ms: 0.0,
    };
    if stream_it {
        stream(s, flavor, include_usage, st, settle)
    } else {
        match whole(s, st, settle).await {
            Ok(r) => r,
            Err(f) => crate::app::envelope::error_response(&f, s.request_id),
        }
    }
}
