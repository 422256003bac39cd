"""Responses input items: validated, normalised to canonical items with ids, and turned into chat messages."""

from __future__ import annotations

from typing import Any

from crabllm.errors import InvalidRequest
from crabllm.translate.common import dumps
from crabllm.translate.responses_common import (
    decode_reasoning_state, function_call_item_id, function_output_item_id, message_item_id, namespaced,
    reasoning_item_id,
)

NATIVE_ONLY = "is only available on native OpenAI deployments"
_ROLES = frozenset({"user", "system", "developer", "assistant"})
_CHAT_DETAIL = frozenset({"auto", "low", "high"})


def bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def normalize_input(value: Any, param: str = "input") -> list[dict[str, Any]]:
    """`input` (a string or a list of items) as canonical Responses items, each with an id."""
    if isinstance(value, str):
        return [user_text_item(value)]
    if not isinstance(value, list):
        raise bad(f"'{param}' must be a string or a list of input items", param)
    return [normalize_item(item, f"{param}[{i}]") for i, item in enumerate(value)]


def user_text_item(text: str) -> dict[str, Any]:
    return {"id": message_item_id(), "type": "message", "role": "user", "status": "completed",
            "content": [{"type": "input_text", "text": text}]}


def normalize_item(item: Any, param: str) -> dict[str, Any]:
    """One input item in canonical form; InvalidRequest naming `param` when it is malformed."""
    if not isinstance(item, dict):
        raise bad(f"'{param}' must be an object", param)
    kind = item.get("type")
    if kind is None and "role" in item:
        kind = "message"  # the "easy" message form has no type
    if kind == "message":
        return _message(item, param)
    if kind == "function_call":
        return _function_call(item, param)
    if kind == "function_call_output":
        return _function_output(item, param)
    if kind == "reasoning":
        return _reasoning(item, param)
    if kind == "item_reference":
        raise bad(f"'{param}': item_reference is not supported on this deployment; send the referenced items "
                  "themselves, or use previous_response_id", param)
    if kind is None:
        raise bad(f"'{param}' needs a 'type' (or a 'role' for a message)", f"{param}.type")
    if not isinstance(kind, str):
        raise bad(f"'{param}.type' must be a string", f"{param}.type")
    raise bad(f"input item type '{kind}' {NATIVE_ONLY}", param)


def _item_id(item: dict[str, Any], make: Any) -> str:
    value = item.get("id")
    return value if isinstance(value, str) and value else make()


