"""Images and audio: /v1/images/generations, /v1/audio/speech (streamed back), /v1/audio/transcriptions."""

from __future__ import annotations

import itertools

from typing import Any

import msgspec

from crabllm.errors import InvalidRequest, PayloadTooLarge, UnsupportedOperation
from crabllm.providers.base import Endpoint, Provider, Upstream
from crabllm.registry import Route
from crabllm.routing.dispatch import dispatch
from crabllm.server.http import ClientGone, Exchange
from crabllm.server.proxy.preamble import Policy, Request, serve
from crabllm.server.proxy.views import model_body
from crabllm.server.proxy.relay import BytesRelay, relay_stream
from crabllm.server.runtime import Gateway
from crabllm.translate.multipart import boundary_of, field_text, scan
from crabllm.types.openai import ModelView, model_view


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


class _UsageView(msgspec.Struct):
    usage: _Usage | None = None


_usage_view = msgspec.json.Decoder(_UsageView)
#: Endpoint names as the extensions (usage, audit) record them.
_JSON = Policy(view=model_view)
_MULTIPART = Policy()  # the upload is read into one buffer and framed by the handler itself
_ENDPOINT_NAMES = {Endpoint.IMAGES: "images", Endpoint.SPEECH: "speech", Endpoint.TRANSCRIPTIONS: "transcriptions"}


def peek_usage(data: bytes) -> tuple[int, int] | None:
    """Token usage of an images/transcription answer when it reports one (OpenAI or Responses style)."""
    if data[:1] != b"{":
        return None
    try:
        usage = _usage_view.decode(data).usage
    except (msgspec.DecodeError, RecursionError):
        return None
    if usage is None:
        return None
    prompt = usage.prompt_tokens if usage.prompt_tokens is not None else usage.input_tokens
    completion = usage.completion_tokens if usage.completion_tokens is not None else usage.output_tokens
    return prompt or 0, completion or 0


async def read_into_buffer(ex: Exchange, limit: int) -> bytearray:
    """The request body in one buffer (pre-sized from Content-Length), never joined into a second copy."""
    if ex.content_length > limit:
        raise PayloadTooLarge(f"request body is {ex.content_length} bytes; the limit is {limit} bytes "
                              "(raise [limits] max_body_bytes)")
    buf = bytearray(ex.content_length) if ex.content_length > 0 else bytearray()
    size = 0
    while True:
        message = await ex.receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        end = size + len(chunk)
        if end > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes (raise [limits] max_body_bytes)")
        if end <= len(buf):
            buf[size:end] = chunk
        else:
            del buf[size:]
            buf += chunk
        size = end
        if not message.get("more_body", False):
            del buf[size:]
            return buf


def capable(route: Route, endpoint: Endpoint) -> tuple[Provider, ...]:
    """The deployments that can serve `endpoint`; a clear 400 when none can."""
    deployments = tuple(p for p in route.deployments if p.supports(endpoint))
    if not deployments:
        kinds = ", ".join(sorted({p.kind for p in route.deployments}))
        raise UnsupportedOperation(f"/v1/{endpoint.value} is not available for model '{route.model}' "
                                   f"(served by kind {kinds}; use an OpenAI-compatible or mock provider)")
    return deployments


