"""The Codex CLI (`codex exec`) with a model_providers entry pointing at the gateway's /v1 (wire_api responses)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clients.conftest import CLAUDE, GPT, KEY, LLAMA, UPSTREAM_OPENAI_KEY, run, sealed_env, upstream_path
from tests.clients.install import Clients
from tests.clients.scripted import FINAL_PREFIX, ScriptedUpstream, tool_calls, tool_results
from tests.fakes.gateway import GatewayServer

SECRET = "crab-secret-7731"
PACKAGE = "@openai/codex"


def codex_home(home: Path, gateway: GatewayServer, model: str) -> Path:
    path = home / "codex"
    path.mkdir()
    (path / "config.toml").write_text(f'''model = "{model}"
model_provider = "crabllm"
check_for_update_on_startup = false

[analytics]
enabled = false

# The plugin marketplace syncs from github.com at startup unless plugins are off.
[features]
plugins = false

[model_providers.crabllm]
name = "crabllm"
base_url = "{gateway.url}/v1"
env_key = "CRABLLM_API_KEY"
wire_api = "responses"
''')
    return path


def run_codex(clients: Clients, gateway: GatewayServer, upstream: ScriptedUpstream, home: Path, model: str) -> str:
    """One tool-using task: the upstream asks for exec_command `cat note.txt`; returns Codex's final message."""
    work = home / "work"
    work.mkdir()
    (work / "note.txt").write_text(f"The password is {SECRET}.\n")
    upstream.tools = {"exec_command": {"cmd": "cat note.txt"}}
    env = sealed_env(home, CODEX_HOME=str(codex_home(home, gateway, model)), CRABLLM_API_KEY=KEY)
    ran = run([str(clients.npm_bin / "codex"), "exec", "--skip-git-repo-check", "--json", "--sandbox", "read-only",
               "Read note.txt and tell me the password."], env, cwd=work)
    events = [json.loads(line) for line in ran.stdout.splitlines() if line.startswith("{")]
    failed = [e for e in events if e.get("type") in ("turn.failed", "error")]
    assert not failed, failed
    commands = [e["item"] for e in events if e.get("type") == "item.completed"
                and e["item"].get("type") == "command_execution"]
    assert commands and SECRET in commands[0]["aggregated_output"], events
    messages = [e["item"]["text"] for e in events if e.get("type") == "item.completed"
                and e["item"].get("type") == "agent_message"]
    assert messages, events
    return messages[-1]


#: Codex sends a `namespace` tool (multi_agent_v1) and a `web_search` tool it forbids to reach the web
#: (`external_web_access: false`) with every request: the translation flattens the namespace into
#: prefixed functions and drops that web search, so the translated directions work too.


@pytest.mark.clients(client="Codex CLI", package=PACKAGE, route="/v1/responses",
                     covers="`codex exec` with an exec_command tool loop over SSE")
@pytest.mark.parametrize("model", [
    pytest.param(GPT, marks=pytest.mark.clients(mode="pass-through"), id="pass-through"),
    pytest.param(CLAUDE, marks=pytest.mark.clients(mode="translated (to Anthropic)"),
                 id="to-anthropic"),
    pytest.param(LLAMA, marks=pytest.mark.clients(mode="translated (to OpenAI chat)"),
                 id="to-chat"),
])
def test_codex_exec(clients: Clients, gateway: GatewayServer, upstream: ScriptedUpstream, home: Path,
                    model: str) -> None:
    text = run_codex(clients, gateway, upstream, home, model)
    assert text.startswith(FINAL_PREFIX) and SECRET in text
    path = "/v1/responses" if model == GPT else upstream_path(model)
    calls = upstream.requests(path)
    assert len(calls) == 2 and len(upstream.received) == 2
    if model != CLAUDE:
        assert all(r.headers["Authorization"] == f"Bearer {UPSTREAM_OPENAI_KEY}" for r in calls)
    assert calls[0].json()["model"] == model and calls[0].json()["stream"] is True
    cid = "toolu_scripted1" if model == CLAUDE else "call_scripted1"
    assert tool_calls(calls[1]) == [(cid, "exec_command", {"cmd": "cat note.txt"})]
    results = tool_results(calls[1])
    assert len(results) == 1 and results[0][0] == cid and SECRET in results[0][1]
