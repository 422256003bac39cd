"""Raw ASGI helpers for the hot path: request headers, bounded body reads, responses and errors."""

from __future__ import annotations

import os
import time
from typing import Any

from crabllm.errors import CrabError, HeadersTooLarge, PayloadTooLarge

Scope = dict[str, Any]
Headers = list[tuple[bytes, bytes]]

JSON = b"application/json"


class ClientGone(Exception):
    """The client disconnected before we could answer."""


class Exchange:
    """One proxied request: what the access log and the response headers need."""

    __slots__ = ("scope", "receive", "send", "started", "request_id", "auth", "api_key", "key", "model",
                 "provider", "status", "prompt_tokens", "completion_tokens", "stream", "error", "content_length",
                 "anthropic_version", "response_started", "dispatched", "extra", "cached", "body", "header_bytes",
                 "trace", "finishing")

    def __init__(self, scope: Scope, receive: Any, send: Any) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.started = time.perf_counter()
        self.request_id: bytes = b""
        self.auth: bytes | None = None
        self.api_key: bytes | None = None
        self.anthropic_version: bytes | None = None
        self.content_length = -1
        self.key: Any = None
        self.model = ""
        self.provider = ""
        self.status = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.stream = False
        self.error = ""
        self.response_started = False
        self.dispatched = False
        self.extra: Headers = []  # e.g. rate-limit headers from the extensions
        self.cached = False
        self.body: bytes | None = None  # kept only when the logging extension logs bodies
        self.header_bytes = 0
        self.trace: Any = None  # a crabllm.telemetry RequestTrace, only while tracing is on
        #: Awaited once before the last response bytes go out (a parallel-request slot's release), so a
        #: client that sends its next request on receiving this answer finds the slot free.
        self.finishing: Any = None
        for name, value in scope["headers"]:
            self.header_bytes += len(name) + len(value)
            if name == b"authorization":
                self.auth = value
            elif name == b"x-api-key":
                self.api_key = value
            elif name == b"content-length":
                self.content_length = int(value) if value.isdigit() else -1
            elif name == b"x-request-id":
                if 0 < len(value) <= 128 and value.isascii():
                    self.request_id = value
            elif name == b"anthropic-version":
                self.anthropic_version = value
        if not self.request_id:
            self.request_id = os.urandom(12).hex().encode()

    def base_headers(self, content_type: bytes = JSON) -> Headers:
        headers = [(b"content-type", content_type), (b"x-request-id", self.request_id)]
        if self.provider:
            headers.append((b"x-crabllm-provider", self.provider.encode()))
        if self.extra:
            headers.extend(self.extra)
        return headers

    def check_headers(self, limit: int) -> None:
        if self.header_bytes > limit:
            raise HeadersTooLarge(f"request headers are {self.header_bytes} bytes; the limit is {limit} "
                                  "([limits] max_header_bytes)")

    async def read_body(self, limit: int) -> bytes:
        if self.content_length > limit:
            raise PayloadTooLarge(f"request body is {self.content_length} bytes; the limit is {limit} bytes "
                                  "(raise [limits] max_body_bytes)")
        receive = self.receive
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        body = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > limit:
                raise _too_large(limit)
            return body
        parts = [body]
        size = len(body)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    async def respond(self, status: int, body: bytes, headers: Headers) -> None:
        self.status = status
        headers.append((b"content-length", str(len(body)).encode()))
        self.response_started = True
        if self.finishing is not None:
            await self.finish_work()
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})

    async def finish_work(self) -> None:
        finishing, self.finishing = self.finishing, None
        await finishing()

    async def respond_error(self, error: CrabError, *, anthropic: bool = False, extra: Headers | None = None) -> None:
        self.error = error.message
        headers = self.base_headers()
        for name, value in error.headers().items():
            headers.append((name.encode(), value.encode()))
        if extra:
            headers.extend(extra)
        body = error.anthropic_body() if anthropic else error.openai_body()
        await self.respond(error.status, body, headers)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body exceeds the limit of {limit} bytes (raise [limits] max_body_bytes)")


async def send_json(send: Any, status: int, body: bytes, extra: Headers | None = None) -> None:
    headers: Headers = [(b"content-type", JSON), (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
