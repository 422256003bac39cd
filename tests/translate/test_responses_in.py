"""Responses create request → OpenAI chat request: every mapping and every 400."""

from __future__ import annotations

from typing import Any

import pytest
from openai import BaseModel
from pydantic import TypeAdapter

from crabllm.errors import InvalidRequest
from crabllm.translate.anthropic_out import openai_to_anthropic_request
from crabllm.translate.bedrock import openai_to_converse_request
from crabllm.translate.gemini import openai_to_gemini_request
from crabllm.translate.responses_common import encode_reasoning_state
from crabllm.translate.responses_in import input_items, native_items, responses_to_chat
from crabllm.types.responses import response_usage, responses_view
from openai.types.responses.response_item import ResponseItem

PNG = "data:image/png;base64,iVBORw0KGgo="


def chat(req: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return responses_to_chat({"model": "client-model", **req}, "upstream-model", **kw)


def rejected(req: dict[str, Any], **kw: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        chat(req, **kw)
    assert info.value.status == 400
    return info.value


def test_string_input_and_instructions() -> None:
    body = chat({"input": "Hello", "instructions": "Be brief."})
    assert body == {"model": "upstream-model", "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]}


def test_stream_sets_include_usage() -> None:
    body = chat({"input": "x"}, stream=True)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_message_roles_and_parts() -> None:
    body = chat({"input": [
        {"type": "message", "role": "developer", "content": "dev rules"},
        {"role": "system", "content": [{"type": "input_text", "text": "sys"}]},
        {"role": "user", "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": PNG, "detail": "low"},
            {"type": "input_image", "image_url": "https://x/a.jpg", "detail": "auto"},
            {"type": "input_file", "file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"},
        ]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "seen", "annotations": []},
                                          {"type": "refusal", "refusal": "no"}]},
        {"role": "assistant", "content": "plain"},
    ]})
    assert body["messages"] == [
        {"role": "system", "content": "dev rules"},
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "https://x/a.jpg", "detail": "auto"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
        ]},
        # consecutive assistant items are one chat assistant turn; the text parts stay separate
        {"role": "assistant", "content": [{"type": "text", "text": "seen"}, {"type": "text", "text": "plain"}],
         "refusal": "no"},
    ]


def test_function_calls_grouped_and_outputs() -> None:
    body = chat({"input": [
        {"role": "user", "content": "weather in A and B?"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "checking"}]},
        {"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "weather", "arguments": '{"city":"A"}'},
        {"type": "function_call", "call_id": "call_b", "name": "weather", "arguments": '{"city": "B" }'},
        {"type": "function_call_output", "call_id": "call_a", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_b",
         "output": [{"type": "input_text", "text": "rain"}, {"type": "input_text", "text": "y"}]},
        {"type": "function_call_output", "call_id": "call_c",
         "output": [{"type": "input_text", "text": "pic"}, {"type": "input_image", "image_url": PNG}]},
    ]})
    assert body["messages"][1:] == [
        {"role": "assistant", "content": "checking", "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": '{"city":"A"}'}},
            {"id": "call_b", "type": "function", "function": {"name": "weather", "arguments": '{"city": "B" }'}},
        ]},
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_b", "content": "rainy"},
        {"role": "tool", "tool_call_id": "call_c", "content": [
            {"type": "text", "text": "pic"}, {"type": "image_url", "image_url": {"url": PNG, "detail": "auto"}}]},
    ]


def test_history_goes_after_instructions_and_before_input() -> None:
    history = input_items({"input": "first"}) + [
        {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": "answer", "annotations": []}]}]
    body = chat({"input": "second", "instructions": "new rules"}, history=history)
    assert body["messages"] == [
        {"role": "system", "content": "new rules"}, {"role": "user", "content": "first"},
        {"role": "assistant", "content": "answer"}, {"role": "user", "content": "second"}]


def test_history_alone_is_enough() -> None:
    body = chat({}, history=input_items({"input": "only history"}))
    assert body["messages"] == [{"role": "user", "content": "only history"}]


def test_unsigned_reasoning_is_dropped() -> None:
    body = chat({"input": [
        {"role": "user", "content": "q"},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "hmm"}]},
        {"role": "assistant", "content": "a"},
    ]})
    assert body["messages"][1] == {"role": "assistant", "content": "a"}


