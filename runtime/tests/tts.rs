//! `POST /tts` natively, over the in-memory ports and an in-process
//! OpenAI-compatible speech server (the real audio — espeak-ng through the
//! scripted model server, checked with sox — is in `cargo xtask e2e`).

mod support;

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::StreamExt;
use serde_json::{json, Value};
use support::{block_on, Harness};
use tenants_runtime::app::DeploymentState;
use tenants_runtime::http::{Body, Response, TestRequest};
use tenants_runtime::ports::{FetchError, LocalFuture, StreamedResponse, Upstream};
use tenants_runtime::tenancy::resolve::Deployment;
use tenants_runtime::tenants::{EnvName, TenantId};

/// Speaks each request as a WAV of one 16-bit sample per character, or as
/// MP3 "frames" (a Xing frame, then one frame per character).
#[derive(Default)]
struct SpeechServer {
    seen: RefCell<Vec<(String, Value)>>,
}

const FRAME: usize = 417;

fn frame(tag: Option<&[u8; 4]>) -> Vec<u8> {
    let mut f = vec![0xff, 0xfb, 0x90, 0x00];
    f.resize(FRAME, 0x11);
    if let Some(t) = tag {
        f[36..40].copy_from_slice(t);
    }
    f
}

fn wav(n: usize) -> Vec<u8> {
    let data = vec![0x22u8; n * 2];
    let mut out = b"RIFF".to_vec();
    out.extend(((36 + data.len()) as u32).to_le_bytes());
    out.extend(b"WAVEfmt ");
    out.extend(16u32.to_le_bytes());
    out.extend([1, 0, 1, 0, 0xc0, 0x5d, 0, 0, 0x80, 0xbb, 0, 0, 2, 0, 16, 0]);
    out.extend(b"data");
    out.extend((data.len() as u32).to_le_bytes());
    out.extend(data);
    out
}

impl Upstream for SpeechServer {
    fn post<'a>(
        &'a self,
        url: &'a str,
        _h: &'a [(&'static str, String)],
        body: Vec<u8>,
        _t: u32,
    ) -> LocalFuture<'a, Result<StreamedResponse, FetchError>> {
        let req: Value = serde_json::from_slice(&body).unwrap_or_default();
        self.seen.borrow_mut().push((url.to_string(), req.clone()));
        let input = req["input"].as_str().unwrap_or("");
        if input.contains("hang") {
            return Box::pin(futures_util::future::pending());
        }
        if input.contains("fail") {
            let r = StreamedResponse {
                status: 500,
                headers: vec![],
                body: Box::pin(futures_util::stream::iter(vec![Ok(b"{\"error\":{\"message\":\"boom\"}}".to_vec())])),
            };
            return Box::pin(async move { Ok(r) });
        }
        let n = input.chars().count();
        let (ct, audio) = if req["response_format"] == "wav" {
            ("audio/wav", wav(n))
        } else {
            let mut a = frame(Some(b"Info"));
            for _ in 0..n {
                a.extend(frame(None));
            }
            ("audio/mpeg", a)
        };
        // Delivered in two pieces, as a network would.
        let mid = audio.len() / 2;
        let chunks = vec![Ok(audio[..mid].to_vec()), Ok(audio[mid..].to_vec())];
        let r = StreamedResponse {
            status: 200,
            headers: vec![("content-type".into(), ct.into())],
            body: Box::pin(futures_util::stream::iter(chunks)),
        };
        Box::pin(async move { Ok(r) })
    }
}

fn speak(t: TenantId, body: Value) -> (Rc<SpeechServer>, Response) {
    let mut h = Harness::new(&[1_000.0]);
    let server = Rc::new(SpeechServer::default());
    h.upstream_override = Some(server.clone());
    let req = TestRequest::new("POST", "/tts")
        .with("host", t.config().envs[EnvName::Dev as usize].hosts[0])
        .with("x-user-id", "u1")
        .with("content-type", "application/json")
        .body(body.to_string());
    let r = block_on(h.handle(&DeploymentState::Ready(Deployment::complete(t, EnvName::Dev)), &req));
    (server, r)
}

fn bytes(r: Response) -> Vec<u8> {
    match r.body {
        Body::Stream(s) => block_on(s.collect::<Vec<_>>()).into_iter().flat_map(|c| c.unwrap()).collect(),
        other => other.bytes().to_vec(),
    }
}

fn error(r: Response) -> Value {
    serde_json::from_slice(&bytes(r)).unwrap()
}

#[test]
fn a_tenant_with_speech_off_gets_feature_disabled() {
    // globex: `tts enabled=false`.
    let (server, r) = speak(TenantId::Globex, json!({"text": "Hello."}));
    assert_eq!(r.status, 404);
    assert_eq!(error(r)["error"]["code"], "feature_disabled");
    assert!(server.seen.borrow().is_empty());
}

