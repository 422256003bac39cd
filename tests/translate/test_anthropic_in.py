"""Anthropic-compatible inbound (/v1/messages): request → OpenAI, response and stream back."""

from __future__ import annotations

import pytest

from crabllm.errors import InvalidRequest, UpstreamProtocolError
from crabllm.translate.anthropic_in import (
    OpenAIStreamToAnthropic, anthropic_request_to_openai, openai_response_to_anthropic,
)
from crabllm.translate.anthropic_out import openai_to_anthropic_request
from crabllm.types.chat import ANTHROPIC_EXTRA, PRIVATE_KEY, strip_private

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

DOC_REQUEST = {
    "model": "claude-3-5-sonnet-20240620",
    "max_tokens": 1024,
    "system": [{"type": "text", "text": "You are a weather bot.", "cache_control": {"type": "ephemeral"}}],
    "tools": [
        {"name": "get_weather", "description": "Get the current weather in a given location",
         "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}},
        {"name": "no_schema"},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
    ],
    "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
    "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "What is the weather like in San Francisco?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
             "title": "report.pdf"},
            {"type": "search_result", "source": "https://x", "title": "t", "content": [{"type": "text", "text": "r"}]},
        ]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I should call the tool.", "signature": "EqQBCgIYAhIM"},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
             "input": {"location": "San Francisco, CA"}},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "x"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "15 degrees"},
            {"type": "tool_result", "tool_use_id": "toolu_02", "is_error": True,
             "content": [{"type": "text", "text": "boom"}]},
            {"type": "tool_result", "tool_use_id": "toolu_03"},
            {"type": "text", "text": "And tomorrow?"},
        ]},
    ],
    "stop_sequences": ["\n\nHuman:"],
    "temperature": 0.2,
    "top_k": 40,
    "metadata": {"user_id": "u-1"},
    "thinking": {"type": "enabled", "budget_tokens": 2048},
    "stream": True,
}


