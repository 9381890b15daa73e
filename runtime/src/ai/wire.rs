//! Wire formats: upstream stream chunks in (both the OpenAI
//! `chat.completion.chunk` shape and Workers AI's `{"response": …}`
//! lines), and the OpenAI chunk shape out.
//!
//! Invariants: a `data:` payload that is not JSON, or JSON of neither
//! shape, is [`AiError::Malformed`]; an `error` object inside the stream is
//! [`AiError::Upstream`]; [`ChunkParser::end`] fails unless `[DONE]` was
//! seen (a cut stream is never a success); the last usage wins.

use serde::{Deserialize, Serialize};

use super::{AiError, ChatEvent, ToolCallDelta, Usage};
use crate::http::sse::{self, Decoder};

#[derive(Deserialize)]
struct RawChunk {
    response: Option<serde_json::Value>,
    choices: Option<Vec<RawChoice>>,
    usage: Option<RawUsage>,
    error: Option<serde_json::Value>,
    /// Workers AI's own function calling: `[{name, arguments: {…}}]`.
    tool_calls: Option<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct RawChoice {
    delta: Option<RawDelta>,
    message: Option<RawDelta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct RawDelta {
    content: Option<String>,
    tool_calls: Option<Vec<RawToolCall>>,
}

/// OpenAI's `delta.tool_calls[]` (or `message.tool_calls[]`).
#[derive(Deserialize)]
struct RawToolCall {
    index: Option<u32>,
    id: Option<String>,
    function: Option<RawFunction>,
}

#[derive(Deserialize)]
struct RawFunction {
    name: Option<String>,
    /// A piece of JSON text (OpenAI), or an object (some providers).
    arguments: Option<serde_json::Value>,
}

/// A tool call's arguments as JSON text.
fn arguments_text(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[derive(Deserialize)]
struct RawUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

/// The events of one `data:` payload.
pub fn parse_data(data: &str) -> Result<Vec<ChatEvent>, AiError> {
    let c: RawChunk = serde_json::from_str(data).map_err(|e| AiError::Malformed(format!("a chunk is not JSON: {e}")))?;
    if let Some(e) = c.error {
        let msg = e
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| e.to_string());
        return Err(AiError::Upstream(msg.chars().take(300).collect()));
    }
    let mut out = Vec::new();
    match (&c.response, &c.choices) {
        (Some(r), _) => match r {
            serde_json::Value::String(s) if !s.is_empty() => out.push(ChatEvent::Delta(s.clone())),
            serde_json::Value::String(_) | serde_json::Value::Null => {}
            other => return Err(AiError::Malformed(format!("`response` is not text: {}", clip(&other.to_string())))),
        },
        (None, Some(choices)) => {
            for ch in choices {
                let d = ch.delta.as_ref().or(ch.message.as_ref());
                let text = d.and_then(|d| d.content.as_deref());
                if let Some(t) = text.filter(|t| !t.is_empty()) {
                    out.push(ChatEvent::Delta(t.to_string()));
                }
                for (i, tc) in d.and_then(|d| d.tool_calls.as_ref()).into_iter().flatten().enumerate() {
                    out.push(ChatEvent::ToolCall(ToolCallDelta {
                        index: tc.index.unwrap_or(i as u32),
                        id: tc.id.clone(),
                        name: tc.function.as_ref().and_then(|f| f.name.clone()),
                        arguments: arguments_text(tc.function.as_ref().and_then(|f| f.arguments.as_ref())),
                        whole: false,
                    }));
                }
                if let Some(f) = &ch.finish_reason {
                    out.push(ChatEvent::Finish(f.clone()));
                }
            }
        }
        (None, None) if c.usage.is_some() || c.tool_calls.is_some() => {}
        (None, None) => return Err(AiError::Malformed(format!("a chunk of neither known shape: {}", clip(data)))),
    }
    for (i, tc) in c.tool_calls.iter().flatten().enumerate() {
        // Workers AI: `{name, arguments}` whole, or OpenAI's `{function: …}`.
        let f = tc.get("function").unwrap_or(tc);
        out.push(ChatEvent::ToolCall(ToolCallDelta {
            index: i as u32,
            id: tc.get("id").and_then(|v| v.as_str()).map(str::to_string),
            name: f.get("name").and_then(|v| v.as_str()).map(str::to_string),
            arguments: arguments_text(f.get("arguments")),
            whole: true,
        }));
    }
    if let Some(u) = c.usage {
        out.push(ChatEvent::Usage(Usage {
            prompt_tokens: u.prompt_tokens.unwrap_or(0),
            completion_tokens: u.completion_tokens.unwrap_or(0),
        }));
    }
    Ok(out)
}

fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}

/// Upstream bytes in, model events out.
#[derive(Debug, Default)]
pub struct ChunkParser {
    sse: Decoder,
    done: bool,
}

impl ChunkParser {
    pub fn new() -> ChunkParser {
        ChunkParser::default()
    }

