"""OpenAI Responses create request → OpenAI chat request, for deployments without a Responses API."""

from __future__ import annotations

from typing import Any

from crabllm.translate.responses_common import NAMESPACE_SEP, decode_reasoning_state, namespaced
from crabllm.translate.responses_items import NATIVE_ONLY, bad, items_to_messages, normalize_input

__all__ = ["input_items", "native_items", "responses_to_chat"]

# Responses fields that only OpenAI's own servers can honour (stored prompts, conversations).
_NATIVE_FIELDS = ("prompt", "conversation")
# Effort values a chat-shaped upstream understands; the thinking translators (Anthropic,
# Gemini) know exactly these, so stronger efforts are capped rather than silently ignored.
_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high"})
_STRONGER_EFFORTS = frozenset({"xhigh", "max"})


def input_items(req: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's `input` as canonical Responses items, each with an id (what storage keeps).

    A string input becomes one user message with an `input_text` part; a missing input is [].
    """
    if not isinstance(req, dict):
        raise bad("request body must be a JSON object", "input")
    if req.get("input") is None:
        return []
    return normalize_input(req["input"])


def native_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored items made safe to send as `input` to a native Responses deployment (fallback replay).

    OpenAI checks item ids against its own prefixes and can only use reasoning state it
    produced, so: reasoning items that carry our token (or no state at all) are dropped, and
    the ids OpenAI does not need (user, system and tool-output items) are removed.
    """
    out = []
    for item in items:
        kind = item.get("type")
        if kind == "reasoning":
            token = item.get("encrypted_content")
            if not isinstance(token, str) or decode_reasoning_state(token) != (None, None):
                continue
        elif kind == "function_call_output" or (kind == "message" and item.get("role") != "assistant"):
            item = {k: v for k, v in item.items() if k != "id"}
        out.append(item)
    return out


def responses_to_chat(req: dict[str, Any], model: str, *, history: list[dict[str, Any]] | None = None,
                      stream: bool = False) -> dict[str, Any]:
    """The chat request for a Responses create request, sent to `model`.

    `history` is the prior conversation (the previous response's input items then its output
    items) rebuilt from storage for `previous_response_id`; it goes after this request's
    `instructions` (instructions are never carried over, as OpenAI does) and before `input`.
    Request fields with no chat equivalent that only describe the Responses object itself
    (store, metadata, truncation, include, background…) are left out of the chat body.
    """
    if not isinstance(req, dict):
        raise bad("request body must be a JSON object", "input")
    for field in _NATIVE_FIELDS:
        if req.get(field) is not None:
            raise bad(f"'{field}' {NATIVE_ONLY}", field)
    messages: list[dict[str, Any]] = []
    instructions = req.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise bad("'instructions' must be a string", "instructions")
    if instructions:
        messages.append({"role": "system", "content": instructions})
    items = normalize_input(history, "history") if history else []
    items += input_items(req)
    if not items:
        raise bad("'input' is required (a string or a non-empty list of input items)", "input")
    messages += items_to_messages(items)
    body: dict[str, Any] = {"model": model, "messages": messages}
    _tools_into(body, req)
    _sampling_into(body, req)
    fmt = _response_format(req.get("text"))
    if fmt is not None:
        body["response_format"] = fmt
    effort = _reasoning_effort(req.get("reasoning"))
    if effort is not None:
        body["reasoning_effort"] = effort
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _number(req: dict[str, Any], key: str) -> float | int | None:
    value = req.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad(f"'{key}' must be a number", key)
    return value


def _integer(req: dict[str, Any], key: str, minimum: int) -> int | None:
    value = req.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise bad(f"'{key}' must be an integer >= {minimum}", key)
    return value


def _sampling_into(body: dict[str, Any], req: dict[str, Any]) -> None:
    for key in ("temperature", "top_p"):
        if (value := _number(req, key)) is not None:
            body[key] = value
    if (max_tokens := _integer(req, "max_output_tokens", 1)) is not None:
        # Every chat translator reads max_completion_tokens first (common.max_tokens_of).
        body["max_completion_tokens"] = max_tokens
    if (top := _integer(req, "top_logprobs", 0)) is not None:
        body["logprobs"] = True
        body["top_logprobs"] = top
    user = req.get("user")
    if user is not None:
        if not isinstance(user, str):
            raise bad("'user' must be a string", "user")
        body["user"] = user


def _tools_into(body: dict[str, Any], req: dict[str, Any]) -> None:
    tools = req.get("tools")
    if tools is None:
        tools = []
    if not isinstance(tools, list):
        raise bad("'tools' must be a list", "tools")
    chat_tools = [chat for i, t in enumerate(tools) for chat in _tool(t, f"tools[{i}]")]
    choice = req.get("tool_choice")
    if choice is not None:
        choice, chat_tools = _tool_choice(choice, chat_tools)
    parallel = req.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise bad("'parallel_tool_calls' must be a boolean", "parallel_tool_calls")
    if not chat_tools:
        return  # chat APIs reject tool_choice / parallel_tool_calls without tools
    body["tools"] = chat_tools
    if choice is not None:
        body["tool_choice"] = choice
    if parallel is not None:
        body["parallel_tool_calls"] = parallel


def _tool(tool: Any, param: str) -> list[dict[str, Any]]:
    """The chat tools for one Responses tool: a function is one, a namespace its member functions,
    and a web search the client itself forbids to reach the web (`external_web_access: false`, as
    the Codex CLI sends) none; any other built-in tool needs a native deployment."""
    if not isinstance(tool, dict):
        raise bad(f"'{param}' must be an object", param)
    kind = tool.get("type")
    if kind == "namespace":
        return _namespace(tool, param)
    if kind in ("web_search", "web_search_preview") and tool.get("external_web_access") is False:
        return []
    if kind != "function":
        name = kind if isinstance(kind, str) else "(missing type)"
        raise bad(f"tool type '{name}' {NATIVE_ONLY}; this deployment supports only function tools", "tools")
    return [_function(tool, param)]


def _namespace(tool: dict[str, Any], param: str) -> list[dict[str, Any]]:
    namespace = tool.get("name")
    if not isinstance(namespace, str) or not namespace or NAMESPACE_SEP in namespace:
        raise bad(f"'{param}.name' must be a non-empty string without '{NAMESPACE_SEP}'", f"{param}.name")
    members = tool.get("tools")
    if not isinstance(members, list):
        raise bad(f"'{param}.tools' must be a list", f"{param}.tools")
    out = []
    for i, member in enumerate(members):
        where = f"{param}.tools[{i}]"
        if not isinstance(member, dict) or member.get("type") != "function":
            kind = member.get("type") if isinstance(member, dict) else None
            raise bad(f"tool type '{kind}' inside namespace '{namespace}' {NATIVE_ONLY}; this deployment supports "
                      "only function tools", where)
        chat = _function(member, where)
        chat["function"]["name"] = namespaced(namespace, chat["function"]["name"])
        out.append(chat)
    return out


def _function(tool: dict[str, Any], param: str) -> dict[str, Any]:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise bad(f"'{param}.name' must be a non-empty string", f"{param}.name")
    fn: dict[str, Any] = {"name": name}
    if tool.get("description") is not None:
        if not isinstance(tool["description"], str):
            raise bad(f"'{param}.description' must be a string", f"{param}.description")
        fn["description"] = tool["description"]
    if tool.get("parameters") is not None:
        if not isinstance(tool["parameters"], dict):
            raise bad(f"'{param}.parameters' must be a JSON schema object", f"{param}.parameters")
        fn["parameters"] = tool["parameters"]
    if tool.get("strict") is not None:
        if not isinstance(tool["strict"], bool):
            raise bad(f"'{param}.strict' must be a boolean", f"{param}.strict")
        fn["strict"] = tool["strict"]
    return {"type": "function", "function": fn}


def _tool_choice(choice: Any, tools: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    """(chat tool_choice, chat tools): `allowed_tools` narrows the tool list, as chat has no such choice everywhere."""
    if choice in ("auto", "none", "required"):
        return choice, tools
    if not isinstance(choice, dict):
        raise bad("'tool_choice' must be 'auto', 'none', 'required' or an object", "tool_choice")
    kind = choice.get("type")
    if kind == "function":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise bad("'tool_choice.name' must be a non-empty string", "tool_choice.name")
        return {"type": "function", "function": {"name": name}}, tools
    if kind == "allowed_tools":
        allowed = choice.get("tools")
        mode = choice.get("mode", "auto")
        if not isinstance(allowed, list) or mode not in ("auto", "required"):
            raise bad("'tool_choice' allowed_tools needs 'mode' (auto or required) and a 'tools' list", "tool_choice")
        names = set()
        for entry in allowed:
            if not isinstance(entry, dict) or entry.get("type") != "function" or not isinstance(entry.get("name"), str):
                raise bad(f"'tool_choice' allowed_tools entries must be function tools on this deployment ({NATIVE_ONLY} "
                          "for other tool types)", "tool_choice")
            names.add(entry["name"])
        return mode, [t for t in tools if t["function"]["name"] in names]
    name = kind if isinstance(kind, str) else "(missing type)"
    raise bad(f"tool_choice type '{name}' {NATIVE_ONLY}", "tool_choice")


def _response_format(text: Any) -> dict[str, Any] | None:
    if text is None:
        return None
    if not isinstance(text, dict):
        raise bad("'text' must be an object", "text")
    fmt = text.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise bad("'text.format' must be an object", "text.format")
    kind = fmt.get("type")
    if kind == "text":
        return None  # the chat default; some chat services reject an explicit {"type": "text"}
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        raise bad("'text.format.type' must be text, json_object or json_schema", "text.format.type")
    name, schema = fmt.get("name"), fmt.get("schema")
    if not isinstance(name, str) or not name:
        raise bad("'text.format.name' must be a non-empty string", "text.format.name")
    if not isinstance(schema, dict):
        raise bad("'text.format.schema' must be a JSON schema object", "text.format.schema")
    spec: dict[str, Any] = {"name": name, "schema": schema}
    if fmt.get("strict") is not None:
        if not isinstance(fmt["strict"], bool):
            raise bad("'text.format.strict' must be a boolean", "text.format.strict")
        spec["strict"] = fmt["strict"]
    if isinstance(fmt.get("description"), str):
        spec["description"] = fmt["description"]
    return {"type": "json_schema", "json_schema": spec}


def _reasoning_effort(reasoning: Any) -> str | None:
    if reasoning is None:
        return None
    if not isinstance(reasoning, dict):
        raise bad("'reasoning' must be an object", "reasoning")
    effort = reasoning.get("effort")
    if effort is None:
        return None
    if effort in _STRONGER_EFFORTS:
        return "high"
    if effort not in _EFFORTS:
        raise bad("'reasoning.effort' must be one of none, minimal, low, medium, high, xhigh", "reasoning.effort")
    return effort
