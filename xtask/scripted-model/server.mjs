// The scripted model server: TEST AND LOCAL-DEVELOPMENT INFRASTRUCTURE, not a
// model and never a product feature. It speaks the OpenAI-compatible HTTP API
// so the Worker's OpenAI-compatible adapter has a loopback upstream in the
// end-to-end suite, in `cargo xtask dev` (when no real local model server such
// as Ollama or llama.cpp is named) and in the streaming benchmark. Every reply
// is deterministic and derived from the request; nothing is generated.
//
//   node xtask/scripted-model/server.mjs [--port 0] [--host 127.0.0.1]
//                                        [--delay-ms 20] [--quiet]
//
// Once listening it prints exactly one line to stdout (the readiness signal):
//   {"scripted_model_server":true,"url":"http://127.0.0.1:PORT/v1","port":PORT}
// Logs (one line per request unless --quiet) go to stderr. SIGTERM and SIGINT
// close every connection and exit 0. Dependency-free: Node built-ins and the
// sibling lexical.mjs and obey.mjs only; /v1/audio/speech runs the Debian
// programs espeak-ng and sox (with libsox-fmt-mp3), which `cargo xtask
// setup` installs.
//
// Endpoints
//   GET  /v1/models, /v1/models/:id   OpenAI list / model shapes (any model id
//                                     is accepted by the completion endpoints)
//   POST /v1/chat/completions         reply "Scripted reply to: <first 200
//                                     chars of the last user message, its
//                                     directives removed and whitespace
//                                     collapsed> — café naïve answer,
//                                     deterministic and scripted."
//                                     A token is a whitespace-separated word and
//                                     its trailing space; `max_tokens` (or
//                                     `max_completion_tokens`) truncates it
//                                     (finish_reason "length", else "stop").
//                                     usage.prompt_tokens = ceil(chars of all
//                                     messages / 4); completion_tokens = words
//                                     emitted. system_fingerprint "scripted".
//                                     `temperature`... are ignored. Two RAG
//                                     prompt shapes get a scripted answer
//                                     instead, and a non-empty `tools` array
//                                     turns on TOOL CALLING (both below).
//   POST /v1/embeddings               deterministic lexical embedder: feature
//                                     hashing (FNV-1a) of lowercased words and
//                                     their character trigrams into 768 signed
//                                     buckets (`dimensions` overrides), L2
//                                     normalised; texts sharing words score a
//                                     higher cosine. encoding_format "base64"
//                                     (float32 little-endian) is honoured.
//   POST /v1/rerank, /v1/reranking    the llama.cpp / vLLM / Jina / Cohere
//                                     rerank shape: {model, query, documents:
//                                     [string | {text}], top_n?,
//                                     return_documents?} → {id, model,
//                                     object: "list", results: [{index,
//                                     relevance_score, document?: {text}}],
//                                     usage} sorted by relevance_score
//                                     descending (ties by index), at most
//                                     top_n. relevance_score is lexical, in
//                                     0..1: sigmoid(6 × (coverage + 0.15 ×
//                                     bigrams) − 3), where coverage is the
//                                     share of the query's distinct content
//                                     words (lowercased, stopwords removed,
//                                     light suffix stemming: s/es/ies/ing/ed)
//                                     found in the document and bigrams the
//                                     number of adjacent query content-word
//                                     pairs also adjacent in the document
//                                     (lexical.mjs has the details). It
//                                     honours the status / fail-model headers.
//   POST /v1/audio/speech             REAL speech (SPEECH below).
//   GET  /__scripted/stats            counters and the last 50 requests (below)
//   POST /__scripted/reset            zeroes the counters and the request log
// The /v1 prefix is optional. Every response carries `x-scripted-model: true`.
// The embedder, the rerank score and the RAG scripts live in lexical.mjs,
// shared with the e2e suite's stand-in Workers AI binding.
//
// RAG prompt shapes (chat completions, streamed or not; every directive below
// still applies, `tokens=N` truncating or padding the scripted text):
//   QUERY REWRITE    the first message is a system message containing
//                    "You rewrite search queries". The reply is one JSON
//                    object {"rewritten":R,"intent":I}: R is the last user
//                    message lowercased, whitespace collapsed, leading filler
//                    ("please", "can you", "could you", "tell me", "i want to
//                    know", each maybe followed by a comma, repeatedly) and
//                    trailing '?' / '.' removed; I is "how-to" if R starts
//                    with "how", "question" if it starts with what / why /
//                    when / where / who / which / is / are / does / do / can
//                    or the message ended with '?', else "lookup".
//   GROUNDED ANSWER  a system message contains "numbered sources"; the last
//                    user message holds blocks
//                      <source id="N" title="T">\n…text…\n</source>
//                    then "Question: Q". The reply, for the first (up to) two
//                    sources, is "<first sentence of the text, whitespace
//                    collapsed, ≤ 200 chars> [N]" joined by a space ("The
//                    sources do not contain the answer." when there is none),
//                    then the lines
//                      Follow-up questions:
//                      - What else does T1 say about W?      (≥ 1 source; W:
//                                                   Q's first content word)
//                      - How does T1 relate to T2?           (2 sources)
//                    joined by "\n". Tokens are words with the whitespace
//                    after them, so streams reassemble the newlines exactly.
// last_requests entries of chat requests carry `script`: "echo", "rewrite",
// "grounded", "tool-calls" or "tool-results".
//
// TOOL CALLING (chat completions with a non-empty `tools` array; requests
// without `tools` are answered exactly as above). The server plays a model
// that obeys every instruction it reads, so the Worker's prompt-injection
// guards can be tested; obey.mjs (shared with the stand-in Workers AI
// binding) has the exact rules. It reads the LATEST TURN: every message
// after the last `assistant` message, any role but assistant (user, system,
// tool; the whole conversation when there is no assistant message), and
// obeys, in text order, at most 4 per reply:
//   call <name> [with {json}]      case-insensitive; also "call the <name>
//   call the <name> tool           tool". <name>: [\p{L}\p{N}_][\p{L}\p{N}_.-]*
//                                  (Unicode look-alikes verbatim), trailing
//                                  '.'/'-' dropped. The balanced {...} after
//                                  " with " is the arguments ({} if it does
//                                  not parse or is absent).
//   fake tool-call JSON            any balanced JSON object in the text (so
//                                  also in <tool_call>…</tool_call>) with a
//                                  string "name" and an "arguments" (object
//                                  or JSON string), the same under
//                                  "function", or {"tool_calls": [...]}.
// Names are emitted even when they are NOT among the offered tools: the
// Worker must refuse them. The reply, when it found instructions:
//   streamed   a first chunk delta {role: "assistant", content: null}; per
//              call a chunk delta {tool_calls: [{index, id: "call_<9 [a-z0-9],
//              deterministic>", type: "function", function: {name,
//              arguments: ""}}]}, then its arguments JSON text in pieces of
//              7 characters, one chunk each: {tool_calls: [{index, function:
//              {arguments: piece}}]} (concatenated per index they are the
//              JSON); a chunk with an empty delta and finish_reason
//              "tool_calls"; the usage chunk (include_usage); [DONE]. Token
//              delay, awkward boundaries, crlf / plain / cut / malformed (after
//              two deltas) and no-usage apply as to text; `tokens=N` and
//              max_tokens do not.
//   not        choices[0].message = {role: "assistant", content: null,
//              tool_calls: [{id, type: "function", function: {name,
//              arguments: "<JSON string>"}}], refusal: null}, finish_reason
//              "tool_calls".
//   usage.completion_tokens = the number of deltas after the role chunk (one
//   per call plus one per arguments piece).
// No instruction, but the latest turn holds `tool` messages ({role: "tool",
// tool_call_id, content}): the text reply "Tool results: <each tool
// message's content, whitespace collapsed, first 200 characters>" joined by
// " | ", tokens as usual (it streams, `tokens=N` and max_tokens apply).
// [[scripted:repeat-tools]] in ANY user message of the conversation: a
// latest turn holding tool results repeats the previous assistant message's
// tool_calls (same names and arguments, fresh ids) instead of answering — a
// model stuck in a loop, for the Worker's per-request step limit. Neither:
// the usual reply (echo or RAG script). last_requests entries with tools
// carry `tools` (the offered names) and, for tool calls, `tool_calls` (the
// called names).
//
// SPEECH (POST /v1/audio/speech, OpenAI's shape): {model, input (≤ 4096
// characters), voice, response_format?: "mp3" (default), speed?: 0.25–4,
// sample_rate? (a scripted extension: 8000, 11025, 12000, 16000, 22050,
// 24000 default, 32000, 44100, 48000)} → real audio: `espeak-ng --stdout -v
// VOICE -s WPM --stdin` (the text on stdin, no shell; WPM = 175 × speed,
// clamped to 80–450) piped through `sox` into the format, mono, at
// sample_rate:
//   mp3   audio/mpeg    streamed (chunked) as sox writes it
//   pcm   audio/pcm     raw signed 16-bit little-endian mono, streamed
//   wav   audio/wav     16-bit PCM WAV \  sox writes a temporary file first (a
//   flac  audio/flac    FLAC           /  pipe cannot get the length into
//                                         the header), then it is streamed
// opus and aac (and anything else) answer 400 in the OpenAI error shape:
// this machine's sox cannot write them. The response has no content-length
// and carries `x-scripted-sample-rate`. Voices: alloy en-us, ash en-us+m3,
// ballad en-gb+m2, coral en-us+f2, echo en-us+m1, fable en-gb-x-rp, onyx
// en-us+m7, nova en-us+f3, sage en-us+f4, shimmer en-us+f1, verse en-us+m2,
// marin en-us+f5, cedar en-us+m4, any other name en-us; "espeak:<voice>"
// (e.g. "espeak:fr", "espeak:en-us+f3") names an espeak-ng voice directly
// (one espeak-ng lacks: 400). Errors (400, OpenAI shape): `input` missing,
// blank or too long ("string_above_max_length"), bad speed, sample_rate or
// format. espeak-ng / sox missing or failing before any byte: 500; failing
// after the first byte: the connection is dropped. Directives in `input`
// (removed from the spoken text) and headers: status, fail-model, hang, and
// cut (half of the first chunk of audio, then the socket is destroyed).
// last_requests entries: script "speech", input_chars, voice, format, the
// input as last_user. A client that leaves stops espeak-ng and sox.
//
// Streams (`stream: true`) are OpenAI `chat.completion.chunk` SSE: a first
// chunk with delta {role:"assistant", content:""}, one chunk per token (the
// token delay between them), a chunk with an empty delta and finish_reason,
// then — only with stream_options.include_usage, in which case every chunk
// also carries `usage: null` — a chunk with `choices: []` and the usage, then
// `data: [DONE]`. To exercise parsers the bytes are written at AWKWARD
// boundaries on purpose: events split across writes in the middle of a
// multi-byte UTF-8 character, in the middle of `data:` and between an event's
// line end and its blank line; `: keep-alive` comment lines inside events and
// blank `:` comment events between them. Each fragment is its own write,
// flushed at once (Nagle off) with a 1 ms pause so the peer sees it alone.
//
// Failure injection, per request. Directives go in the LAST USER MESSAGE (so
// tests can inject through the Worker, which does not pass headers through);
// the same knobs exist as request headers. A directive wins over its header.
//   [[scripted:status=500]]         x-scripted-status: 500    answer that status
//                                   (OpenAI error shape; 429 adds retry-after)
//   [[scripted:fail-model=ID:503]]  x-scripted-fail-model: ID:503[,ID2:500]
//                                   only requests whose `model` is ID fail
//                                   (before any byte); other models answer. The
//                                   status defaults to 500; the id may contain
//                                   ':' (the status is after the last one).
//   [[scripted:hang]]               x-scripted-hang: 1        accept, never
//                                   answer until the client leaves
//   [[scripted:malformed]]          x-scripted-malformed: 1   two good tokens,
//                                   then a `data:` line that is not JSON, then
//                                   the response ends (no [DONE]); non-stream:
//                                   a truncated JSON body
//   [[scripted:cut]]                x-scripted-cut: 1         two tokens, then
//                                   the socket is destroyed (no [DONE])
//   [[scripted:delay=200]]          x-scripted-delay-ms: 200  token delay (ms)
//   [[scripted:tokens=50]]          x-scripted-tokens: 50     reply length in
//                                   words (padded with filler words)
//   [[scripted:no-usage]]           x-scripted-no-usage: 1    no usage chunk
//                                   even when include_usage asks for it
//   [[scripted:crlf]]               x-scripted-crlf: 1        \r\n line endings
//   [[scripted:plain]]              x-scripted-plain: 1       one write per
//                                   event, no comments (clean boundaries)
// Several directives may share one bracket: [[scripted:delay=0,tokens=40]].
// Directives are removed from the echoed text. Precedence: fail-model, status,
// hang, then the reply. Non-streaming replies wait one token delay.
// /v1/embeddings honours the x-scripted-status and x-scripted-fail-model
// headers (its input is not a conversation, so no directives).
//
// Stats (GET /__scripted/stats): {requests, completions, embeddings, reranks,
// speech, errors_injected, streams_started, streams_finished,
// streams_aborted_by_client, streams_cut, open_streams, open_requests,
// last_requests: [{at, path, model, stream, include_usage, max_tokens,
// headers, messages_count, last_user, script}]} (newest last, at most 50;
// embeddings and rerank requests are logged too, with inputs_count; rerank
// with top_n and the query as last_user; speech: see SPEECH; with tools:
// see TOOL CALLING). `requests` counts every
// request except /__scripted/*; `completions` the chat requests whose body
// parsed (injected failures included); `speech` the speech requests whose
// body parsed. A stream counts as started once
// accepted (before any injected hang) and as aborted by the client when the
// connection closes before the server ended it; generation stops at once and
// open_streams goes back down. Header values whose name mentions
// authorization, api-key, token or secret are recorded as
// "<redacted:Bearer ...last4>".