    /// Whether `[DONE]` has been seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Feed upstream bytes; returns the events they completed.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<ChatEvent>, AiError> {
        let mut out = Vec::new();
        for ev in self.sse.feed(bytes).map_err(AiError::Malformed)? {
            if self.done {
                continue;
            }
            if ev.event.as_deref() == Some("error") {
                return Err(AiError::Upstream(clip(&ev.data)));
            }
            let data = ev.data.trim();
            if data == "[DONE]" {
                self.done = true;
                continue;
            }
            if data.is_empty() {
                continue;
            }
            out.extend(parse_data(data)?);
        }
        Ok(out)
    }

    /// The upstream closed its body: fine only after `[DONE]`.
    pub fn end(&self) -> Result<(), AiError> {
        if self.done {
            Ok(())
        } else {
            Err(AiError::Network("the upstream stream ended before [DONE]".into()))
        }
    }
}

/// Writes the OpenAI `chat.completion.chunk` events of one completion.
#[derive(Debug, Clone)]
pub struct ChunkWriter {
    pub id: String,
    pub created: u64,
    pub model: String,
}

#[derive(Serialize)]
struct OutChunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<OutChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<OutUsage>,
}

#[derive(Serialize)]
struct OutChoice<'a> {
    index: u32,
    delta: OutDelta<'a>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize, Default)]
struct OutDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<serde_json::Value>>,
}

/// Usage as OpenAI reports it.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, schemars::JsonSchema)]
pub struct OutUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl From<Usage> for OutUsage {
    fn from(u: Usage) -> OutUsage {
        OutUsage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total(),
        }
    }
}

