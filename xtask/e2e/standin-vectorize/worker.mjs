// A stand-in for a Vectorize (V2) index binding, for the end-to-end suite only
// (TEST INFRASTRUCTURE: an exact in-memory index, not Vectorize). The Worker
// under test gets it as its Vectorize binding (a service binding with
// `entrypoint: "StandInVectorize"` in place of the `vectorize` binding) and
// calls it exactly as it calls the real one: upsert, insert, query,
// queryById, getByIds, deleteByIds, describe. The logic, limits and filter
// semantics are in index.mjs (importable by `node --test`, which cannot load
// `cloudflare:workers`); its header documents them.
//
// State lives in module scope: one isolate under `wrangler dev`, so every
// call of the run sees the same index (every binding pointing here shares
// it). Optional var VECTORIZE_METADATA_INDEXES ("tenant:string,year:number")
// declares metadata indexes; without it every property is filterable.
//
// The default export's fetch, for the test harness:
//   GET  /calls     the call log, a JSON array ({seq, method, namespace,
//                   namespaces, ids, topK, returnValues, returnMetadata,
//                   filter, error?}; index.mjs)
//   GET  /describe  describe() without logging a call
//   POST /reset     empties the index and the log
import { WorkerEntrypoint } from "cloudflare:workers";
import { VectorStore, parseMetadataIndexes } from "./index.mjs";

const store = new VectorStore();
let configured = false;

function configure(env) {
  if (configured) return;
  configured = true;
  store.metadataIndexes = parseMetadataIndexes(env?.VECTORIZE_METADATA_INDEXES);
}

// Each call is also written to the console as one line
// `standin-vectorize-call {"method", "namespace"?, "namespaces"?, "ids"?}`
// (ids and namespaces in full), so the e2e suite can read from the
// wrangler dev log that every call carried the tenant's namespace.
function trace(method, detail) {
  console.log("standin-vectorize-call " + JSON.stringify({ method, ...detail }));
}

export class StandInVectorize extends WorkerEntrypoint {
  constructor(ctx, env) {
    super(ctx, env);
    configure(env);
  }
  async upsert(vectors) {
    trace("upsert", { namespaces: (vectors || []).map((v) => v.namespace ?? null), ids: (vectors || []).map((v) => v.id) });
    return store.upsert(vectors);
  }
  async insert(vectors) {
    trace("insert", { namespaces: (vectors || []).map((v) => v.namespace ?? null), ids: (vectors || []).map((v) => v.id) });
    return store.insert(vectors);
  }
  async query(vector, options) {
    trace("query", { namespace: options?.namespace ?? null, topK: options?.topK, filter: options?.filter ?? null });
    return store.query(vector, options);
  }
  async queryById(id, options) {
    trace("queryById", { namespace: options?.namespace ?? null, ids: [id] });
    return store.queryById(id, options);
  }
  async getByIds(ids) {
    trace("getByIds", { ids });
    return store.getByIds(ids);
  }
  async deleteByIds(ids) {
    trace("deleteByIds", { ids });
    return store.deleteByIds(ids);
  }
  async describe() {
    return store.describe();
  }
}

export default {
  async fetch(request, env) {
    configure(env);
    const { pathname } = new URL(request.url);
    const json = (body) => Response.json(body, { headers: { "cache-control": "no-store" } });
    if (pathname === "/calls" && request.method === "GET") return json(store.calls);
    if (pathname === "/describe" && request.method === "GET") {
      return json({ vectorCount: store.vectors.size, dimensions: store.dimensions, processedUpToDatetime: store.lastMutationAt, processedUpToMutation: store.lastMutation });
    }
    if (pathname === "/reset" && request.method === "POST") {
      store.reset();
      return json({ reset: true });
    }
    return new Response("the e2e suite's stand-in Vectorize binding (GET /calls, GET /describe, POST /reset)\n");
  },
};
