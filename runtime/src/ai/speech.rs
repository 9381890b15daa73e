//! Text-to-speech next to chat, on the same providers and the tenant's
//! gateway:
//!
//! | provider | MeloTTS (`@cf/myshell-ai/melotts`) | Deepgram Aura (`@cf/deepgram/aura-*`) |
//! |---|---|---|
//! | Workers AI binding | `run(model, {prompt, lang})` → `{audio: base64 MP3}` | `run(model, {text, speaker, encoding, container})` → binary audio |
//! | AI Gateway | `POST {gateway}/workers-ai/{model}`, the same inputs → `{result: {audio}}` | the same → binary audio |
//! | OpenAI-compatible server | `POST {base}/audio/speech` `{model, input, voice, response_format}` → binary audio, any model |
//!
//! Formats: `mp3` everywhere; `wav` from Aura (linear16 in a WAV
//! container) and OpenAI-compatible servers. MeloTTS makes MP3 only.
//!
//! Long texts are spoken in parts cut at sentence boundaries
//! ([`split`]), each at most the model's limit, and the audio of the
//! parts is joined in order: MP3 frames follow each other (each part's
//! ID3 tag and Xing/Info header are dropped, so no part claims the
//! length of the whole), WAV parts' samples go under one header
//! ([`join_wav`]).

use std::rc::Rc;

use base64::Engine;
use serde_json::json;

use super::openai::OpenAiCompatible;
use super::workers_ai::WorkersAi;
use super::{AiError, CallMeta};
use crate::ports::{ByteStream, FetchError, LocalFuture};

/// The audio formats `/tts` answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AudioFormat {
    Mp3,
    Wav,
}

impl AudioFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "audio/mpeg",
            AudioFormat::Wav => "audio/wav",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Wav => "wav",
        }
    }
}

/// Which kind of speech model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    MeloTts,
    Aura,
    /// Any other model (an OpenAI-compatible server's).
    Other,
}

impl Family {
    pub fn of(model: &str) -> Family {
        if model.contains("melotts") {
            Family::MeloTts
        } else if model.contains("/aura") {
            Family::Aura
        } else {
            Family::Other
        }
    }

    /// Characters one call takes at most.
    pub fn part_chars(self) -> usize {
        match self {
            Family::MeloTts => 500,
            Family::Aura => 2000,
            Family::Other => 4096,
        }
    }
}

/// Deepgram Aura's speakers (`aura-1`); another voice falls back to the first.
pub const AURA_SPEAKERS: [&str; 12] = [
    "angus", "asteria", "arcas", "orion", "orpheus", "athena", "luna", "zeus", "perseus", "helios", "hera", "stella",
];

/// MeloTTS's languages.
pub const MELO_LANGS: [&str; 6] = ["en", "es", "fr", "zh", "jp", "kr"];

/// One call.
#[derive(Debug, Clone, Copy)]
pub struct SpeechCall<'a> {
    pub model: &'a str,
    pub text: &'a str,
    /// The voice asked for (tenant default or request), if any.
    pub voice: Option<&'a str>,
    pub format: AudioFormat,
    pub meta: &'a CallMeta,
}

/// The provider-side inputs of a Workers AI speech model.
pub fn workers_ai_inputs(call: &SpeechCall<'_>) -> serde_json::Value {
    let voice = call.voice.unwrap_or("").to_ascii_lowercase();
    match Family::of(call.model) {
        Family::MeloTts => {
            let lang = MELO_LANGS.iter().find(|l| voice.starts_with(**l)).copied().unwrap_or("en");
            json!({"prompt": call.text, "lang": lang})
        }
        _ => {
            let speaker = AURA_SPEAKERS
                .iter()
                .find(|s| voice.contains(**s))
                .copied()
                .unwrap_or(AURA_SPEAKERS[0]);
            match call.format {
                AudioFormat::Mp3 => json!({"text": call.text, "speaker": speaker, "encoding": "mp3"}),
                AudioFormat::Wav => {
                    json!({"text": call.text, "speaker": speaker, "encoding": "linear16", "container": "wav", "sample_rate": 24000})
                }
            }
        }
    }
}

/// A speech provider.
pub trait Speaker {
    /// The formats this provider makes with `model`.
    fn formats(&self, model: &str) -> &'static [AudioFormat];
    /// Speak one part; the audio bytes as they arrive.
    fn speak<'a>(&'a self, call: SpeechCall<'a>) -> LocalFuture<'a, Result<ByteStream, AiError>>;
    fn kind(&self) -> &'static str;
}

