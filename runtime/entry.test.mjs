// Tests of runtime/entry.js (node --test, from `cargo xtask test`): the
// entry module over a stand-in for worker-build's bundle that behaves as
// the bundle does — `__worker_init_state`, an entry class whose Proxy
// resets the instance when constructed after a critical error, `fetch`
// and `queue` on its prototype, a Durable Object class.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ENTRY = readFileSync(join(dirname(fileURLToPath(import.meta.url)), "entry.js"), "utf8");

const BUNDLE = `
globalThis.__worker_init_state = { criticalError: false, instanceId: 0 };
export const calls = [];
export let resets = 0;
let mode = "ok";
export function setMode(m) { mode = m; }
class Entry { constructor(ctx, env) { this.ctx = ctx; this.env = env; } }
Entry.prototype.fetch = function (req) {
  calls.push({ req, env: this.env, ctx: this.ctx, instance: globalThis.__worker_init_state.instanceId });
  if (mode === "trap") throw new WebAssembly.RuntimeError("unreachable");
  if (mode === "async-trap") return Promise.reject(new WebAssembly.RuntimeError("unreachable"));
  if (mode === "error") throw new Error("not a trap");
  if (mode === "async") return Promise.resolve("later:" + req);
  return "response:" + req;
};
Entry.prototype.queue = function (batch) {
  calls.push({ batch });
  return mode === "trap" ? Promise.reject(new WebAssembly.RuntimeError("unreachable")) : Promise.resolve();
};
export default new Proxy(Entry, {
  construct(t, a, n) {
    const s = globalThis.__worker_init_state;
    if (s.criticalError) { resets++; s.criticalError = false; s.instanceId++; }
    return Reflect.construct(t, a, n);
  },
});
export class ChatSession {}
`;

function load(bundle) {
  const dir = mkdtempSync(join(tmpdir(), "entry-test-"));
  writeFileSync(join(dir, "package.json"), '{"type":"module"}');
  writeFileSync(join(dir, "worker.js"), bundle);
  writeFileSync(join(dir, "index.js"), ENTRY);
  return { dir, url: pathToFileURL(join(dir, "index.js")).href, bundle: pathToFileURL(join(dir, "worker.js")).href };
}

const quietly = async (f) => {
  const err = console.error;
  console.error = () => {};
  try {
    return await f();
  } finally {
    console.error = err;
  }
};

test("requests go straight to Rust; after a trap the next request resets the instance first", async (t) => {
  const { dir, url, bundle } = load(BUNDLE);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const entry = await import(url);
  const b = await import(bundle);
  const worker = entry.default;
  const env = { TENANT_ID: "acme" };
  const ctx = { waitUntil() {} };

  // A response made without I/O comes back as it is, not as a promise.
  assert.equal(worker.fetch("r1", env, ctx), "response:r1");
  assert.deepEqual(b.calls.at(-1), { req: "r1", env, ctx, instance: 0 });
  assert.equal(await worker.fetch.call(null, "r2", env, ctx), "response:r2");
  b.setMode("async");
  assert.equal(await worker.fetch("r3", env, ctx), "later:r3");

  // A trap: rethrown, and the instance is marked broken.
  b.setMode("trap");
  await quietly(() => assert.throws(() => worker.fetch("r4", env, ctx), WebAssembly.RuntimeError));
  assert.equal(globalThis.__worker_init_state.criticalError, true);
  assert.equal(b.resets, 0);

  // The next request resets once, then runs on the new instance.
  b.setMode("ok");
  assert.equal(worker.fetch("r5", env, ctx), "response:r5");
  assert.equal(b.resets, 1);
  assert.equal(b.calls.at(-1).instance, 1);
  assert.equal(worker.fetch("r6", env, ctx), "response:r6");
  assert.equal(b.resets, 1);

  // A trap in the asynchronous part: the promise rejects, the instance is marked.
  b.setMode("async-trap");
  await quietly(() => assert.rejects(worker.fetch("r7", env, ctx), WebAssembly.RuntimeError));
  assert.equal(globalThis.__worker_init_state.criticalError, true);
  b.setMode("ok");
  worker.fetch("r8", env, ctx);
  assert.equal(b.resets, 2);

  // An error that is not a trap leaves the instance alone.
  b.setMode("error");
  assert.throws(() => worker.fetch("r9", env, ctx), /not a trap/);
  assert.equal(globalThis.__worker_init_state.criticalError, false);

  // The queue consumer: same marking, same reset.
  b.setMode("trap");
  await quietly(() => assert.rejects(worker.queue({ messages: [] }, env, ctx), WebAssembly.RuntimeError));
  assert.equal(globalThis.__worker_init_state.criticalError, true);
  b.setMode("ok");
  await worker.queue({ messages: [1] }, env, ctx);
  assert.equal(b.resets, 3);
  assert.deepEqual(b.calls.at(-1), { batch: { messages: [1] } });

  // The Durable Object classes are the bundle's own.
  assert.equal(entry.ChatSession, b.ChatSession);
});

test("an entry over something that is not worker-build's bundle refuses to load", async (t) => {
  const { dir, url } = load("delete globalThis.__worker_init_state;\nexport default class {}\n");
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await assert.rejects(import(url), /not worker-build's bundle/);
});
