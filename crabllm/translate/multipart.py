"""A multipart/form-data scanner that locates fields by offset, so a large upload is never copied."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from crabllm.errors import InvalidRequest

_PARAM = re.compile(r';\s*([A-Za-z0-9_*.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
MAX_PART_HEADERS = 16 * 1024


@dataclass(frozen=True, slots=True)
class Part:
    """One form field: its value is `body[start:end]` of the scanned buffer."""

    name: str
    filename: str | None
    content_type: str | None
    start: int
    end: int


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data Content-Type; 400 when the header is not one."""
    if not content_type or not content_type.lower().lstrip().startswith("multipart/form-data"):
        raise InvalidRequest("expected a multipart/form-data body (Content-Type: multipart/form-data; boundary=…)")
    params = _params(content_type)
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise InvalidRequest("multipart/form-data Content-Type has no usable boundary")
    return boundary.encode("latin-1", "replace")


def scan(body: bytes | bytearray, boundary: bytes) -> Iterator[Part]:
    """Every part, in order; InvalidRequest when the framing is broken (never a silent truncation)."""
    delim = b"--" + boundary
    pos = body.find(delim)
    if pos < 0:
        raise InvalidRequest("multipart body does not contain its boundary")
    while True:
        pos += len(delim)
        if body[pos:pos + 2] == b"--":
            return
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            raise InvalidRequest("multipart body is truncated")
        head_start = eol + 2
        head_end = body.find(b"\r\n\r\n", head_start, head_start + MAX_PART_HEADERS)
        if head_end < 0:
            # A part without headers has its blank line right after the boundary line.
            if body[head_start:head_start + 2] == b"\r\n":
                head_end = head_start - 2
            elif len(body) - head_start < MAX_PART_HEADERS:
                raise InvalidRequest("multipart body is truncated (a part's headers never end)")
            else:
                raise InvalidRequest("multipart part headers are too large")
        headers = _headers(bytes(body[head_start:head_end]))
        start = head_end + 4
        end = body.find(b"\r\n" + delim, start)
        if end < 0:
            raise InvalidRequest("multipart body is truncated (closing boundary missing)")
        raw_disposition = headers.get("content-disposition", "")
        disposition = _params(raw_disposition) if raw_disposition.lower().startswith("form-data") else {}
        name = disposition.get("name")
        if name is not None:
            yield Part(name=name, filename=disposition.get("filename"), content_type=headers.get("content-type"),
                       start=start, end=end)
        pos = end + 2


def field_text(body: bytes | bytearray, part: Part, limit: int = 4096) -> str:
    """A small text field's value (lossy UTF-8); 400 when it is implausibly large."""
    if part.end - part.start > limit:
        raise InvalidRequest(f"multipart field '{part.name}' is too large for a text field")
    return bytes(body[part.start:part.end]).decode("utf-8", "replace")


def _headers(raw: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out


def _params(header: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in _PARAM.findall(header):
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out[key.lower()] = value
    return out
