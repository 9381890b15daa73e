// Mixed-traffic load generator for a running Worker on loopback, built on
// autocannon. One autocannon instance per route, all running AT ONCE, each
// at a FIXED request rate (autocannon's overallRate) for a fixed duration:
//
//   node xtask/load/mixed.mjs --port 8787 --host globex.localhost --duration 30 \
//     --rates '{"health":40,"chat_stream":8,"search_hit":8,"search_miss":4,"tool":4}'
//
// Flags:
//   --port N            the Worker's port on 127.0.0.1 (the only target host:
//                       there is no flag for another one)
//   --host NAME         sent as the `host` header (default 127.0.0.1:PORT)
//   --duration SECONDS  whole seconds of load (required)
//   --rates JSON        requests per second per route, whole numbers; a route
//                       with rate 0 or absent is not run (required)
//   --users N           x-user-id is load-<random 0..N-1> (default 200)
//   --timeout SECONDS   per request, whole seconds >= 1 (default 30)
//   --connections JSON  optional per-route connection counts, e.g.
//                       '{"chat_stream":16}' (default max(2, ceil(rate/2)),
//                       at most 50, never more than the rate)
//
// Routes (every request but health carries `x-user-id: load-<n>` and a random
// `cf-connecting-ip: 10.a.b.c` header, so per-user and per-IP limits are
// spread; the header is only a header, all traffic goes to 127.0.0.1):
//   health       GET /health
//   chat_stream  POST /chat, a unique message each time, stream: true; OK only
//                if 200 and the body holds `data: [DONE]`
//   search_hit   POST /search, the same query every time (the tenant's cache)
//   search_miss  POST /search, a unique query each time
//   tool         POST /tools/summarize, a ~400 character paragraph
//
// Output: one JSON object on stdout, nothing else (progress goes to stderr):
//   {"duration_s", "elapsed_s", "routes": {"<name>": {"rate_target",
//    "connections", "requests", "rate_achieved", "ok", "errors", "error_rate",
//    "status": {"200": n, ...}, "errors_by_kind": {"status", "check",
//    "timeout", "connection"}, "p50_ms", "p95_ms", "p99_ms", "max_ms"}}}
// requests = responses + timeouts + requests lost with their connection;
// errors = non-2xx + failed body checks + timeouts + lost; latencies are every
// response's (any status), percentiles by nearest rank (null if none).
// Exit 0 when it ran (thresholds are for the caller to judge), 2 on bad
// arguments, when nothing listens on the port, or when autocannon fails. On
// SIGINT/SIGTERM every instance is stopped, the partial JSON is printed with
// "interrupted" (rates over the elapsed time, requests cut short not
// counted), and the exit code is 130/143.
//
// How the rate is held: autocannon gives each connection a quota of
// overallRate/connections requests per second (whole numbers: it drops
// fractions, and uses no more connections than the rate), sent one after
// another over that connection at the start of each of its seconds. Left
// alone, (a) all connections of all routes start their seconds together, so
// every second begins with one burst of everything, and (b) it stops at the
// first 1 s sample tick after `duration`, which often lets one more partial
// second of requests through (31 instead of 30 at 10/s for 3 s). So here each
// connection gets a quota of exactly its per-second rate x duration requests
// (it closes after the last answer), the connections' seconds are staggered
// over the second, and one second after `duration` any connection still short
// of its quota (the server was too slow for it: its requests are sequential)
// stops sending, which shows as rate_achieved < rate_target. The run ends by
// itself, normally 1-2 s after `duration`; requests still in flight then are
// waited for up to the timeout, and a watchdog ends it at duration +
// timeout + 5 s whatever happens.
//
// This reaches into autocannon 9's Client (responseMax, rate, reqsMade,
// reqsMadeThisSecond, paused, rateInterval, pipelinedRequests, _connect,
// _doRequest, _destroyConnection) through setupClient; the version is pinned
// in package.json, and a missing field is an error (exit 2).
import { randomUUID } from "node:crypto";
import net from "node:net";
import autocannon from "autocannon";

const USAGE = "usage: mixed.mjs --port N --duration SECONDS --rates JSON [--host NAME] [--users N] " +
  "[--timeout SECONDS] [--connections JSON]";

const PARAGRAPH =
  "Our refund policy lets customers return most items within thirty days of delivery for a full refund, " +
  "provided the goods are unused and in their original packaging. Digital products can be refunded within " +
  "fourteen days if they have not been downloaded. Refunds are issued to the original payment method and " +
  "usually appear within five to ten business days. Shipping costs are refunded only when we made an error.";

