"""A fake native OpenAI Responses upstream (POST /v1/responses, plain and SSE with sequence_number) on 127.0.0.1."""

from __future__ import annotations

import itertools
import json
from typing import Any

from aiohttp import web

from tests.fakes.openai_upstream import FakeOpenAI, Received, Script

TEXT = "Hello from the fake Responses upstream."


def usage(tokens: tuple[int, int]) -> dict[str, Any]:
    return {"input_tokens": tokens[0], "input_tokens_details": {"cached_tokens": 0}, "output_tokens": tokens[1],
            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": sum(tokens)}


def message_item(text: str, item_id: str = "msg_fake") -> dict[str, Any]:
    return {"type": "message", "id": item_id, "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def response_object(model: str, rid: str, output: list[dict[str, Any]] | None = None, *, status: str = "completed",
                    tokens: tuple[int, int] | None = (9, 5), previous: str | None = None) -> dict[str, Any]:
    return {"id": rid, "object": "response", "created_at": 1700000000, "status": status, "model": model,
            "output": output if output is not None else [message_item(TEXT)], "parallel_tool_calls": True,
            "tool_choice": "auto", "tools": [], "error": None, "incomplete_details": None, "instructions": None,
            "metadata": {}, "temperature": 1.0, "top_p": 1.0, "previous_response_id": previous,
            "usage": usage(tokens) if tokens is not None else None}


def event(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def text_events(model: str, rid: str, pieces: list[str], tokens: tuple[int, int] = (9, 5)) -> list[bytes]:
    """The event sequence OpenAI sends for one streamed text message."""
    seq = itertools.count()
    text = "".join(pieces)
    start = {**response_object(model, rid, [], status="in_progress", tokens=None)}
    item = {"type": "message", "id": "msg_fake", "status": "in_progress", "role": "assistant", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    out = [event({"type": "response.created", "response": start, "sequence_number": next(seq)}),
           event({"type": "response.in_progress", "response": start, "sequence_number": next(seq)}),
           event({"type": "response.output_item.added", "output_index": 0, "item": item, "sequence_number": next(seq)}),
           event({"type": "response.content_part.added", "item_id": "msg_fake", "output_index": 0, "content_index": 0,
                  "part": part, "sequence_number": next(seq)})]
    for piece in pieces:
        out.append(event({"type": "response.output_text.delta", "item_id": "msg_fake", "output_index": 0,
                          "content_index": 0, "delta": piece, "logprobs": [], "sequence_number": next(seq)}))
    out += [event({"type": "response.output_text.done", "item_id": "msg_fake", "output_index": 0, "content_index": 0,
                   "text": text, "logprobs": [], "sequence_number": next(seq)}),
            event({"type": "response.content_part.done", "item_id": "msg_fake", "output_index": 0, "content_index": 0,
                   "part": {**part, "text": text}, "sequence_number": next(seq)}),
            event({"type": "response.output_item.done", "output_index": 0, "item": message_item(text),
                   "sequence_number": next(seq)}),
            event({"type": "response.completed", "response": response_object(model, rid, [message_item(text)],
                                                                              tokens=tokens),
                   "sequence_number": next(seq)})]
    return out


class FakeResponses(FakeOpenAI):
    """Answers /v1/responses (and /v1/responses/input_tokens) as api.openai.com does; chat as FakeOpenAI."""

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)

    def next_id(self) -> str:
        return f"resp_fake{next(self._ids):04d}"

    async def _answer(self, request: web.Request, rec: Received, script: Script) -> web.StreamResponse:
        if not request.path.endswith(("/responses", "/responses/input_tokens")):
            return await super()._answer(request, rec, script)
        if script.status != 200 or script.body is not None:
            return web.Response(status=script.status, body=script.body or b"", headers=script.headers,
                                content_type=None if "Content-Type" in script.headers else "application/json")
        payload = rec.json() if rec.body else {}
        model = payload.get("model", "unknown")
        if request.path.endswith("/input_tokens"):
            return web.json_response({"object": "response.input_tokens", "input_tokens": 17})
        rid = self.next_id()
        if payload.get("stream") or script.chunks is not None:
            chunks = script.chunks if script.chunks is not None else text_events(model, rid, ["Hello", " from", " the",
                                                                                            " fake", " Responses",
                                                                                            " upstream."])
            return await self._write(request, script, chunks)
        reply = self.default_reply or response_object(model, rid, previous=payload.get("previous_response_id"))
        return web.json_response(reply, headers=script.headers)

    async def _write(self, request: web.Request, script: Script, chunks: list[bytes]) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream", **script.headers})
        await resp.prepare(request)
        for i, chunk in enumerate(chunks):
            if script.cut_after is not None and i >= script.cut_after:
                assert request.transport is not None
                request.transport.close()
                return resp
            await resp.write(chunk)
        await resp.write_eof()
        return resp
