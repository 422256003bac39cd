"""OpenAI chat.completion.chunk stream → OpenAI Responses streaming events, with sequence numbers."""

from __future__ import annotations

from typing import Any

import msgspec

from crabllm.translate.responses_common import function_call_item_id, message_item_id, namespaces_of, reasoning_item_id
from crabllm.translate.responses_out import (
    chat_logprobs, finish_status, function_call_item, name_call, output_text_part, reasoning_item, response_object,
    responses_usage,
)
from crabllm.translate.sse import encode_event

__all__ = ["ChatStreamToResponses", "encode_events"]

# `ResponseError.code` is a closed set in the SDK; anything else is reported as a server error.
_ERROR_CODES = frozenset({"server_error", "rate_limit_exceeded", "invalid_prompt"})
_encoder = msgspec.json.Encoder()


def encode_events(events: list[dict[str, Any]]) -> bytes:
    """The SSE bytes for events: `event: <type>` then one `data:` line of JSON, per event."""
    return b"".join(encode_event(_encoder.encode(e), e["type"]) for e in events)


class _Item:
    """One output item being streamed: its final dict plus what is still open inside it."""

    __slots__ = ("index", "data", "open", "text", "part_kind", "logprobs")

    def __init__(self, index: int, data: dict[str, Any]) -> None:
        self.index = index
        self.data = data
        self.open = True
        self.text = ""  # reasoning summary, function arguments or the open content part's text
        self.part_kind: str | None = None  # the open message content part: output_text | refusal
        self.logprobs: list[dict[str, Any]] = []


