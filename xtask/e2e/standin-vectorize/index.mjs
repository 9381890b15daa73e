// The logic of the stand-in Vectorize binding (worker.mjs wraps it in an RPC
// WorkerEntrypoint): TEST INFRASTRUCTURE for the end-to-end suite, an exact
// in-memory vector index with the method shapes of a Vectorize V2 index
// binding. No Node or Workers API, so `node --test` imports it directly.
//
//   upsert(vectors) / insert(vectors)   vectors: [{id, values, namespace?,
//       metadata?}] → {mutationId}. upsert replaces a vector with the same id
//       in full (values, namespace and metadata; no merge); insert keeps the
//       existing vector and adds only new ids. Ids are index-global: a vector
//       belongs to one namespace at a time. The batch is validated as a whole
//       before anything is written. Mutations apply at once (the real
//       service applies them asynchronously, seconds later).
//   query(vector, {topK = 5, namespace, returnValues = false,
//       returnMetadata = "none", filter}) → {count, matches: [{id, score,
//       values?, metadata?, namespace?}]}: exact cosine similarity over the
//       vectors of `namespace` (every vector when it is absent), then the
//       metadata `filter`, sorted by score descending (ties by id), at most
//       topK. returnMetadata true / false mean "all" / "none" (the V1 form).
//       `namespace` appears on a match whose vector has one.
//   queryById(id, options)              query() with a stored vector's values.
//   getByIds(ids) → [{id, values, namespace?, metadata?}] in the order asked,
//       unknown ids skipped.
//   deleteByIds(ids) → {mutationId} (unknown ids ignored).
//   describe() → {vectorCount, dimensions, processedUpToDatetime,
//       processedUpToMutation} (the last two null before any mutation).
//
// Limits enforced (an Error whose message names the limit): dimensions (768
// by default) for stored and query vectors, finite values; id a non-empty
// string ≤ 64 bytes (UTF-8); namespace a non-empty string ≤ 64 bytes;
// metadata a JSON object ≤ 10 KiB (10240 bytes of compact JSON); ≤ 1000
// vectors per upsert / insert batch (the binding's limit); topK an integer
// 1..100, ≤ 20 with returnValues or returnMetadata "all"; filter a non-empty
// object whose compact JSON is < 2048 bytes, keys non-empty, ≤ 512 chars, not
// starting with '$', without '"' or empty '.' segments.
//
// Filters: {key: scalar} is {key: {$eq: scalar}}; several keys AND together;
// a dotted key reads nested metadata ({"a.b": 1} matches {a: {b: 1}}).
// Operators: $eq $ne (string, number, boolean or null), $in $nin (arrays of
// those), $lt $lte $gt $gte (string — ordered lexicographically — or number;
// an operand of another type never matches). One operator per key, or one
// lower bound ($gt / $gte) with one upper bound ($lt / $lte); anything else
// throws, as the service refuses it. A vector without the property fails
// $eq / $in / ranges and passes $ne / $nin.
//
// Metadata indexes: by default every property is filterable and every
// top-level string / number / boolean counts as indexed. With
// `metadataIndexes` ({name: "string" | "number" | "boolean"}) only those
// properties are, as in the service: a filter on another property (or a
// value of another type) matches nothing, strings are compared on their
// first 64 bytes, and returnMetadata "indexed" returns only them (strings cut
// at 64 bytes).
//
// Every call is logged in `calls` (see `log`): {seq, method, namespace (the
// query's argument, or null), namespaces (of the vectors written: distinct,
// sorted, null for none), ids (how many vectors / ids / matches), topK,
// returnValues, returnMetadata, filter, error?}.

export const LIMITS = Object.freeze({
  dimensions: 768,
  idBytes: 64,
  namespaceBytes: 64,
  metadataBytes: 10 * 1024,
  batch: 1000,
  topK: 100,
  topKWithValuesOrAllMetadata: 20,
  filterBytes: 2048,
  filterKeyChars: 512,
  indexedStringBytes: 64,
});

