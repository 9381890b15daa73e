// The comparison Worker for `cargo xtask bench runtime`: the same `/health`
// as the Rust Worker (fail-closed tenant resolution, request id, error
// envelope, one JSON log line per request), written the way a TypeScript
// team would with Hono. The tenant table is a JSON map generated from
// tenants/ by the benchmark (exact hosts, wildcard bases, header policy).
import { Hono, type Context } from "hono";
import tenants from "./tenants.json";

type Tenant = { id: string; name: string; header_allowed: boolean };
type Table = { exact: Record<string, string>; wildcard: Record<string, string>; tenants: Record<string, Tenant>; bindings: [string, string][] };
const table = tenants as Table;

type Env = { TENANT_ID: string; TENANT_ENV: string; AI_BASE_URL: string; [k: string]: unknown };
type Vars = { requestId: string; tenant: string | null; route: string | null };

const ID_RE = /^[A-Za-z0-9._:-]{8,128}$/;

function newId(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

function normalize(host: string | undefined): string | null {
  if (!host) return null;
  let h = host.toLowerCase();
  const colon = h.lastIndexOf(":");
  if (colon >= 0) h = h.slice(0, colon);
  if (h.endsWith(".")) h = h.slice(0, -1);
  return h.length > 0 && h.length <= 253 ? h : null;
}

function byHost(host: string | undefined): string | null {
  const h = normalize(host);
  if (!h) return null;
  const exact = table.exact[h];
  if (exact) return exact;
  let rest = h;
  for (let i = rest.indexOf("."); i >= 0; i = rest.indexOf(".")) {
    rest = rest.slice(i + 1);
    const w = table.wildcard[rest];
    if (w) return w;
  }
  return null;
}

class Failure extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
}

const app = new Hono<{ Bindings: Env; Variables: Vars }>();

app.use("*", async (c, next) => {
  const start = Date.now();
  const incoming = c.req.header("x-request-id");
  const requestId = incoming && ID_RE.test(incoming) ? incoming : newId();
  c.set("requestId", requestId);
  c.set("tenant", null);
  c.set("route", null);
  let error: string | null = null;
  try {
    const host = c.req.header("host");
    const header = c.req.header("x-tenant-id");
    const fromHost = byHost(host);
    let tenant: string;
    if (fromHost) {
      if (header !== undefined && header !== fromHost) throw new Failure(400, "tenant_conflict", `x-tenant-id names another tenant than host \`${host}\``);
      tenant = fromHost;
    } else if (header !== undefined) {
      const t = table.tenants[header];
      if (!t) throw new Failure(404, "tenant_unknown", `x-tenant-id \`${header}\` names no tenant`);
      if (!t.header_allowed) throw new Failure(403, "tenant_header_not_allowed", `tenant \`${header}\` is selected by host only`);
      tenant = header;
    } else {
      throw new Failure(404, "tenant_unknown", `no tenant serves host \`${host}\``);
    }
    if (tenant !== c.env.TENANT_ID) throw new Failure(421, "tenant_not_served", `this deployment serves tenant \`${c.env.TENANT_ID}\``);
    c.set("tenant", tenant);
    await next();
  } catch (e) {
    const f = e instanceof Failure ? e : new Failure(500, "internal", "internal error");
    error = f.code;
    c.res = c.json({ error: { code: f.code, message: f.message, request_id: requestId } }, f.status as 400);
  }
  c.res.headers.set("x-request-id", requestId);
  c.res.headers.set("cache-control", "no-store");
  const status = c.res.status;
  console.log(JSON.stringify({
    level: status >= 500 ? "error" : status >= 400 ? "warn" : "info",
    msg: "request",
    request_id: requestId,
    tenant: c.get("tenant"),
    env: c.env.TENANT_ENV,
    route: c.get("route"),
    method: c.req.method,
    path: c.req.path,
    host: c.req.header("host") ?? null,
    status,
    latency_ms: Date.now() - start,
    error,
  }));
});

app.get("/health", (c) => {
  c.set("route", "health");
  const tenant = table.tenants[c.get("tenant")!];
  const bindings: Record<string, { kind: string; present: boolean }> = {};
  let ok = true;
  for (const [name, kind] of table.bindings) {
    const present = c.env[name] !== undefined;
    ok &&= present;
    bindings[name] = { kind, present };
  }
  return c.json({
    data: { tenant: tenant.id, name: tenant.name, env: c.env.TENANT_ENV, version: "hono", status: ok ? "ok" : "degraded", resolved_by: "host", bindings },
    request_id: c.get("requestId"),
  });
});

// `/chat` for `cargo xtask bench chat`: the same pass-through a TypeScript
// team would write — the request's messages to the OpenAI-compatible
// upstream (AI_BASE_URL), its server-sent events streamed back unchanged.
// (No sessions, budget or parsing: the Rust Worker does those too, so the
// comparison flatters Hono.)
// The request's messages to the OpenAI-compatible upstream (AI_BASE_URL),
// streamed; its body is returned as it arrives.
async function callUpstream(c: Context<{ Bindings: Env; Variables: Vars }>): Promise<Response & { body: ReadableStream }> {
  const body = (await c.req.json()) as { messages: unknown; max_tokens?: number };
  const upstream = await fetch(`${c.env.AI_BASE_URL}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ model: "@cf/meta/llama-3.1-8b-instruct", messages: body.messages, stream: true, stream_options: { include_usage: true }, max_tokens: body.max_tokens ?? 1024 }),
  });
  if (!upstream.ok || upstream.body === null) throw new Failure(502, "upstream_error", `upstream answered ${upstream.status}`);
  return upstream as Response & { body: ReadableStream };
}

app.post("/chat", async (c) => {
  c.set("route", "chat");
  const upstream = await callUpstream(c);
  return new Response(upstream.body, { headers: { "content-type": "text/event-stream; charset=utf-8" } });
});

// `/chat-relay`: the same call, but every upstream chunk passes through
// JavaScript (read, then written on; no parsing) — the least any Worker
// pays that looks at each event instead of handing the body to workerd.
// `cargo xtask bench chat` measures it next to the pass-through.
app.post("/chat-relay", async (c) => {
  c.set("route", "chat");
  const upstream = await callUpstream(c);
  const reader = upstream.body.getReader();
  const relay = new ReadableStream({
    async pull(ctrl) {
      const { done, value } = await reader.read();
      if (done) ctrl.close();
      else ctrl.enqueue(value);
    },
    cancel(why) {
      return reader.cancel(why);
    },
  });
  return new Response(relay, { headers: { "content-type": "text/event-stream; charset=utf-8" } });
});

app.notFound((c) => c.json({ error: { code: "not_found", message: `no route for \`${c.req.path}\``, request_id: c.get("requestId") } }, 404));

export default app;
