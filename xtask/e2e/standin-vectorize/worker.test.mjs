// Tests of the stand-in Vectorize binding (test infrastructure). Run with
//   node --test xtask/e2e/standin-vectorize/
// The store (index.mjs) is imported directly; worker.mjs is loaded with
// `cloudflare:workers` resolved to a tiny stub, to check the RPC methods and
// the /calls and /reset routes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { registerHooks } from "node:module";
import { VectorStore, LIMITS, parseMetadataIndexes } from "./index.mjs";

const D = LIMITS.dimensions;

// A unit vector along axis i, or a mix of axes {i: weight}.
function vec(spec) {
  const v = new Array(D).fill(0);
  if (typeof spec === "number") v[spec] = 1;
  else for (const [i, w] of Object.entries(spec)) v[Number(i)] = w;
  return v;
}

function seeded() {
  const s = new VectorStore();
  s.upsert([
    { id: "a1", values: vec({ 0: 1 }), namespace: "acme", metadata: { doc: "a", year: 2023, lang: "en", tags: { kind: "guide" } } },
    { id: "a2", values: vec({ 0: 0.9, 1: 0.1 }), namespace: "acme", metadata: { doc: "b", year: 2024, lang: "de", draft: true } },
    { id: "a3", values: vec({ 0: 0.5, 1: 0.5 }), namespace: "acme", metadata: { doc: "c", year: 2025 } },
    { id: "g1", values: vec({ 0: 0.95, 1: 0.05 }), namespace: "globex", metadata: { doc: "g", year: 2024, lang: "en" } },
    { id: "n1", values: vec({ 1: 1 }) },
  ]);
  return s;
}

const ids = (r) => r.matches.map((m) => m.id);

test("upsert / insert return a mutation id; describe counts; ids are index-global", () => {
  const s = seeded();
  const d = s.describe();
  assert.equal(d.vectorCount, 5);
  assert.equal(d.dimensions, 768);
  assert.match(d.processedUpToMutation, /^[0-9a-f-]{36}$/);
  assert.equal(typeof d.processedUpToDatetime, "string");

  const m = s.insert([{ id: "a1", values: vec(5), namespace: "other", metadata: { doc: "new" } }, { id: "x", values: vec(5) }]);
  assert.deepEqual(Object.keys(m), ["mutationId"]);
  assert.notEqual(m.mutationId, d.processedUpToMutation);
  assert.equal(s.describe().vectorCount, 6);
  assert.equal(s.getByIds(["a1"])[0].metadata.doc, "a", "insert keeps an existing id");

  s.upsert([{ id: "a1", values: vec(5), namespace: "other" }]);
  const [a1] = s.getByIds(["a1"]);
  assert.equal(a1.namespace, "other", "upsert moves the id: one namespace per id");
  assert.equal(a1.metadata, undefined, "upsert replaces in full, no metadata merge");
  assert.equal(s.describe().vectorCount, 6);
  assert.equal(s.query(vec(0), { namespace: "acme" }).matches.some((x) => x.id === "a1"), false);
});

test("query: exact cosine, namespace first, no namespace searches everything, topK, values and metadata", () => {
  const s = seeded();
  const all = s.query(vec(0));
  assert.deepEqual(ids(all), ["a1", "g1", "a2", "a3", "n1"]);
  assert.equal(all.count, 5);
  assert.ok(Math.abs(all.matches[0].score - 1) < 1e-6);
  const expected = 0.9 / Math.hypot(0.9, 0.1);
  assert.ok(Math.abs(all.matches[2].score - expected) < 1e-6, `${all.matches[2].score} ≈ ${expected}`);
  assert.equal(all.matches[4].score, 0);
  assert.equal(all.matches[0].namespace, "acme");
  assert.ok(!("namespace" in all.matches[4]), "no namespace on a vector without one");
  assert.ok(!("values" in all.matches[0]) && !("metadata" in all.matches[0]), "returnValues false, returnMetadata none by default");

  const acme = s.query(vec(0), { namespace: "acme", topK: 2 });
  assert.deepEqual(ids(acme), ["a1", "a2"]);
  assert.deepEqual(ids(s.query(vec(0), { namespace: "nobody" })), []);
  assert.deepEqual(ids(s.query(vec(0), { topK: 1 })), ["a1"]);

  const full = s.query(vec(0), { namespace: "acme", topK: 1, returnValues: true, returnMetadata: "all" });
  assert.equal(full.matches[0].values.length, D);
  assert.equal(full.matches[0].values[0], 1);
  assert.deepEqual(full.matches[0].metadata, { doc: "a", year: 2023, lang: "en", tags: { kind: "guide" } });
  const indexed = s.query(vec(0), { namespace: "acme", topK: 1, returnMetadata: "indexed" });
  assert.deepEqual(indexed.matches[0].metadata, { doc: "a", year: 2023, lang: "en" }, "indexed: top-level scalars only");
  assert.deepEqual(s.query(vec(0), { topK: 1, returnMetadata: true }).matches[0].metadata.doc, "a", "true means all (V1 form)");
  assert.ok(!("metadata" in s.query(vec(0), { topK: 1, returnMetadata: false }).matches[0]));

  // Float32 storage, like the service: values come back as float32 approximations.
  s.upsert([{ id: "f", values: vec({ 3: 0.1 }) }]);
  assert.equal(s.getByIds(["f"])[0].values[3], Math.fround(0.1));
  // Typed arrays are accepted as values and as the query vector.
  s.upsert([{ id: "t", values: Float32Array.from(vec(4)) }]);
  assert.equal(ids(s.query(Float64Array.from(vec(4)), { topK: 1 }))[0], "t");
});