const utf8 = new TextEncoder();
const bytes = (s) => utf8.encode(s).length;
const fail = (message) => {
  throw new Error(`Vectorize stand-in: ${message}`);
};
const isScalar = (v) => v === null || typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));
const isPlainObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v) && !ArrayBuffer.isView(v);
const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

// The longest prefix of `s` within `max` UTF-8 bytes, on a character boundary.
function truncateBytes(s, max) {
  if (bytes(s) <= max) return s;
  let out = "";
  let n = 0;
  for (const ch of s) {
    const b = bytes(ch);
    if (n + b > max) break;
    out += ch;
    n += b;
  }
  return out;
}

const RANGE = new Set(["$lt", "$lte", "$gt", "$gte"]);
const OPS = new Set(["$eq", "$ne", "$in", "$nin", ...RANGE]);

export class VectorStore {
  constructor({ dimensions = LIMITS.dimensions, metadataIndexes = null } = {}) {
    this.dimensions = dimensions;
    this.metadataIndexes = metadataIndexes;
    this.calls = [];
    this.reset();
  }

  reset() {
    this.vectors = new Map();
    this.calls.length = 0;
    this.mutations = 0;
    this.lastMutation = null;
    this.lastMutationAt = null;
  }

  // ------------------------------------------------------------ bookkeeping

  log(method, entry, fn) {
    const call = { seq: (this.calls.at(-1)?.seq ?? 0) + 1, method, ...entry };
    this.calls.push(call);
    if (this.calls.length > 10000) this.calls.shift();
    try {
      return fn(call);
    } catch (e) {
      call.error = e instanceof Error ? e.message : String(e);
      throw e;
    }
  }

  mutation() {
    this.mutations++;
    this.lastMutation = `00000000-0000-4000-8000-${this.mutations.toString(16).padStart(12, "0")}`;
    this.lastMutationAt = new Date().toISOString();
    return { mutationId: this.lastMutation };
  }

  // ------------------------------------------------------------ validation

  checkValues(values, what) {
    const ok = Array.isArray(values) || values instanceof Float32Array || values instanceof Float64Array;
    if (!ok) fail(`${what} must be an array of numbers, a Float32Array or a Float64Array`);
    if (values.length !== this.dimensions) {
      fail(`${what} has ${values.length} dimensions; the index has ${this.dimensions} (values length must equal the index dimensions)`);
    }
    for (let i = 0; i < values.length; i++) {
      if (typeof values[i] !== "number" || !Number.isFinite(values[i])) fail(`${what}[${i}] is not a finite number`);
    }
    return Float32Array.from(values);
  }

  checkNamespace(namespace, what) {
    if (typeof namespace !== "string" || namespace === "") fail(`${what} must be a non-empty string`);
    const n = bytes(namespace);
    if (n > LIMITS.namespaceBytes) fail(`${what} is ${n} bytes; the namespace limit is ${LIMITS.namespaceBytes} bytes`);
  }

  checkVector(v, i) {
    if (!isPlainObject(v)) fail(`vector ${i} must be an object {id, values, namespace?, metadata?}`);
    if (typeof v.id !== "string" || v.id === "") fail(`vector ${i}: id must be a non-empty string`);
    const idBytes = bytes(v.id);
    if (idBytes > LIMITS.idBytes) fail(`vector id ${JSON.stringify(v.id.slice(0, 80))} is ${idBytes} bytes; the id limit is ${LIMITS.idBytes} bytes`);
    const values = this.checkValues(v.values, `vector ${JSON.stringify(v.id)}: values`);
    if (v.namespace !== undefined && v.namespace !== null) this.checkNamespace(v.namespace, `vector ${JSON.stringify(v.id)}: namespace`);
    let metadata;
    if (v.metadata !== undefined && v.metadata !== null) {
      if (!isPlainObject(v.metadata)) fail(`vector ${JSON.stringify(v.id)}: metadata must be a JSON object`);
      let text;
      try {
        text = JSON.stringify(v.metadata);
      } catch {
        fail(`vector ${JSON.stringify(v.id)}: metadata is not JSON-serialisable`);
      }
      const n = bytes(text);
      if (n > LIMITS.metadataBytes) {
        fail(`vector ${JSON.stringify(v.id)}: metadata is ${n} bytes of JSON; the metadata limit is 10 KiB (${LIMITS.metadataBytes} bytes) per vector`);
      }
      metadata = JSON.parse(text);
    }
    return { id: v.id, values, namespace: v.namespace ?? undefined, metadata };
  }