class ChatStreamToResponses:
    """Feed OpenAI chat chunks; get Responses events in the order the SDK's stream accumulator expects.

    `start()` gives response.created and response.in_progress; `feed()` opens a reasoning,
    message or function_call item as the deltas need one (output_index 0, 1, … in order of
    first appearance; parallel tool calls may interleave by their chat index); `finish()`
    closes every open part and item in output order and ends with response.completed (or
    response.incomplete); `fail()` ends with response.failed. Every event carries a
    `sequence_number` counting from 0 over the whole stream.
    """

    def __init__(self, req: dict[str, Any], *, response_id: str, created_at: int, model: str) -> None:
        self._req = req
        self._namespaces = namespaces_of(req)
        self._id = response_id
        self._created_at = created_at
        self._model = model
        self._seq = 0
        self._started = False
        self._done = False
        self._items: list[_Item] = []
        self._reasoning: _Item | None = None  # the open reasoning item, if any
        self._message: _Item | None = None  # the open message item, if any
        self._calls: dict[Any, _Item] = {}  # chat tool-call index → its function_call item
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None
        self._final: dict[str, Any] | None = None

    @property
    def response(self) -> dict[str, Any] | None:
        """The final Responses object (after finish() or fail()), for storage; None before."""
        return self._final

    @property
    def usage(self) -> tuple[int, int] | None:
        """(input, output) tokens from the upstream's usage chunk, or None when it sent none."""
        if self._usage is None:
            return None
        return self._usage["input_tokens"], self._usage["output_tokens"]

    def start(self) -> list[dict[str, Any]]:
        """response.created then response.in_progress (nothing when already started)."""
        if self._started:
            return []
        self._started = True
        events: list[dict[str, Any]] = []
        for kind in ("response.created", "response.in_progress"):
            self._emit(events, kind, response=self._snapshot("in_progress"))
        return events

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        """The events one upstream chunk stands for (a usage-only chunk is remembered, no event)."""
        if self._done or not isinstance(chunk, dict):
            return []
        events = self.start()
        if isinstance(chunk.get("usage"), dict):
            self._usage = responses_usage(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                delta = choice.get("delta")
                if isinstance(delta, dict):
                    self._delta(events, delta, choice.get("logprobs"))
                if isinstance(choice.get("finish_reason"), str):
                    self._finish_reason = choice["finish_reason"]
        return events

    def finish(self) -> list[dict[str, Any]]:
        """Close everything still open, then response.completed / response.incomplete with the full object."""
        if self._done:
            return []
        events = self.start()
        status, incomplete = finish_status(self._finish_reason)
        item_status = "incomplete" if incomplete else "completed"
        for item in self._items:
            if item.open:
                self._close(events, item, item_status)
        final = self._snapshot(status)
        final["incomplete_details"] = incomplete
        final["output"] = [item.data for item in self._items]
        final["usage"] = self._usage
        self._final = final
        self._done = True
        self._emit(events, "response.completed" if status == "completed" else "response.incomplete", response=final)
        return events

    def fail(self, message: str, code: str | None = None) -> list[dict[str, Any]]:
        """response.failed for a stream the upstream broke: its `error` has `code` and `message`.

        Only this one terminal event is sent, not an extra `error` event: the SDKs end the stream
        on response.failed and read the error from it, and a second report would surface the
        same failure twice. Items still open are reported with status "incomplete".
        """
        if self._done:
            return []
        events = self.start()
        for item in self._items:
            if item.open:
                self._finalize(item, "incomplete")
        final = self._snapshot("failed")
        final["error"] = {"code": code if code in _ERROR_CODES else "server_error", "message": message}
        final["output"] = [item.data for item in self._items]
        final["usage"] = self._usage
        self._final = final
        self._done = True
        self._emit(events, "response.failed", response=final)
        return events

    # -- deltas -----------------------------------------------------------------------------

    def _delta(self, events: list[dict[str, Any]], delta: dict[str, Any], logprobs: Any) -> None:
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            self._reasoning_delta(events, reasoning)
        signature = delta.get("reasoning_signature")
        if isinstance(signature, str) and signature:
            self._signature(events, signature)
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._part_delta(events, "output_text", content, chat_logprobs(logprobs))
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._part_delta(events, "refusal", refusal, [])
        for call in delta.get("tool_calls") or []:
            if isinstance(call, dict):
                self._tool_delta(events, call)

    def _reasoning_delta(self, events: list[dict[str, Any]], text: str) -> None:
        item = self._reasoning
        if item is None or not item.open:
            self._close_message(events)
            item = self._reasoning = self._add(events, {"id": reasoning_item_id(), "type": "reasoning", "summary": []})
        if item.part_kind is None:
            item.part_kind = "summary_text"
            self._emit(events, "response.reasoning_summary_part.added", item_id=item.data["id"],
                       output_index=item.index, summary_index=0, part={"type": "summary_text", "text": ""})
        item.text += text
        self._emit(events, "response.reasoning_summary_text.delta", item_id=item.data["id"], output_index=item.index,
                   summary_index=0, delta=text)

    def _signature(self, events: list[dict[str, Any]], signature: str) -> None:
        item = self._reasoning
        if item is None:
            # A signature with no visible reasoning (redacted thinking) still needs its item to replay.
            self._close_message(events)
            item = self._reasoning = self._add(events, {"id": reasoning_item_id(), "type": "reasoning", "summary": []})
        item.data["_signature"] = item.data.get("_signature", "") + signature

    def _part_delta(self, events: list[dict[str, Any]], kind: str, text: str, logprobs: list[dict[str, Any]]) -> None:
        self._close_reasoning(events)
        item = self._message
        if item is None or not item.open:
            item = self._message = self._add(events, {"id": message_item_id(), "type": "message", "role": "assistant",
                                                      "status": "in_progress", "content": []})
        if item.part_kind != kind:
            self._close_part(events, item)
            item.part_kind, item.text, item.logprobs = kind, "", []
            part = output_text_part("") if kind == "output_text" else {"type": "refusal", "refusal": ""}
            self._emit(events, "response.content_part.added", item_id=item.data["id"], output_index=item.index,
                       content_index=len(item.data["content"]), part=part)
        item.text += text
        fields = {"item_id": item.data["id"], "output_index": item.index, "content_index": len(item.data["content"]),
                  "delta": text}
        if kind == "output_text":
            item.logprobs += logprobs
            self._emit(events, "response.output_text.delta", **fields, logprobs=logprobs)
        else:
            self._emit(events, "response.refusal.delta", **fields)

    def _tool_delta(self, events: list[dict[str, Any]], call: dict[str, Any]) -> None:
        key = call["index"] if isinstance(call.get("index"), int) else 0
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        item = self._calls.get(key)
        call_id = call.get("id")
        if item is not None and isinstance(call_id, str) and call_id and call_id != item.data["call_id"]:
            item = None  # a service that numbers every complete call 0: a new id is a new call
        if item is None:
            self._close_reasoning(events)
            self._close_message(events)
            data = function_call_item(call_id, fn.get("name"), "", "in_progress", item_id=function_call_item_id(),
                                      namespaces=self._namespaces)
            item = self._calls[key] = self._add(events, data)
        elif isinstance(fn.get("name"), str) and fn["name"] and not item.data["name"]:
            name_call(item.data, fn["name"], self._namespaces)  # a provider that names the call after its first delta
        arguments = fn.get("arguments")
        if isinstance(arguments, str) and arguments:
            item.text += arguments
            self._emit(events, "response.function_call_arguments.delta", item_id=item.data["id"],
                       output_index=item.index, delta=arguments)

    # -- items ------------------------------------------------------------------------------

    def _add(self, events: list[dict[str, Any]], data: dict[str, Any]) -> _Item:
        item = _Item(len(self._items), data)
        self._items.append(item)
        self._emit(events, "response.output_item.added", output_index=item.index, item=_public(data))
        return item

    def _close_reasoning(self, events: list[dict[str, Any]]) -> None:
        if self._reasoning is not None and self._reasoning.open:
            self._close(events, self._reasoning, "completed")
        self._reasoning = None

    def _close_message(self, events: list[dict[str, Any]]) -> None:
        if self._message is not None and self._message.open:
            self._close(events, self._message, "completed")
        self._message = None

    def _close_part(self, events: list[dict[str, Any]], item: _Item) -> None:
        """End the message's open content part: its .done events, and the part joins the item."""
        if item.part_kind is None:
            return
        ids = {"item_id": item.data["id"], "output_index": item.index, "content_index": len(item.data["content"])}
        if item.part_kind == "output_text":
            part = output_text_part(item.text, item.logprobs)
            self._emit(events, "response.output_text.done", **ids, text=item.text, logprobs=item.logprobs)
        else:
            part = {"type": "refusal", "refusal": item.text}
            self._emit(events, "response.refusal.done", **ids, refusal=item.text)
        self._emit(events, "response.content_part.done", **ids, part=part)
        item.data["content"].append(part)
        item.part_kind, item.text, item.logprobs = None, "", []

    def _close(self, events: list[dict[str, Any]], item: _Item, status: str) -> None:
        kind = item.data["type"]
        ids = {"item_id": item.data["id"], "output_index": item.index}
        if kind == "message":
            self._close_part(events, item)
        elif kind == "function_call":
            self._emit(events, "response.function_call_arguments.done", **ids, arguments=item.text)
        elif item.part_kind is not None:
            part = {"type": "summary_text", "text": item.text}
            self._emit(events, "response.reasoning_summary_text.done", **ids, summary_index=0, text=item.text)
            self._emit(events, "response.reasoning_summary_part.done", **ids, summary_index=0, part=part)
        self._finalize(item, status)
        self._emit(events, "response.output_item.done", output_index=item.index, item=_public(item.data))

    def _finalize(self, item: _Item, status: str) -> None:
        """Give the item its final fields (text so far, status); it stays in the output as it is."""
        item.open = False
        data = item.data
        kind = data["type"]
        if kind == "message":
            if item.part_kind is not None:  # only on fail(): keep the partial text
                data["content"].append(output_text_part(item.text, item.logprobs) if item.part_kind == "output_text"
                                       else {"type": "refusal", "refusal": item.text})
                item.part_kind = None
            data["status"] = status
        elif kind == "function_call":
            data["arguments"] = item.text
            data["status"] = status
        else:
            full = reasoning_item(item.text, data.pop("_signature", None), item_id=data["id"])
            item.data = full if full is not None else {"id": data["id"], "type": "reasoning", "summary": []}

    def _snapshot(self, status: str) -> dict[str, Any]:
        return response_object(self._req, response_id=self._id, created_at=self._created_at, model=self._model,
                               status=status)

    def _emit(self, events: list[dict[str, Any]], kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": self._seq, **fields})
        self._seq += 1


def _public(data: dict[str, Any]) -> dict[str, Any]:
    """The item as sent (a copy without private keys): later deltas must not change an event already emitted."""
    out = {k: v for k, v in data.items() if not k.startswith("_")}
    if isinstance(out.get("content"), list):
        out["content"] = list(out["content"])
    if isinstance(out.get("summary"), list):
        out["summary"] = list(out["summary"])
    return out
