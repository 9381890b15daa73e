//! The dispatcher: the one way a tool runs, for direct calls and for a
//! model's calls alike.
//!
//! Order: audit log present → the tool enabled for the tenant and
//! implemented (else `tool_not_found`, the same for a tool that does not
//! exist) → for a model's call, offered to the model in this request (else
//! `tool_forbidden`, "not offered") → the caller's roles (else `tool_forbidden`) → the
//! arguments against the tool's schema (else `invalid_request` with JSON
//! pointers) → the tool, within its timeout (else `tool_timeout`) → its
//! result against its output schema (else `tool_failed`) → one audit
//! record, awaited, for every outcome → the answer.
//!
//! Nothing here reads the text of a conversation: which tool runs is
//! decided by the name and the caller's principal only, so no prompt can
//! widen what a caller may do.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::future::{select, Either};
use serde_json::Value;

use super::{allowed, canonical_json, find, ToolCx, ToolError};
use crate::ai::Usage;
use crate::app::envelope::{ErrorCode, Failure};
use crate::auth::Principal;
use crate::http::body::{check, Detail};
use crate::objects::audit::{sha256_hex, AuditEntry, AuditOp, AuditRecord, AuditReply};
use crate::ports::Ports;
use crate::tenancy::keys::Space;
use crate::tenancy::resolve::TenantCtx;

/// Who asked for the call.
#[derive(Debug, Clone, Copy)]
pub enum Via<'a> {
    /// `POST /tools/{name}`.
    Direct,
    /// A model's tool call inside `/chat`; `offered` are the tools the model
    /// was given in this request.
    Model { offered: &'a [&'static str] },
}

impl Via<'_> {
    fn as_str(&self) -> &'static str {
        match self {
            Via::Direct => "direct",
            Via::Model { .. } => "model",
        }
    }
}

/// What a call needs besides its name and arguments.
pub struct Dispatcher<'a> {
    pub ctx: &'a TenantCtx,
    pub ports: &'a Ports,
    pub principal: &'a Principal,
    pub request_id: &'a str,
    pub traceparent: &'a str,
    /// Tokens the tools' model calls used (added to, never reset).
    pub used: Rc<RefCell<Usage>>,
}

/// A call's answer and its audit record.
pub struct Done {
    pub result: Result<Value, Failure>,
    /// `None` only when the audit log could not be reached (then `result`
    /// is `audit_unavailable`).
    pub record: Option<AuditRecord>,
}

/// A tool name as it may appear in a record or a message: at most 64
/// characters, control characters replaced.
pub fn shown(name: &str) -> String {
    name.chars().take(64).map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect()
}