def test_signed_reasoning_rebuilds_anthropic_thinking() -> None:
    token = encode_reasoning_state("SIG")
    body = chat({"input": [
        {"role": "user", "content": "q"},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "I think"}],
         "encrypted_content": token},
        {"type": "function_call", "call_id": "toolu_1", "name": "f", "arguments": '{"x":1}'},
        {"type": "function_call_output", "call_id": "toolu_1", "output": "done"},
    ]})
    assistant = body["messages"][1]
    assert assistant["reasoning_content"] == "I think" and assistant["reasoning_signature"] == "SIG"
    anthropic = openai_to_anthropic_request(body, "claude")
    assert anthropic["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "I think", "signature": "SIG"},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"x": 1}}]


def test_reasoning_with_raw_blocks_and_foreign_token() -> None:
    blocks = [{"type": "redacted_thinking", "data": "abc"}]
    body = chat({"input": [
        {"role": "user", "content": "q"},
        {"type": "reasoning", "summary": [], "encrypted_content": encode_reasoning_state(None, blocks)},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "q2"},
        {"type": "reasoning", "summary": [], "encrypted_content": "gAAAAB-openai-opaque"},
        {"role": "assistant", "content": "b"},
    ]})
    assert body["messages"][1]["thinking_blocks"] == blocks
    assert body["messages"][3] == {"role": "assistant", "content": "b"}


def test_tools_choice_and_parallel() -> None:
    body = chat({"input": "x", "parallel_tool_calls": False, "tool_choice": {"type": "function", "name": "f"},
                 "tools": [{"type": "function", "name": "f", "description": "d", "strict": True,
                            "parameters": {"type": "object", "properties": {}}}]})
    assert body["tools"] == [{"type": "function", "function": {
        "name": "f", "description": "d", "parameters": {"type": "object", "properties": {}}, "strict": True}}]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert body["parallel_tool_calls"] is False
    for choice in ("auto", "none", "required"):
        assert chat({"input": "x", "tool_choice": choice, "tools": [{"type": "function", "name": "f"}]})["tool_choice"] == choice


