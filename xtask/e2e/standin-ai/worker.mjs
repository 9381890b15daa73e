// A stand-in for the Workers AI binding, for the end-to-end suite only (TEST
// INFRASTRUCTURE, deterministic, not a model): a Worker whose RPC entrypoint
// has the binding's `run(model, inputs, options)` signature. The Worker under
// test gets it as its `AI` binding (a service binding in place of the `ai`
// binding, which has no local emulation) and calls it exactly as it calls
// `env.AI.run`. What `run` answers, by the shape of the call:
//
//   embedding  (model id containing "bge-" and "-en-", or `inputs.text`
//              without `messages` / `prompt` on a model that is not a
//              text-to-speech one): Workers AI's shape
//              {shape: [n, d], data: [[…d floats]…], pooling} from the
//              scripted model server's lexical embedder (xtask/scripted-model/
//              lexical.mjs, shared): d = 384 for bge-small, 1024 for
//              bge-large and bge-m3, else 768; `pooling` echoes
//              inputs.pooling or "mean". `text` is a string or an array of
//              ≤ 100 strings (more throws, as the real model refuses).
//   rerank     (`inputs.query` and `inputs.contexts: [{text}]`):
//              {response: [{id, score}]} where id is the context's index and
//              score the lexical relevance LOGIT (sigmoid(score) is the
//              scripted server's /v1/rerank relevance_score), sorted
//              descending (ties by index), at most `top_k`.
//   chat       the RAG prompt shapes (query rewrite: the first message is a
//              system message containing "You rewrite search queries";
//              grounded answer: a system message contains "numbered
//              sources") answer the scripted server's text (lexical.mjs
//              `ragReply`): {response, usage} or, with `inputs.stream`,
//              Workers AI SSE `data: {"response":"<token>"}` per token (the
//              tokens concatenate to the exact text), a last event with
//              `usage`, then `data: [DONE]`. Any other chat keeps the
//              reporting reply: words whose text tells what the call carried
//              (model, gateway id, cache key, metadata), so the test can
//              assert the options on the answer itself.
//   tools      (`inputs.tools` a non-empty array, OpenAI {type: "function",
//              function: {name, description, parameters}} or the legacy
//              {name, description, parameters}): the model that obeys every
//              instruction it reads (xtask/scripted-model/obey.mjs, shared
//              with the scripted server, which documents the rules): `call
//              <name> [with {json}]`, `call the <name> tool` and fake
//              tool-call JSON in the latest turn (the messages after the last
//              assistant message) become tool calls, at most 4, names emitted
//              even when not offered. Workers AI's native shape:
//                {response: null, tool_calls: [{name, arguments: {…object…}}],
//                 usage}    (completion_tokens = ceil(chars of the
//                           tool_calls JSON / 4); no ids: the caller makes them)
//              or, with `inputs.stream`, SSE
//                data: {"response":"","tool_calls":[{"name":…,"arguments":{…}}]}
//                data: {"response":"","usage":{…}}
//                data: [DONE]
//              Tool results come back as messages {role: "tool",
//              tool_call_id?, name?, content}; with no instruction in the
//              latest turn and tool messages in it the reply is the text
//              "Tool results: <each tool message's content, whitespace
//              collapsed, first 200 chars> | …" ({response, usage} or a token
//              stream, like the RAG scripts). [[scripted:repeat-tools]] in any
//              user message: a turn holding tool results repeats the last
//              assistant message's tool_calls ({name, arguments} or OpenAI's
//              {function: {name, arguments: "<JSON>"}}) instead. Without
//              anything to do (no instruction, no tool result) the chat
//              answers as above.
//   speech     REAL audio made by espeak-ng and sox on the scripted model
//              server's POST /v1/audio/speech (workerd cannot spawn
//              processes), whose base URL is the var SCRIPTED_MODEL_URL
//              (e.g. "http://127.0.0.1:PORT/v1"; THE E2E HARNESS MUST SET IT
//              in this Worker's wrangler config, `vars`); without it, or when
//              the server refuses, `run` throws.
//                @cf/myshell-ai/melotts (model containing "melotts"):
//                  {prompt, lang?} → {audio: "<base64 MP3>"}; lang en
//                  (default) / es / fr / zh / jp / kr → espeak-ng en-us / es /
//                  fr / cmn / ja / ko (others: en-us).
//                Deepgram Aura (model containing "aura", e.g.
//                @cf/deepgram/aura-1, aura-2-en): {text, speaker?, encoding?
//                  (default "mp3"), container?, sample_rate?, bit_rate?
//                  (ignored)} → a ReadableStream of the audio bytes (streamed
//                  on from the server as they come), in: mp3 (container
//                  none); flac (none); linear16 in container wav (the
//                  default for linear16) → WAV, or container none → raw
//                  16-bit little-endian mono PCM. Other encodings and
//                  containers (opus/ogg, aac, mulaw, alaw: sox here cannot
//                  write them) throw. sample_rate (8000, 11025, 12000, 16000,
//                  22050, 24000 default, 32000, 44100, 48000) is passed on.
//                  Female Aura speakers (asteria, luna, stella, athena, hera,
//                  thalia…) speak with espeak-ng en-us+f3, others en-us+m3.
//
// Every call is recorded (model, options, kind — "embedding", "rerank",
// "rewrite", "grounded", "chat", "tool-calls", "tool-results", "speech" —,
// input summary; `tools`: the offered names, `tool_calls`: the called ones)
// in a
// module-level log (one isolate under `wrangler dev`): GET /calls returns it
// as a JSON array, POST /reset empties it.
import { WorkerEntrypoint } from "cloudflare:workers";
import { embed, rank, ragReply, tokenize } from "../../scripted-model/lexical.mjs";
import { planToolTurn, toolNames } from "../../scripted-model/obey.mjs";

