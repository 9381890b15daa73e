// The Worker's entry module. `cargo xtask build-worker` writes it over
// worker-build's `build/index.js`, whose bundle it renames `worker.js`
// (xtask/src/toolchain.rs, `install_entry`).
//
// worker-build's default export is a Proxy around a `WorkerEntrypoint`
// class: workerd constructs it for every request, and every handler read
// through it is wrapped in a new Proxy. On `/health` that was about a
// tenth of the Worker's CPU per request (docs/benchmarks.md). This module
// exports a plain handler object instead and keeps what the Proxy is for,
// recovering from a WebAssembly trap (a Rust panic, `panic = "abort"`):
//
// - a trap in a handler (thrown, or rejecting its promise) marks the
//   instance broken in worker-build's shared `__worker_init_state`;
// - the next request constructs worker-build's entry class once, whose
//   Proxy resets the instance (`__wbg_reset_state`: a fresh WebAssembly
//   instance) when the state says it is broken, and only then calls Rust.
//
// The Durable Object classes are worker-build's own (re-exported below),
// with its Proxy and the same reset.
import Entrypoint from "./worker.js";
export * from "./worker.js";

const state = globalThis.__worker_init_state;
const rustFetch = Entrypoint && Entrypoint.prototype && Entrypoint.prototype.fetch;
const rustQueue = Entrypoint && Entrypoint.prototype && Entrypoint.prototype.queue;
if (state === undefined || typeof rustFetch !== "function" || typeof rustQueue !== "function") {
  throw new Error("worker.js is not worker-build's bundle (no __worker_init_state, fetch or queue): rebuild with `cargo xtask build-worker`");
}

function resetIfBroken(env, ctx) {
  if (state.criticalError) new Entrypoint(ctx, env);
}

function flag(e) {
  if (e instanceof WebAssembly.RuntimeError) {
    console.error("Critical", e);
    state.criticalError = true;
  }
  throw e;
}

export default {
  fetch(request, env, ctx) {
    resetIfBroken(env, ctx);
    try {
      const r = rustFetch.call({ env, ctx }, request);
      return r instanceof Promise ? r.catch(flag) : r;
    } catch (e) {
      return flag(e);
    }
  },
  queue(batch, env, ctx) {
    resetIfBroken(env, ctx);
    try {
      return Promise.resolve(rustQueue.call({ env, ctx }, batch)).catch(flag);
    } catch (e) {
      return flag(e);
    }
  },
};
