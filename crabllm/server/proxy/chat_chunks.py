"""The part every relay that turns OpenAI chat-chunk SSE into another format shares."""

from __future__ import annotations

from typing import Any

import msgspec

from crabllm.errors import CrabError, UpstreamError
from crabllm.providers.transport import SHAPE_ERRORS, untranslatable
from crabllm.translate.common import as_int
from crabllm.translate.sse import SSEDecoder, event_json

_enc = msgspec.json.Encoder()


class FromChatRelay:
    """SSE decoding of the chat chunks, the upstream's in-band error chunk, usage, and the first failure kept.

    Subclasses translate each chunk (`_translate`) and encode what that gives (`_encode`). `events`
    counts the chunks converted: `relay.prime` answers a 502 when garbage came before any of them.
    """

    __slots__ = ("_sse", "usage", "last_write", "error", "events")

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self.usage: tuple[int, int] | None = None
        self.last_write = 0.0
        self.error: CrabError | None = None
        self.events = 0

    def _translate(self, chunk: dict[str, Any]) -> list[Any]:
        raise NotImplementedError

    def _encode(self, out: list[Any]) -> bytes:
        raise NotImplementedError

    def _estimate_usage(self) -> None:
        """Before an in-band failure: without reported usage, one completion token per chunk (an estimate)."""
        if self.usage is None and self.events:
            self.usage = (0, self.events)

    def _convert(self, events: list[Any]) -> bytes:
        out: list[Any] = []
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
                out.extend(self._translate(chunk))
                self.events += 1
        except CrabError as e:
            self.error = e
        except SHAPE_ERRORS as e:
            self.error = untranslatable(e)
        return self._encode(out) if out else b""
