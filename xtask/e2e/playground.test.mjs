// Headless-browser test of the developer playground (GET /_playground,
// runtime/assets/playground.html), driven by puppeteer-core with the
// system's Chromium. A plain script, not `node --test`:
//
//   PLAYGROUND_URL=http://acme.localhost:8787/_playground \
//   SCREENSHOT_DIR=out/playground node xtask/e2e/playground.test.mjs
//
// Env: PLAYGROUND_URL (required; Chromium resolves *.localhost to loopback
// itself), SCREENSHOT_DIR (default: a new temporary folder), CHROMIUM
// (default /usr/bin/chromium), SEARCH_QUERY (default "refund policy"),
// CHAT_MESSAGE (the message sent; with the scripted model server,
// `[[scripted:delay=50]]` in it slows the tokens down), PLAYGROUND_DEBUG
// (set: print the stack of an unexpected error).
//
// Checks: a chat answer is seen to grow through at least two non-empty
// intermediate states before its stream ends, and ends non-empty; its
// request-id link leads to the Worker's log line for that request; the
// sessions list shows a session; a search shows at least one `.source`;
// the tools panel has at least one form; the page asks no other origin
// and throws no error. Writes chat.png, search.png and tools.png (and
// failure.png when a check fails) to SCREENSHOT_DIR. Prints one JSON line
// on success; exits 1 with a message on any failure. The whole run is
// bounded by 60 s, and the browser is always closed. Test client only.
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import puppeteer from "puppeteer-core";

const URL_ = process.env.PLAYGROUND_URL;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const QUERY = process.env.SEARCH_QUERY || "refund policy";
const MESSAGE = process.env.CHAT_MESSAGE || "Hello from the playground test. Tell me about refunds.";
const SHOTS = process.env.SCREENSHOT_DIR || mkdtempSync(path.join(tmpdir(), "playground-"));
const GLOBAL_TIMEOUT_MS = 60_000;
const t0 = Date.now();

