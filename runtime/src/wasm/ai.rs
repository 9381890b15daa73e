//! The ports the model calls need on workerd: streaming `fetch` to an
//! upstream (aborted when its body is dropped), the Workers AI binding
//! with the options argument workers-rs does not pass, Analytics Engine
//! data points, and `ctx.waitUntil` for work after the response.

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_util::{stream, Stream};
use worker::js_sys;
use worker::wasm_bindgen::closure::Closure;
use worker::wasm_bindgen::{self, JsCast, JsValue};
use worker::wasm_bindgen_futures::{future_to_promise, JsFuture};

use crate::ports::{
    AiBinding, Background, BindingError, BindingRun, ByteStream, DataPoint, FetchError, LocalFuture, Metrics, PortError, StreamedResponse,
    Upstream,
};
use crate::tenancy::keys::VectorNamespace;

#[wasm_bindgen::prelude::wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen, inline_js = r#"
function headers_of(packed) {
  const h = new Headers();
  const p = packed.split("\0");
  for (let i = 0; i + 1 < p.length; i += 2) h.append(p[i], p[i + 1]);
  return h;
}
export async function upstream_post(url, headers, body, timeoutMs) {
  const ctrl = new AbortController();
  let timedOut = false;
  const t = setTimeout(() => { timedOut = true; ctrl.abort(); }, timeoutMs);
  let r;
  try {
    r = await fetch(url, { method: "POST", headers: headers_of(headers), body, signal: ctrl.signal });
  } catch (e) {
    return [timedOut ? "timeout" : String((e && e.message) || e)];
  } finally {
    clearTimeout(t);
  }
  let hs = "";
  r.headers.forEach((v, k) => { hs += k + "\0" + v + "\0"; });
  return [r.status, hs, r.body === null ? null : r.body.getReader(), ctrl];
}
// A pump reads an upstream body as fast as it arrives (up to 1 MiB ahead
// of the Worker) so that Rust takes everything buffered in one call
// instead of one promise round trip per network read.
const PUMP_CAP = 1 << 20;
// `wake` (a Rust callback) is called once after pump_next said "nothing
// yet" and something arrived: no promise per wait.
export function pump_start(reader, wake) {
  const st = { reader, parts: [], size: 0, done: false, err: null, waiting: false, room: null };
  const notify = () => { if (st.waiting) { st.waiting = false; wake(); } };
  (async () => {
    try {
      for (;;) {
        if (st.size >= PUMP_CAP) await new Promise((r) => { st.room = r; });
        if (st.done) break;
        const { done, value } = await reader.read();
        if (done) break;
        if (value.byteLength === 0) continue;
        st.parts.push(value);
        st.size += value.byteLength;
        notify();
      }
    } catch (e) {
      st.err = String((e && e.message) || e);
    }
    st.done = true;
    notify();
  })();
  return st;
}
// Everything buffered (a Uint8Array), or null when nothing is.
function pump_take(st) {
  if (st.parts.length === 0) return null;
  let out;
  if (st.parts.length === 1) out = st.parts[0];
  else {
    out = new Uint8Array(st.size);
    let o = 0;
    for (const p of st.parts) { out.set(p, o); o += p.byteLength; }
  }
  st.parts = [];
  st.size = 0;
  const r = st.room; st.room = null; if (r) r();
  return out;
}
// Everything buffered (a Uint8Array), or 1: ended, 2: failed (pump_error
// says why), 3: nothing yet (the pump calls its `wake` when that changes).
export function pump_next(st) {
  if (st.parts.length > 0) return pump_take(st);
  if (st.err !== null) return 2;
  if (st.done) return 1;
  st.waiting = true;
  return 3;
}
export function pump_error(st) { return st.err ?? ""; }
export function upstream_abort(ctrl, reader) {
  try { if (reader) reader.cancel().catch(() => {}); } catch (_) {}
  try { if (ctrl) ctrl.abort(); } catch (_) {}
}
export function pump_stop(st) {
  // Rust's callback is freed with the stream: never call it again.
  st.waiting = false;
  st.done = true;
  const r = st.room; st.room = null; if (r) r();
}
export async function ai_run_stream(ai, model, inputs, options) {
  try {
    const out = await ai.run(model, JSON.parse(inputs), JSON.parse(options));
    let s = out instanceof Response ? out.body : out;
    // Binary answers (speech) may come whole.
    if (s instanceof ArrayBuffer || ArrayBuffer.isView(s)) s = new Response(s).body;
    if (s === null || s === undefined || typeof s.getReader !== "function") {
      return [502, "the AI binding did not return a stream"];
    }
    const id = ai.aiGatewayLogId;
    return [0, s.getReader(), typeof id === "string" ? id : null];
  } catch (e) {
    const status = e && typeof e.status === "number" ? e.status : 0;
    return [status, String((e && e.message) || e)];
  }
}
export async function ai_run_json(ai, model, inputs, options) {
  try {
    const out = await ai.run(model, JSON.parse(inputs), JSON.parse(options));
    return [0, JSON.stringify(out ?? null)];
  } catch (e) {
    const status = e && typeof e.status === "number" ? e.status : 0;
    return [status === 0 ? 1 : status, String((e && e.message) || e)];
  }
}
// Vectorize (workers-rs has no binding for it). Answers are
// [error or "", JSON result].
export async function vz_upsert(index, namespace, vectors) {
  try {
    const v = JSON.parse(vectors).map((x) => ({ id: x.id, values: x.values, namespace, metadata: x.metadata }));
    await index.upsert(v);
    return "";
  } catch (e) { return String((e && e.message) || e) || "upsert failed"; }
}
export async function vz_query(index, namespace, values, topK, docs) {
  try {
    const opts = { topK, namespace, returnMetadata: "all", returnValues: false };
    const only = JSON.parse(docs);
    if (only.length > 0) opts.filter = { doc_id: { $in: only } };
    const r = await index.query(values, opts);
    return ["", JSON.stringify((r && r.matches) || [])];
  } catch (e) { return [String((e && e.message) || e) || "query failed", ""]; }
}
export async function vz_delete(index, ids) {
  try {
    await index.deleteByIds(JSON.parse(ids));
    return "";
  } catch (e) { return String((e && e.message) || e) || "delete failed"; }
}
export async function q_send(queue, bodies) {
  try {
    await queue.sendBatch(JSON.parse(bodies).map((body) => ({ body })));
    return "";
  } catch (e) { return String((e && e.message) || e) || "sendBatch failed"; }
}
export function q_messages(batch) { return Array.from((batch && batch.messages) || []); }
export function q_body(m) { return typeof m.body === "string" ? m.body : JSON.stringify(m.body); }
export function q_ack(m) { m.ack(); }
export function q_retry(m) { m.retry(); }
export function write_point(dataset, index, blobs, doubles) {
  dataset.writeDataPoint({ indexes: [index], blobs: JSON.parse(blobs), doubles: JSON.parse(doubles) });
}
export function wait_until(ctx, promise) {
  ctx.waitUntil(promise);
}
"#)]
extern "C" {
    fn upstream_post(url: &str, headers: &str, body: &[u8], timeout_ms: u32) -> js_sys::Promise;
    fn pump_start(reader: &JsValue, wake: &Closure<dyn FnMut()>) -> JsValue;
    fn pump_next(st: &JsValue) -> JsValue;
    fn pump_error(st: &JsValue) -> String;
    fn pump_stop(st: &JsValue);
    fn upstream_abort(ctrl: &JsValue, reader: &JsValue);
    fn ai_run_stream(ai: &JsValue, model: &str, inputs: &str, options: &str) -> js_sys::Promise;
    fn ai_run_json(ai: &JsValue, model: &str, inputs: &str, options: &str) -> js_sys::Promise;
    fn vz_upsert(index: &JsValue, namespace: &str, vectors: &str) -> js_sys::Promise;
    fn vz_query(index: &JsValue, namespace: &str, values: &js_sys::Float32Array, top_k: u32, docs: &str) -> js_sys::Promise;
    fn vz_delete(index: &JsValue, ids: &str) -> js_sys::Promise;
    fn q_send(queue: &JsValue, bodies: &str) -> js_sys::Promise;
    fn q_messages(batch: &JsValue) -> js_sys::Array;
    fn q_body(m: &JsValue) -> String;
    fn q_ack(m: &JsValue);
    fn q_retry(m: &JsValue);
    #[wasm_bindgen(catch)]
    fn write_point(dataset: &JsValue, index: &str, blobs: &str, doubles: &str) -> Result<(), JsValue>;
    fn wait_until(ctx: &JsValue, promise: &js_sys::Promise);
}