class Media:
    """ASGI handlers for the media endpoints. Non-idempotent: no retries, fallback on transient errors only."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    async def images(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await serve(self.gw, scope, receive, send, _JSON, self._images)

    async def speech(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await serve(self.gw, scope, receive, send, _JSON, self._speech_request)

    async def transcriptions(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await serve(self.gw, scope, receive, send, _MULTIPART, self._transcriptions)

    async def _images(self, r: Request, raw: bytes, view: ModelView) -> None:
        await self._json_media(r, Endpoint.IMAGES, raw, view)

    async def _speech_request(self, r: Request, raw: bytes, view: ModelView) -> None:
        await self._json_media(r, Endpoint.SPEECH, raw, view)

    async def _json_media(self, r: Request, endpoint: Endpoint, raw: bytes, view: ModelView) -> None:
        route = r.route(view.model)
        deployments = capable(route, endpoint)
        body = model_body(raw, view.model, route.model)
        if r.gated:
            await r.admit(route.model, _ENDPOINT_NAMES[endpoint], False, body, cached=False)  # never cached
        if endpoint is Endpoint.SPEECH:
            await self._speech(r.ex, deployments, body, route.model, route.strategy)
        else:
            await self._unary(r.ex, deployments, endpoint, body, route.model, None, route.strategy)
        if r.call is not None:
            await r.served(None)

    async def _transcriptions(self, r: Request, _body: bytes, _view: None) -> None:
        ex = r.ex
        content_type = _header(ex.scope, b"content-type")
        boundary = boundary_of(content_type)
        buf = await read_into_buffer(ex, r.reg.config.limits.max_body_bytes)
        route, body = self._multipart_route(r, buf, boundary)
        deployments = capable(route, Endpoint.TRANSCRIPTIONS)
        # Rate limits and budgets apply; the upload itself is never kept for the extensions.
        if r.gated:
            await r.admit(route.model, _ENDPOINT_NAMES[Endpoint.TRANSCRIPTIONS], False, b"", cached=False)
        await self._unary(ex, deployments, Endpoint.TRANSCRIPTIONS, body, route.model, content_type, route.strategy)
        if r.call is not None:
            await r.served(None)

    @staticmethod
    def _multipart_route(r: Request, buf: bytearray, boundary: bytes) -> tuple[Route, bytearray]:
        # Every part is framed before anything is sent: a broken upload is a 400 here, never a
        # silently truncated form upstream. Scanning only finds offsets; nothing is copied.
        most = r.reg.config.limits.max_multipart_parts
        parts = list(itertools.islice(scan(buf, boundary), most + 1))
        if len(parts) > most:
            raise InvalidRequest(f"too many multipart parts (the limit is {most}; [limits] max_multipart_parts)")
        model_part = next((p for p in parts if p.name == "model" and p.filename is None), None)
        if model_part is None:
            raise InvalidRequest("missing 'model' field in multipart form", param="model")
        requested = field_text(buf, model_part).strip()
        route = r.route(requested)
        if route.model != requested:
            # Rewrite the alias in place: the (possibly large) upload is never copied.
            buf[model_part.start:model_part.end] = route.model.encode()
        return route, buf

    async def _unary(self, ex: Exchange, deployments: tuple[Provider, ...], endpoint: Endpoint, body: Any,
                     model: str, content_type: str | None, strategy: Any = None) -> None:
        async def call(provider: Provider) -> tuple[bytes, str]:
            upstream = await provider.send(endpoint, body, model, False, content_type=content_type)
            return await upstream.read(), upstream.content_type

        ex.dispatched = True
        (data, kind), provider, _ = await dispatch(deployments, call, self.gw.rng, model=model, retries=False,
                                                   breaker=self.gw.breaker, strategy=strategy, loads=self.gw.loads)
        ex.provider = provider.name
        usage = peek_usage(data)
        if usage is not None:
            ex.prompt_tokens, ex.completion_tokens = usage
        await ex.respond(200, data, ex.base_headers((kind or "application/json").encode("latin-1")))

    async def _speech(self, ex: Exchange, deployments: tuple[Provider, ...], body: bytes, model: str,
                      strategy: Any = None) -> None:
        async def call(provider: Provider) -> Upstream:
            return await provider.send(Endpoint.SPEECH, body, model, True)

        ex.dispatched = True
        upstream, provider, _ = await dispatch(deployments, call, self.gw.rng, model=model, retries=False,
                                               breaker=self.gw.breaker, strategy=strategy, loads=self.gw.loads,
                                               hold=True)
        ex.provider = provider.name
        headers = ex.base_headers((upstream.content_type or "audio/mpeg").encode("latin-1"))
        await relay_stream(self.gw, ex, upstream, BytesRelay(), headers, keepalive=False)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
