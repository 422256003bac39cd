"""Claude Code (`claude -p`) through /v1/messages: pass-through to Anthropic, translated to an OpenAI deployment."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.clients.conftest import (
    CALL_TIMEOUT, CLAUDE, GPT, KEY, UPSTREAM_ANTHROPIC_KEY, UPSTREAM_OPENAI_KEY, ClientLog, Ran, run, sealed_env,
)
from tests.clients.install import Clients
from tests.clients.scripted import FINAL_PREFIX, SIGNATURE, ScriptedUpstream, text_of
from tests.fakes.gateway import GatewayServer
from tests.fakes.openai_upstream import Script

SECRET = "crab-secret-7731"
THINKING = "The user wants the password; I will read the file."
PACKAGE = "@anthropic-ai/claude-code"


def claude_env(home: Path, gateway: GatewayServer, model: str, *, bearer: bool = False) -> dict[str, str]:
    # ANTHROPIC_API_KEY is sent as x-api-key, ANTHROPIC_AUTH_TOKEN as a Bearer token: the gateway takes both.
    auth = {"ANTHROPIC_AUTH_TOKEN": KEY} if bearer else {"ANTHROPIC_API_KEY": KEY}
    return sealed_env(
        home,
        ANTHROPIC_BASE_URL=gateway.url,
        **auth,
        ANTHROPIC_MODEL=model,
        ANTHROPIC_SMALL_FAST_MODEL=model,
        ANTHROPIC_DEFAULT_SONNET_MODEL=model,
        ANTHROPIC_DEFAULT_OPUS_MODEL=model,
        ANTHROPIC_DEFAULT_HAIKU_MODEL=model,
        DISABLE_TELEMETRY="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_ERROR_REPORTING="1",
        DISABLE_BUG_COMMAND="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        CLAUDE_CODE_DISABLE_TERMINAL_TITLE="1",
        API_TIMEOUT_MS="60000",
    )


def run_claude(clients: Clients, gateway: GatewayServer, upstream: ScriptedUpstream, home: Path,
               model: str, stream_json: bool) -> tuple[str, Path]:
    """One tool-using prompt: the upstream asks for Read on a file; returns Claude Code's final text.

    The stream-json runs authenticate with ANTHROPIC_AUTH_TOKEN (Bearer), the json runs with ANTHROPIC_API_KEY."""
    work = home / "work"
    work.mkdir()
    note = work / "note.txt"
    note.write_text(f"The password is {SECRET}.\n")
    upstream.tools = {"Read": {"file_path": str(note)}}
    upstream.thinking = THINKING
    fmt = ["--output-format", "stream-json", "--verbose"] if stream_json else ["--output-format", "json"]
    ran = run([str(clients.npm_bin / "claude"), "-p", "Read note.txt and tell me the password.", *fmt,
               "--model", model, "--allowedTools", "Read", "--max-turns", "4"],
              claude_env(home, gateway, model, bearer=stream_json), cwd=work)
    if stream_json:
        events = [json.loads(line) for line in ran.stdout.splitlines() if line.strip().startswith("{")]
        final = [e for e in events if e.get("type") == "result"]
        assert final, ran.stdout[-3000:]
        result = final[-1]
    else:
        result = ran.json()
    assert result.get("is_error") is False and result.get("subtype") == "success", result
    return str(result["result"]), note


@pytest.mark.clients(client="Claude Code", package=PACKAGE, route="/v1/messages", mode="pass-through",
                     covers="`-p` with a Read tool loop over SSE, signed thinking, every anthropic-beta/-version")
@pytest.mark.parametrize("stream_json", [False, True], ids=["json", "stream-json"])
def test_claude_code_anthropic_passthrough(clients: Clients, gateway: GatewayServer, upstream: ScriptedUpstream,
                                          client_log: ClientLog, home: Path, stream_json: bool) -> None:
    text, note = run_claude(clients, gateway, upstream, home, CLAUDE, stream_json)
    assert text.startswith(FINAL_PREFIX) and SECRET in text

    calls = upstream.conversation("/v1/messages")
    assert len(calls) >= 2, [r.path for r in upstream.received]
    first, follow = calls[0], calls[-1]
    # Every anthropic-beta and anthropic-version header the client sent reached the upstream, request by request.
    sent = client_log.headers("/v1/messages")
    got = [{k.lower(): v for k, v in r.headers.items()} for r in upstream.requests("/v1/messages")]
    assert len(sent) == len(got)
    assert any(h.get("anthropic-beta") for h in sent), "Claude Code sent no anthropic-beta header"
    assert all((h.get("authorization") == f"Bearer {KEY}") if stream_json else (h.get("x-api-key") == KEY)
               for h in sent)
    for client_h, upstream_h in zip(sent, got):
        assert _betas(upstream_h) == _betas(client_h), (client_h, upstream_h)
        assert upstream_h["anthropic-version"] == client_h["anthropic-version"]
        assert upstream_h["x-api-key"] == UPSTREAM_ANTHROPIC_KEY and "authorization" not in upstream_h
    # Pass-through: Claude Code's body reaches Anthropic as sent (system as blocks, tools, its own fields).
    body = first.json()
    assert body["model"] == CLAUDE and isinstance(body["system"], list)
    assert any(t["name"] == "Read" for t in body["tools"])
    results = [b for m in follow.json()["messages"] if isinstance(m["content"], list) for b in m["content"]
               if b.get("type") == "tool_result"]
    assert results and SECRET in text_of(results[-1]["content"])
    assert results[-1]["tool_use_id"] == "toolu_scripted1"
    # The signed thinking block goes back to Anthropic byte for byte in the follow-up.
    thinking = [b for m in follow.json()["messages"] if m["role"] == "assistant" and isinstance(m["content"], list)
                for b in m["content"] if b.get("type") == "thinking"]
    assert thinking == [{"type": "thinking", "thinking": THINKING, "signature": SIGNATURE}]


@pytest.mark.clients(client="Claude Code", package=PACKAGE, route="/v1/messages", mode="translated (to OpenAI chat)",
                     covers="`-p` with a Read tool loop over SSE, thinking as reasoning, system blocks, cache_control")
@pytest.mark.parametrize("stream_json", [False, True], ids=["json", "stream-json"])
def test_claude_code_openai_translated(clients: Clients, gateway: GatewayServer, upstream: ScriptedUpstream,
                                       home: Path, stream_json: bool) -> None:
    text, note = run_claude(clients, gateway, upstream, home, GPT, stream_json)
    assert text.startswith(FINAL_PREFIX) and SECRET in text

    assert not upstream.requests("/v1/messages"), "a translated model must not reach the Anthropic deployment"
    calls = upstream.conversation("/v1/chat/completions")
    assert len(calls) >= 2, [r.path for r in upstream.received]
    for rec in upstream.requests("/v1/chat/completions"):
        assert rec.headers["Authorization"] == f"Bearer {UPSTREAM_OPENAI_KEY}"
        assert not any(h.lower().startswith("anthropic-") for h in rec.headers)
        sent = rec.json()
        assert sent["model"] == GPT and "_crabllm" not in sent
        # Anthropic-only request fields never leak into an OpenAI body.
        assert not {"thinking", "system", "metadata", "context_management"} & sent.keys()
        for msg in sent["messages"]:
            assert not {"thinking_blocks", "reasoning_signature"} & msg.keys()
    first, follow = calls[0].json(), calls[-1].json()
    # The system prompt (sent as blocks with cache_control) arrives as the first, system message.
    assert first["messages"][0]["role"] == "system" and "Claude" in text_of(first["messages"][0]["content"])
    assert any(t["function"]["name"] == "Read" for t in first["tools"])
    assistant = [m for m in follow["messages"] if m["role"] == "assistant" and m.get("tool_calls")]
    assert assistant and assistant[-1]["tool_calls"][0]["id"] == "call_scripted1"
    # The upstream's reasoning came back to Claude Code as a thinking block, and goes upstream again as reasoning.
    assert assistant[-1].get("reasoning_content") == THINKING
    assert json.loads(assistant[-1]["tool_calls"][0]["function"]["arguments"]) == {"file_path": str(note)}
    tool_msgs = [m for m in follow["messages"] if m["role"] == "tool"]
    assert tool_msgs and SECRET in text_of(tool_msgs[-1]["content"])
    assert tool_msgs[-1]["tool_call_id"] == assistant[-1]["tool_calls"][0]["id"]


def _betas(headers: dict[str, str]) -> list[str]:
    return sorted({b.strip() for b in headers.get("anthropic-beta", "").split(",") if b.strip()})


@pytest.mark.clients(client="Claude Code", package=PACKAGE, route="/v1/messages", mode="errors",
                     covers="an upstream's context-length 400 reaches Claude Code as its own prompt-too-long error")
@pytest.mark.parametrize("model", [CLAUDE, GPT], ids=["anthropic", "openai"])
def test_claude_code_sees_upstream_errors(clients: Clients, gateway: GatewayServer, upstream: ScriptedUpstream,
                                          home: Path, model: str) -> None:
    if model == CLAUDE:
        upstream.script("/v1/messages", Script(status=400, body=json.dumps({"type": "error", "error": {
            "type": "invalid_request_error", "message": "prompt is too long: 250000 tokens > 200000 maximum"}}).encode()))
    else:
        upstream.script("/v1/chat/completions", Script(status=400, body=json.dumps({"error": {
            "message": "This model's maximum context length is 128000 tokens", "type": "invalid_request_error",
            "param": "messages", "code": "context_length_exceeded"}}).encode()))
    proc = subprocess.run([str(clients.npm_bin / "claude"), "-p", "hi", "--output-format", "json", "--model", model],
                          env=claude_env(home, gateway, model), cwd=home, capture_output=True, text=True,
                          timeout=CALL_TIMEOUT)
    result = Ran(proc.stdout, proc.stderr, proc.returncode).json()
    assert proc.returncode == 1 and result["is_error"] is True
    assert result["api_error_status"] == 400 and result["terminal_reason"] == "prompt_too_long"
    assert ("250000" if model == CLAUDE else "128000") in result["result"]
    assert len(upstream.received) == 1  # a 400 is final: neither the gateway nor Claude Code retried