fn js_text(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Reads a JavaScript stream reader through a pump; dropped before its
/// end, it stops the pump, cancels the reader and aborts the request.
struct Reading {
    pump: JsValue,
    reader: JsValue,
    ctrl: JsValue,
    done: bool,
    /// The task waiting for the pump, woken by `_wake` (called from the
    /// pump when data, the end or an error arrives).
    waker: Rc<RefCell<Option<Waker>>>,
    _wake: Closure<dyn FnMut()>,
}

impl Drop for Reading {
    fn drop(&mut self) {
        if !self.done {
            pump_stop(&self.pump);
            upstream_abort(&self.ctrl, &self.reader);
        }
    }
}

impl Stream for Reading {
    type Item = Result<Vec<u8>, PortError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let next = pump_next(&self.pump);
        if let Some(bytes) = next.dyn_ref::<js_sys::Uint8Array>() {
            return Poll::Ready(Some(Ok(bytes.to_vec())));
        }
        match next.as_f64().unwrap_or(2.0) as u32 {
            1 => {
                self.done = true;
                Poll::Ready(None)
            }
            2 => {
                self.done = true;
                Poll::Ready(Some(Err(PortError(pump_error(&self.pump)))))
            }
            _ => {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

fn body_of(reader: JsValue, ctrl: JsValue) -> ByteStream {
    if reader.is_null() || reader.is_undefined() {
        return Box::pin(stream::empty());
    }
    let waker: Rc<RefCell<Option<Waker>>> = Rc::default();
    let w = waker.clone();
    let wake = Closure::<dyn FnMut()>::new(move || {
        if let Some(w) = w.borrow_mut().take() {
            w.wake();
        }
    });
    Box::pin(Reading {
        pump: pump_start(&reader, &wake),
        reader,
        ctrl,
        done: false,
        waker,
        _wake: wake,
    })
}

/// `fetch` for model providers.
pub struct FetchUpstream;

impl Upstream for FetchUpstream {
    fn post<'a>(
        &'a self,
        url: &'a str,
        headers: &'a [(&'static str, String)],
        body: Vec<u8>,
        timeout_ms: u32,
    ) -> LocalFuture<'a, Result<StreamedResponse, FetchError>> {
        Box::pin(async move {
            let mut packed = String::new();
            for (n, v) in headers {
                packed.push_str(n);
                packed.push('\0');
                packed.extend(v.chars().filter(|c| *c != '\0'));
                packed.push('\0');
            }
            let v = JsFuture::from(upstream_post(url, &packed, &body, timeout_ms))
                .await
                .map_err(|e| FetchError::Network(js_text(&e)))?;
            let arr: js_sys::Array = v.unchecked_into();
            let first = arr.get(0);
            if let Some(msg) = first.as_string() {
                return Err(if msg == "timeout" {
                    FetchError::Timeout
                } else {
                    FetchError::Network(msg)
                });
            }
            let status = first.as_f64().unwrap_or(0.0) as u16;
            let hs = arr.get(1).as_string().unwrap_or_default();
            let p: Vec<&str> = hs.split('\0').collect();
            let headers = p
                .chunks(2)
                .filter(|c| c.len() == 2)
                .map(|c| (c[0].to_string(), c[1].to_string()))
                .collect();
            Ok(StreamedResponse {
                status,
                headers,
                body: body_of(arr.get(2), arr.get(3)),
            })
        })
    }
}