class Failure extends Error {}
const check = (ok, message) => { if (!ok) throw new Failure(message); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let browser = null;
let page = null;
let step = "start";

// The global limit: end the browser's process and fail, whatever is pending.
const watchdog = setTimeout(() => {
  console.error(`playground test FAILED: global timeout (${GLOBAL_TIMEOUT_MS / 1000} s) after step "${step}"`);
  const pid = browser?.process()?.pid;
  if (pid) {
    try { process.kill(-pid, "SIGKILL"); } catch { /* not a group leader: the process alone */
      try { process.kill(pid, "SIGKILL"); } catch { /* already gone */ }
    }
  }
  process.exit(1);
}, GLOBAL_TIMEOUT_MS);

async function run() {
  check(URL_, "PLAYGROUND_URL is not set (e.g. http://acme.localhost:8787/_playground)");
  mkdirSync(SHOTS, { recursive: true });
  const origin = new URL(URL_).origin;

  step = "launch";
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true, // puppeteer passes --headless=new for `true`; said again below
    pipe: true,
    args: ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--no-proxy-server",
           "--no-first-run", "--no-default-browser-check"],
    timeout: 20_000,
  });
  const chromium = await browser.version();
  page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  page.setDefaultTimeout(20_000);

  // The page must be self-contained: every request stays on its origin.
  const pageErrors = [];
  const foreign = [];
  page.on("pageerror", (e) => pageErrors.push(String(e?.message ?? e)));
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith("data:") && !u.startsWith("blob:") && new URL(u).origin !== origin) foreign.push(u);
  });

  step = "open the page";
  const res = await page.goto(URL_, { waitUntil: "load" });
  check(res && res.ok(), `GET ${URL_} answered ${res ? res.status() : "nothing"}`);
  await page.waitForSelector("#chat-input");

  // ---- chat: the answer must grow while it streams ----
  step = "chat";
  // Sample the answer's length every 10 ms in the page itself. A timer
  // runs between tasks, so it sees what a reader could see: a body that
  // arrived in one piece shows no intermediate state, however many deltas
  // it held (a MutationObserver would see every append, even then).
  await page.evaluate(() => {
    const samples = (window.__answerSamples = []);
    window.__answerSampler = setInterval(() => {
      const a = document.querySelector("#chat-answer");
      samples.push({ t: performance.now(), len: a ? a.textContent.length : -1, state: a?.dataset.state ?? null });
    }, 10);
  });
  await page.type("#chat-input", MESSAGE);
  await page.click("#chat-send");
  await page.waitForSelector("#chat-answer:is([data-state=done],[data-state=error],[data-state=stopped])",
                             { timeout: 30_000 });
  const chat = await page.evaluate(() => {
    const a = document.querySelector("#chat-answer");
    const msg = a.closest(".msg");
    const link = msg.querySelector("a.request-id");
    return {
      state: a.dataset.state,
      text: a.textContent,
      error: msg.querySelector(".error")?.textContent ?? null,
      samples: (clearInterval(window.__answerSampler), window.__answerSamples),
      href: link?.href ?? null,
      requestId: link?.dataset.requestId ?? link?.textContent ?? null,
      session: document.querySelector("#session-label")?.textContent ?? null,
    };
  });
  check(chat.state === "done", `the chat answer ended in state "${chat.state}": ${chat.error ?? "(no error shown)"}`);
  check(chat.text.trim().length > 0, "the chat answer is empty");
  const finalLen = chat.text.length;
  const growing = chat.samples.filter((s) => s.len > 0 && s.len < finalLen);
  const intermediate = [...new Set(growing.map((s) => s.len))];
  check(intermediate.length >= 2,
        `the answer did not appear progressively: ${intermediate.length} intermediate state(s) before its final ` +
        `${finalLen} characters (lengths sampled: ${[...new Set(chat.samples.map((s) => s.len))].join(", ")})`);
  const firstText = chat.samples.find((s) => s.len > 0)?.t;
  const lastGrowth = chat.samples.find((s) => s.len === finalLen)?.t;

  // ---- the request-id link leads to this request's log line ----
  step = "request log";
  check(chat.href && chat.requestId, "no request-id link next to the chat answer");
  check(chat.href === `${origin}/_playground/log/${encodeURIComponent(chat.requestId)}`,
        `the request-id link is ${chat.href}, not ${origin}/_playground/log/${chat.requestId}`);
  // Fetched from the page, as a click would (same origin, no custom
  // headers); the line is written when the stream ends, so allow a moment.
  let log = null;
  for (let i = 0; i < 20; i++) {
    log = await page.evaluate(async (href) => {
      const r = await fetch(href, { cache: "no-store" });
      return { status: r.status, type: r.headers.get("content-type"), text: await r.text() };
    }, chat.href);
    if (log.status !== 404) break;
    await sleep(250);
  }
  check(log.status === 200, `GET ${chat.href} answered ${log.status}: ${log.text.slice(0, 300)}`);
  let line;
  try { line = JSON.parse(log.text); } catch { throw new Failure(`the log line is not JSON: ${log.text.slice(0, 300)}`); }
  // The line itself, or the line wrapped as {"data": line, ...}.
  const logged = line && typeof line.data === "object" && line.data && "request_id" in line.data ? line.data : line;
  check(logged.request_id === chat.requestId,
        `the log line's request_id is ${JSON.stringify(logged.request_id)}, not ${chat.requestId}`);

  // ---- sessions ----
  step = "sessions";
  await page.waitForFunction(() => document.querySelectorAll("#sessions li").length >= 1, { timeout: 10_000 })
    .catch(() => { throw new Failure("#sessions lists no session after a chat"); });
  const sessions = await page.$$eval("#sessions li", (lis) => lis.length);
  await page.screenshot({ path: path.join(SHOTS, "chat.png"), fullPage: true });

  // ---- search ----
  step = "search";
  await page.$eval("#search-input", (i) => { i.value = ""; });
  await page.type("#search-input", QUERY);
  await page.click("#search-send");
  await page.waitForSelector("#search-answer:is([data-state=done],[data-state=error])", { timeout: 30_000 });
  const search = await page.evaluate(() => ({
    state: document.querySelector("#search-answer").dataset.state,
    answer: document.querySelector("#search-answer").textContent,
    sources: document.querySelectorAll("#search-sources .source").length,
    error: document.querySelector("#search-section .error")?.textContent ?? null,
  }));
  check(search.state === "done", `the search failed: ${search.error ?? "(no error shown)"}`);
  check(search.sources >= 1, `the search for "${QUERY}" shows no source (answer: ${search.answer.slice(0, 200)})`);
  const searchSection = await page.$("#search-section");
  await searchSection.scrollIntoView();
  await searchSection.screenshot({ path: path.join(SHOTS, "search.png") });

  // ---- tools ----
  step = "tools";
  await page.waitForFunction(() => document.querySelectorAll("#tools form").length >= 1, { timeout: 10_000 })
    .catch(async () => {
      const shown = await page.$eval("#tools", (t) => t.textContent.slice(0, 300));
      throw new Failure(`#tools has no form: ${shown}`);
    });
  const tools = await page.$$eval("#tools form", (forms) => forms.map((f) => f.dataset.tool));
  const toolsSection = await page.$("#tools-section");
  await toolsSection.scrollIntoView();
  await toolsSection.screenshot({ path: path.join(SHOTS, "tools.png") });

  step = "page health";
  check(pageErrors.length === 0, `the page threw: ${pageErrors.join(" | ")}`);
  check(foreign.length === 0, `the page requested other origins: ${foreign.join(", ")}`);

  return {
    ok: true,
    url: URL_,
    chromium,
    chat: {
      chars: finalLen,
      intermediate_states: intermediate.length,
      samples: chat.samples.length,
      first_to_last_text_ms: firstText != null && lastGrowth != null ? Math.round(lastGrowth - firstText) : null,
      request_id: chat.requestId,
      session: chat.session,
      log_status: logged.status ?? null,
    },
    sessions,
    search: { query: QUERY, sources: search.sources },
    tools,
    screenshots: SHOTS,
    ms: Date.now() - t0,
  };
}

let exitCode = 0;
try {
  const summary = await run();
  console.log(JSON.stringify(summary));
} catch (e) {
  exitCode = 1;
  const what = e instanceof Failure || !process.env.PLAYGROUND_DEBUG ? e?.message ?? String(e) : e.stack;
  console.error(`playground test FAILED at step "${step}": ${what}`);
  // What the page showed then, for whoever reads the failure.
  await page?.screenshot({ path: path.join(SHOTS, "failure.png"), fullPage: true })
    .then(() => console.error(`(the page at that moment: ${path.join(SHOTS, "failure.png")})`), () => {});
} finally {
  try { await browser?.close(); } catch { browser?.process()?.kill("SIGKILL"); }
  clearTimeout(watchdog);
}
process.exit(exitCode);
