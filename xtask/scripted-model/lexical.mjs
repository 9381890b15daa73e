// Lexical text functions shared by the scripted model server (server.mjs) and
// the end-to-end suite's stand-in Workers AI binding
// (xtask/e2e/standin-ai/worker.mjs). TEST AND LOCAL-DEVELOPMENT
// INFRASTRUCTURE: deterministic, derived from the input only, no model. Plain
// ES module with no Node or Workers API (TextEncoder only), so Node imports it
// and wrangler bundles it into the stand-in Worker.
//
//   embed(text, dims = 768)      feature hashing (FNV-1a) of lowercased words
//                                (weight 1) and their character trigrams
//                                (weight 0.25, word padded with '#') into
//                                `dims` signed buckets, L2 normalised. Texts
//                                sharing words have a higher cosine.
//   rerankLogit(query, document) the relevance logit (below);
//   rerankScore(query, document) sigmoid(rerankLogit), in 0..1.
//       Both sides are reduced to content words: lowercased runs of letters
//       and digits, STOPWORDS removed, then stem(): a light suffix stemmer
//       (ies→y; ing / ed — not eed — stripped when a vowel stays before
//       them, a doubled final consonant undone: resetting→reset; es after
//       s, x, z, ch, sh; a final s not after s, u or i), applied only to
//       words long enough to keep a stem of three letters or more.
//         coverage = |distinct query stems found in the document|
//                    / |distinct query stems|        (0 if the query has none)
//         bigrams  = number of adjacent query stem pairs (q[i], q[i+1]) that
//                    are also adjacent in the document's stem sequence
//         logit    = 6 × (coverage + 0.15 × bigrams) − 3
//       so a document with none of the query's words scores ≈ 0.047, half of
//       them 0.5, all of them ≈ 0.953 and more with the phrase intact.
//   ragReply(messages)           {kind: "rewrite"|"grounded", text}: the
//                                scripted reply to the two RAG prompt shapes
//                                (rewriteQuery, groundedAnswer below), or
//                                null for any other conversation.

// ---------------------------------------------------------------- embedder

const utf8 = new TextEncoder();

export function fnv1a(str, seed = 0x811c9dc5) {
  let h = seed >>> 0;
  for (const b of utf8.encode(str)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export const words = (text) => String(text).toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];

export function embed(text, dims = 768) {
  const v = new Float64Array(dims);
  const add = (feature, weight) => {
    const bucket = fnv1a(feature) % dims;
    const sign = fnv1a(feature, 0x9747b28c) & 1 ? 1 : -1;
    v[bucket] += sign * weight;
  };
  const ws = words(text);
  for (const w of ws) {
    add("w:" + w, 1);
    const padded = [..."#" + w + "#"];
    for (let i = 0; i + 3 <= padded.length; i++) add("t:" + padded.slice(i, i + 3).join(""), 0.25);
  }
  if (ws.length === 0) add("<empty>", 1);
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm) || 1;
  return Array.from(v, (x) => x / norm);
}

// ---------------------------------------------------------------- reranker

export const STOPWORDS = new Set(
  ("a about above after again against all am an and any are as at be because been before being below between " +
    "both but by can could did do does doing down during each few for from further had has have having he her " +
    "here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not " +
    "now of off on once only or other our ours ourselves out over own same she should so some such than that the " +
    "their theirs them themselves then there these they this those through to too under until up very was we " +
    "were what when where which while who whom why will with would you your yours yourself yourselves " +
    "please tell know want").split(" "),
);

const VOWEL = /[aeiouy]/;

export function stem(word) {
  let w = word;
  if (w.length > 4 && w.endsWith("ies")) return w.slice(0, -3) + "y";
  for (const suffix of ["ing", "ed"]) {
    if (w.length >= suffix.length + 3 && w.endsWith(suffix) && !w.endsWith("eed") && VOWEL.test(w.slice(0, -suffix.length))) {
      w = w.slice(0, -suffix.length);
      // resetting → resett → reset; but keep "ll", "ss", "zz" (called, passed)
      if (/([b-df-hj-kmnp-rtv-z])\1$/.test(w) && !/(ll|ss|zz)$/.test(w)) w = w.slice(0, -1);
      return w;
    }
  }
  if (w.length >= 5 && /(s|x|z|ch|sh)es$/.test(w)) return w.slice(0, -2);
  if (w.length >= 4 && w.endsWith("s") && !/(ss|us|is)$/.test(w)) return w.slice(0, -1);
  return w;
}

export const contentWords = (text) => words(text).filter((w) => !STOPWORDS.has(w));
export const stems = (text) => contentWords(text).map(stem);

export const sigmoid = (x) => 1 / (1 + Math.exp(-x));

export function rerankLogit(query, document) {
  const q = stems(query);
  const d = stems(document);
  const distinct = [...new Set(q)];
  if (distinct.length === 0) return -3;
  const inDoc = new Set(d);
  const coverage = distinct.filter((s) => inDoc.has(s)).length / distinct.length;
  const docPairs = new Set();
  for (let i = 0; i + 1 < d.length; i++) docPairs.add(d[i] + " " + d[i + 1]);
  let bigrams = 0;
  for (let i = 0; i + 1 < q.length; i++) if (docPairs.has(q[i] + " " + q[i + 1])) bigrams++;
  return 6 * (coverage + 0.15 * bigrams) - 3;
}

export const rerankScore = (query, document) => sigmoid(rerankLogit(query, document));

// Indices of `documents` (strings) by descending score, ties by index; each
// {index, logit, score}.
export function rank(query, documents) {
  return documents
    .map((doc, index) => {
      const logit = rerankLogit(query, doc);
      return { index, logit, score: sigmoid(logit) };
    })
    .sort((a, b) => b.logit - a.logit || a.index - b.index);
}