import http from "node:http";
import { spawn } from "node:child_process";
import { createReadStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { embed, rank, ragReply, tokenize } from "./lexical.mjs";
import { planToolTurn, toolCallId, toolNames } from "./obey.mjs";

// ---------------------------------------------------------------- options

function usage(code) {
  process.stderr.write(
    "usage: node server.mjs [--port 0] [--host 127.0.0.1] [--delay-ms 20] [--quiet]\n" +
      "Scripted model server: test/dev infrastructure, deterministic, not a model.\n",
  );
  process.exit(code);
}

function parseArgs(argv) {
  const opts = { port: 0, host: "127.0.0.1", delayMs: 20, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const next = () => {
      if (value !== undefined) return value;
      if (i + 1 >= argv.length) usage(2);
      return argv[++i];
    };
    const int = (s) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 0) usage(2);
      return n;
    };
    switch (arg) {
      case "--port": opts.port = int(next()); break;
      case "--host": opts.host = next(); break;
      case "--delay-ms": opts.delayMs = int(next()); break;
      case "--quiet": opts.quiet = true; break;
      case "--help": case "-h": usage(0); break;
      default:
        process.stderr.write(`scripted-model: unknown argument ${arg}\n`);
        usage(2);
    }
  }
  if (opts.port > 65535) usage(2);
  return opts;
}

