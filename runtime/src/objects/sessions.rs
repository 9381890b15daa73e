//! The `SESSIONS` Durable Object's protocol, and a reference model of it.
//!
//! One object per (tenant, user), named by
//! `TenantCtx::key(Space::Session, [user])`: a user's sessions live in
//! their own object's SQLite tables (`sessions`, `messages`), so listing
//! them is one query, and a session id named by another user — or by
//! another tenant — is simply not there (404 `session_not_found`), with no
//! owner column to forget to check.
//!
//! Invariants (the DO class in `crate::wasm::objects` and
//! [`MemorySessions`] both keep them; the e2e suite checks the first on
//! workerd, the unit tests here the second):
//! - `Begin` stores the user's message before the model is called, and
//!   returns the history before it (newest first within a character
//!   budget, given back oldest first);
//! - a session keeps at most `max_messages` messages (oldest dropped);
//! - `Finish` stores the answer with its status: `complete`,
//!   `interrupted` (the client left; what was produced) or `failed`;
//! - a session its retention (`retention_ms`, from the tenant's
//!   `retention-days` or `retention-seconds`) after its last activity is
//!   deleted (an alarm on workerd).

use std::cell::RefCell;
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ai::Message;
use crate::ports::{LocalFuture, PortError, Sessions};
use crate::tenancy::keys::StorageKey;

/// A stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StoredMessage {
    pub role: String,
    pub content: String,
    /// `complete`, `interrupted` or `failed` for answers; `complete` for
    /// the user's messages.
    pub status: String,
    /// The model that answered (answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub created_ms: f64,
}

/// A session in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionSummary {
    pub id: String,
    /// The first user message, cut to 80 characters.
    pub title: String,
    pub created_ms: f64,
    pub updated_ms: f64,
    pub message_count: u32,
}

