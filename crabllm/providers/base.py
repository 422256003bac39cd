"""The small protocol every upstream kind implements, and the upstream response it returns."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Protocol
from datetime import datetime, timezone


class Endpoint(enum.Enum):
    """Model-routed operations; the value is the OpenAI path below /v1."""

    CHAT = "chat/completions"
    EMBEDDINGS = "embeddings"
    IMAGES = "images/generations"
    SPEECH = "audio/speech"
    TRANSCRIPTIONS = "audio/transcriptions"
    RESPONSES = "responses"
    RESPONSES_INPUT_TOKENS = "responses/input_tokens"


class Upstream(Protocol):
    """An upstream answer with a 2xx status whose body is in the OpenAI shape."""

    status: int
    content_type: str

    async def read(self) -> bytes:
        """The whole body (non-streaming)."""
        ...

    def chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive (streaming); SSE in the OpenAI chunk format."""
        ...

    # Optional: `async peek(wait) -> bytes`, the first body bytes, waiting at most `wait` seconds
    # (then not yielded again by `chunks`); see crabllm.server.proxy.relay.prime.

    def close(self) -> None:
        """Release the connection at once; safe to call twice."""
        ...


class Provider(Protocol):
    """One configured upstream deployment. `send` raises a CrabError on any failure."""

    name: str
    kind: str
    weight: int
    max_retries: int
    #: True when request and response bytes are OpenAI-shaped and pass through untouched.
    passthrough: bool

    def supports(self, endpoint: Endpoint) -> bool: ...

    async def send(self, endpoint: Endpoint, body: bytes, model: str, stream: bool, *,
                   content_type: str | None = None) -> Upstream:
        """`content_type` overrides application/json (multipart uploads); `stream` returns at the headers."""
        ...

    async def close(self) -> None: ...


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, seconds) if seconds == seconds else None
