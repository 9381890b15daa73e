//! The OpenAI-compatible HTTP adapter: AI Gateway's unified endpoint
//! (`https://gateway.ai.cloudflare.com/v1/{account}/{gateway}/compat/chat/completions`,
//! models named `workers-ai/@cf/…`) or any OpenAI-compatible server.
//!
//! Sent: `stream: true` with `stream_options.include_usage`, the bearer
//! token from the tenant's secret (and, to a gateway, as
//! `cf-aig-authorization` too), and to a gateway the `cf-aig-*` headers:
//! metadata (tenant, route, request id), a tenant-scoped cache key,
//! skip-cache, and the request timeout. Read back: `cf-aig-log-id` and
//! `cf-aig-cache-status`.

use std::rc::Rc;

use futures_util::StreamExt;
use serde::Serialize;

use super::{AiError, ChatCall, ChatModel, Conversation, EventStream, Opened};
use crate::ai::wire::ChunkParser;
use crate::ports::{ByteStream, FetchError, LocalFuture, Upstream};

/// Where and how to call.
#[derive(Clone)]
pub struct OpenAiCompatible {
    /// The full `…/chat/completions` URL.
    pub url: String,
    /// The bearer token (a secret's value), if the server needs one.
    pub token: Option<String>,
    /// Talking to AI Gateway: send `cf-aig-*` headers, prefix models.
    pub gateway: bool,
    /// Send this upstream model name instead of the catalog id.
    pub model_override: Option<&'static str>,
    pub upstream: Rc<dyn Upstream>,
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    messages: Conversation<'a>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tools: &'a [serde_json::Value],
    stream: bool,
    stream_options: StreamOptions,
    max_tokens: u32,
    temperature: f64,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

impl OpenAiCompatible {
    /// The URL of `{base}/chat/completions`.
    pub fn chat_url(base: &str) -> String {
        format!("{}/chat/completions", base.trim_end_matches('/'))
    }

    /// AI Gateway's unified endpoint for an account and gateway.
    pub fn gateway_url(account_id: &str, gateway: &str) -> String {
        format!("https://gateway.ai.cloudflare.com/v1/{account_id}/{gateway}/compat/chat/completions")
    }

    /// The model name as sent.
    pub fn upstream_model(&self, model: &str) -> String {
        match (self.model_override, self.gateway) {
            (Some(m), _) => m.to_string(),
            (None, true) if model.starts_with("@cf/") || model.starts_with("@hf/") => format!("workers-ai/{model}"),
            (None, _) => model.to_string(),
        }
    }

    /// The request's headers.
    pub fn headers(&self, call: &ChatCall<'_>) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("content-type", "application/json".to_string()),
            ("accept", "text/event-stream".to_string()),
        ];
        if let Some(t) = &self.token {
            h.push(("authorization", format!("Bearer {t}")));
            if self.gateway {
                h.push(("cf-aig-authorization", format!("Bearer {t}")));
            }
        }
        if !call.meta.traceparent.is_empty() {
            h.push(("traceparent", call.meta.traceparent.clone()));
        }
        if self.gateway {
            let m = call.meta;
            h.push(("cf-aig-metadata", m.gateway_metadata().to_string()));
            h.push(("cf-aig-cache-key", m.cache_key.clone()));
            if m.skip_cache {
                h.push(("cf-aig-skip-cache", "true".into()));
            }
            h.push(("cf-aig-request-timeout", m.timeout_ms.to_string()));
            h.push(("cf-aig-event-id", m.request_id.clone()));
        }
        h
    }
}

/// Upstream bytes → model events; the stream ends after an error item.
pub fn events(body: ByteStream) -> EventStream {
    struct St {
        body: ByteStream,
        parser: ChunkParser,
        queue: std::collections::VecDeque<super::ChatEvent>,
        over: bool,
    }
    let st = St {
        body,
        parser: ChunkParser::new(),
        queue: Default::default(),
        over: false,
    };
    Box::pin(futures_util::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(e) = st.queue.pop_front() {
                return Some((Ok(e), st));
            }
            if st.over || st.parser.is_done() {
                return None;
            }
            match st.body.next().await {
                Some(Ok(bytes)) => match st.parser.feed(&bytes) {
                    Ok(evs) => st.queue.extend(evs),
                    Err(e) => {
                        st.over = true;
                        return Some((Err(e), st));
                    }
                },
                Some(Err(e)) => {
                    st.over = true;
                    return Some((Err(AiError::Network(e.0)), st));
                }
                None => {
                    st.over = true;
                    match st.parser.end() {
                        Ok(()) => return None,
                        Err(e) => return Some((Err(e), st)),
                    }
                }
            }
        }
    }))
}

