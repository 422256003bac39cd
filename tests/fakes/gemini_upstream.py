"""A scripted fake Gemini API (generateContent, streamGenerateContent?alt=sse) on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import Received, Script


def usage_metadata(prompt: int, candidates: int) -> dict[str, Any]:
    return {"promptTokenCount": prompt, "candidatesTokenCount": candidates, "totalTokenCount": prompt + candidates}


def gemini_response(parts: list[dict[str, Any]], finish: str = "STOP", usage: tuple[int, int] = (9, 6)) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}],
        "usageMetadata": usage_metadata(*usage), "modelVersion": "gemini-2.0-flash", "responseId": "resp-fake",
    }


def sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\r\n\r\n"


def text_stream(pieces: list[str], usage: tuple[int, int] = (9, 6)) -> list[bytes]:
    """Gemini repeats a cumulative usageMetadata on every chunk; only the last one is the total."""
    out = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": piece}]}, "index": 0}
        if last:
            candidate["finishReason"] = "STOP"
        out.append(sse({"candidates": [candidate], "responseId": "resp-stream",
                        "usageMetadata": usage_metadata(usage[0], usage[1] if last else i + 1)}))
    return out


class FakeGemini(FakeAnthropic):
    """POST /v1beta/models/<model>:generateContent and :streamGenerateContent (alt=sse)."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1beta"

    @staticmethod
    def path(model: str, stream: bool = False) -> str:
        return f"/v1beta/models/{model}:{'streamGenerateContent' if stream else 'generateContent'}"

    async def _answer(self, request: web.Request, rec: Received, script: Script) -> web.StreamResponse:
        if script.status != 200 or script.body is not None:
            return web.Response(status=script.status, body=script.body or b"", headers=script.headers,
                                content_type=None if "Content-Type" in script.headers else "application/json")
        if request.path.endswith(":streamGenerateContent"):
            chunks = script.chunks if script.chunks is not None else text_stream(["Hello", " from", " Gemini."])
            return await self._write_stream(request, script, chunks)
        return web.json_response(self.default_reply or gemini_response([{"text": "Hello from the fake Gemini upstream."}]))