const ROUTES = {
  health: { method: "GET", path: "/health", anonymous: true },
  chat_stream: {
    method: "POST",
    path: "/chat",
    body: () => JSON.stringify({
      messages: [{ role: "user", content: `load ${randomUUID()} tell me about refunds` }],
      stream: true,
    }),
    // OK only with status 200 and the stream's end marker.
    check: (status, body) => status === 200 && body.includes("data: [DONE]"),
  },
  search_hit: { method: "POST", path: "/search", body: () => JSON.stringify({ query: "What is the refund policy?" }) },
  search_miss: {
    method: "POST",
    path: "/search",
    body: () => JSON.stringify({ query: `What is the refund policy? ${randomUUID()}` }),
  },
  tool: { method: "POST", path: "/tools/summarize", body: () => JSON.stringify({ text: PARAGRAPH, length: "short" }) },
};

const log = (msg) => process.stderr.write(`[mixed] ${msg}\n`);

class ArgError extends Error {}

function parseArgs(argv) {
  const flags = new Map();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--([a-z]+)(?:=(.*))?$/s.exec(a);
    if (!m) throw new ArgError(`unexpected argument ${JSON.stringify(a)}`);
    const name = m[1];
    if (!["port", "host", "duration", "rates", "users", "timeout", "connections"].includes(name)) {
      throw new ArgError(`unknown flag --${name} (the target is always 127.0.0.1)`);
    }
    let value = m[2];
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new ArgError(`--${name} needs a value`);
      value = argv[++i];
    }
    if (flags.has(name)) throw new ArgError(`--${name} given twice`);
    flags.set(name, value);
  }
  const int = (name, min, max, dflt) => {
    const v = flags.get(name);
    if (v === undefined) {
      if (dflt === undefined) throw new ArgError(`--${name} is required`);
      return dflt;
    }
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      throw new ArgError(`--${name} must be a whole number in ${min}..${max}, got ${JSON.stringify(v)}`);
    }
    return Number(v);
  };
  const jsonMap = (name, required) => {
    const v = flags.get(name);
    if (v === undefined) {
      if (required) throw new ArgError(`--${name} is required`);
      return {};
    }
    let obj;
    try { obj = JSON.parse(v); } catch (e) { throw new ArgError(`--${name} is not JSON: ${e.message}`); }
    if (!obj || typeof obj !== "object" || Array.isArray(obj)) throw new ArgError(`--${name} must be a JSON object`);
    for (const [k, n] of Object.entries(obj)) {
      if (!Object.hasOwn(ROUTES, k)) {
        throw new ArgError(`--${name}: unknown route ${JSON.stringify(k)} (routes: ${Object.keys(ROUTES).join(", ")})`);
      }
      if (!Number.isInteger(n) || n < 0 || n > 100_000) {
        throw new ArgError(`--${name}: ${k} must be a whole number >= 0 (autocannon drops fractions), got ${JSON.stringify(n)}`);
      }
    }
    return obj;
  };

  const port = int("port", 1, 65535);
  const duration = int("duration", 1, 86_400);
  const users = int("users", 1, 1_000_000, 200);
  const timeout = int("timeout", 1, 3_600, 30);
  const host = flags.get("host") ?? `127.0.0.1:${port}`;
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})(:\d{1,5})?$/.test(host)) {
    throw new ArgError(`--host must be a host name (optionally :port), got ${JSON.stringify(host)}`);
  }
  const rates = jsonMap("rates", true);
  const connections = jsonMap("connections", false);
  const run = Object.keys(ROUTES).filter((r) => (rates[r] ?? 0) > 0);
  if (run.length === 0) throw new ArgError("--rates names no route with a rate above 0");
  for (const [k, n] of Object.entries(connections)) {
    if (n < 1) throw new ArgError(`--connections: ${k} must be at least 1`);
  }
  return { port, host, duration, users, timeout, rates, connections, run };
}

// Nearest-rank percentile of an ascending array.
function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

const round = (x, digits) => (x === null ? null : Number(x.toFixed(digits)));
const rand = (n) => Math.floor(Math.random() * n);

function newState(name, rate, conns) {
  return {
    name,
    rate,
    connections: conns,
    latencies: [],
    status: {},
    responses: 0,
    non2xx: 0,
    checkFailed: 0,
    timeouts: 0,
    lost: 0,
    spuriousTimeouts: 0,
    clients: [],
    instance: null,
    result: null,
    finished: false,
  };
}

function summary(st, duration) {
  const sorted = Float64Array.from(st.latencies).sort();
  const requests = st.responses + st.timeouts + st.lost;
  const errors = st.non2xx + st.checkFailed + st.timeouts + st.lost;
  const status = {};
  for (const k of Object.keys(st.status).sort()) status[k] = st.status[k];
  return {
    rate_target: st.rate,
    connections: st.connections,
    requests,
    rate_achieved: round(requests / duration, 3),
    ok: requests - errors,
    errors,
    error_rate: requests === 0 ? 0 : round(errors / requests, 5),
    status,
    errors_by_kind: { status: st.non2xx, check: st.checkFailed, timeout: st.timeouts, connection: st.lost },
    p50_ms: round(percentile(sorted, 50), 2),
    p95_ms: round(percentile(sorted, 95), 2),
    p99_ms: round(percentile(sorted, 99), 2),
    max_ms: round(sorted.length ? sorted[sorted.length - 1] : null, 2),
  };
}