/// An error body's message (OpenAI `{"error":{"message"}}`, or the text).
pub(crate) async fn error_message(mut body: ByteStream) -> String {
    let mut buf = Vec::new();
    while let Some(Ok(b)) = body.next().await {
        buf.extend(b);
        if buf.len() > 4096 {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.pointer("/error/message").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or(text)
        .chars()
        .take(300)
        .collect()
}

impl ChatModel for OpenAiCompatible {
    fn open<'a>(&'a self, call: ChatCall<'a>) -> LocalFuture<'a, Result<Opened, AiError>> {
        Box::pin(async move {
            let model = self.upstream_model(call.model);
            let body = serde_json::to_vec(&Request {
                model: &model,
                messages: Conversation(call.messages, call.turns),
                tools: call.tools,
                stream: true,
                stream_options: StreamOptions { include_usage: true },
                max_tokens: call.max_tokens,
                temperature: call.temperature,
            })
            .map_err(|e| AiError::Malformed(e.to_string()))?;
            let headers = self.headers(&call);
            let resp = self
                .upstream
                .post(&self.url, &headers, body, call.meta.timeout_ms)
                .await
                .map_err(|e| match e {
                    FetchError::Timeout => AiError::Timeout,
                    FetchError::Network(m) => AiError::Network(m),
                })?;
            let upstream_id = resp.header("cf-aig-log-id").map(str::to_string);
            let cache_status = resp.header("cf-aig-cache-status").map(str::to_string);
            if !(200..300).contains(&resp.status) {
                let status = resp.status;
                return Err(AiError::Status {
                    status,
                    message: error_message(resp.body).await,
                });
            }
            Ok(Opened {
                events: events(resp.body),
                upstream_id,
                cache_status,
            })
        })
    }

    fn kind(&self) -> &'static str {
        if self.gateway {
            "gateway"
        } else {
            "openai-compatible"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::workers_ai::WorkersAi;
    use crate::ai::Message;
    use crate::ai::{CallMeta, ChatEvent};
    use crate::ports::memory::{Scripted, ScriptedUpstream};

    fn meta() -> CallMeta {
        CallMeta {
            tenant: "acme",
            route: "chat",
            request_id: "req-1".into(),
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
            cache_key: "t/acme/cache/chat/abc".into(),
            skip_cache: false,
            timeout_ms: 1234,
        }
    }

    use crate::ports::memory::block_on as run;

    const OK: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";

    #[test]
    fn gateway_calls_carry_the_tenant_metadata_cache_key_and_token() {
        let up = Rc::new(ScriptedUpstream::new(vec![Scripted::Reply {
            status: 200,
            headers: vec![
                ("cf-aig-log-id".into(), "log-9".into()),
                ("cf-aig-cache-status".into(), "MISS".into()),
            ],
            chunks: vec![OK.as_bytes().to_vec()],
        }]));
        let p = OpenAiCompatible {
            url: OpenAiCompatible::gateway_url("acct", "acme-gw"),
            token: Some("tok".into()),
            gateway: true,
            model_override: None,
            upstream: up.clone(),
        };
        let m = meta();
        let msgs = [Message {
            role: "user".into(),
            content: "x".into(),
        }];
        let o = run(p.open(ChatCall {
            model: "@cf/meta/llama-3.1-8b-instruct",
            messages: &msgs,
            tools: &[],
            turns: &[],
            max_tokens: 10,
            temperature: 0.2,
            meta: &m,
        }))
        .unwrap();
        assert_eq!(o.upstream_id.as_deref(), Some("log-9"));
        let evs: Vec<_> = run(futures_util::StreamExt::collect::<Vec<_>>(o.events));
        assert_eq!(evs[0], Ok(ChatEvent::Delta("hi".into())));
        let c = &up.calls.borrow()[0];
        assert_eq!(c.url, "https://gateway.ai.cloudflare.com/v1/acct/acme-gw/compat/chat/completions");
        assert_eq!(c.body["model"], "workers-ai/@cf/meta/llama-3.1-8b-instruct");
        let h = |n: &str| c.headers.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
        assert_eq!(h("authorization").as_deref(), Some("Bearer tok"));
        assert_eq!(h("cf-aig-authorization").as_deref(), Some("Bearer tok"));
        assert_eq!(h("cf-aig-cache-key").as_deref(), Some("t/acme/cache/chat/abc"));
        assert_eq!(h("cf-aig-request-timeout").as_deref(), Some("1234"));
        let md: serde_json::Value = serde_json::from_str(&h("cf-aig-metadata").unwrap()).unwrap();
        assert_eq!(
            md,
            serde_json::json!({"tenant": "acme", "route": "chat", "request_id": "req-1", "trace_id": "0af7651916cd43dd8448eb211c80319c"})
        );
        assert_eq!(
            h("traceparent").as_deref(),
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        );
    }

    #[test]
    fn a_plain_server_gets_no_gateway_headers_and_an_override_model() {
        let up = Rc::new(ScriptedUpstream::new(vec![Scripted::status(
            429,
            "{\"error\":{\"message\":\"slow down\"}}",
        )]));
        let p = OpenAiCompatible {
            url: OpenAiCompatible::chat_url("http://127.0.0.1:11434/v1/"),
            token: None,
            gateway: false,
            model_override: Some("llama3.2"),
            upstream: up.clone(),
        };
        let m = meta();
        let msgs = [];
        let e = run(p.open(ChatCall {
            model: "@cf/x",
            messages: &msgs,
            tools: &[],
            turns: &[],
            max_tokens: 1,
            temperature: 0.0,
            meta: &m,
        }))
        .err()
        .unwrap();
        assert_eq!(
            e,
            AiError::Status {
                status: 429,
                message: "slow down".into()
            }
        );
        assert!(e.retryable());
        let c = &up.calls.borrow()[0];
        assert_eq!(c.url, "http://127.0.0.1:11434/v1/chat/completions");
        assert_eq!(c.body["model"], "llama3.2");
        assert!(c.headers.iter().all(|(k, _)| !k.starts_with("cf-aig") && *k != "authorization"));
    }

    #[test]
    fn the_binding_gets_the_gateway_options_and_parses_workers_ai_lines() {
        let body = "data: {\"response\":\"he\"}\n\ndata: {\"response\":\"y\"}\n\ndata: {\"response\":\"\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
        let up = Rc::new(ScriptedUpstream::new(vec![Scripted::sse(&[body])]));
        let p = WorkersAi {
            gateway: Some("acme-gw"),
            binding: up.clone(),
        };
        let m = meta();
        let msgs = [Message {
            role: "user".into(),
            content: "x".into(),
        }];
        let o = run(p.open(ChatCall {
            model: "@cf/m",
            messages: &msgs,
            tools: &[],
            turns: &[],
            max_tokens: 5,
            temperature: 0.1,
            meta: &m,
        }))
        .unwrap();
        assert_eq!(o.upstream_id.as_deref(), Some("log-1"));
        let evs: Vec<_> = run(futures_util::StreamExt::collect::<Vec<_>>(o.events));
        assert_eq!(evs.len(), 3);
        let c = &up.calls.borrow()[0];
        assert_eq!(c.url, "@cf/m");
        assert_eq!(c.body["stream"], true);
        let opts: serde_json::Value = serde_json::from_str(&c.headers[0].1).unwrap();
        assert_eq!(
            opts,
            serde_json::json!({"gateway": {"id": "acme-gw", "cacheKey": "t/acme/cache/chat/abc", "skipCache": false,
                "metadata": {"tenant": "acme", "route": "chat", "request_id": "req-1", "trace_id": "0af7651916cd43dd8448eb211c80319c"}, "requestTimeoutMs": 1234}})
        );
    }
}
