//! `POST /tts`: text → audio, streamed with its content type
//! (`audio/mpeg` or `audio/wav`), from the tenant's `ai tts` model through
//! its provider and gateway ([`crate::ai::speech`]).
//!
//! Order: feature switched on (else 404 `feature_disabled`) → body →
//! length against `tts max-chars` (413 `text_too_long`) → blocked terms
//! (400 `blocked_content`) → format the model makes (422 at `/format`) →
//! rate limit → the first part spoken (a failure here is an envelope,
//! 502/504) → the audio. A text longer than the model takes in one call
//! is spoken in parts cut at sentence boundaries, in order: MP3 parts
//! stream one after the other as each is made (a part failing after the
//! first ends the stream early; the log line says why); WAV parts are all
//! made, then joined under one header, before the answer starts (a
//! failing part is a 502 envelope). Each part must start within the
//! tenant's `ai timeout-ms` (504 for the first).

use std::rc::Rc;

use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::ai::speech::{join_wav, mp3_frames, split, AudioFormat, Family, Speaker, SpeechCall};
use crate::ai::{AiError, CallMeta};
use crate::app::envelope::{ErrorCode, Failure};
use crate::app::Scope;
use crate::features::chat::engine::Exhausted;
use crate::http::body::Detail;
use crate::http::{Body, Incoming, Response};
use crate::ports::ByteStream;
use crate::tenancy::keys::Space;

/// Audio of one part at most (bytes), when a part is read whole.
const MAX_PART_BYTES: usize = 32 << 20;

/// The body of `POST /tts`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TtsRequest {
    /// What to say (at most the tenant's `tts max-chars`).
    #[schemars(length(min = 1, max = 20000))]
    pub text: String,
    /// A voice of the model (default: the tenant's `tts voice`): MeloTTS
    /// takes a language (`en`, `es`, `fr`, `zh`, `jp`, `kr`), Aura a
    /// speaker (`angus`, `asteria`, `luna`, …), an OpenAI-compatible
    /// server its own voice names.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64), regex(pattern = "^[A-Za-z0-9_.:-]+$"))]
    pub voice: Option<String>,
    /// `mp3` (default) or `wav`.
    #[serde(default)]
    pub format: Option<AudioFormat>,
}

fn speech_failure(e: AiError, model: &'static str) -> Failure {
    Exhausted {
        error: e,
        attempts: 1,
        model,
    }
    .failure()
}

pub async fn tts<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    let principal = s
        .principal
        .ok_or_else(|| Failure::new(ErrorCode::Internal, "tts without a principal"))?;
    let cfg = s.ctx.config();
    let (true, Some(model)) = (cfg.tts.enabled, cfg.ai.tts_model) else {
        return Err(Failure::new(
            ErrorCode::FeatureDisabled,
            "text-to-speech is not enabled for this tenant",
        ));
    };
    let body: TtsRequest = s.json().await?;
    let text = body.text.trim().to_string();
    if text.is_empty() {
        return Err(Failure::new(ErrorCode::InvalidRequest, "there is nothing to say").with_details(vec![Detail::at("/text", "empty")]));
    }
    let n = text.chars().count();
    if n > cfg.tts.max_chars as usize {
        return Err(Failure::new(
            ErrorCode::TextTooLong,
            format!("the text has {n} characters; this tenant speaks at most {}", cfg.tts.max_chars),
        ));
    }
    let lower = text.to_lowercase();
    if let Some(t) = cfg.safety.blocked_terms.iter().find(|t| lower.contains(&t.to_lowercase())) {
        return Err(
            Failure::new(ErrorCode::BlockedContent, "the text contains a term this tenant does not accept")
                .with_log_detail(format!("blocked term `{t}`")),
        );
    }
    let speaker = crate::ai::plan::speaker(s.ctx, s.ports)?;
    let format = body.format.unwrap_or(AudioFormat::Mp3);
    let formats = speaker.formats(model);
    if !formats.contains(&format) {
        let made: Vec<&str> = formats.iter().map(|f| f.as_str()).collect();
        return Err(
            Failure::new(ErrorCode::InvalidRequest, format!("`{model}` does not make {}", format.as_str())).with_details(vec![Detail::at(
                "/format",
                format!("this tenant's speech model makes: {}", made.join(", ")),
            )]),
        );
    }
    let ip = s.req.header(crate::http::Header::CfConnectingIp);
    *s.limit_headers.borrow_mut() = crate::limits::check(s.ctx, principal, ip.as_deref(), s.ports).await?;

    let parts = split(&text, Family::of(model).part_chars());
    let voice = body.voice.or(cfg.tts.voice.map(str::to_string));
    let meta = CallMeta {
        tenant: s.ctx.tenant().as_str(),
        route: "tts",
        request_id: s.request_id.to_string(),
        traceparent: s.traceparent.to_string(),
        cache_key: s.ctx.key(Space::Cache, &["tts", s.request_id]).as_str().to_string(),
        skip_cache: true,
        timeout_ms: cfg.ai.timeout_ms,
    };
    crate::features::chat::log_fields(&s.ai_log, |l| {
        l.model = Some(model.to_string());
        l.provider = Some(speaker.kind());
    });
    let job = Parts {
        speaker: speaker.clone(),
        model,
        parts,
        voice,
        format,
        meta,
        timer: s.ports.timer.clone(),
    };
    let first = job.open(0).await.map_err(|e| speech_failure(e, model))?;
    let n = job.parts.len();
    let headers = vec![
        ("content-type", format.content_type().to_string()),
        ("x-tts-model", model.to_string()),
        ("x-tts-parts", n.to_string()),
        ("cache-control", "no-store".to_string()),
    ];
    let body: crate::http::ChunkStream = if n == 1 {
        Box::pin(first.map(|r| r.map_err(|e| format!("speech: {e}"))))
    } else {
        match format {
            AudioFormat::Mp3 => job.mp3(first),
            AudioFormat::Wav => {
                // Every part is made before the answer starts, so a failing
                // part is an envelope, not a cut file.
                let wav = job.wav(first).await.map_err(|e| {
                    Failure::new(ErrorCode::UpstreamError, "the speech model failed on a part of the text").with_log_detail(e)
                })?;
                Box::pin(futures_util::stream::iter(vec![Ok(wav)]))
            }
        }
    };
    Ok(Response {
        status: 200,
        headers,
        body: Body::Stream(body),
    })
}

