"""POST /v1/messages (Anthropic-compatible inbound): bytes passed to Anthropic upstreams, else translated."""

from __future__ import annotations

from typing import Any

import msgspec

from crabllm.errors import (
    CrabError, InvalidRequest, MethodNotAllowed, UnsupportedOperation, UpstreamError, UpstreamProtocolError,
)
from crabllm.extensions.call import Call
from crabllm.providers.anthropic import AnthropicProvider, with_beta
from crabllm.providers.base import Endpoint, Provider
from crabllm.providers.transport import untranslatable
from crabllm.registry import Registry, Route
from crabllm.routing.dispatch import dispatch
from crabllm.server.proxy.anthropic_relay import AnthropicFromOpenAIRelay, AnthropicPassRelay, anthropic_usage_tokens
from crabllm.server.auth import authenticate
from crabllm.server.http import ClientGone, Exchange
from crabllm.server.proxy.chat import NO_RETRY, SSE_HEADERS, decode_view, model_body
from crabllm.server.proxy.relay import prime, relay_stream
from crabllm.server.runtime import Gateway
from crabllm.translate.anthropic_in import anthropic_request_to_openai, openai_response_to_anthropic
from crabllm.translate.common import as_int
from crabllm.types.chat import strip_private

#: Message keys the /v1/messages translation invents for Anthropic round trips; no OpenAI API knows them.
_INTERNAL_MESSAGE_KEYS = ("thinking_blocks", "reasoning_signature")


class MessagesView(msgspec.Struct):
    model: str
    stream: bool | None = None


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None


class _UsageView(msgspec.Struct):
    usage: _Usage | None = None


_view = msgspec.json.Decoder(MessagesView)
_usage_view = msgspec.json.Decoder(_UsageView)
_enc = msgspec.json.Encoder()


def openai_upstream_body(req: dict[str, Any]) -> bytes:
    """The internal request as an OpenAI-wire upstream may see it: no gateway-private fields."""
    out = strip_private(req)
    messages = out.get("messages")
    if isinstance(messages, list) and any(isinstance(m, dict) and any(k in m for k in _INTERNAL_MESSAGE_KEYS)
                                          for m in messages):
        out = {**out, "messages": [{k: v for k, v in m.items() if k not in _INTERNAL_MESSAGE_KEYS}
                                   if isinstance(m, dict) else m for m in messages]}
    return _enc.encode(out)


def is_anthropic(provider: Provider) -> bool:
    return isinstance(provider, AnthropicProvider)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    values = [v.decode("latin-1") for k, v in scope["headers"] if k == name]
    return ",".join(values) if values else None


