"""Request bodies for aiohttp: large buffers are written in slices, without a copy and without a warning."""

from __future__ import annotations

from typing import Any

from aiohttp import payload
from aiohttp.abc import AbstractStreamWriter

#: Up to this size a body is handed to aiohttp as is (its own limit for a plain bytes body is 1 MiB).
SMALL_BODY = 1 << 20
SLICE = 1 << 18


class BufferPayload(payload.Payload):
    """A bytes-like body sent slice by slice from memoryviews; reusable, so fallback can send it again."""

    _autoclose = True

    def __init__(self, value: bytes | bytearray | memoryview, content_type: str = "application/octet-stream") -> None:
        super().__init__(value, content_type=content_type)
        self._size = memoryview(value).nbytes

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return bytes(self._value).decode(encoding, errors)

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(self, writer: AbstractStreamWriter, content_length: int | None) -> None:
        # Not released explicitly: the transport may still hold slices it has not sent yet.
        view = memoryview(self._value).cast("B")
        end = view.nbytes if content_length is None else min(content_length, view.nbytes)
        for start in range(0, end, SLICE):
            await writer.write(view[start:min(start + SLICE, end)])


def body_payload(body: Any) -> Any:
    """What to pass as aiohttp's `data=`: small bodies unchanged, large ones as a BufferPayload."""
    if isinstance(body, bytes) and len(body) <= SMALL_BODY:
        return body
    if isinstance(body, (bytes, bytearray, memoryview)):
        return BufferPayload(body)
    return body
