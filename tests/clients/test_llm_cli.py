"""Simon Willison's `llm` CLI with an OpenAI-compatible model (extra-openai-models.yaml) pointing at the gateway."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clients.conftest import KEY, OPENAI_CLIENT_MODELS, call_id, run, sealed_env, upstream_path
from tests.clients.install import Clients
from tests.clients.scripted import FINAL_PREFIX, PLAIN_TEXT, ScriptedUpstream, tool_calls, tool_results
from tests.fakes.gateway import GatewayServer

WEATHER = ('def get_weather(city: str) -> str:\n    "Current weather for a city."\n'
           '    return "sunny-and-19C in " + city\n')


def llm_env(home: Path, gateway: GatewayServer, model: str) -> dict[str, str]:
    user = home / "llm"
    user.mkdir(exist_ok=True)
    (user / "extra-openai-models.yaml").write_text(
        f"- model_id: crab\n  model_name: {model}\n  api_base: {gateway.url}/v1\n  api_key_name: crabllm\n"
        f"  supports_tools: true\n")
    (user / "keys.json").write_text(json.dumps({"crabllm": KEY}))
    return sealed_env(home, LLM_USER_PATH=str(user), LLM_LOAD_PLUGINS="")


@pytest.mark.clients(client="llm CLI", package="llm", route="/v1/chat/completions",
                     covers="prompt, streamed prompt, `--functions` tool loop")
@pytest.mark.parametrize("model", OPENAI_CLIENT_MODELS)
def test_llm_cli(clients: Clients, gateway: GatewayServer, upstream: ScriptedUpstream, home: Path,
                 model: str) -> None:
    env = llm_env(home, gateway, model)
    llm = str(clients.llm)
    plain = run([llm, "-m", "crab", "--no-stream", "Say hello"], env, cwd=home)
    assert plain.stdout.strip() == PLAIN_TEXT
    streamed = run([llm, "-m", "crab", "Say hello"], env, cwd=home)
    assert streamed.stdout.strip() == PLAIN_TEXT

    upstream.tools = {"get_weather": {"city": "Paris"}}
    tools = run([llm, "-m", "crab", "--functions", WEATHER, "What is the weather in Paris?"], env, cwd=home)
    # llm prints every turn's text; an Anthropic tool turn carries "Let me use a tool." before its tool_use.
    assert tools.stdout.strip().endswith(FINAL_PREFIX + "sunny-and-19C in Paris")

    calls = upstream.requests(upstream_path(model))
    assert len(calls) == 4 and len(upstream.received) == 4
    assert [bool(r.json().get("stream")) for r in calls] == [False, True, True, True]
    assert tool_calls(calls[-1]) == [(call_id(model), "get_weather", {"city": "Paris"})]
    assert tool_results(calls[-1]) == [(call_id(model), "sunny-and-19C in Paris")]
