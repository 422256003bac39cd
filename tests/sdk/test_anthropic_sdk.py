"""The official anthropic SDK against /v1/messages: pass-through to Anthropic, and translated via OpenAI."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import anthropic
import httpx
import pytest

from tests.conftest import KEY
from tests.fakes.anthropic_upstream import error_body, message, text_stream, tool_stream
from tests.fakes.gateway import GatewayServer
from tests.fakes.multi import ANTHROPIC_KEY, CLAUDE, Accounting, Fakes, _clean_fakes, fakes, last_json, multi  # noqa: F401
from tests.fakes.openai_upstream import Script, chat_reply, sse

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGN4EaUFAAOaAW33Ok6LAAAAAElFTkSuQmCC"
TOOL = {"name": "get_weather", "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
# (model the client asks for, provider name, the fake that answers, the usage that fake reports)
MakeClient = Callable[..., anthropic.Anthropic]
UPSTREAMS = {"anthropic": ("sonnet", "claude", (12, 8)), "openai": ("gpt-4o", "oai", (11, 7))}


@pytest.fixture
def opened() -> Iterator[list[anthropic.Anthropic]]:
    clients: list[anthropic.Anthropic] = []
    yield clients
    for c in clients:
        c.close()  # an SDK client left to the garbage collector leaks its keep-alive socket


@pytest.fixture
def client(opened: list[anthropic.Anthropic]) -> MakeClient:
    def make(gw: GatewayServer, **kw: object) -> anthropic.Anthropic:
        kw.setdefault("api_key", KEY)
        c = anthropic.Anthropic(base_url=gw.url, max_retries=0, **kw)  # type: ignore[arg-type]
        opened.append(c)
        return c
    return make


def fake_of(fakes: Fakes, kind: str):  # noqa: ANN201
    return fakes.anthropic if kind == "anthropic" else fakes.openai


@pytest.mark.parametrize("kind", UPSTREAMS)
def test_plain_message(multi: GatewayServer, fakes: Fakes, kind: str, client: MakeClient) -> None:
    model, provider, usage = UPSTREAMS[kind]
    acc = Accounting(multi)
    msg = client(multi).messages.create(model=model, max_tokens=100, system="Be brief.",
                                        messages=[{"role": "user", "content": "hi"}])
    assert msg.type == "message" and msg.role == "assistant" and msg.stop_reason == "end_turn"
    assert msg.content[0].type == "text" and msg.content[0].text.startswith("Hello from the fake")
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == usage
    rec = fake_of(fakes, kind).requests()[-1]
    if kind == "anthropic":
        # Pass-through: the client's bytes, only the alias rewritten; the upstream's own key.
        assert rec.path == "/v1/messages" and rec.json() == {
            "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], "model": CLAUDE, "system": "Be brief."}
        assert rec.headers["x-api-key"] == ANTHROPIC_KEY  # the upstream's key, never the client's
        # The client's API version is forwarded: it knows which version its bytes speak.
        assert rec.headers["anthropic-version"] == client(multi).default_headers["anthropic-version"]
    else:
        assert rec.path == "/v1/chat/completions"
        sent = rec.json()
        assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
        assert sent["max_tokens"] == 100 and sent["model"] == "gpt-4o" and "_crabllm" not in sent
    assert acc.delta(provider) == usage


@pytest.mark.parametrize("kind", UPSTREAMS)
def test_stream_helpers(multi: GatewayServer, fakes: Fakes, kind: str, client: MakeClient) -> None:
    model, provider, usage = UPSTREAMS[kind]
    acc = Accounting(multi)
    with client(multi).messages.stream(model=model, max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    expected = "Hello from Claude." if kind == "anthropic" else "Hello from the fake upstream."
    assert text == expected and final.content[0].text == expected  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == usage
    assert acc.delta(provider) == usage


def test_translated_stream_is_a_correct_event_sequence(multi: GatewayServer) -> None:
    body = {"model": "gpt-4o", "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=multi.url, timeout=10) as c:
        r = c.post("/v1/messages", json=body, headers={"x-api-key": KEY})
    assert r.headers["content-type"] == "text/event-stream"
    names = [line[7:] for line in r.text.splitlines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-4:] == ["content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    delta = [json.loads(line[6:]) for line in r.text.splitlines() if '"message_delta"' in line][0]
    assert delta["delta"]["stop_reason"] == "end_turn" and delta["usage"]["output_tokens"] == 7
    assert "[DONE]" not in r.text


@pytest.mark.parametrize("kind", UPSTREAMS)
def test_tool_use(multi: GatewayServer, fakes: Fakes, kind: str, client: MakeClient) -> None:
    model = UPSTREAMS[kind][0]
    if kind == "anthropic":
        fakes.anthropic.default_reply = {**message(CLAUDE), "stop_reason": "tool_use", "content": [
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}]}
    else:
        fakes.openai.default_reply = {**chat_reply("gpt-4o"), "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": None, "tool_calls": [{"id": "toolu_01", "type": "function", "function": {
                "name": "get_weather", "arguments": '{"city": "Paris"}'}}]}}]}
    c = client(multi)
    msg = c.messages.create(model=model, max_tokens=100, tools=[TOOL], tool_choice={"type": "any"},  # type: ignore[list-item]
                            messages=[{"role": "user", "content": "weather in Paris?"}])
    assert msg.stop_reason == "tool_use"
    block = msg.content[-1]
    assert block.type == "tool_use" and block.id == "toolu_01" and block.input == {"city": "Paris"}  # type: ignore[union-attr]
    if kind == "openai":
        sent = last_json(fakes.openai)
        assert sent["tools"] == [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                                                   "parameters": TOOL["input_schema"]}}]
        assert sent["tool_choice"] == "required"
    # The tool result travels back in the next turn.
    c.messages.create(model=model, max_tokens=100, tools=[TOOL], messages=[  # type: ignore[list-item]
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": [b.model_dump() for b in msg.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"}]}])
    sent = last_json(fake_of(fakes, kind))
    if kind == "anthropic":
        assert sent["messages"][2]["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"}
    else:
        assert sent["messages"][-1] == {"role": "tool", "tool_call_id": "toolu_01", "content": "18C"}
        assert sent["messages"][-2]["tool_calls"][0]["function"]["name"] == "get_weather"


@pytest.mark.parametrize("kind", UPSTREAMS)
def test_streamed_tool_use(multi: GatewayServer, fakes: Fakes, kind: str, client: MakeClient) -> None:
    model = UPSTREAMS[kind][0]
    if kind == "anthropic":
        fakes.anthropic.script("/v1/messages", Script(chunks=tool_stream(CLAUDE, "toolu_9", "get_weather", ['{"city"', ': "Oslo"}'])))
    else:
        head = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}
        fakes.openai.script("/v1/chat/completions", Script(chunks=[
            sse({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Let me check."}}]}),
            sse({**head, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "toolu_9", "type": "function",
                                                                            "function": {"name": "get_weather", "arguments": ""}}]}}]}),
            sse({**head, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"city"'}}]}}]}),
            sse({**head, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ': "Oslo"}'}}]}}]}),
            sse({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
            sse({**head, "choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": 20, "total_tokens": 50}}),
            b"data: [DONE]\n\n"]))
    with client(multi).messages.stream(model=model, max_tokens=100, tools=[TOOL],  # type: ignore[list-item]
                                       messages=[{"role": "user", "content": "w?"}]) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[0].text == "Let me check."  # type: ignore[union-attr]
    tool = final.content[1]
    assert tool.id == "toolu_9" and tool.name == "get_weather" and tool.input == {"city": "Oslo"}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use" and (final.usage.input_tokens, final.usage.output_tokens) == (30, 20)


@pytest.mark.parametrize("kind", UPSTREAMS)
def test_images(multi: GatewayServer, fakes: Fakes, kind: str, client: MakeClient) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    client(multi).messages.create(model=UPSTREAMS[kind][0], max_tokens=50, messages=[
        {"role": "user", "content": [image, {"type": "text", "text": "What is this?"}]}])
    sent = last_json(fake_of(fakes, kind))
    if kind == "anthropic":
        assert sent["messages"][0]["content"][0] == image
    else:
        assert sent["messages"][0]["content"] == [
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}, {"type": "text", "text": "What is this?"}]


def test_count_tokens(multi: GatewayServer, fakes: Fakes, client: MakeClient) -> None:
    c = client(multi)
    assert c.messages.count_tokens(model="sonnet", messages=[{"role": "user", "content": "hi"}]).input_tokens == 42
    assert fakes.anthropic.requests()[-1].path == "/v1/messages/count_tokens"
    assert last_json(fakes.anthropic)["model"] == CLAUDE
    # No Anthropic deployment: a local estimate, so clients that count before sending keep working.
    before = len(fakes.openai.requests())
    estimate = c.messages.count_tokens(model="gpt-4o", system="Be brief.",
                                       messages=[{"role": "user", "content": "hi " * 400}]).input_tokens
    assert 250 < estimate < 400
    assert len(fakes.openai.requests()) == before


def test_pass_through_errors_keep_the_upstream_envelope(multi: GatewayServer, fakes: Fakes, client: MakeClient) -> None:
    fakes.anthropic.script("/v1/messages", Script(status=429, body=error_body("rate_limit_error", "slow down"),
                                                  headers={"retry-after": "3"}))
    with pytest.raises(anthropic.RateLimitError, match="slow down") as info:
        client(multi).messages.create(model=CLAUDE, max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert info.value.body == {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    assert info.value.response.headers["retry-after"] == "3"
    fakes.anthropic.script("/v1/messages", Script(status=529, body=error_body("overloaded_error", "Overloaded")))
    with pytest.raises(anthropic.InternalServerError) as err:
        client(multi).messages.create(model=CLAUDE, max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == 529


def test_translated_errors_use_the_anthropic_envelope(multi: GatewayServer, fakes: Fakes, client: MakeClient) -> None:
    fakes.openai.script("/v1/chat/completions", Script(status=400, body=json.dumps(
        {"error": {"message": "bad things", "type": "invalid_request_error", "param": None, "code": None}}).encode()))
    with pytest.raises(anthropic.BadRequestError) as info:
        client(multi).messages.create(model="gpt-4o", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert info.value.body == {"type": "error", "error": {"type": "invalid_request_error", "message": "bad things"}}


def test_gateway_errors_use_the_anthropic_envelope(multi: GatewayServer, client: MakeClient) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        client(multi).messages.create(model="nope", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["type"] == "error" and "nope" in info.value.body["error"]["message"]  # type: ignore[index]
    with pytest.raises(anthropic.AuthenticationError):
        client(multi, api_key="sk-wrong-key").messages.create(
            model="gpt-4o", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    with httpx.Client(base_url=multi.url, timeout=10) as c:
        r = c.post("/v1/messages", json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
                   headers={"x-api-key": KEY})
    assert r.status_code == 400 and r.json()["type"] == "error" and "max_tokens" in r.json()["error"]["message"]


def test_bearer_auth_token_also_works(multi: GatewayServer, client: MakeClient) -> None:
    c = client(multi, api_key=None, auth_token=KEY)
    assert c.messages.create(model="gpt-4o", max_tokens=5, messages=[{"role": "user", "content": "hi"}]).content


def test_anthropic_beta_is_forwarded(multi: GatewayServer, fakes: Fakes, client: MakeClient) -> None:
    beta = {"anthropic-beta": "prompt-caching-2024-07-31,token-efficient-tools-2025-02-19"}
    client(multi).messages.create(model=CLAUDE, max_tokens=5, messages=[{"role": "user", "content": "hi"}], extra_headers=beta)
    assert fakes.anthropic.requests()[-1].headers["anthropic-beta"] == beta["anthropic-beta"]
    # claude-mixed has an OpenAI deployment too, so it is translated; the beta still reaches Anthropic.
    client(multi).messages.create(model="claude-mixed", max_tokens=5, messages=[{"role": "user", "content": "hi"}],
                                  extra_headers=beta, extra_body={"top_k": 3})
    rec = fakes.anthropic.requests()[-1]
    assert rec.headers["anthropic-beta"] == beta["anthropic-beta"]
    sent = rec.json()
    assert sent["top_k"] == 3 and "_crabllm" not in sent and sent["model"] == "claude-mixed"


def test_translated_stream_cut_reports_an_error_event(multi: GatewayServer, fakes: Fakes, client: MakeClient) -> None:
    from tests.fakes.openai_upstream import stream_chunks
    fakes.openai.script("/v1/chat/completions", Script(chunks=stream_chunks("gpt-4o", ["Hel", "lo", "more"]), cut_after=2))
    seen = []
    with pytest.raises(anthropic.APIError):
        with client(multi).messages.stream(model="gpt-4o", max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as s:
            for text in s.text_stream:
                seen.append(text)
    assert "".join(seen) == "Hello"


def test_pass_through_stream_accounts_cache_tokens(multi: GatewayServer, fakes: Fakes, client: MakeClient) -> None:
    fakes.anthropic.script("/v1/messages", Script(chunks=text_stream(CLAUDE, ["ok"], (10, 4), cache=(100, 7))))
    acc = Accounting(multi)
    with client(multi).messages.stream(model=CLAUDE, max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as s:
        final = s.get_final_message()
    assert final.usage.cache_read_input_tokens == 100 and final.usage.cache_creation_input_tokens == 7
    assert acc.delta("claude") == (117, 4)


def test_pass_through_stream_cut_mid_event_ends_with_a_clean_error_event(multi: GatewayServer, fakes: Fakes) -> None:
    events = text_stream(CLAUDE, ["one", "two"])
    half = events[3][: len(events[3]) // 2]
    fakes.anthropic.script("/v1/messages", Script(chunks=events[:3] + [half, b"never sent"], cut_after=4))
    body = {"model": CLAUDE, "max_tokens": 5, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=multi.url, timeout=10) as c:
        r = c.post("/v1/messages", json=body, headers={"x-api-key": KEY})
    assert r.status_code == 200 and r.content.startswith(b"".join(events[:3]))
    assert half not in r.content
    last = r.text.strip().split("\n\n")[-1].split("\n")
    assert last[0] == "event: error" and json.loads(last[1][6:])["type"] == "error"
