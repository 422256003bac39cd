"""What the raw routes share to read a request: the UTF-8 check, the small view decode with its 400s,
the alias rewrite, and the response headers every route sends the same way."""

from __future__ import annotations

from typing import Any

import msgspec

from crabllm.errors import InvalidRequest

#: On errors once an upstream was tried: the gateway already retried, so the SDKs must not.
NO_RETRY = [(b"x-should-retry", b"false")]


def check_utf8(body: bytes) -> None:
    """JSON must be UTF-8 (RFC 8259); the view skips fields it does not decode, so check the whole body.

    `isascii` is a word-at-a-time scan (~50 ns per KB); only a body with non-ASCII bytes pays for a decode.
    """
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidRequest(f"request body is not valid UTF-8 (byte 0x{body[e.start]:02x} at offset {e.start}); "
                                 "JSON must be UTF-8 encoded") from None


def decode_view(decoder: msgspec.json.Decoder, body: bytes) -> Any:
    """Decode the small request view; every failure is a 400 naming the problem."""
    check_utf8(body)
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as e:
        raise InvalidRequest(_describe_validation(str(e))) from None
    except msgspec.DecodeError as e:
        raise InvalidRequest(f"request body is not valid JSON: {e}") from None
    except RecursionError:
        raise InvalidRequest("request body is nested too deeply") from None


def model_body(body: bytes, requested: str, model: str) -> bytes:
    if requested == model:
        return body
    data = msgspec.json.decode(body)
    data["model"] = model
    return msgspec.json.encode(data)


def _describe_validation(text: str) -> str:
    message, _, where = text.partition(" - at `")
    field = where.rstrip("`").removeprefix("$").lstrip(".")
    if message.startswith("Object missing required field"):
        return message.replace("Object missing required field", "missing required field").replace("`", "'")
    return f"{message} at '{field}'" if field else message