test("metadata filters: implicit $eq, $eq $ne $in $nin $lt $lte $gt $gte, nesting, AND, after the namespace", () => {
  const s = seeded();
  const q = (filter, namespace) => ids(s.query(vec(0), { topK: 100, filter, namespace })).sort();
  assert.deepEqual(q({ lang: "en" }), ["a1", "g1"]);
  assert.deepEqual(q({ lang: "en" }, "acme"), ["a1"], "namespace applied first");
  assert.deepEqual(q({ lang: { $eq: "de" } }), ["a2"]);
  assert.deepEqual(q({ lang: { $ne: "en" } }), ["a2", "a3", "n1"], "$ne passes vectors without the property");
  assert.deepEqual(q({ doc: { $in: ["a", "c", "zz"] } }), ["a1", "a3"]);
  assert.deepEqual(q({ doc: { $nin: ["a", "c"] } }), ["a2", "g1", "n1"]);
  assert.deepEqual(q({ year: { $gte: 2024 } }), ["a2", "a3", "g1"]);
  assert.deepEqual(q({ year: { $gt: 2023, $lt: 2025 } }), ["a2", "g1"]);
  assert.deepEqual(q({ year: { $lte: 2024 }, lang: "en" }), ["a1", "g1"], "keys AND together");
  assert.deepEqual(q({ doc: { $gte: "b", $lt: "d" } }), ["a3", "a2"].sort(), "strings compare lexicographically");
  assert.deepEqual(q({ year: { $gte: "2024" } }), [], "a range operand of another type never matches");
  assert.deepEqual(q({ draft: true }), ["a2"]);
  assert.deepEqual(q({ "tags.kind": "guide" }), ["a1"], "dots read nested metadata");
  assert.deepEqual(q({ missing: null }), []);
  assert.equal(s.query(vec(1), { topK: 1, filter: { lang: "en" } }).matches[0].id, "g1", "topK from the filtered set");
});

test("metadata indexes: only indexed properties filter; strings on their first 64 bytes", () => {
  const s = new VectorStore({ metadataIndexes: parseMetadataIndexes("tenant:string, year:number") });
  const long = "t".repeat(64);
  s.upsert([
    { id: "1", values: vec(0), metadata: { tenant: long + "-one", year: 2024, lang: "en", body: "x".repeat(100) } },
    { id: "2", values: vec(1), metadata: { tenant: "acme", year: "2024" } },
  ]);
  const q = (filter) => ids(s.query(vec(0), { topK: 10, filter })).sort();
  assert.deepEqual(q({ lang: "en" }), [], "no metadata index for lang: nothing matches");
  assert.deepEqual(q({ tenant: long }), ["1"], "strings are compared on their first 64 bytes");
  assert.deepEqual(q({ year: 2024 }), ["1"], "a value of another type than the index is not indexed");
  const m = s.query(vec(0), { topK: 1, returnMetadata: "indexed" }).matches[0].metadata;
  assert.deepEqual(m, { tenant: long, year: 2024 });
  assert.throws(() => parseMetadataIndexes("a:date"), /string, number or boolean/);
  assert.throws(() => parseMetadataIndexes(Array.from({ length: 11 }, (_, i) => `p${i}`).join(",")), /limit is 10/);
});

