"""The openai SDK against Anthropic-backed models: translation both ways, streaming, tools, images, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import openai
import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic, error_body, event, message, text_stream, tool_stream
from tests.fakes.gateway import GatewayServer
from tests.fakes.multi import ANTHROPIC_KEY, CLAUDE, Accounting, Fakes, _clean_fakes, client, fakes, last_json, multi  # noqa: F401
from tests.fakes.openai_upstream import Script

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]

Client = Callable[..., openai.OpenAI]


def test_plain_chat_is_translated_both_ways(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    acc = Accounting(multi)
    r = client(multi).chat.completions.create(
        model="sonnet", max_tokens=100, stop=["END"], temperature=0.2,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "Hello from the fake Anthropic upstream."
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None and (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (12, 8, 20)
    rec = fakes.anthropic.requests("/v1/messages")[-1]
    assert rec.headers["x-api-key"] == ANTHROPIC_KEY and rec.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in {k.lower() for k in rec.headers}
    assert rec.headers["Accept-Encoding"] == "identity"  # bodies are translated, so never compressed
    sent = rec.json()
    assert sent == {"model": CLAUDE, "max_tokens": 100, "system": "Be brief.", "stop_sequences": ["END"],
                    "temperature": 0.2, "messages": [{"role": "user", "content": "hi"}]}
    assert acc.delta("claude") == (12, 8)


def test_default_max_tokens_and_no_private_fields(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    client(multi).chat.completions.create(model=CLAUDE, messages=[{"role": "user", "content": "hi"}])
    sent = last_json(fakes.anthropic)
    assert sent["max_tokens"] == 4096 and "_crabllm" not in sent and "stream" not in sent


def test_streaming_text_and_usage(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    fakes.anthropic.script("/v1/messages", Script(chunks=text_stream(CLAUDE, ["Hel", "lo", "!"], (21, 3), cache=(5, 2))))
    acc = Accounting(multi)
    chunks = list(client(multi).chat.completions.create(
        model=CLAUDE, messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello!"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    usage = chunks[-1].usage
    # Anthropic's input_tokens exclude cache reads/writes; the OpenAI prompt count includes them.
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (28, 3)
    assert last_json(fakes.anthropic)["stream"] is True
    assert acc.delta("claude") == (28, 3)


def test_stream_without_include_usage_still_accounts(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    acc = Accounting(multi)
    chunks = list(client(multi).chat.completions.create(model=CLAUDE, messages=[{"role": "user", "content": "hi"}], stream=True))
    assert all(c.usage is None for c in chunks)
    assert acc.delta("claude") == (12, 8)


def test_tool_calls_round_trip(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    fakes.anthropic.default_reply = {
        **message(CLAUDE), "stop_reason": "tool_use",
        "content": [{"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}]}
    messages = [{"role": "user", "content": "weather?"}]
    r = client(multi).chat.completions.create(model=CLAUDE, messages=messages, tools=TOOLS, tool_choice="required")
    msg = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls" and msg.content == "Checking."
    call = msg.tool_calls[0]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == ("toolu_01", "get_weather", {"city": "Paris"})
    sent = last_json(fakes.anthropic)
    assert sent["tools"] == [{"name": "get_weather", "description": "Weather for a city",
                              "input_schema": TOOLS[0]["function"]["parameters"]}]
    assert sent["tool_choice"] == {"type": "any"}
    # Second turn: the tool result goes back as a tool_result block.
    follow = messages + [msg.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": "toolu_01", "content": "18C"}]
    fakes.anthropic.default_reply = None
    client(multi).chat.completions.create(model=CLAUDE, messages=follow, tools=TOOLS)
    turns = last_json(fakes.anthropic)["messages"]
    assert turns[1]["content"][-1] == {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}
    assert turns[2] == {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"}]}


def test_streamed_tool_call(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    fakes.anthropic.script("/v1/messages", Script(chunks=tool_stream(CLAUDE, "toolu_9", "get_weather", ['{"ci', 'ty": "Oslo"}'])))
    chunks = list(client(multi).chat.completions.create(
        model=CLAUDE, messages=[{"role": "user", "content": "w?"}], tools=TOOLS, stream=True))
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].id == "toolu_9" and calls[0].function.name == "get_weather" and calls[0].index == 0
    assert json.loads("".join(tc.function.arguments or "" for tc in calls)) == {"city": "Oslo"}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Let me check."
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_images_in_input(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
               {"type": "image_url", "image_url": {"url": "https://example.com/crab.jpg"}}]
    client(multi).chat.completions.create(model=CLAUDE, messages=[{"role": "user", "content": content}])
    blocks = last_json(fakes.anthropic)["messages"][0]["content"]
    assert blocks == [{"type": "text", "text": "What is this?"},
                      {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                      {"type": "image", "source": {"type": "url", "url": "https://example.com/crab.jpg"}}]


@pytest.mark.parametrize("status, kind, exc", [
    (400, "invalid_request_error", openai.BadRequestError),
    (401, "authentication_error", openai.AuthenticationError),
    (403, "permission_error", openai.PermissionDeniedError),
    (429, "rate_limit_error", openai.RateLimitError),
    (529, "overloaded_error", openai.InternalServerError),
])
def test_upstream_errors_map_to_sdk_exceptions(multi: GatewayServer, fakes: Fakes, status: int, kind: str,
                                                exc: type[Exception], client: Client) -> None:
    fakes.anthropic.script("/v1/messages", Script(status=status, body=error_body(kind, f"upstream says {kind}")))
    with pytest.raises(exc) as info:
        client(multi).chat.completions.create(model=CLAUDE, messages=[{"role": "user", "content": "hi"}])
    err = info.value
    assert err.status_code == status  # type: ignore[attr-defined]
    assert err.body["message"] == f"upstream says {kind}" and err.body["type"] == kind  # type: ignore[attr-defined,index]


def test_mid_stream_error_event_is_reported_in_band(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    chunks = text_stream(CLAUDE, ["partial"])[:4] + [event("error", {"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}})]
    fakes.anthropic.script("/v1/messages", Script(chunks=chunks))
    got = []
    with pytest.raises(openai.APIError, match="Overloaded"):
        for c in client(multi).chat.completions.create(model=CLAUDE, messages=[{"role": "user", "content": "hi"}], stream=True):
            got.append(c)
    assert "".join(c.choices[0].delta.content or "" for c in got if c.choices) == "partial"


def test_embeddings_on_anthropic_is_a_clear_400(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    with pytest.raises(openai.BadRequestError, match="does not support /v1/embeddings") as info:
        client(multi).embeddings.create(model=CLAUDE, input="hi")
    assert info.value.code == "unsupported_operation"
    assert info.value.response.headers.get("x-should-retry") == "false"
    assert fakes.anthropic.requests() == []


def test_oauth_token_uses_bearer_and_beta(make_gateway: Callable[[str], GatewayServer], client: Client) -> None:
    fake = FakeAnthropic().start()
    try:
        gw = make_gateway(f'''
[providers.claude]
kind = "anthropic"
api_key = "sk-ant-oat01-abc"
api_version = "2023-01-01"
base_url = "{fake.base_url}/v1/messages"
models = ["c"]
''')
        r = client(gw, "x").chat.completions.create(
            model="c", messages=[{"role": "user", "content": "hi"}])
        assert r.choices[0].message.content
        rec = fake.requests()[-1]
        assert rec.path == "/v1/messages"  # a pasted endpoint URL is accepted as base_url
        headers = {k.lower(): v for k, v in rec.headers.items()}
        assert headers["authorization"] == "Bearer sk-ant-oat01-abc" and "x-api-key" not in headers
        assert headers["anthropic-beta"] == "oauth-2025-04-20" and headers["anthropic-version"] == "2023-01-01"
    finally:
        fake.stop()


def test_base_url_with_prefix_is_honoured(tmp_path: Path, make_gateway: Callable[[str], GatewayServer], client: Client) -> None:
    fake = FakeAnthropic().start()
    try:
        gw = make_gateway(f'[providers.c]\nkind = "anthropic"\napi_key = "k"\nbase_url = "{fake.base_url}/proxy/anthropic"\nmodels = ["c"]\n')
        client(gw, "x").chat.completions.create(
            model="c", messages=[{"role": "user", "content": "hi"}])
        assert fake.requests()[-1].path == "/proxy/anthropic/v1/messages"
    finally:
        fake.stop()


def test_embeddings_skip_an_incapable_deployment(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    # claude-mixed: Anthropic first (weight 1), then OpenAI (weight 0) — embeddings go to the one that can.
    r = client(multi).embeddings.with_raw_response.create(model="claude-mixed", input="hi")
    assert r.headers["x-crabllm-provider"] == "oai" and len(r.parse().data) == 1
    assert fakes.anthropic.requests() == []


@pytest.mark.parametrize("body", [b"<html>oops</html>", b'{"content": "x", "usage": "weird"}', b"[1, 2]"])
def test_unexpected_2xx_bodies_are_502_not_500(multi: GatewayServer, fakes: Fakes, client: Client, body: bytes) -> None:
    fakes.anthropic.script("/v1/messages", Script(body=body))
    with pytest.raises(openai.InternalServerError) as info:
        client(multi).chat.completions.create(model=CLAUDE, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 502 and info.value.code == "bad_upstream_response"


def test_private_fields_cannot_change_the_upstream_model(multi: GatewayServer, fakes: Fakes, client: Client) -> None:
    client(multi).chat.completions.create(model=CLAUDE, messages=[{"role": "user", "content": "hi"}],
                                          extra_body={"_crabllm": {"anthropic": {"model": "claude-opus-secret"}}})
    assert last_json(fakes.anthropic)["model"] == CLAUDE
