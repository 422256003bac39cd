"""Pieces shared by the Gemini response and stream translators: parts, finish reasons, usage."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from crabllm.translate.common import as_int, dumps, make_usage

THOUGHT_MARK = "__thought__"
_FILTERED = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
                       "LANGUAGE"})
_FINISH = MappingProxyType({"STOP": "stop", "MAX_TOKENS": "length"})


def split_thought_id(call_id: str) -> tuple[str, str | None]:
    """(tool-call id, thought signature) from an id that may carry `__thought__<signature>`."""
    base, mark, signature = call_id.partition(THOUGHT_MARK)
    return (base, signature) if mark and signature else (call_id, None)


def parts_to_delta(parts: list[Any], id_prefix: str, first_index: int) -> dict[str, Any]:
    """An OpenAI delta/message body for Gemini parts: reasoning, text and complete tool calls.

    Tool calls get indices from `first_index` on and ids `<id_prefix><index>` (or Gemini's own
    id), with the part's thought signature appended so it can be sent back next turn.
    """
    reasoning: list[str] = []
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("functionCall"), dict):
            fc = part["functionCall"]
            index = first_index + len(calls)
            call_id = str(fc.get("id") or f"{id_prefix}{index}")
            if part.get("thoughtSignature"):
                call_id += THOUGHT_MARK + str(part["thoughtSignature"])
            calls.append({"index": index, "id": call_id, "type": "function",
                          "function": {"name": str(fc.get("name", "")), "arguments": dumps(fc.get("args") or {})}})
        elif isinstance(part.get("text"), str):
            (reasoning if part.get("thought") is True else texts).append(part["text"])
    delta: dict[str, Any] = {}
    if reasoning:
        delta["reasoning_content"] = "".join(reasoning)
    if texts:
        delta["content"] = "".join(texts)
    if calls:
        delta["tool_calls"] = calls
    return delta


def gemini_finish(reason: Any, had_tool_calls: bool) -> str | None:
    """OpenAI finish_reason for a Gemini finishReason (tool_calls when the turn called tools)."""
    if not isinstance(reason, str) or not reason or reason == "FINISH_REASON_UNSPECIFIED":
        return None
    if had_tool_calls and reason == "STOP":
        return "tool_calls"
    if reason in _FILTERED:
        return "content_filter"
    return _FINISH.get(reason, reason.lower())


def gemini_usage(meta: dict[str, Any]) -> dict[str, Any]:
    """OpenAI usage from usageMetadata: thoughts count as completion (reasoning) tokens."""
    prompt = as_int(meta.get("promptTokenCount")) + as_int(meta.get("toolUsePromptTokenCount"))
    thoughts = as_int(meta.get("thoughtsTokenCount"))
    completion = as_int(meta.get("candidatesTokenCount")) + thoughts
    total = meta.get("totalTokenCount")
    cached = meta.get("cachedContentTokenCount")
    return make_usage(
        prompt, completion, total if isinstance(total, int) else None,
        prompt_tokens_details={"cached_tokens": cached} if isinstance(cached, int) else None,
        completion_tokens_details={"reasoning_tokens": thoughts} if thoughts else None,
    )
