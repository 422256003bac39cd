"""POST /v1/messages (Anthropic-compatible inbound): bytes passed to Anthropic upstreams, else translated."""

from __future__ import annotations

from typing import Any

import msgspec

from crabllm.errors import (
    InvalidRequest, UpstreamError, UpstreamProtocolError,
)
from crabllm.providers.anthropic import AnthropicProvider, with_beta
from crabllm.providers.base import Endpoint, Provider
from crabllm.providers.transport import untranslatable
from crabllm.registry import Route
from crabllm.routing.dispatch import dispatch
from crabllm.server.proxy.anthropic_relay import AnthropicFromOpenAIRelay, AnthropicPassRelay, anthropic_usage_tokens
from crabllm.server.http import Exchange
from crabllm.server.proxy.preamble import Policy, Request, serve
from crabllm.server.proxy.views import NO_RETRY, model_body
from crabllm.server.proxy.relay import prime, relay_sse
from crabllm.server.runtime import Gateway
from crabllm.translate.anthropic_count import estimate_input_tokens
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
        await serve(self.gw, scope, receive, send, ANTHROPIC, self._messages)

    async def count_tokens(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await serve(self.gw, scope, receive, send, ANTHROPIC, self._count)

    async def _messages(self, r: Request, body: bytes, view: MessagesView) -> None:
        route = r.route(view.model)
        ex = r.ex
        beta = _header(ex.scope, b"anthropic-beta")
        ex.stream = stream = view.stream is True
        if r.gated and await r.admit(route.model, "messages", stream, body):
            return
        if all(is_anthropic(p) for p in route.deployments):
            data = await self._pass(ex, route, model_body(body, view.model, route.model), stream, beta)
        else:
            data = await self._translated(ex, route, body, view.model, stream, beta)
        if r.call is not None:
            await r.served(data)

    async def _count(self, r: Request, body: bytes, view: MessagesView) -> None:
        route = r.route(view.model)
        await self._count_tokens(r.ex, route, model_body(body, view.model, route.model),
                                 _header(r.ex.scope, b"anthropic-beta"))

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
            await relay_sse(gw, ex, answer)
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
            await relay_sse(gw, ex, result)
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


#: /v1/messages answers in the Anthropic envelope; an Anthropic upstream's own error goes back verbatim.
ANTHROPIC = Policy(view=_view, anthropic=True, upstream_error=_respond_upstream_error)
