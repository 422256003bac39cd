"""The litellm SDK as a client: completion(model="openai/<model>", api_base=<gateway>/v1) plain, streamed, tools."""

from __future__ import annotations

import json

from _common import args, emit, weather

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def main() -> None:
    a = args()
    import litellm

    litellm.telemetry = False
    kw = {"model": f"openai/{a['model']}", "api_base": a["base_url"], "api_key": a["key"], "timeout": 30,
          "num_retries": 0}
    hello = [{"role": "user", "content": "Say hello"}]
    out: dict = {}
    out["plain"] = litellm.completion(messages=hello, **kw).choices[0].message.content
    out["stream"] = [c.choices[0].delta.content for c in litellm.completion(messages=hello, stream=True, **kw)
                     if c.choices and c.choices[0].delta.content]
    for stream in (False, True):
        messages: list = [{"role": "user", "content": "What is the weather in Paris?"}]
        if stream:
            chunks = list(litellm.completion(messages=messages, tools=TOOLS, stream=True, **kw))
            first = litellm.stream_chunk_builder(chunks, messages=messages).choices[0].message
        else:
            first = litellm.completion(messages=messages, tools=TOOLS, **kw).choices[0].message
        calls = first.tool_calls or []
        messages.append(first.model_dump() if hasattr(first, "model_dump") else dict(first))
        for call in calls:
            messages.append({"role": "tool", "tool_call_id": call.id,
                             "content": weather(**json.loads(call.function.arguments))})
        final = litellm.completion(messages=messages, tools=TOOLS, **kw).choices[0].message.content
        out["tools_stream" if stream else "tools"] = {
            "tool_calls": [{"name": c.function.name, "args": json.loads(c.function.arguments), "id": c.id}
                           for c in calls], "final": final}
    emit(out)


if __name__ == "__main__":
    main()