#[test]
fn text_over_max_chars_is_413_and_an_unknown_format_is_422() {
    let max = TenantId::Acme.config().tts.max_chars as usize;
    let (server, r) = speak(TenantId::Acme, json!({"text": "a".repeat(max + 1)}));
    assert_eq!(r.status, 413);
    assert_eq!(error(r)["error"]["code"], "text_too_long");
    let (_, r) = speak(TenantId::Acme, json!({"text": "a".repeat(max)}));
    assert_eq!(r.status, 200, "exactly max-chars is fine");
    assert_eq!(server.seen.borrow().len(), 0);
    let (_, r) = speak(TenantId::Acme, json!({"text": "Hello", "format": "ogg"}));
    assert_eq!(r.status, 422);
}

#[test]
fn one_part_streams_through_with_its_content_type_and_the_tenants_voice() {
    let (server, r) = speak(TenantId::Acme, json!({"text": "Hello there."}));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("audio/mpeg"));
    assert_eq!(r.header("x-tts-parts"), Some("1"));
    assert_eq!(r.header("x-tts-model"), Some("@cf/myshell-ai/melotts"));
    let b = bytes(r);
    assert_eq!(b.len(), (1 + 12) * FRAME, "passed through whole, Info frame included");
    let seen = server.seen.borrow();
    assert!(seen[0].0.ends_with("/audio/speech"), "{}", seen[0].0);
    assert_eq!(
        seen[0].1,
        json!({"model": "@cf/myshell-ai/melotts", "input": "Hello there.", "voice": "en-us", "response_format": "mp3"})
    );
}

#[test]
fn a_long_text_is_spoken_in_sentence_parts_joined_in_order() {
    // MeloTTS takes 500 characters a call: three sentences of 200.
    let s = |c: char| format!("{}.", c.to_string().repeat(199));
    let text = format!("{} {} {}", s('a'), s('b'), s('c'));
    let (server, r) = speak(TenantId::Acme, json!({"text": text, "voice": "fr"}));
    assert_eq!(r.header("x-tts-parts"), Some("2"));
    let b = bytes(r);
    // Each part's Info frame is dropped; every spoken character's frame stays.
    assert_eq!(b.len(), 601 * FRAME);
    assert!(b.chunks(FRAME).all(|f| &f[36..40] != b"Info"));
    let seen = server.seen.borrow();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].1["input"], format!("{} {}", s('a'), s('b')));
    assert_eq!(seen[1].1["input"], s('c'));
    assert_eq!(seen[1].1["voice"], "fr");
    // WAV parts go under one header.
    let (_, r) = speak(TenantId::Acme, json!({"text": text, "format": "wav"}));
    assert_eq!(r.header("content-type"), Some("audio/wav"));
    let b = bytes(r);
    assert_eq!(&b[..4], b"RIFF");
    let data_len = u32::from_le_bytes(b[40..44].try_into().unwrap()) as usize;
    assert_eq!(data_len, 601 * 2);
    assert_eq!(b.len(), 44 + data_len);
}

#[test]
fn get_tools_lists_tts_only_where_it_is_on() {
    let list = |t: TenantId| {
        let h = Harness::new(&[1_000.0]);
        let req = TestRequest::new("GET", "/tools")
            .with("host", t.config().envs[EnvName::Dev as usize].hosts[0])
            .with("x-user-id", "u1");
        let r = block_on(h.handle(&DeploymentState::Ready(Deployment::complete(t, EnvName::Dev)), &req));
        serde_json::from_slice::<Value>(&bytes(r)).unwrap()["data"]["endpoints"].clone()
    };
    assert_eq!(list(TenantId::Acme)[0]["path"], "/tts");
    assert_eq!(list(TenantId::Globex), json!([]));
}

#[test]
fn a_model_that_hangs_is_504_and_a_failing_wav_part_is_502_not_a_cut_file() {
    let (_, r) = speak(TenantId::Acme, json!({"text": "please hang"}));
    assert_eq!(r.status, 504);
    assert_eq!(error(r)["error"]["code"], "upstream_timeout");
    let s = |w: &str| format!("{}.", w.repeat(60));
    let text = format!("{} {} {}", s("good "), s("more "), s("fail "));
    let (server, r) = speak(TenantId::Acme, json!({"text": text, "format": "wav"}));
    assert_eq!(r.status, 502, "every WAV part is made before the answer starts");
    assert_eq!(error(r)["error"]["code"], "upstream_error");
    assert!(server.seen.borrow().len() >= 2);
}
