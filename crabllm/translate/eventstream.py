"""AWS event-stream binary framing: incremental decoder with CRC checks, encoder, frame → event."""

from __future__ import annotations

import struct
import uuid
import zlib
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any, Mapping

import msgspec

from crabllm.errors import UpstreamError, UpstreamProtocolError

PRELUDE_LEN = 12
MIN_FRAME_LEN = 16
MAX_FRAME_LEN = 16 * 1024 * 1024
MAX_HEADERS_LEN = 128 * 1024

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Int8(int):
    """A header integer carried as a 1-byte value (type 2)."""


class Int16(int):
    """A header integer carried as a 2-byte value (type 3)."""


class Int32(int):
    """A header integer carried as a 4-byte value (type 4); plain ints encode as this."""


class Int64(int):
    """A header integer carried as an 8-byte value (type 5)."""


HeaderValue = bool | int | bytes | str | datetime | uuid.UUID


class Frame(msgspec.Struct):
    """One decoded message: typed headers and the raw payload."""

    headers: dict[str, Any]
    payload: bytes


_INT_TYPES = ((Int8, 2, ">b"), (Int16, 3, ">h"), (Int64, 5, ">q"), (int, 4, ">i"))
_DECODE_INT = MappingProxyType({2: (Int8, ">b", 1), 3: (Int16, ">h", 2), 4: (Int32, ">i", 4), 5: (Int64, ">q", 8)})


class EventStreamDecoder:
    """Feed raw bytes in any split; get back every complete, CRC-verified frame."""

    def __init__(self, max_frame_len: int = MAX_FRAME_LEN) -> None:
        self._buf = bytearray()
        self._max = max_frame_len

    def feed(self, data: bytes) -> list[Frame]:
        """Frames completed by `data`; UpstreamProtocolError on a corrupt or absurd frame."""
        self._buf += data
        frames: list[Frame] = []
        while len(self._buf) >= PRELUDE_LEN:
            total, headers_len = self._prelude()
            if len(self._buf) < total:
                break
            frames.append(self._frame(total, headers_len))
            del self._buf[:total]
        return frames

    def pending(self) -> int:
        """Bytes buffered but not yet part of a complete frame (non-zero at EOF = truncated)."""
        return len(self._buf)

    def _prelude(self) -> tuple[int, int]:
        total, headers_len, crc = struct.unpack_from(">III", self._buf, 0)
        if zlib.crc32(memoryview(self._buf)[:8]) != crc:
            raise UpstreamProtocolError("event-stream prelude CRC mismatch")
        if total < MIN_FRAME_LEN or total > self._max:
            raise UpstreamProtocolError(f"event-stream frame length {total} out of range")
        if headers_len > min(total - MIN_FRAME_LEN, MAX_HEADERS_LEN):
            raise UpstreamProtocolError(f"event-stream headers length {headers_len} out of range")
        return total, headers_len

    def _frame(self, total: int, headers_len: int) -> Frame:
        view = memoryview(self._buf)
        try:
            (crc,) = struct.unpack_from(">I", view, total - 4)
            if zlib.crc32(view[: total - 4]) != crc:
                raise UpstreamProtocolError("event-stream message CRC mismatch")
            headers = decode_headers(bytes(view[PRELUDE_LEN: PRELUDE_LEN + headers_len]))
            return Frame(headers=headers, payload=bytes(view[PRELUDE_LEN + headers_len: total - 4]))
        finally:
            view.release()


def decode_headers(raw: bytes) -> dict[str, Any]:
    """The typed headers of one frame; UpstreamProtocolError when malformed."""
    headers: dict[str, Any] = {}
    pos = 0
    try:
        while pos < len(raw):
            name_len = raw[pos]
            _need(raw, pos + 1 + name_len)
            name = raw[pos + 1: pos + 1 + name_len].decode()
            pos += 1 + name_len
            value, pos = _header_value(raw, pos)
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError, ValueError) as exc:
        raise UpstreamProtocolError(f"malformed event-stream headers: {exc}") from None
    return headers


def _header_value(raw: bytes, pos: int) -> tuple[Any, int]:
    kind = raw[pos]
    pos += 1
    if kind in (0, 1):
        return kind == 0, pos
    if kind in _DECODE_INT:
        cls, fmt, size = _DECODE_INT[kind]
        _need(raw, pos + size)
        return cls(struct.unpack_from(fmt, raw, pos)[0]), pos + size
    if kind in (6, 7):
        (length,) = struct.unpack_from(">H", raw, pos)
        end = pos + 2 + length
        _need(raw, end)
        value = raw[pos + 2: end]
        return (value.decode() if kind == 7 else value), end
    if kind == 8:
        (millis,) = struct.unpack_from(">q", raw, pos)
        return _EPOCH + timedelta(milliseconds=millis), pos + 8
    if kind == 9:
        _need(raw, pos + 16)
        return uuid.UUID(bytes=raw[pos: pos + 16]), pos + 16
    raise ValueError(f"unknown header value type {kind}")


