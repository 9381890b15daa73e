//! The ports over workerd: the clock, timers and randomness of the
//! runtime, WebCrypto for signatures, `fetch` for key sets, KV namespaces
//! and the rate limiter Durable Object.
//!
//! Crypto choice: WebCrypto (`crypto.subtle`) rather than pure-Rust RSA /
//! ECDSA / Ed25519 crates — verification runs in workerd's native code
//! (BoringSSL), adds no code to the wasm, and imported keys are cached in
//! JavaScript per isolate; docs/auth.md has the measurements.

use std::rc::Rc;
use std::time::Duration;

use worker::js_sys;
use worker::wasm_bindgen::{self, JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;

use crate::objects::budget::{BudgetOp, BudgetReply};
use crate::objects::rate_limiter::{HitReply, HitRequest};
use crate::objects::sessions::{SessionOp, SessionReply};
use crate::ports::{
    Budget, CallIds, Clock, Crypto, Fetched, HttpClient, Kv, KvEntry, Limiter, LocalFuture, PortError, Random, Sessions, SigAlg, Timer,
};
use crate::tenancy::keys::StorageKey;

#[wasm_bindgen::prelude::wasm_bindgen(wasm_bindgen = ::worker::wasm_bindgen, inline_js = r#"
const keys = new Map();
const IMPORT = {
  RS256: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  ES256: { name: "ECDSA", namedCurve: "P-256" },
  EdDSA: { name: "Ed25519" },
};
const VERIFY = {
  RS256: { name: "RSASSA-PKCS1-v1_5" },
  ES256: { name: "ECDSA", hash: "SHA-256" },
  EdDSA: { name: "Ed25519" },
};
export async function verify_sig(alg, jwk, data, sig) {
  const id = alg + jwk;
  let k = keys.get(id);
  if (k === undefined) {
    k = await crypto.subtle.importKey("jwk", JSON.parse(jwk), IMPORT[alg], false, ["verify"]);
    if (keys.size >= 256) keys.clear();
    keys.set(id, k);
  }
  return await crypto.subtle.verify(VERIFY[alg], k, sig, data);
}
export async function http_get(url, timeoutMs) {
  const ctrl = new AbortController();
  const t = setTimeout(() => ctrl.abort(), timeoutMs);
  try {
    const r = await fetch(url, { signal: ctrl.signal, headers: { accept: "application/json" } });
    const b = new Uint8Array(await r.arrayBuffer());
    return [r.status, b];
  } finally {
    clearTimeout(t);
  }
}
export function random_fill(buf) {
  crypto.getRandomValues(buf);
}
"#)]
extern "C" {
    fn verify_sig(alg: &str, jwk: &str, data: &[u8], sig: &[u8]) -> js_sys::Promise;
    fn http_get(url: &str, timeout_ms: u32) -> js_sys::Promise;
    fn random_fill(buf: &mut [u8]);
}

fn js_err(e: JsValue) -> PortError {
    PortError(
        e.dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .or_else(|| e.as_string())
            .unwrap_or_else(|| format!("{e:?}")),
    )
}

pub struct JsClock;

impl Clock for JsClock {
    fn now_ms(&self) -> f64 {
        js_sys::Date::now()
    }
}

pub struct JsTimer;

impl Timer for JsTimer {
    fn sleep(&self, ms: u32) -> LocalFuture<'static, ()> {
        // Dropping the Delay clears the timeout (cancellation).
        Box::pin(worker::Delay::from(Duration::from_millis(u64::from(ms))))
    }
}

pub struct JsRandom;

impl Random for JsRandom {
    fn fill(&self, buf: &mut [u8]) {
        // getRandomValues takes at most 65,536 bytes at a time.
        for chunk in buf.chunks_mut(65_536) {
            random_fill(chunk);
        }
    }
}

pub struct WebCrypto;

impl Crypto for WebCrypto {
    fn verify<'a>(&'a self, alg: SigAlg, jwk: &'a str, data: &'a [u8], sig: &'a [u8]) -> LocalFuture<'a, Result<bool, PortError>> {
        Box::pin(async move {
            let v = JsFuture::from(verify_sig(alg.as_str(), jwk, data, sig)).await.map_err(js_err)?;
            Ok(v.as_bool() == Some(true))
        })
    }
}

