"""Gemini streamGenerateContent (SSE, alt=sse) payloads → OpenAI chat.completion.chunk dicts."""

from __future__ import annotations

from typing import Any

import msgspec

from crabllm.errors import UpstreamError
from crabllm.translate.common import ChunkMaker
from crabllm.translate.gemini_parts import gemini_finish, gemini_usage, parts_to_delta


class GeminiStreamToOpenAI:
    """Feed each decoded SSE payload; get chunks. Usage is reported once, by `finish()`.

    Gemini repeats a cumulative usageMetadata on many chunks, so only the last one seen
    counts. Tool-call indices (and ids) are unique across the whole stream.
    """

    def __init__(self, model: str, *, id: str | None = None, created: int | None = None) -> None:
        self._chunks = ChunkMaker(model, id=id, created=created)
        self._id_prefix: str | None = None
        self._tool_calls = 0
        self._usage: dict[str, Any] | None = None
        self._usage_sent = False

    def feed(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """Chunks for one payload; raises UpstreamError when the payload is an error object."""
        if isinstance(data.get("error"), dict):
            status = data["error"].get("code")
            raise UpstreamError(status if isinstance(status, int) else 502, msgspec.json.encode(data), provider="google")
        self._chunks.adopt_id(data.get("responseId"))
        if isinstance(data.get("usageMetadata"), dict):
            self._usage = data["usageMetadata"]
        candidates = data.get("candidates") or []
        if not candidates or not isinstance(candidates[0], dict):
            blocked = (data.get("promptFeedback") or {}).get("blockReason")
            return [self._finish_chunk("content_filter")] if blocked else []
        candidate = candidates[0]
        out: list[dict[str, Any]] = []
        parts = (candidate.get("content") or {}).get("parts") or []
        delta = parts_to_delta(parts, self._prefix(), self._tool_calls)
        if delta:
            self._tool_calls += len(delta.get("tool_calls", []))
            out.append(self._chunks.chunk(delta))
        reason = gemini_finish(candidate.get("finishReason"), self._tool_calls > 0)
        if reason is not None:
            out.append(self._finish_chunk(reason))
        return out

    def finish(self) -> list[dict[str, Any]]:
        """The single usage chunk (from the last usageMetadata seen), once."""
        if self._usage is None or self._usage_sent:
            return []
        self._usage_sent = True
        return [self._chunks.usage_chunk(gemini_usage(self._usage))]

    def _finish_chunk(self, reason: str) -> dict[str, Any]:
        return self._chunks.chunk({}, finish_reason=reason)

    def _prefix(self) -> str:
        # Fixed at the first tool call, after the stream id has been adopted from the upstream.
        if self._id_prefix is None:
            self._id_prefix = f"call_{self._chunks.id}_"
        return self._id_prefix
