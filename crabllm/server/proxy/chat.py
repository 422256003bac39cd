"""Model-routed OpenAI endpoints: chat completions (plain and SSE) and embeddings, bytes passed through."""

from __future__ import annotations

from typing import Any

import msgspec

from crabllm.errors import InvalidRequest, UpstreamProtocolError
from crabllm.providers.base import Endpoint, Provider, Upstream
from crabllm.registry import Route
from crabllm.routing.dispatch import dispatch
from crabllm.server.http import Exchange
from crabllm.server.proxy.preamble import Policy, Request, serve
from crabllm.server.proxy.relay import prime, relay_sse
from crabllm.server.proxy.stream import SSERelay
from crabllm.server.proxy.views import model_body
from crabllm.server.runtime import Gateway
from crabllm.types.openai import ChatView, ModelView, Usage, chat_view, model_view, usage_view

_INJECT_USAGE = b'"stream_options":{"include_usage":true},'
_CHAT = Policy(view=chat_view)
_EMBEDDINGS = Policy(view=model_view)


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


class Proxy:
    """ASGI handlers bound to one worker's Gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    async def chat(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await serve(self.gw, scope, receive, send, _CHAT, self._chat)

    async def embeddings(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await serve(self.gw, scope, receive, send, _EMBEDDINGS, self._embeddings)

    async def _chat(self, r: Request, body: bytes, view: ChatView) -> None:
        limit = r.reg.config.limits.max_messages
        if view.messages is not None and len(view.messages) > limit:
            raise InvalidRequest(f"too many messages: {len(view.messages)} (the limit is {limit}; [limits] "
                                 "max_messages)", param="messages")
        route = r.route(view.model)
        ex = r.ex
        ex.stream = stream = view.stream is True
        if r.gated and await r.admit(route.model, "chat", stream, body):
            return
        if stream:
            client_usage = view.stream_options is not None and view.stream_options.include_usage is True
            await self._stream(ex, route, chat_body(body, view, route.model, True), strip_usage=not client_usage)
            if r.call is not None:
                await r.served(None)
        else:
            data = await self._unary(ex, route, Endpoint.CHAT, chat_body(body, view, route.model, False))
            if r.call is not None:
                await r.served(data)

    async def _embeddings(self, r: Request, body: bytes, view: ModelView) -> None:
        route = r.route(view.model)
        if r.gated and await r.admit(route.model, "embeddings", False, body):
            return
        await self._unary(r.ex, route, Endpoint.EMBEDDINGS, model_body(body, view.model, route.model))
        if r.call is not None:
            await r.served(None)  # embeddings are never cached

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
        primed, provider, _ = await dispatch(route.deployments, call, gw.rng, model=route.model,
                                                               breaker=gw.breaker, strategy=route.strategy,
                                                               loads=gw.loads, hold=True)
        ex.provider = provider.name
        await relay_sse(gw, ex, primed)
