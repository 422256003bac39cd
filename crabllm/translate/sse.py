"""Incremental Server-Sent Events decoder (WHATWG event-stream rules) and encoder."""

from __future__ import annotations

import codecs
import re
from typing import Any

import msgspec

from crabllm.errors import UpstreamProtocolError

_LINE_END = re.compile(r"\r\n|\r|\n")
_BYTES_LINE_END = re.compile(rb"\r\n|\r|\n")


class SSEEvent(msgspec.Struct, kw_only=True):
    """One dispatched event: `event` is None when the stream gave no `event:` field."""

    event: str | None = None
    data: str
    id: str | None = None


class SSEDecoder:
    """Feed raw bytes in any split; get back every complete event, in order."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._line = ""
        self._skip_lf = False
        self._started = False
        self._data: list[str] = []
        self._event: str | None = None
        self._last_id: str | None = None

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Decode `data` and return the events completed by it."""
        return self._text(self._utf8.decode(data))

    def flush(self) -> list[SSEEvent]:
        """End of stream: complete a last unterminated line and dispatch its pending event.

        The spec discards an event missing its final blank line; we dispatch it instead,
        because several upstreams end the body right after the last `data:` line.
        """
        events = self._text(self._utf8.decode(b"", final=True))
        if self._line:
            self._field(self._line)
            self._line = ""
        self._dispatch(events)
        return events

    def _text(self, text: str) -> list[SSEEvent]:
        if not text:
            return []
        if not self._started:
            self._started = True
            if text.startswith("\ufeff"):
                text = text[1:]
        if self._skip_lf:
            self._skip_lf = False
            if text.startswith("\n"):
                text = text[1:]
        buf = self._line + text if self._line else text
        events: list[SSEEvent] = []
        start = 0
        for match in _LINE_END.finditer(buf):
            line = buf[start:match.start()]
            start = match.end()
            if line:
                self._field(line)
            else:
                self._dispatch(events)
        # A CR at the very end may be the first half of a CRLF split across reads.
        if start and buf[start - 1] == "\r" and start == len(buf):
            self._skip_lf = True
        self._line = buf[start:]
        return events

    def _field(self, line: str) -> None:
        if line.startswith(":"):
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        # `retry` and unknown fields are ignored, as the spec says.

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data:
            events.append(SSEEvent(data="\n".join(self._data), event=self._event or None, id=self._last_id))
        self._data = []
        self._event = None


def encode_event(data: bytes, event: str | None = None) -> bytes:
    """One SSE event: optional `event:` line, one `data:` line per line of `data`, blank line."""
    head = b"event: " + event.encode() + b"\n" if event else b""
    lines = _BYTES_LINE_END.split(data)
    return head + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"


def event_json(event: SSEEvent) -> Any:
    """The event's data parsed as JSON; UpstreamProtocolError when it is not JSON."""
    try:
        return msgspec.json.decode(event.data)
    except msgspec.DecodeError:
        raise UpstreamProtocolError(f"upstream sent a non-JSON SSE event: {event.data[:200]!r}") from None