pub struct FetchClient;

impl HttpClient for FetchClient {
    fn get<'a>(&'a self, url: &'a str, timeout_ms: u32) -> LocalFuture<'a, Result<Fetched, PortError>> {
        Box::pin(async move {
            let v = JsFuture::from(http_get(url, timeout_ms)).await.map_err(js_err)?;
            let arr: js_sys::Array = v.unchecked_into();
            let status = arr.get(0).as_f64().unwrap_or(0.0) as u16;
            let body = js_sys::Uint8Array::new(&arr.get(1)).to_vec();
            Ok(Fetched { status, body })
        })
    }
}

/// A KV namespace binding.
pub struct KvAdapter(pub worker::KvStore);

impl Kv for KvAdapter {
    fn get<'a>(&'a self, key: &'a StorageKey) -> LocalFuture<'a, Result<Option<String>, PortError>> {
        Box::pin(async move { self.0.get(key.as_str()).text().await.map_err(|e| PortError(e.to_string())) })
    }

    fn put<'a>(&'a self, key: &'a StorageKey, value: &'a str, metadata: Option<&'a str>) -> LocalFuture<'a, Result<(), PortError>> {
        Box::pin(async move {
            let err = |e: worker::kv::KvError| PortError(e.to_string());
            let mut b = self.0.put(key.as_str(), value).map_err(err)?;
            if let Some(m) = metadata {
                let v: serde_json::Value = serde_json::from_str(m).map_err(|e| PortError(e.to_string()))?;
                b = b.metadata(v).map_err(err)?;
            }
            b.execute().await.map_err(err)
        })
    }

    fn put_expiring<'a>(&'a self, key: &'a StorageKey, value: &'a str, ttl_secs: u32) -> LocalFuture<'a, Result<(), PortError>> {
        Box::pin(async move {
            let err = |e: worker::kv::KvError| PortError(e.to_string());
            self.0
                .put(key.as_str(), value)
                .map_err(err)?
                .expiration_ttl(u64::from(ttl_secs.max(60)))
                .execute()
                .await
                .map_err(err)
        })
    }

    fn delete<'a>(&'a self, key: &'a StorageKey) -> LocalFuture<'a, Result<(), PortError>> {
        Box::pin(async move { self.0.delete(key.as_str()).await.map_err(|e| PortError(e.to_string())) })
    }

    fn list<'a>(&'a self, prefix: &'a StorageKey) -> LocalFuture<'a, Result<Vec<KvEntry>, PortError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut b = self.0.list().prefix(prefix.as_str().to_string());
                if let Some(c) = cursor.take() {
                    b = b.cursor(c);
                }
                let page = b.execute().await.map_err(|e| PortError(e.to_string()))?;
                out.extend(page.keys.into_iter().map(|k| KvEntry {
                    key: k.name,
                    metadata: k.metadata.map(|m| m.to_string()),
                }));
                match page.cursor {
                    Some(c) if !page.list_complete && !c.is_empty() => cursor = Some(c),
                    _ => break,
                }
            }
            Ok(out)
        })
    }
}

/// A Durable Object namespace, and the ids of the request its calls are
/// made for (`None`: the isolate's own port, before a request).
#[derive(Clone)]
pub struct DoNs {
    /// Shared: a request's copy costs a count, not a JavaScript reference.
    pub ns: Rc<worker::ObjectNamespace>,
    pub ids: Option<Rc<CallIds>>,
}

impl DoNs {
    pub fn new(ns: worker::ObjectNamespace) -> DoNs {
        DoNs {
            ns: Rc::new(ns),
            ids: None,
        }
    }

    fn with(&self, ids: &Rc<CallIds>) -> DoNs {
        DoNs {
            ns: self.ns.clone(),
            ids: Some(ids.clone()),
        }
    }
}

