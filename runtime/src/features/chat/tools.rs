//! Tool calling inside `/chat`: the caller's permitted tools are offered
//! to the model as functions; each model turn that ends in tool calls is
//! answered by running them through the one dispatcher
//! ([`crate::tools::dispatch`], with the caller's principal and
//! `Via::Model`) and calling the model again with the results, at most the
//! tenant's `ai tool-steps` times. The last turn is offered no tools, so
//! the model must answer.
//!
//! The whole exchange is one event stream: text deltas pass through as
//! they arrive (streaming stays real), the pieces of each call are joined
//! per index, a [`ChatEvent::ToolsRan`] tells the reply which calls ran,
//! and only the final turn's finish reason and the usage of every turn
//! (plus the tools' own model calls) reach the reply.
//!
//! Invariants: a call names a tool and arguments only; whether it runs is
//! the dispatcher's decision (enabled, offered in this request, allowed
//! for the caller's roles, arguments valid) and every call — run or
//! refused — is audited there. A refused or failed call is reported to the
//! model as an error result, never executed. Nothing the model reads (user
//! text, documents, tool results) is ever interpreted here.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use futures_util::StreamExt;
use serde_json::{json, Value};

use super::engine::{self, Started};
use crate::ai::plan::Plan;
use crate::ai::{estimate_tokens, AiError, CallMeta, ChatEvent, ChatModel, EventStream, Message, ToolCallDelta, ToolRun, Usage};
use crate::app::envelope::{ErrorCode, Failure};
use crate::auth::Principal;
use crate::ports::Ports;
use crate::tenancy::resolve::TenantCtx;
use crate::tools::dispatch::{Dispatcher, Via};

/// Longest tool result handed back to the model, in characters.
pub const MAX_RESULT_CHARS: usize = 16_000;

/// Calls per model turn at most (more are refused unrun).
pub const MAX_CALLS_PER_TURN: usize = 8;

/// The functions offered to the model (OpenAI shape) and their names.
pub struct Offer {
    pub functions: Vec<Value>,
    pub offered: Vec<&'static str>,
}

impl Offer {
    /// The tools the caller's roles allow (none with `tool_choice: "none"`).
    pub fn for_caller(cfg: &'static crate::tenants::TenantConfig, principal: &Principal, none: bool) -> Offer {
        let permitted = if none {
            Vec::new()
        } else {
            crate::tools::permitted(cfg, principal)
        };
        Offer {
            functions: permitted.iter().map(|(_, spec)| crate::tools::function(spec)).collect(),
            offered: permitted.iter().map(|(_, spec)| spec.name).collect(),
        }
    }
}

/// What the loop needs after the first turn started.
pub struct Loop {
    pub provider: Rc<dyn ChatModel>,
    pub plan: Plan,
    pub meta: CallMeta,
    pub prompt: Vec<Message>,
    pub offer: Offer,
    /// Model turns that may call tools (the tenant's `ai tool-steps`); the
    /// turn after the last is offered none.
    pub steps: u32,
    pub ports: Ports,
    pub ctx: TenantCtx,
    pub principal: Principal,
    /// The request id and `traceparent`.
    pub ids: (String, String),
    /// The request's budget reservation: each further turn reserves its
    /// share before it starts.
    pub budget: Option<super::Reservation>,
}

/// A call being assembled from its pieces.
#[derive(Debug, Default, Clone)]
struct Acc {
    name: String,
    arguments: String,
}

struct State {
    lp: Loop,
    cur: EventStream,
    calls: BTreeMap<u32, Acc>,
    /// Calls given whole (Workers AI), numbered after the pieces.
    next_whole: u32,
    text_chars: usize,
    step_usage: Option<Usage>,
    /// Usage of the finished turns and of the tools' own model calls.
    total: Rc<RefCell<Usage>>,
    finish: Option<String>,
    turns: Vec<Value>,
    /// The turn now answering was offered tools.
    offering: bool,
    step: u32,
    pending: VecDeque<Result<ChatEvent, AiError>>,
    done: bool,
}

