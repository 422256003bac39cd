"""OpenAI chat request → Gemini generateContent request, and Gemini response → OpenAI response."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

import msgspec

from crabllm.translate.common import (
    chat_completion, content_parts, image_url_of, loads, max_tokens_of, new_id, now,
    depth_guarded, parse_arguments, parse_data_url, stop_list, validate_chat,
)
from crabllm.translate.gemini_parts import gemini_finish, gemini_usage, parts_to_delta, split_thought_id
from crabllm.translate.gemini_schema import gemini_schema
from crabllm.translate.gemini_stream import GeminiStreamToOpenAI

__all__ = ["GeminiStreamToOpenAI", "gemini_to_openai_response", "openai_to_gemini_request"]

SKIP_SIGNATURE = "skip_thought_signature_validator"
_GEMINI3 = re.compile(r"^(?:models/)?gemini-([3-9]|\d{2,})")
_MIME_BY_EXT = MappingProxyType({
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
    "webp": "image/webp", "heic": "image/heic", "heif": "image/heif", "pdf": "application/pdf",
})
_CHOICE_MODE = MappingProxyType({"auto": "AUTO", "required": "ANY", "none": "NONE"})
_EFFORT_BUDGET = MappingProxyType({"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576})


@depth_guarded
def openai_to_gemini_request(req: dict[str, Any]) -> dict[str, Any]:
    """The generateContent body for an OpenAI chat request (model goes in the URL, not here)."""
    validate_chat(req)
    model = str(req.get("model", ""))
    system, contents = _contents(req["messages"], bool(_GEMINI3.match(model)))
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    generation = _generation_config(req, model)
    if generation:
        body["generationConfig"] = generation
    tools = _tools(req.get("tools"))
    if tools:
        body["tools"] = tools
        config = _tool_config(req.get("tool_choice"))
        if config:
            body["toolConfig"] = config
    return body


def _contents(messages: list[dict[str, Any]], needs_signature: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    responses: dict[str, Any] | None = None
    for msg in messages:
        role = msg.get("role")
        if role in ("system", "developer"):
            system.extend({"text": p["text"]} for p in content_parts(msg.get("content"))
                          if p.get("type") == "text" and p.get("text"))
            continue
        if role == "tool":
            if responses is None:
                responses = {"role": "user", "parts": []}
                contents.append(responses)
            responses["parts"].append(_function_response(msg, names))
            continue
        responses = None
        if role == "assistant":
            contents.append(_model_content(msg, names, needs_signature))
        else:
            contents.append({"role": "user", "parts": _user_parts(msg.get("content")) or [{"text": ""}]})
    return system, contents


def _user_parts(content: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for part in content_parts(content):
        kind = part.get("type")
        if kind == "text":
            parts.append({"text": str(part.get("text", ""))})
        elif kind == "image_url":
            parts.append(_media_part(image_url_of(part)))
        elif kind == "file" and isinstance(part.get("file"), dict):
            data = str(part["file"].get("file_data") or "")
            if data:
                parts.append(_media_part(data))
        elif kind == "input_audio" and isinstance(part.get("input_audio"), dict):
            audio = part["input_audio"]
            parts.append({"inlineData": {"mimeType": f"audio/{audio.get('format', 'wav')}", "data": audio.get("data", "")}})
    return parts


def _media_part(url: str) -> dict[str, Any]:
    parsed = parse_data_url(url)
    if parsed is not None:
        return {"inlineData": {"mimeType": parsed[0], "data": parsed[1]}}
    file_data: dict[str, Any] = {"fileUri": url}
    ext = url.split("?", 1)[0].rsplit(".", 1)[-1].lower()
    if ext in _MIME_BY_EXT:
        file_data["mimeType"] = _MIME_BY_EXT[ext]
    return {"fileData": file_data}


def _model_content(msg: dict[str, Any], names: dict[str, str], needs_signature: bool) -> dict[str, Any]:
    parts = [{"text": p["text"]} for p in content_parts(msg.get("content")) if p.get("type") == "text" and p.get("text")]
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        name = str(fn.get("name", ""))
        _, signature = split_thought_id(str(call.get("id") or ""))
        names[str(call.get("id") or "")] = name
        part: dict[str, Any] = {"functionCall": {"name": name, "args": parse_arguments(fn.get("arguments"))}}
        if signature or needs_signature:
            part["thoughtSignature"] = signature or SKIP_SIGNATURE
        parts.append(part)
    return {"role": "model", "parts": parts or [{"text": ""}]}


def _function_response(msg: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    call_id = str(msg.get("tool_call_id") or "")
    name = msg.get("name") or names.get(call_id) or ""
    return {"functionResponse": {"name": name, "response": _response_object(msg.get("content"))}}


def _response_object(content: Any) -> dict[str, Any]:
    """Gemini wants an object: JSON objects pass, anything else is wrapped as {"result": …}."""
    if isinstance(content, dict):
        return content
    if isinstance(content, list):
        content = "".join(str(p.get("text", "")) for p in content_parts(content) if p.get("type") == "text")
    text = "" if content is None else str(content)
    try:
        value = loads(text)
    except msgspec.DecodeError:  # not JSON: a plain text result
        return {"result": text}
    return value if isinstance(value, dict) else {"result": value}


def _generation_config(req: dict[str, Any], model: str) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if (max_tokens := max_tokens_of(req)) is not None:
        config["maxOutputTokens"] = max_tokens
    for src, dst in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"), ("n", "candidateCount"),
                     ("seed", "seed"), ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")):
        if req.get(src) is not None:
            config[dst] = req[src]
    if stops := stop_list(req.get("stop")):
        config["stopSequences"] = stops
    config.update(_response_format(req.get("response_format")))
    effort = req.get("reasoning_effort")
    if isinstance(effort, str) and effort in _EFFORT_BUDGET:
        config["thinkingConfig"] = _thinking_config(effort, model)
    return config


def _response_format(fmt: Any) -> dict[str, Any]:
    if not isinstance(fmt, dict):
        return {}
    if fmt.get("type") == "json_object":
        return {"responseMimeType": "application/json"}
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") if isinstance(fmt.get("json_schema"), dict) else {}
        out: dict[str, Any] = {"responseMimeType": "application/json"}
        if isinstance(spec.get("schema"), dict):
            out["responseSchema"] = gemini_schema(spec["schema"])
        return out
    return {}


def _thinking_config(effort: str, model: str) -> dict[str, Any]:
    if effort == "none":
        return {"thinkingBudget": 0}
    if _GEMINI3.match(model):
        return {"includeThoughts": True, "thinkingLevel": "low" if effort in ("minimal", "low") else "high"}
    return {"includeThoughts": True, "thinkingBudget": _EFFORT_BUDGET[effort]}


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        return []
    declarations: list[dict[str, Any]] = []
    native: list[dict[str, Any]] = []
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        fn = tool.get("function")
        if tool.get("type", "function") == "function" and isinstance(fn, dict):
            declarations.append(_declaration(fn))
        elif "type" not in tool and "function" not in tool:
            native.append(tool)  # a Gemini-native tool such as {"googleSearch": {}}
    return ([{"functionDeclarations": declarations}] if declarations else []) + native


def _declaration(fn: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": fn.get("name", "")}
    if fn.get("description"):
        out["description"] = fn["description"]
    if isinstance(fn.get("parameters"), dict):
        params = gemini_schema(fn["parameters"])
        if params.get("properties") or params.get("type") not in (None, "object"):
            out["parameters"] = params
    return out


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if isinstance(choice, str) and choice in _CHOICE_MODE:
        return {"functionCallingConfig": {"mode": _CHOICE_MODE[choice]}}
    fn = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [fn["name"]]}}
    return None


def gemini_to_openai_response(resp: dict[str, Any], model: str, *, created: int | None = None) -> dict[str, Any]:
    """The OpenAI chat completion for a generateContent response (first candidate)."""
    response_id = resp.get("responseId") if isinstance(resp.get("responseId"), str) else None
    candidates = resp.get("candidates") or []
    candidate = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
    id_prefix = f"call_{response_id or new_id('')}_"
    parts = (candidate.get("content") or {}).get("parts") or []
    delta = parts_to_delta(parts, id_prefix, 0)
    tool_calls = [{k: v for k, v in call.items() if k != "index"} for call in delta.get("tool_calls", [])]
    message: dict[str, Any] = {"role": "assistant", "content": delta.get("content", "" if not tool_calls else None)}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if "reasoning_content" in delta:
        message["reasoning_content"] = delta["reasoning_content"]
    if candidate:
        finish = gemini_finish(candidate.get("finishReason"), bool(tool_calls))
    else:
        blocked = (resp.get("promptFeedback") or {}).get("blockReason")
        finish = "content_filter" if blocked else "stop"
    usage = gemini_usage(resp["usageMetadata"]) if isinstance(resp.get("usageMetadata"), dict) else None
    return chat_completion(id=response_id or new_id("chatcmpl-"), created=now() if created is None else created,
                           model=model, message=message, finish_reason=finish, usage=usage)
