"""The official openai SDK pointed at the gateway: chat, streaming, tools, embeddings, models, errors."""

from __future__ import annotations

import json

import openai
import pytest

from tests.conftest import KEY, OTHER_KEY
from tests.fakes.openai_upstream import FakeOpenAI, Script, sse, stream_chunks


def client(gw, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def test_chat_sync(gateway) -> None:
    r = client(gateway).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "Hello from the fake upstream."
    assert r.usage is not None and r.usage.total_tokens == 18


async def test_chat_async(gateway) -> None:
    c = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0)
    r = await c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].finish_reason == "stop"
    await c.close()


def test_streaming_with_usage(gateway) -> None:
    stream = client(gateway).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake upstream."
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 11


async def test_async_streaming(gateway) -> None:
    c = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0)
    stream = await c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True)
    pieces = [ch.choices[0].delta.content async for ch in stream if ch.choices and ch.choices[0].delta.content]
    assert len(pieces) == 5
    await c.close()


def test_tool_calls(gateway, upstream: FakeOpenAI) -> None:
    upstream.default_reply = {
        "id": "x", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    r = client(gateway).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "weather?"}], tools=tools, tool_choice="auto")
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    sent = upstream.requests()[0].json()
    assert sent["tools"] == tools and sent["tool_choice"] == "auto"


def test_streamed_tool_calls(gateway, upstream: FakeOpenAI) -> None:
    head = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}
    chunks = [
        sse({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [{"index": 0, "id": "call_9", "type": "function", "function": {"name": "f", "arguments": ""}}]}}]}),
        sse({**head, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":"}}]}}]}),
        sse({**head, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}}]}),
        sse({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        b"data: [DONE]\n\n",
    ]
    upstream.script("/v1/chat/completions", Script(chunks=chunks))
    out = list(client(gateway).chat.completions.create(model="gpt-4o", messages=[], stream=True))
    args = "".join(c.choices[0].delta.tool_calls[0].function.arguments or "" for c in out if c.choices and c.choices[0].delta.tool_calls)
    assert json.loads(args) == {"a": 1}
    assert out[-1].choices[0].finish_reason == "tool_calls"


def test_embeddings(gateway) -> None:
    r = client(gateway).embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(r.data) == 2 and r.usage.prompt_tokens == 5


def test_models_list(gateway) -> None:
    ids = sorted(m.id for m in client(gateway).models.list())
    assert ids == ["gpt-4o", "text-embedding-3-small"]


def test_sdk_error_classes(gateway, upstream: FakeOpenAI) -> None:
    with pytest.raises(openai.AuthenticationError):
        client(gateway, "sk-nope-nope").chat.completions.create(model="gpt-4o", messages=[])
    with pytest.raises(openai.PermissionDeniedError):
        client(gateway, OTHER_KEY).embeddings.create(model="text-embedding-3-small", input="x")
    with pytest.raises(openai.NotFoundError):
        client(gateway).chat.completions.create(model="no-such-model", messages=[])
    upstream.script("/v1/chat/completions", *[Script(status=429, body=b'{"error":{"message":"slow down","type":"rate_limit_error"}}')] * 3)
    with pytest.raises(openai.RateLimitError) as err:
        client(gateway).chat.completions.create(model="gpt-4o", messages=[])
    assert err.value.response.headers["x-should-retry"] == "false"


def test_sdk_retries_do_not_multiply_ours(gateway, upstream: FakeOpenAI) -> None:
    upstream.script("/v1/chat/completions", *[Script(status=503)] * 20)
    c = openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=3)
    with pytest.raises(openai.InternalServerError):
        c.chat.completions.create(model="gpt-4o", messages=[])
    assert len(upstream.requests()) == 3  # our 1 + 2 retries; the SDK honours x-should-retry: false


def test_mock_provider_through_sdk(make_gateway) -> None:
    gw = make_gateway(f'[providers.m]\nkind = "mock"\nmodels = ["mock-gpt"]\nmock_chunks = 3\n[[keys]]\nname = "k"\nkey = "{KEY}"\n')
    c = client(gw)
    r = c.chat.completions.create(model="mock-gpt", messages=[{"role": "user", "content": "echo these four words"}])
    assert r.choices[0].message.content == "echo these four words"
    assert r.usage.prompt_tokens == 4 and r.usage.completion_tokens == 4
    chunks = list(c.chat.completions.create(model="mock-gpt", messages=[{"role": "user", "content": "a b c d e f"}],
                                            stream=True, stream_options={"include_usage": True}))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == "a b c d e f"
    assert len([ch for ch in chunks if ch.choices and ch.choices[0].delta.content]) == 3
    assert chunks[-1].usage.total_tokens == 12
