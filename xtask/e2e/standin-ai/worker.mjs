// A stand-in for the Workers AI binding, for the end-to-end suite only:
// a Worker whose RPC entrypoint has the binding's `run(model, inputs,
// options)` signature. The Worker under test gets it as its `AI` binding
// (a service binding in place of the `ai` binding, which has no local
// emulation) and calls it exactly as it calls `env.AI.run`. With
// `inputs.stream` it streams Workers AI's server-sent events —
// `data: {"response":"…"}` lines, a last line with `usage`, `[DONE]` —
// whose text reports what the call carried (model, gateway id, cache key,
// metadata), so the test can assert the options on the answer itself.
import { WorkerEntrypoint } from "cloudflare:workers";

const enc = new TextEncoder();

export class StandInAi extends WorkerEntrypoint {
  async run(model, inputs, options) {
    const g = (options && options.gateway) || {};
    const md = g.metadata || {};
    const last = (inputs.messages || []).filter((m) => m.role === "user").pop();
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
    const { readable, writable } = new IdentityTransformStream();
    const w = writable.getWriter();
    (async () => {
      for (const [i, word] of words.entries()) {
        await w.write(enc.encode(`data: ${JSON.stringify({ response: (i ? " " : "") + word })}\n\n`));
        await new Promise((r) => setTimeout(r, 5));
      }
      await w.write(enc.encode(`data: ${JSON.stringify({ response: "", usage: { prompt_tokens: 5, completion_tokens: words.length, total_tokens: 5 + words.length } })}\n\n`));
      await w.write(enc.encode("data: [DONE]\n\n"));
      await w.close();
    })().catch(() => {});
    return readable;
  }
}

export default {
  async fetch() {
    return new Response("the e2e suite's stand-in Workers AI binding\n");
  },
};
