// The floor for `cargo xtask bench runtime`: a Worker that does no work.
// It answers every request with a fixed body the size of the Rust
// Worker's `/health` answer (tenant, bindings, request id), its four
// headers and one JSON log line of the same length, and reads one request
// header. What it costs per request is what workerd costs: the HTTP
// exchange, the Request, Response and Headers objects, the log line. The
// bench reports it beside the Rust and Hono Workers so that their cost
// above the floor, and the garbage collector's share of the tail latency,
// can be read off (docs/benchmarks.md, "Tail latency").
import { DurableObject } from "cloudflare:workers";

const ID = "0123456789abcdef0123456789abcdef";
const BODY = JSON.stringify({
  data: {
    tenant: "acme",
    name: "Acme Corp",
    env: "dev",
    version: "floor",
    status: "degraded",
    resolved_by: "host",
    bindings: Object.fromEntries(
      ["AI", "AUDIT", "CACHE", "DOCS", "DOC_INDEX", "EVENTS", "INGEST", "RATE_LIMITER", "SESSIONS"].map((b) => [b, { kind: "binding", present: false }]),
    ),
    vector_index: "local",
  },
  request_id: ID,
});
const LINE = JSON.stringify({
  level: "info",
  msg: "request",
  request_id: ID,
  trace_id: ID,
  tenant: "acme",
  env: "dev",
  route: "health",
  method: "GET",
  path: "/health",
  host: "acme.localhost",
  status: 200,
  latency_ms: 0,
  error: null,
});

export default {
  fetch(request) {
    if (request.headers.get("host") === null) return new Response("no host", { status: 400 });
    console.log(LINE);
    return new Response(BODY, {
      headers: {
        "content-type": "application/json; charset=utf-8",
        "cache-control": "no-store",
        traceparent: `00-${ID}-0123456789abcdef-01`,
        "x-request-id": ID,
      },
    });
  },
};

// The bench config binds these two namespaces for every Worker.
export class ChatSession extends DurableObject {}
export class RateLimiter extends DurableObject {}
