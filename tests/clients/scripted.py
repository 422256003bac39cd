"""A scripted upstream for agent loops: tool call first, text once the tool result comes back.

One loopback server speaks three wire formats on their usual paths — OpenAI chat
(`/v1/chat/completions`), Anthropic Messages (`/v1/messages`, `/v1/messages/count_tokens`) and
OpenAI Responses (`/v1/responses`) — plain and streamed, and records every request it received.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.fakes.anthropic_upstream import event
from tests.fakes.openai_upstream import FakeOpenAI, Received, Script, sse

#: The final answer starts with this, followed by the tool result the client sent back.
FINAL_PREFIX = "FINAL ANSWER: "
PLAIN_TEXT = "Hello from the scripted upstream."
USAGE = (21, 9)
SIGNATURE = "c2lnbmF0dXJlLXNjcmlwdGVk"


def text_of(content: Any) -> str:
    """The plain text of a string, a list of text parts/blocks, or anything else (JSON)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(text_of(p.get("text", p.get("content", ""))) if isinstance(p, dict) else str(p)
                       for p in content)
    return "" if content is None else json.dumps(content)


class ScriptedUpstream(FakeOpenAI):
    """`tools` maps a tool name to the arguments to call it with; the first one the request offers is called."""

    def __init__(self) -> None:
        super().__init__()
        self.tools: dict[str, dict[str, Any]] = {}
        self.structured: dict[str, Any] | None = None
        #: Thinking to put before the tool call (Anthropic thinking block / OpenAI reasoning_content).
        self.thinking: str | None = None
        self.chunk_size = 7

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def conversation(self, path: str) -> list[Received]:
        """Requests on `path` that offered one of the scripted tools (the agent loop, not side calls)."""
        return [r for r in self.requests(path) if self._offered(r)]

    def _offered(self, rec: Received) -> bool:
        try:
            body = rec.json()
        except ValueError:
            return False
        return isinstance(body, dict) and self._tool_for(_tool_names(body)) is not None

    def _tool_for(self, offered: list[str]) -> str | None:
        return next((name for name in self.tools if name in offered), None)

    async def _answer(self, request: web.Request, rec: Received, script: Script) -> web.StreamResponse:
        if script.status != 200 or script.body is not None:
            return web.Response(status=script.status, body=script.body or b"", headers=script.headers,
                                content_type="application/json")
        try:
            body = rec.json() if rec.body else {}
        except ValueError:
            return web.json_response({"error": {"message": "body is not JSON", "type": "invalid_request_error"}},
                                     status=400)
        path = request.path
        if path.endswith("/count_tokens"):
            return web.json_response({"input_tokens": 42})
        if path.endswith("/models"):
            return web.json_response({"object": "list", "data": []})
        plan = self._plan(body, path)
        stream = bool(body.get("stream"))
        model = str(body.get("model", "unknown"))
        if path.endswith("/messages"):
            if stream:
                return await self._write(request, "text/event-stream", _anthropic_events(model, plan, self.chunk_size))
            return web.json_response(_anthropic_message(model, plan))
        if path.endswith("/responses"):
            if stream:
                return await self._write(request, "text/event-stream", _responses_events(model, plan, self.chunk_size))
            return web.json_response(_responses_object(model, plan))
        if stream:
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return await self._write(request, "text/event-stream", _chat_chunks(model, plan, self.chunk_size, usage))
        return web.json_response(_chat_completion(model, plan))

    def _plan(self, body: dict[str, Any], path: str) -> dict[str, Any]:
        """What to answer: {"tool": name, "args": {...}} or {"text": "..."}."""
        result = _tool_result(body, path)
        if result is not None:
            return {"text": FINAL_PREFIX + result}
        tool = self._tool_for(_tool_names(body))
        if tool is not None:
            return {"tool": tool, "args": self.tools[tool], "thinking": self.thinking}
        if self.structured is not None and _wants_json(body):
            return {"text": json.dumps(self.structured)}
        return {"text": PLAIN_TEXT}

    async def _write(self, request: web.Request, content_type: str, chunks: list[bytes]) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": content_type})
        await resp.prepare(request)
        for chunk in chunks:
            await resp.write(chunk)
        await resp.write_eof()
        return resp


def tool_results(rec: Received) -> list[tuple[str, str]]:
    """(call id, result text) of every tool result a request carries, in any of the three formats."""
    body = rec.json()
    out = []
    if rec.path.endswith("/responses"):
        for item in body.get("input") if isinstance(body.get("input"), list) else []:
            if item.get("type") == "function_call_output":
                out.append((item.get("call_id"), text_of(item.get("output"))))
        return out
    for msg in body.get("messages") or []:
        if msg.get("role") == "tool":
            out.append((msg.get("tool_call_id"), text_of(msg.get("content"))))
        elif isinstance(msg.get("content"), list):
            out += [(b.get("tool_use_id"), text_of(b.get("content"))) for b in msg["content"]
                    if isinstance(b, dict) and b.get("type") == "tool_result"]
    return out


