"""Shared Anthropic ⇄ OpenAI mappings: usage, stop reasons and assistant content blocks (both directions)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from crabllm.translate.common import as_int, dumps, make_usage

_TO_OPENAI_STOP = MappingProxyType({
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
})
_TO_ANTHROPIC_STOP = MappingProxyType({
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
})


def map_anthropic_stop(reason: Any) -> str | None:
    """OpenAI finish_reason for an Anthropic stop_reason (unknown values pass through)."""
    if not isinstance(reason, str):
        return None
    return _TO_OPENAI_STOP.get(reason, reason)


def map_openai_finish(reason: Any) -> str | None:
    """Anthropic stop_reason for an OpenAI finish_reason (unknown values pass through)."""
    if not isinstance(reason, str):
        return None
    return _TO_ANTHROPIC_STOP.get(reason, reason)


def anthropic_usage_to_openai(usage: dict[str, Any]) -> dict[str, Any]:
    """OpenAI usage: prompt = input + cache read + cache creation; raw cache counters kept."""
    read = as_int(usage.get("cache_read_input_tokens"))
    created = as_int(usage.get("cache_creation_input_tokens"))
    prompt = as_int(usage.get("input_tokens")) + read + created
    return make_usage(
        prompt,
        as_int(usage.get("output_tokens")),
        prompt_tokens_details={"cached_tokens": read},
        cache_read_input_tokens=usage.get("cache_read_input_tokens"),
        cache_creation_input_tokens=usage.get("cache_creation_input_tokens"),
    )


def openai_usage_to_anthropic(usage: Any) -> dict[str, int]:
    """Anthropic usage from OpenAI usage (input_tokens excludes cached tokens, as Anthropic counts)."""
    if not isinstance(usage, dict):
        return {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}
    details = usage.get("prompt_tokens_details")
    if "cache_read_input_tokens" in usage:
        read = as_int(usage.get("cache_read_input_tokens"))
    elif isinstance(details, dict) and details.get("cached_tokens") is not None:
        read = as_int(details.get("cached_tokens"))
    else:
        read = as_int(usage.get("prompt_cache_hit_tokens"))
    created = as_int(usage.get("cache_creation_input_tokens"))
    prompt = as_int(usage.get("prompt_tokens"))
    return {
        "input_tokens": max(prompt - read - created, 0),
        "output_tokens": as_int(usage.get("completion_tokens")),
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": created,
    }


def assistant_message(blocks: list[Any]) -> dict[str, Any]:
    """Anthropic assistant content blocks as one OpenAI assistant message (requests and responses alike).

    Thinking is kept as `reasoning_content` plus its signature and the raw blocks, so a later turn can
    replay it to Anthropic; server-tool and unknown blocks have no OpenAI place and are skipped.
    """
    texts: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    signature = None
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "thinking":
            reasoning.append(str(block.get("thinking", "")))
            signature = block.get("signature") or signature
            thinking_blocks.append(block)
        elif kind == "redacted_thinking":
            thinking_blocks.append(block)
        elif kind == "tool_use":
            tool_calls.append({"id": block.get("id", ""), "type": "function",
                               "function": {"name": block.get("name", ""), "arguments": dumps(block.get("input") or {})}})
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not tool_calls else None}
    if tool_calls:
        msg["tool_calls"] = tool_calls
    if reasoning:
        msg["reasoning_content"] = "".join(reasoning)
    if signature:
        msg["reasoning_signature"] = signature
    if thinking_blocks:
        msg["thinking_blocks"] = thinking_blocks
    return msg