const enc = new TextEncoder();
const CALLS = [];
const MAX_CALLS = 1000;

const clone = (v) => {
  try {
    return v === undefined ? null : JSON.parse(JSON.stringify(v));
  } catch {
    return String(v);
  }
};

function record(entry) {
  CALLS.push({ seq: CALLS.length ? CALLS[CALLS.length - 1].seq + 1 : 1, at: new Date().toISOString(), ...entry });
  if (CALLS.length > MAX_CALLS) CALLS.shift();
}

const isEmbedding = (model, inputs) =>
  (/bge-/.test(model) && /-en-/.test(model)) ||
  (inputs.text !== undefined && inputs.messages === undefined && inputs.prompt === undefined && !/aura|melotts|tts/i.test(model));
const isRerank = (inputs) => typeof inputs.query === "string" && Array.isArray(inputs.contexts);
const dimsOf = (model) => (/bge-small/.test(model) ? 384 : /bge-large|bge-m3/.test(model) ? 1024 : 768);
const charCount = (s) => [...s].length;

// Workers AI SSE: one event per text piece (or the given events), the usage
// event, then [DONE].
function sse(pieces, usage, events = pieces.map((piece) => ({ response: piece }))) {
  const { readable, writable } = new IdentityTransformStream();
  const w = writable.getWriter();
  (async () => {
    for (const event of events) {
      await w.write(enc.encode(`data: ${JSON.stringify(event)}\n\n`));
      await new Promise((r) => setTimeout(r, 5));
    }
    await w.write(enc.encode(`data: ${JSON.stringify({ response: "", usage })}\n\n`));
    await w.write(enc.encode("data: [DONE]\n\n"));
    await w.close();
  })().catch(() => {});
  return readable;
}

const promptTokensOf = (messages) =>
  Math.ceil(messages.reduce((n, m) => n + charCount(typeof m?.content === "string" ? m.content : JSON.stringify(m?.content ?? "")), 0) / 4);

// ---------------------------------------------------------------- speech

