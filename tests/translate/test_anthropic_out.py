"""OpenAI → Anthropic upstream: request mapping, response mapping, stream translation (doc examples)."""

from __future__ import annotations

import msgspec
import pytest

from crabllm.errors import InvalidRequest, UpstreamError
from crabllm.translate.anthropic_out import (
    AnthropicStreamToOpenAI, anthropic_to_openai_response, openai_to_anthropic_request,
)
from crabllm.translate.sse import SSEDecoder, event_json
from crabllm.types.chat import ANTHROPIC_EXTRA, PRIVATE_KEY

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"$ref": "#/$defs/Unit"},
                "title": {"type": "string", "description": "a parameter named like a keyword"},
            },
            "required": ["location"],
            "$defs": {"Unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        },
    },
}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def test_request_golden() -> None:
    req = {
        "model": "claude-alias",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "What's the weather like in San Francisco? And what is this?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ]},
            {"role": "assistant", "content": "Let me check.", "reasoning_content": "Need the tool.",
             "reasoning_signature": "sig-1",
             "tool_calls": [
                 {"id": "toolu_01A", "type": "function",
                  "function": {"name": "get_weather", "arguments": '{"location": "San Francisco, CA"}'}},
                 {"id": "toolu_01B", "type": "function", "function": {"name": "get_weather", "arguments": "not json"}},
             ]},
            {"role": "tool", "tool_call_id": "toolu_01A", "content": "15 degrees"},
            {"role": "tool", "tool_call_id": "toolu_01B", "content": [{"type": "text", "text": "error"}], "is_error": True},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [WEATHER_TOOL],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "stop": "END",
        "max_completion_tokens": 1024,
        "max_tokens": 99,
        "temperature": 0.5,
        "top_p": 0.9,
        "user": "user-42",
        "stream": True,
        "n": 1,
        "presence_penalty": 0.1,
    }
    body = openai_to_anthropic_request(req, "claude-3-5-sonnet-20240620")
    assert body == {
        "model": "claude-3-5-sonnet-20240620",
        "system": "You are terse.\nUse tools.",
        "max_tokens": 1024,
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "What's the weather like in San Francisco? And what is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Need the tool.", "signature": "sig-1"},
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"location": "San Francisco, CA"}},
                {"type": "tool_use", "id": "toolu_01B", "name": "get_weather", "input": {}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "15 degrees"},
                {"type": "tool_result", "tool_use_id": "toolu_01B", "content": [{"type": "text", "text": "error"}],
                 "is_error": True},
            ]},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [{
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "input_schema": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "title": {"type": "string", "description": "a parameter named like a keyword"},
                },
                "required": ["location"],
            },
        }],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "stop_sequences": ["END"],
        "temperature": 0.5,
        "top_p": 0.9,
        "stream": True,
        "metadata": {"user_id": "user-42"},
    }


def simple(**extra: object) -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}


