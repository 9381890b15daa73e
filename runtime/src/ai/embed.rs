//! Embeddings and reranking, next to chat on the same providers.
//!
//! | provider | embeddings | rerank |
//! |---|---|---|
//! | OpenAI-compatible server | `POST {base}/embeddings` `{model, input: [..]}` | `POST {base}/rerank` `{model, query, documents, top_n}` (llama.cpp, vLLM, Jina, Cohere shape) |
//! | AI Gateway | `POST {gateway}/workers-ai/{model}` `{text: [..]}` | `POST {gateway}/workers-ai/{model}` `{query, contexts: [{text}]}` |
//! | Workers AI binding | `run(model, {text: [..]})` → `{shape, data}` | `run(model, {query, contexts})` → `{response: [{id, score}]}` |
//!
//! Invariants:
//! - an embedding call returns one vector per text, in order, all of the
//!   same length, or an error (never a partial answer);
//! - texts go in batches of at most [`batch_size`];
//! - rerank scores are probabilities in 0..1 in the order of the
//!   documents given: a provider's logits (anything outside 0..1) pass
//!   through a sigmoid.

use std::rc::Rc;

use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::openai::OpenAiCompatible;
use super::workers_ai::WorkersAi;
use super::{AiError, CallMeta};
use crate::ports::{ByteStream, FetchError, LocalFuture};

/// Vectors for texts.
pub trait Embedder {
    fn embed<'a>(&'a self, model: &'a str, texts: &'a [String], meta: &'a CallMeta) -> LocalFuture<'a, Result<Vec<Vec<f32>>, AiError>>;
}

/// Relevance of documents to a query, 0..1, in the documents' order.
pub trait Reranker {
    fn rerank<'a>(
        &'a self,
        model: &'a str,
        query: &'a str,
        docs: &'a [String],
        meta: &'a CallMeta,
    ) -> LocalFuture<'a, Result<Vec<f64>, AiError>>;
}

/// How many texts one embedding call takes (Workers AI's bge models: 100).
pub fn batch_size() -> usize {
    50
}

/// Embed any number of texts, [`batch_size`] at a time.
pub async fn embed_all(e: &dyn Embedder, model: &str, texts: &[String], meta: &CallMeta) -> Result<Vec<Vec<f32>>, AiError> {
    let mut out = Vec::with_capacity(texts.len());
    for batch in texts.chunks(batch_size()) {
        let v = e.embed(model, batch, meta).await?;
        if v.len() != batch.len() {
            return Err(AiError::Malformed(format!("{} vectors for {} texts", v.len(), batch.len())));
        }
        out.extend(v);
    }
    if let Some(first) = out.first() {
        if first.is_empty() || out.iter().any(|v| v.len() != first.len()) {
            return Err(AiError::Malformed("vectors of different lengths".into()));
        }
    }
    Ok(out)
}

fn sigmoid_if_logits(scores: Vec<f64>) -> Vec<f64> {
    if scores.iter().all(|s| (0.0..=1.0).contains(s)) {
        scores
    } else {
        scores.into_iter().map(|s| 1.0 / (1.0 + (-s).exp())).collect()
    }
}

pub(crate) async fn read_all(mut body: ByteStream, limit: usize) -> Result<Vec<u8>, AiError> {
    let mut buf = Vec::new();
    while let Some(b) = body.next().await {
        buf.extend(b.map_err(|e| AiError::Network(e.0))?);
        if buf.len() > limit {
            return Err(AiError::Malformed(format!("answer larger than {limit} bytes")));
        }
    }
    Ok(buf)
}

/// `{shape, data}` (Workers AI), possibly inside the REST API's `{result}`.
#[derive(Deserialize)]
struct WaiEmbeddings {
    data: Vec<Vec<f32>>,
}

#[derive(Deserialize)]
struct WaiRerank {
    response: Vec<WaiScore>,
}

#[derive(Deserialize)]
struct WaiScore {
    id: usize,
    score: f64,
}

/// Unwrap the REST API envelope (`{"result": …, "success": true}`) if present.
fn unwrap_result(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(mut m) if m.contains_key("result") => m.remove("result").unwrap_or_default(),
        v => v,
    }
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, AiError> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| AiError::Malformed(e.to_string()))?;
    serde_json::from_value(unwrap_result(v)).map_err(|e| AiError::Malformed(e.to_string()))
}

