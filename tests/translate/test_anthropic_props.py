"""Properties: OpenAI→Anthropic→OpenAI round trip; stream output independent of read splits."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crabllm.translate.anthropic_in import OpenAIStreamToAnthropic, anthropic_request_to_openai
from crabllm.translate.anthropic_out import AnthropicStreamToOpenAI, openai_to_anthropic_request
from crabllm.translate.common import content_parts, image_url_of, parse_arguments
from crabllm.translate.sse import SSEDecoder, encode_event, event_json
from tests.translate._split import reads

text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)
json_value = st.recursive(st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                          max_leaves=6)
image_url = st.one_of(st.builds(lambda d: f"data:image/png;base64,{d}", st.text("ABCDEFabcdef0123456789+/", min_size=4, max_size=16)),
                      st.builds(lambda p: f"https://example.com/{p}.jpg", st.text("abcxyz", min_size=1, max_size=6)))
part = st.one_of(st.builds(lambda t: {"type": "text", "text": t}, text),
                 st.builds(lambda u: {"type": "image_url", "image_url": {"url": u}}, image_url))
user_message = st.builds(lambda c: {"role": "user", "content": c}, st.one_of(text, st.lists(part, min_size=1, max_size=4)))


@st.composite
def assistant_turn(draw: st.DrawFn) -> list[dict[str, Any]]:
    calls = [{"id": f"toolu_{draw(st.text('abc123', min_size=4, max_size=8))}_{i}", "type": "function",
              "function": {"name": draw(st.text("abcdefgh_", min_size=1, max_size=8)),
                           "arguments": msgspec.json.encode(draw(st.dictionaries(st.text(max_size=6), json_value, max_size=3))).decode()}}
             for i in range(draw(st.integers(0, 3)))]
    content = draw(text) if not calls or draw(st.booleans()) else None
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        msg["tool_calls"] = calls
    results = [{"role": "tool", "tool_call_id": c["id"], "content": draw(text)} for c in calls]
    return [msg, *results]


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(text)})
    for _ in range(draw(st.integers(1, 4))):
        messages.append(draw(user_message))
        if draw(st.booleans()):
            messages.extend(draw(assistant_turn()))
    return messages


def normal(messages: list[dict[str, Any]]) -> list[tuple]:
    """What must survive: role, text, images, tool calls (id, name, parsed args), tool_call_id."""
    out = []
    for m in messages:
        parts = content_parts(m.get("content"))
        texts = "".join(p.get("text", "") for p in parts if p.get("type") == "text")
        images = [image_url_of(p) for p in parts if p.get("type") == "image_url"]
        calls = [(c["id"], c["function"]["name"], parse_arguments(c["function"]["arguments"])) for c in m.get("tool_calls") or []]
        out.append((m["role"], texts, images, calls, m.get("tool_call_id")))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversations())
def test_openai_anthropic_openai_round_trip(messages: list[dict[str, Any]]) -> None:
    upstream = openai_to_anthropic_request({"model": "x", "messages": messages}, "claude")
    back = anthropic_request_to_openai(upstream)
    assert normal(back["messages"]) == normal(messages)


# --- stream split invariance -------------------------------------------------------------

@st.composite
def anthropic_streams(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    """An upstream Anthropic SSE body plus what it adds up to."""
    usage_in = {"input_tokens": draw(st.integers(0, 5000)), "cache_read_input_tokens": draw(st.integers(0, 5000)),
                "cache_creation_input_tokens": draw(st.integers(0, 500)), "output_tokens": 1}
    events: list[tuple[str, dict]] = [("message_start", {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "claude", "usage": usage_in}})]
    texts, args = [], []
    for index in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": {"type": "text", "text": ""}}))
            for piece in draw(st.lists(text, max_size=3)):
                texts.append(piece)
                events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                       "delta": {"type": "text_delta", "text": piece}}))
        else:
            events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
                "type": "tool_use", "id": f"toolu_{index}", "name": "f", "input": {}}}))
            whole = msgspec.json.encode(draw(st.dictionaries(st.text(max_size=4), json_value, max_size=2))).decode()
            args.append(whole)
            cut = draw(st.integers(0, len(whole)))
            for frag in (whole[:cut], whole[cut:]):
                events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                       "delta": {"type": "input_json_delta", "partial_json": frag}}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        if draw(st.booleans()):
            events.append(("ping", {"type": "ping"}))
    output = draw(st.integers(1, 5000))
    events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": output}}))
    events.append(("message_stop", {"type": "message_stop"}))
    raw = b"".join(encode_event(msgspec.json.encode(d), name) for name, d in events)
    expected = {"text": "".join(texts), "args": args, "prompt": usage_in["input_tokens"] + usage_in["cache_read_input_tokens"]
                + usage_in["cache_creation_input_tokens"], "completion": output}
    return raw, expected


def anthropic_to_chunks(pieces: list[bytes]) -> list[dict[str, Any]]:
    decoder, translator = SSEDecoder(), AnthropicStreamToOpenAI("m", created=0)
    out = []
    for piece in pieces:
        for event in decoder.feed(piece):
            out.extend(translator.feed(event.event, event_json(event)))
    for event in decoder.flush():
        out.extend(translator.feed(event.event, event_json(event)))
    return out + translator.finish()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), anthropic_streams())
def test_anthropic_stream_any_split(data: st.DataObject, stream: tuple[bytes, dict[str, Any]]) -> None:
    raw, expected = stream
    whole = anthropic_to_chunks([raw])
    assert anthropic_to_chunks(data.draw(reads(raw))) == whole
    deltas = [c["choices"][0]["delta"] for c in whole if c["choices"]]
    assert "".join(d.get("content", "") for d in deltas) == expected["text"]
    by_index: dict[int, str] = {}
    for call in (tc for d in deltas for tc in d.get("tool_calls", [])):
        by_index[call["index"]] = by_index.get(call["index"], "") + call["function"]["arguments"]
    assert [by_index[i] for i in sorted(by_index)] == expected["args"]
    usage = [c["usage"] for c in whole if "usage" in c]
    assert len(usage) == 1
    assert usage[0]["prompt_tokens"] == expected["prompt"] and usage[0]["completion_tokens"] == expected["completion"]
    assert usage[0]["total_tokens"] == expected["prompt"] + expected["completion"]

    # …and back to Anthropic events for a /v1/messages client: same text, args and usage.
    adapter = OpenAIStreamToAnthropic("m", message_id="msg_x")
    events = [e for c in whole for e in adapter.feed(c)] + adapter.finish()
    assert events[0][0] == "message_start" and events[-1][0] == "message_stop"
    text_out = "".join(d["delta"].get("text", "") for n, d in events if n == "content_block_delta")
    assert text_out == expected["text"]
    final = events[-2][1]["usage"]
    assert final["input_tokens"] + final["cache_read_input_tokens"] + final["cache_creation_input_tokens"] == expected["prompt"]
    assert final["output_tokens"] == expected["completion"]


@st.composite
def openai_streams(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    """An OpenAI-compatible upstream SSE body (as /v1/messages translates it) plus its totals."""
    chunks: list[dict[str, Any]] = [{"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    texts, args = [], []
    for index in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            for piece in draw(st.lists(text, max_size=3)):
                texts.append(piece)
                chunks.append({"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": piece}}]})
        else:
            whole = msgspec.json.encode(draw(st.dictionaries(st.text(max_size=4), json_value, max_size=2))).decode()
            args.append(whole)
            cut = draw(st.integers(0, len(whole)))
            head = {"index": len(args) - 1, "id": f"call_{index}", "type": "function", "function": {"name": "f", "arguments": whole[:cut]}}
            tail = {"index": len(args) - 1, "function": {"arguments": whole[cut:]}}
            chunks.extend({"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"tool_calls": [c]}}]} for c in (head, tail))
    chunks.append({"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls" if args else "stop"}]})
    usage = {"prompt_tokens": draw(st.integers(0, 999)), "completion_tokens": draw(st.integers(0, 999))}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    chunks.append({"id": "chatcmpl-1", "choices": [], "usage": usage})
    raw = b"".join(encode_event(msgspec.json.encode(c)) for c in chunks) + encode_event(b"[DONE]")
    return raw, {"text": "".join(texts), "args": args, "usage": usage}


def openai_to_events(pieces: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    decoder, adapter = SSEDecoder(), OpenAIStreamToAnthropic("m")
    out = []
    for event in [e for piece in pieces for e in decoder.feed(piece)] + decoder.flush():
        if event.data != "[DONE]":
            out.extend(adapter.feed(event_json(event)))
    return out + adapter.finish()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), openai_streams())
def test_openai_stream_to_anthropic_any_split(data: st.DataObject, stream: tuple[bytes, dict[str, Any]]) -> None:
    raw, expected = stream
    whole = openai_to_events([raw])
    assert openai_to_events(data.draw(reads(raw))) == whole
    assert whole[0][0] == "message_start" and [n for n, _ in whole[-2:]] == ["message_delta", "message_stop"]
    deltas = [(d["index"], d["delta"]) for n, d in whole if n == "content_block_delta"]
    assert "".join(d.get("text", "") for _, d in deltas) == expected["text"]
    tool_blocks = [d["index"] for n, d in whole if n == "content_block_start" and d["content_block"]["type"] == "tool_use"]
    assert ["".join(d.get("partial_json", "") for i, d in deltas if i == b) for b in tool_blocks] == expected["args"]
    starts = [d["index"] for n, d in whole if n == "content_block_start"]
    stops = [d["index"] for n, d in whole if n == "content_block_stop"]
    assert starts == stops == list(range(len(starts)))
    final = whole[-2][1]
    assert final["delta"]["stop_reason"] == ("tool_use" if expected["args"] else "end_turn")
    assert final["usage"]["input_tokens"] == expected["usage"]["prompt_tokens"]
    assert final["usage"]["output_tokens"] == expected["usage"]["completion_tokens"]