/// POST `body` as JSON to `path` of the object named `object`, with the
/// request's `x-request-id` and `traceparent`; the reply as `T`.
async fn do_call<B: serde::Serialize, T: serde::de::DeserializeOwned>(
    ns: &DoNs,
    object: &StorageKey,
    path: &str,
    body: &B,
) -> Result<T, PortError> {
    let err = |e: worker::Error| PortError(e.to_string());
    let stub = ns.ns.id_from_name(object.as_str()).map_err(err)?.get_stub().map_err(err)?;
    let body = serde_json::to_string(body).map_err(|e| PortError(e.to_string()))?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post).with_body(Some(JsValue::from_str(&body)));
    if let Some(ids) = &ns.ids {
        let h = worker::Headers::new();
        h.set("x-request-id", &ids.request_id).map_err(err)?;
        h.set("traceparent", &ids.traceparent).map_err(err)?;
        init.with_headers(h);
    }
    let r = worker::Request::new_with_init(&format!("https://object{path}"), &init).map_err(err)?;
    let mut resp = stub.fetch_with_request(r).await.map_err(err)?;
    if resp.status_code() != 200 {
        let text = resp.text().await.unwrap_or_default();
        return Err(PortError(format!("object answered {}: {}", resp.status_code(), text)));
    }
    resp.json::<T>().await.map_err(err)
}

/// The `RATE_LIMITER` Durable Object namespace: rate limits and budgets.
#[derive(Clone)]
pub struct DoLimiter(pub DoNs);

impl Limiter for DoLimiter {
    fn hit<'a>(&'a self, object: &'a StorageKey, req: &'a HitRequest) -> LocalFuture<'a, Result<HitReply, PortError>> {
        Box::pin(do_call(&self.0, object, "/hit", req))
    }
    fn for_request(&self, ids: &Rc<CallIds>) -> Option<Rc<dyn Limiter>> {
        Some(Rc::new(DoLimiter(self.0.with(ids))))
    }
}

impl Budget for DoLimiter {
    fn call<'a>(&'a self, object: &'a StorageKey, op: &'a BudgetOp) -> LocalFuture<'a, Result<BudgetReply, PortError>> {
        Box::pin(do_call(&self.0, object, "/budget", op))
    }
    fn for_request(&self, ids: &Rc<CallIds>) -> Option<Rc<dyn Budget>> {
        Some(Rc::new(DoLimiter(self.0.with(ids))))
    }
}

/// The `SESSIONS` Durable Object namespace.
pub struct DoSessions(pub DoNs);

impl Sessions for DoSessions {
    fn call<'a>(&'a self, object: &'a StorageKey, op: &'a SessionOp) -> LocalFuture<'a, Result<SessionReply, PortError>> {
        Box::pin(do_call(&self.0, object, "/op", op))
    }
    fn for_request(&self, ids: &Rc<CallIds>) -> Option<Rc<dyn Sessions>> {
        Some(Rc::new(DoSessions(self.0.with(ids))))
    }
}

/// The `DOC_INDEX` Durable Object namespace.
pub struct DoDocIndex(pub DoNs);

impl crate::ports::DocIndex for DoDocIndex {
    fn call<'a>(
        &'a self,
        object: &'a StorageKey,
        op: &'a crate::objects::doc_index::IndexOp,
    ) -> LocalFuture<'a, Result<crate::objects::doc_index::IndexReply, PortError>> {
        Box::pin(do_call(&self.0, object, "/op", op))
    }
    fn for_request(&self, ids: &Rc<CallIds>) -> Option<Rc<dyn crate::ports::DocIndex>> {
        Some(Rc::new(DoDocIndex(self.0.with(ids))))
    }
}

/// The `AUDIT` Durable Object namespace (class `AuditLog`).
pub struct DoAudit(pub DoNs);

impl crate::ports::Audit for DoAudit {
    fn call<'a>(
        &'a self,
        object: &'a StorageKey,
        op: &'a crate::objects::audit::AuditOp,
    ) -> LocalFuture<'a, Result<crate::objects::audit::AuditReply, PortError>> {
        Box::pin(do_call(&self.0, object, "/op", op))
    }
    fn for_request(&self, ids: &Rc<CallIds>) -> Option<Rc<dyn crate::ports::Audit>> {
        Some(Rc::new(DoAudit(self.0.with(ids))))
    }
}