  checkBatch(vectors) {
    if (!Array.isArray(vectors) || vectors.length === 0) fail("expected a non-empty array of vectors");
    if (vectors.length > LIMITS.batch) {
      fail(`${vectors.length} vectors in one batch; the limit is ${LIMITS.batch} vectors per upsert/insert from a Worker`);
    }
    return vectors.map((v, i) => this.checkVector(v, i));
  }

  checkFilter(filter) {
    if (!isPlainObject(filter) || Object.keys(filter).length === 0) fail("filter must be a non-empty object");
    const n = bytes(JSON.stringify(filter));
    if (n >= LIMITS.filterBytes) fail(`filter is ${n} bytes of compact JSON; the limit is less than ${LIMITS.filterBytes} bytes`);
    const clauses = [];
    for (const [key, cond] of Object.entries(filter)) {
      if (key === "" || key.length > LIMITS.filterKeyChars || key.startsWith("$") || key.includes('"') || key.split(".").some((s) => s === "")) {
        fail(`filter key ${JSON.stringify(key)} is invalid (keys are non-empty, ≤ ${LIMITS.filterKeyChars} characters, do not start with '$', contain '"' or empty '.' segments)`);
      }
      if (isScalar(cond)) {
        clauses.push({ key, ops: [["$eq", cond]] });
        continue;
      }
      if (!isPlainObject(cond) || Object.keys(cond).length === 0) {
        fail(`filter ${JSON.stringify(key)}: the value must be a string, number, boolean, null or an operator object`);
      }
      const ops = Object.entries(cond);
      for (const [op, arg] of ops) {
        if (!OPS.has(op)) fail(`filter ${JSON.stringify(key)}: unsupported operator ${JSON.stringify(op)} (supported: ${[...OPS].join(" ")})`);
        if ((op === "$eq" || op === "$ne") && !isScalar(arg)) fail(`filter ${JSON.stringify(key)}: ${op} takes a string, number, boolean or null`);
        if ((op === "$in" || op === "$nin") && !(Array.isArray(arg) && arg.every(isScalar))) {
          fail(`filter ${JSON.stringify(key)}: ${op} takes an array of strings, numbers, booleans or nulls`);
        }
        if (RANGE.has(op) && !(typeof arg === "string" || (typeof arg === "number" && Number.isFinite(arg)))) {
          fail(`filter ${JSON.stringify(key)}: ${op} takes a string or a number`);
        }
      }
      const lower = ops.filter(([op]) => op === "$gt" || op === "$gte").length;
      const upper = ops.filter(([op]) => op === "$lt" || op === "$lte").length;
      if (ops.length > 1 && !(ops.length === 2 && lower === 1 && upper === 1)) {
        fail(`filter ${JSON.stringify(key)}: operators ${ops.map(([op]) => op).join(", ")} cannot be combined (only one lower bound $gt/$gte with one upper bound $lt/$lte)`);
      }
      clauses.push({ key, ops });
    }
    return clauses;
  }

