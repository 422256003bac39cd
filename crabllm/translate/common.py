"""Helpers shared by the translators: ids, JSON, content parts, OpenAI response/chunk builders."""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import msgspec

from crabllm.errors import InvalidRequest
from crabllm.types.chat import ChatRequestView

_json_encoder = msgspec.json.Encoder()

P = ParamSpec("P")
R = TypeVar("R")


def depth_guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """A request translator whose RecursionError is a 400.

    msgspec decodes JSON nested up to ~1000 levels, but walking a schema costs several Python
    frames per level, so a client's deeply nested (valid) JSON would otherwise be a 500.
    """

    @functools.wraps(fn)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except RecursionError:
            raise InvalidRequest("request body is nested too deeply to translate") from None

    return guarded


def new_id(prefix: str) -> str:
    """A random id such as `chatcmpl-3f9a…`; unique enough to never collide across turns."""
    return prefix + secrets.token_hex(12)


def now() -> int:
    return int(time.time())


def dumps(obj: Any) -> str:
    """Compact JSON text (as sent in tool-call `arguments`)."""
    return _json_encoder.encode(obj).decode()


def loads(text: str | bytes) -> Any:
    return msgspec.json.decode(text)


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """Tool-call arguments (a JSON string, or already an object) as an object; {} if unusable."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, (str, bytes)) or not arguments:
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def validate_chat(req: Any) -> dict[str, Any]:
    """The request itself when it has the chat shape the translators need, else InvalidRequest."""
    if not isinstance(req, dict):
        raise InvalidRequest("request body must be a JSON object")
    try:
        msgspec.convert(req, ChatRequestView)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"invalid chat request: {exc}") from None
    return req


def parse_data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a `data:<mime>;base64,<data>` URL, else None."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    mime = header[: -len(";base64")].split(";", 1)[0]
    return (mime or "application/octet-stream"), data


def content_parts(content: Any) -> list[dict[str, Any]]:
    """Message content as a list of OpenAI parts (a string becomes one text part)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [p if isinstance(p, dict) else {"type": "text", "text": str(p)} for p in content]
    if content is None:
        return []
    return [{"type": "text", "text": dumps(content)}]


def content_text(content: Any, sep: str = "") -> str:
    """The text of message content (text parts joined with `sep`)."""
    if isinstance(content, str):
        return content
    return sep.join(p.get("text", "") for p in content_parts(content) if p.get("type") == "text")


def image_url_of(part: dict[str, Any]) -> str:
    """The URL of an OpenAI `image_url` part (object or bare string form)."""
    image = part.get("image_url")
    if isinstance(image, dict):
        return str(image.get("url", ""))
    return str(image or "")


def max_tokens_of(req: dict[str, Any]) -> int | None:
    """`max_completion_tokens`, else `max_tokens`, else None."""
    for key in ("max_completion_tokens", "max_tokens"):
        value = req.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def stop_list(stop: Any) -> list[str]:
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list):
        return [s for s in stop if isinstance(s, str)]
    return []


def chat_completion(*, id: str, created: int, model: str, message: dict[str, Any],
                    finish_reason: str | None, usage: dict[str, Any] | None) -> dict[str, Any]:
    """An OpenAI `chat.completion` response with one choice."""
    resp: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
    }
    if usage is not None:
        resp["usage"] = usage
    return resp


def make_usage(prompt: int, completion: int, total: int | None = None, **extra: Any) -> dict[str, Any]:
    """An OpenAI usage object; `extra` keys with None values are left out."""
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion if total is None else total,
    }
    usage.update({k: v for k, v in extra.items() if v is not None})
    return usage


def as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class ChunkMaker:
    """Builds `chat.completion.chunk` dicts with one id and `created` for the whole stream."""

    def __init__(self, model: str, *, id: str | None = None, created: int | None = None) -> None:
        self.model = model
        self.id = id or new_id("chatcmpl-")
        self.created = now() if created is None else created
        self._fixed = id is not None
        self._role_sent = False

    def adopt_id(self, upstream_id: Any) -> None:
        """Use the upstream's response id for the stream, unless one was given or already used."""
        if isinstance(upstream_id, str) and upstream_id and not self._fixed and not self._role_sent:
            self.id = upstream_id
            self._fixed = True

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        """A one-choice chunk; the first chunk of the stream also carries the assistant role."""
        if not self._role_sent:
            self._role_sent = True
            delta = {"role": "assistant", **delta}
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }

    def usage_chunk(self, usage: dict[str, Any]) -> dict[str, Any]:
        """The final usage-only chunk (`choices: []`) as OpenAI sends with include_usage."""
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage,
        }
