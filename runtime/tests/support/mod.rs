//! Shared by the native runtime tests: the in-memory ports, a native
//! crypto adapter (pure-Rust RSA, P-256 and Ed25519, used only in tests —
//! the Worker verifies with WebCrypto), test key pairs and token signing.
#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::OnceLock;
use std::task::{Context as TaskCx, Poll, Waker};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use tenants_runtime::app::request_id::RequestIds;
use tenants_runtime::app::{handle, Context, DeploymentState};
use tenants_runtime::auth::AuthState;
use tenants_runtime::http::{Response, TestRequest};
use tenants_runtime::objects::sessions::MemorySessions;
use tenants_runtime::ports::memory::{
    FixedClock, ManualTimer, MemoryBackground, MemoryHttp, MemoryKv, MemoryLimiter, MemoryLog, MemoryMetrics, ScriptedUpstream, SeqRandom,
};
use tenants_runtime::ports::{Clock, Crypto, Kv, LocalFuture, PortError, Ports, SigAlg};

/// Poll to completion (the in-memory ports never wait).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = TaskCx::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

pub fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap_or_default()
}

/// Signature verification in pure Rust, for native tests.
pub struct NativeCrypto;

impl Crypto for NativeCrypto {
    fn verify<'a>(&'a self, alg: SigAlg, jwk: &'a str, data: &'a [u8], sig: &'a [u8]) -> LocalFuture<'a, Result<bool, PortError>> {
        let r = (|| -> Result<bool, PortError> {
            let j: Value = serde_json::from_str(jwk).map_err(|e| PortError(e.to_string()))?;
            let m = |k: &str| unb64(j[k].as_str().unwrap_or_default());
            match alg {
                SigAlg::Rs256 => {
                    use rsa::pkcs1v15::{Signature, VerifyingKey};
                    use rsa::signature::Verifier;
                    let pk = rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(&m("n")), rsa::BigUint::from_bytes_be(&m("e")))
                        .map_err(|e| PortError(e.to_string()))?;
                    let Ok(s) = Signature::try_from(sig) else { return Ok(false) };
                    Ok(VerifyingKey::<sha2::Sha256>::new(pk).verify(data, &s).is_ok())
                }
                SigAlg::Es256 => {
                    use p256::ecdsa::signature::Verifier;
                    use p256::ecdsa::{Signature, VerifyingKey};
                    let (x, y) = (m("x"), m("y"));
                    if x.len() != 32 || y.len() != 32 {
                        return Err(PortError("bad EC key".into()));
                    }
                    let point = p256::EncodedPoint::from_affine_coordinates(x.as_slice().into(), y.as_slice().into(), false);
                    let vk = VerifyingKey::from_encoded_point(&point).map_err(|e| PortError(e.to_string()))?;
                    let Ok(s) = Signature::from_slice(sig) else { return Ok(false) };
                    Ok(vk.verify(data, &s).is_ok())
                }
                SigAlg::EdDsa => {
                    let x: [u8; 32] = m("x").try_into().map_err(|_| PortError("bad OKP key".into()))?;
                    let vk = ed25519_dalek::VerifyingKey::from_bytes(&x).map_err(|e| PortError(e.to_string()))?;
                    let Ok(s) = ed25519_dalek::Signature::from_slice(sig) else {
                        return Ok(false);
                    };
                    Ok(vk.verify_strict(data, &s).is_ok())
                }
            }
        })();
        Box::pin(async move { r })
    }
}

/// Test key pairs: RSA 2048, P-256, Ed25519 (made once per test binary).
pub struct Keys {
    pub rsa: rsa::RsaPrivateKey,
    pub ec: p256::ecdsa::SigningKey,
    pub ed: ed25519_dalek::SigningKey,
}

pub fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let mut rng = rand::rngs::OsRng;
        Keys {
            rsa: rsa::RsaPrivateKey::new(&mut rng, 2048).expect("rsa key"),
            ec: p256::ecdsa::SigningKey::random(&mut rng),
            ed: ed25519_dalek::SigningKey::generate(&mut rng),
        }
    })
}