const OPTS = parseArgs(process.argv.slice(2));
const MAX_BODY = 16 * 1024 * 1024;
const SPLIT_GAP_MS = 1;
const LAST_REQUESTS = 50;
const MODELS = ["scripted-chat", "scripted-chat-small", "scripted-fallback", "scripted-embed", "scripted-rerank"];
const FILLER = ["lorem", "ipsum", "crème", "brûlée", "dolor", "façade", "sit", "amet", "über", "jalapeño"];

const log = (line) => {
  if (!OPTS.quiet) process.stderr.write(`scripted-model: ${line}\n`);
};

// ---------------------------------------------------------------- stats

let nextId = 1;
let stats;
function resetStats() {
  const open = stats ? { open_streams: stats.open_streams, open_requests: stats.open_requests } : {};
  stats = {
    requests: 0,
    completions: 0,
    embeddings: 0,
    reranks: 0,
    speech: 0,
    errors_injected: 0,
    streams_started: 0,
    streams_finished: 0,
    streams_aborted_by_client: 0,
    streams_cut: 0,
    open_streams: 0,
    open_requests: 0,
    ...open, // live gauges survive a reset
    last_requests: [],
  };
}
resetStats();

function redact(value) {
  const v = String(value).trim();
  const space = v.indexOf(" ");
  const scheme = space > 0 ? v.slice(0, space) + " " : "";
  const secret = space > 0 ? v.slice(space + 1).trim() : v;
  const tail = secret.length >= 8 ? "..." + secret.slice(-4) : "...";
  return `<redacted:${scheme}${tail}>`;
}

function recordHeaders(headers) {
  const out = {};
  for (const [name, value] of Object.entries(headers)) {
    const v = Array.isArray(value) ? value.join(", ") : String(value);
    out[name] = /authorization|api-key|token|secret/.test(name) ? redact(v) : v;
  }
  return out;
}

function remember(entry) {
  stats.last_requests.push({ at: new Date().toISOString(), ...entry });
  if (stats.last_requests.length > LAST_REQUESTS) stats.last_requests.shift();
}

// ---------------------------------------------------------------- HTTP helpers

function baseHeaders(extra = {}) {
  return { "x-scripted-model": "true", ...extra };
}

function sendJson(res, status, body, extra = {}) {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, baseHeaders({
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...extra,
  }));
  res.end(text);
}

function errorBody(status, message, code) {
  const kinds = {
    400: ["invalid_request_error", "invalid_request"],
    401: ["authentication_error", "invalid_api_key"],
    403: ["permission_error", "permission_denied"],
    404: ["invalid_request_error", "not_found"],
    405: ["invalid_request_error", "method_not_allowed"],
    408: ["timeout_error", "timeout"],
    413: ["invalid_request_error", "request_too_large"],
    429: ["requests", "rate_limit_exceeded"],
  };
  const [type, defaultCode] = kinds[status] ?? (status >= 500 ? ["server_error", "server_error"] : ["invalid_request_error", "error"]);
  return { error: { message, type, param: null, code: code ?? defaultCode } };
}

function sendError(res, status, message, code) {
  const extra = status === 429 ? { "retry-after": "1" } : {};
  sendJson(res, status, errorBody(status, message, code), extra);
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (c) => {
      size += c.length;
      if (size > MAX_BODY) tooLarge = true;
      else chunks.push(c);
    });
    req.on("end", () => resolve(tooLarge ? { tooLarge } : { body: Buffer.concat(chunks) }));
    req.on("error", () => resolve({ error: true }));
    req.on("aborted", () => resolve({ error: true }));
  });
}

// ---------------------------------------------------------------- request parsing

const truthy = (v) => v !== undefined && /^(1|true|yes|on)$/i.test(String(v).trim());

function intIn(v, lo, hi) {
  if (v === undefined || v === null || v === "") return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) return undefined;
  return Math.min(hi, Math.max(lo, Math.floor(n)));
}

function textOf(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (typeof p === "string" ? p : p && typeof p.text === "string" ? p.text : ""))
      .filter((s) => s !== "")
      .join("\n");
  }
  return "";
}