// Hooks on one autocannon Client (called by autocannon in the client's
// constructor, before its first connection): a fixed quota, a staggered
// start, and bookkeeping of requests that die with their connection or time
// out. `phase` in [0, 1) tells the routes apart.
function setupClientFor(st, duration, phase) {
  return (client) => {
    for (const f of ["rate", "reqsMade", "reqsMadeThisSecond", "pipelinedRequests", "_connect",
      "_doRequest", "_destroyConnection", "destroy"]) {
      if (!(f in client)) throw new Error(`autocannon's Client has no ${f}: this script is written for autocannon 9`);
    }
    // Exactly rate x duration requests from this connection, then it closes.
    client.responseMax = Math.max(1, client.rate * duration);
    const index = st.clients.length;
    st.clients.push(client);

    // autocannon refills every connection's per-second quota from its own 1 s
    // interval, all started together, so each second would begin with every
    // connection of every route sending at once. Spread the connections'
    // seconds over the second instead: nothing is sent at construction (the
    // quota reads as spent), and the refill interval is replaced by one that
    // starts at this connection's offset.
    client.reqsMadeThisSecond = client.rate;
    const offsetMs = ((index + phase) / st.connections) * 1000;
    queueMicrotask(() => {
      clearInterval(client.rateInterval); // created after setupClient, in the constructor
      const refill = () => {
        if (client.destroyed) return clearInterval(client.rateInterval);
        client.reqsMadeThisSecond = 0;
        if (client.paused) client._doRequest(client.cer);
        client.paused = false;
      };
      setTimeout(() => {
        if (client.destroyed) return;
        client.rateInterval = setInterval(refill, 1000); // cleared by client.destroy()
        refill();
      }, offsetMs);
    });
    client.__dropped = 0;
    const destroyConnection = client._destroyConnection;
    client._destroyConnection = function (...args) {
      this.__dropped += this.pipelinedRequests.size();
      return destroyConnection.apply(this, args);
    };
    const connect = client._connect;
    client._connect = function (...args) {
      // Reconnecting with requests still queued (the socket failed or the
      // server closed it before answering): they are lost. Forget them, or
      // the next answer would be matched to a stale request.
      const n = this.conn ? this.pipelinedRequests.size() : 0;
      if (n > 0) {
        st.lost += n;
        this.pipelinedRequests.clear();
      }
      return connect.apply(this, args);
    };
    client.on("timeout", () => {
      // autocannon's timer is not stopped while a connection waits for its
      // next second's quota: only a timeout with a request in flight counts.
      if (client.__dropped > 0) {
        st.timeouts++;
        client.__dropped--;
      } else {
        st.spuriousTimeouts++;
      }
    });
  };
}

function requestFor(route, opts) {
  const def = ROUTES[route];
  const base = { method: def.method, path: def.path };
  if (def.anonymous) return { ...base, headers: { host: opts.host } };
  return {
    ...base,
    setupRequest: (req) => ({
      ...req,
      headers: {
        host: opts.host,
        "x-user-id": `load-${rand(opts.users)}`,
        "cf-connecting-ip": `10.${rand(256)}.${rand(256)}.${1 + rand(254)}`,
        "content-type": "application/json",
      },
      body: def.body(),
    }),
  };
}