def test_allowed_tools_narrows_the_list() -> None:
    tools = [{"type": "function", "name": n} for n in ("a", "b", "c")]
    body = chat({"input": "x", "tools": tools, "tool_choice": {
        "type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "b"}]}})
    assert body["tool_choice"] == "required"
    assert [t["function"]["name"] for t in body["tools"]] == ["b"]


def test_no_tool_fields_without_tools() -> None:
    body = chat({"input": "x", "tool_choice": "auto", "parallel_tool_calls": True, "tools": []})
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & body.keys()


@pytest.mark.parametrize("kind", ["web_search", "web_search_preview", "file_search", "computer_use_preview",
                                  "code_interpreter", "image_generation", "mcp", "local_shell", "custom"])
def test_builtin_tools_are_rejected(kind: str) -> None:
    err = rejected({"input": "x", "tools": [{"type": kind}]})
    assert kind in err.message and "native OpenAI" in err.message and err.param == "tools"


def test_text_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = chat({"input": "x", "text": {"format": {"type": "json_schema", "name": "out", "schema": schema,
                                                   "strict": True, "description": "d"}}})
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "out", "schema": schema, "strict": True, "description": "d"}}
    assert chat({"input": "x", "text": {"format": {"type": "json_object"}}})["response_format"] == {"type": "json_object"}
    assert "response_format" not in chat({"input": "x", "text": {"format": {"type": "text"}}})


def test_sampling_and_limits() -> None:
    body = chat({"input": "x", "temperature": 0.2, "top_p": 0.9, "max_output_tokens": 77, "user": "u1",
                 "top_logprobs": 3, "metadata": {"k": "v"}, "store": False, "truncation": "auto"})
    assert body["temperature"] == 0.2 and body["top_p"] == 0.9 and body["user"] == "u1"
    assert body["max_completion_tokens"] == 77 and body["logprobs"] is True and body["top_logprobs"] == 3
    assert not {"metadata", "store", "truncation", "max_output_tokens"} & body.keys()
    assert openai_to_anthropic_request(body, "claude")["max_tokens"] == 77
    assert openai_to_gemini_request({**body, "model": "gemini-2.5-pro"})["generationConfig"]["maxOutputTokens"] == 77


def test_reasoning_effort_enables_thinking() -> None:
    body = chat({"input": "x", "reasoning": {"effort": "high", "summary": "auto"}})
    assert body["reasoning_effort"] == "high"
    assert openai_to_anthropic_request(body, "claude")["thinking"]["type"] == "enabled"
    gemini = openai_to_gemini_request({**body, "model": "gemini-2.5-pro"})
    assert gemini["generationConfig"]["thinkingConfig"]["includeThoughts"] is True
    assert chat({"input": "x", "reasoning": {"effort": "xhigh"}})["reasoning_effort"] == "high"
    assert "reasoning_effort" not in chat({"input": "x", "reasoning": {"summary": "auto"}})


@pytest.mark.parametrize(("req", "param"), [
    ({"input": 5}, "input"),
    ({}, "input"),
    ({"input": [3]}, "input[0]"),
    ({"input": [{"content": "no role or type"}]}, "input[0].type"),
    ({"input": [{"type": "message", "content": "x"}]}, "input[0].role"),
    ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"input": [{"role": "user"}]}, "input[0].content"),
    ({"input": [{"role": "user", "content": [{"type": "input_text"}]}]}, "input[0].content[0].text"),
    ({"input": [{"role": "user", "content": [{"type": "video"}]}]}, "input[0].content[0].type"),
    ({"input": [{"role": "user", "content": ["bare"]}]}, "input[0].content[0]"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]}, "input[0].content[0].file_id"),
    ({"input": [{"role": "user", "content": [{"type": "input_image"}]}]}, "input[0].content[0].image_url"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]}, "input[0].content[0].file_id"),
    ({"input": [{"role": "assistant", "content": [{"type": "input_image", "image_url": PNG}]}]}, "input[0].content[0].type"),
    ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
    ({"input": [{"type": "function_call", "call_id": "c", "arguments": "{}"}]}, "input[0].name"),
    ({"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": 3}]}, "input[0].arguments"),
    ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
    ({"input": [{"type": "function_call_output", "call_id": "c", "output": 3}]}, "input[0].output"),
    ({"input": [{"type": "reasoning", "summary": "x"}]}, "input[0].summary"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
    ({"input": [{"type": "computer_call_output", "call_id": "c"}]}, "input[0]"),
    ({"input": [{"type": 7}]}, "input[0].type"),
    ({"input": "x", "instructions": ["a"]}, "instructions"),
    ({"input": "x", "tools": {"type": "function"}}, "tools"),
    ({"input": "x", "tools": ["f"]}, "tools[0]"),
    ({"input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
    ({"input": "x", "tools": [{"type": "function", "name": "f", "parameters": "x"}]}, "tools[0].parameters"),
    ({"input": "x", "tools": [{"type": "function", "name": "f", "strict": "yes"}]}, "tools[0].strict"),
    ({"input": "x", "tools": [{"type": "function", "name": "f", "description": 1}]}, "tools[0].description"),
    ({"input": "x", "tools": [{"name": "f"}]}, "tools"),
    ({"input": "x", "tool_choice": 3}, "tool_choice"),
    ({"input": "x", "tool_choice": {"type": "function"}}, "tool_choice.name"),
    ({"input": "x", "tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
    ({"input": "x", "tool_choice": {"type": "allowed_tools", "mode": "x", "tools": []}}, "tool_choice"),
    ({"input": "x", "tool_choice": {"type": "allowed_tools", "tools": [{"type": "mcp"}]}}, "tool_choice"),
    ({"input": "x", "parallel_tool_calls": "yes"}, "parallel_tool_calls"),
    ({"input": "x", "text": "json"}, "text"),
    ({"input": "x", "text": {"format": "json"}}, "text.format"),
    ({"input": "x", "text": {"format": {"type": "xml"}}}, "text.format.type"),
    ({"input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}}, "text.format.name"),
    ({"input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}}, "text.format.schema"),
    ({"input": "x", "text": {"format": {"type": "json_schema", "name": "n", "schema": {}, "strict": 1}}},
     "text.format.strict"),
    ({"input": "x", "reasoning": "high"}, "reasoning"),
    ({"input": "x", "reasoning": {"effort": "extreme"}}, "reasoning.effort"),
    ({"input": "x", "temperature": "hot"}, "temperature"),
    ({"input": "x", "top_p": True}, "top_p"),
    ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"input": "x", "max_output_tokens": 1.5}, "max_output_tokens"),
    ({"input": "x", "top_logprobs": -1}, "top_logprobs"),
    ({"input": "x", "user": 5}, "user"),
    ({"input": "x", "prompt": {"id": "pmpt_1"}}, "prompt"),
    ({"input": "x", "conversation": "conv_1"}, "conversation"),
])
def test_bad_requests_name_the_field(req: dict[str, Any], param: str) -> None:
    assert rejected(req).param == param


def test_not_an_object() -> None:
    with pytest.raises(InvalidRequest):
        responses_to_chat([], "m")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        input_items("x")  # type: ignore[arg-type]


def test_input_items_have_ids_and_validate_as_sdk_items() -> None:
    items = input_items({"input": [
        {"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_image", "image_url": PNG}]},
        {"role": "assistant", "content": "b"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "r"}]},
        {"type": "message", "id": "msg_keep", "role": "developer", "content": "d"},
    ]})
    assert [i["id"][:3] for i in items] == ["msg", "msg", "fc_", "fco", "rs_", "msg"]
    assert items[-1]["id"] == "msg_keep"
    adapter = TypeAdapter(ResponseItem)
    for item in items:
        assert isinstance(adapter.validate_python(item), BaseModel)
    assert input_items({"input": "hi"})[0]["content"] == [{"type": "input_text", "text": "hi"}]
    assert input_items({"model": "m"}) == []


def test_views() -> None:
    view = responses_view.decode(b'{"model":"m","stream":true,"previous_response_id":"resp_1","store":false,"x":1}')
    assert (view.model, view.stream, view.previous_response_id, view.store, view.background) == ("m", True, "resp_1", False, None)
    assert response_usage(b'{"usage":{"input_tokens":3,"output_tokens":4,"total_tokens":7}}') == (3, 4)
    assert response_usage(b'{"type":"response.completed","response":{"usage":{"input_tokens":1,"output_tokens":2}}}') == (1, 2)
    assert response_usage(b'{"response":{"usage":null}}') is None
    assert response_usage(b'not json') is None
    assert response_usage(b'[1]') is None


def test_reasoning_between_steps() -> None:
    signed = {"type": "reasoning", "summary": [{"type": "summary_text", "text": "r2"}],
              "encrypted_content": encode_reasoning_state("S2")}
    unsigned = {"type": "reasoning", "summary": [{"type": "summary_text", "text": "r"}]}
    call = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
    base = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    merged = chat({"input": [*base, unsigned, call]})["messages"]
    assert merged[1] == {"role": "assistant", "content": "a", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    split = chat({"input": [*base, signed, call]})["messages"]
    assert split[1] == {"role": "assistant", "content": "a"}
    assert split[2]["reasoning_signature"] == "S2" and split[2]["tool_calls"][0]["id"] == "c1"


def test_chat_body_feeds_every_translator() -> None:
    body = chat({
        "instructions": "sys", "max_output_tokens": 50, "temperature": 0.1, "reasoning": {"effort": "low"},
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}],
        "tool_choice": "required", "text": {"format": {"type": "json_object"}},
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "q"}, {"type": "input_image", "image_url": PNG}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a":1}'},
            {"type": "function_call_output", "call_id": "c1", "output": "r"},
        ]})
    anthropic = openai_to_anthropic_request(body, "claude")
    assert anthropic["system"] == "sys" and anthropic["tool_choice"] == {"type": "any"}
    assert anthropic["messages"][2]["content"][0]["tool_use_id"] == "c1"
    gemini = openai_to_gemini_request({**body, "model": "gemini-2.5-flash"})
    assert gemini["contents"][1]["parts"][0]["functionCall"]["name"] == "f"
    converse = openai_to_converse_request(body)
    assert converse["inferenceConfig"]["maxTokens"] == 50
    assert converse["messages"][1]["content"][0]["toolUse"]["toolUseId"] == "c1"