function parseFailModel(spec) {
  const s = String(spec).trim();
  const m = /^(.*):(\d{3})$/.exec(s);
  if (m && m[1] !== "") return { model: m[1], status: Number(m[2]) };
  return s ? { model: s, status: 500 } : null;
}

const DIRECTIVE = /\[\[scripted:([^\]]*)\]\]/g;

// Knobs from the last user message's directives and the request's headers.
function knobs(lastUser, headers) {
  const k = {
    status: intIn(headers["x-scripted-status"], 100, 599),
    failModels: [],
    hang: truthy(headers["x-scripted-hang"]),
    malformed: truthy(headers["x-scripted-malformed"]),
    cut: truthy(headers["x-scripted-cut"]),
    delayMs: intIn(headers["x-scripted-delay-ms"], 0, 600000),
    tokens: intIn(headers["x-scripted-tokens"], 1, 100000),
    noUsage: truthy(headers["x-scripted-no-usage"]),
    crlf: truthy(headers["x-scripted-crlf"]),
    plain: truthy(headers["x-scripted-plain"]),
  };
  if (headers["x-scripted-fail-model"]) {
    for (const spec of String(headers["x-scripted-fail-model"]).split(",")) {
      const f = parseFailModel(spec);
      if (f) k.failModels.push(f);
    }
  }
  for (const match of lastUser.matchAll(DIRECTIVE)) {
    for (const part of match[1].split(",")) {
      const d = part.trim();
      const eq = d.indexOf("=");
      const name = (eq < 0 ? d : d.slice(0, eq)).trim().toLowerCase();
      const value = eq < 0 ? undefined : d.slice(eq + 1).trim();
      switch (name) {
        case "status": k.status = intIn(value, 100, 599) ?? k.status; break;
        case "fail-model": { const f = parseFailModel(value ?? ""); if (f) k.failModels.push(f); break; }
        case "hang": k.hang = true; break;
        case "malformed": k.malformed = true; break;
        case "cut": k.cut = true; break;
        case "delay": k.delayMs = intIn(value, 0, 600000) ?? k.delayMs; break;
        case "tokens": k.tokens = intIn(value, 1, 100000) ?? k.tokens; break;
        case "no-usage": k.noUsage = true; break;
        case "crlf": k.crlf = true; break;
        case "plain": k.plain = true; break;
        default: break; // unknown directives are ignored
      }
    }
  }
  if (k.delayMs === undefined) k.delayMs = OPTS.delayMs;
  return k;
}

// ---------------------------------------------------------------- the script

const estimateTokens = (chars) => Math.ceil(chars / 4);
const charCount = (s) => [...s].length;

// The reply as pieces: each a word with the whitespace after it (a space, or
// the newlines of a grounded answer), so that they concatenate to the text.
// The RAG prompt shapes (lexical.mjs `ragReply`) answer their script; any
// other conversation gets the echo reply. `tokens=N` truncates or pads with
// filler words either way.
function replyPieces(rag, lastUser, wanted) {
  let pieces;
  if (rag) pieces = tokenize(rag.text);
  else {
    const echo = [...lastUser.replace(DIRECTIVE, " ").replace(/\s+/g, " ").trim()].slice(0, 200).join("").trim();
    const text = `Scripted reply to: ${echo || "(empty message)"} — café naïve answer, deterministic and scripted.`;
    pieces = text.split(/\s+/).filter(Boolean).map((w) => w + " ");
  }
  if (wanted !== undefined) {
    if (pieces.length > wanted) pieces = pieces.slice(0, wanted);
    if (pieces.length && pieces.length < wanted && !/\s$/.test(pieces.at(-1))) pieces[pieces.length - 1] += " ";
    for (let i = 0; pieces.length < wanted; i++) pieces.push(FILLER[i % FILLER.length] + " ");
  }
  return pieces;
}

// The tokens actually emitted: the pieces, the last one emitted without its
// trailing whitespace (so truncated replies do not end in a space).
function emittedTokens(pieces, maxTokens) {
  const n = maxTokens !== undefined && maxTokens < pieces.length ? maxTokens : pieces.length;
  const tokens = pieces.slice(0, n).map((w, i) => (i < n - 1 ? w : w.trimEnd()));
  return { tokens, finishReason: n < pieces.length ? "length" : "stop" };
}

// OpenAI tool calls for the obeying model's calls: ids "call_" + 9
// deterministic characters (from the conversation's length, the call's
// position, its name and arguments), arguments as a JSON string.
function toolCalls(calls, seed) {
  return calls.map((c, i) => {
    const args = JSON.stringify(c.arguments);
    return { id: toolCallId(`${seed}:${i}:${c.name}:${args}`), type: "function", function: { name: c.name, arguments: args } };
  });
}

// A string in pieces of 7 characters (code points, so no piece splits a
// surrogate pair).
function pieces7(text) {
  const chars = [...text];
  const out = [];
  for (let i = 0; i < chars.length; i += 7) out.push(chars.slice(i, i + 7).join(""));
  return out;
}

// ---------------------------------------------------------------- chat completions

