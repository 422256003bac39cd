"""The providers' and /v1/messages' stream relays give the same result however the upstream bytes are split."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crabllm.providers.anthropic import AnthropicSSEStream
from crabllm.providers.bedrock import ConverseEventStream
from crabllm.providers.google import GeminiSSEStream
from crabllm.server.proxy.anthropic_relay import AnthropicFromOpenAIRelay, AnthropicPassRelay
from tests.fakes import anthropic_upstream, bedrock_upstream, gemini_upstream
from tests.fakes.openai_upstream import sse, stream_chunks
from tests.translate._split import reads

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def summary(sse_bytes: bytes) -> dict[str, Any]:
    """What an OpenAI client ends up with: text, tool calls, finish reasons, usage."""
    text, args, finish, usage = [], {}, [], []
    events = [e[6:] for e in sse_bytes.decode().split("\n\n") if e.startswith("data: ")]
    assert events[-1] == "[DONE]"
    for raw in events[:-1]:
        chunk = json.loads(raw)
        if chunk.get("usage"):
            usage.append(chunk["usage"])
        for choice in chunk["choices"]:
            delta = choice["delta"]
            text.append(delta.get("content") or "")
            for call in delta.get("tool_calls") or []:
                args.setdefault(call["index"], []).append(call["function"].get("arguments") or "")
            if choice.get("finish_reason"):
                finish.append(choice["finish_reason"])
    return {"text": "".join(text), "args": {k: "".join(v) for k, v in args.items()}, "finish": finish, "usage": usage}


def run(translator: Any, pieces: list[bytes]) -> dict[str, Any]:
    out = b"".join(translator.feed(p) for p in pieces) + translator.finish()
    assert translator.error is None
    return summary(out + b"data: [DONE]\n\n")


ANTHROPIC = b"".join(anthropic_upstream.tool_stream("m", "toolu_1", "f", ['{"a"', ": 1}"]))
GEMINI = b"".join(gemini_upstream.text_stream(["x", "y", "z"], (30, 4)))
BEDROCK = b"".join(bedrock_upstream.tool_stream("tu_1", "f", ['{"q":', '"v"}']))


@FAST
@given(st.data())
def test_anthropic_stream_any_split(data: st.DataObject) -> None:
    got = run(AnthropicSSEStream("m"), data.draw(reads(ANTHROPIC)))
    assert got["text"] == "Let me check." and got["args"] == {0: '{"a": 1}'} and got["finish"] == ["tool_calls"]
    assert [(u["prompt_tokens"], u["completion_tokens"]) for u in got["usage"]] == [(30, 20)]


@FAST
@given(st.data())
def test_gemini_stream_any_split_counts_usage_once(data: st.DataObject) -> None:
    got = run(GeminiSSEStream("g"), data.draw(reads(GEMINI)))
    assert got["text"] == "xyz" and got["finish"] == ["stop"]
    assert [(u["prompt_tokens"], u["completion_tokens"]) for u in got["usage"]] == [(30, 4)]


@FAST
@given(st.data())
def test_bedrock_stream_any_split(data: st.DataObject) -> None:
    got = run(ConverseEventStream("b"), data.draw(reads(BEDROCK)))
    assert got["args"] == {0: '{"q":"v"}'} and got["finish"] == ["tool_calls"]
    assert [(u["prompt_tokens"], u["completion_tokens"]) for u in got["usage"]] == [(40, 12)]


def test_truncated_streams_are_errors() -> None:
    anthropic = AnthropicSSEStream("m")
    anthropic.feed(b"".join(anthropic_upstream.tool_stream("m", "t", "f", ["{}"])[:5]))  # whole events, no message_stop
    anthropic.finish()
    assert anthropic.error is not None and "message_stop" in anthropic.error.message
    cut = AnthropicSSEStream("m")
    cut.feed(ANTHROPIC[: len(ANTHROPIC) // 2])  # cut inside an event
    cut.finish()
    assert cut.error is not None
    bedrock = ConverseEventStream("b")
    bedrock.feed(BEDROCK[:-3])
    bedrock.finish()
    assert bedrock.error is not None and "inside a frame" in bedrock.error.message


OPENAI = b"".join(stream_chunks("gpt", ["Hel", "lo"], (9, 2)))


def anthropic_events(out: bytes) -> list[tuple[str, Any]]:
    events = []
    for block in out.decode().split("\n\n"):
        if block:
            name, data = block.split("\n", 1)
            events.append((name[len("event: "):], json.loads(data[len("data: "):])))
    return events


@FAST
@given(st.data())
def test_openai_to_anthropic_relay_any_split(data: st.DataObject) -> None:
    whole = AnthropicFromOpenAIRelay("gpt")
    expected = anthropic_events(whole.feed(OPENAI) + whole.finish())
    relay = AnthropicFromOpenAIRelay("gpt")
    got = anthropic_events(b"".join(relay.feed(p) for p in data.draw(reads(OPENAI))) + relay.finish())
    assert got == expected and relay.usage == whole.usage == (9, 2)
    assert [name for name, _ in got][:2] == ["message_start", "ping"] and got[-1][0] == "message_stop"


def test_openai_in_band_error_ends_the_anthropic_stream_with_an_error_event() -> None:
    relay = AnthropicFromOpenAIRelay("gpt")
    out = relay.feed(OPENAI.split(b"\n\n")[0] + b"\n\n" + sse({"error": {"message": "boom", "type": "server_error"}}))
    assert relay.error is not None and "boom" in relay.error.message
    out += relay.fail(relay.error)
    names = [n for n, _ in anthropic_events(out)]
    # Anthropic ends a broken stream with the error event alone: no message_stop claims it was whole.
    assert names[-1] == "error" and "message_stop" not in names and "content_block_delta" in names


@FAST
@given(st.data())
def test_anthropic_pass_relay_is_byte_exact_and_reads_usage(data: st.DataObject) -> None:
    stream = b"".join(anthropic_upstream.text_stream("m", ["a", "b"], (10, 4), cache=(100, 7)))
    relay = AnthropicPassRelay()
    out = b"".join(relay.feed(p) for p in data.draw(reads(stream))) + relay.finish()
    assert out == stream and relay.usage == (117, 4)


def test_anthropic_pass_relay_crlf_split_at_every_byte() -> None:
    """CRLF events whose CR and LF land in different reads are relayed whole, never looped on."""
    data = ANTHROPIC.replace(b"\n", b"\r\n")
    for cut in range(len(data) + 1):
        relay = AnthropicPassRelay()
        out = relay.feed(data[:cut]) + relay.feed(data[cut:]) + relay.finish()
        assert relay.error is None and relay.usage == (30, 20), cut
        assert out == ANTHROPIC, cut  # whole events, line ends normalised to LF, nothing added
