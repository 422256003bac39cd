"""OpenAI chat completion → OpenAI Responses object, with the request fields a Response echoes."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from crabllm.errors import UpstreamProtocolError
from crabllm.translate.common import as_int, new_id
from crabllm.translate.responses_common import (
    encode_reasoning_state, function_call_item_id, function_output_item_id, message_item_id, namespaces_of,
    new_response_id, reasoning_item_id, split_name,
)

__all__ = [
    "chat_to_response", "new_response_id", "message_item_id", "function_call_item_id", "function_output_item_id",
    "reasoning_item_id", "response_object", "responses_usage", "finish_status",
]

_INCOMPLETE = MappingProxyType({"length": "max_output_tokens", "content_filter": "content_filter"})


def chat_to_response(chat: dict[str, Any], req: dict[str, Any], *, response_id: str, created_at: int,
                     model: str) -> dict[str, Any]:
    """The complete Responses object for a non-streaming chat completion answering `req`."""
    choices = chat.get("choices") if isinstance(chat, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UpstreamProtocolError("upstream chat completion has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise UpstreamProtocolError("upstream chat completion choice has no message")
    status, incomplete = finish_status(choice.get("finish_reason"))
    resp = response_object(req, response_id=response_id, created_at=created_at, model=model, status=status)
    resp["incomplete_details"] = incomplete
    resp["output"] = _output(message, choice.get("logprobs"), "incomplete" if incomplete else "completed",
                             namespaces_of(req))
    resp["usage"] = responses_usage(chat.get("usage"))
    return resp


def finish_status(finish_reason: Any) -> tuple[str, dict[str, Any] | None]:
    """(response status, incomplete_details) for a chat finish_reason."""
    reason = _INCOMPLETE.get(finish_reason) if isinstance(finish_reason, str) else None
    if reason is None:
        return "completed", None
    return "incomplete", {"reason": reason}


def response_object(req: dict[str, Any], *, response_id: str, created_at: int, model: str,
                    status: str) -> dict[str, Any]:
    """A Responses object with no output yet: id, status and every request field a Response echoes."""
    reasoning = req.get("reasoning") if isinstance(req.get("reasoning"), dict) else {}
    text = dict(req["text"]) if isinstance(req.get("text"), dict) else {}
    text.setdefault("format", {"type": "text"})
    metadata = req.get("metadata")
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": req.get("background") is True,
        "error": None,
        "incomplete_details": None,
        "instructions": req.get("instructions") if isinstance(req.get("instructions"), str) else None,
        "max_output_tokens": _int_or_none(req.get("max_output_tokens")),
        "model": model,
        "output": [],
        "parallel_tool_calls": req.get("parallel_tool_calls") is not False,
        "previous_response_id": req.get("previous_response_id") if isinstance(req.get("previous_response_id"), str)
        else None,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": req.get("store") is not False,
        "temperature": _number_or_none(req.get("temperature")),
        "text": text,
        "tool_choice": req["tool_choice"] if isinstance(req.get("tool_choice"), (str, dict)) else "auto",
        "tools": _echo_tools(req.get("tools")),
        "top_logprobs": _int_or_none(req.get("top_logprobs")),
        "top_p": _number_or_none(req.get("top_p")),
        "truncation": req.get("truncation") if req.get("truncation") in ("auto", "disabled") else "disabled",
        "usage": None,
        "user": req.get("user") if isinstance(req.get("user"), str) else None,
        "metadata": metadata if isinstance(metadata, dict) else {},
    }


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number_or_none(value: Any) -> float | int | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _echo_tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        return []
    out = []
    for tool in tools:
        if isinstance(tool, dict) and tool.get("type") == "function" and isinstance(tool.get("name"), str):
            out.append({"type": "function", "name": tool["name"], "description": tool.get("description"),
                        "parameters": tool.get("parameters"), "strict": tool.get("strict")})
        elif isinstance(tool, dict) and tool.get("type") == "namespace" and isinstance(tool.get("name"), str):
            out.append({"type": "namespace", "name": tool["name"], "description": tool.get("description") or "",
                        "tools": [t for t in tool.get("tools") or [] if isinstance(t, dict)]})
    return out


def responses_usage(usage: Any) -> dict[str, Any] | None:
    """Responses usage for OpenAI chat usage (None when the upstream sent none)."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = as_int(usage.get("prompt_tokens")), as_int(usage.get("completion_tokens"))
    prompt_details = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), dict) else {}
    completion_details = (usage.get("completion_tokens_details")
                          if isinstance(usage.get("completion_tokens_details"), dict) else {})
    cached = as_int(prompt_details.get("cached_tokens")) or as_int(usage.get("cache_read_input_tokens"))
    total = usage.get("total_tokens")
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached,
                                 "cache_write_tokens": as_int(usage.get("cache_creation_input_tokens"))},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": as_int(completion_details.get("reasoning_tokens"))},
        "total_tokens": total if isinstance(total, int) and not isinstance(total, bool) else prompt + completion,
    }


