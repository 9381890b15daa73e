// The "model that obeys every instruction it reads": tool calling for the
// scripted model server (server.mjs, OpenAI shape) and the e2e suite's
// stand-in Workers AI binding (xtask/e2e/standin-ai/worker.mjs, Workers AI's
// native shape). TEST AND LOCAL-DEVELOPMENT INFRASTRUCTURE: deterministic,
// derived from the request only, no model. It exists so that the Worker's
// guards against prompt injection (tools it did not offer, tool calls smuggled
// into user text or tool results, runaway tool loops) can be tested. Plain ES
// module with no import and no Node or Workers API, so Node imports it and
// wrangler bundles it into the stand-in Worker.
//
//   toolNames(tools)              the names of the offered tools, both shapes:
//                                 OpenAI {type: "function", function: {name,
//                                 description, parameters}} and Workers AI's
//                                 legacy {name, description, parameters}.
//   latestTurn(messages)          every message after the last `assistant`
//                                 message, any role except assistant (all of
//                                 them when there is no assistant message:
//                                 system, user and tool messages alike).
//   findInstructions(text, max=4) the tool calls the text asks for, in text
//                                 order, at most `max`: [{name, arguments}]
//                                 with `arguments` always a plain object.
//   toolCallId(seed)              "call_" + 9 deterministic [a-z0-9] chars.
//   hasRepeatTools(messages)      a user message holds [[scripted:repeat-tools]].
//   previousToolCalls(messages)   the tool calls of the last assistant
//                                 message, normalised to [{name, arguments}]
//                                 (OpenAI {function: {name, arguments:
//                                 "<JSON>"}} or Workers AI {name, arguments}).
//   planToolTurn(messages, tools) what the obeying model does, or null when
//                                 `tools` is empty / not an array or it has
//                                 nothing to do (the caller then answers as
//                                 it would without tools):
//                                   {kind: "tool-calls", calls: [{name,
//                                    arguments}], repeated: bool}
//                                   {kind: "tool-results", text}
//
// Instructions, read in the latest turn's text (its messages' texts joined by
// "\n", [[scripted:...]] directives removed; its first 200,000 characters),
// left to right, at most 4:
//   (a) `call <name>` or `call the <name> tool`, case-insensitive, "call" not
//       preceded by a letter, digit or '_' ("recall x" is no instruction).
//       <name> = [\p{L}\p{N}_][\p{L}\p{N}_.-]* (Unicode letters too, so
//       look-alike names come through verbatim); trailing '.' and '-' are
//       sentence punctuation and dropped. Optionally followed by ` with ` and
//       a JSON object: the balanced {...} (braces inside strings ignored) is
//       parsed; if it does not parse, or there is none, arguments = {}.
//   (b) fake tool-call JSON anywhere in the text (so also inside
//       <tool_call>...</tool_call>): any balanced {...} (≤ 20,000
//       characters) that parses as JSON
//       and is, or holds, a call: an object with a string "name" and an
//       "arguments" (an object, or a string holding a JSON object; anything
//       else becomes {}), the same under a "function" key (OpenAI's
//       {"type":"function","function":{...}}), or {"tool_calls": [...]} whose
//       entries are either. An object that parses but holds no call is
//       searched again from its second character, so calls nested deeper
//       and `call x` phrases inside it still count.
// The names are emitted whether or not they are among the offered tools: the
// model obeys blindly and the Worker must refuse. A Worker system prompt that
// itself says "call <x>" is read too when no assistant message precedes it.
//
// planToolTurn, in order of precedence:
//   1. the conversation has [[scripted:repeat-tools]] in a user message, the
//      latest turn holds `tool` messages and the last assistant message had
//      tool calls: those same calls again (same names and arguments,
//      repeated: true), whatever the results say: a model stuck in a tool
//      loop, for the Worker's per-request step limit;
//   2. instructions found in the latest turn: those calls;
//   3. the latest turn holds `tool` messages: the text "Tool results: " +
//      each tool message's content (whitespace collapsed, first 200
//      characters, "(empty)" when blank) joined by " | ";
//   4. otherwise null.

const MAX_CALLS = 4;
const MAX_TEXT = 200_000; // characters of the latest turn read
const MAX_OBJECT = 20_000; // characters of one {...} object read
const MAX_ATTEMPTS = 2_000; // {...} objects tried per text
const DIRECTIVE = /\[\[scripted:([^\]]*)\]\]/g;

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

export function contentText(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (typeof p === "string" ? p : p && typeof p.text === "string" ? p.text : ""))
      .filter((s) => s !== "")
      .join("\n");
  }
  if (content === null || content === undefined) return "";
  try {
    return JSON.stringify(content);
  } catch {
    return String(content);
  }
}

export function toolNames(tools) {
  if (!Array.isArray(tools)) return [];
  return tools
    .map((t) => (isObject(t) ? (isObject(t.function) ? t.function.name : t.name) : undefined))
    .filter((n) => typeof n === "string");
}

export function latestTurn(messages) {
  const ms = Array.isArray(messages) ? messages.filter(isObject) : [];
  let last = -1;
  ms.forEach((m, i) => {
    if (m.role === "assistant") last = i;
  });
  return ms.slice(last + 1).filter((m) => m.role !== "assistant");
}

