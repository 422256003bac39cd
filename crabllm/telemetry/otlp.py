"""A minimal OTLP/HTTP protobuf encoder for spans (ExportTraceServiceRequest), with no protobuf library.

Field numbers are those of opentelemetry-proto (trace/v1/trace.proto, common/v1/common.proto); the tests
decode the output with the official generated classes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from crabllm.telemetry.span import Span

_DOUBLE = struct.Struct("<d")
_FIXED64 = struct.Struct("<Q")
_FIXED32 = struct.Struct("<I")
_INT64_MASK = (1 << 64) - 1
MAX_CACHED = 8192
#: Attributes whose values are unique per span: never worth keeping encoded.
UNIQUE = frozenset({"crabllm.request_id"})


def varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    size, tag = len(payload), number << 3 | 2
    if size < 0x80 and tag < 0x80:
        return bytes((tag, size)) + payload
    return varint(tag) + varint(size) + payload


def any_value(value: Any) -> bytes:
    if isinstance(value, str):
        return field(1, value.encode("utf-8", "replace"))
    if isinstance(value, bool):  # before int: bool is an int
        return b"\x10" + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        return b"\x18" + varint(value & _INT64_MASK)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE.pack(value)
    return field(1, str(value).encode("utf-8", "replace"))


class Encoder:
    """Encodes batches for one resource and instrumentation scope.

    Attributes repeat across spans (operation, model, provider, key name, method, status…), so an
    encoded string, bool or small int attribute is kept and reused (bounded); ids are not kept.
    """

    def __init__(self, resource: dict[str, Any], scope: str, version: str = "") -> None:
        self._keys: dict[str, bytes] = {}
        self._pairs: dict[tuple[str, type, Any], bytes] = {}
        self._resource = field(1, b"".join(field(1, self.key_value(k, v)) for k, v in resource.items()))
        self._scope = field(1, field(1, scope.encode()) + (field(2, version.encode()) if version else b""))

    def key_value(self, key: str, value: Any) -> bytes:
        prefix = self._keys.get(key)
        if prefix is None:
            prefix = field(1, key.encode())
            if len(self._keys) < MAX_CACHED:
                self._keys[key] = prefix
        return prefix + field(2, any_value(value))

    def attribute(self, key: str, value: Any) -> bytes:
        """One Span.attributes entry (field 9)."""
        kind = value.__class__
        if ((kind is str and len(value) <= 128) or (kind is int and 0 <= value < 1024) or kind is bool) \
                and key not in UNIQUE:
            pair = (key, kind, value)
            found = self._pairs.get(pair)
            if found is None:
                found = field(9, self.key_value(key, value))
                if len(self._pairs) < MAX_CACHED:
                    self._pairs[pair] = found
            return found
        return field(9, self.key_value(key, value))

    def span(self, s: Span) -> bytes:
        parts = [b"\x0a\x10", s.trace_id.to_bytes(16, "big"), b"\x12\x08", s.span_id.to_bytes(8, "big")]
        if s.state:
            parts.append(field(3, s.state.encode()))
        if s.parent_id:
            parts += (b"\x22\x08", s.parent_id.to_bytes(8, "big"))
        parts += (field(5, s.name.encode("utf-8", "replace")), b"\x30", varint(s.kind),
                  b"\x39", _FIXED64.pack(s.start), b"\x41", _FIXED64.pack(s.end))
        attribute = self.attribute
        parts += [attribute(k, v) for k, v in s.attributes.items()]
        if s.error:
            message = field(2, s.message.encode("utf-8", "replace")) if s.message else b""
            parts.append(field(15, message + b"\x18\x02"))  # Status{message, code=ERROR}
        # flags: the W3C trace flags, plus "the parent's remoteness is known" (0x100) and "it is remote" (0x200).
        flags = (s.flags & 0xFF) | 0x100 | (0x200 if s.remote_parent else 0)
        parts += (b"\x85\x01", _FIXED32.pack(flags))
        return field(2, b"".join(parts))  # as ScopeSpans.spans (2)

    def request(self, spans: Iterable[Span]) -> bytes:
        """ExportTraceServiceRequest{resource_spans: [{resource, scope_spans: [{scope, spans}]}]}."""
        scope_spans = field(2, self._scope + b"".join(self.span(s) for s in spans))
        return field(1, self._resource + scope_spans)