  checkQueryOptions(options) {
    const o = options ?? {};
    if (!isPlainObject(o)) fail("query options must be an object");
    const topK = o.topK ?? 5;
    if (!Number.isInteger(topK) || topK < 1) fail(`topK must be an integer ≥ 1, got ${JSON.stringify(topK)}`);
    const returnValues = o.returnValues ?? false;
    if (typeof returnValues !== "boolean") fail("returnValues must be a boolean");
    let returnMetadata = o.returnMetadata ?? "none";
    if (returnMetadata === true) returnMetadata = "all";
    if (returnMetadata === false) returnMetadata = "none";
    if (!["none", "indexed", "all"].includes(returnMetadata)) {
      fail(`returnMetadata must be "none", "indexed" or "all", got ${JSON.stringify(o.returnMetadata)}`);
    }
    if (topK > LIMITS.topK) fail(`topK is ${topK}; the limit is ${LIMITS.topK}`);
    if ((returnValues || returnMetadata === "all") && topK > LIMITS.topKWithValuesOrAllMetadata) {
      fail(`topK is ${topK}; the limit is ${LIMITS.topKWithValuesOrAllMetadata} when returnValues is true or returnMetadata is "all"`);
    }
    if (o.namespace !== undefined && o.namespace !== null) this.checkNamespace(o.namespace, "namespace");
    const clauses = o.filter === undefined || o.filter === null ? [] : this.checkFilter(o.filter);
    return { topK, returnValues, returnMetadata, namespace: o.namespace ?? undefined, clauses };
  }

  // ------------------------------------------------------------ metadata

  // The value a filter sees for `key` (dots read nested metadata):
  // {indexed, present, value}.
  filterValue(metadata, key) {
    const type = this.metadataIndexes ? this.metadataIndexes[key] : undefined;
    if (this.metadataIndexes && !type) return { indexed: false };
    let v = metadata;
    for (const seg of key.split(".")) {
      if (!isPlainObject(v) || !Object.hasOwn(v, seg)) return { indexed: true, present: false };
      v = v[seg];
    }
    if (!type) return { indexed: true, present: true, value: v };
    if (typeof v !== type) return { indexed: true, present: false };
    return { indexed: true, present: true, value: type === "string" ? truncateBytes(v, LIMITS.indexedStringBytes) : v };
  }

  matches(metadata, clauses) {
    for (const { key, ops } of clauses) {
      const fv = this.filterValue(metadata, key);
      if (!fv.indexed) return false; // a filter on a property with no metadata index matches nothing
      const { present, value } = fv;
      for (const [op, arg] of ops) {
        let ok;
        switch (op) {
          case "$eq": ok = present && value === arg; break;
          case "$ne": ok = !present || value !== arg; break;
          case "$in": ok = present && arg.includes(value); break;
          case "$nin": ok = !present || !arg.includes(value); break;
          default: {
            const comparable = present && typeof value === typeof arg && (typeof value === "string" || typeof value === "number");
            ok = comparable && (op === "$lt" ? value < arg : op === "$lte" ? value <= arg : op === "$gt" ? value > arg : value >= arg);
          }
        }
        if (!ok) return false;
      }
    }
    return true;
  }

  indexedMetadata(metadata) {
    const out = {};
    for (const [k, v] of Object.entries(metadata ?? {})) {
      const type = this.metadataIndexes ? this.metadataIndexes[k] : ["string", "number", "boolean"].includes(typeof v) ? typeof v : null;
      if (!type || typeof v !== type) continue;
      out[k] = type === "string" ? truncateBytes(v, LIMITS.indexedStringBytes) : v;
    }
    return out;
  }

  // ------------------------------------------------------------ the binding's methods

  write(method, vectors, replace) {
    const namespaces = Array.isArray(vectors)
      ? [...new Set(vectors.map((v) => (isPlainObject(v) ? v.namespace ?? null : null)))].sort((a, b) => (a === null ? -1 : b === null ? 1 : a < b ? -1 : a > b ? 1 : 0))
      : [];
    return this.log(method, { namespaces, ids: Array.isArray(vectors) ? vectors.length : 0 }, () => {
      const checked = this.checkBatch(vectors);
      for (const v of checked) {
        if (!replace && this.vectors.has(v.id)) continue;
        this.vectors.set(v.id, v);
      }
      return this.mutation();
    });
  }

  upsert(vectors) {
    return this.write("upsert", vectors, true);
  }

  insert(vectors) {
    return this.write("insert", vectors, false);
  }

