"""A scripted fake Anthropic Messages API on 127.0.0.1: JSON and named SSE events, requests recorded."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from tests.fakes.openai_upstream import FakeOpenAI, Received, Script


def message(model: str, text: str = "Hello from the fake Anthropic upstream.", usage: tuple[int, int] = (12, 8),
            **extra: Any) -> dict[str, Any]:
    return {
        "id": "msg_fake01", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]}, **extra,
    }


def event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def text_stream(model: str, pieces: list[str], usage: tuple[int, int] = (12, 8),
                cache: tuple[int, int] | None = None) -> list[bytes]:
    """The event sequence Anthropic documents for a streamed text answer."""
    start_usage: dict[str, Any] = {"input_tokens": usage[0], "output_tokens": 1}
    if cache is not None:
        start_usage.update(cache_read_input_tokens=cache[0], cache_creation_input_tokens=cache[1])
    out = [
        event("message_start", {"type": "message_start", "message": {
            "id": "msg_fake02", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}}),
        event("content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": {"type": "text", "text": ""}}),
        event("ping", {"type": "ping"}),
    ]
    for piece in pieces:
        out.append(event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                 "delta": {"type": "text_delta", "text": piece}}))
    out += [
        event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        # As in Anthropic's documentation: the final usage has only output_tokens.
        event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                "usage": {"output_tokens": usage[1]}}),
        event("message_stop", {"type": "message_stop"}),
    ]
    return out


def tool_stream(model: str, tool_id: str, name: str, json_parts: list[str], usage: tuple[int, int] = (30, 20)) -> list[bytes]:
    out = [
        event("message_start", {"type": "message_start", "message": {
            "id": "msg_fake03", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": usage[0], "output_tokens": 1}}}),
        event("content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": {"type": "text", "text": ""}}),
        event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                      "delta": {"type": "text_delta", "text": "Let me check."}}),
        event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        event("content_block_start", {"type": "content_block_start", "index": 1,
                                      "content_block": {"type": "tool_use", "id": tool_id, "name": name, "input": {}}}),
    ]
    for part in json_parts:
        out.append(event("content_block_delta", {"type": "content_block_delta", "index": 1,
                                                 "delta": {"type": "input_json_delta", "partial_json": part}}))
    out += [
        event("content_block_stop", {"type": "content_block_stop", "index": 1}),
        event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                                "usage": {"output_tokens": usage[1]}}),
        event("message_stop", {"type": "message_stop"}),
    ]
    return out


def error_body(kind: str, text: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": text}}).encode()


class FakeAnthropic(FakeOpenAI):
    """POST /v1/messages and /v1/messages/count_tokens, as api.anthropic.com answers them."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _answer(self, request: web.Request, rec: Received, script: Script) -> web.StreamResponse:
        if script.delay:
            await asyncio.sleep(script.delay)
        if script.status != 200 or script.body is not None:
            return web.Response(status=script.status, body=script.body or b"", headers=script.headers,
                                content_type=None if "Content-Type" in script.headers else "application/json")
        payload = rec.json() if rec.body else {}
        model = payload.get("model", "unknown")
        if request.path.endswith("/count_tokens"):
            return web.json_response({"input_tokens": 42})
        if payload.get("stream") or script.chunks is not None:
            chunks = script.chunks if script.chunks is not None else text_stream(model, ["Hello", " from", " Claude."])
            return await self._write_stream(request, script, chunks)
        return web.json_response(self.default_reply or message(model), headers=script.headers)

    async def _write_stream(self, request: web.Request, script: Script, chunks: list[bytes],
                            content_type: str = "text/event-stream") -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": content_type, **script.headers})
        await resp.prepare(request)
        for i, chunk in enumerate(chunks):
            if script.cut_after is not None and i >= script.cut_after:
                assert request.transport is not None
                request.transport.close()
                return resp
            if i and script.chunk_delay:
                await asyncio.sleep(script.chunk_delay)
            await resp.write(chunk)
        await resp.write_eof()
        return resp