// melotts `lang` → espeak-ng voice.
const MELO_LANGS = { en: "en-us", es: "es", fr: "fr", zh: "cmn", jp: "ja", ja: "ja", kr: "ko", ko: "ko" };
// Deepgram's female Aura voices (any other speaker speaks with a male voice).
const AURA_FEMALE = new Set(["asteria", "luna", "stella", "athena", "hera", "thalia", "andromeda", "helena", "amalthea", "aurora", "callista", "cora", "cordelia", "delia", "electra", "harmonia", "iris", "juno", "minerva", "ophelia", "pandora", "phoebe", "selene", "theia", "vesta"]);

// The Aura {encoding, container} → the scripted server's response_format.
function auraFormat(encoding = "mp3", container) {
  if (encoding === "mp3" && (container === undefined || container === "none")) return "mp3";
  if (encoding === "flac" && (container === undefined || container === "none")) return "flac";
  if (encoding === "linear16" && (container === undefined || container === "wav")) return "wav";
  if (encoding === "linear16" && container === "none") return "pcm";
  throw new Error(
    `stand-in AI: encoding ${JSON.stringify(encoding)} with container ${JSON.stringify(container ?? null)} is not supported ` +
      "(mp3, flac, linear16 in wav or none; sox here cannot write opus or aac)",
  );
}