async function chatCompletions(req, res, body) {
  let request;
  try {
    request = JSON.parse(body.toString("utf8"));
  } catch {
    return sendError(res, 400, "Scripted model server: the request body is not valid JSON.");
  }
  if (!request || typeof request !== "object" || Array.isArray(request)) {
    return sendError(res, 400, "Scripted model server: the request body must be a JSON object.");
  }
  const messages = Array.isArray(request.messages) ? request.messages : null;
  if (!messages) {
    return sendError(res, 400, "Scripted model server: `messages` must be an array.", "invalid_value");
  }
  stats.completions++;
  const model = typeof request.model === "string" && request.model !== "" ? request.model : "scripted-chat";
  const stream = request.stream === true;
  const includeUsage = stream && request.stream_options?.include_usage === true;
  const maxTokens = intIn(request.max_completion_tokens ?? request.max_tokens, 0, 1e9);
  const users = messages.filter((m) => m && m.role === "user");
  const lastUser = users.length ? textOf(users[users.length - 1].content) : "";
  const promptChars = messages.reduce((n, m) => n + (m ? charCount(textOf(m.content)) : 0), 0);
  const k = knobs(lastUser, req.headers);
  const rag = ragReply(messages);
  const tools = Array.isArray(request.tools) ? request.tools : [];
  const plan = planToolTurn(messages, tools); // null without tools: the reply of old

  const entry = {
    path: req.url,
    model,
    script: plan ? plan.kind : rag ? rag.kind : "echo",
    stream,
    include_usage: includeUsage,
    max_tokens: maxTokens ?? null,
    headers: recordHeaders(req.headers),
    messages_count: messages.length,
    last_user: lastUser.slice(0, 1000),
  };
  if (tools.length) entry.tools = toolNames(tools);
  if (plan?.kind === "tool-calls") entry.tool_calls = plan.calls.map((c) => c.name);
  remember(entry);

  const failing = k.failModels.find((f) => f.model === model);
  if (failing && failing.status >= 400) {
    stats.errors_injected++;
    return sendError(res, failing.status, `Scripted failure: model ${model} answers ${failing.status} (fail-model directive).`);
  }
  if (k.status !== undefined && k.status >= 400) {
    stats.errors_injected++;
    return sendError(res, k.status, `Scripted failure: status ${k.status} injected on purpose.`);
  }

  const id = `chatcmpl-scripted-${nextId++}`;
  const created = Math.floor(Date.now() / 1000);
  const promptTokens = estimateTokens(promptChars);
  let first, deltas, finishReason, message;
  if (plan?.kind === "tool-calls") {
    // The obeying model's tool calls (obey.mjs): one delta naming each call,
    // then its arguments JSON in pieces of 7 characters.
    const calls = toolCalls(plan.calls, messages.length);
    first = { role: "assistant", content: null };
    deltas = [];
    calls.forEach((c, index) => {
      deltas.push({ tool_calls: [{ index, id: c.id, type: "function", function: { name: c.function.name, arguments: "" } }] });
      for (const piece of pieces7(c.function.arguments)) deltas.push({ tool_calls: [{ index, function: { arguments: piece } }] });
    });
    finishReason = "tool_calls";
    message = { role: "assistant", content: null, tool_calls: calls, refusal: null };
  } else {
    const pieces = replyPieces(plan ?? rag, lastUser, k.tokens);
    const emitted = emittedTokens(pieces, maxTokens === 0 ? 0 : maxTokens);
    first = { role: "assistant", content: "" };
    deltas = emitted.tokens.map((t) => ({ content: t }));
    finishReason = emitted.finishReason;
    message = { role: "assistant", content: emitted.tokens.join(""), refusal: null };
  }
  const usage = { prompt_tokens: promptTokens, completion_tokens: deltas.length, total_tokens: promptTokens + deltas.length };

  const ctx = track(res, stream);
  if (k.hang) return; // never answer; the close handler does the accounting
  if (stream) return streamReply(ctx, res, { id, created, model, first, deltas, finishReason, usage, includeUsage, k });

  await ctx.sleep(k.delayMs);
  if (ctx.closed) return;
  const completion = {
    id,
    object: "chat.completion",
    created,
    model,
    system_fingerprint: "scripted",
    choices: [{
      index: 0,
      message,
      logprobs: null,
      finish_reason: finishReason,
    }],
    usage,
  };
  const text = JSON.stringify(completion);
  if (k.malformed || k.cut) {
    const half = Buffer.from(text).subarray(0, Math.floor(Buffer.byteLength(text) / 2));
    if (k.cut) {
      // The headers promise the whole body; half of it comes, then the socket goes.
      res.writeHead(200, baseHeaders({ "content-type": "application/json", "content-length": Buffer.byteLength(text) }));
      ctx.cut = true;
      res.write(half, () => res.socket?.destroy());
      return;
    }
    // A complete response whose body is truncated JSON.
    res.writeHead(200, baseHeaders({ "content-type": "application/json", "content-length": half.length }));
    ctx.done = true;
    res.end(half);
    return;
  }
  ctx.done = true;
  sendJson(res, 200, completion);
}

// Lifetime of one accepted completion (stream or not): open gauges, client
// abort detection, cancellable sleeps.
function track(res, stream) {
  const ctx = { closed: false, done: false, cut: false, timer: null, wake: null, event: 0, settled: false };
  stats.open_requests++;
  if (stream) {
    stats.streams_started++;
    stats.open_streams++;
  }
  const settle = (how) => {
    if (ctx.settled) return;
    ctx.settled = true;
    stats.open_requests--;
    if (!stream) return;
    stats.open_streams--;
    if (how === "finish" || ctx.done) stats.streams_finished++;
    else if (ctx.cut) stats.streams_cut++;
    else stats.streams_aborted_by_client++;
  };
  res.on("finish", () => settle("finish"));
  res.on("close", () => {
    ctx.closed = true;
    if (ctx.timer) clearTimeout(ctx.timer);
    ctx.timer = null;
    const wake = ctx.wake;
    ctx.wake = null;
    if (wake) wake();
    settle("close");
  });
  ctx.sleep = (ms) =>
    new Promise((resolve) => {
      if (ctx.closed) return resolve();
      ctx.wake = resolve;
      ctx.timer = setTimeout(() => {
        ctx.timer = null;
        ctx.wake = null;
        resolve();
      }, ms);
    });
  // Resolves once the chunk is handed to the kernel (or the response closed),
  // so fragments leave one by one and a cut loses nothing already written.
  ctx.write = (chunk) =>
    new Promise((resolve) => {
      if (ctx.closed || res.destroyed) return resolve();
      const done = () => {
        res.off("close", done);
        resolve();
      };
      res.on("close", done);
      try {
        res.write(chunk, done);
      } catch {
        done();
      }
    });
  return ctx;
}

// One SSE event, written at awkward boundaries unless the request is plain.
async function writeEvent(ctx, payload, k) {
  const sep = k.crlf ? "\r\n" : "\n";
  let block = `data: ${payload}${sep}${sep}`;
  if (k.plain) return ctx.write(block);
  const n = ctx.event++;
  if (n % 4 === 2) {
    // A blank comment as an event of its own (a keep-alive).
    await ctx.write(`:${sep}${sep}`);
    await ctx.sleep(SPLIT_GAP_MS);
  }
  if (n % 3 === 1) block = `: keep-alive${sep}` + block; // a comment line inside the event
  const buf = Buffer.from(block, "utf8");
  const cuts = new Set();
  const lead = buf.findIndex((b) => b >= 0xc0);
  if (lead >= 0) cuts.add(lead + 1); // in the middle of a multi-byte character
  if (n % 3 === 0) cuts.add(block.indexOf("data:") + 2); // "da" | "ta: ..."
  if (n % 5 === 4) cuts.add(buf.length - sep.length); // line end | blank line
  if (k.crlf && n % 5 === 3) cuts.add(buf.length - 1); // "\r" | "\n"
  const points = [...cuts].filter((c) => c > 0 && c < buf.length).sort((a, b) => a - b);
  let from = 0;
  for (const at of [...points, buf.length]) {
    if (ctx.closed) return;
    await ctx.write(buf.subarray(from, at));
    from = at;
    if (at < buf.length) await ctx.sleep(SPLIT_GAP_MS);
  }
}