test("limits and bad calls throw errors that name the limit", () => {
  const s = seeded();
  assert.throws(() => s.upsert([{ id: "x".repeat(65), values: vec(0) }]), /65 bytes; the id limit is 64 bytes/);
  assert.throws(() => s.upsert([{ id: "é".repeat(33), values: vec(0) }]), /66 bytes; the id limit is 64 bytes/, "bytes, not characters");
  s.upsert([{ id: "x".repeat(64), values: vec(0) }]);
  assert.throws(() => s.upsert([{ id: "v", values: [1, 2, 3] }]), /3 dimensions; the index has 768/);
  assert.throws(() => s.upsert([{ id: "v", values: vec({ 0: NaN }) }]), /not a finite number/);
  assert.throws(() => s.upsert([{ id: "m", values: vec(0), metadata: { text: "x".repeat(10 * 1024) } }]), /metadata limit is 10 KiB \(10240 bytes\)/);
  s.upsert([{ id: "m", values: vec(0), metadata: { t: "x".repeat(10240 - 8) } }]);
  assert.throws(() => s.upsert([{ id: "n", values: vec(0), namespace: "n".repeat(65) }]), /namespace limit is 64 bytes/);
  assert.throws(() => s.upsert(Array.from({ length: 1001 }, (_, i) => ({ id: `b${i}`, values: vec(0) }))), /limit is 1000 vectors/);
  assert.throws(() => s.upsert([]), /non-empty array/);
  const before = s.describe().vectorCount;
  assert.throws(() => s.upsert([{ id: "ok", values: vec(0) }, { id: "", values: vec(0) }]), /id must be a non-empty string/);
  assert.equal(s.describe().vectorCount, before, "a rejected batch writes nothing");

  assert.throws(() => s.query(vec(0), { topK: 101 }), /topK is 101; the limit is 100/);
  s.query(vec(0), { topK: 100 });
  assert.throws(() => s.query(vec(0), { topK: 21, returnValues: true }), /the limit is 20 when returnValues is true or returnMetadata is "all"/);
  assert.throws(() => s.query(vec(0), { topK: 21, returnMetadata: "all" }), /limit is 20/);
  s.query(vec(0), { topK: 100, returnMetadata: "indexed" });
  s.query(vec(0), { topK: 20, returnValues: true, returnMetadata: "all" });
  assert.throws(() => s.query(vec(0), { topK: 0 }), /topK must be an integer/);
  assert.throws(() => s.query(vec(0), { returnMetadata: "some" }), /returnMetadata must be/);
  assert.throws(() => s.query([1], {}), /1 dimensions; the index has 768/);
  assert.throws(() => s.query(vec(0), { filter: {} }), /non-empty object/);
  assert.throws(() => s.query(vec(0), { filter: { k: { $regex: "a" } } }), /unsupported operator "\$regex"/);
  assert.throws(() => s.query(vec(0), { filter: { k: { $eq: 1, $ne: 2 } } }), /cannot be combined/);
  assert.throws(() => s.query(vec(0), { filter: { k: { $gt: 1, $gte: 2 } } }), /cannot be combined/);
  assert.throws(() => s.query(vec(0), { filter: { k: { $lt: true } } }), /string or a number/);
  assert.throws(() => s.query(vec(0), { filter: { k: { $in: "a" } } }), /array/);
  assert.throws(() => s.query(vec(0), { filter: { $k: 1 } }), /filter key "\$k" is invalid/);
  assert.throws(() => s.query(vec(0), { filter: { "a..b": 1 } }), /is invalid/);
  assert.throws(() => s.query(vec(0), { filter: { k: "x".repeat(2048) } }), /less than 2048 bytes/);
});

test("getByIds, deleteByIds, queryById", () => {
  const s = seeded();
  const got = s.getByIds(["g1", "nope", "a1", "g1"]);
  assert.deepEqual(got.map((v) => v.id), ["g1", "a1"]);
  assert.equal(got[0].namespace, "globex");
  assert.deepEqual(got[0].metadata, { doc: "g", year: 2024, lang: "en" });
  assert.equal(got[0].values.length, D);
  assert.ok(!("namespace" in s.getByIds(["n1"])[0]));

  assert.deepEqual(ids(s.queryById("a1", { namespace: "acme", topK: 2 })), ["a1", "a2"]);
  assert.throws(() => s.queryById("nope"), /no vector with id "nope"/);

  const del = s.deleteByIds(["a1", "g1", "nope"]);
  assert.match(del.mutationId, /^[0-9a-f-]{36}$/);
  assert.equal(s.describe().processedUpToMutation, del.mutationId);
  assert.equal(s.describe().vectorCount, 3);
  assert.deepEqual(s.getByIds(["a1", "g1"]), []);
  assert.throws(() => s.deleteByIds("a2"), /array of strings/);
});