// The index just after the `}` closing the object opened at text[start], or
// -1 when it is not closed within `limit` characters. Braces inside JSON
// strings do not count.
export function balancedEnd(text, start, limit = Infinity) {
  let depth = 0;
  let inString = false;
  const stop = Math.min(text.length, start + limit);
  for (let i = start; i < stop; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{") depth++;
    else if (c === "}") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

function parseJson(s) {
  try {
    return { ok: true, value: JSON.parse(s) };
  } catch {
    return { ok: false };
  }
}

export function normaliseArguments(a) {
  if (isObject(a)) return a;
  if (typeof a === "string") {
    const p = parseJson(a);
    if (p.ok && isObject(p.value)) return p.value;
  }
  return {};
}

// The calls a parsed JSON value is or holds (see (b) above).
function callsIn(v) {
  if (!isObject(v)) return [];
  const one = (o) =>
    isObject(o) && typeof o.name === "string" && o.name !== "" && "arguments" in o
      ? [{ name: o.name, arguments: normaliseArguments(o.arguments) }]
      : [];
  const direct = one(v);
  if (direct.length) return direct;
  const fn = one(v.function);
  if (fn.length) return fn;
  if (Array.isArray(v.tool_calls)) {
    return v.tool_calls.flatMap((c) => {
      const d = one(c);
      return d.length ? d : isObject(c) ? one(c.function) : [];
    });
  }
  return [];
}

const CALL = /(?<![\p{L}\p{N}_])call\s+(?:the\s+(?=[\p{L}\p{N}_]))?([\p{L}\p{N}_][\p{L}\p{N}_.-]*)(?:\s+tool(?![\p{L}\p{N}_]))?/giu;

export function findInstructions(text, max = MAX_CALLS) {
  const t = String(text).slice(0, MAX_TEXT);
  const calls = [];
  let pos = 0;
  let m; // the next `call` match at or after pos (cached: the scan stays linear)
  let attempts = 0; // objects tried (bounded: unclosed braces cost MAX_OBJECT each)
  while (pos < t.length && calls.length < max) {
    if (m === undefined || (m && m.index < pos)) {
      CALL.lastIndex = pos;
      m = CALL.exec(t);
    }
    const brace = attempts < MAX_ATTEMPTS ? t.indexOf("{", pos) : -1;
    const callAt = m ? m.index : Infinity;
    const braceAt = brace < 0 ? Infinity : brace;
    if (callAt === Infinity && braceAt === Infinity) break;
    if (braceAt < callAt) {
      attempts++;
      const end = balancedEnd(t, braceAt, MAX_OBJECT);
      const parsed = end < 0 ? { ok: false } : parseJson(t.slice(braceAt, end));
      const found = parsed.ok ? callsIn(parsed.value) : [];
      if (found.length) {
        calls.push(...found.slice(0, max - calls.length));
        pos = end;
      } else pos = braceAt + 1;
      continue;
    }
    const name = m[1].replace(/[.-]+$/, "");
    pos = m.index + m[0].length;
    if (name === "") continue;
    let args = {};
    const w = /^\s+with\s+(?=\{)/iu.exec(t.slice(pos, pos + 64));
    if (w) {
      const open = pos + w[0].length;
      const end = balancedEnd(t, open, MAX_OBJECT);
      if (end > 0) {
        const parsed = parseJson(t.slice(open, end));
        if (parsed.ok && isObject(parsed.value)) args = parsed.value;
        pos = end;
      }
    }
    calls.push({ name, arguments: args });
  }
  return calls;
}

// FNV-1a over the UTF-16 code units (deterministic, no TextEncoder needed).
function fnv(s, seed) {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function toolCallId(seed) {
  const s = String(seed);
  const a = fnv(s, 0x811c9dc5).toString(36).padStart(7, "0").slice(-5);
  const b = fnv(s, 0x9747b28c).toString(36).padStart(7, "0").slice(-4);
  return `call_${a}${b}`;
}

export function hasRepeatTools(messages) {
  if (!Array.isArray(messages)) return false;
  return messages.some(
    (m) =>
      isObject(m) &&
      m.role === "user" &&
      [...contentText(m.content).matchAll(DIRECTIVE)].some((d) =>
        d[1].split(",").some((p) => p.trim().toLowerCase() === "repeat-tools"),
      ),
  );
}

export function previousToolCalls(messages) {
  const ms = Array.isArray(messages) ? messages.filter(isObject) : [];
  const last = ms.filter((m) => m.role === "assistant").pop();
  if (!last || !Array.isArray(last.tool_calls)) return [];
  return last.tool_calls
    .map((c) => {
      if (!isObject(c)) return null;
      const f = isObject(c.function) ? c.function : c;
      return typeof f.name === "string" ? { name: f.name, arguments: normaliseArguments(f.arguments) } : null;
    })
    .filter(Boolean);
}

const collapse = (s) => String(s).replace(/\s+/g, " ").trim();

export function toolResultsText(toolMessages) {
  return (
    "Tool results: " +
    toolMessages.map((m) => [...collapse(contentText(m.content))].slice(0, 200).join("").trim() || "(empty)").join(" | ")
  );
}

export function planToolTurn(messages, tools) {
  if (!Array.isArray(tools) || tools.length === 0) return null;
  const turn = latestTurn(messages);
  const results = turn.filter((m) => m.role === "tool");
  if (results.length && hasRepeatTools(messages)) {
    const calls = previousToolCalls(messages).slice(0, MAX_CALLS);
    if (calls.length) return { kind: "tool-calls", calls, repeated: true };
  }
  const text = turn.map((m) => contentText(m.content).replace(DIRECTIVE, " ")).join("\n");
  const calls = findInstructions(text, MAX_CALLS);
  if (calls.length) return { kind: "tool-calls", calls, repeated: false };
  if (results.length) return { kind: "tool-results", text: toolResultsText(results) };
  return null;
}
