"""LangChain: langchain-openai over /v1/chat/completions, langchain-anthropic over /v1/messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clients.conftest import CLAUDE, GPT, KEY, LLAMA, OPENAI_CLIENT_MODELS, call_id, run_script, upstream_path
from tests.clients.install import Clients
from tests.clients.scripted import FINAL_PREFIX, PLAIN_TEXT, USAGE, ScriptedUpstream, text_of, tool_calls, tool_results
from tests.fakes.gateway import GatewayServer

TOOL_RESULT = "sunny-and-19C in Paris"
NO_TRACING = {"LANGCHAIN_TRACING_V2": "false", "LANGSMITH_TRACING": "false", "LANGCHAIN_CALLBACKS_BACKGROUND": "false"}


def check_tool_loop(out: dict, model: str) -> None:
    assert out["tool_calls"] == [{"name": "get_weather", "args": {"city": "Paris"}, "id": call_id(model)}]
    assert text_of(out["final"]) == FINAL_PREFIX + TOOL_RESULT


def check_follow_ups(upstream: ScriptedUpstream, model: str, follow_ups: list[int]) -> None:
    calls = upstream.requests(upstream_path(model))
    for i in follow_ups:
        assert tool_calls(calls[i]) == [(call_id(model), "get_weather", {"city": "Paris"})]
        assert tool_results(calls[i]) == [(call_id(model), TOOL_RESULT)]


@pytest.mark.clients(client="LangChain (langchain-openai)", package="langchain-openai", route="/v1/chat/completions",
                     covers="invoke, stream with usage, bind_tools loop (plain and streamed), with_structured_output")
@pytest.mark.parametrize("model", OPENAI_CLIENT_MODELS)
def test_langchain_openai(clients: Clients, gateway: GatewayServer, upstream: ScriptedUpstream, home: Path,
                          model: str) -> None:
    upstream.tools = {"get_weather": {"city": "Paris"}}
    upstream.structured = {"city": "Paris", "temperature": 19}
    out = run_script(clients, "langchain_openai_client", {"base_url": f"{gateway.url}/v1", "key": KEY, "model": model},
                     home, **NO_TRACING)
    assert out["invoke"] == PLAIN_TEXT
    assert "".join(out["stream"]) == PLAIN_TEXT and len(out["stream"]) > 1
    assert out["stream_usage"] == out["invoke_usage"] == list(USAGE)
    check_tool_loop(out["tools"], model)
    check_tool_loop(out["tools_stream"], model)
    assert out["structured"] == {"city": "Paris", "temperature": 19}

    calls = upstream.requests(upstream_path(model))
    assert len(calls) == 8 and len(upstream.received) == 8
    assert all(r.headers.get("Authorization") != f"Bearer {KEY}" for r in calls)  # the upstream's key, not the client's
    assert [bool(r.json().get("stream")) for r in calls] == [False, True, False, False, False, True, False, False]
    check_follow_ups(upstream, model, [4, 6])
    schema = calls[7].json()["response_format"]["json_schema"]["schema"] if model == GPT else \
        calls[7].json()["output_config"]["format"]["schema"]  # translated to Anthropic structured outputs
    assert set(schema["properties"]) == {"city", "temperature"}


@pytest.mark.clients(client="LangChain (langchain-openai, Responses API)", package="langchain-openai",
                     route="/v1/responses",
                     covers="invoke, stream with usage, bind_tools loop (plain and streamed), with_structured_output")
@pytest.mark.parametrize("model", [
    pytest.param(GPT, marks=pytest.mark.clients(mode="pass-through"), id="pass-through"),
    pytest.param(CLAUDE, marks=pytest.mark.clients(mode="translated (to Anthropic)"), id="to-anthropic"),
    pytest.param(LLAMA, marks=pytest.mark.clients(mode="translated (to OpenAI chat)"), id="to-chat"),
])
def test_langchain_openai_responses(clients: Clients, gateway: GatewayServer, upstream: ScriptedUpstream, home: Path,
                                    model: str) -> None:
    upstream.tools = {"get_weather": {"city": "Paris"}}
    upstream.structured = {"city": "Paris", "temperature": 19}
    args = {"base_url": f"{gateway.url}/v1", "key": KEY, "model": model, "responses": True}
    out = run_script(clients, "langchain_openai_client", args, home, **NO_TRACING)
    assert out["invoke"] == PLAIN_TEXT
    assert "".join(out["stream"]) == PLAIN_TEXT and len(out["stream"]) > 1
    assert out["stream_usage"] == out["invoke_usage"] == list(USAGE)
    cid = "toolu_scripted1" if model == CLAUDE else "call_scripted1"
    for case in ("tools", "tools_stream"):
        assert out[case]["tool_calls"] == [{"name": "get_weather", "args": {"city": "Paris"}, "id": cid}]
        assert text_of(out[case]["final"]).endswith(FINAL_PREFIX + TOOL_RESULT)
    assert out["structured"] == {"city": "Paris", "temperature": 19}
    calls = upstream.requests("/v1/responses" if model == GPT else upstream_path(model))
    assert len(calls) == 8 and len(upstream.received) == 8
    for i in (4, 6):
        assert tool_calls(calls[i]) == [(cid, "get_weather", {"city": "Paris"})]
        assert tool_results(calls[i]) == [(cid, TOOL_RESULT)]


@pytest.mark.clients(client="LangChain (langchain-anthropic)", package="langchain-anthropic", route="/v1/messages",
                     covers="invoke, stream with usage, bind_tools loop (plain and streamed), with_structured_output, "
                            "count_tokens")
@pytest.mark.parametrize("model", [
    pytest.param(CLAUDE, marks=pytest.mark.clients(mode="pass-through"), id="pass-through"),
    pytest.param(GPT, marks=pytest.mark.clients(mode="translated (to OpenAI chat)"), id="translated"),
])
def test_langchain_anthropic(clients: Clients, gateway: GatewayServer, upstream: ScriptedUpstream, home: Path,
                             model: str) -> None:
    upstream.tools = {"get_weather": {"city": "Paris"}}
    upstream.structured = {"city": "Paris", "temperature": 19}
    out = run_script(clients, "langchain_anthropic_client", {"base_url": gateway.url, "key": KEY, "model": model},
                     home, **NO_TRACING)
    assert text_of(out["invoke"]) == PLAIN_TEXT
    assert "".join(text_of(c) for c in out["stream"]) == PLAIN_TEXT
    assert out["stream_usage"] == out["invoke_usage"] == list(USAGE)
    check_tool_loop(out["tools"], model)
    check_tool_loop(out["tools_stream"], model)
    assert out["structured"] == {"city": "Paris", "temperature": 19}
    calls = upstream.requests(upstream_path(model))
    assert len(calls) == 8
    assert [bool(r.json().get("stream")) for r in calls] == [False, True, False, False, False, True, False, False]
    check_follow_ups(upstream, model, [4, 6])
    schema = calls[7].json()["output_config"]["format"]["schema"] if model == CLAUDE else \
        calls[7].json()["response_format"]["json_schema"]["schema"]  # translated to OpenAI structured outputs
    assert set(schema["properties"]) == {"city", "temperature"}
    if model == CLAUDE:
        assert out["count_tokens"] == 42  # counted by the Anthropic deployment
        assert len(upstream.requests("/v1/messages/count_tokens")) == 1
    else:
        assert isinstance(out["count_tokens"], int) and out["count_tokens"] > 0  # the gateway's local estimate
        assert not upstream.requests("/v1/messages") and not upstream.requests("/v1/messages/count_tokens")
