"""Anthropic Messages SSE events → OpenAI chat.completion.chunk dicts (stateful, one per stream)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import msgspec

from crabllm.errors import UpstreamError
from crabllm.translate.anthropic_usage import anthropic_usage_to_openai, map_anthropic_stop
from crabllm.translate.common import ChunkMaker

_ERROR_STATUS = MappingProxyType({
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
})


def anthropic_stream_error(data: dict[str, Any]) -> UpstreamError:
    """The error an Anthropic `error` event stands for, with the status Anthropic uses for its type."""
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    status = _ERROR_STATUS.get(str(error.get("type", "")), 502)
    body = msgspec.json.encode(data if error else {"type": "error", "error": {"type": "api_error", "message": "stream error"}})
    return UpstreamError(status, body, provider="anthropic")


class AnthropicStreamToOpenAI:
    """Feed each (event type, data) of an Anthropic stream; get the OpenAI chunks it stands for.

    One id and `created` for the whole stream (the upstream message id unless `id` is given),
    the assistant role on the first chunk, tool calls at stable indices 0, 1, … and exactly one
    usage chunk (`choices: []`) at `message_stop` (or at `finish()` if the stream ends early).
    """

    def __init__(self, model: str, *, id: str | None = None, created: int | None = None) -> None:
        self._chunks = ChunkMaker(model, id=id, created=created)
        self._tool_index: dict[int, int] = {}
        self._usage: dict[str, Any] = {}
        self._usage_seen = False
        self._usage_sent = False

    def feed(self, event_type: str | None, data: dict[str, Any]) -> list[dict[str, Any]]:
        """Chunks for one event; raises UpstreamError for an `error` event."""
        kind = event_type or data.get("type")
        if kind == "message_start":
            return self._message_start(data.get("message") or {})
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "content_block_delta":
            return self._block_delta(data)
        if kind == "message_delta":
            return self._message_delta(data)
        if kind == "message_stop":
            return self.finish()
        if kind == "error":
            raise anthropic_stream_error(data)
        return []  # ping, content_block_stop and unknown future events carry nothing for OpenAI

    def finish(self) -> list[dict[str, Any]]:
        """The final usage chunk, if usage was seen and not yet sent."""
        if self._usage_sent or not self._usage_seen:
            return []
        self._usage_sent = True
        return [self._chunks.usage_chunk(anthropic_usage_to_openai(self._usage))]

    def _remember_usage(self, usage: Any) -> None:
        # Counters are cumulative and each may be missing; a later value replaces an earlier one.
        if isinstance(usage, dict):
            self._usage_seen = True
            self._usage.update({k: v for k, v in usage.items() if v is not None})

    def _message_start(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        self._chunks.adopt_id(message.get("id"))
        self._remember_usage(message.get("usage"))
        return [self._chunks.chunk({"content": ""})]

    def _block_start(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        block = data.get("content_block") or {}
        kind = block.get("type")
        if kind == "tool_use":
            k = self._tool_index.setdefault(_index(data), len(self._tool_index))
            call = {"index": k, "id": block.get("id", ""), "type": "function",
                    "function": {"name": block.get("name", ""), "arguments": ""}}
            return [self._chunks.chunk({"tool_calls": [call]})]
        if kind == "text" and block.get("text"):
            return [self._chunks.chunk({"content": block["text"]})]
        if kind == "thinking" and block.get("thinking"):
            return [self._chunks.chunk({"reasoning_content": block["thinking"]})]
        return []

    def _block_delta(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        delta = data.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            return [self._chunks.chunk({"content": str(delta.get("text", ""))})]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [self._chunks.chunk({"reasoning_content": delta["thinking"]})]
        if kind == "signature_delta" and delta.get("signature"):
            return [self._chunks.chunk({"reasoning_signature": delta["signature"]})]
        if kind == "input_json_delta" and delta.get("partial_json"):
            k = self._tool_index.setdefault(_index(data), len(self._tool_index))
            call = {"index": k, "function": {"arguments": delta["partial_json"]}}
            return [self._chunks.chunk({"tool_calls": [call]})]
        return []

    def _message_delta(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        self._remember_usage(data.get("usage"))
        reason = map_anthropic_stop((data.get("delta") or {}).get("stop_reason"))
        if reason is None:
            return []
        return [self._chunks.chunk({}, finish_reason=reason)]


def _index(data: dict[str, Any]) -> int:
    index = data.get("index")
    return index if isinstance(index, int) else 0