fn scores_by_id(r: WaiRerank, n: usize) -> Vec<f64> {
    let mut scores: Vec<Option<f64>> = vec![None; n];
    for s in r.response {
        if s.id < n {
            scores[s.id] = Some(s.score);
        }
    }
    let given: Vec<f64> = scores.iter().flatten().copied().collect();
    // Documents the reranker left out (top_k) rank last.
    if given.iter().all(|s| (0.0..=1.0).contains(s)) {
        return scores.into_iter().map(|s| s.unwrap_or(0.0)).collect();
    }
    let floor = given.iter().copied().fold(f64::INFINITY, f64::min) - 10.0;
    sigmoid_if_logits(scores.into_iter().map(|s| s.unwrap_or(floor)).collect())
}

impl OpenAiCompatible {
    /// `{base}` of a plain server, or the gateway's root for Workers AI's
    /// provider endpoint.
    pub(crate) fn base(&self) -> &str {
        let b = self.url.trim_end_matches("/chat/completions");
        if self.gateway {
            b.trim_end_matches("/compat")
        } else {
            b
        }
    }

    /// The headers of a JSON call that is not a chat completion: the
    /// bearer token and, to a gateway, its `cf-aig-*` headers.
    pub(crate) fn request_headers(&self, meta: &CallMeta) -> Vec<(&'static str, String)> {
        let mut headers = vec![("content-type", "application/json".to_string())];
        if let Some(t) = &self.token {
            headers.push(("authorization", format!("Bearer {t}")));
            if self.gateway {
                headers.push(("cf-aig-authorization", format!("Bearer {t}")));
            }
        }
        if !meta.traceparent.is_empty() {
            headers.push(("traceparent", meta.traceparent.clone()));
        }
        if self.gateway {
            headers.push(("cf-aig-metadata", meta.gateway_metadata().to_string()));
            headers.push(("cf-aig-cache-key", meta.cache_key.clone()));
            if meta.skip_cache {
                headers.push(("cf-aig-skip-cache", "true".into()));
            }
            headers.push(("cf-aig-request-timeout", meta.timeout_ms.to_string()));
            headers.push(("cf-aig-event-id", meta.request_id.clone()));
        }
        headers
    }

    async fn post_json(&self, url: &str, body: serde_json::Value, meta: &CallMeta) -> Result<Vec<u8>, AiError> {
        let headers = self.request_headers(meta);
        let resp = self
            .upstream
            .post(url, &headers, body.to_string().into_bytes(), meta.timeout_ms)
            .await
            .map_err(|e| match e {
                FetchError::Timeout => AiError::Timeout,
                FetchError::Network(m) => AiError::Network(m),
            })?;
        if !(200..300).contains(&resp.status) {
            return Err(AiError::Status {
                status: resp.status,
                message: super::openai::error_message(resp.body).await,
            });
        }
        read_all(resp.body, 32 << 20).await
    }
}

#[derive(Deserialize)]
struct OaEmbeddings {
    data: Vec<OaEmbedding>,
}

