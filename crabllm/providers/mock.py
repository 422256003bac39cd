"""The built-in `mock` upstream: answers locally (echo or canned text, streaming, usage) with no network."""

from __future__ import annotations

import asyncio
import hashlib
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from crabllm.config.schema import ProviderConfig
from crabllm.errors import InvalidRequest
from crabllm.providers.base import Endpoint
from crabllm.providers.mock_media import media_answer


class _Message(msgspec.Struct):
    role: str = "user"
    content: Any = None


class _StreamOptions(msgspec.Struct):
    include_usage: bool = False


class _ChatRequest(msgspec.Struct):
    messages: list[_Message] = []
    stream_options: _StreamOptions | None = None


class _EmbeddingRequest(msgspec.Struct):
    input: str | list[Any] = ""


_chat_dec = msgspec.json.Decoder(_ChatRequest)
_embed_dec = msgspec.json.Decoder(_EmbeddingRequest)
_enc = msgspec.json.Encoder()


def count_tokens(text: str) -> int:
    """A rough, deterministic token count: one per word, at least one for non-empty text."""
    return len(text.split()) or (1 if text else 0)


def message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


class MockUpstream:
    """A canned 200 answer; streams yield SSE bytes with an optional per-chunk delay."""

    __slots__ = ("status", "content_type", "_body", "_events", "_delay")

    def __init__(self, body: bytes = b"", events: list[bytes] | None = None, delay: float = 0.0,
                 content_type: str | None = None) -> None:
        self.status = 200
        self.content_type = content_type or ("text/event-stream" if events is not None else "application/json")
        self._body = body
        self._events = events or []
        self._delay = delay

    async def read(self) -> bytes:
        return self._body

    async def chunks(self) -> AsyncIterator[bytes]:
        for i, event in enumerate(self._events):
            if self._delay and i:
                await asyncio.sleep(self._delay)
            yield event

    def close(self) -> None:
        self._events = []


class MockProvider:
    """Echoes the last user message (or says `mock_reply`) and reports word-count usage."""

    passthrough = True

    def __init__(self, name: str, cfg: ProviderConfig) -> None:
        self.name = name
        self.kind = "mock"
        self.weight = cfg.weight
        self.max_retries = cfg.max_retries
        self._reply = cfg.mock_reply
        self._chunks = max(1, cfg.mock_chunks)
        self._delay = cfg.mock_chunk_delay_ms / 1000
        self._latency = cfg.mock_latency_ms / 1000
        self._dims = cfg.mock_dimensions

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint not in (Endpoint.RESPONSES, Endpoint.RESPONSES_INPUT_TOKENS)  # /v1/responses is translated

    async def send(self, endpoint: Endpoint, body: bytes, model: str, stream: bool, *,
                   content_type: str | None = None) -> MockUpstream:
        if self._latency:
            await asyncio.sleep(self._latency)
        if endpoint is Endpoint.EMBEDDINGS:
            return MockUpstream(self._embeddings(body, model))
        if endpoint is not Endpoint.CHAT:
            return MockUpstream(**media_answer(endpoint, body, content_type))
        try:
            req = _chat_dec.decode(body)
        except (msgspec.DecodeError, RecursionError) as e:  # decoded deeper in the stack than the view was
            raise InvalidRequest(f"invalid chat request: {e}") from None
        prompt = " ".join(message_text(m.content) for m in req.messages)
        reply = self._reply if self._reply is not None else _echo(req.messages)
        usage = {"prompt_tokens": count_tokens(prompt), "completion_tokens": count_tokens(reply)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        ident = "chatcmpl-mock" + hashlib.sha1(body).hexdigest()[:20]
        created = int(time.time())
        if not stream:
            return MockUpstream(_enc.encode({
                "id": ident, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
                "usage": usage,
            }))
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        return MockUpstream(events=self._events(ident, created, model, reply, usage, include_usage), delay=self._delay)

    def _events(self, ident: str, created: int, model: str, reply: str, usage: dict[str, int],
                include_usage: bool) -> list[bytes]:
        head = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model}
        events = []
        for i, piece in enumerate(_split(reply, self._chunks)):
            delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
            events.append({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        events.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if include_usage:
            events.append({**head, "choices": [], "usage": usage})
        out = [b"data: " + _enc.encode(e) + b"\n\n" for e in events]
        out.append(b"data: [DONE]\n\n")
        return out

    def _embeddings(self, body: bytes, model: str) -> bytes:
        try:
            req = _embed_dec.decode(body)
        except (msgspec.DecodeError, RecursionError) as e:
            raise InvalidRequest(f"invalid embeddings request: {e}") from None
        inputs = [req.input] if isinstance(req.input, str) or (req.input and isinstance(req.input[0], int)) else req.input
        data = []
        tokens = 0
        for i, item in enumerate(inputs):
            text = item if isinstance(item, str) else " ".join(map(str, item))
            tokens += count_tokens(text) if isinstance(item, str) else len(item)
            data.append({"object": "embedding", "index": i, "embedding": _vector(text, self._dims)})
        return _enc.encode({"object": "list", "data": data, "model": model,
                            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    async def close(self) -> None:
        """Nothing to release."""


def _echo(messages: list[_Message]) -> str:
    for m in reversed(messages):
        if m.role == "user":
            text = message_text(m.content)
            if text:
                return text
    return "Hello from the crabllm mock provider."


def _split(text: str, n: int) -> list[str]:
    """Split text into at most n non-empty pieces at word boundaries (keeping the spaces)."""
    words = text.split(" ")
    n = min(n, len(words))
    size = -(-len(words) // n)
    pieces = [" ".join(words[i:i + size]) for i in range(0, len(words), size)]
    return [p if i == len(pieces) - 1 else p + " " for i, p in enumerate(pieces)]


def _vector(text: str, dims: int) -> list[float]:
    """A deterministic unit-ish vector derived from the text's hash."""
    out: list[float] = []
    seed = text.encode()
    counter = 0
    while len(out) < dims:
        block = hashlib.sha256(seed + counter.to_bytes(4, "little")).digest()
        out.extend(v / 2**31 for v in struct.unpack("<8i", block))
        counter += 1
    return [round(v, 6) for v in out[:dims]]