class Messages:
    """ASGI handlers for /v1/messages and /v1/messages/count_tokens, bound to one worker's Gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    async def messages(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self._handle(scope, receive, send, count=False)

    async def count_tokens(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self._handle(scope, receive, send, count=True)

    async def _handle(self, scope: dict[str, Any], receive: Any, send: Any, *, count: bool) -> None:
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
            view = decode_view(_view, body)
            route = _route(reg, ex, view.model)
            beta = _header(scope, b"anthropic-beta")
            if count:
                await self._count_tokens(ex, route, model_body(body, view.model, route.model), beta)
                return
            ex.stream = stream = view.stream is True
            if ex.key is not None and ex.key.max_parallel_requests:
                ex.finishing = gw.parallel.releaser(await gw.parallel.acquire(ex.key, ex.key.max_parallel_requests))
            if pipe is not None:
                call = pipe.start(ex.key, route.model, "messages", stream, body)
                ex.extra = call.headers
                cached = await pipe.before(call)
                if cached is not None:
                    ex.cached = True
                    call = None
                    await ex.respond(200, cached, ex.base_headers())
                    return
            if all(is_anthropic(p) for p in route.deployments):
                data = await self._pass(ex, route, model_body(body, view.model, route.model), stream, beta)
            else:
                data = await self._translated(ex, route, body, view.model, stream, beta)
            if call is not None and pipe is not None:
                served, call = call, None
                cost = reg.cost(ex.provider, ex.model, ex.prompt_tokens, ex.completion_tokens)
                await pipe.after(served, ex.provider, ex.prompt_tokens, ex.completion_tokens, cost,
                                 data if not ex.error else None)
        except UpstreamError as e:
            if not ex.response_started:
                await _respond_upstream_error(ex, e)
        except CrabError as e:
            if not ex.response_started:
                await ex.respond_error(e, anthropic=True, extra=NO_RETRY if ex.dispatched else None)
        except ClientGone:
            ex.status = 499
        finally:
            if call is not None and pipe is not None:
                await pipe.failed(call)
            if ex.finishing is not None:  # not given back yet (no answer was sent: an error, a disconnect)
                await ex.finish_work()
            gw.observer.finish(ex, reg)

    async def _pass(self, ex: Exchange, route: Route, body: bytes, stream: bool, beta: str | None) -> bytes | None:
        """Anthropic in, Anthropic out: the bytes go through; only usage is read on the way.

        Returns the response body of a non-streaming call (what a cache may keep), else None."""
        version = ex.anthropic_version.decode("latin-1") if ex.anthropic_version else None

        async def call(provider: Provider) -> Any:
            assert isinstance(provider, AnthropicProvider)
            upstream = await provider.send_native("messages", body, stream, version=version, beta=beta)
            if stream:
                relay = AnthropicPassRelay()
                return upstream, relay, await prime(upstream, relay)
            data = await upstream.read()
            try:  # inside the attempt: a body that is not JSON is this deployment's failure
                return data, _usage_view.decode(data).usage
            except (msgspec.DecodeError, RecursionError):
                raise UpstreamProtocolError(f"provider '{provider.name}' returned a response that is not valid JSON") from None

        ex.dispatched = True
        gw = self.gw
        answer, provider, _ = await dispatch(route.deployments, call, gw.rng, model=route.model, breaker=gw.breaker,
                                             strategy=route.strategy, loads=gw.loads, hold=stream)
        ex.provider = provider.name
        if stream:
            upstream, relay, first = answer
            headers = ex.base_headers(b"text/event-stream")
            headers.extend(SSE_HEADERS)
            await relay_stream(self.gw, ex, upstream, relay, headers, first=first)
            return None
        result, usage = answer
        if usage is not None:
            ex.prompt_tokens, ex.completion_tokens = anthropic_usage_tokens(msgspec.structs.asdict(usage))
        await ex.respond(200, result, ex.base_headers())
        return result

    async def _translated(self, ex: Exchange, route: Route, body: bytes, requested: str, stream: bool,
                          beta: str | None) -> bytes | None:
        """Anthropic in → the OpenAI shape → any upstream → back to Anthropic."""
        try:
            raw = msgspec.json.decode(body)
        except (msgspec.DecodeError, RecursionError) as e:
            raise InvalidRequest(f"request body is not valid JSON: {e}") from None
        req = anthropic_request_to_openai(raw)
        req["model"] = route.model
        if stream:
            req["stream"] = True
            req["stream_options"] = {"include_usage": True}
        else:
            req.pop("stream", None)
        try:
            translated = _enc.encode(with_beta(req, beta))
            plain = openai_upstream_body(req)
        except RecursionError:  # the translation nests client values a few levels deeper
            raise InvalidRequest("request body is nested too deeply to translate") from None
        model = route.model

        async def call(provider: Provider) -> Any:
            upstream = await provider.send(Endpoint.CHAT, plain if provider.passthrough else translated, model, stream)
            if stream:
                relay = AnthropicFromOpenAIRelay(requested)
                return upstream, relay, await prime(upstream, relay)
            return await upstream.read()

        ex.dispatched = True
        gw = self.gw
        result, provider, _ = await dispatch(route.deployments, call, gw.rng, model=route.model, breaker=gw.breaker,
                                             strategy=route.strategy, loads=gw.loads, hold=stream)
        ex.provider = provider.name
        if stream:
            upstream, relay, first = result
            headers = ex.base_headers(b"text/event-stream")
            headers.extend(SSE_HEADERS)
            await relay_stream(self.gw, ex, upstream, relay, headers, first=first)
            return None
        try:
            resp = msgspec.json.decode(result)
        except (msgspec.DecodeError, RecursionError):
            raise UpstreamProtocolError(f"provider '{provider.name}' returned a response that is not valid JSON") from None
        if not isinstance(resp, dict):
            raise UpstreamProtocolError(f"provider '{provider.name}' returned a response that is not a JSON object")
        try:
            out = openai_response_to_anthropic(resp, requested)
        except (TypeError, AttributeError, KeyError, IndexError, ValueError) as e:
            raise untranslatable(e) from None
        usage = resp.get("usage")
        if isinstance(usage, dict):  # recorded only once the answer is known to be deliverable
            ex.prompt_tokens = as_int(usage.get("prompt_tokens"))
            ex.completion_tokens = as_int(usage.get("completion_tokens"))
        data = _enc.encode(out)
        await ex.respond(200, data, ex.base_headers())
        return data

    async def _count_tokens(self, ex: Exchange, route: Route, body: bytes, beta: str | None) -> None:
        deployments = tuple(p for p in route.deployments if is_anthropic(p))
        if not deployments:
            # Claude Code and langchain-anthropic count before they send; a 400 here breaks them on any
            # translated model, so answer a local estimate (no upstream of another kind can count).
            from crabllm.translate.anthropic_count import estimate_input_tokens
            try:
                raw = msgspec.json.decode(body)
            except (msgspec.DecodeError, RecursionError) as e:
                raise InvalidRequest(f"request body is not valid JSON: {e}") from None
            await ex.respond(200, _enc.encode({"input_tokens": estimate_input_tokens(raw)}), ex.base_headers())
            return
        version = ex.anthropic_version.decode("latin-1") if ex.anthropic_version else None

        async def call(provider: Provider) -> bytes:
            assert isinstance(provider, AnthropicProvider)
            upstream = await provider.send_native("messages/count_tokens", body, False, version=version, beta=beta)
            return await upstream.read()

        ex.dispatched = True
        data, provider, _ = await dispatch(deployments, call, self.gw.rng, model=route.model, breaker=self.gw.breaker,
                                           strategy=route.strategy, loads=self.gw.loads)
        ex.provider = provider.name
        await ex.respond(200, data, ex.base_headers())


def _route(reg: Registry, ex: Exchange, requested: str) -> Route:
    route = reg.route(requested)
    reg.check_allowed(ex.key, requested, route.model)
    ex.model = route.model
    return route


async def _respond_upstream_error(ex: Exchange, error: UpstreamError) -> None:
    """An Anthropic upstream's own error envelope goes back verbatim; anything else is wrapped."""
    if _is_anthropic_envelope(error.body):
        ex.error = error.message
        headers = ex.base_headers()
        for name, value in error.headers().items():
            headers.append((name.encode(), value.encode()))
        headers.extend(NO_RETRY)
        await ex.respond(error.status, error.body, headers)
    else:
        await ex.respond_error(error, anthropic=True, extra=NO_RETRY)


def _is_anthropic_envelope(body: bytes) -> bool:
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("type") == "error" and isinstance(data.get("error"), dict)
