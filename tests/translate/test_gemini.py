"""Gemini: request mapping, response mapping, stream translation (doc-shaped examples and properties)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crabllm.errors import UpstreamError
from crabllm.translate.gemini import GeminiStreamToOpenAI, gemini_to_openai_response, openai_to_gemini_request
from crabllm.translate.sse import SSEDecoder, encode_event, event_json
from tests.translate._split import reads

LIGHTS_TOOL = {"type": "function", "function": {
    "name": "set_light_values",
    "description": "Sets the brightness and color temperature of a light.",
    "parameters": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "brightness": {"type": "integer", "description": "Light level from 0 to 100", "default": 50},
            "color_temp": {"type": "string", "enum": ["daylight", "cool", "warm"], "title": "Color Temp"},
            "title": {"type": ["string", "null"], "description": "a parameter named title"},
            "default": {"type": "boolean", "description": "a parameter named default"},
        },
        "required": ["brightness", "color_temp"],
    },
}}


def test_request_golden() -> None:
    req = {
        "model": "gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": "You control the lights."},
            {"role": "user", "content": [
                {"type": "text", "text": "Dim the lights so the room feels cozy and warm. What's this?"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/photo.png?x=1"}},
            ]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_r1_0__thought__c2lnbmF0dXJl", "type": "function",
                 "function": {"name": "set_light_values", "arguments": '{"brightness":25,"color_temp":"warm"}'}},
                {"id": "call_r1_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_r1_0__thought__c2lnbmF0dXJl",
             "content": '{"brightness":25,"colorTemperature":"warm"}'},
            {"role": "tool", "tool_call_id": "call_r1_1", "content": "12:00"},
            {"role": "tool", "tool_call_id": "call_r1_1", "name": "explicit", "content": "[1,2]"},
        ],
        "tools": [LIGHTS_TOOL, {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}],
        "tool_choice": {"type": "function", "function": {"name": "set_light_values"}},
        "max_tokens": 200,
        "temperature": 0.7,
        "top_p": 0.95,
        "stop": ["END"],
        "response_format": {"type": "json_object"},
        "seed": 3,
    }
    assert openai_to_gemini_request(req) == {
        "systemInstruction": {"parts": [{"text": "You control the lights."}]},
        "contents": [
            {"role": "user", "parts": [
                {"text": "Dim the lights so the room feels cozy and warm. What's this?"},
                {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
                {"fileData": {"fileUri": "https://example.com/photo.png?x=1", "mimeType": "image/png"}},
            ]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "set_light_values", "args": {"brightness": 25, "color_temp": "warm"}},
                 "thoughtSignature": "c2lnbmF0dXJl"},
                {"functionCall": {"name": "get_time", "args": {}}},
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "set_light_values", "response": {"brightness": 25, "colorTemperature": "warm"}}},
                {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}},
                {"functionResponse": {"name": "explicit", "response": {"result": [1, 2]}}},
            ]},
        ],
        "tools": [{"functionDeclarations": [
            {"name": "set_light_values", "description": "Sets the brightness and color temperature of a light.",
             "parameters": {"type": "object", "properties": {
                 "brightness": {"type": "integer", "description": "Light level from 0 to 100"},
                 "color_temp": {"type": "string", "enum": ["daylight", "cool", "warm"]},
                 "title": {"type": "string", "nullable": True, "description": "a parameter named title"},
                 "default": {"type": "boolean", "description": "a parameter named default"},
             }, "required": ["brightness", "color_temp"]}},
            {"name": "get_time"},
        ]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["set_light_values"]}},
        "generationConfig": {"maxOutputTokens": 200, "temperature": 0.7, "topP": 0.95, "seed": 3,
                             "stopSequences": ["END"], "responseMimeType": "application/json"},
    }


def test_request_variants() -> None:
    base = {"model": "gemini-3-pro-preview", "messages": [{"role": "user", "content": "hi"}], "tools": [LIGHTS_TOOL]}
    assert openai_to_gemini_request({**base, "tool_choice": "none"})["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}
    assert openai_to_gemini_request({**base, "tool_choice": "required"})["toolConfig"]["functionCallingConfig"]["mode"] == "ANY"
    assert "generationConfig" not in openai_to_gemini_request(base)
    three = openai_to_gemini_request({**base, "messages": [
        {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "function": {"name": "f", "arguments": "{}"}}]}]})
    assert three["contents"][0]["parts"][0]["thoughtSignature"] == "skip_thought_signature_validator"
    schema = openai_to_gemini_request({**base, "response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "object", "title": "X", "properties": {"a": {"type": "string"}}}}}})
    assert schema["generationConfig"] == {"responseMimeType": "application/json",
                                          "responseSchema": {"type": "object", "properties": {"a": {"type": "string"}}}}
    thinking = openai_to_gemini_request({**base, "model": "gemini-2.5-pro", "reasoning_effort": "low"})
    assert thinking["generationConfig"]["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 1024}


DOC_RESPONSE = {
    "candidates": [{
        "content": {"role": "model", "parts": [
            {"text": "Thinking about lights.", "thought": True},
            {"text": "Setting the lights."},
            {"functionCall": {"name": "set_light_values", "args": {"brightness": 25, "color_temp": "warm"}},
             "thoughtSignature": "c2ln"},
            {"functionCall": {"name": "set_light_values", "args": {"brightness": 10, "color_temp": "cool"}}},
        ]},
        "finishReason": "STOP",
        "index": 0,
        "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}],
    }],
    "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 25, "thoughtsTokenCount": 100,
                      "cachedContentTokenCount": 4, "totalTokenCount": 133},
    "modelVersion": "gemini-2.5-flash",
    "responseId": "resp-1",
}


def test_response_golden() -> None:
    assert gemini_to_openai_response(DOC_RESPONSE, "gemini-alias", created=5) == {
        "id": "resp-1",
        "object": "chat.completion",
        "created": 5,
        "model": "gemini-alias",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": None, "message": {
            "role": "assistant",
            "content": "Setting the lights.",
            "reasoning_content": "Thinking about lights.",
            "tool_calls": [
                {"id": "call_resp-1_0__thought__c2ln", "type": "function",
                 "function": {"name": "set_light_values", "arguments": '{"brightness":25,"color_temp":"warm"}'}},
                {"id": "call_resp-1_1", "type": "function",
                 "function": {"name": "set_light_values", "arguments": '{"brightness":10,"color_temp":"cool"}'}},
            ],
        }}],
        "usage": {"prompt_tokens": 8, "completion_tokens": 125, "total_tokens": 133,
                  "prompt_tokens_details": {"cached_tokens": 4},
                  "completion_tokens_details": {"reasoning_tokens": 100}},
    }


@pytest.mark.parametrize(("reason", "finish"), [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
                                                ("RECITATION", "content_filter"), ("MALFORMED_FUNCTION_CALL", "malformed_function_call")])
def test_finish_reasons(reason: str, finish: str) -> None:
    resp = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]}
    assert gemini_to_openai_response(resp, "m")["choices"][0]["finish_reason"] == finish


def test_blocked_prompt() -> None:
    resp = gemini_to_openai_response({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}, "m")
    assert resp["choices"][0]["finish_reason"] == "content_filter"
    assert resp["usage"]["total_tokens"] == 3


def test_tool_call_ids_are_unique_across_responses() -> None:
    resp = {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {}}}]}, "finishReason": "STOP"}]}
    first = gemini_to_openai_response(resp, "m")["choices"][0]["message"]["tool_calls"][0]["id"]
    second = gemini_to_openai_response(resp, "m")["choices"][0]["message"]["tool_calls"][0]["id"]
    assert first != second


def sse(payloads: list[dict]) -> bytes:
    # Gemini's alt=sse stream uses CRLF line endings.
    return b"".join(encode_event(msgspec.json.encode(p)).replace(b"\n", b"\r\n") for p in payloads)


def gemini_chunks(pieces: list[bytes]) -> list[dict[str, Any]]:
    decoder, translator = SSEDecoder(), GeminiStreamToOpenAI("gemini-alias", created=0)
    out = []
    for piece in pieces:
        for event in decoder.feed(piece):
            out.extend(translator.feed(event_json(event)))
    for event in decoder.flush():
        out.extend(translator.feed(event_json(event)))
    return out + translator.finish()


@st.composite
def gemini_streams(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    payloads, texts, calls = [], [], 0
    prompt = draw(st.integers(1, 1000))
    output = 0
    steps = draw(st.integers(1, 5))
    for step in range(steps):
        parts: list[dict[str, Any]] = []
        for _ in range(draw(st.integers(0, 2))):
            if draw(st.booleans()):
                t = draw(st.text(max_size=10))
                texts.append(t)
                parts.append({"text": t})
            else:
                calls += 1
                parts.append({"functionCall": {"name": "f", "args": {"n": calls}}})
        output += draw(st.integers(0, 50))
        payload: dict[str, Any] = {"candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}],
                                   "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": output,
                                                     "totalTokenCount": prompt + output},
                                   "responseId": "r-9"}
        if step == steps - 1:
            payload["candidates"][0]["finishReason"] = "STOP"
        payloads.append(payload)
    return sse(payloads), {"text": "".join(texts), "calls": calls, "prompt": prompt, "output": output}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), gemini_streams())
def test_stream_any_split_and_usage_once(data: st.DataObject, stream: tuple[bytes, dict[str, Any]]) -> None:
    raw, expected = stream
    whole = gemini_chunks([raw])
    assert gemini_chunks(data.draw(reads(raw))) == whole
    assert {c["id"] for c in whole} == {"r-9"}
    deltas = [c["choices"][0]["delta"] for c in whole if c["choices"]]
    assert "".join(d.get("content", "") for d in deltas) == expected["text"]
    calls = [tc for d in deltas for tc in d.get("tool_calls", [])]
    assert [tc["index"] for tc in calls] == list(range(expected["calls"]))
    assert len({tc["id"] for tc in calls}) == expected["calls"]
    finishes = [c["choices"][0]["finish_reason"] for c in whole if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finishes == ["tool_calls" if expected["calls"] else "stop"]
    usage = [c["usage"] for c in whole if "usage" in c]
    assert usage == [{"prompt_tokens": expected["prompt"], "completion_tokens": expected["output"],
                      "total_tokens": expected["prompt"] + expected["output"]}]
    assert whole[-1]["choices"] == []


def test_stream_error_payload_raises() -> None:
    translator = GeminiStreamToOpenAI("m")
    with pytest.raises(UpstreamError) as info:
        translator.feed({"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}})
    assert info.value.status == 429 and "exhausted" in info.value.message