def test_request_golden() -> None:
    out = anthropic_request_to_openai(DOC_REQUEST)
    assert out == {
        "model": "claude-3-5-sonnet-20240620",
        "max_tokens": 1024,
        "temperature": 0.2,
        "stream": True,
        "stream_options": {"include_usage": True},
        "stop": ["\n\nHuman:"],
        "user": "u-1",
        "parallel_tool_calls": False,
        "tool_choice": "required",
        "tools": [
            {"type": "function", "function": {
                "name": "get_weather", "description": "Get the current weather in a given location",
                "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}},
            {"type": "function", "function": {"name": "no_schema", "parameters": {"type": "object", "properties": {}}}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        ],
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "You are a weather bot.",
                                            "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": [
                {"type": "text", "text": "What is the weather like in San Francisco?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "report.pdf"}},
                {"type": "search_result", "source": "https://x", "title": "t", "content": [{"type": "text", "text": "r"}]},
            ]},
            {"role": "assistant", "content": "Checking.",
             "tool_calls": [{"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
                             "function": {"name": "get_weather", "arguments": '{"location":"San Francisco, CA"}'}}],
             "reasoning_content": "I should call the tool.",
             "reasoning_signature": "EqQBCgIYAhIM",
             "thinking_blocks": DOC_REQUEST["messages"][1]["content"][:2]},
            {"role": "tool", "tool_call_id": "toolu_01A09q90qw90lq917835lq9", "content": "15 degrees"},
            {"role": "tool", "tool_call_id": "toolu_02", "content": "boom", "is_error": True},
            {"role": "tool", "tool_call_id": "toolu_03", "content": ""},
            {"role": "user", "content": "And tomorrow?"},
        ],
        PRIVATE_KEY: {ANTHROPIC_EXTRA: {"top_k": 40, "metadata": {"user_id": "u-1"},
                                        "thinking": {"type": "enabled", "budget_tokens": 2048}}},
    }
    assert PRIVATE_KEY not in strip_private(out)


def test_anthropic_to_anthropic_keeps_what_matters() -> None:
    """Inbound then outbound (an Anthropic client served by an Anthropic upstream)."""
    body = openai_to_anthropic_request(anthropic_request_to_openai(DOC_REQUEST), "claude-3-5-sonnet-20240620")
    assert body["thinking"] == DOC_REQUEST["thinking"] and body["top_k"] == 40
    assert body["metadata"] == {"user_id": "u-1"} and body["max_tokens"] == 1024
    assert body["system"] == DOC_REQUEST["system"]
    assert body["tool_choice"] == DOC_REQUEST["tool_choice"]
    assert body["tools"][0] == DOC_REQUEST["tools"][0]
    assert body["tools"][2] == DOC_REQUEST["tools"][2]
    assert body["messages"][0]["content"][:4] == DOC_REQUEST["messages"][0]["content"][:4]
    assert body["messages"][0]["content"][4]["type"] == "search_result"
    assistant = body["messages"][1]["content"]
    assert assistant[:4] == DOC_REQUEST["messages"][1]["content"][:4]
    results = body["messages"][2]["content"]
    assert [b["tool_use_id"] for b in results] == ["toolu_01A09q90qw90lq917835lq9", "toolu_02", "toolu_03"]
    assert results[1]["is_error"] is True
    assert body["messages"][3] == {"role": "user", "content": "And tomorrow?"}


@pytest.mark.parametrize("bad", [
    {"model": "m", "messages": []},
    {"model": "m", "max_tokens": "10", "messages": []},
    {"max_tokens": 10, "messages": []},
    {"model": "m", "max_tokens": 10, "messages": [{"role": "user"}]},
    [],
])
def test_invalid_requests(bad: object) -> None:
    with pytest.raises(InvalidRequest):
        anthropic_request_to_openai(bad)


def test_missing_max_tokens_is_named() -> None:
    with pytest.raises(InvalidRequest, match="max_tokens"):
        anthropic_request_to_openai({"model": "m", "messages": []})


def test_tool_choice_variants_and_string_system() -> None:
    base = {"model": "m", "max_tokens": 5, "system": "Be brief.", "messages": [{"role": "user", "content": "hi"}]}
    assert anthropic_request_to_openai({**base, "tool_choice": {"type": "auto"}})["tool_choice"] == "auto"
    assert anthropic_request_to_openai({**base, "tool_choice": {"type": "none"}})["tool_choice"] == "none"
    assert anthropic_request_to_openai({**base, "tool_choice": {"type": "tool", "name": "f"}})["tool_choice"] == {
        "type": "function", "function": {"name": "f"}}
    out = anthropic_request_to_openai(base)
    assert out["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert PRIVATE_KEY not in out


OPENAI_RESPONSE = {
    "id": "chatcmpl-abc123",
    "object": "chat.completion",
    "created": 1677858242,
    "model": "gpt-4o-2024-08-06",
    "choices": [{
        "index": 0,
        "message": {"role": "assistant", "content": "It is sunny.", "reasoning_content": "Checked.",
                    "tool_calls": [{"id": "call_abc", "type": "function",
                                    "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]},
        "finish_reason": "tool_calls",
    }],
    "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
              "prompt_tokens_details": {"cached_tokens": 30}},
}


def test_response_golden() -> None:
    assert openai_response_to_anthropic(OPENAI_RESPONSE, "claude-alias") == {
        "id": "chatcmpl-abc123",
        "type": "message",
        "role": "assistant",
        "model": "claude-alias",
        "content": [
            {"type": "thinking", "thinking": "Checked.", "signature": ""},
            {"type": "text", "text": "It is sunny."},
            {"type": "tool_use", "id": "call_abc", "name": "get_weather", "input": {"location": "Paris"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 70, "output_tokens": 20, "cache_read_input_tokens": 30, "cache_creation_input_tokens": 0},
    }


def test_response_edge_cases() -> None:
    with pytest.raises(UpstreamProtocolError):
        openai_response_to_anthropic({**OPENAI_RESPONSE, "choices": []}, "m")
    empty = {"choices": [{"message": {"role": "assistant", "content": None}, "finish_reason": "length"}]}
    out = openai_response_to_anthropic(empty, "m")
    assert out["content"] == [{"type": "text", "text": ""}] and out["stop_reason"] == "max_tokens"
    assert out["usage"]["input_tokens"] == 0 and out["id"].startswith("msg_")


def chunk(delta: dict, finish: str | None = None, usage: dict | None = None, choices: bool = True) -> dict:
    out: dict = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o",
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else []}
    if usage is not None:
        out["usage"] = usage
    return out


def run(chunks: list[dict]) -> list[tuple[str, dict]]:
    adapter = OpenAIStreamToAnthropic("claude-alias", message_id="msg_fixed")
    return [e for c in chunks for e in adapter.feed(c)] + adapter.finish()


def test_stream_sequence() -> None:
    events = run([
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning_content": "Think"}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_2", "function": {"name": "g", "arguments": "{}"}}]}),
        chunk({}, finish="tool_calls"),
        chunk({}, usage={"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}, choices=False),
    ])
    names = [n for n, _ in events]
    assert names == [
        "message_start",
        "content_block_start", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["id"] == "msg_fixed" and start["model"] == "claude-alias" and start["usage"] == {"input_tokens": 0, "output_tokens": 0}
    blocks = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert blocks == [
        {"type": "thinking", "thinking": "", "signature": ""},
        {"type": "text", "text": ""},
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {}},
        {"type": "tool_use", "id": "call_2", "name": "g", "input": {}},
    ]
    assert [d["index"] for n, d in events if n == "content_block_start"] == [0, 1, 2, 3]
    json_parts = [d["delta"]["partial_json"] for n, d in events if n == "content_block_delta" and d["index"] == 2]
    assert "".join(json_parts) == '{"a":1}'
    assert events[-2][1] == {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                             "usage": {"input_tokens": 11, "output_tokens": 7, "cache_read_input_tokens": 0,
                                       "cache_creation_input_tokens": 0}}


def test_zero_chunks_still_start_the_message() -> None:
    assert [n for n, _ in run([])] == ["message_start", "message_delta", "message_stop"]
    assert run([])[1][1]["delta"]["stop_reason"] == "end_turn"


def test_error_events() -> None:
    fresh = OpenAIStreamToAnthropic("m")
    assert fresh.error_events("upstream died") == [
        ("error", {"type": "error", "error": {"type": "api_error", "message": "upstream died"}})]
    assert fresh.finish() == [] and fresh.feed(chunk({"content": "x"})) == []
    started = OpenAIStreamToAnthropic("m")
    started.feed(chunk({"content": "partial"}))
    names = [n for n, _ in started.error_events("boom", "overloaded_error")]
    assert names == ["error"]  # no message_stop: the answer was not whole
    assert started.error_events("again")[-1][0] == "error"
