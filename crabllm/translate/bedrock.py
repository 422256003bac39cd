"""OpenAI chat request → Bedrock Converse request, and Converse response → OpenAI response."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from crabllm.errors import InvalidRequest
from crabllm.translate.bedrock_stream import ConverseStreamToOpenAI, converse_finish, converse_usage
from crabllm.translate.common import (
    chat_completion, content_parts, dumps, image_url_of, max_tokens_of, new_id, now,
    depth_guarded, parse_arguments, parse_data_url, stop_list, validate_chat,
)
from crabllm.translate.schema import inline_refs

__all__ = ["ConverseStreamToOpenAI", "converse_to_openai_response", "openai_to_converse_request"]

_IMAGE_FORMATS = MappingProxyType({"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg",
                                   "image/gif": "gif", "image/webp": "webp"})
# Converse fields a client aiming at Bedrock may send as extra request keys; passed unchanged.
_PASSTHROUGH = ("additionalModelRequestFields", "guardrailConfig", "performanceConfig", "requestMetadata",
                "promptVariables", "additionalModelResponseFieldPaths")


@depth_guarded
def openai_to_converse_request(req: dict[str, Any]) -> dict[str, Any]:
    """The Converse / ConverseStream body for an OpenAI chat request (model goes in the URL)."""
    validate_chat(req)
    system, messages = _messages(req["messages"])
    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = system
    inference: dict[str, Any] = {}
    if (max_tokens := max_tokens_of(req)) is not None:
        inference["maxTokens"] = max_tokens
    for src, dst in (("temperature", "temperature"), ("top_p", "topP")):
        if req.get(src) is not None:
            inference[dst] = req[src]
    if stops := stop_list(req.get("stop")):
        inference["stopSequences"] = stops
    if inference:
        body["inferenceConfig"] = inference
    tool_config = _tool_config(req, _uses_tools(messages))
    if tool_config:
        body["toolConfig"] = tool_config
    body.update({k: req[k] for k in _PASSTHROUGH if k in req})
    return body


def _messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for msg in messages:
        role = msg.get("role")
        if role in ("system", "developer"):
            system.extend({"text": p["text"]} for p in content_parts(msg.get("content"))
                          if p.get("type") == "text" and p.get("text"))
            continue
        if role == "assistant":
            blocks, turn = _assistant_blocks(msg), "assistant"
        elif role == "tool":
            blocks, turn = [_tool_result(msg)], "user"
        else:
            blocks, turn = _user_blocks(msg.get("content")), "user"
        if not blocks:
            continue
        # Converse requires strictly alternating roles, so same-role turns are merged.
        if out and out[-1]["role"] == turn:
            _merge(out[-1], blocks)
        else:
            out.append({"role": turn, "content": blocks})
    return system, out


def _merge(turn: dict[str, Any], blocks: list[dict[str, Any]]) -> None:
    # toolResult blocks must lead a user turn, ahead of any text that follows them.
    if blocks and "toolResult" in blocks[0]:
        lead = [b for b in turn["content"] if "toolResult" in b]
        rest = [b for b in turn["content"] if "toolResult" not in b]
        turn["content"] = lead + blocks + rest
    else:
        turn["content"].extend(blocks)


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in content_parts(content):
        kind = part.get("type")
        if kind == "text" and part.get("text"):
            blocks.append({"text": part["text"]})
        elif kind == "image_url":
            blocks.append({"image": _image(image_url_of(part))})
        elif kind == "file" and isinstance(part.get("file"), dict):
            doc = _document(part["file"], len(blocks))
            if doc:
                blocks.append(doc)
    return blocks


def _image(url: str) -> dict[str, Any]:
    parsed = parse_data_url(url)
    if parsed is not None:
        fmt = _IMAGE_FORMATS.get(parsed[0])
        if fmt is None:
            raise InvalidRequest(f"Bedrock does not accept images of type {parsed[0]}")
        return {"format": fmt, "source": {"bytes": parsed[1]}}
    if url.startswith("s3://"):
        ext = url.rsplit(".", 1)[-1].lower()
        return {"format": _IMAGE_FORMATS.get(f"image/{ext}", "png"), "source": {"s3Location": {"uri": url}}}
    raise InvalidRequest("Bedrock accepts images only as data: URLs or s3:// URIs")


def _document(file: dict[str, Any], position: int) -> dict[str, Any] | None:
    parsed = parse_data_url(str(file.get("file_data", "")))
    if parsed is None or parsed[0] != "application/pdf":
        return None
    # Document names allow only letters, digits, spaces and a few separators.
    raw = str(file.get("filename") or f"document-{position}").rsplit(".", 1)[0]
    name = "".join(c if c.isalnum() or c in " -()[]" else "-" for c in raw) or "document"
    return {"document": {"format": "pdf", "name": name, "source": {"bytes": parsed[1]}}}


def _assistant_blocks(msg: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text, signature = msg.get("reasoning_content"), msg.get("reasoning_signature")
    if isinstance(text, str) and text and isinstance(signature, str) and signature:
        blocks.append({"reasoningContent": {"reasoningText": {"text": text, "signature": signature}}})
    blocks.extend({"text": p["text"]} for p in content_parts(msg.get("content")) if p.get("type") == "text" and p.get("text"))
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        blocks.append({"toolUse": {"toolUseId": call.get("id") or new_id("tooluse_"), "name": fn.get("name", ""),
                                   "input": parse_arguments(fn.get("arguments"))}})
    return blocks


def _tool_result(msg: dict[str, Any]) -> dict[str, Any]:
    content = msg.get("content")
    if isinstance(content, list):
        blocks = _user_blocks(content) or [{"text": ""}]
    elif isinstance(content, dict):
        blocks = [{"json": content}]
    else:
        blocks = [{"text": "" if content is None else str(content)}]
    result: dict[str, Any] = {"toolUseId": msg.get("tool_call_id") or "", "content": blocks}
    if msg.get("is_error") is True:
        result["status"] = "error"
    return {"toolResult": result}


def _uses_tools(messages: list[dict[str, Any]]) -> bool:
    return any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"])


def _tool_config(req: dict[str, Any], history_has_tools: bool) -> dict[str, Any] | None:
    tools = []
    declared = req.get("tools")
    for tool in declared if isinstance(declared, list) else []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and tool.get("type", "function") == "function":
            spec: dict[str, Any] = {"name": fn.get("name", "")}
            if fn.get("description"):
                spec["description"] = fn["description"]
            params = fn.get("parameters") if isinstance(fn.get("parameters"), dict) else {"type": "object", "properties": {}}
            spec["inputSchema"] = {"json": inline_refs(params)}
            tools.append({"toolSpec": spec})
    choice = req.get("tool_choice")
    # Converse has no "none"; tools stay declared only when the history needs them.
    if not tools or (choice == "none" and not history_has_tools):
        return None
    config: dict[str, Any] = {"tools": tools}
    if choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict) and isinstance(fn := choice.get("function"), dict) and isinstance(fn.get("name"), str):
        config["toolChoice"] = {"tool": {"name": fn["name"]}}
    return config


def converse_to_openai_response(resp: dict[str, Any], model: str, *, created: int | None = None) -> dict[str, Any]:
    """The OpenAI chat completion for a Converse response."""
    message = ((resp.get("output") or {}).get("message")) or {}
    texts: list[str] = []
    reasoning: list[str] = []
    signature = None
    tool_calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            tool_calls.append({"id": use.get("toolUseId", ""), "type": "function",
                               "function": {"name": use.get("name", ""), "arguments": dumps(use.get("input") or {})}})
        elif isinstance(block.get("reasoningContent"), dict):
            text_block = block["reasoningContent"].get("reasoningText") or {}
            reasoning.append(str(text_block.get("text", "")))
            signature = text_block.get("signature") or signature
    out: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not tool_calls else None}
    if tool_calls:
        out["tool_calls"] = tool_calls
    if reasoning:
        out["reasoning_content"] = "".join(reasoning)
    if signature:
        out["reasoning_signature"] = signature
    usage = converse_usage(resp["usage"]) if isinstance(resp.get("usage"), dict) else None
    return chat_completion(id=new_id("chatcmpl-"), created=now() if created is None else created, model=model,
                           message=out, finish_reason=converse_finish(resp.get("stopReason")), usage=usage)
