"""Canned bodies of the mock's non-OpenAI-chat answers: Responses, Gemini, Bedrock Converse (event-stream)."""

# Pure builders, called once per (kind, model) by mock_upstream.Mock and cached as bytes: nothing here
# runs per request. Like the mock, it imports nothing from the project (the frame encoder is written out
# here, so the mock also checks the gateway's decoder against an independent encoder).

from __future__ import annotations

import struct
import zlib
from typing import Any

import msgspec

TEXT = "This is a canned mock answer from the benchmark upstream."
_enc = msgspec.json.encode


def responses_usage(n: int) -> dict[str, Any]:
    return {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": n,
            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 12 + n}


def _message_item(text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}] if status == "completed" else []
    return {"type": "message", "id": "msg_mock123", "status": status, "role": "assistant", "content": content}


def response_object(model: str, output: list[dict[str, Any]], status: str = "completed",
                    usage: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Responses object as api.openai.com returns it (the fields the SDK parses)."""
    return {"id": "resp_mock123", "object": "response", "created_at": 1700000000, "status": status,
            "model": model, "output": output, "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
            "error": None, "incomplete_details": None, "instructions": None, "metadata": {}, "temperature": 1.0,
            "top_p": 1.0, "previous_response_id": None, "store": False, "usage": usage}


def responses_json(model: str) -> bytes:
    return _enc(response_object(model, [_message_item(TEXT * 3)], usage=responses_usage(36)))


def responses_events(model: str, n: int) -> list[bytes]:
    """The Responses SSE sequence for one text message of n deltas, sequence_number on every event."""
    seq = iter(range(1 << 30))
    pieces = [f"tok{i} " for i in range(n)]
    text = "".join(pieces)
    start = response_object(model, [], status="in_progress")
    part = {"type": "output_text", "text": "", "annotations": []}
    where = {"item_id": "msg_mock123", "output_index": 0, "content_index": 0}
    objs: list[dict[str, Any]] = [
        {"type": "response.created", "response": start},
        {"type": "response.in_progress", "response": start},
        {"type": "response.output_item.added", "output_index": 0, "item": _message_item("", "in_progress")},
        {"type": "response.content_part.added", **where, "part": part}]
    objs += [{"type": "response.output_text.delta", **where, "delta": p, "logprobs": []} for p in pieces]
    objs += [{"type": "response.output_text.done", **where, "text": text, "logprobs": []},
             {"type": "response.content_part.done", **where, "part": {**part, "text": text}},
             {"type": "response.output_item.done", "output_index": 0, "item": _message_item(text)},
             {"type": "response.completed",
              "response": response_object(model, [_message_item(text)], usage=responses_usage(n))}]
    return [b"event: " + o["type"].encode() + b"\ndata: " + _enc({**o, "sequence_number": next(seq)}) + b"\n\n"
            for o in objs]


def _gemini_usage(n: int) -> dict[str, int]:
    return {"promptTokenCount": 12, "candidatesTokenCount": n, "totalTokenCount": 12 + n}


def gemini_json(model: str) -> bytes:
    return _enc({"candidates": [{"content": {"role": "model", "parts": [{"text": TEXT * 3}]},
                                 "finishReason": "STOP", "index": 0}],
                 "usageMetadata": _gemini_usage(36), "modelVersion": model, "responseId": "resp-mock123"})


def gemini_events(model: str, n: int) -> list[bytes]:
    """streamGenerateContent?alt=sse: n chunks, cumulative usageMetadata, finishReason on the last."""
    out = []
    for i in range(n):
        cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": f"tok{i} "}]}, "index": 0}
        if i == n - 1:
            cand["finishReason"] = "STOP"
        out.append(b"data: " + _enc({"candidates": [cand], "usageMetadata": _gemini_usage(i + 1),
                                     "modelVersion": model, "responseId": "resp-mock123"}) + b"\r\n\r\n")
    return out


def bedrock_json() -> bytes:
    return _enc({"output": {"message": {"role": "assistant", "content": [{"text": TEXT * 3}]}},
                 "stopReason": "end_turn", "metrics": {"latencyMs": 1},
                 "usage": {"inputTokens": 12, "outputTokens": 36, "totalTokens": 48}})


def _header(name: str, value: str) -> bytes:
    """One event-stream header of type 7 (string)."""
    n, v = name.encode(), value.encode()
    return bytes([len(n)]) + n + b"\x07" + struct.pack(">H", len(v)) + v


def frame(event_type: str, payload: dict[str, Any]) -> bytes:
    """One AWS event-stream message: prelude (lengths + CRC32), headers, payload, message CRC32."""
    headers = (_header(":event-type", event_type) + _header(":content-type", "application/json")
               + _header(":message-type", "event"))
    body = _enc(payload)
    prelude = struct.pack(">II", 16 + len(headers) + len(body), len(headers))
    msg = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + body
    return msg + struct.pack(">I", zlib.crc32(msg))


def bedrock_frames(n: int) -> list[bytes]:
    """ConverseStream: messageStart, n text deltas, contentBlockStop, messageStop, metadata (usage)."""
    out = [frame("messageStart", {"role": "assistant"})]
    out += [frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": f"tok{i} "}}) for i in range(n)]
    out += [frame("contentBlockStop", {"contentBlockIndex": 0}), frame("messageStop", {"stopReason": "end_turn"}),
            frame("metadata", {"usage": {"inputTokens": 12, "outputTokens": n, "totalTokens": 12 + n},
                               "metrics": {"latencyMs": 1}})]
    return out