def tool_calls(rec: Received) -> list[tuple[str, str, Any]]:
    """(call id, tool name, arguments) of every earlier tool call a request carries back, in any format."""
    body = rec.json()
    out = []
    if rec.path.endswith("/responses"):
        for item in body.get("input") if isinstance(body.get("input"), list) else []:
            if item.get("type") == "function_call":
                out.append((item.get("call_id"), item.get("name"), json.loads(item.get("arguments") or "{}")))
        return out
    for msg in body.get("messages") or []:
        for call in msg.get("tool_calls") or []:
            fn = call.get("function") or {}
            out.append((call.get("id"), fn.get("name"), json.loads(fn.get("arguments") or "{}")))
        if isinstance(msg.get("content"), list):
            out += [(b.get("id"), b.get("name"), b.get("input")) for b in msg["content"]
                    if isinstance(b, dict) and b.get("type") == "tool_use"]
    return out


def _tool_names(body: dict[str, Any]) -> list[str]:
    names = []
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        fn = tool.get("function")
        name = fn.get("name") if isinstance(fn, dict) else tool.get("name")
        if isinstance(name, str):
            names.append(name)
    return names


def _tool_result(body: dict[str, Any], path: str) -> str | None:
    """The last tool result in the conversation, or None on its first turn."""
    found: str | None = None
    if path.endswith("/responses"):
        items = body.get("input")
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and item.get("type") == "function_call_output":
                found = text_of(item.get("output"))
        return found
    for msg in body.get("messages") or []:
        if not isinstance(msg, dict):
            continue
        if msg.get("role") == "tool":
            found = text_of(msg.get("content"))
        elif isinstance(msg.get("content"), list):
            for block in msg["content"]:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    found = text_of(block.get("content"))
    return found


def _wants_json(body: dict[str, Any]) -> bool:
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object"):
        return True
    config = body.get("output_config")  # Anthropic structured outputs
    if isinstance(config, dict) and isinstance(config.get("format"), dict):
        return True
    text = body.get("text")
    return isinstance(text, dict) and isinstance(text.get("format"), dict) and \
        text["format"].get("type") in ("json_schema", "json_object")


def _pieces(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


# --- OpenAI chat ---------------------------------------------------------------------------------

def _chat_usage() -> dict[str, int]:
    return {"prompt_tokens": USAGE[0], "completion_tokens": USAGE[1], "total_tokens": sum(USAGE)}


def _chat_completion(model: str, plan: dict[str, Any]) -> dict[str, Any]:
    if "tool" in plan:
        message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_scripted1", "type": "function",
            "function": {"name": plan["tool"], "arguments": json.dumps(plan["args"])}}]}
        if plan.get("thinking"):
            message["reasoning_content"] = plan["thinking"]
        finish = "tool_calls"
    else:
        message, finish = {"role": "assistant", "content": plan["text"]}, "stop"
    return {"id": "chatcmpl-scripted", "object": "chat.completion", "created": 1700000000, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": _chat_usage()}


def _chat_chunks(model: str, plan: dict[str, Any], size: int, usage: bool) -> list[bytes]:
    head = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 1700000000, "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    out = [chunk({"role": "assistant", "content": ""})]
    if plan.get("thinking"):
        out += [chunk({"reasoning_content": part}) for part in _pieces(plan["thinking"], size)]
    if "tool" in plan:
        out.append(chunk({"tool_calls": [{"index": 0, "id": "call_scripted1", "type": "function",
                                          "function": {"name": plan["tool"], "arguments": ""}}]}))
        for part in _pieces(json.dumps(plan["args"]), size):
            out.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}))
        out.append(chunk({}, "tool_calls"))
    else:
        out += [chunk({"content": part}) for part in _pieces(plan["text"], size)]
        out.append(chunk({}, "stop"))
    if usage:
        out.append(sse({**head, "choices": [], "usage": _chat_usage()}))
    out.append(b"data: [DONE]\n\n")
    return out


# --- Anthropic Messages --------------------------------------------------------------------------

def _anthropic_message(model: str, plan: dict[str, Any]) -> dict[str, Any]:
    if "tool" in plan:
        content = [{"type": "text", "text": "Let me use a tool."},
                   {"type": "tool_use", "id": "toolu_scripted1", "name": plan["tool"], "input": plan["args"]}]
        if plan.get("thinking"):
            content.insert(0, {"type": "thinking", "thinking": plan["thinking"], "signature": SIGNATURE})
        stop = "tool_use"
    else:
        content, stop = [{"type": "text", "text": plan["text"]}], "end_turn"
    return {"id": "msg_scripted", "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": USAGE[0], "output_tokens": USAGE[1]}}


