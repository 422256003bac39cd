"""OpenAI chat.completion.chunk stream → Anthropic Messages SSE events, for /v1/messages clients."""

from __future__ import annotations

from typing import Any

from crabllm.translate.anthropic_usage import map_openai_finish, openai_usage_to_anthropic
from crabllm.translate.common import new_id

Event = tuple[str, dict[str, Any]]


class OpenAIStreamToAnthropic:
    """Feed OpenAI chunks; get (event name, data) pairs in Anthropic's streaming order.

    `message_start` always comes first (even for an empty upstream stream), blocks are
    numbered 0, 1, … and closed before the next opens, and `finish()` ends with
    `message_delta` (stop_reason and full usage) and `message_stop`.
    """

    def __init__(self, model: str, *, message_id: str | None = None) -> None:
        self._model = model
        self._id = message_id
        self._started = False
        self._done = False
        self._open: tuple[str, Any] | None = None  # (block kind, OpenAI tool index)
        self._next_index = 0
        self._finish_reason: str | None = None
        self._usage: Any = None

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        """Events for one upstream chunk."""
        if self._done:
            return []
        events: list[Event] = []
        self._start(events, chunk.get("id"))
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._delta(events, choice.get("delta") or {})
                if choice.get("finish_reason"):
                    self._finish_reason = choice["finish_reason"]
        return events

    def finish(self) -> list[Event]:
        """Closing events after the upstream ended normally."""
        if self._done:
            return []
        events: list[Event] = []
        self._start(events, None)
        self._close(events)
        stop = map_openai_finish(self._finish_reason) or "end_turn"
        events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                         "usage": openai_usage_to_anthropic(self._usage)}))
        events.append(("message_stop", {"type": "message_stop"}))
        self._done = True
        return events

    def error_events(self, message: str, error_type: str = "api_error") -> list[Event]:
        """Events for a mid-stream failure: one `error` event and nothing after it, as Anthropic ends a
        broken stream (a message_stop would tell the client the answer was whole)."""
        self._done = True
        return [("error", {"type": "error", "error": {"type": error_type, "message": message}})]

    def _start(self, events: list[Event], chunk_id: Any) -> None:
        if self._started:
            return
        self._started = True
        if self._id is None:
            self._id = chunk_id if isinstance(chunk_id, str) and chunk_id else new_id("msg_")
        message = {"id": self._id, "type": "message", "role": "assistant", "model": self._model, "content": [],
                   "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": 0, "output_tokens": 0}}
        events.append(("message_start", {"type": "message_start", "message": message}))

    def _delta(self, events: list[Event], delta: dict[str, Any]) -> None:
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            self._ensure(events, "thinking", None, {"type": "thinking", "thinking": "", "signature": ""})
            self._emit(events, {"type": "thinking_delta", "thinking": reasoning})
        signature = delta.get("reasoning_signature")
        if isinstance(signature, str) and signature:
            self._ensure(events, "thinking", None, {"type": "thinking", "thinking": "", "signature": ""})
            self._emit(events, {"type": "signature_delta", "signature": signature})
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._ensure(events, "text", None, {"type": "text", "text": ""})
            self._emit(events, {"type": "text_delta", "text": content})
        for call in delta.get("tool_calls") or []:
            self._tool_delta(events, call)

    def _tool_delta(self, events: list[Event], call: dict[str, Any]) -> None:
        index = call.get("index", 0)
        fn = call.get("function") or {}
        if self._open != ("tool_use", index):
            block = {"type": "tool_use", "id": call.get("id") or new_id("toolu_"), "name": fn.get("name") or "", "input": {}}
            self._ensure(events, "tool_use", index, block, force=True)
        arguments = fn.get("arguments")
        if isinstance(arguments, str) and arguments:
            self._emit(events, {"type": "input_json_delta", "partial_json": arguments})

    def _ensure(self, events: list[Event], kind: str, key: Any, block: dict[str, Any], force: bool = False) -> None:
        if self._open == (kind, key) and not force:
            return
        self._close(events)
        self._open = (kind, key)
        events.append(("content_block_start", {"type": "content_block_start", "index": self._next_index, "content_block": block}))

    def _emit(self, events: list[Event], delta: dict[str, Any]) -> None:
        events.append(("content_block_delta", {"type": "content_block_delta", "index": self._next_index, "delta": delta}))

    def _close(self, events: list[Event]) -> None:
        if self._open is None:
            return
        events.append(("content_block_stop", {"type": "content_block_stop", "index": self._next_index}))
        self._open = None
        self._next_index += 1