impl ChunkWriter {
    fn event(&self, choices: Vec<OutChoice<'_>>, usage: Option<OutUsage>) -> Vec<u8> {
        let c = OutChunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage,
        };
        let json = serde_json::to_string(&c).unwrap_or_default();
        sse::Event {
            data: &json,
            ..Default::default()
        }
        .encode()
    }

    /// The first chunk: the assistant role, empty content.
    pub fn role(&self) -> Vec<u8> {
        self.event(
            vec![OutChoice {
                index: 0,
                delta: OutDelta {
                    role: Some("assistant"),
                    content: Some(""),
                    tool_calls: None,
                },
                finish_reason: None,
            }],
            None,
        )
    }

    pub fn delta(&self, text: &str) -> Vec<u8> {
        self.event(
            vec![OutChoice {
                index: 0,
                delta: OutDelta {
                    role: None,
                    content: Some(text),
                    tool_calls: None,
                },
                finish_reason: None,
            }],
            None,
        )
    }

    pub fn finish(&self, reason: &str) -> Vec<u8> {
        self.event(
            vec![OutChoice {
                index: 0,
                delta: OutDelta::default(),
                finish_reason: Some(reason),
            }],
            None,
        )
    }

    /// The tool calls the Worker ran for the model, each whole, numbered
    /// from `first_index` (indexes run on across the answer's steps). The
    /// Worker has already run them: the stream goes on with the answer.
    pub fn tool_calls(&self, runs: &[super::ToolRun], first_index: u32) -> Vec<u8> {
        let calls = runs
            .iter()
            .zip(first_index..)
            .map(|(r, i)| {
                serde_json::json!({"index": i, "id": r.id, "type": "function", "function": {"name": r.name, "arguments": r.arguments}})
            })
            .collect();
        self.event(
            vec![OutChoice {
                index: 0,
                delta: OutDelta {
                    role: None,
                    content: None,
                    tool_calls: Some(calls),
                },
                finish_reason: None,
            }],
            None,
        )
    }

    /// The usage chunk: no choices (as OpenAI's `include_usage`).
    pub fn usage(&self, u: Usage) -> Vec<u8> {
        self.event(vec![], Some(u.into()))
    }

    pub fn done() -> Vec<u8> {
        b"data: [DONE]\n\n".to_vec()
    }

    /// An error after streaming began: the OpenAI SDKs raise on a chunk
    /// with an `error` object. The stream ends after it (no `[DONE]`).
    pub fn error(code: &str, message: &str, request_id: &str) -> Vec<u8> {
        let json = serde_json::json!({"error": {"code": code, "type": code, "message": message, "request_id": request_id}}).to_string();
        sse::Event {
            data: &json,
            ..Default::default()
        }
        .encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENAI: &str = concat!(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        ": keep-alive\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\u{e9} \"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":2,\"total_tokens\":14}}\n\n",
        "data: [DONE]\n\n"
    );

    fn run(parts: &[&[u8]]) -> (Vec<ChatEvent>, Result<(), AiError>) {
        let mut p = ChunkParser::new();
        let mut out = vec![];
        for part in parts {
            match p.feed(part) {
                Ok(evs) => out.extend(evs),
                Err(e) => return (out, Err(e)),
            }
        }
        let end = p.end();
        (out, end)
    }

    #[test]
    fn openai_chunks_split_at_every_byte_give_the_same_events() {
        let bytes = OPENAI.as_bytes();
        let (whole, end) = run(&[bytes]);
        assert_eq!(end, Ok(()));
        assert_eq!(
            whole,
            vec![
                ChatEvent::Delta("caf\u{e9} ".into()),
                ChatEvent::Delta("ok".into()),
                ChatEvent::Finish("stop".into()),
                ChatEvent::Usage(Usage {
                    prompt_tokens: 12,
                    completion_tokens: 2
                }),
            ]
        );
        for i in 0..bytes.len() {
            assert_eq!(run(&[&bytes[..i], &bytes[i..]]).0, whole, "split at {i}");
        }
    }

    #[test]
    fn tool_calls_in_both_shapes() {
        // OpenAI: pieces per index.
        let evs = parse_data(r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_a","type":"function","function":{"name":"summarize","arguments":"{\"te"}}]},"finish_reason":null}]}"#).unwrap();
        assert_eq!(
            evs,
            vec![ChatEvent::ToolCall(ToolCallDelta {
                index: 1,
                id: Some("call_a".into()),
                name: Some("summarize".into()),
                arguments: "{\"te".into(),
                whole: false,
            })]
        );
        // Workers AI: whole calls, arguments as an object, beside `response`.
        let evs = parse_data(
            r#"{"response":"","tool_calls":[{"name":"tag-and-chunk","arguments":{"text":"x"}},{"name":"summarize","arguments":{}}]}"#,
        )
        .unwrap();
        assert_eq!(evs.len(), 2);
        assert_eq!(
            evs[0],
            ChatEvent::ToolCall(ToolCallDelta {
                index: 0,
                id: None,
                name: Some("tag-and-chunk".into()),
                arguments: r#"{"text":"x"}"#.into(),
                whole: true,
            })
        );
        // Non-streamed Workers AI: `response: null` and the calls.
        assert_eq!(
            parse_data(r#"{"response":null,"tool_calls":[{"name":"a","arguments":{}}]}"#)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(parse_data(r#"{"tool_calls":[{"name":"a","arguments":"{}"}]}"#).unwrap().len(), 1);
    }

    #[test]
    fn workers_ai_lines_and_their_trailing_usage() {
        let s = "data: {\"response\":\"Hel\"}\r\n\r\ndata: {\"response\":\"lo\",\"p\":\"abc\"}\r\n\r\ndata: {\"response\":\"\",\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\r\n\r\ndata: [DONE]\r\n\r\n";
        let (evs, end) = run(&[s.as_bytes()]);
        assert_eq!(end, Ok(()));
        assert_eq!(
            evs,
            vec![
                ChatEvent::Delta("Hel".into()),
                ChatEvent::Delta("lo".into()),
                ChatEvent::Usage(Usage {
                    prompt_tokens: 5,
                    completion_tokens: 2
                })
            ]
        );
    }

    #[test]
    fn a_cut_stream_malformed_json_and_error_objects_fail() {
        let cut = &OPENAI[..OPENAI.find("data: {\"id\":\"c1\",\"choices\":[],").unwrap()];
        let (evs, end) = run(&[cut.as_bytes()]);
        assert_eq!(evs.len(), 3);
        assert!(matches!(end, Err(AiError::Network(_))));
        assert!(matches!(run(&[b"data: {not json\n\n"]).1, Err(AiError::Malformed(_))));
        assert!(matches!(run(&[b"data: {\"x\":1}\n\n"]).1, Err(AiError::Malformed(_))));
        assert_eq!(
            run(&[b"data: {\"error\":{\"message\":\"overloaded\"}}\n\n"]).1,
            Err(AiError::Upstream("overloaded".into()))
        );
    }

    #[test]
    fn writer_emits_openai_chunks() {
        let w = ChunkWriter {
            id: "chatcmpl-1".into(),
            created: 7,
            model: "m".into(),
        };
        let role = String::from_utf8(w.role()).unwrap();
        assert!(
            role.starts_with("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\""),
            "{role}"
        );
        assert!(role.contains("\"delta\":{\"role\":\"assistant\",\"content\":\"\"}"));
        // What the writer writes, the parser reads back.
        let mut all = w.role();
        all.extend(w.delta("a\nb"));
        all.extend(w.finish("stop"));
        all.extend(w.usage(Usage {
            prompt_tokens: 1,
            completion_tokens: 2,
        }));
        all.extend(ChunkWriter::done());
        let (evs, end) = run(&[&all]);
        assert_eq!(end, Ok(()));
        assert_eq!(evs[0], ChatEvent::Delta("a\nb".into()));
        assert_eq!(evs.len(), 3);
    }
}