async function streamReply(ctx, res, r) {
  const { id, created, model, first, deltas, finishReason, usage, includeUsage, k } = r;
  res.writeHead(200, baseHeaders({
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
  }));
  res.flushHeaders();
  const chunk = (choices, extra = {}) => {
    const c = { id, object: "chat.completion.chunk", created, model, system_fingerprint: "scripted", choices, ...extra };
    if (includeUsage && !("usage" in c)) c.usage = null;
    return JSON.stringify(c);
  };
  const delta = (d, finish = null) => chunk([{ index: 0, delta: d, logprobs: null, finish_reason: finish }]);

  await writeEvent(ctx, delta(first), k);
  for (let i = 0; i < deltas.length; i++) {
    if (ctx.closed) return;
    if ((k.malformed || k.cut) && i === 2) break;
    await ctx.sleep(k.delayMs);
    if (ctx.closed) return;
    await writeEvent(ctx, delta(deltas[i]), k);
  }
  if (ctx.closed) return;
  if (k.cut) {
    ctx.cut = true;
    res.socket?.destroy();
    return;
  }
  if (k.malformed) {
    await writeEvent(ctx, `{"id":"${id}","object":"chat.completion.chunk","choices":[{"delta":{"content": not json`, { ...k, plain: true });
    ctx.done = true;
    res.end();
    return;
  }
  await writeEvent(ctx, delta({}, finishReason), k);
  if (includeUsage && !k.noUsage) await writeEvent(ctx, chunk([], { usage }), k);
  await writeEvent(ctx, "[DONE]", k);
  if (ctx.closed) return;
  ctx.done = true;
  res.end();
}

// ---------------------------------------------------------------- embeddings

// The embedder (feature hashing of words and trigrams) is lexical.mjs's
// `embed`, shared with the stand-in Workers AI binding.

async function embeddings(req, res, body) {
  let request;
  try {
    request = JSON.parse(body.toString("utf8"));
  } catch {
    return sendError(res, 400, "Scripted model server: the request body is not valid JSON.");
  }
  if (!request || typeof request !== "object" || Array.isArray(request)) {
    return sendError(res, 400, "Scripted model server: the request body must be a JSON object.");
  }
  let inputs = request.input;
  if (typeof inputs === "string") inputs = [inputs];
  else if (Array.isArray(inputs) && inputs.length > 0 && inputs.every((x) => typeof x === "number")) inputs = [inputs.join(" ")];
  if (!Array.isArray(inputs) || inputs.length === 0) {
    return sendError(res, 400, "Scripted model server: `input` must be a string or a non-empty array.", "invalid_value");
  }
  inputs = inputs.map((x) => (typeof x === "string" ? x : Array.isArray(x) ? x.join(" ") : JSON.stringify(x ?? "")));
  const dims = intIn(request.dimensions, 1, 4096) ?? 768;
  const model = typeof request.model === "string" && request.model !== "" ? request.model : "scripted-embed";
  stats.embeddings++;
  remember({
    path: req.url,
    model,
    stream: false,
    headers: recordHeaders(req.headers),
    messages_count: 0,
    inputs_count: inputs.length,
    last_user: inputs[inputs.length - 1].slice(0, 1000),
  });
  const k = knobs("", req.headers);
  const failing = k.failModels.find((f) => f.model === model);
  const status = failing ? failing.status : k.status;
  if (status !== undefined && status >= 400) {
    stats.errors_injected++;
    return sendError(res, status, `Scripted failure: status ${status} injected on purpose.`);
  }
  const base64 = request.encoding_format === "base64";
  const data = inputs.map((text, index) => {
    const vec = embed(text, dims);
    const embedding = base64 ? Buffer.from(new Float32Array(vec).buffer).toString("base64") : vec;
    return { object: "embedding", index, embedding };
  });
  const promptTokens = inputs.reduce((n, t) => n + estimateTokens(charCount(t)), 0);
  sendJson(res, 200, { object: "list", data, model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } });
}

// ---------------------------------------------------------------- rerank

async function rerank(req, res, body) {
  let request;
  try {
    request = JSON.parse(body.toString("utf8"));
  } catch {
    return sendError(res, 400, "Scripted model server: the request body is not valid JSON.");
  }
  if (!request || typeof request !== "object" || Array.isArray(request)) {
    return sendError(res, 400, "Scripted model server: the request body must be a JSON object.");
  }
  const { query, documents } = request;
  if (typeof query !== "string") {
    return sendError(res, 400, "Scripted model server: `query` must be a string.", "invalid_value");
  }
  if (!Array.isArray(documents) || documents.length === 0) {
    return sendError(res, 400, "Scripted model server: `documents` must be a non-empty array.", "invalid_value");
  }
  const texts = documents.map((d) =>
    typeof d === "string" ? d : d && typeof d === "object" && typeof d.text === "string" ? d.text : null,
  );
  if (texts.some((t) => t === null)) {
    return sendError(res, 400, "Scripted model server: each document must be a string or {text}.", "invalid_value");
  }
  const model = typeof request.model === "string" && request.model !== "" ? request.model : "scripted-rerank";
  stats.reranks++;
  remember({
    path: req.url,
    model,
    stream: false,
    headers: recordHeaders(req.headers),
    messages_count: 0,
    inputs_count: texts.length,
    top_n: request.top_n ?? null,
    last_user: query.slice(0, 1000),
  });
  const k = knobs("", req.headers);
  const failing = k.failModels.find((f) => f.model === model);
  const status = failing ? failing.status : k.status;
  if (status !== undefined && status >= 400) {
    stats.errors_injected++;
    return sendError(res, status, `Scripted failure: status ${status} injected on purpose.`);
  }
  const topN = intIn(request.top_n, 0, texts.length);
  const ranked = rank(query, texts).slice(0, topN ?? texts.length);
  const results = ranked.map(({ index, score }) => {
    const r = { index, relevance_score: score };
    if (request.return_documents === true) r.document = { text: texts[index] };
    return r;
  });
  const promptTokens = texts.reduce((n, t) => n + estimateTokens(charCount(query) + charCount(t)), 0);
  sendJson(res, 200, {
    id: `rerank-scripted-${nextId++}`,
    model,
    object: "list",
    results,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  });
}

// ---------------------------------------------------------------- speech