def _output(message: dict[str, Any], logprobs: Any, status: str,
            namespaces: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    reasoning = reasoning_item(message.get("reasoning_content") or message.get("reasoning"),
                               message.get("reasoning_signature"), message.get("thinking_blocks"))
    if reasoning is not None:
        items.append(reasoning)
    parts: list[dict[str, Any]] = []
    text = _text(message.get("content"))
    if text:
        parts.append(output_text_part(text, chat_logprobs(logprobs)))
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    if parts:
        items.append({"id": message_item_id(), "type": "message", "role": "assistant", "status": status,
                      "content": parts})
    for call in message.get("tool_calls") or []:
        if isinstance(call, dict):
            fn = call.get("function") if isinstance(call.get("function"), dict) else {}
            items.append(function_call_item(call.get("id"), fn.get("name"), fn.get("arguments"), status,
                                            namespaces=namespaces))
    return items


def reasoning_item(text: Any, signature: Any = None, blocks: Any = None, item_id: str | None = None) -> dict[str, Any] | None:
    """A reasoning item for chat reasoning text; the signature rides in `encrypted_content`."""
    token = encode_reasoning_state(signature, blocks)
    if not (isinstance(text, str) and text) and token is None:
        return None
    item: dict[str, Any] = {"id": item_id or reasoning_item_id(), "type": "reasoning",
                            "summary": [{"type": "summary_text", "text": text}] if isinstance(text, str) and text else []}
    if token is not None:
        item["encrypted_content"] = token
    return item


def function_call_item(call_id: Any, name: Any, arguments: Any, status: str, item_id: str | None = None,
                       namespaces: frozenset[str] = frozenset()) -> dict[str, Any]:
    item = {"id": item_id or function_call_item_id(), "type": "function_call",
            "call_id": call_id if isinstance(call_id, str) and call_id else new_id("call_"),
            "name": name if isinstance(name, str) else "",
            "arguments": arguments if isinstance(arguments, str) else "", "status": status}
    name_call(item, item["name"], namespaces)
    return item


def name_call(item: dict[str, Any], name: str, namespaces: frozenset[str]) -> None:
    """Set a function_call item's name, and its `namespace` when the chat name is a namespaced member."""
    namespace, item["name"] = split_name(name, namespaces)
    if namespace is not None:
        item["namespace"] = namespace


def output_text_part(text: str, logprobs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs or []}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
                       and isinstance(p.get("text"), str))
    return ""


def chat_logprobs(logprobs: Any) -> list[dict[str, Any]]:
    """Responses output_text logprobs for a chat choice's `logprobs` ([] when none)."""
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list):
        return []
    return [_logprob(t, True) for t in content if isinstance(t, dict)]


def _logprob(token: dict[str, Any], top: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"token": str(token.get("token", "")),
                           "bytes": token["bytes"] if isinstance(token.get("bytes"), list) else [],
                           "logprob": token["logprob"] if isinstance(token.get("logprob"), (int, float)) else 0.0}
    if top:
        tops = token.get("top_logprobs")
        out["top_logprobs"] = [_logprob(t, False) for t in tops if isinstance(t, dict)] if isinstance(tops, list) else []
    return out