// ---------------------------------------------------------------- RAG prompt shapes

export const REWRITE_PHRASE = "You rewrite search queries";
export const GROUNDED_PHRASE = "numbered sources";
export const NO_ANSWER = "The sources do not contain the answer.";

const collapse = (s) => String(s).replace(/\s+/g, " ").trim();
const DIRECTIVE = /\[\[scripted:[^\]]*\]\]/g;

export function messageText(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (typeof p === "string" ? p : p && typeof p.text === "string" ? p.text : ""))
      .filter((s) => s !== "")
      .join("\n");
  }
  return "";
}

const FILLER = ["please", "can you", "could you", "tell me", "i want to know"];
const WH = ["what", "why", "when", "where", "who", "which"];
const AUX = ["is", "are", "does", "do", "can"];

// QUERY REWRITE: {rewritten, intent}. `rewritten` is the message lowercased
// with whitespace collapsed, leading filler phrases (FILLER, each optionally
// followed by a comma, repeatedly) and trailing '?' / '.' removed. `intent`:
// "how-to" if it starts with the word "how", "question" if it starts with a
// wh-word (WH) or is/are/does/do/can, or the message ended with '?', else
// "lookup".
export function rewriteQuery(message) {
  const text = collapse(String(message).replace(DIRECTIVE, " ")).toLowerCase();
  const asked = text.endsWith("?");
  let r = text;
  for (let again = true; again; ) {
    again = false;
    for (const f of FILLER) {
      if (r === f || r.startsWith(f + " ") || r.startsWith(f + ",")) {
        r = r.slice(f.length).replace(/^[\s,]+/, "");
        again = true;
      }
    }
  }
  r = collapse(r.replace(/[?.\s]+$/, ""));
  const first = r.split(" ")[0];
  const intent = first === "how" ? "how-to" : WH.includes(first) || AUX.includes(first) || asked ? "question" : "lookup";
  return { rewritten: r, intent };
}

const unescapeXml = (s) =>
  s.replace(/&(quot|apos|lt|gt|#39|amp);/g, (_, e) => ({ quot: '"', apos: "'", lt: "<", gt: ">", "#39": "'", amp: "&" })[e]);

// The <source id="N" title="T">…</source> blocks (attributes in any order,
// XML entities in them decoded) and the text after the last "Question:".
export function parseGrounded(message) {
  const sources = [];
  for (const m of String(message).matchAll(/<source\b([^>]*)>([\s\S]*?)<\/source>/g)) {
    const attrs = {};
    for (const a of m[1].matchAll(/([\w-]+)\s*=\s*"([^"]*)"/g)) attrs[a[1]] = unescapeXml(a[2]);
    sources.push({ id: attrs.id ?? String(sources.length + 1), title: attrs.title ?? "", text: m[2] });
  }
  const q = String(message).lastIndexOf("Question:");
  const question = q < 0 ? "" : collapse(String(message).slice(q + "Question:".length).replace(DIRECTIVE, " "));
  return { sources, question };
}

// The first sentence of a text: whitespace collapsed, up to and including the
// first '.', '!' or '?' followed by a space or the end, at most 200 chars.
export function firstSentence(text) {
  const t = collapse(text);
  const m = /^.*?[.!?](?=\s|$)/.exec(t);
  return [...(m ? m[0] : t)].slice(0, 200).join("").trim();
}

// GROUNDED ANSWER: for each of the first two sources "<first sentence> [N]",
// joined by a space (NO_ANSWER when there is none); then "\nFollow-up
// questions:"; then, with a source, "\n- What else does T1 say about W?" (W:
// the question's first content word, "this" if none) and, with two sources,
// "\n- How does T1 relate to T2?".
export function groundedAnswer(message) {
  const { sources, question } = parseGrounded(message);
  const used = sources.slice(0, 2);
  const answer = used.length
    ? used.map((s) => `${firstSentence(s.text)} [${s.id}]`.trim()).join(" ")
    : NO_ANSWER;
  const lines = [answer, "Follow-up questions:"];
  if (used.length >= 1) lines.push(`- What else does ${used[0].title} say about ${contentWords(question)[0] ?? "this"}?`);
  if (used.length >= 2) lines.push(`- How does ${used[0].title} relate to ${used[1].title}?`);
  return lines.join("\n");
}

// The scripted reply for the RAG prompt shapes, {kind, text}, or null.
// `messages` are OpenAI / Workers AI chat messages ({role, content}): a first
// message that is a system message containing REWRITE_PHRASE makes a query
// rewrite of the last user message; any system message containing
// GROUNDED_PHRASE a grounded answer to it.
export function ragReply(messages) {
  if (!Array.isArray(messages)) return null;
  const ms = messages.filter((m) => m && typeof m === "object");
  const users = ms.filter((m) => m.role === "user");
  const lastUser = users.length ? messageText(users[users.length - 1].content) : "";
  const first = ms[0];
  if (first && first.role === "system" && messageText(first.content).includes(REWRITE_PHRASE)) {
    return { kind: "rewrite", text: JSON.stringify(rewriteQuery(lastUser)) };
  }
  if (ms.some((m) => m.role === "system" && messageText(m.content).includes(GROUNDED_PHRASE))) {
    return { kind: "grounded", text: groundedAnswer(lastUser) };
  }
  return null;
}

// A reply cut into stream tokens: each whitespace-free run with the
// whitespace after it, so the tokens concatenate to the exact text (newlines
// included).
export const tokenize = (text) => String(text).match(/\S+\s*/g) ?? [];
