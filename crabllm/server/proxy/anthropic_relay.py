"""Stream relays for /v1/messages: Anthropic SSE passed through (usage read), or made from OpenAI chunks."""

from __future__ import annotations

from typing import Any

import msgspec

from crabllm.errors import ANTHROPIC_TYPES, CrabError, UpstreamProtocolError
from crabllm.server.proxy.chat_chunks import FromChatRelay
from crabllm.server.proxy.stream import closed, split_events
from crabllm.translate.anthropic_in import OpenAIStreamToAnthropic
from crabllm.translate.common import as_int
from crabllm.translate.sse import encode_event

_enc = msgspec.json.Encoder()
PING = encode_event(b'{"type":"ping"}', "ping")


def anthropic_error_event(error: CrabError) -> bytes:
    data = {"type": "error", "error": {"type": ANTHROPIC_TYPES.get(error.status, "api_error"), "message": error.message}}
    return encode_event(_enc.encode(data), "error")


def anthropic_usage_tokens(usage: dict[str, Any]) -> tuple[int, int]:
    """(prompt, completion) in the gateway's accounting: prompt includes cache reads and writes."""
    prompt = (as_int(usage.get("input_tokens")) + as_int(usage.get("cache_read_input_tokens"))
              + as_int(usage.get("cache_creation_input_tokens")))
    return prompt, as_int(usage.get("output_tokens"))


class AnthropicPassRelay:
    """Forwards Anthropic SSE bytes untouched, whole events at a time, checking each and reading usage.

    Holding back a partial event means an error event added after a broken stream is never glued
    to half an upstream event. A `data:` payload that is not a JSON object ends the stream with one
    `event: error` in its place; so does an end without `message_stop` (the answer was cut short).
    """

    __slots__ = ("_usage", "_pending", "_stopped", "usage", "last_write", "error")

    def __init__(self) -> None:
        self._usage: dict[str, Any] = {}
        self._pending = b""
        self._stopped = False  # message_stop or an upstream `error` event was relayed
        self.usage: tuple[int, int] | None = None
        self.last_write = 0.0
        self.error: CrabError | None = None

    def feed(self, data: bytes) -> bytes:
        if self.error is not None:
            return b""
        ready, self._pending = split_events(self._pending + data if self._pending else data)
        return self._check(ready) if ready else b""

    def finish(self) -> bytes:
        tail = b""
        if self._pending.strip() and self.error is None:
            last, self._pending = closed(self._pending), b""
            tail = self.feed(last)
        self._pending = b""
        if self.error is None and not self._stopped:
            self.error = UpstreamProtocolError("the Anthropic stream ended before message_stop")
        return tail

    def fail(self, error: CrabError) -> bytes:
        return anthropic_error_event(error)

    def _check(self, ready: bytes) -> bytes:
        start, end = 0, len(ready)
        while start < end:
            stop = ready.find(b"\n\n", start)
            if stop < 0:
                stop = end  # a blank line after the last event ("\n\n\n"): it dispatches nothing
            name, payload = _fields(ready[start:stop])
            if payload.strip() and not self._stopped:
                try:
                    data = msgspec.json.decode(payload) if name in _USAGE_EVENTS or not name else _frame.decode(payload)
                except (msgspec.DecodeError, RecursionError):
                    data = None
                if data is None:
                    self.error = UpstreamProtocolError("upstream sent a malformed SSE event (not a JSON object): "
                                                       + repr(payload.strip()[:120].decode("utf-8", "replace")))
                    return ready[:start]
                if not name and isinstance(data, dict):
                    name = str(data.get("type", ""))  # no `event:` line: the payload names itself
                elif not name:
                    data = None
                if data is None:
                    self.error = UpstreamProtocolError("upstream sent an SSE event that is not a JSON object")
                    return ready[:start]
                if name in _USAGE_EVENTS and isinstance(data, dict):
                    self._read_usage(name, data)
                elif name in ("message_stop", "error"):
                    self._stopped = True
            start = stop + 2
        return ready

    def _read_usage(self, name: str, data: dict[str, Any]) -> None:
        message = data.get("message") if name == "message_start" else None
        usage = message.get("usage") if isinstance(message, dict) else data.get("usage")
        if isinstance(usage, dict):
            # Counters are cumulative; a later value replaces an earlier one.
            self._usage.update({k: v for k, v in usage.items() if v is not None})
            self.usage = anthropic_usage_tokens(self._usage)


class _Frame(msgspec.Struct):
    """Decodes nothing: proves a payload is one JSON object."""


_frame = msgspec.json.Decoder(_Frame)
_USAGE_EVENTS = frozenset({"message_start", "message_delta"})


def _fields(event: bytes) -> tuple[str, bytes]:
    """(event name, data) of one SSE event block."""
    name = ""
    data: list[bytes] = []
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            data.append(line[5:])
        elif line.startswith(b"event:"):
            name = line[6:].strip().decode("latin-1")
    return name, b"\n".join(data)


class AnthropicFromOpenAIRelay(FromChatRelay):
    """OpenAI chunk SSE bytes (any split) → the Anthropic event sequence, with a `ping` after message_start."""

    __slots__ = ("_tr",)

    def __init__(self, model: str) -> None:
        super().__init__()
        self._tr = OpenAIStreamToAnthropic(model)

    def feed(self, data: bytes) -> bytes:
        return self._convert(self._sse.feed(data))

    def finish(self) -> bytes:
        out = self._convert(self._sse.flush())
        if self.error is not None:
            return out  # relay_stream raises `error`, and `fail` closes the stream
        return out + self._encode(self._tr.finish())

    def fail(self, error: CrabError) -> bytes:
        self._estimate_usage()
        return self._encode(self._tr.error_events(error.message, ANTHROPIC_TYPES.get(error.status, "api_error")))

    def _translate(self, chunk: dict[str, Any]) -> list[Any]:
        return self._tr.feed(chunk)

    def _encode(self, events: list[Any]) -> bytes:
        parts = []
        for name, data in events:
            parts.append(encode_event(_enc.encode(data), name))
            if name == "message_start":
                parts.append(PING)
        return b"".join(parts)
