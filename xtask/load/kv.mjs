// An in-memory KV namespace for plain `workerd serve` (`cargo xtask load`):
// the HTTP protocol workerd's `kvNamespace` binding speaks to the service it
// is bound to (the one wrangler's local mode implements too):
//   GET    /<key>?urlencoded=true           value (200) + CF-KV-Metadata, or 404
//   PUT    /<key>?urlencoded=true[&expiration=S][&expiration_ttl=S]  (CF-KV-Metadata)
//   DELETE /<key>?urlencoded=true
//   GET    /?prefix=&key_count_limit=&cursor=  {keys:[{name, expiration?, metadata?}], list_complete, cursor?}
//   POST   /bulk/get {keys, type?, withMetadata?}
// Test infrastructure: one process, nothing persisted, expiry honoured.

const store = new Map(); // key -> { value: Uint8Array, metadata: string | null, expiration: number | null }

const now = () => Date.now() / 1000;
const live = (e) => e !== undefined && (e.expiration === null || e.expiration > now());

function keyOf(url) {
  return decodeURIComponent(url.pathname.slice(1));
}

function list(url) {
  const prefix = url.searchParams.get("prefix") ?? "";
  const limit = Math.min(Number(url.searchParams.get("key_count_limit") ?? 1000) || 1000, 1000);
  const start = Number(url.searchParams.get("cursor") ?? 0) || 0;
  const names = [...store.keys()].filter((k) => k.startsWith(prefix) && live(store.get(k))).sort();
  const page = names.slice(start, start + limit);
  const keys = page.map((name) => {
    const e = store.get(name);
    const k = { name };
    if (e.expiration !== null) k.expiration = Math.floor(e.expiration);
    if (e.metadata !== null) k.metadata = e.metadata; // a JSON string, as workerd expects
    return k;
  });
  const done = start + limit >= names.length;
  return Response.json(done ? { keys, list_complete: true } : { keys, list_complete: false, cursor: String(start + limit) });
}

export default {
  async fetch(req) {
    const url = new URL(req.url);
    if (req.method === "GET" && url.pathname === "/") return list(url);
    if (req.method === "POST" && url.pathname === "/bulk/get") {
      const { keys = [], type = "text", withMetadata = false } = await req.json();
      const out = {};
      for (const k of keys) {
        const e = store.get(k);
        let v = live(e) ? new TextDecoder().decode(e.value) : null;
        if (v !== null && type === "json") v = JSON.parse(v);
        out[k] = withMetadata ? { value: v, metadata: live(e) && e.metadata ? JSON.parse(e.metadata) : null } : v;
      }
      return Response.json(out);
    }
    const key = keyOf(url);
    switch (req.method) {
      case "GET": {
        const e = store.get(key);
        if (!live(e)) {
          store.delete(key);
          return new Response(null, { status: 404 });
        }
        const headers = e.metadata !== null ? { "CF-KV-Metadata": e.metadata } : {};
        return new Response(e.value, { status: 200, headers });
      }
      case "PUT": {
        const value = new Uint8Array(await req.arrayBuffer());
        const exp = url.searchParams.get("expiration");
        const ttl = url.searchParams.get("expiration_ttl");
        const expiration = exp ? Number(exp) : ttl ? now() + Number(ttl) : null;
        store.set(key, { value, metadata: req.headers.get("CF-KV-Metadata"), expiration });
        return new Response(null, { status: 200 });
      }
      case "DELETE":
        store.delete(key);
        return new Response(null, { status: 200 });
      default:
        return new Response("method not allowed", { status: 405 });
    }
  },
};