  // query() and queryById(): `resolve` gives the (checked) query vector.
  search(method, resolve, options, entry) {
    return this.log(
      method,
      {
        namespace: options?.namespace ?? null,
        ids: 0,
        topK: options?.topK ?? 5,
        returnValues: options?.returnValues ?? false,
        returnMetadata: options?.returnMetadata ?? "none",
        filter: (() => {
          try {
            return clone(options?.filter) ?? null;
          } catch {
            return String(options?.filter);
          }
        })(),
        ...entry,
      },
      (call) => {
        const o = this.checkQueryOptions(options);
        const q = resolve();
        let qn = 0;
        for (const x of q) qn += x * x;
        qn = Math.sqrt(qn);
        const scored = [];
        for (const v of this.vectors.values()) {
          if (o.namespace !== undefined && v.namespace !== o.namespace) continue;
          if (o.clauses.length && !this.matches(v.metadata, o.clauses)) continue;
          let dot = 0;
          let vn = 0;
          for (let i = 0; i < q.length; i++) {
            dot += q[i] * v.values[i];
            vn += v.values[i] * v.values[i];
          }
          const denom = qn * Math.sqrt(vn);
          scored.push({ v, score: denom > 0 ? dot / denom : 0 });
        }
        scored.sort((a, b) => b.score - a.score || (a.v.id < b.v.id ? -1 : a.v.id > b.v.id ? 1 : 0));
        const matches = scored.slice(0, o.topK).map(({ v, score }) => {
          const m = { id: v.id, score };
          if (o.returnValues) m.values = Array.from(v.values);
          if (o.returnMetadata === "all" && v.metadata !== undefined) m.metadata = clone(v.metadata);
          if (o.returnMetadata === "indexed") m.metadata = this.indexedMetadata(v.metadata);
          if (v.namespace !== undefined) m.namespace = v.namespace;
          return m;
        });
        call.ids = matches.length;
        return { count: matches.length, matches };
      },
    );
  }

  query(vector, options) {
    return this.search("query", () => this.checkValues(vector, "the query vector"), options, {});
  }

  queryById(id, options) {
    return this.search(
      "queryById",
      () => {
        const v = typeof id === "string" ? this.vectors.get(id) : undefined;
        if (!v) fail(`queryById: no vector with id ${JSON.stringify(id)}`);
        return v.values;
      },
      options,
      { id },
    );
  }

  checkIds(ids) {
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== "string")) fail("ids must be an array of strings");
    return ids;
  }

  getByIds(ids) {
    return this.log("getByIds", { namespace: null, ids: Array.isArray(ids) ? ids.length : 0 }, () => {
      const out = [];
      for (const id of new Set(this.checkIds(ids))) {
        const v = this.vectors.get(id);
        if (!v) continue;
        const r = { id: v.id, values: Array.from(v.values) };
        if (v.namespace !== undefined) r.namespace = v.namespace;
        if (v.metadata !== undefined) r.metadata = clone(v.metadata);
        out.push(r);
      }
      return out;
    });
  }

  deleteByIds(ids) {
    return this.log("deleteByIds", { namespace: null, ids: Array.isArray(ids) ? ids.length : 0 }, () => {
      for (const id of this.checkIds(ids)) this.vectors.delete(id);
      return this.mutation();
    });
  }

  describe() {
    return this.log("describe", { namespace: null, ids: 0 }, () => ({
      vectorCount: this.vectors.size,
      dimensions: this.dimensions,
      processedUpToDatetime: this.lastMutationAt,
      processedUpToMutation: this.lastMutation,
    }));
  }
}

// "tenant:string,doc_id:string,year:number" → {tenant: "string", …}; empty → null.
export function parseMetadataIndexes(spec) {
  if (typeof spec !== "string" || spec.trim() === "") return null;
  const out = {};
  for (const part of spec.split(",")) {
    const [name, type = "string"] = part.split(":").map((s) => s.trim());
    if (!name) continue;
    if (!["string", "number", "boolean"].includes(type)) fail(`metadata index ${name}: type must be string, number or boolean`);
    out[name] = type;
  }
  if (Object.keys(out).length > 10) fail("more than 10 metadata indexes; the limit is 10 per index");
  return out;
}
