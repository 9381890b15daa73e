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
//
// Every call is recorded (model, options, kind, input summary) in a
// module-level log (one isolate under `wrangler dev`): GET /calls returns it
// as a JSON array, POST /reset empties it.
import { WorkerEntrypoint } from "cloudflare:workers";
import { embed, rank, ragReply, tokenize } from "../../scripted-model/lexical.mjs";

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

function sse(pieces, usage) {
  const { readable, writable } = new IdentityTransformStream();
  const w = writable.getWriter();
  (async () => {
    for (const piece of pieces) {
      await w.write(enc.encode(`data: ${JSON.stringify({ response: piece })}\n\n`));
      await new Promise((r) => setTimeout(r, 5));
    }
    await w.write(enc.encode(`data: ${JSON.stringify({ response: "", usage })}\n\n`));
    await w.write(enc.encode("data: [DONE]\n\n"));
    await w.close();
  })().catch(() => {});
  return readable;
}

export class StandInAi extends WorkerEntrypoint {
  async run(model, inputs, options) {
    inputs = inputs && typeof inputs === "object" ? inputs : {};
    const base = { model, options: clone(options) };

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
    const rag = ragReply(messages);
    record({ ...base, kind: rag ? rag.kind : "chat", stream: inputs.stream === true, messages: messages.length });
    if (rag) {
      const pieces = tokenize(rag.text);
      const promptChars = messages.reduce((n, m) => n + charCount(typeof m?.content === "string" ? m.content : JSON.stringify(m?.content ?? "")), 0);
      const prompt = Math.ceil(promptChars / 4);
      const usage = { prompt_tokens: prompt, completion_tokens: pieces.length, total_tokens: prompt + pieces.length };
      if (inputs.stream !== true) return { response: rag.text, usage };
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