#[derive(Deserialize)]
struct OaEmbedding {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct OaRerank {
    results: Vec<OaScore>,
}

#[derive(Deserialize)]
struct OaScore {
    index: usize,
    relevance_score: f64,
}

impl Embedder for OpenAiCompatible {
    fn embed<'a>(&'a self, model: &'a str, texts: &'a [String], meta: &'a CallMeta) -> LocalFuture<'a, Result<Vec<Vec<f32>>, AiError>> {
        Box::pin(async move {
            if self.gateway {
                let url = format!("{}/workers-ai/{model}", self.base());
                let bytes = self.post_json(&url, json!({"text": texts}), meta).await?;
                return Ok(parse::<WaiEmbeddings>(&bytes)?.data);
            }
            let url = format!("{}/embeddings", self.base());
            let bytes = self.post_json(&url, json!({"model": model, "input": texts}), meta).await?;
            let mut e: OaEmbeddings = parse(&bytes)?;
            e.data.sort_by_key(|d| d.index.unwrap_or(0));
            Ok(e.data.into_iter().map(|d| d.embedding).collect())
        })
    }
}

impl Reranker for OpenAiCompatible {
    fn rerank<'a>(
        &'a self,
        model: &'a str,
        query: &'a str,
        docs: &'a [String],
        meta: &'a CallMeta,
    ) -> LocalFuture<'a, Result<Vec<f64>, AiError>> {
        Box::pin(async move {
            if self.gateway {
                let url = format!("{}/workers-ai/{model}", self.base());
                let contexts: Vec<_> = docs.iter().map(|d| json!({"text": d})).collect();
                let bytes = self.post_json(&url, json!({"query": query, "contexts": contexts}), meta).await?;
                return Ok(scores_by_id(parse(&bytes)?, docs.len()));
            }
            let url = format!("{}/rerank", self.base());
            let body = json!({"model": model, "query": query, "documents": docs, "top_n": docs.len()});
            let r: OaRerank = parse(&self.post_json(&url, body, meta).await?)?;
            Ok(scores_by_id(
                WaiRerank {
                    response: r
                        .results
                        .into_iter()
                        .map(|s| WaiScore {
                            id: s.index,
                            score: s.relevance_score,
                        })
                        .collect(),
                },
                docs.len(),
            ))
        })
    }
}

impl WorkersAi {
    pub(crate) fn options(&self, meta: &CallMeta) -> String {
        match self.gateway {
            None => "{}".into(),
            Some(id) => json!({"gateway": {
                "id": id,
                "cacheKey": meta.cache_key,
                "metadata": meta.gateway_metadata(),
                "requestTimeoutMs": meta.timeout_ms,
            }})
            .to_string(),
        }
    }

    async fn run(&self, model: &str, inputs: serde_json::Value, meta: &CallMeta) -> Result<String, AiError> {
        self.binding
            .run_json(model, inputs.to_string(), self.options(meta))
            .await
            .map_err(|e| AiError::Status {
                status: e.status.unwrap_or(502),
                message: e.message.chars().take(300).collect(),
            })
    }
}

impl Embedder for WorkersAi {
    fn embed<'a>(&'a self, model: &'a str, texts: &'a [String], meta: &'a CallMeta) -> LocalFuture<'a, Result<Vec<Vec<f32>>, AiError>> {
        Box::pin(async move {
            let out = self.run(model, json!({"text": texts}), meta).await?;
            Ok(parse::<WaiEmbeddings>(out.as_bytes())?.data)
        })
    }
}

impl Reranker for WorkersAi {
    fn rerank<'a>(
        &'a self,
        model: &'a str,
        query: &'a str,
        docs: &'a [String],
        meta: &'a CallMeta,
    ) -> LocalFuture<'a, Result<Vec<f64>, AiError>> {
        Box::pin(async move {
            let contexts: Vec<_> = docs.iter().map(|d| json!({"text": d})).collect();
            let out = self.run(model, json!({"query": query, "contexts": contexts}), meta).await?;
            Ok(scores_by_id(parse(out.as_bytes())?, docs.len()))
        })
    }
}

/// Embeddings and rerank of one provider.
pub struct Models {
    pub embedder: Rc<dyn Embedder>,
    pub reranker: Rc<dyn Reranker>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::memory::{Scripted, ScriptedUpstream};

    fn meta() -> CallMeta {
        CallMeta {
            tenant: "acme",
            route: "search",
            request_id: "req-1".into(),
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
            cache_key: "t/acme/cache/embed/x".into(),
            skip_cache: false,
            timeout_ms: 1000,
        }
    }

    use crate::ports::memory::block_on as run;

    fn http(up: &Rc<ScriptedUpstream>, gateway: bool) -> OpenAiCompatible {
        OpenAiCompatible {
            url: if gateway {
                OpenAiCompatible::gateway_url("acct", "gw")
            } else {
                OpenAiCompatible::chat_url("http://127.0.0.1:9/v1")
            },
            token: Some("tok".into()),
            gateway,
            model_override: None,
            upstream: up.clone(),
        }
    }

