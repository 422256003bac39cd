"""Canned answers of the `mock` provider for images, speech and transcriptions (no network, no models)."""

from __future__ import annotations

import base64
import struct
import time
import zlib
from types import MappingProxyType
from typing import Any

import msgspec

from crabllm.errors import InvalidRequest
from crabllm.providers.base import Endpoint
from crabllm.translate.multipart import boundary_of, field_text, scan

MOCK_TRANSCRIPT = "This is a mock transcription from crabllm."
SPEECH_TYPES = MappingProxyType({"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac",
                                 "wav": "audio/wav", "pcm": "audio/pcm"})
_enc = msgspec.json.Encoder()


class _ImageRequest(msgspec.Struct):
    n: int | None = 1
    response_format: str | None = None


class _SpeechRequest(msgspec.Struct):
    input: str = ""
    response_format: str | None = None


_image_dec = msgspec.json.Decoder(_ImageRequest)
_speech_dec = msgspec.json.Decoder(_SpeechRequest)


def tiny_png() -> bytes:
    """A valid 1x1 PNG (one opaque crab-orange pixel)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xe8\x5a\x2a")) + chunk(b"IEND", b"")


def tiny_wav(samples: int = 800) -> bytes:
    """A short silent 8 kHz mono 16-bit WAV."""
    data = b"\x00\x00" * samples
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", len(data)) + data)


def image_response(body: bytes) -> bytes:
    try:
        req = _image_dec.decode(body)
    except (msgspec.DecodeError, RecursionError) as e:  # decoded deeper in the stack than the view was
        raise InvalidRequest(f"invalid image request: {e}") from None
    n = req.n if req.n is not None else 1
    if not 1 <= n <= 10:
        raise InvalidRequest("n must be between 1 and 10", param="n")
    b64 = base64.b64encode(tiny_png()).decode()
    item = {"url": f"data:image/png;base64,{b64}"} if req.response_format == "url" else {"b64_json": b64}
    return _enc.encode({"created": int(time.time()), "data": [{**item, "revised_prompt": None} for _ in range(n)]})


def speech_response(body: bytes) -> tuple[list[bytes], str]:
    """Audio bytes in a few pieces, and their content type."""
    try:
        req = _speech_dec.decode(body)
    except (msgspec.DecodeError, RecursionError) as e:
        raise InvalidRequest(f"invalid speech request: {e}") from None
    fmt = req.response_format or "mp3"
    if fmt not in SPEECH_TYPES:
        raise InvalidRequest(f"unsupported response_format '{fmt}'", param="response_format")
    audio = tiny_wav() if fmt == "wav" else b"CRABLLM-MOCK-" + fmt.upper().encode() + b"\x00" * 64
    return [audio[i:i + 256] for i in range(0, len(audio), 256)], SPEECH_TYPES[fmt]


def transcription_response(body: bytes, content_type: str | None) -> tuple[bytes, str]:
    """The fixed transcript in the requested response_format, and its content type."""
    fields: dict[str, str] = {}
    for part in scan(body, boundary_of(content_type)):
        if part.filename is None and part.name in ("response_format", "language"):
            fields[part.name] = field_text(body, part)
    fmt = fields.get("response_format") or "json"
    text = MOCK_TRANSCRIPT
    if fmt == "json":
        return _enc.encode({"text": text}), "application/json"
    if fmt == "verbose_json":
        return _enc.encode({"task": "transcribe", "language": fields.get("language") or "english", "duration": 1.0,
                            "text": text, "segments": [{"id": 0, "start": 0.0, "end": 1.0, "text": text}]}), "application/json"
    if fmt == "text":
        return text.encode() + b"\n", "text/plain; charset=utf-8"
    if fmt == "srt":
        return f"1\n00:00:00,000 --> 00:00:01,000\n{text}\n\n".encode(), "text/plain; charset=utf-8"
    if fmt == "vtt":
        return f"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n{text}\n\n".encode(), "text/plain; charset=utf-8"
    raise InvalidRequest(f"unsupported response_format '{fmt}'", param="response_format")


def media_answer(endpoint: Endpoint, body: bytes, content_type: str | None) -> dict[str, Any]:
    """Keyword arguments for a MockUpstream answering a media endpoint."""
    if endpoint is Endpoint.IMAGES:
        return {"body": image_response(body), "content_type": "application/json"}
    if endpoint is Endpoint.SPEECH:
        pieces, kind = speech_response(body)
        return {"body": b"".join(pieces), "events": pieces, "content_type": kind}
    body_out, kind = transcription_response(body, content_type)
    return {"body": body_out, "content_type": kind}
