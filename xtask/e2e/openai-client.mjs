// The official `openai` npm package against a tenant's Worker, unchanged:
// base URL = the Worker's /v1, API key = a key the Worker issued. The
// tenant is named with `x-tenant-id` (its development environment honours
// the header), since the SDK talks to 127.0.0.1. Prints one JSON line:
// {whole, streamed, chunks, bad_model_status, tool_names, tool_answer}.
// Test client only.
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: process.env.OPENAI_BASE_URL,
  apiKey: process.env.OPENAI_API_KEY,
  defaultHeaders: { "x-tenant-id": process.env.TENANT_ID },
  maxRetries: 0,
  timeout: 20000,
});
const messages = [{ role: "user", content: "Say hi" }];

const whole = await client.chat.completions.create({ model: "default", messages });
let streamed = "";
let chunks = 0;
let usage = null;
const stream = await client.chat.completions.create({
  model: "default",
  messages,
  stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  chunks += 1;
  streamed += chunk.choices[0]?.delta?.content ?? "";
  if (chunk.usage) usage = chunk.usage;
}
// A tool call the Worker runs (tag-and-chunk, which a plain user may
// use): the SDK sees the call in the stream, then the answer.
const toolNames = [];
let toolAnswer = "";
const toolStream = await client.chat.completions.create({
  model: "default",
  messages: [{ role: "user", content: 'call tag-and-chunk with {"text": "Kestrel billing. Kestrel invoices."}' }],
  stream: true,
});
for await (const chunk of toolStream) {
  for (const tc of chunk.choices[0]?.delta?.tool_calls ?? []) {
    if (tc.function?.name) toolNames.push(tc.function.name);
  }
  toolAnswer += chunk.choices[0]?.delta?.content ?? "";
}
let badModelStatus = null;
try {
  await client.chat.completions.create({ model: "gpt-4o", messages });
} catch (e) {
  badModelStatus = e.status ?? null;
}
process.stdout.write(
  JSON.stringify({
    whole: whole.choices[0].message.content,
    whole_model: whole.model,
    streamed,
    chunks,
    usage,
    bad_model_status: badModelStatus,
    tool_names: toolNames,
    tool_answer: toolAnswer,
  }) + "\n",
);