// Real audio: espeak-ng speaks the text (WAV, 22,050 Hz, on its stdout), sox
// converts it. Text goes to espeak-ng on stdin, never through a shell.
const SPEECH_FORMATS = {
  mp3: { type: "audio/mpeg", sox: ["-t", "mp3"] },
  wav: { type: "audio/wav", sox: ["-t", "wav", "-e", "signed-integer", "-b", "16"], file: true },
  flac: { type: "audio/flac", sox: ["-t", "flac"], file: true },
  pcm: { type: "audio/pcm", sox: ["-t", "raw", "-e", "signed-integer", "-b", "16", "-L"] },
};
const SPEECH_RATES = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];
const MAX_SPEECH_INPUT = 4096;
// OpenAI voice → espeak-ng voice (+ variant). Unknown voices speak en-us.
const VOICES = {
  alloy: "en-us", ash: "en-us+m3", ballad: "en-gb+m2", coral: "en-us+f2", echo: "en-us+m1",
  fable: "en-gb-x-rp", onyx: "en-us+m7", nova: "en-us+f3", sage: "en-us+f4", shimmer: "en-us+f1",
  verse: "en-us+m2", marin: "en-us+f5", cedar: "en-us+m4",
};
const ESPEAK_VOICE = /^[a-z]{2,3}(-[a-z0-9]{1,8})*(\+[a-z0-9]{1,12})?$/i;

function espeakVoice(voice) {
  if (typeof voice === "string" && voice.startsWith("espeak:")) {
    const v = voice.slice("espeak:".length);
    return ESPEAK_VOICE.test(v) ? v : null;
  }
  return Object.hasOwn(VOICES, String(voice).toLowerCase()) ? VOICES[String(voice).toLowerCase()] : "en-us";
}

