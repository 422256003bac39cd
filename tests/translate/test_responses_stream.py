"""Chat chunk stream → Responses events: order, fields, sequence numbers, the SDK's accumulator."""

from __future__ import annotations

import msgspec
from openai.types.responses import Response

from crabllm.translate.responses_common import decode_reasoning_state
from crabllm.translate.responses_stream import ChatStreamToResponses, encode_events
from crabllm.translate.sse import SSEDecoder
from tests.translate._responses_sdk import run, sdk_accumulate, text_chunks

REQ = {"model": "alias", "input": "hi", "tools": [{"type": "function", "name": "f"}, {"type": "function", "name": "g"}]}


def types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


def test_text_stream() -> None:
    stream, events = run(REQ, text_chunks({"role": "assistant", "content": ""}, {"content": "Hel"}, {"content": "lo"}))
    assert types(events) == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    delta = events[4]
    assert delta["item_id"].startswith("msg_") and delta["output_index"] == 0 and delta["content_index"] == 0
    assert delta["delta"] == "Hel" and delta["logprobs"] == []
    assert events[6]["text"] == "Hello"
    final = sdk_accumulate(events)
    assert final is not None and final.output_text == "Hello"
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["usage"]["input_tokens"] == 3 and done["usage"]["total_tokens"] == 5
    assert stream.response is done and stream.usage == (3, 2)
    assert Response.model_validate(done).output_text == "Hello"


def test_parallel_tool_calls_interleaved() -> None:
    chunks = text_chunks(
        {"role": "assistant", "tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                                              "function": {"name": "f", "arguments": ""}}]},
        {"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "g", "arguments": '{"y"'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"x":'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}, {"index": 1, "function": {"arguments": ":2}"}}]},
        finish="tool_calls")
    _, events = run(REQ, chunks)
    final = sdk_accumulate(events)
    calls = [(o.call_id, o.name, o.arguments) for o in final.output]
    assert calls == [("call_a", "f", '{"x":1}'), ("call_b", "g", '{"y":2}')]
    dones = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [(d["output_index"], d["arguments"]) for d in dones] == [(0, '{"x":1}'), (1, '{"y":2}')]
    added = [e for e in events if e["type"] == "response.output_item.added"]
    assert added[0]["item"]["arguments"] == "" and added[0]["item"]["status"] == "in_progress"


def test_complete_calls_sharing_index_zero() -> None:
    chunks = text_chunks({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{}"}}]},
                         {"tool_calls": [{"index": 0, "id": "call_2", "function": {"name": "g", "arguments": "[]"}}]},
                         finish="tool_calls")
    _, events = run(REQ, chunks)
    final = sdk_accumulate(events)
    assert [(o.call_id, o.name, o.arguments) for o in final.output] == [("call_1", "f", "{}"), ("call_2", "g", "[]")]


def test_call_without_id_gets_one() -> None:
    _, events = run(REQ, text_chunks({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{}"}}]},
                                     finish="tool_calls"))
    call = sdk_accumulate(events).output[0]
    assert call.call_id.startswith("call_") and call.name == "f"


def test_text_then_tool_call_closes_the_message_first() -> None:
    chunks = text_chunks({"content": "Let me check."},
                         {"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{}"}}]},
                         finish="tool_calls")
    _, events = run(REQ, chunks)
    names = types(events)
    assert names.index("response.output_item.done") < names.index("response.function_call_arguments.delta")
    final = sdk_accumulate(events)
    assert final.output_text == "Let me check." and final.output[1].arguments == "{}"


def test_reasoning_stream_with_signature() -> None:
    chunks = text_chunks({"reasoning_content": "Think"}, {"reasoning_content": "ing"}, {"reasoning_signature": "SIG"},
                         {"content": "Answer"})
    stream, events = run(REQ, chunks)
    assert types(events)[2:9] == [
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done"]
    assert events[6]["text"] == "Thinking" and events[6]["summary_index"] == 0
    final = sdk_accumulate(events)
    assert final.output_text == "Answer"
    reasoning = stream.response["output"][0]
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Thinking"}]
    assert decode_reasoning_state(reasoning["encrypted_content"]) == ("SIG", None)
    assert "_signature" not in events[8]["item"]


def test_refusal_stream() -> None:
    _, events = run(REQ, text_chunks({"refusal": "No"}, {"refusal": " way"}))
    assert "response.refusal.delta" in types(events)
    done = [e for e in events if e["type"] == "response.refusal.done"][0]
    assert done["refusal"] == "No way"
    final = sdk_accumulate(events)
    assert final.output[0].content[0].refusal == "No way"


def test_length_gives_incomplete() -> None:
    _, events = run(REQ, text_chunks({"content": "cut"}, finish="length"))
    last = events[-1]
    assert last["type"] == "response.incomplete"
    assert last["response"]["status"] == "incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert last["response"]["output"][0]["status"] == "incomplete"
    assert sdk_accumulate(events) is None  # the SDK only completes on response.completed
    Response.model_validate(last["response"])


def test_empty_stream_and_no_usage() -> None:
    stream = ChatStreamToResponses(REQ, response_id="resp_e", created_at=1, model="m")
    events = stream.finish()  # finish without start still opens the stream first
    assert types(events) == ["response.created", "response.in_progress", "response.completed"]
    assert stream.usage is None and stream.response["output"] == [] and stream.response["usage"] is None
    assert stream.finish() == [] and stream.feed({"choices": []}) == [] and stream.start() == []
    sdk_accumulate(events)


def test_fail_mid_stream() -> None:
    stream = ChatStreamToResponses(REQ, response_id="resp_f", created_at=1, model="m")
    events = stream.start() + stream.feed({"choices": [{"index": 0, "delta": {"content": "partial"}}]})
    events += stream.fail("upstream went away", "upstream_unavailable")
    last = events[-1]
    assert last["type"] == "response.failed"
    assert last["response"]["status"] == "failed"
    assert last["response"]["error"] == {"code": "server_error", "message": "upstream went away"}
    assert last["response"]["output"][0]["status"] == "incomplete"
    assert last["response"]["output"][0]["content"][0]["text"] == "partial"
    sdk_accumulate(events)
    Response.model_validate(stream.response)
    assert stream.fail("again") == [] and stream.finish() == []


def test_fail_before_anything_and_known_code() -> None:
    stream = ChatStreamToResponses(REQ, response_id="resp_f", created_at=1, model="m")
    events = stream.fail("slow down", "rate_limit_exceeded")
    assert types(events) == ["response.created", "response.in_progress", "response.failed"]
    assert events[-1]["response"]["error"]["code"] == "rate_limit_exceeded"
    sdk_accumulate(events)


def test_encode_events_round_trip() -> None:
    _, events = run(REQ, text_chunks({"content": "a\nb"}, {"content": "é"}))
    data = encode_events(events)
    assert data.startswith(b"event: response.created\ndata: {")
    decoder = SSEDecoder()
    decoded = decoder.feed(data) + decoder.flush()
    assert [e.event for e in decoded] == types(events)
    assert [msgspec.json.decode(e.data) for e in decoded] == events


def test_events_are_not_mutated_by_later_deltas() -> None:
    stream = ChatStreamToResponses(REQ, response_id="resp_m", created_at=1, model="m")
    events = stream.start() + stream.feed({"choices": [{"index": 0, "delta": {"content": "a"}}]})
    added = dict(events[2]["item"])
    events += stream.feed({"choices": [{"index": 0, "delta": {"content": "b"}}]}) + stream.finish()
    assert events[2]["item"] == added and added["content"] == []