impl Dispatcher<'_> {
    /// Run one call: checks, the tool, the audit record.
    pub async fn call(&self, name: &str, args: Value, via: Via<'_>) -> Done {
        let t0 = self.ports.clock.now_ms();
        if self.ports.audit.is_none() {
            return Done {
                result: Err(Failure::new(
                    ErrorCode::AuditUnavailable,
                    "tools are unavailable: this deployment has no audit log (`AuditLog` binding)",
                )),
                record: None,
            };
        }
        let (outcome, result) = self.run(name, &args, via).await;
        self.record(name, &args, via, t0, outcome, result).await
    }

    /// Refuse a call without looking at it (a caller's own limit), audited
    /// like any other refusal.
    pub async fn refuse(&self, name: &str, args: Value, via: Via<'_>, failure: Failure) -> Done {
        let t0 = self.ports.clock.now_ms();
        self.record(name, &args, via, t0, "refused", Err(failure)).await
    }

    /// Write the audit record; the answer leaves only once it is stored.
    async fn record(&self, name: &str, args: &Value, via: Via<'_>, t0: f64, outcome: &'static str, result: Result<Value, Failure>) -> Done {
        let Some(audit) = self.ports.audit.clone() else {
            return Done {
                result: Err(Failure::new(
                    ErrorCode::AuditUnavailable,
                    "tools are unavailable: this deployment has no audit log (`AuditLog` binding)",
                )),
                record: None,
            };
        };
        let latency = (self.ports.clock.now_ms() - t0).max(0.0) as u64;
        let entry = AuditEntry {
            time_ms: self.ports.clock.now_ms().max(0.0) as u64,
            tenant: self.ctx.tenant().as_str().to_string(),
            request_id: self.request_id.to_string(),
            trace_id: self.traceparent.split('-').nth(1).unwrap_or("").to_string(),
            principal: self.principal.user().to_string(),
            via: via.as_str().to_string(),
            tool: shown(name),
            args_sha256: sha256_hex(canonical_json(args).as_bytes()),
            outcome: outcome.to_string(),
            code: result.as_ref().err().map(|f| f.code.code().to_string()),
            latency_ms: latency,
        };
        let object = self.ctx.key(Space::Audit, &[]);
        match audit.call(&object, &AuditOp::Append { entry }).await {
            Ok(AuditReply::Appended { record }) => Done {
                result,
                record: Some(*record),
            },
            other => {
                let why = match other {
                    Err(e) => e.to_string(),
                    Ok(r) => format!("unexpected reply {r:?}"),
                };
                Done {
                    result: Err(Failure::new(
                        ErrorCode::AuditUnavailable,
                        "the tool call could not be recorded in the audit log; its result is withheld",
                    )
                    .with_log_detail(format!("audit append failed after a `{outcome}` call of `{}`: {why}", shown(name)))),
                    record: None,
                }
            }
        }
    }

    /// The checks and the tool: the outcome (`ok`, `refused`, `failed`)
    /// and the answer.
    async fn run(&self, name: &str, args: &Value, via: Via<'_>) -> (&'static str, Result<Value, Failure>) {
        let cfg = self.ctx.config();
        let not_found = || Failure::new(ErrorCode::ToolNotFound, format!("no tool named `{}`", shown(name)));
        let (Some(tool), Some(spec)) = (cfg.tools.iter().find(|t| t.name == name), find(name)) else {
            return ("refused", Err(not_found()));
        };
        if let Via::Model { offered } = via {
            if !offered.contains(&spec.name) {
                return (
                    "refused",
                    Err(Failure::new(
                        ErrorCode::ToolForbidden,
                        format!("`{}` was not offered in this conversation", spec.name),
                    )),
                );
            }
        }
        if !allowed(cfg, tool, spec, self.principal) {
            return (
                "refused",
                Err(Failure::new(
                    ErrorCode::ToolForbidden,
                    format!("your roles do not allow `{}`", spec.name),
                )),
            );
        }
        let schema = (spec.parameters)();
        let mut errs = Vec::new();
        check(&schema, &schema, args, &mut String::new(), &mut errs);
        if !errs.is_empty() {
            return ("refused", Err(invalid(spec.name, errs)));
        }
        let cx = ToolCx {
            ctx: self.ctx,
            ports: self.ports,
            principal: self.principal,
            request_id: self.request_id,
            traceparent: self.traceparent,
            config: tool,
            used: self.used.clone(),
        };
        let timeout = tool.timeout_ms.unwrap_or(spec.timeout_ms);
        let work = (spec.run)(&cx, args.clone());
        let out = match select(work, self.ports.timer.sleep(timeout)).await {
            Either::Left((r, _)) => r,
            Either::Right(_) => {
                return (
                    "failed",
                    Err(Failure::new(
                        ErrorCode::ToolTimeout,
                        format!("`{}` did not finish within {timeout} ms", spec.name),
                    )),
                )
            }
        };
        match out {
            Ok(v) => {
                let schema = (spec.output)();
                let mut errs = Vec::new();
                check(&schema, &schema, &v, &mut String::new(), &mut errs);
                if errs.is_empty() {
                    ("ok", Ok(v))
                } else {
                    let list: Vec<String> = errs.iter().map(|d| format!("{}: {}", d.pointer, d.message)).collect();
                    (
                        "failed",
                        Err(
                            Failure::new(ErrorCode::ToolFailed, format!("`{}` produced an invalid result", spec.name))
                                .with_log_detail(format!("output schema: {}", list.join("; "))),
                        ),
                    )
                }
            }
            Err(ToolError::Invalid(details)) => ("refused", Err(invalid(spec.name, details))),
            Err(ToolError::Forbidden(m)) => ("refused", Err(Failure::new(ErrorCode::ToolForbidden, m))),
            Err(ToolError::Failed(m)) => ("failed", Err(Failure::new(ErrorCode::ToolFailed, m))),
            Err(ToolError::Upstream(f)) => ("failed", Err(f)),
        }
    }
}

fn invalid(tool: &str, details: Vec<Detail>) -> Failure {
    Failure::new(ErrorCode::InvalidRequest, format!("the arguments do not fit `{tool}`")).with_details(details)
}