def test_defaults_and_tool_choice_variants() -> None:
    assert openai_to_anthropic_request(simple(), "c")["max_tokens"] == 4096
    assert openai_to_anthropic_request(simple(max_tokens=7), "c")["max_tokens"] == 7
    none = openai_to_anthropic_request(simple(tools=[WEATHER_TOOL], tool_choice="none"), "c")
    assert "tools" not in none and "tool_choice" not in none
    assert openai_to_anthropic_request(simple(tools=[WEATHER_TOOL], tool_choice="auto"), "c")["tool_choice"] == {"type": "auto"}
    named = openai_to_anthropic_request(
        simple(tools=[WEATHER_TOOL], tool_choice={"type": "function", "function": {"name": "get_weather"}}), "c")
    assert named["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert "tool_choice" not in openai_to_anthropic_request(simple(tools=[WEATHER_TOOL]), "c")
    bare = openai_to_anthropic_request(simple(tools=[{"type": "function", "function": {"name": "ping"}}]), "c")
    assert bare["tools"] == [{"name": "ping", "input_schema": {"type": "object", "properties": {}}}]


def test_thinking_config_sources() -> None:
    assert openai_to_anthropic_request(simple(thinking=True), "c")["thinking"] == {"type": "enabled", "budget_tokens": 4095}
    assert openai_to_anthropic_request(simple(thinking={"budget_tokens": 2000}), "c")["thinking"] == {
        "type": "enabled", "budget_tokens": 2000}
    effort = openai_to_anthropic_request(simple(reasoning_effort="high"), "c")
    assert effort["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert effort["max_tokens"] > 4096  # the budget must stay below max_tokens
    assert "thinking" not in openai_to_anthropic_request(simple(reasoning_effort="none"), "c")
    private = simple(thinking=True, **{PRIVATE_KEY: {ANTHROPIC_EXTRA: {"thinking": {"type": "enabled", "budget_tokens": 1500},
                                                                       "top_k": 5}}})
    body = openai_to_anthropic_request(private, "c")
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1500} and body["top_k"] == 5
    assert PRIVATE_KEY not in body


def test_system_blocks_with_cache_control_stay_blocks() -> None:
    req = {"model": "m", "messages": [
        {"role": "system", "content": [{"type": "text", "text": "long doc", "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": "q"}]}
    assert openai_to_anthropic_request(req, "c")["system"] == [
        {"type": "text", "text": "long doc", "cache_control": {"type": "ephemeral"}}]


def test_unsigned_reasoning_is_not_replayed_and_native_blocks_pass_through() -> None:
    req = {"model": "m", "messages": [
        {"role": "user", "content": [{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}]},
        {"role": "assistant", "content": "ok", "reasoning_content": "from another provider"},
    ]}
    msgs = openai_to_anthropic_request(req, "c")["messages"]
    assert msgs[0]["content"][0]["type"] == "document"
    assert msgs[1] == {"role": "assistant", "content": "ok"}


def test_invalid_requests() -> None:
    with pytest.raises(InvalidRequest):
        openai_to_anthropic_request({"model": "m"}, "c")
    with pytest.raises(InvalidRequest):
        openai_to_anthropic_request({"model": "m", "messages": [{"content": "no role"}]}, "c")


DOC_RESPONSE = {
    "id": "msg_01Aq9w938a90dw8q",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-sonnet-20240620",
    "content": [
        {"type": "thinking", "thinking": "The user wants weather.", "signature": "EqQBCgIYAhIM"},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
        {"type": "text", "text": "I'll check the weather."},
        {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
         "input": {"location": "San Francisco, CA", "unit": "celsius"}},
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "x"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 100, "output_tokens": 50, "cache_read_input_tokens": 20, "cache_creation_input_tokens": 5},
}


def test_response_golden() -> None:
    resp = anthropic_to_openai_response(DOC_RESPONSE, "claude-alias", created=1)
    assert resp == {
        "id": "msg_01Aq9w938a90dw8q",
        "object": "chat.completion",
        "created": 1,
        "model": "claude-alias",
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "I'll check the weather.",
                "tool_calls": [{"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
                                "function": {"name": "get_weather",
                                             "arguments": '{"location":"San Francisco, CA","unit":"celsius"}'}}],
                "reasoning_content": "The user wants weather.",
                "reasoning_signature": "EqQBCgIYAhIM",
                "thinking_blocks": DOC_RESPONSE["content"][:2],
            },
            "finish_reason": "tool_calls",
            "logprobs": None,
        }],
        "usage": {"prompt_tokens": 125, "completion_tokens": 50, "total_tokens": 175,
                  "prompt_tokens_details": {"cached_tokens": 20},
                  "cache_read_input_tokens": 20, "cache_creation_input_tokens": 5},
    }


@pytest.mark.parametrize(("stop", "finish"), [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
                                              ("tool_use", "tool_calls"), ("refusal", "content_filter"),
                                              ("pause_turn", "pause_turn")])
def test_stop_reasons(stop: str, finish: str) -> None:
    resp = anthropic_to_openai_response({**DOC_RESPONSE, "content": [{"type": "text", "text": "x"}], "stop_reason": stop}, "m")
    assert resp["choices"][0]["finish_reason"] == finish