/// The first turn's answer, continued through the tool loop.
pub fn wrap(first: Started, lp: Loop) -> Started {
    let head: EventStream = Box::pin(futures_util::stream::iter(first.first.into_iter().map(Ok)));
    let cur: EventStream = if first.ended { head } else { Box::pin(head.chain(first.rest)) };
    let st = State {
        offering: true,
        lp,
        cur,
        calls: BTreeMap::new(),
        next_whole: 0,
        text_chars: 0,
        step_usage: None,
        total: Rc::new(RefCell::new(Usage::default())),
        finish: None,
        turns: Vec::new(),
        step: 0,
        pending: VecDeque::new(),
        done: false,
    };
    let rest = futures_util::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(e) = st.pending.pop_front() {
                return Some((e, st));
            }
            if st.done {
                return None;
            }
            match st.cur.next().await {
                Some(Ok(ChatEvent::Delta(t))) => {
                    st.text_chars += t.chars().count();
                    return Some((Ok(ChatEvent::Delta(t)), st));
                }
                Some(Ok(ChatEvent::ToolCall(d))) => st.piece(d),
                Some(Ok(ChatEvent::Usage(u))) => st.step_usage = Some(u),
                Some(Ok(ChatEvent::Finish(r))) => st.finish = Some(r),
                Some(Ok(ChatEvent::ToolsRan(_))) => {}
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                None => st.turn_ended().await,
            }
        }
    });
    Started {
        first: Vec::new(),
        rest: Box::pin(rest),
        ended: false,
        ..first
    }
}

impl State {
    fn piece(&mut self, d: ToolCallDelta) {
        let index = if d.whole {
            self.next_whole += 1;
            1_000_000 + self.next_whole
        } else {
            d.index
        };
        let acc = self.calls.entry(index).or_default();
        if let Some(n) = d.name {
            acc.name.push_str(&n);
        }
        acc.arguments.push_str(&d.arguments);
    }

    /// A turn ended: answer its calls and start the next turn, or end.
    async fn turn_ended(&mut self) {
        let u = self.step_usage.take().unwrap_or(Usage {
            prompt_tokens: estimate_tokens(self.lp.prompt.iter().map(|m| m.content.chars().count()).sum()),
            completion_tokens: estimate_tokens(self.text_chars),
        });
        {
            let mut t = self.total.borrow_mut();
            t.prompt_tokens += u.prompt_tokens;
            t.completion_tokens += u.completion_tokens;
        }
        self.text_chars = 0;
        let calls: Vec<Acc> = std::mem::take(&mut self.calls).into_values().collect();
        if calls.is_empty() {
            self.pending
                .push_back(Ok(ChatEvent::Finish(self.finish.take().unwrap_or_else(|| "stop".into()))));
            self.pending.push_back(Ok(ChatEvent::Usage(*self.total.borrow())));
            self.done = true;
            return;
        }
        self.finish = None;
        let runs = self.run(calls).await;
        self.pending.push_back(Ok(ChatEvent::ToolsRan(runs)));
        if self.step >= self.lp.steps {
            // Tools were not offered on this turn: the calls were refused
            // (and audited); the answer ends here.
            self.pending.push_back(Ok(ChatEvent::Finish("stop".into())));
            self.pending.push_back(Ok(ChatEvent::Usage(*self.total.borrow())));
            self.done = true;
            return;
        }
        // The next turn's tokens, reserved before it starts; a budget that
        // cannot cover it ends the answer here (finish_reason `length`).
        if let Some(b) = &self.lp.budget {
            let chars: usize = self.lp.prompt.iter().map(|m| m.content.chars().count()).sum::<usize>()
                + self.turns.iter().map(|t| t.to_string().chars().count()).sum::<usize>();
            if !b.extend(estimate_tokens(chars) + u64::from(self.lp.plan.max_tokens)).await {
                self.pending.push_back(Ok(ChatEvent::Finish("length".into())));
                self.pending.push_back(Ok(ChatEvent::Usage(*self.total.borrow())));
                self.done = true;
                return;
            }
        }
        self.step += 1;
        self.offering = self.step < self.lp.steps;
        let functions: &[Value] = if self.offering { &self.lp.offer.functions } else { &[] };
        let started = engine::start(
            self.lp.provider.as_ref(),
            &self.lp.plan,
            &self.lp.prompt,
            functions,
            &self.turns,
            &self.lp.meta,
            self.lp.ports.timer.as_ref(),
            self.lp.ports.clock.as_ref(),
        )
        .await;
        match started {
            Ok(st) => {
                let head: EventStream = Box::pin(futures_util::stream::iter(st.first.into_iter().map(Ok)));
                self.cur = if st.ended { head } else { Box::pin(head.chain(st.rest)) };
            }
            Err(ex) => {
                self.pending.push_back(Err(ex.error));
                self.done = true;
            }
        }
    }