/// A second, unrelated RSA key (another tenant's identity provider).
pub fn other_rsa() -> &'static rsa::RsaPrivateKey {
    static K: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    K.get_or_init(|| rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("rsa key"))
}

impl Keys {
    pub fn rsa_jwk(&self, kid: &str) -> Value {
        rsa_jwk(&self.rsa, kid)
    }

    pub fn ec_jwk(&self, kid: &str) -> Value {
        let p = self.ec.verifying_key().to_encoded_point(false);
        json!({"kid": kid, "kty": "EC", "crv": "P-256", "x": b64(p.x().unwrap()), "y": b64(p.y().unwrap()), "alg": "ES256"})
    }

    pub fn ed_jwk(&self, kid: &str) -> Value {
        json!({"kid": kid, "kty": "OKP", "crv": "Ed25519", "x": b64(self.ed.verifying_key().as_bytes())})
    }

    /// Sign `claims` with the key for `alg`, header `{alg, kid, typ}`.
    pub fn sign(&self, alg: &str, kid: &str, claims: &Value) -> String {
        let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let sig = match alg {
            "RS256" => sign_rsa(&self.rsa, input.as_bytes()),
            "ES256" => {
                use p256::ecdsa::signature::Signer;
                let s: p256::ecdsa::Signature = self.ec.sign(input.as_bytes());
                s.to_bytes().to_vec()
            }
            "EdDSA" => {
                use ed25519_dalek::Signer;
                self.ed.sign(input.as_bytes()).to_bytes().to_vec()
            }
            other => panic!("no key for {other}"),
        };
        format!("{input}.{}", b64(&sig))
    }
}

pub fn rsa_jwk(k: &rsa::RsaPrivateKey, kid: &str) -> Value {
    use rsa::traits::PublicKeyParts;
    json!({"kid": kid, "kty": "RSA", "n": b64(&k.n().to_bytes_be()), "e": b64(&k.e().to_bytes_be()), "alg": "RS256"})
}

pub fn sign_rsa(k: &rsa::RsaPrivateKey, data: &[u8]) -> Vec<u8> {
    use rsa::signature::{SignatureEncoding, Signer};
    let sk = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(k.clone());
    sk.sign(data).to_vec()
}

/// A token with a header and payload as given, signed with RSA.
pub fn sign_raw_rsa(k: &rsa::RsaPrivateKey, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    format!("{input}.{}", b64(&sign_rsa(k, input.as_bytes())))
}