    #[test]
    fn openai_embeddings_in_batches_and_in_index_order() {
        let up = Rc::new(ScriptedUpstream::new(vec![Scripted::status(
            200,
            r#"{"data":[{"index":1,"embedding":[0,1]},{"index":0,"embedding":[1,0]}],"usage":{"prompt_tokens":2}}"#,
        )]));
        let e = http(&up, false);
        let texts = vec!["a".to_string(), "b".to_string()];
        let v = run(e.embed("@cf/baai/bge-base-en-v1.5", &texts, &meta())).unwrap();
        assert_eq!(v, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        {
            let c = &up.calls.borrow()[0];
            assert_eq!(c.url, "http://127.0.0.1:9/v1/embeddings");
            assert_eq!(c.body["input"], json!(["a", "b"]));
        }
        // 120 texts: three calls; a short answer is an error, not a partial result.
        let many: Vec<String> = (0..120).map(|i| i.to_string()).collect();
        assert!(matches!(run(embed_all(&e, "m", &many, &meta())), Err(AiError::Malformed(_))));
    }

    #[test]
    fn gateway_embeddings_use_the_workers_ai_provider_path() {
        let up = Rc::new(ScriptedUpstream::new(vec![Scripted::status(
            200,
            r#"{"result":{"shape":[1,2],"data":[[0.5,0.5]]},"success":true}"#,
        )]));
        let e = http(&up, true);
        let v = run(e.embed("@cf/baai/bge-base-en-v1.5", &["x".to_string()], &meta())).unwrap();
        assert_eq!(v, vec![vec![0.5, 0.5]]);
        let c = &up.calls.borrow()[0];
        assert_eq!(
            c.url,
            "https://gateway.ai.cloudflare.com/v1/acct/gw/workers-ai/@cf/baai/bge-base-en-v1.5"
        );
        assert_eq!(c.body, json!({"text": ["x"]}));
        assert!(c
            .headers
            .iter()
            .any(|(n, v)| *n == "cf-aig-metadata" && v.contains("\"tenant\":\"acme\"")));
    }

    #[test]
    fn rerank_scores_come_back_in_document_order_as_probabilities() {
        let up = Rc::new(ScriptedUpstream::new(vec![Scripted::status(
            200,
            r#"{"results":[{"index":1,"relevance_score":0.9},{"index":0,"relevance_score":0.2}]}"#,
        )]));
        let docs = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let s = run(http(&up, false).rerank("m", "q", &docs, &meta())).unwrap();
        assert_eq!(s[0], 0.2);
        assert_eq!(s[1], 0.9);
        assert!(s[2] < 0.2, "left out by top_n ranks last: {s:?}");
        assert_eq!(up.calls.borrow()[0].url, "http://127.0.0.1:9/v1/rerank");
        // Workers AI logits through the binding.
        let b = Rc::new(ScriptedUpstream::new(vec![Scripted::status(
            200,
            r#"{"response":[{"id":0,"score":-2.0},{"id":1,"score":3.0}]}"#,
        )]));
        let w = WorkersAi {
            gateway: Some("gw"),
            binding: b.clone(),
        };
        let s = run(w.rerank("@cf/baai/bge-reranker-base", "q", &docs[..2], &meta())).unwrap();
        assert!((s[0] - 0.1192).abs() < 1e-3 && (s[1] - 0.9526).abs() < 1e-3, "{s:?}");
        let call = &b.calls.borrow()[0];
        assert_eq!(call.body, json!({"query": "q", "contexts": [{"text": "a"}, {"text": "b"}]}));
        assert!(call.headers[0].1.contains("\"id\":\"gw\""));
    }

    #[test]
    fn failures_are_errors() {
        let up = Rc::new(ScriptedUpstream::new(vec![Scripted::status(
            503,
            r#"{"error":{"message":"busy"}}"#,
        )]));
        match run(http(&up, false).embed("m", &["x".to_string()], &meta())) {
            Err(AiError::Status { status: 503, message }) => assert_eq!(message, "busy"),
            other => panic!("{other:?}"),
        }
        let up = Rc::new(ScriptedUpstream::new(vec![Scripted::status(200, "not json")]));
        assert!(matches!(
            run(http(&up, false).embed("m", &["x".to_string()], &meta())),
            Err(AiError::Malformed(_))
        ));
    }
}