def test_tool_only_response_has_null_content() -> None:
    resp = anthropic_to_openai_response({**DOC_RESPONSE, "content": DOC_RESPONSE["content"][3:4]}, "m")
    assert resp["choices"][0]["message"]["content"] is None


# The streaming example from Anthropic's Messages streaming documentation (text + tool use).
DOC_STREAM = b"""event: message_start
data: {"type": "message_start", "message": {"id": "msg_014p7gG3wDgGV9EUtLvnow3U", "type": "message", "role": "assistant", "model": "claude-3-haiku-20240307", "stop_sequence": null, "usage": {"input_tokens": 472, "output_tokens": 2}, "content": [], "stop_reason": null}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Okay"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ", let's check the weather."}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: content_block_start
data: {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather", "input": {}}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\\"location\\":"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": " \\"San Francisco, CA\\"}"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 1}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 89}}

event: message_stop
data: {"type": "message_stop"}

"""


def run_stream(raw: bytes, chunks: list[bytes] | None = None) -> list[dict]:
    decoder = SSEDecoder()
    translator = AnthropicStreamToOpenAI("claude-alias", created=7)
    out: list[dict] = []
    for piece in chunks if chunks is not None else [raw]:
        for event in decoder.feed(piece):
            out.extend(translator.feed(event.event, event_json(event)))
    for event in decoder.flush():
        out.extend(translator.feed(event.event, event_json(event)))
    return out + translator.finish()


def test_doc_stream() -> None:
    chunks = run_stream(DOC_STREAM)
    assert {c["id"] for c in chunks} == {"msg_014p7gG3wDgGV9EUtLvnow3U"}
    assert {c["created"] for c in chunks} == {7}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:] if c["choices"])
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("content", "") for d in deltas) == "Okay, let's check the weather."
    calls = [tc for d in deltas for tc in d.get("tool_calls", [])]
    assert calls[0] == {"index": 0, "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "type": "function",
                        "function": {"name": "get_weather", "arguments": ""}}
    assert "".join(tc["function"]["arguments"] for tc in calls) == '{"location": "San Francisco, CA"}'
    assert {tc["index"] for tc in calls} == {0}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]] == ["tool_calls"]
    usage_chunks = [c for c in chunks if "usage" in c]
    assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1] and chunks[-1]["choices"] == []
    assert usage_chunks[0]["usage"]["prompt_tokens"] == 472
    assert usage_chunks[0]["usage"]["completion_tokens"] == 89
    assert usage_chunks[0]["usage"]["total_tokens"] == 561


def test_thinking_stream_and_cumulative_usage() -> None:
    translator = AnthropicStreamToOpenAI("m", id="chatcmpl-fixed", created=0)
    events = [
        ("message_start", {"type": "message_start", "message": {"id": "msg_x", "usage": {
            "input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0, "output_tokens": 1}}}),
        ("content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
        ("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me think"}}),
        ("content_block_delta", {"index": 0, "delta": {"type": "signature_delta", "signature": "EqQB"}}),
        ("content_block_stop", {"index": 0}),
        ("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"index": 1, "delta": {"type": "text_delta", "text": "42"}}),
        ("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"input_tokens": 10, "output_tokens": 30}}),
        ("message_stop", {}),
    ]
    chunks = [c for name, data in events for c in translator.feed(name, data)] + translator.finish()
    assert {c["id"] for c in chunks} == {"chatcmpl-fixed"}
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert {"reasoning_content": "Let me think"} in deltas and {"reasoning_signature": "EqQB"} in deltas
    assert chunks[-1]["usage"] == {"prompt_tokens": 110, "completion_tokens": 30, "total_tokens": 140,
                                   "prompt_tokens_details": {"cached_tokens": 100},
                                   "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0}
    assert translator.finish() == []


def test_error_event_raises_upstream_error() -> None:
    translator = AnthropicStreamToOpenAI("m")
    translator.feed("message_start", {"message": {"id": "msg_1", "usage": {"input_tokens": 1}}})
    with pytest.raises(UpstreamError) as info:
        translator.feed("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    assert info.value.status == 529 and info.value.message == "Overloaded"
    assert msgspec.json.decode(info.value.body)["error"]["type"] == "overloaded_error"
