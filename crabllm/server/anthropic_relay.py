"""Stream relays for /v1/messages: Anthropic SSE passed through (usage read), or made from OpenAI chunks."""

from __future__ import annotations

from typing import Any

import msgspec

from crabllm.errors import ANTHROPIC_TYPES, CrabError, UpstreamError
from crabllm.providers.transport import untranslatable
from crabllm.translate.anthropic_in import OpenAIStreamToAnthropic
from crabllm.translate.common import as_int
from crabllm.translate.sse import SSEDecoder, encode_event, event_json

_enc = msgspec.json.Encoder()
PING = encode_event(b'{"type":"ping"}', "ping")
MAX_PENDING = 1 << 20


def _end_of(buf: bytes, separator: bytes) -> int:
    i = buf.rfind(separator)
    return i + len(separator) if i >= 0 else 0


def anthropic_error_event(error: CrabError) -> bytes:
    data = {"type": "error", "error": {"type": ANTHROPIC_TYPES.get(error.status, "api_error"), "message": error.message}}
    return encode_event(_enc.encode(data), "error")


def anthropic_usage_tokens(usage: dict[str, Any]) -> tuple[int, int]:
    """(prompt, completion) in the gateway's accounting: prompt includes cache reads and writes."""
    prompt = (as_int(usage.get("input_tokens")) + as_int(usage.get("cache_read_input_tokens"))
              + as_int(usage.get("cache_creation_input_tokens")))
    return prompt, as_int(usage.get("output_tokens"))


class AnthropicPassRelay:
    """Forwards Anthropic SSE bytes untouched, whole events at a time, reading usage on the way.

    Holding back a partial event means an error event added after a broken stream is never glued
    to half an upstream event.
    """

    __slots__ = ("_sse", "_usage", "_pending", "usage", "last_write", "error")

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._usage: dict[str, Any] = {}
        self._pending = b""
        self.usage: tuple[int, int] | None = None
        self.last_write = 0.0
        self.error: CrabError | None = None

    def feed(self, data: bytes) -> bytes:
        buf = self._pending + data if self._pending else data
        cut = max(_end_of(buf, b"\n\n"), _end_of(buf, b"\r\n\r\n"), _end_of(buf, b"\r\r"))
        if len(buf) - cut > MAX_PENDING:
            cut = len(buf)  # not SSE we can frame: stop holding it back
        ready, self._pending = buf[:cut], buf[cut:]
        if ready:
            self._watch(self._sse.feed(ready))
        return ready

    def finish(self) -> bytes:
        tail, self._pending = self._pending, b""
        self._watch(self._sse.feed(tail) + self._sse.flush())
        return tail

    def fail(self, error: CrabError) -> bytes:
        return anthropic_error_event(error)

    def _watch(self, events: list[Any]) -> None:
        for event in events:
            if event.event not in ("message_start", "message_delta"):
                continue
            try:
                data = msgspec.json.decode(event.data)
            except msgspec.DecodeError:
                continue  # the client gets the bytes as they are; only our accounting skips it
            if not isinstance(data, dict):
                continue
            usage = (data.get("message") or {}).get("usage") if event.event == "message_start" else data.get("usage")
            if isinstance(usage, dict):
                # Counters are cumulative; a later value replaces an earlier one.
                self._usage.update({k: v for k, v in usage.items() if v is not None})
                self.usage = anthropic_usage_tokens(self._usage)


class AnthropicFromOpenAIRelay:
    """OpenAI chunk SSE bytes (any split) → the Anthropic event sequence, with a `ping` after message_start."""

    __slots__ = ("_sse", "_tr", "usage", "last_write", "error")

    def __init__(self, model: str) -> None:
        self._sse = SSEDecoder()
        self._tr = OpenAIStreamToAnthropic(model)
        self.usage: tuple[int, int] | None = None
        self.last_write = 0.0
        self.error: CrabError | None = None

    def feed(self, data: bytes) -> bytes:
        return self._convert(self._sse.feed(data))

    def finish(self) -> bytes:
        out = self._convert(self._sse.flush())
        if self.error is not None:
            return out + self.fail(self.error)
        return out + self._encode(self._tr.finish())

    def fail(self, error: CrabError) -> bytes:
        return self._encode(self._tr.error_events(error.message, ANTHROPIC_TYPES.get(error.status, "api_error")))

    def _convert(self, events: list[Any]) -> bytes:
        out: list[tuple[str, dict[str, Any]]] = []
        try:
            for event in events:
                if event.data == "[DONE]" or self.error is not None:
                    continue
                chunk = event_json(event)
                if not isinstance(chunk, dict):
                    continue
                if isinstance(chunk.get("error"), dict) and not chunk.get("choices"):
                    raise UpstreamError(502, _enc.encode(chunk))
                usage = chunk.get("usage")
                if isinstance(usage, dict):
                    self.usage = (as_int(usage.get("prompt_tokens")), as_int(usage.get("completion_tokens")))
                out.extend(self._tr.feed(chunk))
        except CrabError as e:
            self.error = e
        except (TypeError, AttributeError, KeyError, IndexError, ValueError) as e:
            self.error = untranslatable(e)
        return self._encode(out) if out else b""

    @staticmethod
    def _encode(events: list[tuple[str, dict[str, Any]]]) -> bytes:
        parts = []
        for name, data in events:
            parts.append(encode_event(_enc.encode(data), name))
            if name == "message_start":
                parts.append(PING)
        return b"".join(parts)