def _anthropic_events(model: str, plan: dict[str, Any], size: int) -> list[bytes]:
    out = [event("message_start", {"type": "message_start", "message": {
        "id": "msg_scripted", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": USAGE[0], "output_tokens": 1}}}),
        event("ping", {"type": "ping"})]
    index = 0
    if plan.get("thinking"):
        block = {"type": "thinking", "thinking": "", "signature": ""}
        out.append(event("content_block_start",
                         {"type": "content_block_start", "index": index, "content_block": block}))
        out += [event("content_block_delta", {"type": "content_block_delta", "index": index,
                                              "delta": {"type": "thinking_delta", "thinking": part}})
                for part in _pieces(plan["thinking"], size)]
        out.append(event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                 "delta": {"type": "signature_delta", "signature": SIGNATURE}}))
        out.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    text = "Let me use a tool." if "tool" in plan else plan["text"]
    out.append(event("content_block_start", {"type": "content_block_start", "index": index,
                                             "content_block": {"type": "text", "text": ""}}))
    out += [event("content_block_delta", {"type": "content_block_delta", "index": index,
                                          "delta": {"type": "text_delta", "text": part}})
            for part in _pieces(text, size)]
    out.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
    if "tool" in plan:
        index += 1
        out.append(event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
            "type": "tool_use", "id": "toolu_scripted1", "name": plan["tool"], "input": {}}}))
        out += [event("content_block_delta", {"type": "content_block_delta", "index": index,
                                              "delta": {"type": "input_json_delta", "partial_json": part}})
                for part in _pieces(json.dumps(plan["args"]), size)]
        out.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
    out += [event("message_delta", {"type": "message_delta",
                                    "delta": {"stop_reason": "tool_use" if "tool" in plan else "end_turn",
                                              "stop_sequence": None},
                                    # As the API sends it today: cumulative usage, input included.
                                    "usage": {"input_tokens": USAGE[0], "output_tokens": USAGE[1]}}),
            event("message_stop", {"type": "message_stop"})]
    return out


# --- OpenAI Responses ----------------------------------------------------------------------------

def _responses_item(plan: dict[str, Any]) -> dict[str, Any]:
    if "tool" in plan:
        return {"type": "function_call", "id": "fc_scripted1", "call_id": "call_scripted1", "name": plan["tool"],
                "arguments": json.dumps(plan["args"]), "status": "completed"}
    return {"type": "message", "id": "msg_scripted1", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": plan["text"], "annotations": []}]}


def _responses_object(model: str, plan: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    done = status == "completed"
    return {"id": "resp_scripted", "object": "response", "created_at": 1700000000, "status": status,
            "model": model, "output": [_responses_item(plan)] if done else [], "parallel_tool_calls": True,
            "tool_choice": "auto", "tools": [], "error": None, "incomplete_details": None,
            "usage": {"input_tokens": USAGE[0], "output_tokens": USAGE[1], "total_tokens": sum(USAGE),
                      "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens_details": {"reasoning_tokens": 0}} if done else None}


def _responses_events(model: str, plan: dict[str, Any], size: int) -> list[bytes]:
    seq = iter(range(10_000))

    def ev(name: str, data: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps({'type': name, 'sequence_number': next(seq), **data})}\n\n".encode()

    item = _responses_item(plan)
    out = [ev("response.created", {"response": _responses_object(model, plan, "in_progress")}),
           ev("response.in_progress", {"response": _responses_object(model, plan, "in_progress")})]
    if "tool" in plan:
        out.append(ev("response.output_item.added", {"output_index": 0, "item": {**item, "arguments": "",
                                                                                 "status": "in_progress"}}))
        out += [ev("response.function_call_arguments.delta", {"output_index": 0, "item_id": item["id"], "delta": p})
                for p in _pieces(item["arguments"], size)]
        out.append(ev("response.function_call_arguments.done", {"output_index": 0, "item_id": item["id"],
                                                                "arguments": item["arguments"]}))
    else:
        text = plan["text"]
        where = {"output_index": 0, "item_id": item["id"], "content_index": 0}
        out.append(ev("response.output_item.added", {"output_index": 0, "item": {**item, "content": [],
                                                                                 "status": "in_progress"}}))
        out.append(ev("response.content_part.added", {**where, "part": {"type": "output_text", "text": "",
                                                                        "annotations": []}}))
        out += [ev("response.output_text.delta", {**where, "delta": p}) for p in _pieces(text, size)]
        out.append(ev("response.output_text.done", {**where, "text": text}))
        out.append(ev("response.content_part.done", {**where, "part": item["content"][0]}))
    out.append(ev("response.output_item.done", {"output_index": 0, "item": item}))
    out.append(ev("response.completed", {"response": _responses_object(model, plan)}))
    return out
