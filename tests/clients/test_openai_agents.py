"""The OpenAI Agents SDK: a one-tool agent over /v1/chat/completions and over /v1/responses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clients.conftest import CLAUDE, GPT, KEY, LLAMA, OPENAI_CLIENT_MODELS, call_id, run_script, upstream_path
from tests.clients.install import Clients
from tests.clients.scripted import FINAL_PREFIX, ScriptedUpstream, text_of, tool_calls, tool_results
from tests.fakes.gateway import GatewayServer

RESULT = "sunny-and-19C in Paris"
NO_TRACING = {"OPENAI_AGENTS_DISABLE_TRACING": "1"}


def run_agent(clients: Clients, gateway: GatewayServer, upstream: ScriptedUpstream, home: Path, api: str,
              model: str = GPT) -> dict:
    upstream.tools = {"get_weather": {"city": "Paris"}}
    args = {"base_url": f"{gateway.url}/v1", "key": KEY, "model": model, "api": api}
    out = run_script(clients, "agents_client", args, home, **NO_TRACING)
    assert out["run"] == FINAL_PREFIX + RESULT
    assert out["stream"] == FINAL_PREFIX + RESULT
    # The deltas of both turns (an Anthropic tool turn may carry text before its tool_use).
    assert "".join(out["stream_deltas"]).endswith(FINAL_PREFIX + RESULT)
    assert out["tool_outputs"] == [RESULT]
    return out


@pytest.mark.clients(client="OpenAI Agents SDK (chat model)", package="openai-agents", route="/v1/chat/completions",
                     covers="Runner.run and run_streamed, one @function_tool")
@pytest.mark.parametrize("model", OPENAI_CLIENT_MODELS)
def test_agents_chat_completions_model(clients: Clients, gateway: GatewayServer, upstream: ScriptedUpstream,
                                       home: Path, model: str) -> None:
    run_agent(clients, gateway, upstream, home, "chat", model)
    calls = upstream.requests(upstream_path(model))
    assert len(upstream.received) == 4
    assert [bool(r.json().get("stream")) for r in calls] == [False, False, True, True]
    for follow in (calls[1], calls[3]):
        body = follow.json()
        system = body["messages"][0]["content"] if model == GPT else body["system"]
        assert text_of(system) == "Answer with the tool's result."
        assert tool_calls(follow) == [(call_id(model), "get_weather", {"city": "Paris"})]
        assert tool_results(follow) == [(call_id(model), RESULT)]


@pytest.mark.clients(client="OpenAI Agents SDK (Responses model)", package="openai-agents", route="/v1/responses",
                     covers="Runner.run and run_streamed, one @function_tool")
@pytest.mark.parametrize("model", [
    pytest.param(GPT, marks=pytest.mark.clients(mode="pass-through"), id="pass-through"),
    pytest.param(CLAUDE, marks=pytest.mark.clients(mode="translated (to Anthropic)"), id="to-anthropic"),
    pytest.param(LLAMA, marks=pytest.mark.clients(mode="translated (to OpenAI chat)"), id="to-chat"),
])
def test_agents_responses_model(clients: Clients, gateway: GatewayServer, upstream: ScriptedUpstream,
                                home: Path, model: str) -> None:
    run_agent(clients, gateway, upstream, home, "responses", model)
    path = "/v1/responses" if model == GPT else upstream_path(model)
    calls = upstream.requests(path)
    assert len(upstream.received) == 4
    assert [bool(r.json().get("stream")) for r in calls] == [False, False, True, True]
    cid = "toolu_scripted1" if model == CLAUDE else "call_scripted1"
    for follow in (calls[1], calls[3]):
        body = follow.json()
        system = body.get("instructions") if model == GPT else \
            body["system"] if model == CLAUDE else body["messages"][0]["content"]
        assert text_of(system) == "Answer with the tool's result."
        assert tool_calls(follow) == [(cid, "get_weather", {"city": "Paris"})]
        assert tool_results(follow) == [(cid, RESULT)]
