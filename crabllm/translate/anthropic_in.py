"""Anthropic Messages request (inbound /v1/messages) → OpenAI chat request, and the response back."""

from __future__ import annotations

from typing import Any

import msgspec

from crabllm.errors import InvalidRequest, UpstreamProtocolError
from crabllm.translate.anthropic_in_stream import OpenAIStreamToAnthropic
from crabllm.translate.anthropic_usage import assistant_message, map_openai_finish, openai_usage_to_anthropic
from crabllm.translate.common import content_text, depth_guarded, new_id, parse_arguments
from crabllm.types.anthropic import MessagesRequestView
from crabllm.types.chat import ANTHROPIC_EXTRA, PRIVATE_KEY

__all__ = ["OpenAIStreamToAnthropic", "anthropic_request_to_openai", "openai_response_to_anthropic"]

# Request keys mapped to OpenAI fields; every other key is kept raw for an Anthropic upstream.
_MAPPED = frozenset({
    "model", "messages", "system", "max_tokens", "stop_sequences", "tools", "tool_choice",
    "stream", "temperature", "top_p",
})


@depth_guarded
def anthropic_request_to_openai(req: Any) -> dict[str, Any]:
    """The internal OpenAI chat request for a /v1/messages body; InvalidRequest when malformed."""
    if not isinstance(req, dict):
        raise InvalidRequest("request body must be a JSON object")
    try:
        msgspec.convert(req, MessagesRequestView)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(str(exc)) from None
    messages = _system_messages(req.get("system"))
    for msg in req["messages"]:
        messages.extend(_message(msg))
    out: dict[str, Any] = {"model": req["model"], "messages": messages, "max_tokens": req["max_tokens"]}
    for key in ("temperature", "top_p", "stream"):
        if req.get(key) is not None:
            out[key] = req[key]
    if req.get("stream"):
        out["stream_options"] = {"include_usage": True}
    if req.get("stop_sequences"):
        out["stop"] = list(req["stop_sequences"])
    if req.get("tools"):
        out["tools"] = [_tool(t) for t in req["tools"]]
    _tool_choice_into(out, req.get("tool_choice"))
    response_format = _response_format(req.get("output_config"))
    if response_format is not None:
        out["response_format"] = response_format
    metadata = req.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    extra = {k: v for k, v in req.items() if k not in _MAPPED}
    if extra:
        out[PRIVATE_KEY] = {ANTHROPIC_EXTRA: extra}
    return out


def _system_messages(system: Any) -> list[dict[str, Any]]:
    if isinstance(system, str):
        return [{"role": "system", "content": system}] if system else []
    if not isinstance(system, list):
        return []
    parts = [_text_part(b) for b in system if isinstance(b, dict) and b.get("type") == "text"]
    if not parts:
        return []
    return [{"role": "system", "content": _collapse(parts)}]


def _text_part(block: dict[str, Any]) -> dict[str, Any]:
    part = {"type": "text", "text": str(block.get("text", ""))}
    if "cache_control" in block:
        part["cache_control"] = block["cache_control"]
    return part


def _collapse(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """A single plain text part becomes string content (what most upstreams expect)."""
    if len(parts) == 1 and parts[0].keys() == {"type", "text"} and parts[0]["type"] == "text":
        return parts[0]["text"]
    return parts


def _message(msg: dict[str, Any]) -> list[dict[str, Any]]:
    role = "assistant" if msg.get("role") == "assistant" else "user"
    content = msg.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    blocks = [b for b in content if isinstance(b, dict)]
    return [assistant_message(blocks)] if role == "assistant" else _user(blocks)


def _user(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "tool_result":
            if parts:
                out.append({"role": "user", "content": _collapse(parts)})
                parts = []
            out.append(_tool_message(block))
        elif kind not in ("thinking", "redacted_thinking"):
            parts.append(_part(block))
    if parts or not out:
        out.append({"role": "user", "content": _collapse(parts) if parts else ""})
    return out


def _part(block: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI part for a user block; blocks OpenAI cannot express are carried unchanged."""
    kind = block.get("type")
    source = block.get("source") if isinstance(block.get("source"), dict) else {}
    if kind == "text":
        return _text_part(block)
    if kind == "image" and source.get("type") in ("base64", "url"):
        url = source.get("url", "") if source["type"] == "url" else \
            f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
        part: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
        if "cache_control" in block:
            part["cache_control"] = block["cache_control"]
        return part
    if kind == "document" and source.get("type") == "base64" and source.get("media_type") == "application/pdf":
        file: dict[str, Any] = {"file_data": f"data:application/pdf;base64,{source.get('data', '')}"}
        if isinstance(block.get("title"), str):
            file["filename"] = block["title"]
        return {"type": "file", "file": file}
    return block


def _tool_message(block: dict[str, Any]) -> dict[str, Any]:
    content = block.get("content")
    if isinstance(content, list):
        parts = [_part(b) for b in content if isinstance(b, dict)]
        value: Any = _collapse(parts) if parts else ""
    else:
        value = content if isinstance(content, str) else ""
    msg: dict[str, Any] = {"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")), "content": value}
    if block.get("is_error") is True:
        msg["is_error"] = True
    return msg


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("input_schema") is None and tool.get("type") not in (None, "custom"):
        return tool  # a server tool (web_search_…, bash_…): only an Anthropic upstream can run it
    fn: dict[str, Any] = {"name": tool.get("name", "")}
    if tool.get("description"):
        fn["description"] = tool["description"]
    fn["parameters"] = tool.get("input_schema") or {"type": "object", "properties": {}}
    return {"type": "function", "function": fn}


def _response_format(config: Any) -> dict[str, Any] | None:
    """The OpenAI response_format for Anthropic structured outputs (`output_config.format`)."""
    fmt = config.get("format") if isinstance(config, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
        return None
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt["schema"], "strict": True}}


def _tool_choice_into(out: dict[str, Any], choice: Any) -> None:
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "auto":
        out["tool_choice"] = "auto"
    elif kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool" and isinstance(choice.get("name"), str):
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    if choice.get("disable_parallel_tool_use") is True:
        out["parallel_tool_calls"] = False


def openai_response_to_anthropic(resp: dict[str, Any], model: str) -> dict[str, Any]:
    """The Anthropic Messages response for an OpenAI chat completion."""
    choices = resp.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UpstreamProtocolError("provider returned zero choices")
    message = choices[0].get("message") or {}
    content = _thinking_out(message)
    text = content_text(message.get("content"))
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        content.append({"type": "tool_use", "id": call.get("id") or new_id("toolu_"),
                        "name": fn.get("name", ""), "input": parse_arguments(fn.get("arguments"))})
    return {
        "id": _message_id(resp.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content or [{"type": "text", "text": ""}],
        "stop_reason": map_openai_finish(choices[0].get("finish_reason")) or "end_turn",
        "stop_sequence": None,
        "usage": openai_usage_to_anthropic(resp.get("usage")),
    }


def _thinking_out(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = message.get("thinking_blocks")
    if isinstance(blocks, list) and blocks:
        return [b for b in blocks if isinstance(b, dict)]
    text = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(text, str) and text:
        return [{"type": "thinking", "thinking": text, "signature": str(message.get("reasoning_signature") or "")}]
    return []


def _message_id(upstream_id: Any) -> str:
    if isinstance(upstream_id, str) and upstream_id:
        return upstream_id
    return new_id("msg_")