async function speech(req, res, body) {
  let request;
  try {
    request = JSON.parse(body.toString("utf8"));
  } catch {
    return sendError(res, 400, "Scripted model server: the request body is not valid JSON.");
  }
  if (!request || typeof request !== "object" || Array.isArray(request)) {
    return sendError(res, 400, "Scripted model server: the request body must be a JSON object.");
  }
  const input = request.input;
  const model = typeof request.model === "string" && request.model !== "" ? request.model : "scripted-tts";
  const format = request.response_format ?? "mp3";
  const voiceName = request.voice ?? "alloy";
  stats.speech++;
  remember({
    path: req.url,
    model,
    script: "speech",
    stream: false,
    headers: recordHeaders(req.headers),
    messages_count: 0,
    input_chars: typeof input === "string" ? charCount(input) : null,
    voice: typeof voiceName === "string" ? voiceName : null,
    format: typeof format === "string" ? format : null,
    last_user: typeof input === "string" ? input.slice(0, 1000) : "",
  });
  if (typeof input !== "string" || input.trim() === "") {
    return sendError(res, 400, "Scripted model server: `input` must be a non-empty string.", "invalid_value");
  }
  if (charCount(input) > MAX_SPEECH_INPUT) {
    return sendError(res, 400, `Scripted model server: \`input\` is limited to ${MAX_SPEECH_INPUT} characters.`, "string_above_max_length");
  }
  if (typeof format !== "string" || !Object.hasOwn(SPEECH_FORMATS, format)) {
    const why = format === "opus" || format === "aac" ? ` (sox cannot write ${format} here)` : "";
    return sendError(res, 400, `Scripted model server: response_format ${JSON.stringify(format)} is not supported${why}; use mp3, wav, flac or pcm.`, "invalid_value");
  }
  const voice = espeakVoice(voiceName);
  if (!voice) return sendError(res, 400, `Scripted model server: voice ${JSON.stringify(voiceName)} is not an espeak-ng voice name.`, "invalid_value");
  const speed = request.speed ?? 1;
  if (typeof speed !== "number" || !(speed >= 0.25 && speed <= 4)) {
    return sendError(res, 400, "Scripted model server: `speed` must be a number from 0.25 to 4.", "invalid_value");
  }
  const rate = request.sample_rate ?? 24000;
  if (!SPEECH_RATES.includes(rate)) {
    return sendError(res, 400, `Scripted model server: \`sample_rate\` must be one of ${SPEECH_RATES.join(", ")}.`, "invalid_value");
  }
  const k = knobs(input, req.headers);
  const failing = k.failModels.find((f) => f.model === model);
  const status = failing ? failing.status : k.status;
  if (status !== undefined && status >= 400) {
    stats.errors_injected++;
    return sendError(res, status, `Scripted failure: status ${status} injected on purpose.`);
  }
  const ctx = track(res, false);
  if (k.hang) return; // never answer; the close handler does the accounting
  const text = input.replace(DIRECTIVE, " ").replace(/\s+/g, " ").trim() || "empty";
  const fmt = SPEECH_FORMATS[format];
  const dir = fmt.file ? mkdtempSync(join(tmpdir(), "scripted-speech-")) : null;
  const out = dir ? join(dir, `speech.${format}`) : "-";
  const wpm = String(Math.round(Math.min(450, Math.max(80, 175 * speed))));
  const espeak = spawn("espeak-ng", ["--stdout", "-v", voice, "-s", wpm, "--stdin"], { stdio: ["pipe", "pipe", "pipe"] });
  const sox = spawn("sox", ["-q", "-t", "wav", "-", ...fmt.sox, out, "rate", String(rate), "channels", "1"], {
    stdio: ["pipe", dir ? "ignore" : "pipe", "pipe"],
  });
  const errors = { espeak: "", sox: "" };
  const exited = (child, name) =>
    new Promise((resolve) => {
      child.on("error", (e) => {
        errors[name] += `${name}: ${e.code === "ENOENT" ? "not installed (cargo xtask setup installs it)" : e.message}\n`;
        resolve(-1);
      });
      child.on("close", (code) => resolve(code ?? -1));
    });
  const espeakDone = exited(espeak, "espeak");
  const soxDone = exited(sox, "sox");
  espeak.stderr.on("data", (d) => (errors.espeak += d));
  sox.stderr.on("data", (d) => (errors.sox += d));
  for (const stream of [espeak.stdin, espeak.stdout, sox.stdin]) stream.on("error", () => {});
  espeak.stdout.pipe(sox.stdin);
  espeak.stdin.end(text);
  const cleanup = () => {
    for (const child of [espeak, sox]) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
  res.on("close", () => {
    if (!ctx.done) cleanup();
  });
  const failed = async () => {
    const [e, x] = await Promise.all([espeakDone, soxDone]);
    if (e === 0 && x === 0) return null;
    const message = (errors.espeak + errors.sox).trim().split("\n").slice(0, 3).join(" ") || `espeak-ng exited ${e}, sox ${x}`;
    return { status: /voice does not exist/i.test(errors.espeak) ? 400 : 500, message };
  };
  const headers = baseHeaders({ "content-type": fmt.type, "cache-control": "no-store", "x-scripted-sample-rate": String(rate) });

  if (dir) {
    // WAV and FLAC headers hold the length, which sox can only write into a
    // seekable file: the file is made first, then streamed.
    const f = await failed();
    if (ctx.closed) return cleanup();
    if (f) {
      cleanup();
      return sendError(res, f.status, `Scripted model server: speech failed: ${f.message}`);
    }
    res.writeHead(200, headers);
    const file = createReadStream(out);
    file.on("error", () => res.destroy());
    file.on("data", (c) => {
      if (k.cut) {
        ctx.cut = true;
        file.destroy();
        res.write(c.subarray(0, Math.ceil(c.length / 2)), () => res.socket?.destroy());
        cleanup();
      }
    });
    file.on("end", () => {
      ctx.done = true;
      cleanup();
    });
    if (!k.cut) file.pipe(res);
    return;
  }

  // MP3 and raw PCM stream as sox writes them.
  let started = false;
  sox.stdout.on("data", (c) => {
    if (ctx.closed) return;
    if (!started) {
      started = true;
      res.writeHead(200, headers);
      if (k.cut) {
        ctx.cut = true;
        res.write(c.subarray(0, Math.ceil(c.length / 2)), () => res.socket?.destroy());
        cleanup();
        return;
      }
    }
    if (!ctx.cut) res.write(c);
  });
  const f = await failed();
  if (ctx.closed || ctx.cut) return;
  if (!started) {
    if (f) return sendError(res, f.status, `Scripted model server: speech failed: ${f.message}`);
    res.writeHead(200, headers);
  } else if (f) {
    return res.destroy(); // the audio has begun: a truncated body is all that can tell
  }
  ctx.done = true;
  res.end();
}

// ---------------------------------------------------------------- routing

const modelObject = (id) => ({ id, object: "model", created: 1700000000, owned_by: "scripted" });

async function handle(req, res) {
  const url = new URL(req.url ?? "/", "http://scripted.invalid");
  const path = url.pathname.replace(/\/+$/, "") || "/";
  const method = req.method ?? "GET";

  if (path === "/__scripted/stats") {
    if (method !== "GET") return sendError(res, 405, "Use GET.");
    return sendJson(res, 200, stats, { "cache-control": "no-store" });
  }
  if (path === "/__scripted/reset") {
    if (method !== "POST") return sendError(res, 405, "Use POST.");
    resetStats();
    return sendJson(res, 200, { reset: true });
  }

  stats.requests++;
  let logged = false;
  const logOnce = (how) => {
    if (logged) return;
    logged = true;
    log(`${method} ${req.url} ${res.headersSent ? res.statusCode : "-"}${how}`);
  };
  res.on("finish", () => logOnce(""));
  res.on("close", () => logOnce(" (closed before the end)"));
  const route = path.startsWith("/v1/") || path === "/v1" ? path.slice(3) || "/" : path;

  if (route === "/" || route === "/health") {
    if (method !== "GET" && method !== "HEAD") return sendError(res, 405, "Use GET.");
    return sendJson(res, 200, { ok: true, scripted_model_server: true, note: "test/dev infrastructure, not a model" });
  }
  if (route === "/models") {
    if (method !== "GET") return sendError(res, 405, "Use GET.");
    return sendJson(res, 200, { object: "list", data: MODELS.map(modelObject) });
  }
  if (route.startsWith("/models/")) {
    if (method !== "GET") return sendError(res, 405, "Use GET.");
    return sendJson(res, 200, modelObject(decodeURIComponent(route.slice("/models/".length))));
  }
  const posts = { "/chat/completions": chatCompletions, "/embeddings": embeddings, "/rerank": rerank, "/reranking": rerank, "/audio/speech": speech };
  if (Object.hasOwn(posts, route)) {
    if (method !== "POST") return sendError(res, 405, "Use POST.");
    const read = await readBody(req);
    if (read.error) return;
    if (read.tooLarge) return sendError(res, 413, `Scripted model server: bodies are limited to ${MAX_BODY} bytes.`);
    return posts[route](req, res, read.body);
  }
  return sendError(res, 404, `Scripted model server: no route for ${method} ${path}.`);
}

// ---------------------------------------------------------------- server

const server = http.createServer((req, res) => {
  req.on("error", () => {});
  res.on("error", () => {});
  handle(req, res).catch((err) => {
    log(`internal error: ${err?.stack ?? err}`);
    if (!res.headersSent) sendError(res, 500, "Scripted model server: internal error.");
    else res.destroy();
  });
});
server.requestTimeout = 0; // a hanging request waits for its client, however long
server.on("connection", (socket) => {
  socket.setNoDelay(true);
  socket.on("error", () => {});
});
server.on("clientError", (err, socket) => {
  if (socket.writable && !socket.destroyed) {
    socket.end("HTTP/1.1 400 Bad Request\r\nx-scripted-model: true\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
  } else socket.destroy();
});
process.stdout.on("error", () => {});
process.on("uncaughtException", (err) => log(`uncaught: ${err?.stack ?? err}`));
process.on("unhandledRejection", (err) => log(`unhandled: ${err?.stack ?? err}`));

server.on("error", (err) => {
  process.stderr.write(`scripted-model: cannot listen on ${OPTS.host}:${OPTS.port}: ${err.message}\n`);
  process.exit(1);
});

server.listen(OPTS.port, OPTS.host, () => {
  const { port } = server.address();
  let host = OPTS.host;
  if (host === "0.0.0.0") host = "127.0.0.1";
  else if (host === "::") host = "[::1]";
  else if (host.includes(":")) host = `[${host}]`;
  process.stdout.write(JSON.stringify({ scripted_model_server: true, url: `http://${host}:${port}/v1`, port }) + "\n");
  log(`listening on http://${host}:${port}/v1 (scripted test/dev infrastructure, token delay ${OPTS.delayMs} ms)`);
});

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal}: closing`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));
// Never outlive the process that started it (`cargo xtask dev` stopped
// with Ctrl-C exits without stopping its children's process groups).
const PARENT = process.ppid;
setInterval(() => {
  if (process.ppid !== PARENT) stop("parent exited");
}, 1000).unref();