// autocannon reconnects at once, forever, to a port nothing listens on (tens
// of thousands of refused connections a second): look before starting.
function listening(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: "127.0.0.1" });
    const end = (ok) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(2000, () => end(false));
    sock.once("connect", () => end(true));
    sock.once("error", () => end(false));
  });
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof ArgError)) throw e;
    log(`${e.message}\n${USAGE}`);
    process.exit(2);
  }
  const { duration, timeout } = opts;
  if (!(await listening(opts.port))) {
    log(`nothing accepts connections on 127.0.0.1:${opts.port}`);
    process.exit(2);
  }
  const t0 = Date.now();
  const states = [];
  let done = false;
  const timers = [];

  const finish = (code, extra = {}) => {
    if (done) return;
    done = true;
    for (const t of timers) clearTimeout(t);
    const elapsed = (Date.now() - t0) / 1000;
    for (const st of states) {
      // Requests still in flight now: after a forced stop they have waited
      // past the timeout (counted as timeouts); after a signal they are cut
      // short (not counted).
      for (const c of st.clients) if (!c.destroyed) try { c.destroy(); } catch { /* already closed */ }
      for (const c of st.clients) {
        if (c.__dropped > 0 && !extra.interrupted) st.timeouts += c.__dropped;
        c.__dropped = 0;
      }
      if (st.spuriousTimeouts) log(`${st.name}: ignored ${st.spuriousTimeouts} autocannon timeout(s) with nothing in flight`);
    }
    const out = { duration_s: duration, elapsed_s: round(elapsed, 2), ...extra, routes: {} };
    // Interrupted: the rates are over the time it ran.
    const over = extra.interrupted ? Math.max(elapsed, 0.001) : duration;
    for (const st of states) {
      const r = (out.routes[st.name] = summary(st, over));
      if (!extra.interrupted && r.rate_achieved < 0.95 * r.rate_target) {
        log(`${st.name}: ${r.rate_achieved}/s of ${r.rate_target}/s; each connection sends its requests one ` +
          `after another, so a slow route needs more (--connections '{"${st.name}":N}', now ${st.connections})`);
      }
    }
    process.stdout.write(JSON.stringify(out) + "\n", () => process.exit(code));
  };

  const fail = (msg) => {
    log(`autocannon failed: ${msg}`);
    for (const st of states) try { st.instance?.stop(); } catch { /* stopping anyway */ }
    process.exitCode = 2;
    if (!done) { done = true; setTimeout(() => process.exit(2), 50); }
  };
  process.on("uncaughtException", (e) => fail(e?.stack || String(e)));

  const onFinished = () => {
    if (states.every((s) => s.finished)) finish(0);
  };

  for (const route of opts.run) {
    const rate = opts.rates[route];
    const conns = Math.min(rate, opts.connections[route] ?? Math.min(50, Math.max(2, Math.ceil(rate * 0.5))));
    const st = newState(route, rate, conns);
    states.push(st);
    const req = requestFor(route, opts);
    const check = ROUTES[route].check;
    req.onResponse = (status, body) => {
      if (status >= 200 && status < 300 && check && !check(status, body)) st.checkFailed++;
    };
    let instance;
    try {
      instance = autocannon({
        url: `http://127.0.0.1:${opts.port}`,
        requests: [req],
        connections: conns,
        pipelining: 1,
        overallRate: rate,
        // Only a safety net: the quotas and the deadline below end the run.
        duration: duration + timeout + 2,
        timeout,
        setupClient: setupClientFor(st, duration, (states.length - 1) / opts.run.length),
        renderProgressBar: false,
        renderResultsTable: false,
        renderLatencyTable: false,
      }, (err, result) => {
        if (err) return fail(`${route}: ${err.message}`);
        st.result = result;
        st.finished = true;
        onFinished();
      });
    } catch (e) {
      return fail(`${route}: ${e.message}`);
    }
    st.instance = instance;
    instance.on("response", (_client, statusCode, _resBytes, responseTime) => {
      st.responses++;
      st.latencies.push(responseTime);
      st.status[statusCode] = (st.status[statusCode] ?? 0) + 1;
      if (statusCode < 200 || statusCode >= 300) st.non2xx++;
    });
  }
  log(`target 127.0.0.1:${opts.port} host ${opts.host}, ${duration} s: ` +
    states.map((s) => `${s.name} ${s.rate}/s over ${s.connections} conn`).join(", "));

  // A second after the end, connections still short of their quota (the
  // server was too slow for them) send no more.
  timers.push(setTimeout(() => {
    for (const st of states) {
      for (const c of st.clients) {
        if (c.destroyed) continue;
        if (c.pipelinedRequests.size() === 0) c.destroy();
        else c.responseMax = Math.max(1, c.reqsMade);
      }
    }
  }, (duration + 1) * 1000));
  // Everything in flight has answered or timed out by now.
  timers.push(setTimeout(() => {
    for (const st of states) if (!st.finished) st.instance.stop();
  }, (duration + timeout + 2) * 1000));
  timers.push(setTimeout(() => {
    log("instances did not finish after stop: printing what was recorded");
    finish(0, { incomplete: true });
  }, (duration + timeout + 5) * 1000));

  const progress = setInterval(() => {
    const s = Math.round((Date.now() - t0) / 1000);
    log(`${s}s ` + states.map((st) => {
      const errs = st.non2xx + st.checkFailed + st.timeouts + st.lost;
      return `${st.name} ${st.responses + st.timeouts + st.lost}${errs ? ` (${errs} err)` : ""}`;
    }).join(", "));
  }, 1000);
  progress.unref();

  let signalled = false;
  for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143]]) {
    process.on(sig, () => {
      if (signalled) process.exit(code);
      signalled = true;
      log(`${sig}: stopping every instance`);
      for (const st of states) try { st.instance?.stop(); } catch { /* stopping anyway */ }
      finish(code, { interrupted: sig });
    });
  }
}

main();
