"""Bedrock ConverseStream events (typed by the frame's :event-type header) → OpenAI chunks."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from crabllm.translate.common import ChunkMaker, as_int, make_usage

_FINISH = MappingProxyType({
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
})


def converse_finish(reason: Any) -> str | None:
    """OpenAI finish_reason for a Converse stopReason (unknown values pass through)."""
    return _FINISH.get(reason, reason) if isinstance(reason, str) else None


def converse_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """OpenAI usage: prompt = inputTokens + cache reads + cache writes; totalTokens kept as given."""
    read = usage.get("cacheReadInputTokens")
    write = usage.get("cacheWriteInputTokens")
    prompt = as_int(usage.get("inputTokens")) + as_int(read) + as_int(write)
    total = usage.get("totalTokens")
    return make_usage(
        prompt, as_int(usage.get("outputTokens")), total if isinstance(total, int) else None,
        prompt_tokens_details={"cached_tokens": as_int(read)},
        cache_read_input_tokens=read, cache_creation_input_tokens=write,
    )


class ConverseStreamToOpenAI:
    """Feed (event type, payload) pairs from `frame_to_event`; get the OpenAI chunks.

    The single usage chunk comes from the `metadata` event, after the finish chunk.
    """

    def __init__(self, model: str, *, id: str | None = None, created: int | None = None) -> None:
        self._chunks = ChunkMaker(model, id=id, created=created)
        self._tool_index: dict[int, int] = {}
        self._usage_sent = False

    def feed(self, event_type: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """Chunks for one event; unknown event types give nothing."""
        if event_type == "messageStart":
            return [self._chunks.chunk({"content": ""})]
        if event_type == "contentBlockStart":
            return self._block_start(payload)
        if event_type == "contentBlockDelta":
            return self._block_delta(payload)
        if event_type == "messageStop":
            reason = converse_finish(payload.get("stopReason"))
            return [self._chunks.chunk({}, finish_reason=reason)] if reason else []
        if event_type == "metadata" and isinstance(payload.get("usage"), dict) and not self._usage_sent:
            self._usage_sent = True
            return [self._chunks.usage_chunk(converse_usage(payload["usage"]))]
        return []

    def finish(self) -> list[dict[str, Any]]:
        """Nothing is held back: usage is sent when `metadata` arrives."""
        return []

    def _tool(self, payload: dict[str, Any]) -> int:
        block = payload.get("contentBlockIndex")
        return self._tool_index.setdefault(block if isinstance(block, int) else 0, len(self._tool_index))

    def _block_start(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        start = (payload.get("start") or {}).get("toolUse")
        if not isinstance(start, dict):
            return []
        call = {"index": self._tool(payload), "id": start.get("toolUseId", ""), "type": "function",
                "function": {"name": start.get("name", ""), "arguments": ""}}
        return [self._chunks.chunk({"tool_calls": [call]})]

    def _block_delta(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        delta = payload.get("delta") or {}
        if isinstance(delta.get("text"), str):
            return [self._chunks.chunk({"content": delta["text"]})]
        tool = delta.get("toolUse")
        if isinstance(tool, dict) and tool.get("input"):
            call = {"index": self._tool(payload), "function": {"arguments": str(tool["input"])}}
            return [self._chunks.chunk({"tool_calls": [call]})]
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict):
            if reasoning.get("text"):
                return [self._chunks.chunk({"reasoning_content": reasoning["text"]})]
            if reasoning.get("signature"):
                return [self._chunks.chunk({"reasoning_signature": reasoning["signature"]})]
        return []
