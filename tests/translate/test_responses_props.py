"""Properties: Responses→chat→Responses keeps every message, call and output; streams are split-independent."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crabllm.translate.anthropic_out import openai_to_anthropic_request
from crabllm.translate.responses_common import decode_reasoning_state
from crabllm.translate.responses_in import input_items, responses_to_chat
from crabllm.translate.responses_out import chat_to_response
from crabllm.translate.responses_stream import encode_events
from crabllm.translate.sse import SSEDecoder
from tests.translate._responses_sdk import run, sdk_accumulate
from tests.translate._split import reads

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=16)
name = st.text("abcdefgh_", min_size=1, max_size=8)
json_value = st.recursive(st.none() | st.booleans() | st.integers(-100, 100) | st.text(max_size=6),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                          max_leaves=5)
arguments = st.builds(lambda v: msgspec.json.encode(v).decode(), st.dictionaries(st.text(max_size=5), json_value, max_size=3))


def text_parts(kind: str) -> st.SearchStrategy[Any]:
    return st.one_of(text, st.lists(st.builds(lambda t: {"type": kind, "text": t}, text), min_size=1, max_size=3))


@st.composite
def calls(draw: st.DrawFn, prefix: str) -> list[tuple[str, str, str]]:
    return [(f"{prefix}_{i}", draw(name), draw(arguments)) for i in range(draw(st.integers(0, 3)))]


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for turn in range(draw(st.integers(1, 4))):
        role = draw(st.sampled_from(["user", "user", "system", "developer"]))
        message: dict[str, Any] = {"role": role, "content": draw(text_parts("input_text"))}
        if draw(st.booleans()):
            message["type"] = "message"
        items.append(message)
        if draw(st.booleans()):
            if draw(st.booleans()):
                items.append({"type": "message", "role": "assistant", "content": draw(text_parts("output_text"))})
            for call_id, fn, args in draw(calls(f"call{turn}")):
                items.append({"type": "function_call", "call_id": call_id, "name": fn, "arguments": args})
            for item in [i for i in items if i.get("type") == "function_call" and i["call_id"].startswith(f"call{turn}_")]:
                items.append({"type": "function_call_output", "call_id": item["call_id"], "output": draw(text_parts("input_text"))})
    return items


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    return [p["text"] for p in content or []]


def items_normal(items: list[dict[str, Any]]) -> list[tuple]:
    """What must survive, in order: message texts by role, calls (id, name, args), outputs (id, text)."""
    out: list[tuple] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            role = {"developer": "system"}.get(item["role"], item["role"])
            if role == "assistant":
                out += [("assistant", t) for t in _texts(item["content"])]
            else:
                out.append((role, tuple(_texts(item["content"]))))
        elif kind == "function_call":
            out.append(("call", item["call_id"], item["name"], item["arguments"]))
        elif kind == "function_call_output":
            out.append(("output", item["call_id"], "".join(_texts(item["output"]))))
    return out


def chat_normal(messages: list[dict[str, Any]]) -> list[tuple]:
    out: list[tuple] = []
    for m in messages:
        if m["role"] == "assistant":
            if "reasoning_content" in m:
                out.append(("reasoning", m["reasoning_content"], m.get("reasoning_signature")))
            out += [("assistant", t) for t in (_texts(m["content"]) if m.get("content") is not None else [])]
            out += [("call", c["id"], c["function"]["name"], c["function"]["arguments"]) for c in m.get("tool_calls", [])]
        elif m["role"] == "tool":
            out.append(("output", m["tool_call_id"], m["content"]))
        else:
            out.append((m["role"], tuple(_texts(m["content"]))))
    return out


@st.composite
def assistant_replies(draw: st.DrawFn) -> dict[str, Any]:
    tool_calls = [{"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                  for i, n, a in draw(calls("reply"))]
    message: dict[str, Any] = {"role": "assistant", "content": draw(text) if not tool_calls or draw(st.booleans()) else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if draw(st.booleans()):
        message["reasoning_content"] = draw(text)
        if draw(st.booleans()):
            message["reasoning_signature"] = draw(st.text("ABCabc0123+/=", min_size=1, max_size=12))
    return message


def reply_normal(message: dict[str, Any], *, replay: bool = False) -> list[tuple]:
    """The reply as it must come back; on replay only signed reasoning survives (see responses_items)."""
    out: list[tuple] = []
    if message.get("reasoning_content") and (message.get("reasoning_signature") or not replay):
        out.append(("reasoning", message["reasoning_content"], message.get("reasoning_signature")))
    out += [("assistant", message["content"])] if message.get("content") else []
    return out + [("call", c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls", [])]


def completion(message: dict[str, Any]) -> dict[str, Any]:
    return {"id": "chatcmpl-p", "object": "chat.completion", "created": 1, "model": "up",
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}


def _cut(draw: st.DrawFn, value: str) -> list[str]:
    cuts = sorted(draw(st.lists(st.integers(0, len(value)), max_size=4)))
    bounds = [0, *cuts, len(value)]
    return [value[a:b] for a, b in zip(bounds, bounds[1:])]


@st.composite
def chunkings(draw: st.DrawFn, message: dict[str, Any]) -> list[dict[str, Any]]:
    """The chat chunks of `message`, its text and every argument string split at arbitrary points."""
    deltas: list[dict[str, Any]] = [{"role": "assistant"}]
    if message.get("reasoning_content"):
        deltas += [{"reasoning_content": piece} for piece in _cut(draw, message["reasoning_content"])]
    if message.get("reasoning_signature"):
        deltas.append({"reasoning_signature": message["reasoning_signature"]})
    if message.get("content"):
        deltas += [{"content": piece} for piece in _cut(draw, message["content"])]
    for index, call in enumerate(message.get("tool_calls", [])):
        pieces = _cut(draw, call["function"]["arguments"])
        deltas.append({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                       "function": {"name": call["function"]["name"], "arguments": pieces[0]}}]})
        deltas += [{"tool_calls": [{"index": index, "function": {"arguments": p}}]} for p in pieces[1:]]
    chunks = [{"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "up",
               "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chunks[-1]["choices"][0]["finish_reason"] = completion(message)["choices"][0]["finish_reason"]
    chunks.append({"choices": [], "usage": completion(message)["usage"]})
    return chunks


def output_normal(output: list[dict[str, Any]]) -> list[tuple]:
    out: list[tuple] = []
    for item in output:
        if item["type"] == "reasoning":
            text = "".join(p["text"] for p in item["summary"])
            out.append(("reasoning", text, decode_reasoning_state(item.get("encrypted_content"))[0]))
        elif item["type"] == "message":
            out += [("assistant", p["text"]) for p in item["content"] if p["type"] == "output_text"]
        elif item["type"] == "function_call":
            out.append(("call", item["call_id"], item["name"], item["arguments"]))
    return out


def without_ids(value: Any) -> Any:
    """The object with every generated id replaced by its position, so two translations compare equal."""
    if isinstance(value, dict):
        return {k: ("<id>" if k == "id" else without_ids(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


@FAST
@given(conversations(), assistant_replies(), st.data())
def test_round_trip_keeps_messages_calls_and_outputs(items: list[dict[str, Any]], reply: dict[str, Any],
                                                     data: st.DataObject) -> None:
    req = {"model": "m", "input": items, "tools": [{"type": "function", "name": "f"}]}
    body = responses_to_chat(req, "up")
    assert chat_normal(body["messages"]) == items_normal(items)
    openai_to_anthropic_request(body, "claude")  # the chat body is one every translator accepts

    response = chat_to_response(completion(reply), req, response_id="resp_s", created_at=1700000000, model="alias")
    assert output_normal(response["output"]) == reply_normal(reply)

    _, events = run(req, data.draw(chunkings(reply)))
    final = sdk_accumulate(events)
    assert final is not None
    assert output_normal(events[-1]["response"]["output"]) == reply_normal(reply)
    assert final.output_text == (reply.get("content") or "")
    assert without_ids(events[-1]["response"]) == without_ids(response)

    # The stored turn replayed as history: the next chat request holds it unchanged.
    follow = [{"type": "function_call_output", "call_id": c["id"], "output": "ok"} for c in reply.get("tool_calls", [])]
    history = input_items(req) + response["output"]
    next_body = responses_to_chat({"model": "m", "input": follow or "next"}, "up", history=history)
    expected = items_normal(items) + reply_normal(reply, replay=True) + (
        [("output", c["id"], "ok") for c in reply.get("tool_calls", [])] or [("user", ("next",))])
    assert chat_normal(next_body["messages"]) == expected


@FAST
@given(assistant_replies(), st.data())
def test_any_chunking_gives_the_same_response(reply: dict[str, Any], data: st.DataObject) -> None:
    req = {"model": "m", "input": "q"}
    first_stream, first = run(req, data.draw(chunkings(reply)))
    second_stream, second = run(req, data.draw(chunkings(reply)))
    assert without_ids(first_stream.response) == without_ids(second_stream.response)
    text_deltas = "".join(e["delta"] for e in second if e["type"] == "response.output_text.delta")
    assert text_deltas == (reply.get("content") or "")
    offset = bool(reply.get("content")) + bool(reply.get("reasoning_content"))
    for index, call in enumerate(reply.get("tool_calls", [])):
        args = "".join(e["delta"] for e in second
                       if e["type"] == "response.function_call_arguments.delta" and e["output_index"] == index + offset)
        assert args == call["function"]["arguments"]


@FAST
@given(assistant_replies(), st.data())
def test_encoded_events_decode_identically_for_any_split(reply: dict[str, Any], data: st.DataObject) -> None:
    _, events = run({"model": "m", "input": "q"}, data.draw(chunkings(reply)))
    raw = encode_events(events)
    decoder = SSEDecoder()
    decoded = []
    for piece in data.draw(reads(raw)):
        decoded += decoder.feed(piece)
    decoded += decoder.flush()
    assert [e.event for e in decoded] == [e["type"] for e in events]
    assert [msgspec.json.decode(e.data) for e in decoded] == events