def test_native_items_for_a_fallback_replay() -> None:
    ours = encode_reasoning_state("SIG")
    items = input_items({"input": [
        {"role": "user", "content": "q"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": ours},
        {"type": "reasoning", "id": "rs_2", "summary": []},
        {"type": "reasoning", "id": "rs_3", "summary": [], "encrypted_content": "gAAAA-openai"},
        {"role": "assistant", "content": "a"},
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c", "output": "r"},
    ]})
    native = native_items(items)
    assert [i["type"] for i in native] == ["message", "reasoning", "message", "function_call", "function_call_output"]
    assert "id" not in native[0] and "id" not in native[4] and native[1]["id"] == "rs_3"
    assert native[2]["id"].startswith("msg_") and native[3]["id"].startswith("fc_")


def test_namespace_tools_become_prefixed_functions_and_calls_come_back_namespaced() -> None:
    from crabllm.translate.responses_out import chat_to_response
    from crabllm.translate.responses_stream import ChatStreamToResponses

    req = {"model": "m", "input": "hi", "tools": [
        {"type": "namespace", "name": "crm", "description": "the CRM",
         "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]},
        {"type": "function", "name": "plain"},
        {"type": "web_search", "external_web_access": False}]}
    chat = responses_to_chat(req, "m")
    assert [t["function"]["name"] for t in chat["tools"]] == ["crm__lookup", "plain"]  # the web search is off
    answer = {"id": "c", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "crm__lookup", "arguments": "{}"}},
            {"id": "call_2", "type": "function", "function": {"name": "plain", "arguments": "{}"}}]}}]}
    out = chat_to_response(answer, req, response_id="resp_1", created_at=1, model="m")
    calls = [i for i in out["output"] if i["type"] == "function_call"]
    assert (calls[0]["namespace"], calls[0]["name"]) == ("crm", "lookup") and "namespace" not in calls[1]
    stream = ChatStreamToResponses(req, response_id="resp_2", created_at=1, model="m")
    stream.start()
    stream.feed({"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "crm__lookup", "arguments": "{}"}}]}}]})
    stream.finish()
    call = next(i for i in stream.response["output"] if i["type"] == "function_call")
    assert (call["namespace"], call["name"]) == ("crm", "lookup")
    # The call replayed as history goes back upstream under its chat name.
    follow = responses_to_chat({**req, "input": [call, {"type": "function_call_output", "call_id": "call_1",
                                                        "output": "ok"}]}, "m")
    assert follow["messages"][0]["tool_calls"][0]["function"]["name"] == "crm__lookup"


def test_a_web_search_that_may_reach_the_web_still_needs_a_native_deployment() -> None:
    with pytest.raises(InvalidRequest, match="web_search"):
        responses_to_chat({"model": "m", "input": "hi", "tools": [{"type": "web_search"}]}, "m")
    with pytest.raises(InvalidRequest, match="custom"):
        responses_to_chat({"model": "m", "input": "hi", "tools": [
            {"type": "namespace", "name": "ns", "description": "", "tools": [{"type": "custom", "name": "x"}]}]}, "m")