/// The in-memory platform a test request runs on.
pub struct Harness {
    pub clock: Rc<dyn Clock>,
    pub log: Rc<MemoryLog>,
    pub http: Rc<MemoryHttp>,
    pub kv: Rc<MemoryKv>,
    pub limiter: Rc<MemoryLimiter>,
    pub auth: AuthState,
    pub ids: RequestIds,
    pub with_limiter: bool,
    pub sessions: Rc<MemorySessions>,
    pub doc_index: Rc<tenants_runtime::objects::doc_index::MemoryIndex>,
    pub audit: Rc<tenants_runtime::objects::audit::MemoryAudit>,
    pub queue: Rc<tenants_runtime::ports::memory::MemoryQueue>,
    pub vectors: Rc<tenants_runtime::ports::memory::MemoryVectors>,
    pub upstream: Rc<ScriptedUpstream>,
    /// Serves upstream calls instead of `upstream` when set.
    pub upstream_override: Option<Rc<dyn tenants_runtime::ports::Upstream>>,
    pub ai: Rc<ScriptedUpstream>,
    pub metrics: Rc<MemoryMetrics>,
    pub recent: Rc<tenants_runtime::app::log::RecentLines>,
    pub background: Rc<MemoryBackground>,
    pub timer: Rc<ManualTimer>,
    pub secrets: Vec<(&'static str, String)>,
    pub vars: Vec<(&'static str, String)>,
}

impl Harness {
    /// A harness whose clock returns `times` in turn.
    pub fn new(times: &[f64]) -> Harness {
        Harness::with_clock(Rc::new(FixedClock::new(times)))
    }

    pub fn with_clock(clock: Rc<dyn Clock>) -> Harness {
        Harness {
            clock: clock.clone(),
            log: Rc::new(MemoryLog::default()),
            http: Rc::new(MemoryHttp::default()),
            kv: Rc::new(MemoryKv::default()),
            limiter: Rc::new(MemoryLimiter::new(clock)),
            auth: AuthState::default(),
            ids: RequestIds::new(7),
            with_limiter: true,
            sessions: Rc::new(MemorySessions::default()),
            doc_index: Rc::new(Default::default()),
            audit: Rc::new(Default::default()),
            queue: Rc::new(Default::default()),
            vectors: Rc::new(Default::default()),
            upstream: Rc::new(ScriptedUpstream::default()),
            upstream_override: None,
            ai: Rc::new(ScriptedUpstream::default()),
            metrics: Rc::new(MemoryMetrics::default()),
            recent: Rc::default(),
            background: Rc::new(MemoryBackground::default()),
            timer: Rc::new(ManualTimer::default()),
            secrets: vec![("GATEWAY_TOKEN", "gw-secret-token".into())],
            vars: vec![],
        }
    }

    pub fn ports(&self) -> Ports {
        let kv: Rc<dyn Kv> = self.kv.clone();
        Ports {
            clock: self.clock.clone(),
            log: self.log.clone(),
            timer: self.timer.clone(),
            random: Rc::new(SeqRandom::default()),
            crypto: Rc::new(NativeCrypto),
            http: self.http.clone(),
            kv: Rc::new([("CACHE", kv)]),
            limiter: if self.with_limiter { Some(self.limiter.clone()) } else { None },
            budget: if self.with_limiter { Some(self.limiter.clone()) } else { None },
            sessions: Some(self.sessions.clone()),
            doc_index: Some(self.doc_index.clone()),
            audit: Some(self.audit.clone()),
            ingest_queue: Some(self.queue.clone()),
            vectors: Rc::new([("DOCS", self.vectors.clone() as Rc<dyn tenants_runtime::ports::Vectors>)]),
            upstream: self.upstream_override.clone().unwrap_or_else(|| self.upstream.clone()),
            ai: Some(self.ai.clone()),
            metrics: Some(self.metrics.clone()),
            recent: Some(self.recent.clone()),
            background: self.background.clone(),
            secrets: self.secrets.clone().into(),
            vars: self.vars.clone().into(),
        }
    }

    pub async fn handle(&self, state: &DeploymentState, req: &TestRequest) -> Response {
        self.handle_with(state, req, |_| {}).await
    }

    /// [`Harness::handle`] with the ports changed first (a binding
    /// removed, an adapter replaced).
    pub async fn handle_with(&self, state: &DeploymentState, req: &TestRequest, change: impl FnOnce(&mut Ports)) -> Response {
        let mut ports = self.ports();
        change(&mut ports);
        let cx = Context {
            deployment: state,
            ids: &self.ids,
            ports: &ports,
            auth: &self.auth,
        };
        handle(req, &cx).await
    }

    /// The last log line, parsed.
    pub fn last_log(&self) -> Value {
        let lines = self.log.lines.borrow();
        serde_json::from_str(lines.last().expect("a log line")).expect("JSON log line")
    }
}

/// A response's whole body as text (a stream read to its end; a failed
/// chunk reads as empty).
pub fn text(r: Response) -> String {
    use futures_util::StreamExt;
    match r.body {
        tenants_runtime::http::Body::Stream(s) => block_on(s.collect::<Vec<_>>())
            .into_iter()
            .map(|c| String::from_utf8(c.unwrap_or_default()).unwrap())
            .collect(),
        other => String::from_utf8(other.bytes().to_vec()).unwrap(),
    }
}