/// The parts after the first, spoken in order.
struct Parts {
    speaker: Rc<dyn Speaker>,
    model: &'static str,
    parts: Vec<String>,
    voice: Option<String>,
    format: AudioFormat,
    meta: CallMeta,
    timer: Rc<dyn crate::ports::Timer>,
}

async fn read_all(mut b: ByteStream) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(c) = b.next().await {
        out.extend(c.map_err(|e| format!("speech: {e}"))?);
        if out.len() > MAX_PART_BYTES {
            return Err(format!("speech: a part is larger than {MAX_PART_BYTES} bytes"));
        }
    }
    Ok(out)
}

impl Parts {
    /// Start speaking part `i`, within the tenant's `ai timeout-ms` to the
    /// answer's headers (the binding has no timeout of its own).
    async fn open(&self, i: usize) -> Result<ByteStream, AiError> {
        let call = self.speaker.speak(SpeechCall {
            model: self.model,
            text: &self.parts[i],
            voice: self.voice.as_deref(),
            format: self.format,
            meta: &self.meta,
        });
        match futures_util::future::select(call, self.timer.sleep(self.meta.timeout_ms)).await {
            futures_util::future::Either::Left((r, _)) => r,
            futures_util::future::Either::Right(_) => Err(AiError::Timeout),
        }
    }

    async fn speak(&self, i: usize) -> Result<Vec<u8>, String> {
        let b = self.open(i).await.map_err(|e| format!("speech part {}: {e}", i + 1))?;
        read_all(b).await
    }

    /// MP3: each part's frames as soon as the part is made.
    fn mp3(self, first: ByteStream) -> crate::http::ChunkStream {
        Box::pin(futures_util::stream::unfold(
            (self, Some(first), 0usize),
            |(job, first, i)| async move {
                if i >= job.parts.len() {
                    return None;
                }
                let audio = match first {
                    Some(f) => read_all(f).await,
                    None => job.speak(i).await,
                };
                match audio {
                    Ok(a) => {
                        let frames = mp3_frames(&a).to_vec();
                        Some((Ok(frames), (job, None, i + 1)))
                    }
                    Err(e) => {
                        let n = job.parts.len();
                        Some((Err(e), (job, None, n)))
                    }
                }
            },
        ))
    }

    /// WAV: every part made, then one file.
    async fn wav(self, first: ByteStream) -> Result<Vec<u8>, String> {
        let mut all = vec![read_all(first).await?];
        for i in 1..self.parts.len() {
            all.push(self.speak(i).await?);
        }
        join_wav(&all).map_err(|e| format!("speech: {e}"))
    }
}