/// The Workers AI binding (`env.AI`).
pub struct JsAiBinding(pub JsValue);

impl AiBinding for JsAiBinding {
    fn run_stream<'a>(&'a self, model: &'a str, inputs: String, options: String) -> LocalFuture<'a, Result<BindingRun, BindingError>> {
        Box::pin(async move {
            let v = JsFuture::from(ai_run_stream(&self.0, model, &inputs, &options))
                .await
                .map_err(|e| BindingError {
                    status: None,
                    message: js_text(&e),
                })?;
            let arr: js_sys::Array = v.unchecked_into();
            let status = arr.get(0).as_f64().unwrap_or(0.0) as u16;
            if status != 0 || arr.get(1).is_string() {
                return Err(BindingError {
                    status: (status != 0).then_some(status),
                    message: arr.get(1).as_string().unwrap_or_default(),
                });
            }
            Ok(BindingRun {
                body: body_of(arr.get(1), JsValue::NULL),
                log_id: arr.get(2).as_string(),
            })
        })
    }

    fn run_json<'a>(&'a self, model: &'a str, inputs: String, options: String) -> LocalFuture<'a, Result<String, BindingError>> {
        Box::pin(async move {
            let v = JsFuture::from(ai_run_json(&self.0, model, &inputs, &options))
                .await
                .map_err(|e| BindingError {
                    status: None,
                    message: js_text(&e),
                })?;
            let arr: js_sys::Array = v.unchecked_into();
            let status = arr.get(0).as_f64().unwrap_or(1.0) as u16;
            let text = arr.get(1).as_string().unwrap_or_default();
            if status != 0 {
                return Err(BindingError {
                    status: (status != 1).then_some(status),
                    message: text,
                });
            }
            Ok(text)
        })
    }
}

/// A Vectorize index binding. The namespace comes only from a
/// [`VectorNamespace`] (the tenant's); every upserted vector carries it,
/// every query is restricted to it, and deletes name ids derived from it.
pub struct JsVectorize(pub JsValue);