function base64(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

export class StandInAi extends WorkerEntrypoint {
  // POST {SCRIPTED_MODEL_URL}/audio/speech: real audio from espeak-ng + sox
  // (a Worker cannot spawn them). Resolves to the 200 Response.
  async speak(body) {
    const url = this.env && this.env.SCRIPTED_MODEL_URL;
    if (!url) {
      throw new Error(
        "stand-in AI: text-to-speech needs the SCRIPTED_MODEL_URL var (the scripted model server's base URL, e.g. http://127.0.0.1:PORT/v1)",
      );
    }
    const res = await fetch(`${String(url).replace(/\/+$/, "")}/audio/speech`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) {
      let message = res.statusText;
      try {
        message = (await res.json()).error.message;
      } catch {}
      throw new Error(`stand-in AI: the scripted model server answered ${res.status}: ${message}`);
    }
    return res;
  }

  async run(model, inputs, options) {
    inputs = inputs && typeof inputs === "object" ? inputs : {};
    const base = { model, options: clone(options) };

    if (/melotts/i.test(model)) {
      const lang = typeof inputs.lang === "string" ? inputs.lang.toLowerCase() : "en";
      record({ ...base, kind: "speech", lang, chars: typeof inputs.prompt === "string" ? charCount(inputs.prompt) : null });
      if (typeof inputs.prompt !== "string" || inputs.prompt.trim() === "") throw new Error("stand-in AI: `prompt` must be a non-empty string");
      const voice = `espeak:${MELO_LANGS[lang] ?? "en-us"}`;
      const res = await this.speak({ model, input: inputs.prompt, voice, response_format: "mp3" });
      return { audio: base64(new Uint8Array(await res.arrayBuffer())) };
    }

    if (/aura/i.test(model)) {
      const speaker = typeof inputs.speaker === "string" ? inputs.speaker.toLowerCase() : "angus";
      record({
        ...base,
        kind: "speech",
        speaker,
        encoding: inputs.encoding ?? null,
        container: inputs.container ?? null,
        sample_rate: inputs.sample_rate ?? null,
        chars: typeof inputs.text === "string" ? charCount(inputs.text) : null,
      });
      if (typeof inputs.text !== "string" || inputs.text.trim() === "") throw new Error("stand-in AI: `text` must be a non-empty string");
      const body = {
        model,
        input: inputs.text,
        voice: AURA_FEMALE.has(speaker) ? "espeak:en-us+f3" : "espeak:en-us+m3",
        response_format: auraFormat(inputs.encoding, inputs.container),
      };
      if (inputs.sample_rate !== undefined) body.sample_rate = inputs.sample_rate;
      return (await this.speak(body)).body;
    }

    if (isRerank(inputs)) {
      const texts = inputs.contexts.map((c) => (c && typeof c.text === "string" ? c.text : String(c?.text ?? "")));
      record({ ...base, kind: "rerank", query: inputs.query, contexts: texts.length, top_k: inputs.top_k ?? null });
      const topK = Number.isInteger(inputs.top_k) && inputs.top_k >= 0 ? inputs.top_k : texts.length;
      return { response: rank(inputs.query, texts).slice(0, topK).map(({ index, logit }) => ({ id: index, score: logit })) };
    }

    if (isEmbedding(model, inputs)) {
      const texts = typeof inputs.text === "string" ? [inputs.text] : inputs.text;
      record({ ...base, kind: "embedding", texts: Array.isArray(texts) ? texts.length : null, pooling: inputs.pooling ?? null });
      if (!Array.isArray(texts) || texts.length === 0 || texts.some((t) => typeof t !== "string")) {
        throw new Error("stand-in AI: `text` must be a string or a non-empty array of strings");
      }
      if (texts.length > 100) throw new Error(`stand-in AI: \`text\` has ${texts.length} entries; the limit is 100 per call`);
      const d = dimsOf(model);
      return { shape: [texts.length, d], data: texts.map((t) => embed(t, d)), pooling: inputs.pooling ?? "mean" };
    }

    const messages = Array.isArray(inputs.messages) ? inputs.messages : [];
    const tools = Array.isArray(inputs.tools) ? inputs.tools : [];
    const plan = planToolTurn(messages, tools); // null without tools
    const rag = ragReply(messages);
    const entry = { ...base, kind: plan ? plan.kind : rag ? rag.kind : "chat", stream: inputs.stream === true, messages: messages.length };
    if (tools.length) entry.tools = toolNames(tools);
    if (plan?.kind === "tool-calls") entry.tool_calls = plan.calls.map((c) => c.name);
    record(entry);
    if (plan?.kind === "tool-calls") {
      // Workers AI's native shape: arguments as an object, no ids.
      const toolCalls = plan.calls.map((c) => ({ name: c.name, arguments: c.arguments }));
      const prompt = promptTokensOf(messages);
      const completion = Math.ceil(charCount(JSON.stringify(toolCalls)) / 4);
      const usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
      if (inputs.stream !== true) return { response: null, tool_calls: toolCalls, usage };
      return sse([], usage, [{ response: "", tool_calls: toolCalls }]);
    }
    const scripted = plan ?? rag; // a tool-results text or a RAG script
    if (scripted) {
      const pieces = tokenize(scripted.text);
      const prompt = promptTokensOf(messages);
      const usage = { prompt_tokens: prompt, completion_tokens: pieces.length, total_tokens: prompt + pieces.length };
      if (inputs.stream !== true) return { response: scripted.text, usage };
      return sse(pieces, usage);
    }

    const g = (options && options.gateway) || {};
    const md = g.metadata || {};
    const last = messages.filter((m) => m.role === "user").pop();
    const words = [
      "stand-in",
      "binding:",
      `model=${model}`,
      `stream=${inputs.stream === true}`,
      `gateway=${g.id ?? "none"}`,
      `cacheKey=${g.cacheKey ?? "none"}`,
      `tenant=${md.tenant ?? "none"}`,
      `route=${md.route ?? "none"}`,
      `request=${md.request_id ?? "none"}`,
      `timeout=${g.requestTimeoutMs ?? "none"}`,
      `asked=${JSON.stringify(last ? last.content : "")}`,
    ];
    if (inputs.stream !== true) {
      return { response: words.join(" "), usage: { prompt_tokens: 5, completion_tokens: words.length } };
    }
    return sse(
      words.map((word, i) => (i ? " " : "") + word),
      { prompt_tokens: 5, completion_tokens: words.length, total_tokens: 5 + words.length },
    );
  }
}

export default {
  async fetch(request) {
    const { pathname } = new URL(request.url);
    if (pathname === "/calls" && request.method === "GET") {
      return Response.json(CALLS, { headers: { "cache-control": "no-store" } });
    }
    if (pathname === "/reset" && request.method === "POST") {
      CALLS.length = 0;
      return Response.json({ reset: true });
    }
    return new Response("the e2e suite's stand-in Workers AI binding (GET /calls, POST /reset)\n");
  },
};