test("every call is logged with its method, namespaces and id counts", () => {
  const s = new VectorStore();
  s.upsert([
    { id: "1", values: vec(0), namespace: "b" },
    { id: "2", values: vec(0), namespace: "a" },
    { id: "3", values: vec(0) },
  ]);
  s.query(vec(0), { namespace: "a", topK: 3, filter: { x: 1 } });
  s.query(vec(0));
  assert.throws(() => s.query(vec(0), { topK: 500 }));
  s.getByIds(["1", "2"]);
  s.deleteByIds(["3"]);
  s.describe();
  const log = s.calls.map(({ seq, method, namespace, namespaces, ids, topK, filter, error }) => ({ seq, method, namespace, namespaces, ids, topK, filter, error }));
  assert.deepEqual(log, [
    { seq: 1, method: "upsert", namespace: undefined, namespaces: [null, "a", "b"], ids: 3, topK: undefined, filter: undefined, error: undefined },
    { seq: 2, method: "query", namespace: "a", namespaces: undefined, ids: 0, topK: 3, filter: { x: 1 }, error: undefined },
    { seq: 3, method: "query", namespace: null, namespaces: undefined, ids: 3, topK: 5, filter: null, error: undefined },
    { seq: 4, method: "query", namespace: null, namespaces: undefined, ids: 0, topK: 500, filter: null, error: "Vectorize stand-in: topK is 500; the limit is 100" },
    { seq: 5, method: "getByIds", namespace: null, namespaces: undefined, ids: 2, topK: undefined, filter: undefined, error: undefined },
    { seq: 6, method: "deleteByIds", namespace: null, namespaces: undefined, ids: 1, topK: undefined, filter: undefined, error: undefined },
    { seq: 7, method: "describe", namespace: null, namespaces: undefined, ids: 0, topK: undefined, filter: undefined, error: undefined },
  ]);
  s.reset();
  assert.equal(s.calls.length, 0);
  assert.equal(s.describe().vectorCount, 0);
});

test("worker.mjs: the RPC entrypoint shares one module-scope store; GET /calls, POST /reset", async () => {
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
  const { StandInVectorize, default: handler } = await import("./worker.mjs");
  const env = { VECTORIZE_METADATA_INDEXES: "tenant:string" };
  const one = new StandInVectorize({}, env);
  const two = new StandInVectorize({}, env);
  assert.match((await one.upsert([{ id: "v", values: vec(0), namespace: "acme", metadata: { tenant: "acme", lang: "en" } }])).mutationId, /^[0-9a-f-]{36}$/);
  const r = await two.query(vec(0), { namespace: "acme", filter: { tenant: "acme" }, returnMetadata: "indexed" });
  assert.deepEqual(r, { count: 1, matches: [{ id: "v", score: 1, metadata: { tenant: "acme" }, namespace: "acme" }] });
  assert.equal((await two.query(vec(0), { filter: { lang: "en" } })).count, 0, "lang has no metadata index (the env var declares tenant only)");
  assert.equal((await two.describe()).vectorCount, 1);
  await assert.rejects(two.upsert([{ id: "w", values: [1] }]), /the index has 768/);

  const calls = await (await handler.fetch(new Request("http://standin/calls"), env)).json();
  assert.deepEqual(calls.map((c) => c.method), ["upsert", "query", "query", "describe", "upsert"]);
  assert.deepEqual(calls[0].namespaces, ["acme"]);
  assert.equal(calls[1].namespace, "acme");
  assert.match(calls[4].error, /768/);
  assert.equal((await (await handler.fetch(new Request("http://standin/describe"), env)).json()).vectorCount, 1);
  assert.deepEqual(await (await handler.fetch(new Request("http://standin/reset", { method: "POST" }), env)).json(), { reset: true });
  assert.deepEqual(await (await handler.fetch(new Request("http://standin/calls"), env)).json(), []);
  assert.equal((await one.describe()).vectorCount, 0);
});
