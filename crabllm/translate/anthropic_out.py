"""OpenAI chat request → Anthropic Messages request, and Anthropic response → OpenAI response."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from crabllm.translate.anthropic_stream import AnthropicStreamToOpenAI, anthropic_stream_error
from crabllm.translate.anthropic_usage import anthropic_usage_to_openai, assistant_message, map_anthropic_stop
from crabllm.translate.common import (
    chat_completion, content_parts, dumps, image_url_of, max_tokens_of, new_id, now,
    depth_guarded, parse_arguments, parse_data_url, stop_list, validate_chat,
)
from crabllm.translate.schema import inline_refs
from crabllm.types.chat import anthropic_extra

__all__ = [
    "AnthropicStreamToOpenAI", "anthropic_stream_error", "anthropic_to_openai_response",
    "openai_to_anthropic_request", "DEFAULT_MAX_TOKENS",
]

DEFAULT_MAX_TOKENS = 4096
_EFFORT_BUDGET = MappingProxyType({"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096})
_OPENAI_PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})


@depth_guarded
def openai_to_anthropic_request(req: dict[str, Any], model: str) -> dict[str, Any]:
    """The Messages API body for an OpenAI chat request, sent to `model`."""
    validate_chat(req)
    extra = anthropic_extra(req)
    system, messages = _messages(req["messages"])
    explicit_max = max_tokens_of(req)
    max_tokens = explicit_max or DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens}
    if system:
        body["system"] = system
    thinking = _thinking(req, max_tokens)
    if thinking is not None:
        body["thinking"] = thinking
        budget = thinking.get("budget_tokens")
        if explicit_max is None and isinstance(budget, int) and budget >= max_tokens:
            body["max_tokens"] = budget + DEFAULT_MAX_TOKENS
    _tools_into(body, req)
    output_format = _output_format(req.get("response_format"))
    if output_format is not None:
        body["output_config"] = {"format": output_format}
    stops = stop_list(req.get("stop"))
    if stops:
        body["stop_sequences"] = stops
    for key in ("temperature", "top_p", "top_k", "stream"):
        if req.get(key) is not None:
            body[key] = req[key]
    if isinstance(req.get("user"), str) and req["user"]:
        body["metadata"] = {"user_id": req["user"]}
    # Fields remembered from an Anthropic client win: they are that client's exact values.
    body.update(extra)
    return body


def _messages(messages: list[dict[str, Any]]) -> tuple[str | list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    tool_turn: dict[str, Any] | None = None
    for msg in messages:
        role = msg.get("role")
        if role in ("system", "developer"):
            system.extend(_system_blocks(msg.get("content")))
        elif role == "tool":
            block = _tool_result(msg)
            if tool_turn is None:
                tool_turn = {"role": "user", "content": []}
                out.append(tool_turn)
            tool_turn["content"].append(block)
            continue
        elif role == "assistant":
            out.append({"role": "assistant", "content": _assistant_content(msg)})
        else:
            out.append({"role": "user", "content": _user_content(msg.get("content"))})
        tool_turn = None
    return _system_value(system), out


def _system_blocks(content: Any) -> list[dict[str, Any]]:
    blocks = []
    for part in content_parts(content):
        if part.get("type") == "text" and part.get("text"):
            blocks.append(_with_cache_control({"type": "text", "text": part["text"]}, part))
    return blocks


def _system_value(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if any("cache_control" in b for b in blocks):
        return blocks
    return "\n".join(b["text"] for b in blocks)


def _with_cache_control(block: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    if "cache_control" in part:
        block["cache_control"] = part["cache_control"]
    return block


def _user_content(content: Any) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    blocks = [b for part in content_parts(content) if (b := _part_block(part)) is not None]
    return blocks or ""


def _part_block(part: dict[str, Any]) -> dict[str, Any] | None:
    kind = part.get("type")
    if kind == "text":
        return _with_cache_control({"type": "text", "text": str(part.get("text", ""))}, part)
    if kind == "image_url":
        return _with_cache_control({"type": "image", "source": _image_source(image_url_of(part))}, part)
    if kind == "file":
        return _document(part)
    if kind in _OPENAI_PART_TYPES:
        return None
    # Not an OpenAI part: an Anthropic block carried through unchanged (document, search_result…).
    return part


def _image_source(url: str) -> dict[str, Any]:
    parsed = parse_data_url(url)
    if parsed is not None:
        return {"type": "base64", "media_type": parsed[0], "data": parsed[1]}
    return {"type": "url", "url": url}


def _document(part: dict[str, Any]) -> dict[str, Any] | None:
    file = part.get("file")
    if not isinstance(file, dict):
        return None
    parsed = parse_data_url(str(file.get("file_data", "")))
    if parsed is None or parsed[0] != "application/pdf":
        return None
    block: dict[str, Any] = {"type": "document", "source": {"type": "base64", "media_type": parsed[0], "data": parsed[1]}}
    if isinstance(file.get("filename"), str):
        block["title"] = file["filename"]
    return _with_cache_control(block, part)


def _assistant_content(msg: dict[str, Any]) -> str | list[dict[str, Any]]:
    content = msg.get("content")
    tool_calls = msg.get("tool_calls") or []
    thinking = _replayed_thinking(msg)
    if isinstance(content, str) and not tool_calls and not thinking:
        return content
    blocks = list(thinking)
    for part in content_parts(content):
        block = _part_block(part)
        if block is not None and not (block.get("type") == "text" and not block.get("text")):
            blocks.append(block)
    for call in tool_calls:
        fn = call.get("function") or {}
        blocks.append({
            "type": "tool_use",
            "id": call.get("id") or new_id("toolu_"),
            "name": fn.get("name", ""),
            "input": parse_arguments(fn.get("arguments")),
        })
    return blocks or ""


def _replayed_thinking(msg: dict[str, Any]) -> list[dict[str, Any]]:
    """Thinking blocks to send back: exact blocks when known, else one signed block.

    Anthropic rejects a thinking block without its signature, so unsigned reasoning (for
    instance produced by another provider) is not replayed.
    """
    blocks = msg.get("thinking_blocks")
    if isinstance(blocks, list) and blocks:
        return [b for b in blocks if isinstance(b, dict)]
    text, signature = msg.get("reasoning_content"), msg.get("reasoning_signature")
    if isinstance(text, str) and text and isinstance(signature, str) and signature:
        return [{"type": "thinking", "thinking": text, "signature": signature}]
    return []


def _tool_result(msg: dict[str, Any]) -> dict[str, Any]:
    content = msg.get("content")
    if isinstance(content, list):
        value: Any = [b for part in content_parts(content) if (b := _part_block(part)) is not None]
    elif isinstance(content, str):
        value = content
    else:
        value = "" if content is None else dumps(content)
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": msg.get("tool_call_id") or "", "content": value}
    if msg.get("is_error") is True:
        block["is_error"] = True
    return block


def _thinking(req: dict[str, Any], max_tokens: int) -> dict[str, Any] | None:
    thinking = req.get("thinking")
    if thinking is True:
        return {"type": "enabled", "budget_tokens": max(1024, max_tokens - 1)}
    if isinstance(thinking, dict):
        config = dict(thinking)
        if "budget_tokens" in config:
            config.setdefault("type", "enabled")
        elif config.get("type") == "enabled":
            config["budget_tokens"] = max(1024, max_tokens - 1)
        return config if "type" in config else None
    effort = req.get("reasoning_effort")
    if isinstance(effort, str) and effort in _EFFORT_BUDGET:
        return {"type": "enabled", "budget_tokens": _EFFORT_BUDGET[effort]}
    return None


def _tools_into(body: dict[str, Any], req: dict[str, Any]) -> None:
    choice = req.get("tool_choice")
    if choice == "none" or not isinstance(req.get("tools"), list):
        return
    tools = [t for tool in req["tools"] if isinstance(tool, dict) and (t := _tool(tool)) is not None]
    if not tools:
        return
    body["tools"] = tools
    mapped = _tool_choice(choice)
    if req.get("parallel_tool_calls") is False:
        mapped = {**(mapped or {"type": "auto"}), "disable_parallel_tool_use": True}
    if mapped is not None:
        body["tool_choice"] = mapped


def _tool(tool: dict[str, Any]) -> dict[str, Any] | None:
    fn = tool.get("function")
    if tool.get("type", "function") == "function" and isinstance(fn, dict):
        out: dict[str, Any] = {"name": fn.get("name", ""), "input_schema": _input_schema(fn.get("parameters"))}
        if fn.get("description"):
            out["description"] = fn["description"]
        return _with_cache_control(out, tool)
    if isinstance(tool.get("name"), str) and fn is None:
        return tool  # an Anthropic-native tool (web search, computer use…) carried through
    return None


def _output_format(fmt: Any) -> dict[str, Any] | None:
    """Anthropic's structured-output format for an OpenAI `json_schema` response_format (JSON mode has none)."""
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("json_schema"), dict):
        return None
    schema = fmt["json_schema"].get("schema")
    return {"type": "json_schema", "schema": inline_refs(schema) if isinstance(schema, dict) else {"type": "object"}}


def _input_schema(parameters: Any) -> dict[str, Any]:
    if not isinstance(parameters, dict):
        return {"type": "object", "properties": {}}
    schema = inline_refs(parameters)
    return schema if "type" in schema else {"type": "object", **schema}


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, dict):
        fn = choice.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return {"type": "tool", "name": fn["name"]}
        if choice.get("type") in ("auto", "any", "tool"):
            return choice
    return None


def anthropic_to_openai_response(resp: dict[str, Any], model: str, *, created: int | None = None) -> dict[str, Any]:
    """The OpenAI chat completion for an Anthropic Messages response."""
    message = assistant_message(resp.get("content") or [])
    return chat_completion(
        id=resp.get("id") or new_id("chatcmpl-"),
        created=now() if created is None else created,
        model=model,
        message=message,
        finish_reason=map_anthropic_stop(resp.get("stop_reason")),
        usage=anthropic_usage_to_openai(resp.get("usage") or {}),
    )