const MP3_ONLY: &[AudioFormat] = &[AudioFormat::Mp3];
const MP3_WAV: &[AudioFormat] = &[AudioFormat::Mp3, AudioFormat::Wav];

fn workers_ai_formats(model: &str) -> &'static [AudioFormat] {
    match Family::of(model) {
        Family::Aura => MP3_WAV,
        _ => MP3_ONLY,
    }
}

fn one_chunk(bytes: Vec<u8>) -> ByteStream {
    Box::pin(futures_util::stream::iter(vec![Ok(bytes)]))
}

/// `{audio: base64}`, possibly inside the REST API's `{result}`.
fn decode_audio_json(bytes: &[u8]) -> Result<Vec<u8>, AiError> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| AiError::Malformed(format!("the speech answer is not JSON: {e}")))?;
    let audio = v
        .get("audio")
        .or_else(|| v.pointer("/result/audio"))
        .and_then(|a| a.as_str())
        .ok_or_else(|| AiError::Malformed("the speech answer has no `audio`".into()))?;
    base64::engine::general_purpose::STANDARD
        .decode(audio.trim())
        .map_err(|e| AiError::Malformed(format!("the speech answer's audio is not base64: {e}")))
}

impl Speaker for WorkersAi {
    fn formats(&self, model: &str) -> &'static [AudioFormat] {
        workers_ai_formats(model)
    }

    fn speak<'a>(&'a self, call: SpeechCall<'a>) -> LocalFuture<'a, Result<ByteStream, AiError>> {
        Box::pin(async move {
            let inputs = workers_ai_inputs(&call).to_string();
            let options = self.options(call.meta);
            let status = |e: crate::ports::BindingError| AiError::Status {
                status: e.status.unwrap_or(502),
                message: e.message.chars().take(300).collect(),
            };
            match Family::of(call.model) {
                Family::MeloTts => {
                    let out = self.binding.run_json(call.model, inputs, options).await.map_err(status)?;
                    Ok(one_chunk(decode_audio_json(out.as_bytes())?))
                }
                _ => Ok(self.binding.run_stream(call.model, inputs, options).await.map_err(status)?.body),
            }
        })
    }

    fn kind(&self) -> &'static str {
        "workers-ai"
    }
}

impl Speaker for OpenAiCompatible {
    fn formats(&self, model: &str) -> &'static [AudioFormat] {
        if self.gateway {
            workers_ai_formats(model)
        } else {
            MP3_WAV
        }
    }

    fn speak<'a>(&'a self, call: SpeechCall<'a>) -> LocalFuture<'a, Result<ByteStream, AiError>> {
        Box::pin(async move {
            let (url, body) = if self.gateway {
                (format!("{}/workers-ai/{}", self.base(), call.model), workers_ai_inputs(&call))
            } else {
                (
                    format!("{}/audio/speech", self.base()),
                    json!({"model": call.model, "input": call.text, "voice": call.voice.unwrap_or("alloy"), "response_format": call.format.as_str()}),
                )
            };
            let headers = self.request_headers(call.meta);
            let resp = self
                .upstream
                .post(&url, &headers, body.to_string().into_bytes(), call.meta.timeout_ms)
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
            let json_answer = resp.header("content-type").is_some_and(|c| c.contains("json"));
            if json_answer {
                let bytes = super::embed::read_all(resp.body, 32 << 20).await?;
                return Ok(one_chunk(decode_audio_json(&bytes)?));
            }
            Ok(resp.body)
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

/// Cut `text` into parts of at most `max` characters: whole sentences
/// where they fit, else words, else characters. Parts are trimmed and
/// never empty.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut units: Vec<String> = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        cur.push(*c);
        let end = matches!(c, '.' | '!' | '?' | '。' | '！' | '？' | '\n') && chars.get(i + 1).is_none_or(|n| n.is_whitespace());
        if end {
            units.push(std::mem::take(&mut cur));
        }
    }
    units.push(cur);
    let mut pieces: Vec<String> = Vec::new();
    for u in units.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
        if u.chars().count() <= max {
            pieces.push(u.to_string());
            continue;
        }
        let mut acc = String::new();
        for w in u.split_whitespace() {
            let wc: Vec<char> = w.chars().collect();
            for chunk in wc.chunks(max) {
                let chunk: String = chunk.iter().collect();
                let need = acc.chars().count() + usize::from(!acc.is_empty()) + chunk.chars().count();
                if need > max && !acc.is_empty() {
                    pieces.push(std::mem::take(&mut acc));
                }
                if !acc.is_empty() {
                    acc.push(' ');
                }
                acc.push_str(&chunk);
            }
        }
        if !acc.is_empty() {
            pieces.push(acc);
        }
    }
    let mut parts: Vec<String> = Vec::new();
    for p in pieces {
        match parts.last_mut() {
            Some(last) if last.chars().count() + 1 + p.chars().count() <= max => {
                last.push(' ');
                last.push_str(&p);
            }
            _ => parts.push(p),
        }
    }
    parts
}

