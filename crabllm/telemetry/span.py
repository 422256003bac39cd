"""Span records and W3C Trace Context (`traceparent` / `tracestate`) parsing and formatting."""

from __future__ import annotations

import re
from typing import Any

SERVER = 2  # OTLP Span.SpanKind values
CLIENT = 3
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_MAX_TRACESTATE = 512


class Span:
    """One finished-or-open span; encoded to OTLP by crabllm.telemetry.otlp when its batch is exported."""

    __slots__ = ("trace_id", "span_id", "parent_id", "remote_parent", "flags", "state", "name", "kind", "start",
                 "end", "attributes", "error", "message")

    def __init__(self, trace_id: int, span_id: int, parent_id: int, name: str, kind: int, start: int,
                 attributes: dict[str, Any], *, flags: int = 1, state: str = "", remote_parent: bool = False) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.remote_parent = remote_parent
        self.flags = flags
        self.state = state
        self.name = name
        self.kind = kind
        self.start = start
        self.end = 0
        self.attributes = attributes
        self.error = False
        self.message = ""


def parse_traceparent(value: str) -> tuple[int, int, int] | None:
    """(trace id, parent span id, flags) of a valid W3C traceparent, else None (then a new trace starts)."""
    m = _TRACEPARENT.fullmatch(value.strip())
    if m is None:
        return None
    version, trace, span, flags, rest = m.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    trace_id, span_id = int(trace, 16), int(span, 16)
    if not trace_id or not span_id:
        return None
    return trace_id, span_id, int(flags, 16)


def clean_tracestate(value: str) -> str:
    """The client's tracestate, passed on unchanged when it is plausible (W3C: at most 512 characters)."""
    value = value.strip()
    if not value or len(value) > _MAX_TRACESTATE or not value.isascii() or not value.isprintable():
        return ""
    return value


def traceparent(trace_id: int, span_id: int, flags: int) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"