/// A session with its messages (oldest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionView {
    #[serde(flatten)]
    pub summary: SessionSummary,
    pub messages: Vec<StoredMessage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum SessionOp {
    /// Open (or create, with `new_id`) a session and store the user's
    /// message.
    Begin {
        session_id: Option<String>,
        new_id: String,
        now_ms: f64,
        message: Message,
        max_messages: u32,
        /// A session idle this long is deleted.
        retention_ms: f64,
        /// History is cut to this many characters.
        history_chars: u64,
    },
    /// Read a session's history without storing anything (to size a
    /// budget reservation before the message is stored).
    History {
        session_id: String,
        history_chars: u64,
    },
    /// Store the answer.
    Finish {
        session_id: String,
        now_ms: f64,
        content: String,
        status: String,
        model: Option<String>,
        max_messages: u32,
    },
    /// The user's sessions, newest activity first.
    List {
        limit: u32,
        cursor: Option<String>,
    },
    Get {
        session_id: String,
    },
    Delete {
        session_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum SessionReply {
    Begun {
        session_id: String,
        history: Vec<Message>,
    },
    NotFound,
    Done,
    Listed {
        sessions: Vec<SessionSummary>,
        next_cursor: Option<String>,
    },
    Session(SessionView),
}

/// The title of a session: its first message, cut.
pub fn title_of(text: &str) -> String {
    let t: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match t.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t,
    }
}

/// The history that enters the prompt: newest first while it fits in
/// `budget` characters, returned oldest first. Failed answers with no
/// text are left out.
pub fn history_within(messages: &[StoredMessage], budget: u64) -> Vec<Message> {
    let mut out = Vec::new();
    let mut used = 0u64;
    for m in messages.iter().rev() {
        if m.content.is_empty() {
            continue;
        }
        used += m.content.chars().count() as u64;
        if used > budget {
            break;
        }
        out.push(Message {
            role: m.role.clone(),
            content: m.content.clone(),
        });
    }
    out.reverse();
    out
}

/// A listing cursor: `<updated_ms>-<id>` of the last session returned.
pub fn parse_cursor(c: &str) -> Option<(f64, &str)> {
    let (t, id) = c.split_once('-')?;
    Some((t.parse().ok()?, id))
}

/// Milliseconds in a day.
pub const DAY_MS: f64 = 86_400_000.0;

#[derive(Debug, Clone, PartialEq)]
struct MemSession {
    summary: SessionSummary,
    retention_ms: f64,
    messages: Vec<StoredMessage>,
}

/// The reference model of the protocol, in memory (native tests and the
/// in-memory ports). `expire` plays the alarm.
#[derive(Default)]
pub struct MemorySessions {
    objects: RefCell<BTreeMap<String, BTreeMap<String, MemSession>>>,
}

impl MemorySessions {
    /// Delete sessions idle for longer than their retention.
    pub fn expire(&self, now_ms: f64) {
        for o in self.objects.borrow_mut().values_mut() {
            o.retain(|_, s| s.summary.updated_ms + s.retention_ms > now_ms);
        }
    }

    /// Apply one operation to one object.
    pub fn apply(&self, object: &str, op: &SessionOp) -> SessionReply {
        let mut objects = self.objects.borrow_mut();
        let o = objects.entry(object.to_string()).or_default();
        match op {
            SessionOp::Begin {
                session_id,
                new_id,
                now_ms,
                message,
                max_messages,
                retention_ms,
                history_chars,
            } => {
                let id = session_id.clone().unwrap_or_else(|| new_id.clone());
                if session_id.is_some() && !o.contains_key(&id) {
                    return SessionReply::NotFound;
                }
                let s = o.entry(id.clone()).or_insert_with(|| MemSession {
                    summary: SessionSummary {
                        id: id.clone(),
                        title: title_of(&message.content),
                        created_ms: *now_ms,
                        updated_ms: *now_ms,
                        message_count: 0,
                    },
                    retention_ms: *retention_ms,
                    messages: vec![],
                });
                let history = history_within(&s.messages, *history_chars);
                s.retention_ms = *retention_ms;
                push(
                    s,
                    StoredMessage {
                        role: message.role.clone(),
                        content: message.content.clone(),
                        status: "complete".into(),
                        model: None,
                        created_ms: *now_ms,
                    },
                    *max_messages,
                );
                SessionReply::Begun { session_id: id, history }
            }
            SessionOp::History { session_id, history_chars } => match o.get(session_id) {
                None => SessionReply::NotFound,
                Some(s) => SessionReply::Begun {
                    session_id: session_id.clone(),
                    history: history_within(&s.messages, *history_chars),
                },
            },
            SessionOp::Finish {
                session_id,
                now_ms,
                content,
                status,
                model,
                max_messages,
            } => match o.get_mut(session_id) {
                None => SessionReply::NotFound,
                Some(s) => {
                    push(
                        s,
                        StoredMessage {
                            role: "assistant".into(),
                            content: content.clone(),
                            status: status.clone(),
                            model: model.clone(),
                            created_ms: *now_ms,
                        },
                        *max_messages,
                    );
                    SessionReply::Done
                }
            },
            SessionOp::List { limit, cursor } => {
                let mut all: Vec<&SessionSummary> = o.values().map(|s| &s.summary).collect();
                all.sort_by(|a, b| b.updated_ms.total_cmp(&a.updated_ms).then_with(|| b.id.cmp(&a.id)));
                let after = cursor.as_deref().and_then(parse_cursor);
                let page: Vec<SessionSummary> = all
                    .into_iter()
                    .filter(|s| match after {
                        None => true,
                        Some((t, id)) => s.updated_ms < t || (s.updated_ms == t && s.id.as_str() < id),
                    })
                    .take((*limit).max(1) as usize + 1)
                    .cloned()
                    .collect();
                page_reply(page, *limit)
            }
            SessionOp::Get { session_id } => match o.get(session_id) {
                None => SessionReply::NotFound,
                Some(s) => SessionReply::Session(SessionView {
                    summary: s.summary.clone(),
                    messages: s.messages.clone(),
                }),
            },
            SessionOp::Delete { session_id } => match o.remove(session_id) {
                None => SessionReply::NotFound,
                Some(_) => SessionReply::Done,
            },
        }
    }
}

/// A page of `limit` from `limit + 1` rows: the extra row says there is more.
pub fn page_reply(mut rows: Vec<SessionSummary>, limit: u32) -> SessionReply {
    let limit = limit.max(1) as usize;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more {
        rows.last().map(|s| format!("{}-{}", s.updated_ms, s.id))
    } else {
        None
    };
    SessionReply::Listed {
        sessions: rows,
        next_cursor,
    }
}

fn push(s: &mut MemSession, m: StoredMessage, max_messages: u32) {
    s.summary.updated_ms = m.created_ms;
    s.messages.push(m);
    let drop = s.messages.len().saturating_sub(max_messages.max(2) as usize);
    s.messages.drain(..drop);
    s.summary.message_count = s.messages.len() as u32;
}

impl Sessions for MemorySessions {
    fn call<'a>(&'a self, object: &'a StorageKey, op: &'a SessionOp) -> LocalFuture<'a, Result<SessionReply, PortError>> {
        Box::pin(async move { Ok(self.apply(object.as_str(), op)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn begin(s: &MemorySessions, obj: &str, id: Option<&str>, text: &str, now: f64) -> SessionReply {
        s.apply(
            obj,
            &SessionOp::Begin {
                session_id: id.map(str::to_string),
                new_id: format!("s{now}"),
                now_ms: now,
                message: Message {
                    role: "user".into(),
                    content: text.into(),
                },
                max_messages: 4,
                retention_ms: DAY_MS,
                history_chars: 1000,
            },
        )
    }

    fn finish(s: &MemorySessions, obj: &str, id: &str, text: &str, now: f64) {
        let r = s.apply(
            obj,
            &SessionOp::Finish {
                session_id: id.into(),
                now_ms: now,
                content: text.into(),
                status: "complete".into(),
                model: Some("m".into()),
                max_messages: 4,
            },
        );
        assert_eq!(r, SessionReply::Done);
    }

    #[test]
    fn history_comes_back_trimmed_and_other_objects_cannot_see_it() {
        let s = MemorySessions::default();
        let SessionReply::Begun { session_id, history } = begin(&s, "u1", None, "one", 1.0) else {
            panic!()
        };
        assert!(history.is_empty());
        finish(&s, "u1", &session_id, "answer one", 2.0);
        let SessionReply::Begun { history, .. } = begin(&s, "u1", Some(&session_id), "two", 3.0) else {
            panic!()
        };
        assert_eq!(
            history.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
            ["one", "answer one"]
        );
        finish(&s, "u1", &session_id, "answer two", 4.0);
        begin(&s, "u1", Some(&session_id), "three", 5.0);
        // max_messages 4: the oldest went.
        let SessionReply::Session(v) = s.apply(
            "u1",
            &SessionOp::Get {
                session_id: session_id.clone(),
            },
        ) else {
            panic!()
        };
        assert_eq!(v.messages.len(), 4);
        assert_eq!(v.messages[0].content, "answer one");
        // Another user's object has no such session.
        assert_eq!(begin(&s, "u2", Some(&session_id), "x", 6.0), SessionReply::NotFound);
        assert_eq!(
            s.apply(
                "u2",
                &SessionOp::Get {
                    session_id: session_id.clone()
                }
            ),
            SessionReply::NotFound
        );
        assert_eq!(
            s.apply(
                "u2",
                &SessionOp::Delete {
                    session_id: session_id.clone()
                }
            ),
            SessionReply::NotFound
        );
    }

    #[test]
    fn history_keeps_the_newest_within_budget() {
        let msgs: Vec<StoredMessage> = ["aaaa", "bbbb", "cccc"]
            .iter()
            .map(|c| StoredMessage {
                role: "user".into(),
                content: c.to_string(),
                status: "complete".into(),
                model: None,
                created_ms: 0.0,
            })
            .collect();
        let h = history_within(&msgs, 9);
        assert_eq!(h.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["bbbb", "cccc"]);
    }

    #[test]
    fn listing_is_newest_first_and_paginated_and_retention_expires() {
        let s = MemorySessions::default();
        for i in 0..5 {
            begin(&s, "u", None, &format!("q{i}"), f64::from(i));
        }
        let SessionReply::Listed { sessions, next_cursor } = s.apply("u", &SessionOp::List { limit: 2, cursor: None }) else {
            panic!()
        };
        assert_eq!(sessions.iter().map(|x| x.title.as_str()).collect::<Vec<_>>(), ["q4", "q3"]);
        let SessionReply::Listed { sessions, next_cursor: c2 } = s.apply(
            "u",
            &SessionOp::List {
                limit: 2,
                cursor: next_cursor,
            },
        ) else {
            panic!()
        };
        assert_eq!(sessions.iter().map(|x| x.title.as_str()).collect::<Vec<_>>(), ["q2", "q1"]);
        let SessionReply::Listed { sessions, next_cursor } = s.apply("u", &SessionOp::List { limit: 2, cursor: c2 }) else {
            panic!()
        };
        assert_eq!(sessions.len(), 1);
        assert_eq!(next_cursor, None);
        s.expire(DAY_MS + 2.5);
        let SessionReply::Listed { sessions, .. } = s.apply("u", &SessionOp::List { limit: 10, cursor: None }) else {
            panic!()
        };
        assert_eq!(sessions.iter().map(|x| x.title.as_str()).collect::<Vec<_>>(), ["q4", "q3"]);
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;

    #[test]
    fn every_reply_survives_json() {
        let summary = SessionSummary {
            id: "a".into(),
            title: "t".into(),
            created_ms: 1.0,
            updated_ms: 1733400000000.0,
            message_count: 2,
        };
        let replies = [
            SessionReply::Session(SessionView {
                summary: summary.clone(),
                messages: vec![StoredMessage {
                    role: "user".into(),
                    content: "x".into(),
                    status: "complete".into(),
                    model: None,
                    created_ms: 5.0,
                }],
            }),
            SessionReply::Listed {
                sessions: vec![summary],
                next_cursor: Some("1-a".into()),
            },
            SessionReply::NotFound,
            SessionReply::Done,
        ];
        for r in replies {
            let json = serde_json::to_string(&r).unwrap();
            let back: SessionReply = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
            assert_eq!(back, r);
        }
    }
}