/// An MP3 part without what would confuse a player once parts follow each
/// other: a leading ID3v2 tag, a leading Xing/Info/VBRI frame (it states
/// the length of that part alone) and a trailing ID3v1 tag.
pub fn mp3_frames(b: &[u8]) -> &[u8] {
    let mut s = b;
    if s.len() >= 10 && &s[..3] == b"ID3" {
        let size = ((s[6] as usize & 0x7f) << 21) | ((s[7] as usize & 0x7f) << 14) | ((s[8] as usize & 0x7f) << 7) | (s[9] as usize & 0x7f);
        let footer = if s[5] & 0x10 != 0 { 10 } else { 0 };
        s = s.get(10 + size + footer..).unwrap_or(&[]);
    }
    if s.len() >= 128 && &s[s.len() - 128..s.len() - 125] == b"TAG" {
        s = &s[..s.len() - 128];
    }
    if let Some(len) = frame_len(s) {
        let head = &s[..len.min(s.len())];
        let tagged = [&b"Xing"[..], b"Info", b"VBRI"]
            .iter()
            .any(|t| head.windows(4).take(48).any(|w| w == *t));
        if tagged {
            s = s.get(len..).unwrap_or(&[]);
        }
    }
    s
}

/// The length of the MPEG audio frame starting `b`, if it starts one.
fn frame_len(b: &[u8]) -> Option<usize> {
    if b.len() < 4 || b[0] != 0xff || b[1] & 0xe0 != 0xe0 {
        return None;
    }
    let version = (b[1] >> 3) & 3; // 3: MPEG1, 2: MPEG2, 0: MPEG2.5
    let layer = (b[1] >> 1) & 3; // 1: Layer III
    let bitrate_i = (b[2] >> 4) as usize;
    let rate_i = ((b[2] >> 2) & 3) as usize;
    let padding = ((b[2] >> 1) & 1) as usize;
    if layer != 1 || version == 1 || bitrate_i == 0 || bitrate_i == 15 || rate_i == 3 {
        return None;
    }
    const V1: [usize; 15] = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
    const V2: [usize; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    const RATES: [[usize; 3]; 3] = [[11025, 12000, 8000], [22050, 24000, 16000], [44100, 48000, 32000]];
    let (kbps, rate, coef) = match version {
        3 => (V1[bitrate_i], RATES[2][rate_i], 144),
        2 => (V2[bitrate_i], RATES[1][rate_i], 72),
        _ => (V2[bitrate_i], RATES[0][rate_i], 72),
    };
    Some(coef * kbps * 1000 / rate + padding)
}

/// WAV parts (RIFF, PCM) joined under one header: the first part's
/// format, every part's samples. Parts of another format are an error.
pub fn join_wav(parts: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    let mut fmt: Option<&[u8]> = None;
    let mut data: Vec<u8> = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let (f, d) = wav_chunks(p).ok_or_else(|| format!("part {} is not a WAV file", i + 1))?;
        match fmt {
            None => fmt = Some(f),
            Some(x) if x == f => {}
            Some(_) => return Err(format!("part {} has another sample format", i + 1)),
        }
        data.extend_from_slice(d);
    }
    let fmt = fmt.ok_or("no parts")?;
    let mut out = Vec::with_capacity(20 + fmt.len() + 8 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&((4 + 8 + fmt.len() + 8 + data.len()) as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
    out.extend_from_slice(fmt);
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    Ok(out)
}

/// The `fmt ` chunk's body and the `data` chunk's samples of a WAV file
/// (a data size past the end, as streamed WAVs write, means "to the end").
fn wav_chunks(b: &[u8]) -> Option<(&[u8], &[u8])> {
    if b.len() < 12 || &b[..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return None;
    }
    let mut i = 12;
    let mut fmt = None;
    while i + 8 <= b.len() {
        let id = &b[i..i + 4];
        let size = u32::from_le_bytes([b[i + 4], b[i + 5], b[i + 6], b[i + 7]]) as usize;
        let body = i + 8;
        if id == b"data" {
            let end = body.saturating_add(size).min(b.len());
            return Some((fmt?, &b[body..end]));
        }
        if id == b"fmt " {
            fmt = Some(b.get(body..body + size)?);
        }
        i = body + size + (size & 1);
    }
    None
}

/// A shared provider.
pub type SharedSpeaker = Rc<dyn Speaker>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_split_at_sentences_then_words_within_the_limit() {
        let t = "One two three. Four five six! Seven eight nine? Ten.";
        assert_eq!(split(t, 100), vec![t.to_string()]);
        assert_eq!(split(t, 30), vec!["One two three. Four five six!", "Seven eight nine? Ten."]);
        let long = "word ".repeat(30);
        for p in split(&long, 22) {
            assert!(p.chars().count() <= 22, "{p}");
        }
        assert_eq!(split(&"x".repeat(25), 10), vec!["x".repeat(10), "x".repeat(10), "x".repeat(5)]);
        assert_eq!(split("  ", 10), Vec::<String>::new());
        assert_eq!(split("Dr.Who is here. Yes", 12), vec!["Dr.Who is", "here. Yes"]);
    }

    fn wav(samples: &[i16]) -> Vec<u8> {
        let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let fmt: [u8; 16] = [1, 0, 1, 0, 0xc0, 0x5d, 0, 0, 0x80, 0xbb, 0, 0, 2, 0, 16, 0];
        let mut out = b"RIFF".to_vec();
        out.extend(((4 + 8 + 16 + 8 + data.len()) as u32).to_le_bytes());
        out.extend(b"WAVEfmt ");
        out.extend(16u32.to_le_bytes());
        out.extend(fmt);
        out.extend(b"LIST");
        out.extend(4u32.to_le_bytes());
        out.extend(b"INFO");
        out.extend(b"data");
        out.extend((data.len() as u32).to_le_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn wav_parts_join_under_one_header() {
        let joined = join_wav(&[wav(&[1, 2, 3]), wav(&[4, 5])]).unwrap();
        let (fmt, data) = wav_chunks(&joined).unwrap();
        assert_eq!(fmt.len(), 16);
        assert_eq!(data, [1i16, 2, 3, 4, 5].iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>());
        assert_eq!(u32::from_le_bytes(joined[4..8].try_into().unwrap()) as usize, joined.len() - 8);
        assert!(join_wav(&[b"nope".to_vec()]).is_err());
    }

    #[test]
    fn mp3_parts_lose_their_tags_and_info_frame() {
        // MPEG1 Layer III, 128 kbps, 44.1 kHz: 417-byte frames.
        let mut frame = vec![0xff, 0xfb, 0x90, 0x00];
        frame.resize(417, 0);
        let mut info = frame.clone();
        info[36..40].copy_from_slice(b"Info");
        let mut part = b"ID3\x04\x00\x00\x00\x00\x00\x05abcde".to_vec();
        part.extend(&info);
        part.extend(&frame);
        part.extend(&frame);
        assert_eq!(frame_len(&frame), Some(417));
        let kept = mp3_frames(&part);
        assert_eq!(kept.len(), 2 * 417);
        assert_eq!(&kept[..4], &frame[..4]);
        assert_eq!(mp3_frames(&frame), &frame[..]);
    }

    fn meta() -> CallMeta {
        CallMeta {
            tenant: "acme",
            route: "tts",
            request_id: "req-1".into(),
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
            cache_key: "t/acme/cache/tts/req-1".into(),
            skip_cache: true,
            timeout_ms: 9000,
        }
    }

    use crate::ports::memory::block_on as run;

    fn all(b: ByteStream) -> Vec<u8> {
        run(futures_util::StreamExt::collect::<Vec<_>>(b))
            .into_iter()
            .flat_map(|c| c.unwrap())
            .collect()
    }

    #[test]
    fn every_adapter_speaks_in_its_providers_shape() {
        use crate::ports::memory::{Scripted, ScriptedUpstream};
        let m = meta();
        let call = |model, format| SpeechCall {
            model,
            text: "Hello.",
            voice: Some("en-us"),
            format,
            meta: &m,
        };
        let mp3 = b"ID3-fake-mp3".to_vec();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&mp3);
        // The binding: MeloTTS answers JSON with base64 audio, Aura bytes.
        let up = Rc::new(ScriptedUpstream::new(vec![
            Scripted::status(200, &json!({"audio": b64}).to_string()),
            Scripted::Reply {
                status: 200,
                headers: vec![],
                chunks: vec![b"RIFF".to_vec(), b"rest".to_vec()],
            },
        ]));
        let w = WorkersAi {
            gateway: Some("acme-gw"),
            binding: up.clone(),
        };
        assert_eq!(all(run(w.speak(call("@cf/myshell-ai/melotts", AudioFormat::Mp3))).unwrap()), mp3);
        assert_eq!(
            all(run(w.speak(call("@cf/deepgram/aura-1", AudioFormat::Wav))).unwrap()),
            b"RIFFrest"
        );
        let calls = up.calls.borrow();
        assert_eq!(calls[0].url, "@cf/myshell-ai/melotts");
        assert_eq!(calls[0].body, json!({"prompt": "Hello.", "lang": "en"}));
        assert!(calls[0].headers[0].1.contains("\"id\":\"acme-gw\""), "{:?}", calls[0].headers);
        assert_eq!(calls[1].body["encoding"], "linear16");
        assert_eq!(w.formats("@cf/myshell-ai/melotts"), MP3_ONLY);
        // AI Gateway: the Workers AI provider path, `{result: {audio}}` or bytes.
        let up = Rc::new(ScriptedUpstream::new(vec![
            Scripted::Reply {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                chunks: vec![json!({"result": {"audio": b64}, "success": true}).to_string().into_bytes()],
            },
            Scripted::Reply {
                status: 200,
                headers: vec![("content-type".into(), "audio/mpeg".into())],
                chunks: vec![mp3.clone()],
            },
            Scripted::status(429, r#"{"error":{"message":"slow down"}}"#),
        ]));
        let g = OpenAiCompatible {
            url: OpenAiCompatible::gateway_url("acct", "acme-gw"),
            token: Some("tok".into()),
            gateway: true,
            model_override: None,
            upstream: up.clone(),
        };
        assert_eq!(all(run(g.speak(call("@cf/myshell-ai/melotts", AudioFormat::Mp3))).unwrap()), mp3);
        assert_eq!(all(run(g.speak(call("@cf/deepgram/aura-1", AudioFormat::Mp3))).unwrap()), mp3);
        assert!(matches!(
            run(g.speak(call("@cf/deepgram/aura-1", AudioFormat::Mp3))),
            Err(AiError::Status { status: 429, .. })
        ));
        let calls = up.calls.borrow();
        assert_eq!(
            calls[0].url,
            "https://gateway.ai.cloudflare.com/v1/acct/acme-gw/workers-ai/@cf/myshell-ai/melotts"
        );
        let header = |n: &str| calls[0].headers.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
        assert_eq!(header("cf-aig-authorization").as_deref(), Some("Bearer tok"));
        assert_eq!(header("cf-aig-skip-cache").as_deref(), Some("true"));
        assert!(header("cf-aig-metadata").unwrap().contains("\"route\":\"tts\""));
        // A plain OpenAI-compatible server: /audio/speech.
        let up = Rc::new(ScriptedUpstream::new(vec![Scripted::Reply {
            status: 200,
            headers: vec![("content-type".into(), "audio/wav".into())],
            chunks: vec![b"RIFF".to_vec()],
        }]));
        let o = OpenAiCompatible {
            url: OpenAiCompatible::chat_url("http://127.0.0.1:9/v1"),
            token: None,
            gateway: false,
            model_override: None,
            upstream: up.clone(),
        };
        assert_eq!(
            all(run(o.speak(call("@cf/myshell-ai/melotts", AudioFormat::Wav))).unwrap()),
            b"RIFF"
        );
        let calls = up.calls.borrow();
        assert_eq!(calls[0].url, "http://127.0.0.1:9/v1/audio/speech");
        assert_eq!(
            calls[0].body,
            json!({"model": "@cf/myshell-ai/melotts", "input": "Hello.", "voice": "en-us", "response_format": "wav"})
        );
        assert_eq!(o.formats("@cf/myshell-ai/melotts"), MP3_WAV);
    }

    #[test]
    fn inputs_follow_each_model_family() {
        let meta = CallMeta {
            tenant: "acme",
            route: "tts",
            request_id: "r".into(),
            traceparent: String::new(),
            cache_key: "k".into(),
            skip_cache: true,
            timeout_ms: 1000,
        };
        let call = |model, voice, format| SpeechCall {
            model,
            text: "Hello.",
            voice,
            format,
            meta: &meta,
        };
        assert_eq!(
            workers_ai_inputs(&call("@cf/myshell-ai/melotts", Some("fr-fr"), AudioFormat::Mp3)),
            json!({"prompt": "Hello.", "lang": "fr"})
        );
        assert_eq!(
            workers_ai_inputs(&call("@cf/deepgram/aura-1", Some("aura-luna-en"), AudioFormat::Wav)),
            json!({"text": "Hello.", "speaker": "luna", "encoding": "linear16", "container": "wav", "sample_rate": 24000})
        );
        assert_eq!(
            workers_ai_inputs(&call("@cf/deepgram/aura-1", None, AudioFormat::Mp3))["speaker"],
            "angus"
        );
    }
}
