// Test of xtask/load/mixed.mjs against a tiny stand-in of the Worker started
// here on 127.0.0.1 (a free port, closed at the end whatever happens):
//
//   node --test xtask/load/mixed.test.mjs
//
// The stand-in answers /health with 200, /chat with a short SSE stream whose
// every other response lacks `data: [DONE]`, /search with 500, and
// /tools/summarize with 200 but 429 on every fourth request; it checks the
// headers mixed.mjs must send (400 otherwise) and counts what it sent, so
// the counts in mixed.mjs's JSON can be compared exactly. mixed.mjs runs as
// a child process for 3 s; the whole file takes about 5 s.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "mixed.mjs");
const HOST = "globex.localhost";
const DURATION = 3;
const RATES = { health: 10, chat_stream: 4, search_hit: 4, search_miss: 2, tool: 4 };

const sent = { chat: 0, chatNoDone: 0, search: 0, tool: 0, tool429: 0, bad: 0 };
const timers = new Set();
let server;
let port;

function standIn(req, res) {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    const json = (status, obj) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(obj));
    };
    if (req.headers.host !== HOST) { sent.bad++; return json(400, { error: "host" }); }
    if (req.method === "GET" && req.url === "/health") return json(200, { ok: true });
    const h = req.headers;
    let parsed = null;
    try { parsed = JSON.parse(body); } catch { /* checked below */ }
    if (req.method !== "POST" || !/^load-\d+$/.test(h["x-user-id"] ?? "") ||
        !/^10\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h["cf-connecting-ip"] ?? "") ||
        h["content-type"] !== "application/json" || !parsed) {
      sent.bad++;
      return json(400, { error: "bad request" });
    }
    if (req.url === "/chat") {
      const n = sent.chat++;
      const done = n % 2 === 0;
      if (!done) sent.chatNoDone++;
      res.writeHead(200, { "content-type": "text/event-stream" });
      let i = 0;
      const t = setInterval(() => {
        if (i++ < 5) return res.write(`data: {"delta":"t${i}"}\n\n`);
        clearInterval(t);
        timers.delete(t);
        res.end(done ? "data: [DONE]\n\n" : "");
      }, 5);
      timers.add(t);
      return;
    }
    if (req.url === "/search") { sent.search++; return json(500, { error: "boom" }); }
    if (req.url === "/tools/summarize") {
      if (sent.tool++ % 4 === 3) { sent.tool429++; return json(429, { error: "slow down" }); }
      return json(200, { summary: "short" });
    }
    json(404, { error: "not found" });
  });
}

before(async () => {
  server = http.createServer(standIn);
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  port = server.address().port;
});

after(async () => {
  for (const t of timers) clearInterval(t);
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
});

// Run mixed.mjs; resolves with its exit code, stdout and stderr. Killed
// after limitMs, so a hung child cannot hang the test.
function runMixed(args, limitMs = 15_000) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    const kill = setTimeout(() => child.kill("SIGKILL"), limitMs);
    child.on("error", (e) => { clearTimeout(kill); reject(e); });
    child.on("close", (code, signal) => { clearTimeout(kill); resolve({ code, signal, stdout, stderr }); });
  });
}

test("mixed.mjs holds the rates and counts statuses, failed streams and 500s", async () => {
  const t0 = Date.now();
  const r = await runMixed(["--port", String(port), "--host", HOST, "--duration", String(DURATION),
    "--rates", JSON.stringify(RATES), "--users", "50", "--timeout", "5"]);
  const wall = (Date.now() - t0) / 1000;
  assert.equal(r.code, 0, `exit ${r.code} ${r.signal ?? ""}\n${r.stderr}`);
  assert.ok(wall < DURATION + 4, `ran ${wall} s`);

  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 1, `stdout must be one JSON line:\n${r.stdout}`);
  const out = JSON.parse(lines[0]);
  assert.equal(out.duration_s, DURATION);
  assert.deepEqual(Object.keys(out.routes).sort(), Object.keys(RATES).sort());
  assert.equal(sent.bad, 0, "every request carries the host, user, IP and content-type headers");

  for (const [name, rate] of Object.entries(RATES)) {
    const x = out.routes[name];
    for (const k of ["rate_target", "requests", "rate_achieved", "ok", "errors", "error_rate",
      "p50_ms", "p95_ms", "p99_ms", "max_ms"]) {
      assert.equal(typeof x[k], "number", `${name}.${k} is ${JSON.stringify(x[k])}`);
    }
    assert.equal(typeof x.status, "object");
    assert.equal(x.rate_target, rate);
    const expected = rate * DURATION;
    assert.ok(Math.abs(x.requests - expected) <= 0.3 * expected,
      `${name}: ${x.requests} requests, expected ${expected} ± 30%`);
    assert.equal(x.rate_achieved, Number((x.requests / DURATION).toFixed(3)));
    assert.equal(x.ok + x.errors, x.requests, name);
    assert.equal(Object.values(x.status).reduce((a, b) => a + b, 0), x.requests, `${name}: every request answered`);
    assert.ok(x.p50_ms <= x.p95_ms && x.p95_ms <= x.p99_ms && x.p99_ms <= x.max_ms, `${name}: percentiles in order`);
  }

  const { health, chat_stream: chat, search_hit: hit, search_miss: miss, tool } = out.routes;
  assert.deepEqual(health.status, { 200: health.requests });
  assert.equal(health.errors, 0);

  // Every other stream ends without `data: [DONE]`: a 200 that is an error.
  assert.equal(chat.requests, sent.chat);
  assert.deepEqual(chat.status, { 200: sent.chat });
  assert.ok(sent.chatNoDone > 0);
  assert.equal(chat.errors, sent.chatNoDone);
  assert.equal(chat.errors_by_kind.check, sent.chatNoDone);
  assert.ok(chat.p50_ms >= 25, `a stream takes ~30 ms, p50 ${chat.p50_ms}`);

  // /search answers 500: every request is an error.
  assert.equal(hit.requests + miss.requests, sent.search);
  for (const x of [hit, miss]) {
    assert.deepEqual(x.status, { 500: x.requests });
    assert.equal(x.errors, x.requests);
    assert.equal(x.error_rate, 1);
    assert.equal(x.ok, 0);
  }

  // Every fourth tool call is a 429.
  assert.equal(tool.requests, sent.tool);
  assert.ok(sent.tool429 > 0);
  assert.deepEqual(tool.status, { 200: sent.tool - sent.tool429, 429: sent.tool429 });
  assert.equal(tool.errors, sent.tool429);
});

test("mixed.mjs refuses bad arguments and a port nobody listens on (exit 2)", async () => {
  const cases = [
    ["--duration", "1", "--rates", '{"health":1}'], // no port
    ["--port", String(port), "--duration", "1", "--rates", '{"nope":1}'],
    ["--port", String(port), "--duration", "1", "--rates", '{"health":1.5}'],
    ["--port", String(port), "--duration", "1", "--rates", '{"health":0}'],
    ["--port", String(port), "--duration", "1", "--rates", '{"health":1}', "--url", "http://10.0.0.1/"],
  ];
  for (const args of cases) {
    const r = await runMixed(args, 5_000);
    assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
    assert.equal(r.stdout, "");
  }
  // A port that was free a moment ago.
  const probe = http.createServer();
  await new Promise((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const freePort = probe.address().port;
  await new Promise((resolve) => probe.close(resolve));
  const r = await runMixed(["--port", String(freePort), "--duration", "1", "--rates", '{"health":1}'], 5_000);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /nothing accepts connections/);
});
