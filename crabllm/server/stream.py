"""SSE relay: forwards complete events as they arrive, reads usage, strips what the client did not ask for."""

from __future__ import annotations

import msgspec

from crabllm.errors import CrabError, UpstreamProtocolError
from crabllm.types.openai import Usage, chunk_view

MAX_PENDING = 1 << 20
DONE = b"data: [DONE]\n\n"


class SSERelay:
    """Feed upstream bytes, get the bytes to forward; `usage` holds the last usage seen."""

    __slots__ = ("strip_usage", "pending", "usage", "done", "last_write", "error")

    def __init__(self, strip_usage: bool) -> None:
        self.strip_usage = strip_usage
        self.pending = b""
        self.usage: tuple[int, int] | None = None  # (prompt, completion) from the last usage seen
        self.done = False
        self.last_write = 0.0
        self.error: CrabError | None = None  # never set: OpenAI bytes pass through as they are

    def feed(self, data: bytes) -> bytes:
        if self.pending:
            data = self.pending + data
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        cut = data.rfind(b"\n\n")
        if cut < 0:
            if len(data) > MAX_PENDING:
                raise UpstreamProtocolError("upstream sent an SSE event larger than 1 MiB or no event boundary")
            self.pending = data
            return b""
        self.pending = data[cut + 2:]
        ready = data[: cut + 2]
        if b'"usage":{' in ready or b'"usage": {' in ready:
            ready = self._events_with_usage(ready)
        if ready.startswith((b"data: [DONE]", b"data:[DONE]")) or b"\ndata: [DONE]" in ready or b"\ndata:[DONE]" in ready:
            self.done = True  # the terminator event, not "[DONE]" inside some text
        return ready

    def finish(self) -> bytes:
        """Bytes to send after the upstream ended: a dangling event, then [DONE] if missing."""
        tail = b""
        if self.pending.strip():
            tail = self.feed(b"\n" if self.pending.endswith(b"\n") else b"\n\n")
        self.pending = b""
        return tail if self.done else tail + DONE

    def fail(self, error: CrabError) -> bytes:
        return error_event(error.message, error.type, error.code) + DONE

    def _events_with_usage(self, ready: bytes) -> bytes:
        out = []
        for event in ready.split(b"\n\n"):
            if not event:
                continue
            if b'"usage"' in event:
                usage, empty_choices = _read_usage(event)
                if usage is not None:
                    self.usage = (usage.prompt_tokens or 0, usage.completion_tokens or 0)
                    if self.strip_usage and empty_choices:
                        continue
            out.append(event)
            out.append(b"\n\n")
        return b"".join(out) if out else b""


def _read_usage(event: bytes) -> tuple[Usage | None, bool]:
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            try:
                chunk = chunk_view.decode(line[5:])
            except msgspec.DecodeError:
                return None, False
            return chunk.usage, not chunk.choices
    return None, False


def error_event(message: str, type_: str = "server_error", code: str | None = None) -> bytes:
    body = msgspec.json.encode({"error": {"message": message, "type": type_, "param": None, "code": code}})
    return b"data: " + body + b"\n\n"