def _text_field(obj: dict[str, Any], key: str, param: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise bad(f"'{param}.{key}' must be a string", f"{param}.{key}")
    return value


def _message(item: dict[str, Any], param: str) -> dict[str, Any]:
    role = item.get("role")
    if role is None:
        raise bad(f"'{param}.role' is required", f"{param}.role")
    if role not in _ROLES:
        raise bad(f"'{param}.role' must be one of user, system, developer, assistant (got {role!r})", f"{param}.role")
    content = item.get("content")
    if isinstance(content, str):
        content = [{"type": "output_text" if role == "assistant" else "input_text", "text": content}]
    elif not isinstance(content, list):
        raise bad(f"'{param}.content' must be a string or a list of content parts", f"{param}.content")
    convert = _output_part if role == "assistant" else _input_part
    parts = [convert(p, f"{param}.content[{i}]") for i, p in enumerate(content)]
    return {"id": _item_id(item, message_item_id), "type": "message", "role": role, "status": "completed",
            "content": parts}


def _input_part(part: Any, param: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise bad(f"'{param}' must be an object", param)
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        # Assistant text replayed inside a user message is still just text to the model.
        return {"type": "input_text", "text": _text_field(part, "text", param)}
    if kind == "refusal":
        return {"type": "input_text", "text": _text_field(part, "refusal", param)}
    if kind == "input_image":
        return _input_image(part, param)
    if kind == "input_file":
        return _input_file(part, param)
    if kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict) or not isinstance(audio.get("data"), str):
            raise bad(f"'{param}.input_audio' must be an object with 'data' and 'format'", f"{param}.input_audio")
        return {"type": "input_audio", "input_audio": audio}
    raise bad(f"content part type {kind!r} is not supported in '{param}'", f"{param}.type")


def _input_image(part: dict[str, Any], param: str) -> dict[str, Any]:
    url = part.get("image_url")
    if not isinstance(url, str) or not url:
        if part.get("file_id"):
            raise bad(f"'{param}': input_image with file_id needs the OpenAI Files API, which {NATIVE_ONLY}; "
                      "send image_url (an https or data: URL) instead", f"{param}.file_id")
        raise bad(f"'{param}.image_url' must be a non-empty string", f"{param}.image_url")
    detail = part.get("detail")
    return {"type": "input_image", "image_url": url, "detail": detail if isinstance(detail, str) else "auto"}


def _input_file(part: dict[str, Any], param: str) -> dict[str, Any]:
    data = part.get("file_data")
    if not isinstance(data, str) or not data:
        if part.get("file_id") or part.get("file_url"):
            which = "file_id" if part.get("file_id") else "file_url"
            raise bad(f"'{param}': input_file with {which} {NATIVE_ONLY}; send file_data (a data: URL) instead",
                      f"{param}.{which}")
        raise bad(f"'{param}.file_data' must be a non-empty string", f"{param}.file_data")
    out = {"type": "input_file", "file_data": data}
    if isinstance(part.get("filename"), str):
        out["filename"] = part["filename"]
    return out


def _output_part(part: Any, param: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise bad(f"'{param}' must be an object", param)
    kind = part.get("type")
    if kind in ("output_text", "input_text", "text"):
        annotations = part.get("annotations")
        return {"type": "output_text", "text": _text_field(part, "text", param),
                "annotations": annotations if isinstance(annotations, list) else []}
    if kind == "refusal":
        return {"type": "refusal", "refusal": _text_field(part, "refusal", param)}
    raise bad(f"content part type {kind!r} is not supported in an assistant message ('{param}')", f"{param}.type")


def _function_call(item: dict[str, Any], param: str) -> dict[str, Any]:
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise bad(f"'{param}.call_id' must be a non-empty string", f"{param}.call_id")
    arguments = item.get("arguments")
    if isinstance(arguments, dict):
        arguments = dumps(arguments)  # some clients send the parsed object; the wire form is text
    if not isinstance(arguments, str):
        raise bad(f"'{param}.arguments' must be a string", f"{param}.arguments")
    out = {"id": _item_id(item, function_call_item_id), "type": "function_call", "call_id": call_id,
           "name": _text_field(item, "name", param), "arguments": arguments, "status": "completed"}
    if isinstance(item.get("namespace"), str) and item["namespace"]:
        out["namespace"] = item["namespace"]
    return out


def _function_output(item: dict[str, Any], param: str) -> dict[str, Any]:
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise bad(f"'{param}.call_id' must be a non-empty string", f"{param}.call_id")
    output = item.get("output")
    if isinstance(output, list):
        output = [_input_part(p, f"{param}.output[{i}]") for i, p in enumerate(output)]
    elif not isinstance(output, str):
        raise bad(f"'{param}.output' must be a string or a list of content parts", f"{param}.output")
    return {"id": _item_id(item, function_output_item_id), "type": "function_call_output", "call_id": call_id,
            "output": output, "status": "completed"}


def _reasoning(item: dict[str, Any], param: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": _item_id(item, reasoning_item_id), "type": "reasoning",
                           "summary": _texts(item.get("summary"), "summary_text", f"{param}.summary")}
    if item.get("content") is not None:
        out["content"] = _texts(item["content"], "reasoning_text", f"{param}.content")
    if isinstance(item.get("encrypted_content"), str):
        out["encrypted_content"] = item["encrypted_content"]
    return out


def _texts(value: Any, kind: str, param: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in value):
        raise bad(f"'{param}' must be a list of {kind} parts", param)
    return [{"type": kind, "text": p["text"]} for p in value]


def items_to_messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages for canonical items, in order.

    One assistant turn in Responses is several items (reasoning, message, function_call…);
    in chat it is ONE assistant message, and chat requires the tool results to follow the
    message holding every tool call — so consecutive assistant items are merged.
    """
    messages: list[dict[str, Any]] = []
    turn: dict[str, Any] | None = None  # the assistant message later assistant items join
    reasoning: list[dict[str, Any]] = []  # reasoning items waiting for the assistant message they precede
    for item in items:
        kind = item["type"]
        if kind == "reasoning":
            signed = decode_reasoning_state(item.get("encrypted_content")) != (None, None)
            if signed and turn is not None and (turn.get("content") or turn.get("tool_calls")):
                turn = None  # signed reasoning after text or calls begins the next assistant step
            reasoning.append(item)
            continue
        if kind == "function_call" or (kind == "message" and item["role"] == "assistant"):
            if turn is None:
                turn = {"role": "assistant", "content": None}
                messages.append(turn)
            if reasoning:
                _attach_reasoning(turn, reasoning)
                reasoning = []
            if kind == "function_call":
                turn.setdefault("tool_calls", []).append({
                    "id": item["call_id"], "type": "function",
                    "function": {"name": namespaced(item.get("namespace"), item["name"]), "arguments": item["arguments"]},
                })
            else:
                _add_assistant_content(turn, item["content"])
            continue
        # Reasoning not followed by an assistant step has nothing to belong to: no chat API takes it.
        turn, reasoning = None, []
        if kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": _tool_content(item["output"])})
        else:
            role = "system" if item["role"] in ("system", "developer") else item["role"]
            messages.append({"role": role, "content": _chat_content(item["content"])})
    return messages


def _attach_reasoning(turn: dict[str, Any], items: list[dict[str, Any]]) -> None:
    # Only signed reasoning is replayed: Anthropic and Bedrock reject unsigned thinking, and
    # OpenAI-style chat services (DeepSeek) reject reasoning_content in the input.
    signature, blocks = decode_reasoning_state(items[-1].get("encrypted_content"))
    if signature is None and blocks is None:
        return
    text = "".join(p["text"] for item in items for p in (item.get("content") or item["summary"]))
    turn["reasoning_content"] = text
    if signature is not None:
        turn["reasoning_signature"] = signature
    if blocks is not None:
        turn["thinking_blocks"] = blocks


def _add_assistant_content(turn: dict[str, Any], parts: list[dict[str, Any]]) -> None:
    texts = [{"type": "text", "text": p["text"]} for p in parts if p["type"] == "output_text"]
    refusals = [p["refusal"] for p in parts if p["type"] == "refusal"]
    if texts:
        previous = turn["content"]
        merged = ([] if previous is None else [{"type": "text", "text": previous}] if isinstance(previous, str)
                  else previous) + texts
        turn["content"] = merged[0]["text"] if len(merged) == 1 else merged
    if refusals:
        turn["refusal"] = (turn.get("refusal") or "") + "".join(refusals)


def _chat_part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part["type"]
    if kind == "input_text":
        return {"type": "text", "text": part["text"]}
    if kind == "input_image":
        image: dict[str, Any] = {"url": part["image_url"]}
        if part.get("detail") in _CHAT_DETAIL:
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        file = {k: part[k] for k in ("file_data", "filename") if k in part}
        return {"type": "file", "file": file}
    return {"type": "input_audio", "input_audio": part["input_audio"]}


def _chat_content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if len(parts) == 1 and parts[0]["type"] == "input_text":
        return parts[0]["text"]
    return [_chat_part(p) for p in parts]


def _tool_content(output: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if isinstance(output, str):
        return output
    if all(p["type"] == "input_text" for p in output):
        return "".join(p["text"] for p in output)
    return [_chat_part(p) for p in output]
