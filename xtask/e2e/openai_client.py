"""The official `openai` Python package against a tenant's Worker, unchanged:
base URL = the Worker's /v1, API key = a key the Worker issued, the tenant
named with `x-tenant-id` (its development environment honours the header).
Prints one JSON line: {whole, streamed, chunks, bad_model_status,
tool_names, tool_answer}. Test client only."""
import json
import os

import openai

client = openai.OpenAI(
    base_url=os.environ["OPENAI_BASE_URL"],
    api_key=os.environ["OPENAI_API_KEY"],
    default_headers={"x-tenant-id": os.environ["TENANT_ID"]},
    max_retries=0,
    timeout=20.0,
)
messages = [{"role": "user", "content": "Say hi"}]
whole = client.chat.completions.create(model="default", messages=messages)
streamed, chunks, usage = "", 0, None
for chunk in client.chat.completions.create(
    model="default", messages=messages, stream=True, stream_options={"include_usage": True}
):
    chunks += 1
    if chunk.choices and chunk.choices[0].delta.content:
        streamed += chunk.choices[0].delta.content
    if chunk.usage:
        usage = chunk.usage.total_tokens
# A tool call the Worker runs (tag-and-chunk, which a plain user may use):
# the SDK sees the call in the stream, then the answer.
tool_names, tool_answer = [], ""
for chunk in client.chat.completions.create(
    model="default",
    messages=[{"role": "user", "content": 'call tag-and-chunk with {"text": "Kestrel billing. Kestrel invoices."}'}],
    stream=True,
):
    if chunk.choices:
        delta = chunk.choices[0].delta
        for tc in delta.tool_calls or []:
            if tc.function and tc.function.name:
                tool_names.append(tc.function.name)
        tool_answer += delta.content or ""
bad_model_status = None
try:
    client.chat.completions.create(model="gpt-4o", messages=messages)
except openai.APIStatusError as e:
    bad_model_status = e.status_code
print(
    json.dumps(
        {
            "whole": whole.choices[0].message.content,
            "whole_model": whole.model,
            "streamed": streamed,
            "chunks": chunks,
            "usage": usage,
            "bad_model_status": bad_model_status,
            "tool_names": tool_names,
            "tool_answer": tool_answer,
        }
    )
)
