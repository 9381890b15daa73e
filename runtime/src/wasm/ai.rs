//! The ports the model calls need on workerd: streaming `fetch` to an
//! upstream (aborted when its body is dropped), the Workers AI binding
//! with the options argument workers-rs does not pass, Analytics Engine
//! data points, and `ctx.waitUntil` for work after the response.

use futures_util::stream;
use worker::js_sys;
use worker::wasm_bindgen::{self, JsCast, JsValue};
use worker::wasm_bindgen_futures::{future_to_promise, JsFuture};

use crate::ports::{
    AiBinding, Background, BindingError, BindingRun, ByteStream, DataPoint, FetchError, LocalFuture, Metrics, PortError, StreamedResponse,
    Upstream,
};

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
export async function reader_next(reader) {
  const { done, value } = await reader.read();
  return done ? null : value;
}
export function upstream_abort(ctrl, reader) {
  try { if (reader) reader.cancel().catch(() => {}); } catch (_) {}
  try { if (ctrl) ctrl.abort(); } catch (_) {}
}
export async function ai_run_stream(ai, model, inputs, options) {
  try {
    const out = await ai.run(model, JSON.parse(inputs), JSON.parse(options));
    const s = out instanceof Response ? out.body : out;
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
export function write_point(dataset, index, blobs, doubles) {
  dataset.writeDataPoint({ indexes: [index], blobs: JSON.parse(blobs), doubles: JSON.parse(doubles) });
}
export function wait_until(ctx, promise) {
  ctx.waitUntil(promise);
}
"#)]
extern "C" {
    fn upstream_post(url: &str, headers: &str, body: &[u8], timeout_ms: u32) -> js_sys::Promise;
    fn reader_next(reader: &JsValue) -> js_sys::Promise;
    fn upstream_abort(ctrl: &JsValue, reader: &JsValue);
    fn ai_run_stream(ai: &JsValue, model: &str, inputs: &str, options: &str) -> js_sys::Promise;
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

/// Reads a JavaScript stream reader; dropped before its end, it cancels
/// the reader and aborts the request.
struct Reading {
    reader: JsValue,
    ctrl: JsValue,
    done: bool,
}

impl Reading {
    /// The body was read to its end: nothing to cancel on drop.
    fn finished(&mut self) {
        self.done = true;
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        if !self.done {
            upstream_abort(&self.ctrl, &self.reader);
        }
    }
}

fn body_of(reader: JsValue, ctrl: JsValue) -> ByteStream {
    if reader.is_null() {
        return Box::pin(stream::empty());
    }
    let r = Reading { reader, ctrl, done: false };
    Box::pin(stream::unfold(r, |mut r| async move {
        if r.done {
            return None;
        }
        match JsFuture::from(reader_next(&r.reader)).await {
            Ok(v) if v.is_null() || v.is_undefined() => {
                r.finished();
                None
            }
            Ok(v) => Some((Ok(js_sys::Uint8Array::new(&v).to_vec()), r)),
            Err(e) => {
                // Failed: the reader is done; nothing to cancel, and the
                // next poll ends the stream.
                r.done = true;
                let item = Err(PortError(js_text(&e)));
                Some((item, r))
            }
        }
    }))
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
