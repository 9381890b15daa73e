// Tests of the stand-in Workers AI binding (test infrastructure). Run with
//   node --test xtask/e2e/standin-ai/
// worker.mjs is loaded with `cloudflare:workers` resolved to a tiny stub and
// IdentityTransformStream played by a TransformStream.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { registerHooks } from "node:module";
import { embed, rerankScore, sigmoid } from "../../scripted-model/lexical.mjs";

let ai;
let handler;

before(async () => {
  registerHooks({
    resolve(specifier, context, next) {
      if (specifier === "cloudflare:workers") {
        return {
          url: "data:text/javascript,export class WorkerEntrypoint { constructor(ctx, env) { this.ctx = ctx; this.env = env; } }",
          shortCircuit: true,
        };
      }
      return next(specifier, context);
    },
  });
  globalThis.IdentityTransformStream ??= TransformStream;
  const mod = await import("./worker.mjs");
  ai = new mod.StandInAi({}, {});
  handler = mod.default;
});

// The `response` texts of a Workers AI SSE stream, and its last usage.
async function readSse(stream) {
  const text = await new Response(stream).text();
  const events = text.split("\n\n").filter(Boolean).map((e) => e.replace(/^data: /, ""));
  assert.equal(events.at(-1), "[DONE]");
  const parsed = events.slice(0, -1).map((e) => JSON.parse(e));
  return { pieces: parsed.map((e) => e.response), usage: parsed.at(-1).usage };
}

const calls = async () => (await handler.fetch(new Request("http://standin/calls"))).json();

test("embeddings: Workers AI's shape from the shared lexical embedder", async () => {
  await handler.fetch(new Request("http://standin/reset", { method: "POST" }));
  const r = await ai.run("@cf/baai/bge-base-en-v1.5", { text: ["reset a password", "billing"] }, { gateway: { id: "gw" } });
  assert.deepEqual(r.shape, [2, 768]);
  assert.equal(r.pooling, "mean");
  assert.deepEqual(r.data[0], embed("reset a password", 768));
  const one = await ai.run("@cf/baai/bge-small-en-v1.5", { text: "one", pooling: "cls" });
  assert.deepEqual(one.shape, [1, 384]);
  assert.equal(one.pooling, "cls");
  assert.deepEqual((await ai.run("some/other-embedder", { text: "x" })).shape, [1, 768], "a `text` field alone means an embedding");
  await assert.rejects(ai.run("@cf/baai/bge-base-en-v1.5", { text: Array(101).fill("x") }), /limit is 100/);
  const log = await calls();
  assert.deepEqual(log.map((c) => [c.model, c.kind]), [
    ["@cf/baai/bge-base-en-v1.5", "embedding"],
    ["@cf/baai/bge-small-en-v1.5", "embedding"],
    ["some/other-embedder", "embedding"],
    ["@cf/baai/bge-base-en-v1.5", "embedding"],
  ]);
  assert.deepEqual(log[0].options, { gateway: { id: "gw" } });
  assert.equal(log[0].texts, 2);
});

test("rerank: {response: [{id, score}]} with logits, sorted, top_k", async () => {
  const contexts = [{ text: "Billing is monthly." }, { text: "Reset your password in Settings: reset password." }, { text: "Passwords can be reset." }];
  const r = await ai.run("@cf/baai/bge-reranker-base", { query: "how to reset a password", contexts });
  assert.deepEqual(r.response.map((x) => x.id), [1, 2, 0]);
  for (const { id, score } of r.response) {
    assert.ok(Math.abs(sigmoid(score) - rerankScore("how to reset a password", contexts[id].text)) < 1e-12, "sigmoid(logit) = the scripted server's relevance_score");
  }
  assert.ok(r.response[2].score < 0, "a logit, not a probability");
  const top = await ai.run("@cf/baai/bge-reranker-base", { query: "how to reset a password", contexts, top_k: 1 });
  assert.deepEqual(top.response.map((x) => x.id), [1]);
  assert.equal((await calls()).at(-1).kind, "rerank");
});

test("chat: rewrite and grounded prompts answer the scripted text, streamed or not; other chats report the call", async () => {
  const rewrite = [{ role: "system", content: "You rewrite search queries." }, { role: "user", content: "Please tell me how to rotate keys?" }];
  const plain = await ai.run("@cf/meta/llama-3.1-8b-instruct", { messages: rewrite });
  assert.deepEqual(JSON.parse(plain.response), { rewritten: "how to rotate keys", intent: "how-to" });
  assert.equal(plain.usage.completion_tokens, 4, "one token per word");
  const streamed = await readSse(await ai.run("@cf/meta/llama-3.1-8b-instruct", { messages: rewrite, stream: true }));
  assert.equal(streamed.pieces.join(""), plain.response);
  assert.equal(streamed.usage.completion_tokens, 4);

  const grounded = [
    { role: "system", content: "Answer from the numbered sources; cite [N]." },
    { role: "user", content: '<source id="1" title="Keys">\nRotate keys yearly. Really.\n</source>\nQuestion: When should keys rotate?' },
  ];
  const want = "Rotate keys yearly. [1]\nFollow-up questions:\n- What else does Keys say about keys?";
  assert.equal((await ai.run("m", { messages: grounded })).response, want);
  const gs = await readSse(await ai.run("m", { messages: grounded, stream: true }));
  assert.equal(gs.pieces.join(""), want);
  assert.ok(gs.pieces.length > 5);

  const other = await ai.run("m", { messages: [{ role: "user", content: "hi" }], stream: true }, { gateway: { id: "acme-gw", cacheKey: "t/acme/x", metadata: { tenant: "acme" } } });
  const text = (await readSse(other)).pieces.join("");
  assert.match(text, /^stand-in binding: model=m stream=true gateway=acme-gw cacheKey=t\/acme\/x tenant=acme /);
  const log = await calls();
  assert.deepEqual(log.slice(-5).map((c) => [c.kind, c.stream]), [["rewrite", false], ["rewrite", true], ["grounded", false], ["grounded", true], ["chat", true]]);
  assert.deepEqual(log.at(-1).options.gateway.metadata, { tenant: "acme" });
});
