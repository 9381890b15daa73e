//! The JavaScript shim: how a workerd `Request` reaches the core and how a
//! core [`Response`] goes back, in as few crossings as possible.
//!
//! - One call packs the method, the URL, whether there is a body and the
//!   headers every request reads ([`Header::EVERY_REQUEST`]) into one string (each
//!   crossing and string conversion costs more than the work the core does
//!   on `/health`); the others are read on demand, and the
//!   `web_sys::Request` is kept for them and the body.
//! - The body is read in JavaScript chunk by chunk, counting bytes, and
//!   abandoned (the stream cancelled) as soon as it passes the route's
//!   limit — whatever `content-length` said.
//! - A bytes response goes back in one call: its body as a view of wasm
//!   memory, its log line and headers as one buffer that JavaScript
//!   decodes itself when it is ASCII (workerd's `TextDecoder` lengthens
//!   its full garbage collections); a 200 is constructed without an init
//!   and its headers appended (cheaper than any init on workerd). A stream
//!   goes back as a `ReadableStream` that a task fills: each chunk of the
//!   Rust stream is enqueued as soon as it is produced (one synchronous
//!   call per chunk); the task waits while the stream holds
//!   `CHUNKS_AHEAD` chunks the client has not taken. When the client goes
//!   away workerd cancels the stream; the task drops the Rust stream and
//!   with it the producer (the upstream request is aborted), also while it
//!   is waiting for the producer. Before, the stream was pulled from Rust
//!   (wasm-streams): a promise, a future and a wasm call per chunk, about
//!   a third of a streamed chat's CPU (docs/benchmarks.md). A native
//!   `IdentityTransformStream` was tried: workerd does not tell its
//!   writer that the client left.
//! - wasm-bindgen-futures schedules every woken task with
//!   `queueMicrotask`, which workerd wraps into a new function object per
//!   call (a fifth of a streamed chat's CPU); the module replaces it with
//!   the same microtask queued through an already resolved promise.

use std::cell::{Cell, RefCell};

use futures_util::StreamExt;
use worker::js_sys;
use worker::wasm_bindgen::{self, JsCast, JsValue};
use worker::worker_sys::web_sys;

use crate::http::{path_range_of_url, query_of_url, Body, BodyError, Header, Incoming, Response};
use crate::ports::{LocalFuture, LogSink};

