"""OpenAI chat completion → Responses object, checked against the official SDK's Response model."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.responses import Response

from crabllm.errors import UpstreamProtocolError
from crabllm.translate.anthropic_out import openai_to_anthropic_request
from crabllm.translate.anthropic_usage import assistant_message
from crabllm.translate.responses_in import input_items, responses_to_chat
from crabllm.translate.responses_out import chat_to_response, new_response_id, responses_usage

REQ: dict[str, Any] = {
    "model": "alias", "input": "hi", "instructions": "be kind", "temperature": 0.5, "top_p": 0.8,
    "max_output_tokens": 100, "metadata": {"team": "a"}, "user": "u", "store": True,
    "previous_response_id": "resp_prev", "reasoning": {"effort": "low", "summary": "auto"},
    "text": {"format": {"type": "json_object"}}, "tool_choice": "auto", "parallel_tool_calls": False,
    "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": False}],
}
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
         "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 2}}


def completion(message: dict[str, Any], finish: str = "stop", **extra: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "up",
            "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish, **extra}],
            "usage": USAGE}


def translate(chat: dict[str, Any], req: dict[str, Any] | None = None) -> tuple[dict[str, Any], Response]:
    out = chat_to_response(chat, REQ if req is None else req, response_id="resp_abc", created_at=1700000000,
                           model="alias")
    return out, Response.model_validate(out)


def test_text_response_echoes_the_request() -> None:
    out, resp = translate(completion({"content": "Hello there"}))
    assert resp.output_text == "Hello there"
    assert (resp.id, resp.object, resp.status, resp.model, resp.created_at) == ("resp_abc", "response", "completed",
                                                                                  "alias", 1700000000)
    assert resp.error is None and resp.incomplete_details is None
    assert resp.instructions == "be kind" and resp.temperature == 0.5 and resp.top_p == 0.8
    assert resp.max_output_tokens == 100 and resp.metadata == {"team": "a"} and resp.user == "u"
    assert resp.previous_response_id == "resp_prev" and resp.store is True and resp.parallel_tool_calls is False
    assert resp.reasoning.effort == "low" and resp.text.format.type == "json_object"
    assert resp.tools[0].name == "f" and resp.tool_choice == "auto" and resp.truncation == "disabled"
    message = out["output"][0]
    assert message["id"].startswith("msg_") and message["status"] == "completed"
    assert message["content"] == [{"type": "output_text", "text": "Hello there", "annotations": [], "logprobs": []}]


def test_usage() -> None:
    _, resp = translate(completion({"content": "x"}))
    usage = resp.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (10, 5, 15)
    assert usage.input_tokens_details.cached_tokens == 4 and usage.output_tokens_details.reasoning_tokens == 2
    assert responses_usage(None) is None
    anthropic_style = responses_usage({"prompt_tokens": 9, "completion_tokens": 1, "cache_read_input_tokens": 3,
                                       "cache_creation_input_tokens": 2})
    assert anthropic_style["input_tokens_details"] == {"cached_tokens": 3, "cache_write_tokens": 2}
    assert anthropic_style["total_tokens"] == 10


def test_defaults_for_a_minimal_request() -> None:
    _, resp = translate(completion({"content": "x"}), {"model": "m", "input": "q"})
    assert resp.tools == [] and resp.tool_choice == "auto" and resp.parallel_tool_calls is True
    assert resp.store is True and resp.metadata == {} and resp.text.format.type == "text"
    assert resp.instructions is None and resp.temperature is None


def test_tool_calls_reasoning_and_refusal() -> None:
    out, resp = translate(completion({
        "content": None, "refusal": "I can't", "reasoning_content": "thinking...",
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}},
                       {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}}],
    }, finish="tool_calls"))
    kinds = [o["type"] for o in out["output"]]
    assert kinds == ["reasoning", "message", "function_call", "function_call"]
    assert out["output"][0]["id"].startswith("rs_")
    assert out["output"][0]["summary"] == [{"type": "summary_text", "text": "thinking..."}]
    assert "encrypted_content" not in out["output"][0]
    assert out["output"][1]["content"] == [{"type": "refusal", "refusal": "I can't"}]
    calls = [o for o in resp.output if o.type == "function_call"]
    assert [(c.call_id, c.name, c.arguments, c.status) for c in calls] == [
        ("call_1", "f", '{"a":1}', "completed"), ("call_2", "g", "{}", "completed")]
    assert all(c.id.startswith("fc_") for c in calls)
    assert resp.output_text == ""


@pytest.mark.parametrize(("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")])
def test_incomplete(finish: str, reason: str) -> None:
    out, resp = translate(completion({"content": "partial"}, finish=finish))
    assert resp.status == "incomplete" and resp.incomplete_details.reason == reason
    assert out["output"][0]["status"] == "incomplete" and resp.output_text == "partial"


def test_logprobs() -> None:
    logprobs = {"content": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105],
                             "top_logprobs": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105]}]}]}
    _, resp = translate(completion({"content": "Hi"}, logprobs=logprobs))
    lp = resp.output[0].content[0].logprobs
    assert lp[0].token == "Hi" and lp[0].bytes == [72, 105] and lp[0].top_logprobs[0].logprob == -0.1


def test_content_as_parts() -> None:
    _, resp = translate(completion({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}))
    assert resp.output_text == "ab"


@pytest.mark.parametrize("chat", [{}, {"choices": []}, {"choices": [{"index": 0}]}, {"choices": ["x"]}, []])
def test_malformed_upstream(chat: Any) -> None:
    with pytest.raises(UpstreamProtocolError):
        chat_to_response(chat, REQ, response_id="resp_1", created_at=1, model="m")


def test_new_response_id() -> None:
    first, second = new_response_id(), new_response_id()
    assert first.startswith("resp_") and len(first) > 20 and first != second


def test_anthropic_thinking_survives_a_stored_round_trip() -> None:
    """Anthropic answer → Responses output → stored history → next chat request → Anthropic thinking block."""
    message = assistant_message([
        {"type": "thinking", "thinking": "Let me call f.", "signature": "SIG=="},
        {"type": "text", "text": "Calling."},
        {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {"q": 1}},
    ])
    out, _ = translate(completion(message, finish="tool_calls"))
    history = input_items({"input": "use f"}) + out["output"]
    follow = {"model": "m", "input": [{"type": "function_call_output", "call_id": "toolu_9", "output": "42"}]}
    body = openai_to_anthropic_request(responses_to_chat(follow, "claude", history=history), "claude")
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "Let me call f.", "signature": "SIG=="},
        {"type": "text", "text": "Calling."},
        {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {"q": 1}}]
    assert body["messages"][2]["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_9", "content": "42"}
