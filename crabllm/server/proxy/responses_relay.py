"""Stream relays for /v1/responses: native Responses SSE passed through (usage read), or made from chat chunks."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from crabllm.errors import CrabError, UpstreamProtocolError
from crabllm.server.proxy.chat_chunks import FromChatRelay
from crabllm.translate.responses_stream import ChatStreamToResponses, encode_events
from crabllm.translate.sse import encode_event
from crabllm.types.responses import response_usage

MAX_PENDING = 1 << 20
_BOUNDARY = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_LINE = re.compile(rb"\r\n|\r|\n")
#: Events whose `response` is the final object (with usage).
TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_SNAPSHOT = frozenset({"response.created", "response.in_progress"})
_enc = msgspec.json.Encoder()


class _EventView(msgspec.Struct):
    type: str = ""
    sequence_number: int | None = None
    response: msgspec.Raw = msgspec.Raw(b"")  # (Raw | None is not a valid union)


class _IdView(msgspec.Struct):
    id: str = ""


class _SeqView(msgspec.Struct):
    sequence_number: int | None = None


_event_view = msgspec.json.Decoder(_EventView)
_seq_view = msgspec.json.Decoder(_SeqView)
#: Event-line prefixes of the events whose `response` object is read (the rest only give a number).
_STATEFUL = tuple(b"event: " + name.encode() for name in sorted(TERMINAL | _SNAPSHOT))
_id_view = msgspec.json.Decoder(_IdView)


def response_id_of(data: bytes) -> str:
    """The `id` of a Responses object; "" when absent or not JSON."""
    try:
        return _id_view.decode(data).id
    except msgspec.DecodeError:
        return ""


def failure_events(error: CrabError, sequence: int, snapshot: bytes | None) -> bytes:
    """`response.failed` carrying the last known response object, or an `error` event when none was seen.

    One terminal report, as the translated streams send: the SDKs end the stream on either.
    """
    if snapshot is not None:
        try:
            response = msgspec.json.decode(snapshot)
        except msgspec.DecodeError:
            response = None
        if isinstance(response, dict):
            response.update(status="failed", error={"code": "server_error", "message": error.message})
            return encode_event(_enc.encode({"type": "response.failed", "response": response,
                                             "sequence_number": sequence}), "response.failed")
    return encode_event(_enc.encode({"type": "error", "code": error.code or error.type, "message": error.message,
                                     "param": None, "sequence_number": sequence}), "error")


def event_data(event: bytes) -> bytes | None:
    """The data of one SSE event (its `data:` lines joined by newlines); None when it has none (a comment)."""
    if b"\r" not in event:
        if event.startswith(b"event:"):  # the usual event: its name, then one data line
            nl = event.find(b"\n")
            if nl > 0 and event.startswith(b"data: ", nl + 1) and event.find(b"\n", nl + 1) < 0:
                return event[nl + 7:]
        elif event.startswith(b"data: ") and b"\n" not in event:
            return event[6:]
    parts: list[bytes] | None = None
    for line in _LINE.split(event):
        if line.startswith(b"data:"):
            value = line[6:] if line[5:6] == b" " else line[5:]
        elif line == b"data":
            value = b""
        else:
            continue
        if parts is None:
            parts = [value]
        else:
            parts.append(value)
    return None if parts is None else parts[0] if len(parts) == 1 else b"\n".join(parts)


class ResponsesPassRelay:
    """Forwards native Responses SSE untouched, whole events at a time; reads usage and the final object.

    Only a small view of each event's JSON is decoded, straight from the bytes. An event whose data
    is not JSON ends the stream: the bytes before it are sent, then `fail` (relay_stream raises
    `error` once those bytes are out).
    """

    __slots__ = ("_pending", "_seq", "_snapshot", "usage", "last_write", "error", "response", "response_id",
                 "events")

    def __init__(self) -> None:
        self._pending = b""
        self._seq = -1
        self._snapshot: bytes | None = None
        self.usage: tuple[int, int] | None = None
        self.last_write = 0.0
        self.error: CrabError | None = None
        self.response: bytes | None = None  # the final Response object, as the upstream sent it
        self.response_id = ""
        self.events = 0  # upstream events seen (relay.prime: garbage before any of them is a 502)

    def feed(self, data: bytes) -> bytes:
        # Boundaries of every SSE line-end style, so the bytes go out exactly as they came.
        buf = self._pending + data if self._pending else data
        start = 0
        if b"\r" not in buf:  # the usual LF-only stream: plain finds, no regex
            find = buf.find
            stop = find(b"\n\n")
            while stop >= 0:
                if not self._watch(buf[start:stop]):
                    self._pending = b""
                    return buf[:start]
                start = stop + 2
                stop = find(b"\n\n", start)
        else:
            for match in _BOUNDARY.finditer(buf):
                if not self._watch(buf[start:match.start()]):
                    self._pending = b""
                    return buf[:start]
                start = match.end()
        self._pending = buf[start:]
        if len(self._pending) > MAX_PENDING:
            self.error = UpstreamProtocolError("upstream sent an SSE event larger than 1 MiB or no event boundary")
            self._pending = b""
        return buf[:start]

    def finish(self) -> bytes:
        """The dangling tail; `error` is set (relay_stream then sends `fail`) if the stream was not whole."""
        tail, self._pending = self._pending, b""
        if tail.strip() and not self._watch(tail):
            return b""
        if self.response is None:
            self.error = UpstreamProtocolError("the upstream stream ended before response.completed")
        return tail

    def fail(self, error: CrabError) -> bytes:
        return failure_events(error, self._seq + 1, self._snapshot)

    def _watch(self, event: bytes) -> bool:
        """Read what accounting and storage need; False (and `error` set) on a non-JSON event."""
        if event.startswith(b"event: response.") and not event.startswith(_STATEFUL):
            nl = event.find(b"\n")
            if event.startswith(b"data: ", nl + 1) and event.find(b"\n", nl + 1) < 0 and b"\r" not in event:
                # The usual event: a delta or done event named on its first line, one data line after
                # it; only its sequence number matters here.
                try:
                    seq = _seq_view.decode(event[nl + 7:]).sequence_number
                except msgspec.DecodeError:
                    self.error = UpstreamProtocolError(f"upstream sent a non-JSON SSE event: {event[nl + 7:][:200]!r}")
                    return False
                self.events += 1
                if seq is not None:
                    self._seq = seq
                return True
        data = event_data(event)
        if data is None or data == b"[DONE]":
            return True
        try:
            view = _event_view.decode(data)
        except msgspec.DecodeError:
            self.error = UpstreamProtocolError(f"upstream sent a non-JSON SSE event: {data[:200]!r}")
            return False
        self.events += 1
        if view.sequence_number is not None:
            self._seq = view.sequence_number
        if not view.response or bytes(view.response) == b"null":
            return True
        if view.type in TERMINAL:
            self.response = bytes(view.response)
            self.usage = response_usage(self.response) or self.usage
            self.response_id = response_id_of(self.response) or self.response_id
        elif view.type in _SNAPSHOT:
            self._snapshot = bytes(view.response)
            self.response_id = self.response_id or response_id_of(self._snapshot)
        return True


class ResponsesFromChatRelay(FromChatRelay):
    """Chat-completion chunk SSE (any split) → the Responses event sequence, usage read from the chunks."""

    __slots__ = ("_tr", "_started")

    def __init__(self, req: dict[str, Any], *, response_id: str, created_at: int, model: str) -> None:
        super().__init__()
        self._tr = ChatStreamToResponses(req, response_id=response_id, created_at=created_at, model=model)
        self._started = False

    @property
    def response(self) -> dict[str, Any] | None:
        """The final Response object once the stream completed."""
        return self._tr.response

    def feed(self, data: bytes) -> bytes:
        return self._start() + self._convert(self._sse.feed(data))

    def finish(self) -> bytes:
        """Close the response; with `error` set, relay_stream sends `fail` after these bytes."""
        out = self._start() + self._convert(self._sse.flush())
        if self.error is not None:
            return out
        return out + self._encode(self._tr.finish())

    def fail(self, error: CrabError) -> bytes:
        self._estimate_usage()
        return self._start() + self._encode(self._tr.fail(error.message, error.code or error.type))

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return self._encode(self._tr.start())

    def _translate(self, chunk: dict[str, Any]) -> list[Any]:
        return self._tr.feed(chunk)

    def _encode(self, events: list[Any]) -> bytes:
        return encode_events(events) if events else b""