#[wasm_bindgen::prelude::wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen, inline_js = r#"
// The headers every request reads (Header::EVERY_REQUEST in Rust, same
// order); the others are read when asked for (`header`).
const NAMES = ["host", "x-tenant-id", "x-request-id", "origin", "content-length", "transfer-encoding", "traceparent"];
export function read_request(r) {
  const h = r.headers;
  let s = r.method + "\0" + r.url + "\0" + (r.body === null ? "0" : "1");
  for (let i = 0; i < NAMES.length; i++) {
    const v = h.get(NAMES[i]);
    s += v === null ? "\0" : "\0=" + v;
  }
  return s;
}
export function header(r, name) {
  return r.headers.get(name);
}
export async function read_body(r, limit) {
  if (r.body === null) return new Uint8Array(0);
  const reader = r.body.getReader();
  const parts = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > limit) {
      try { await reader.cancel("request body over the limit"); } catch (_) {}
      return null;
    }
    parts.push(value);
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.byteLength; }
  return out;
}
// A `Response` with headers `p[from]`, `p[from + 1]`, … (name, value):
// constructed without an init when its status is 200, then its headers
// appended one by one. That is the cheapest way on workerd (measured per
// call, docs/benchmarks.md): it reads an init dictionary field by field,
// a record of headers property by property, header pairs through the
// iterator protocol (one `next()` per header and per pair), and copies a
// `Headers` object. A repeated name is combined as `Headers.append` does.
function response(body, status, p, from) {
  const r = status === 200 ? new Response(body) : new Response(body, { status });
  const h = r.headers;
  for (let i = from; i + 1 < p.length; i += 2) h.append(p[i], p[i + 1]);
  return r;
}
// Text out of wasm memory: ASCII (nearly always: log lines and header
// values; the core says which) is decoded here, anything else by a
// TextDecoder. workerd's TextDecoder costs its garbage collector: with one
// `decode` per request, the pauses of full collections, and so the tail
// latency, were half as long again (docs/benchmarks.md).
const DECODER = new TextDecoder();
function text(bytes, ascii) {
  if (!ascii) return DECODER.decode(bytes);
  if (bytes.length <= 1024) return String.fromCharCode.apply(null, bytes);
  let out = "";
  for (let i = 0; i < bytes.length; i += 1024) out += String.fromCharCode.apply(null, bytes.subarray(i, i + 1024));
  return out;
}
// `head` is the request's log line (possibly empty), then the header
// names and values, all NUL-separated, as UTF-8 (see `text`). `body` is a
// view of wasm memory: the constructor copies a BufferSource body (the
// Fetch standard's "extract a body"), so it is not copied first.
export function respond(status, head, ascii, body) {
  const p = text(head, ascii).split("\0");
  if (p[0].length > 0) console.log(p[0]);
  return response(body.length > 0 ? body : null, status, p, 1);
}
// The chunks a streamed response may hold before its producer waits.
const CHUNKS_AHEAD = 16;
export function stream_response(status, headers) {
  const st = { c: null, room: null, gone: false, onGone: null };
  st.goneP = new Promise((r) => { st.onGone = r; });
  const wake = () => { const r = st.room; st.room = null; if (r) r(); };
  const body = new ReadableStream({
    start(c) { st.c = c; },
    pull() { wake(); },
    cancel() { st.gone = true; st.onGone(); wake(); },
  }, { highWaterMark: CHUNKS_AHEAD });
  return [response(body, status, headers.split("\0"), 0), st];
}
// Queue one chunk (copied out of wasm memory); 0: queued, 1: the
// producer should wait (stream_room), 2: the client is gone.
export function stream_write(st, bytes) {
  if (st.gone) return 2;
  try {
    st.c.enqueue(bytes.slice());
  } catch (_) {
    // The stream was closed or errored under us: treat as the client gone.
    st.gone = true;
    return 2;
  }
  return st.c.desiredSize > 0 ? 0 : 1;
}
// Resolves when the stream has room again or the client is gone (then
// with true).
export function stream_room(st) {
  if (st.gone || st.c.desiredSize > 0) return Promise.resolve(st.gone);
  return new Promise((r) => { st.room = () => r(st.gone); });
}
export function stream_gone(st) { return st.goneP; }
export function stream_close(st) {
  if (!st.gone) { try { st.c.close(); } catch (_) {} }
}
// Runs once, when the module loads (see the module documentation).
const RESOLVED = Promise.resolve();
globalThis.queueMicrotask = function queueMicrotask(f) { RESOLVED.then(() => f()); };
export function log_line(line) {
  console.log(line);
}
"#)]
extern "C" {
    fn read_request(r: &web_sys::Request) -> String;
    fn header(r: &web_sys::Request, name: &str) -> Option<String>;
    fn read_body(r: &web_sys::Request, limit: f64) -> js_sys::Promise;
    fn respond(status: u16, head: &[u8], ascii: bool, body: &[u8]) -> web_sys::Response;
    fn stream_response(status: u16, headers: &str) -> js_sys::Array;
    fn stream_write(st: &JsValue, bytes: &[u8]) -> u32;
    fn stream_room(st: &JsValue) -> js_sys::Promise;
    fn stream_gone(st: &JsValue) -> js_sys::Promise;
    fn stream_close(st: &JsValue);
    pub(crate) fn log_line(line: &str);
}

/// The incoming request, as `read_request` packed it.
pub struct WasmRequest {
    raw: web_sys::Request,
    method: String,
    url: String,
    /// Where the path is in `url` ([`path_range_of_url`]; asked for
    /// several times per request).
    path: std::ops::Range<usize>,
    has_body: bool,
    /// The headers every request reads ([`Header::EVERY_REQUEST`], the
    /// JavaScript `NAMES`, same order), packed into `read_request`'s
    /// string; each of the others (credentials, `content-type`, the
    /// client address…) costs a call when a route asks for it. On
    /// `/health`, eight `headers.get` calls fewer.
    headers: [Option<String>; Header::EVERY_REQUEST.len()],
}

impl WasmRequest {
    pub fn read(req: web_sys::Request) -> WasmRequest {
        let packed = read_request(&req);
        // NUL cannot occur in a method, a serialised URL or a header value.
        let mut it = packed.split('\0');
        let method = it.next().unwrap_or_default().to_string();
        let url = it.next().unwrap_or_default().to_string();
        let has_body = it.next() == Some("1");
        let headers = std::array::from_fn(|_| it.next().and_then(|v| v.strip_prefix('=')).map(str::to_string));
        let path = path_range_of_url(&url);
        WasmRequest {
            raw: req,
            method,
            url,
            path,
            has_body,
            headers,
        }
    }
}