    /// Run (or refuse) each call through the dispatcher; record the
    /// assistant turn and the results for the next model call.
    async fn run(&mut self, calls: Vec<Acc>) -> Vec<ToolRun> {
        let offered: &[&'static str] = if self.offering { &self.lp.offer.offered } else { &[] };
        let d = Dispatcher {
            ctx: &self.lp.ctx,
            ports: &self.lp.ports,
            principal: &self.lp.principal,
            request_id: &self.lp.ids.0,
            traceparent: &self.lp.ids.1,
            used: self.total.clone(),
        };
        let mut runs = Vec::new();
        let mut results = Vec::new();
        for (i, c) in calls.into_iter().enumerate() {
            let id = call_id(&self.lp.ids.0, self.step, i);
            let args: Value = if c.arguments.trim().is_empty() {
                json!({})
            } else {
                // Arguments that are not JSON fail the schema (an object).
                serde_json::from_str(&c.arguments).unwrap_or(Value::String(c.arguments.clone()))
            };
            let via = Via::Model { offered };
            let done = if i >= MAX_CALLS_PER_TURN {
                let f = Failure::new(
                    ErrorCode::ToolForbidden,
                    format!("at most {MAX_CALLS_PER_TURN} tool calls per turn; this one was not run"),
                );
                d.refuse(&c.name, args, via, f).await
            } else {
                d.call(&c.name, args, via).await
            };
            let error = match done.result {
                Ok(v) => {
                    results.push((id.clone(), c.name.clone(), json!({"ok": true, "result": v})));
                    None
                }
                Err(f) => {
                    if let Some(detail) = &f.log_detail {
                        self.lp.ports.log.line(
                            &json!({"level": "warn", "msg": "tool call from the model failed", "request_id": self.lp.ids.0, "tool": crate::tools::dispatch::shown(&c.name), "code": f.code.code(), "detail": detail})
                                .to_string(),
                        );
                    }
                    Some((f.code.code().to_string(), f.message))
                }
            };
            if let Some((code, message)) = &error {
                results.push((
                    id.clone(),
                    c.name.clone(),
                    json!({"ok": false, "error": {"code": code, "message": message}}),
                ));
            }
            runs.push(ToolRun {
                id,
                name: crate::tools::dispatch::shown(&c.name),
                arguments: c.arguments.chars().take(MAX_RESULT_CHARS).collect(),
                error: error.map(|e| e.0),
            });
        }
        self.turns.push(json!({
            "role": "assistant",
            "content": "",
            "tool_calls": runs.iter().map(|r| json!({"id": r.id, "type": "function", "function": {"name": r.name, "arguments": r.arguments}})).collect::<Vec<_>>(),
        }));
        for (id, name, content) in results {
            let mut text = content.to_string();
            if text.chars().count() > MAX_RESULT_CHARS {
                text = json!({"ok": false, "error": {"code": "result_too_long", "message": format!("the result is longer than {MAX_RESULT_CHARS} characters")}}).to_string();
            }
            self.turns
                .push(json!({"role": "tool", "tool_call_id": id, "name": crate::tools::dispatch::shown(&name), "content": text}));
        }
        runs
    }
}

/// A call's id: 9 lowercase alphanumerics (Workers AI requires that
/// shape), from the request id, the turn and the position.
pub fn call_id(request_id: &str, step: u32, i: usize) -> String {
    let h = crate::objects::audit::sha256_hex(format!("{request_id}/{step}/{i}").as_bytes());
    let mut n = u64::from_str_radix(&h[..15], 16).unwrap_or(0);
    let mut out = String::new();
    for _ in 0..9 {
        let d = (n % 36) as u32;
        out.push(char::from_digit(d, 36).unwrap_or('0'));
        n /= 36;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::call_id;

    #[test]
    fn call_ids_are_nine_alphanumerics_and_distinct() {
        let a = call_id("req-1", 0, 0);
        assert_eq!(a.len(), 9);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, call_id("req-1", 0, 1));
        assert_ne!(a, call_id("req-1", 1, 0));
        assert_eq!(a, call_id("req-1", 0, 0));
    }
}
