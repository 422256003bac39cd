"""The litellm SDK used as a client of the gateway (`openai/<model>` with `api_base`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clients.conftest import KEY, OPENAI_CLIENT_MODELS, call_id, run_script, upstream_path
from tests.clients.install import Clients
from tests.clients.scripted import FINAL_PREFIX, PLAIN_TEXT, ScriptedUpstream, tool_calls, tool_results
from tests.fakes.gateway import GatewayServer

#: litellm fetches its model cost map from GitHub at import unless told to use the bundled copy.
OFFLINE = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False", "LITELLM_LOG": "ERROR"}
RESULT = "sunny-and-19C in Paris"


@pytest.mark.clients(client="litellm SDK", package="litellm", route="/v1/chat/completions",
                     covers="completion plain and streamed, tools loop (plain and streamed)")
@pytest.mark.parametrize("model", OPENAI_CLIENT_MODELS)
def test_litellm_sdk(clients: Clients, gateway: GatewayServer, upstream: ScriptedUpstream, home: Path,
                     model: str) -> None:
    upstream.tools = {"get_weather": {"city": "Paris"}}
    out = run_script(clients, "litellm_client", {"base_url": f"{gateway.url}/v1", "key": KEY, "model": model}, home,
                     **OFFLINE)
    assert out["plain"] == PLAIN_TEXT
    assert "".join(out["stream"]) == PLAIN_TEXT and len(out["stream"]) > 1
    for case in ("tools", "tools_stream"):
        assert out[case] == {"tool_calls": [{"name": "get_weather", "args": {"city": "Paris"}, "id": call_id(model)}],
                             "final": FINAL_PREFIX + RESULT}, case
    calls = upstream.requests(upstream_path(model))
    assert len(calls) == 6 and len(upstream.received) == 6
    assert [bool(r.json().get("stream")) for r in calls] == [False, True, False, False, True, False]
    for follow in (calls[3], calls[5]):
        assert tool_calls(follow) == [(call_id(model), "get_weather", {"city": "Paris"})]
        assert tool_results(follow) == [(call_id(model), RESULT)]