impl Incoming for WasmRequest {
    fn method(&self) -> &str {
        &self.method
    }

    fn path(&self) -> &str {
        if self.path.is_empty() {
            "/"
        } else {
            &self.url[self.path.clone()]
        }
    }

    fn query(&self) -> Option<&str> {
        query_of_url(&self.url)
    }

    fn scheme(&self) -> &str {
        self.url.split_once("://").map_or("https", |(s, _)| s)
    }

    fn header(&self, name: Header) -> Option<String> {
        match Header::EVERY_REQUEST.iter().position(|h| *h == name) {
            Some(i) => self.headers[i].clone(),
            None => header(&self.raw, name.name()),
        }
    }

    fn has_body(&self) -> bool {
        self.has_body
    }

    fn read_body(&self, limit: u64) -> LocalFuture<'_, Result<Vec<u8>, BodyError>> {
        Box::pin(async move {
            let v = worker::wasm_bindgen_futures::JsFuture::from(read_body(&self.raw, limit as f64))
                .await
                .map_err(|e| BodyError::Io(e.as_string().unwrap_or_else(|| format!("{e:?}"))))?;
            if v.is_null() {
                return Err(BodyError::TooLarge { limit });
            }
            Ok(js_sys::Uint8Array::new(&v).to_vec())
        })
    }
}

/// A request's log line: kept until the response crosses to JavaScript
/// (one call for both); after that (a stream's line, written when it
/// ends) written at once.
#[derive(Default)]
pub struct BufferedLog {
    buf: RefCell<String>,
    flushed: Cell<bool>,
}

impl BufferedLog {
    fn take(&self) -> String {
        self.flushed.set(true);
        std::mem::take(&mut *self.buf.borrow_mut())
    }
}

impl LogSink for BufferedLog {
    fn line(&self, json: &str) {
        if self.flushed.get() {
            log_line(json);
            return;
        }
        let mut b = self.buf.borrow_mut();
        if !b.is_empty() {
            b.push('\n');
        }
        b.push_str(json);
    }
}

/// Push `s` without NUL, the separator of the strings handed to
/// JavaScript (the core never produces one in a header value or a log
/// line; one would be dropped).
fn push_without_nul(out: &mut String, s: &str) {
    if s.contains('\0') {
        out.extend(s.chars().filter(|c| *c != '\0'));
    } else {
        out.push_str(s);
    }
}

/// The core's response as a workerd `Response`.
pub fn to_web(r: Response, log: &BufferedLog) -> web_sys::Response {
    let pending = log.take();
    // A bytes response: the log line, then the headers (`respond`).
    let mut head = String::with_capacity(pending.len() + 192);
    if !r.body.is_stream() {
        push_without_nul(&mut head, &pending);
        head.push('\0');
    }
    for (name, value) in &r.headers {
        head.push_str(name);
        head.push('\0');
        push_without_nul(&mut head, value);
        head.push('\0');
    }
    match r.body {
        Body::Stream(s) => {
            if !pending.is_empty() {
                log_line(&pending);
            }
            let pair = stream_response(r.status, &head);
            let st = pair.get(1);
            worker::wasm_bindgen_futures::spawn_local(drive(s, st));
            pair.get(0).unchecked_into()
        }
        Body::Bytes(b) => respond(r.status, head.as_bytes(), head.is_ascii(), &b),
        Body::Empty => respond(r.status, head.as_bytes(), head.is_ascii(), &[]),
    }
}

/// Enqueue `s` into a streamed response until it ends or the client goes
/// away; either way the Rust stream is dropped here.
async fn drive(mut s: crate::http::ChunkStream, st: JsValue) {
    use futures_util::future::{select, Either};
    let mut gone = worker::wasm_bindgen_futures::JsFuture::from(stream_gone(&st));
    loop {
        let next = match select(s.next(), &mut gone).await {
            Either::Left((next, _)) => next,
            Either::Right(_) => return,
        };
        match next {
            Some(Ok(bytes)) => match stream_write(&st, &bytes) {
                0 => {}
                1 => {
                    let gone = worker::wasm_bindgen_futures::JsFuture::from(stream_room(&st)).await;
                    if gone.map_or(true, |g| g.as_bool() == Some(true)) {
                        return;
                    }
                }
                _ => return,
            },
            // The core ends a failed stream itself (an error event, then
            // the end); an `Err` is not produced, but would end it too.
            Some(Err(_)) | None => {
                stream_close(&st);
                return;
            }
        }
    }
}
