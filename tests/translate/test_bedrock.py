"""Bedrock Converse: request/response mapping and ConverseStream over real event-stream frames."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crabllm.errors import InvalidRequest, UpstreamError
from crabllm.translate.bedrock import ConverseStreamToOpenAI, converse_to_openai_response, openai_to_converse_request
from crabllm.translate.eventstream import EventStreamDecoder, encode_frame, frame_to_event
from tests.translate._split import reads

TOP_SONG = {"type": "function", "function": {
    "name": "top_song", "description": "Get the most popular song played on a radio station.",
    "parameters": {"type": "object", "properties": {"sign": {"$ref": "#/definitions/Sign"}}, "required": ["sign"],
                   "definitions": {"Sign": {"type": "string", "description": "The call sign, e.g. WZPZ"}}}}}


def test_request_golden() -> None:
    req = {
        "model": "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "messages": [
            {"role": "system", "content": "You are a radio DJ."},
            {"role": "user", "content": [{"type": "text", "text": "What is the most popular song on WZPZ?"},
                                         {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}}]},
            {"role": "assistant", "content": "", "reasoning_content": "Use the tool.", "reasoning_signature": "sig",
             "tool_calls": [{"id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "type": "function",
                             "function": {"name": "top_song", "arguments": '{"sign": "WZPZ"}'}}]},
            {"role": "tool", "tool_call_id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "content": '{"song":"Elemental Hotel"}'},
            {"role": "user", "content": "Who sings it?"},
            {"role": "user", "content": "Be brief."},
        ],
        "tools": [TOP_SONG],
        "tool_choice": "auto",
        "max_tokens": 512,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": "STOP",
        "additionalModelRequestFields": {"top_k": 200},
    }
    assert openai_to_converse_request(req) == {
        "system": [{"text": "You are a radio DJ."}],
        "messages": [
            {"role": "user", "content": [{"text": "What is the most popular song on WZPZ?"},
                                         {"image": {"format": "png", "source": {"bytes": "iVBORw0K"}}}]},
            {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "Use the tool.", "signature": "sig"}}},
                {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "top_song", "input": {"sign": "WZPZ"}}},
            ]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "content": [{"text": '{"song":"Elemental Hotel"}'}]}},
                {"text": "Who sings it?"},
                {"text": "Be brief."},
            ]},
        ],
        "inferenceConfig": {"maxTokens": 512, "temperature": 0.5, "topP": 0.9, "stopSequences": ["STOP"]},
        "toolConfig": {"tools": [{"toolSpec": {
            "name": "top_song", "description": "Get the most popular song played on a radio station.",
            "inputSchema": {"json": {"type": "object", "properties": {"sign": {"type": "string", "description": "The call sign, e.g. WZPZ"}},
                                     "required": ["sign"]}}}}],
            "toolChoice": {"auto": {}}},
        "additionalModelRequestFields": {"top_k": 200},
    }


def test_request_variants() -> None:
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [TOP_SONG]}
    assert "toolConfig" not in openai_to_converse_request({**base, "tool_choice": "none"})
    assert openai_to_converse_request({**base, "tool_choice": "required"})["toolConfig"]["toolChoice"] == {"any": {}}
    named = openai_to_converse_request({**base, "tool_choice": {"type": "function", "function": {"name": "top_song"}}})
    assert named["toolConfig"]["toolChoice"] == {"tool": {"name": "top_song"}}
    assert "inferenceConfig" not in openai_to_converse_request({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    with pytest.raises(InvalidRequest):
        openai_to_converse_request({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]})
    s3 = openai_to_converse_request({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "s3://bucket/a.jpeg"}}]}]})
    assert s3["messages"][0]["content"][0] == {"image": {"format": "jpeg", "source": {"s3Location": {"uri": "s3://bucket/a.jpeg"}}}}
    errored = openai_to_converse_request({"model": "m", "messages": [
        {"role": "tool", "tool_call_id": "t", "content": "bad", "is_error": True}]})
    assert errored["messages"][0]["content"][0]["toolResult"]["status"] == "error"


DOC_RESPONSE = {
    "output": {"message": {"role": "assistant", "content": [
        {"reasoningContent": {"reasoningText": {"text": "Need the tool.", "signature": "sig"}}},
        {"text": "Let me look that up."},
        {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "top_song", "input": {"sign": "WZPZ"}}},
    ]}},
    "stopReason": "tool_use",
    "usage": {"inputTokens": 375, "outputTokens": 70, "totalTokens": 445, "cacheReadInputTokens": 100,
              "cacheWriteInputTokens": 0},
    "metrics": {"latencyMs": 1275},
}


def test_response_golden() -> None:
    resp = converse_to_openai_response(DOC_RESPONSE, "bedrock-alias", created=3)
    assert resp["id"].startswith("chatcmpl-")
    assert {k: v for k, v in resp.items() if k != "id"} == {
        "object": "chat.completion",
        "created": 3,
        "model": "bedrock-alias",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": None, "message": {
            "role": "assistant",
            "content": "Let me look that up.",
            "reasoning_content": "Need the tool.",
            "reasoning_signature": "sig",
            "tool_calls": [{"id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "type": "function",
                            "function": {"name": "top_song", "arguments": '{"sign":"WZPZ"}'}}],
        }}],
        "usage": {"prompt_tokens": 475, "completion_tokens": 70, "total_tokens": 445,
                  "prompt_tokens_details": {"cached_tokens": 100},
                  "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0},
    }


@pytest.mark.parametrize(("reason", "finish"), [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
                                                ("tool_use", "tool_calls"), ("guardrail_intervened", "content_filter")])
def test_stop_reasons(reason: str, finish: str) -> None:
    resp = {"output": {"message": {"content": [{"text": "x"}]}}, "stopReason": reason}
    assert converse_to_openai_response(resp, "m")["choices"][0]["finish_reason"] == finish


def frame(event_type: str, payload: dict) -> bytes:
    # Real payloads carry a random-length "p" padding field, which must be ignored.
    body = msgspec.json.encode({**payload, "p": "abcdefghijklmnop"[: len(event_type)]})
    return encode_frame({":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}, body)


def converse_chunks(pieces: list[bytes]) -> list[dict[str, Any]]:
    decoder, translator = EventStreamDecoder(), ConverseStreamToOpenAI("bedrock-alias", id="chatcmpl-b", created=0)
    out = []
    for piece in pieces:
        for f in decoder.feed(piece):
            out.extend(translator.feed(*frame_to_event(f)))
    assert decoder.pending() == 0
    return out + translator.finish()


@st.composite
def converse_streams(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    frames = [frame("messageStart", {"role": "assistant"})]
    texts, args = [], []
    for index in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            for piece in draw(st.lists(st.text(max_size=8), min_size=1, max_size=3)):
                texts.append(piece)
                frames.append(frame("contentBlockDelta", {"delta": {"text": piece}, "contentBlockIndex": index}))
        else:
            frames.append(frame("contentBlockStart", {"start": {"toolUse": {"toolUseId": f"tooluse_{index}", "name": "f"}},
                                                      "contentBlockIndex": index}))
            whole = msgspec.json.encode({"k": draw(st.text(max_size=6))}).decode()
            args.append(whole)
            cut = draw(st.integers(0, len(whole)))
            for frag in (whole[:cut], whole[cut:]):
                frames.append(frame("contentBlockDelta", {"delta": {"toolUse": {"input": frag}}, "contentBlockIndex": index}))
        frames.append(frame("contentBlockStop", {"contentBlockIndex": index}))
    frames.append(frame("messageStop", {"stopReason": "tool_use" if args else "end_turn"}))
    usage = {"inputTokens": draw(st.integers(0, 999)), "outputTokens": draw(st.integers(0, 999))}
    usage["totalTokens"] = usage["inputTokens"] + usage["outputTokens"]
    frames.append(frame("metadata", {"usage": usage, "metrics": {"latencyMs": 10}}))
    return b"".join(frames), {"text": "".join(texts), "args": args, "usage": usage}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), converse_streams())
def test_stream_any_split(data: st.DataObject, stream: tuple[bytes, dict[str, Any]]) -> None:
    raw, expected = stream
    whole = converse_chunks([raw])
    assert converse_chunks(data.draw(reads(raw))) == whole
    assert whole[0]["choices"][0]["delta"]["role"] == "assistant"
    deltas = [c["choices"][0]["delta"] for c in whole if c["choices"]]
    assert "".join(d.get("content", "") for d in deltas) == expected["text"]
    by_index: dict[int, str] = {}
    for call in (tc for d in deltas for tc in d.get("tool_calls", [])):
        by_index[call["index"]] = by_index.get(call["index"], "") + call["function"]["arguments"]
    assert [by_index[i] for i in sorted(by_index)] == expected["args"]
    usage = [c["usage"] for c in whole if "usage" in c]
    assert len(usage) == 1 and whole[-1]["choices"] == []
    assert usage[0]["prompt_tokens"] == expected["usage"]["inputTokens"]
    assert usage[0]["completion_tokens"] == expected["usage"]["outputTokens"]
    assert usage[0]["total_tokens"] == expected["usage"]["totalTokens"]


def test_reasoning_stream() -> None:
    translator = ConverseStreamToOpenAI("m")
    out = translator.feed("contentBlockDelta", {"delta": {"reasoningContent": {"text": "hmm"}}, "contentBlockIndex": 0})
    out += translator.feed("contentBlockDelta", {"delta": {"reasoningContent": {"signature": "s"}}, "contentBlockIndex": 0})
    assert [c["choices"][0]["delta"] for c in out] == [{"role": "assistant", "reasoning_content": "hmm"},
                                                       {"reasoning_signature": "s"}]


def test_exception_frame_mid_stream() -> None:
    raw = frame("messageStart", {"role": "assistant"}) + encode_frame(
        {":message-type": "exception", ":exception-type": "throttlingException", ":content-type": "application/json"},
        b'{"message":"Too many requests, please wait before trying again."}')
    with pytest.raises(UpstreamError) as info:
        converse_chunks([raw])
    assert info.value.status == 429 and info.value.provider == "bedrock"
