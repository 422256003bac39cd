"""Model-routed OpenAI endpoints: chat completions (plain and SSE) and embeddings, bytes passed through."""

from __future__ import annotations

from typing import Any

import msgspec

from crabllm.extensions.call import Call
from crabllm.errors import CrabError, InvalidRequest, MethodNotAllowed, UpstreamProtocolError
from crabllm.providers.base import Endpoint, Provider, Upstream
from crabllm.registry import Registry, Route
from crabllm.routing.dispatch import dispatch
from crabllm.server.auth import authenticate
from crabllm.server.http import ClientGone, Exchange
from crabllm.server.runtime import Gateway
from crabllm.server.proxy.relay import prime, relay_stream
from crabllm.server.proxy.stream import SSERelay
from crabllm.types.openai import ChatView, Usage, chat_view, model_view, usage_view

SSE_HEADERS = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
NO_RETRY = [(b"x-should-retry", b"false")]
_INJECT_USAGE = b'"stream_options":{"include_usage":true},'


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


def chat_body(body: bytes, view: ChatView, model: str, stream: bool) -> bytes:
    """Rewrite only what must change: the aliased model, and usage reporting for streams."""
    wants_usage = stream and not (view.stream_options is not None and view.stream_options.include_usage)
    if view.model == model and not wants_usage:
        return body
    if view.model == model and view.stream_options is None:
        i = body.index(b"{") + 1
        return body[:i] + _INJECT_USAGE + body[i:]
    data = msgspec.json.decode(body)
    data["model"] = model
    if wants_usage:
        options = data.get("stream_options")
        data["stream_options"] = {**options, "include_usage": True} if isinstance(options, dict) else {"include_usage": True}
    return msgspec.json.encode(data)


def model_body(body: bytes, requested: str, model: str) -> bytes:
    if requested == model:
        return body
    data = msgspec.json.decode(body)
    data["model"] = model
    return msgspec.json.encode(data)


class Proxy:
    """ASGI handlers bound to one worker's Gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    async def chat(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self._handle(scope, receive, send, Endpoint.CHAT)

    async def embeddings(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self._handle(scope, receive, send, Endpoint.EMBEDDINGS)

    async def _handle(self, scope: dict[str, Any], receive: Any, send: Any, endpoint: Endpoint) -> None:
        ex = Exchange(scope, receive, send)
        gw = self.gw
        reg = gw.holder.current
        pipe = reg.pipeline
        call: Call | None = None
        gw.observer.begin(ex)
        try:
            if scope["method"] != "POST":
                raise MethodNotAllowed(f"use POST for {scope['path']}")
            ex.check_headers(reg.config.limits.max_header_bytes)
            ex.key = authenticate(reg, gw.keys.by_digest, ex.auth, ex.api_key)
            body = await ex.read_body(reg.config.limits.max_body_bytes)
            if reg.log_bodies:
                ex.body = body
            chat = endpoint is Endpoint.CHAT
            view = decode_view(chat_view if chat else model_view, body)
            if chat and view.messages is not None and len(view.messages) > reg.config.limits.max_messages:
                raise InvalidRequest(f"too many messages: {len(view.messages)} (the limit is "
                                     f"{reg.config.limits.max_messages}; [limits] max_messages)", param="messages")
            route = self._route(reg, ex, view.model)
            ex.stream = stream = chat and view.stream is True
            if ex.key is not None and ex.key.max_parallel_requests:
                ex.finishing = gw.parallel.releaser(await gw.parallel.acquire(ex.key, ex.key.max_parallel_requests))
            if pipe is not None:
                call = pipe.start(ex.key, route.model, "chat" if chat else "embeddings", stream, body)
                ex.extra = call.headers
                cached = await pipe.before(call)
                if cached is not None:
                    ex.cached = True
                    call = None
                    await ex.respond(200, cached, ex.base_headers())
                    return
            if not chat:
                data = await self._unary(ex, route, endpoint, model_body(body, view.model, route.model))
            elif stream:
                client_usage = view.stream_options is not None and view.stream_options.include_usage is True
                data = None
                await self._stream(ex, route, chat_body(body, view, route.model, True), strip_usage=not client_usage)
            else:
                data = await self._unary(ex, route, endpoint, chat_body(body, view, route.model, False))
            if call is not None and pipe is not None:
                served, call = call, None
                cost = reg.cost(ex.provider, ex.model, ex.prompt_tokens, ex.completion_tokens)
                await pipe.after(served, ex.provider, ex.prompt_tokens, ex.completion_tokens, cost,
                                 data if chat and not ex.error else None)
        except CrabError as e:
            if not ex.response_started:
                await ex.respond_error(e, extra=NO_RETRY if ex.dispatched else None)
        except ClientGone:
            ex.status = 499
        finally:
            if call is not None and pipe is not None:
                await pipe.failed(call)
            if ex.finishing is not None:  # not given back yet (no answer was sent: an error, a disconnect)
                await ex.finish_work()
            gw.observer.finish(ex, reg)

    @staticmethod
    def _route(reg: Registry, ex: Exchange, requested: str) -> Route:
        route = reg.route(requested)
        reg.check_allowed(ex.key, requested, route.model)
        ex.model = route.model
        return route

    async def _unary(self, ex: Exchange, route: Route, endpoint: Endpoint, body: bytes) -> bytes:
        model = route.model

        async def call(provider: Provider) -> tuple[bytes, Usage | None]:
            upstream = await provider.send(endpoint, body, model, False)
            data = await upstream.read()
            try:  # inside the attempt: a body that is not JSON is this deployment's failure
                return data, usage_view.decode(data).usage
            except (msgspec.DecodeError, RecursionError):
                raise UpstreamProtocolError(f"provider '{provider.name}' returned a response that is not valid JSON") from None

        ex.dispatched = True  # from here on, failures come from the upstream side
        gw = self.gw
        (data, usage), provider, _ = await dispatch(route.deployments, call, gw.rng, model=route.model,
                                                    breaker=gw.breaker, strategy=route.strategy, loads=gw.loads)
        ex.provider = provider.name
        if usage is not None:
            ex.prompt_tokens = usage.prompt_tokens or 0
            ex.completion_tokens = usage.completion_tokens or 0
        await ex.respond(200, data, ex.base_headers())
        return data

    async def _stream(self, ex: Exchange, route: Route, body: bytes, *, strip_usage: bool) -> None:
        model = route.model

        async def call(provider: Provider) -> tuple[Upstream, SSERelay, bytes]:
            upstream = await provider.send(Endpoint.CHAT, body, model, True)
            relay = SSERelay(strip_usage)
            return upstream, relay, await prime(upstream, relay)

        ex.dispatched = True
        gw = self.gw
        (upstream, relay, first), provider, _ = await dispatch(route.deployments, call, gw.rng, model=route.model,
                                                               breaker=gw.breaker, strategy=route.strategy,
                                                               loads=gw.loads, hold=True)
        ex.provider = provider.name
        headers = ex.base_headers(b"text/event-stream")
        headers.extend(SSE_HEADERS)
        await relay_stream(self.gw, ex, upstream, relay, headers, first=first)


def _describe_validation(text: str) -> str:
    message, _, where = text.partition(" - at `")
    field = where.rstrip("`").removeprefix("$").lstrip(".")
    if message.startswith("Object missing required field"):
        return message.replace("Object missing required field", "missing required field").replace("`", "'")
    return f"{message} at '{field}'" if field else message
