"""SSE relay: forwards complete events as they arrive, checks each is JSON, reads usage, strips what the client did not ask for."""

from __future__ import annotations

import msgspec

from crabllm.errors import CrabError, UpstreamProtocolError
from crabllm.types.openai import Usage, chunk_view

MAX_PENDING = 1 << 20
DONE = b"data: [DONE]\n\n"


class _Frame(msgspec.Struct):
    """Decodes nothing: decoding into it only proves the data is one JSON object (~0.2 µs an event)."""


_frame = msgspec.json.Decoder(_Frame)


class SSERelay:
    """Feed upstream bytes, get the bytes to forward; `usage` holds the last usage seen.

    Every `data:` payload must be a JSON object (or the `[DONE]` terminator): a frame that is not
    ends the stream with one in-band error event in its place, so a client's SDK never has to
    parse garbage, and the access log and audit record an upstream error.
    """

    __slots__ = ("strip_usage", "pending", "usage", "done", "last_write", "error", "events")

    def __init__(self, strip_usage: bool) -> None:
        self.strip_usage = strip_usage
        self.pending = b""
        self.usage: tuple[int, int] | None = None  # (prompt, completion) from the last usage seen
        self.done = False
        self.last_write = 0.0
        self.error: CrabError | None = None  # a malformed frame; raised once the events before it are sent
        self.events = 0  # data events relayed, for the usage of a stream that breaks before its usage chunk

    def feed(self, data: bytes) -> bytes:
        if self.error is not None:
            return b""
        ready, self.pending = split_events(self.pending + data if self.pending else data)
        return self._check(ready) if ready else b""

    def finish(self) -> bytes:
        """Bytes to send after the upstream ended: a dangling event, then [DONE] if missing.

        A stream that ended without a single event is an error, not an empty answer."""
        tail = b""
        if self.pending.strip() and self.error is None:
            last, self.pending = closed(self.pending), b""
            tail = self.feed(last)
        self.pending = b""
        if self.error is not None:
            return tail
        if not self.events and not self.done:
            self.error = UpstreamProtocolError("the upstream stream ended without a single event")
            return tail
        return tail if self.done else tail + DONE

    def fail(self, error: CrabError) -> bytes:
        """One error event in the OpenAI shape; no [DONE] after it, so no client mistakes it for an end."""
        if self.usage is None and self.events:
            self.usage = (0, self.events)  # an estimate: upstreams send about one token per chunk
        return error_event(error.message, error.type, error.code)

    def _check(self, ready: bytes) -> bytes:
        """The complete events in `ready`, each checked; cut before the first malformed one."""
        if self.done:
            return ready  # after the terminator nothing is parsed: the bytes go through as they came
        if ready.startswith(b"data: {") and ready.find(b"\n") == len(ready) - 2 and b'"usage"' not in ready:
            try:  # the usual read: exactly one one-line chunk
                _frame.decode(ready[6:-2])
            except (msgspec.DecodeError, RecursionError):
                pass  # the general path below reports it
            else:
                self.events += 1
                return ready
        kept: list[bytes] | None = None  # set once an event is dropped (a stripped usage chunk)
        find = ready.find
        start, end = 0, len(ready)
        while start < end:
            stop = find(b"\n\n", start)
            if stop < 0:
                stop = end  # a blank line after the last event ("\n\n\n"): it dispatches nothing
            if ready.startswith(b"data:", start) and find(b"\n", start, stop) < 0:
                payload = ready[start + 5:stop]  # the usual event: one data line
            else:
                lines = [line[5:] for line in ready[start:stop].split(b"\n") if line.startswith(b"data:")]
                payload = b"\n".join(lines) if lines else b""
            keep = True
            head = payload[:2]
            if head == b" {" or head[:1] == b"{" or (payload.strip() and payload.strip() != b"[DONE]"):
                try:
                    if b'"usage"' in payload:
                        keep = self._usage(payload)
                    else:
                        _frame.decode(payload)
                except (msgspec.DecodeError, RecursionError):
                    self.error = UpstreamProtocolError(
                        f"upstream sent a malformed SSE event (not a JSON object): {_snippet(payload)}")
                    return ready[:start] if kept is None else b"".join(kept)
                self.events += 1
            elif payload:
                if payload.strip() == b"[DONE]":
                    self.done = True  # the terminator event, not "[DONE]" inside some text
                    if kept is None:
                        return ready
                    kept.append(ready[start:])
                    return b"".join(kept)
            # else: comments, `event:`/`id:`-only blocks and empty data dispatch nothing (WHATWG)
            after = stop + 2
            if not keep:
                if kept is None:
                    kept = [ready[:start]]
            elif kept is not None:
                kept.append(ready[start:after])
            start = after
        return ready if kept is None else b"".join(kept)

    def _usage(self, payload: bytes) -> bool:
        """Read a chunk that may carry usage; False when it is the usage chunk the client did not ask for."""
        try:
            chunk = chunk_view.decode(payload)
        except msgspec.ValidationError:
            _frame.decode(payload)  # JSON with a usage of another shape: relayed, not counted
            return True
        usage: Usage | None = chunk.usage
        if usage is None:
            return True
        self.usage = (usage.prompt_tokens or 0, usage.completion_tokens or 0)
        return not (self.strip_usage and not chunk.choices)


def split_events(data: bytes) -> tuple[bytes, bytes]:
    """(the complete events, what is still pending) of SSE bytes, line ends normalised to LF.

    A CR that ends `data` stays pending as it came: it may be the first half of a CRLF split across
    two reads, and turning it into LF now would add a line end. A pending part larger than 1 MiB is
    no SSE we can frame: an UpstreamProtocolError."""
    held = b""
    if b"\r" in data:
        if data.endswith(b"\r"):
            data, held = data[:-1], b"\r"
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    cut = data.rfind(b"\n\n")
    if cut < 0:
        if len(data) > MAX_PENDING:
            raise UpstreamProtocolError("upstream sent an SSE event larger than 1 MiB or no event boundary")
        return b"", data + held
    return data[: cut + 2], data[cut + 2:] + held


def closed(pending: bytes) -> bytes:
    """A stream's dangling last event with the line ends that complete it (LF only, CR held back included)."""
    if b"\r" in pending:
        pending = pending.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if pending.endswith(b"\n\n"):
        return pending
    return pending + (b"\n" if pending.endswith(b"\n") else b"\n\n")


def _snippet(payload: bytes) -> str:
    return repr(payload.strip()[:120].decode("utf-8", "replace"))


def error_event(message: str, type_: str = "server_error", code: str | None = None) -> bytes:
    body = msgspec.json.encode({"error": {"message": message, "type": type_, "param": None, "code": code}})
    return b"data: " + body + b"\n\n"