def _need(raw: bytes, end: int) -> None:
    if end > len(raw):
        raise ValueError("header value runs past the header block")


def encode_frame(headers: Mapping[str, HeaderValue], payload: bytes) -> bytes:
    """One complete frame with both CRCs (for tests and fake upstreams)."""
    block = b"".join(_encode_header(name, value) for name, value in headers.items())
    total = PRELUDE_LEN + len(block) + len(payload) + 4
    prelude = struct.pack(">II", total, len(block))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + block + payload
    return head + struct.pack(">I", zlib.crc32(head))


def _encode_header(name: str, value: Any) -> bytes:
    raw_name = name.encode()
    head = bytes([len(raw_name)]) + raw_name
    if isinstance(value, bool):
        return head + bytes([0 if value else 1])
    if isinstance(value, int):
        if type(value) is int and not -2**31 <= value < 2**31:
            value = Int64(value)
        for cls, kind, fmt in _INT_TYPES:
            if isinstance(value, cls):
                return head + bytes([kind]) + struct.pack(fmt, value)
    if isinstance(value, (bytes, bytearray)):
        return head + b"\x06" + struct.pack(">H", len(value)) + bytes(value)
    if isinstance(value, str):
        raw = value.encode()
        return head + b"\x07" + struct.pack(">H", len(raw)) + raw
    if isinstance(value, datetime):
        millis = round((value - _EPOCH).total_seconds() * 1000)
        return head + b"\x08" + struct.pack(">q", millis)
    if isinstance(value, uuid.UUID):
        return head + b"\x09" + value.bytes
    raise TypeError(f"unsupported event-stream header value for {name!r}: {type(value).__name__}")


# Bedrock exception types (lower-cased) → the HTTP status the same error has on a plain call.
_EXCEPTION_STATUS = MappingProxyType({
    "validationexception": 400,
    "accessdeniedexception": 403,
    "resourcenotfoundexception": 404,
    "modeltimeoutexception": 408,
    "conflictexception": 409,
    "servicequotaexceededexception": 429,
    "throttlingexception": 429,
    "modelnotreadyexception": 429,
    "internalserverexception": 500,
    "modelstreamerrorexception": 500,
    "modelerrorexception": 500,
    "serviceunavailableexception": 503,
})


def exception_status(exception_type: str) -> int:
    """HTTP status for a Bedrock exception type (502 when unknown)."""
    return _EXCEPTION_STATUS.get(exception_type.lower(), 502)


def frame_to_event(frame: Frame) -> tuple[str, dict[str, Any]]:
    """(event type, payload object) of an event frame; UpstreamError for exception/error frames."""
    message_type = frame.headers.get(":message-type", "event")
    if message_type == "exception":
        kind = str(frame.headers.get(":exception-type", "exception"))
        raise _upstream_error(kind, _payload_message(frame.payload) or kind)
    if message_type == "error":
        kind = str(frame.headers.get(":error-code", "error"))
        raise _upstream_error(kind, str(frame.headers.get(":error-message", "")) or kind)
    event_type = frame.headers.get(":event-type")
    if not isinstance(event_type, str):
        raise UpstreamProtocolError("event-stream frame without an :event-type header")
    if not frame.payload:
        return event_type, {}
    try:
        payload = msgspec.json.decode(frame.payload)
    except msgspec.DecodeError:
        raise UpstreamProtocolError(f"event-stream {event_type} payload is not JSON") from None
    if not isinstance(payload, dict):
        raise UpstreamProtocolError(f"event-stream {event_type} payload is not an object")
    return event_type, payload


def _payload_message(payload: bytes) -> str:
    try:
        value = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return payload[:500].decode("utf-8", "replace")
    if isinstance(value, dict):
        for key in ("message", "Message"):
            if isinstance(value.get(key), str):
                return value[key]
    return ""


def _upstream_error(kind: str, message: str) -> UpstreamError:
    body = msgspec.json.encode({"message": f"{kind}: {message}", "type": kind})
    return UpstreamError(exception_status(kind), body, provider="bedrock")