async fn vz_done(p: js_sys::Promise) -> Result<(), PortError> {
    let v = JsFuture::from(p).await.map_err(|e| PortError(js_text(&e)))?;
    match v.as_string() {
        Some(e) if !e.is_empty() => Err(PortError(e)),
        _ => Ok(()),
    }
}

impl crate::ports::Vectors for JsVectorize {
    fn upsert<'a>(&'a self, ns: &'a VectorNamespace, vectors: Vec<crate::ports::VectorRecord>) -> LocalFuture<'a, Result<(), PortError>> {
        Box::pin(async move {
            let v: Vec<serde_json::Value> = vectors
                .into_iter()
                .map(|r| serde_json::json!({"id": r.id, "values": r.values, "metadata": r.metadata}))
                .collect();
            let json = serde_json::to_string(&v).map_err(|e| PortError(e.to_string()))?;
            vz_done(vz_upsert(&self.0, ns.namespace(), &json)).await
        })
    }

    fn query<'a>(
        &'a self,
        ns: &'a VectorNamespace,
        values: &'a [f32],
        top_k: u32,
        docs: &'a [String],
    ) -> LocalFuture<'a, Result<Vec<crate::ports::VectorMatch>, PortError>> {
        Box::pin(async move {
            let only = serde_json::to_string(docs).map_err(|e| PortError(e.to_string()))?;
            let arr = js_sys::Float32Array::from(values);
            let v = JsFuture::from(vz_query(&self.0, ns.namespace(), &arr, top_k, &only))
                .await
                .map_err(|e| PortError(js_text(&e)))?;
            let a: js_sys::Array = v.unchecked_into();
            let err = a.get(0).as_string().unwrap_or_default();
            if !err.is_empty() {
                return Err(PortError(err));
            }
            let matches: Vec<serde_json::Value> =
                serde_json::from_str(&a.get(1).as_string().unwrap_or_default()).map_err(|e| PortError(e.to_string()))?;
            Ok(matches
                .into_iter()
                .filter_map(|m| {
                    Some(crate::ports::VectorMatch {
                        id: m.get("id")?.as_str()?.to_string(),
                        score: m.get("score")?.as_f64()?,
                        metadata: m.get("metadata").cloned().unwrap_or_default(),
                    })
                })
                .collect())
        })
    }

    fn delete<'a>(&'a self, _ns: &'a VectorNamespace, ids: Vec<String>) -> LocalFuture<'a, Result<(), PortError>> {
        Box::pin(async move {
            let json = serde_json::to_string(&ids).map_err(|e| PortError(e.to_string()))?;
            vz_done(vz_delete(&self.0, &json)).await
        })
    }
}

/// The ingestion queue's producer binding.
pub struct JsQueue(pub JsValue);

impl crate::ports::IngestQueue for JsQueue {
    fn send_batch<'a>(&'a self, bodies: Vec<String>) -> LocalFuture<'a, Result<(), PortError>> {
        Box::pin(async move {
            let json = serde_json::to_string(&bodies).map_err(|e| PortError(e.to_string()))?;
            vz_done(q_send(&self.0, &json)).await
        })
    }
}

/// The messages of a queue batch.
pub fn queue_messages(batch: &JsValue) -> Vec<JsValue> {
    q_messages(batch).iter().collect()
}

/// A message's body as text.
pub fn message_body(m: &JsValue) -> String {
    q_body(m)
}

pub fn message_ack(m: &JsValue) {
    q_ack(m)
}

pub fn message_retry(m: &JsValue) {
    q_retry(m)
}

/// An Analytics Engine dataset binding.
pub struct AeMetrics(pub JsValue);

impl Metrics for AeMetrics {
    fn write(&self, p: &DataPoint) {
        let blobs = serde_json::to_string(&p.blobs).unwrap_or_else(|_| "[]".into());
        let doubles = serde_json::to_string(&p.doubles).unwrap_or_else(|_| "[]".into());
        // Metrics never fail a request.
        let _ = write_point(&self.0, &p.index, &blobs, &doubles);
    }
}

/// `ctx.waitUntil` of one request.
pub struct WaitUntil(pub JsValue);

impl Background for WaitUntil {
    fn spawn(&self, work: LocalFuture<'static, ()>) {
        let p = future_to_promise(async move {
            work.await;
            Ok(JsValue::UNDEFINED)
        });
        if self.0.is_object() {
            wait_until(&self.0, &p);
        }
    }
}

/// Shared by the ports: keep an `Rc` to a binding's value.
pub fn binding(env: &worker::Env, name: &str) -> Option<JsValue> {
    let v = js_sys::Reflect::get(env, &JsValue::from_str(name)).ok()?;
    (!v.is_undefined() && !v.is_null()).then_some(v)
}
