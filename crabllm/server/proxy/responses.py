"""POST /v1/responses: bytes passed to native Responses deployments, else translated to chat and back."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from crabllm.errors import (
    InvalidRequest, NotFound, UnsupportedOperation, UpstreamProtocolError,
)
from crabllm.extensions.call import principal_of
from crabllm.providers.base import Endpoint, Provider
from crabllm.providers.transport import untranslatable
from crabllm.registry import Route
from crabllm.routing.dispatch import dispatch
from crabllm.server.http import Exchange
from crabllm.server.proxy.preamble import Policy, Request, serve
from crabllm.server.proxy.messages import openai_upstream_body
from crabllm.server.proxy.views import model_body
from crabllm.server.proxy.relay import prime, relay_sse
from crabllm.server.proxy.responses_relay import ResponsesFromChatRelay, ResponsesPassRelay
from crabllm.server.state.responses import StoredResponse
from crabllm.server.runtime import Gateway
from crabllm.translate.common import as_int
from crabllm.translate.responses_in import input_items, native_items, responses_to_chat
from crabllm.translate.responses_out import chat_to_response, new_response_id
from crabllm.types.responses import ResponsesUsage, ResponsesView, responses_view


class _AnswerView(msgspec.Struct):
    """What is read of a native non-stream answer: its id (for the stored copy) and usage."""

    id: str = ""
    usage: ResponsesUsage | None = None


class _CreateView(ResponsesView):
    """The request view plus the input items, counted against [limits] max_messages (never decoded)."""

    input: list[msgspec.Raw] | str | None = None


_create_view = msgspec.json.Decoder(_CreateView)
_answer_view = msgspec.json.Decoder(_AnswerView)
_chat_answer = msgspec.json.Decoder(dict[str, Any])
_enc = msgspec.json.Encoder()
_CREATE = Policy(view=_create_view)
_COUNT = Policy(view=responses_view)


def is_native(provider: Provider) -> bool:
    """True when the deployment speaks /v1/responses itself (openai, azure, or `responses = true`)."""
    return provider.supports(Endpoint.RESPONSES)


class _Create:
    """One /v1/responses request: the raw bytes, and the full decode and translations made at most once."""

    def __init__(self, gw: Gateway, body: bytes, view: ResponsesView, route: Route, prev: StoredResponse | None,
                 stream: bool) -> None:
        self.gw = gw
        self.body = body
        self.view = view
        self.route = route
        self.prev = prev
        self.stream = stream
        self.response_id = ""
        self.created_at = int(time.time())
        self._req: dict[str, Any] | None = None
        self._history: list[dict[str, Any]] | None = None
        self._chat: tuple[bytes, bytes] | None = None

    def new_id(self) -> str:
        """The id of a translated response (one per request, whichever attempt serves it)."""
        if not self.response_id:
            self.response_id = new_response_id()
        return self.response_id

    def req(self) -> dict[str, Any]:
        if self._req is None:
            try:
                data = msgspec.json.decode(self.body)
            except (msgspec.DecodeError, RecursionError) as e:
                raise InvalidRequest(f"request body is not valid JSON: {e}") from None
            if not isinstance(data, dict):
                raise InvalidRequest("request body must be a JSON object")
            self._req = data
        return self._req

    async def history(self) -> list[dict[str, Any]] | None:
        if self.prev is None:
            return None
        if self._history is None:
            self._history = await self.gw.responses.history(self.prev)
        return self._history

    def native_body(self, provider: Provider) -> bytes | None:
        """The bytes for a native deployment; None when it must get the conversation spelled out."""
        if self.prev is not None and provider.name != self.prev.provider:
            return None
        return model_body(self.body, self.view.model, self.route.model)

    async def expanded_body(self) -> bytes:
        """Fallback to a native deployment that never saw `previous_response_id`: the stored history as input."""
        req = dict(self.req())
        req.pop("previous_response_id", None)
        req["model"] = self.route.model
        # Only what OpenAI accepts back: no ids of ours on non-assistant items, no reasoning state it cannot read.
        req["input"] = native_items([*(await self.history() or []), *input_items(req)])
        return _enc.encode(req)

    async def chat_bodies(self) -> tuple[bytes, bytes]:
        """(for OpenAI-wire upstreams, for translating providers) chat request bytes."""
        if self._chat is None:
            chat = responses_to_chat(self.req(), self.route.model, history=await self.history(), stream=self.stream)
            chat["model"] = self.route.model
            if self.stream:
                chat["stream"] = True
                chat["stream_options"] = {"include_usage": True}
            else:
                chat.pop("stream", None)
            self._chat = (openai_upstream_body(chat), _enc.encode(chat))
        return self._chat


class Responses:
    """ASGI handlers for POST /v1/responses and /v1/responses/input_tokens, bound to one worker's Gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    async def create(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await serve(self.gw, scope, receive, send, _CREATE, self._create)

    async def _create(self, r: Request, body: bytes, view: _CreateView) -> None:
        limit = r.reg.config.limits.max_messages
        if isinstance(view.input, list) and len(view.input) > limit:
            raise InvalidRequest(f"too many input items: {len(view.input)} (the limit is {limit}; [limits] "
                                 "max_messages)", param="input")
        if view.background:
            raise InvalidRequest("background responses are not supported by this gateway; omit 'background' "
                                 "or set it to false", param="background")
        route = r.route(view.model)
        ex = r.ex
        ex.stream = stream = view.stream is True
        prev = await self._previous(ex, route, view.previous_response_id)
        if r.gated and await r.admit(route.model, "responses", stream, body):
            return
        data = await self._serve(ex, _Create(self.gw, body, view, route, prev, stream))
        if r.call is not None:
            await r.served(data)

    async def _previous(self, ex: Exchange, route: Route, response_id: str | None) -> StoredResponse | None:
        if not response_id:
            return None
        prev = await self.gw.responses.get(response_id, principal_of(ex.key))
        if prev is None:
            # Native deployments may know it (stored upstream with no copy here); translated ones cannot.
            if not all(is_native(p) for p in route.deployments):
                raise NotFound(f"previous response '{response_id}' not found", param="previous_response_id")
        return prev

    async def _serve(self, ex: Exchange, r: _Create) -> bytes | None:
        """Dispatch, answer the client, then schedule the stored copy. Returns a cacheable body (non-stream)."""
        stream = r.stream

        async def attempt(provider: Provider) -> Any:
            native = is_native(provider)
            if native:
                body = r.native_body(provider)
                if body is None:
                    body = await r.expanded_body()
                upstream = await provider.send(Endpoint.RESPONSES, body, r.route.model, stream)
            else:
                plain, translated = await r.chat_bodies()
                upstream = await provider.send(Endpoint.CHAT, plain if provider.passthrough else translated,
                                               r.route.model, stream)
            if stream:
                relay: Any = ResponsesPassRelay() if native else ResponsesFromChatRelay(
                    r.req(), response_id=r.new_id(), created_at=r.created_at, model=r.view.model)
                return upstream, relay, await prime(upstream, relay)
            # Read inside the attempt: a body that is not JSON is this deployment's failure (another may serve).
            data = await upstream.read()
            try:
                return data, (_answer_view.decode(data) if native else _chat_answer.decode(data))
            except (msgspec.DecodeError, RecursionError):
                raise UpstreamProtocolError(f"provider '{provider.name}' returned a response that is not a JSON "
                                            "object") from None

        ex.dispatched = True
        result, provider = await self._dispatch(r, attempt)
        ex.provider = provider.name
        store = r.view.store is not False
        if stream:
            relay = result[1]
            await relay_sse(self.gw, ex, result)
            final = relay.response
            if store and final is not None:
                if isinstance(final, bytes):
                    self._save(ex, r, provider, relay.response_id, final)
                else:
                    self._save(ex, r, provider, r.response_id, _enc.encode(final))
            return None
        data, answer = result
        if isinstance(answer, _AnswerView):
            r.response_id = answer.id
            usage = (answer.usage.input_tokens or 0, answer.usage.output_tokens or 0) if answer.usage else None
        else:
            data, usage = self._translate_back(r, answer)
        if usage is not None:
            ex.prompt_tokens, ex.completion_tokens = usage
        await ex.respond(200, data, ex.base_headers())
        if store:
            self._save(ex, r, provider, r.response_id, data)
        return data

    async def _dispatch(self, r: _Create, attempt: Any) -> tuple[Any, Provider]:
        """Routing as chat, except that a follow-up goes first to the deployment that served its predecessor."""
        gw = self.gw
        deployments = r.route.deployments
        origin = next((p for p in deployments if r.prev is not None and p.name == r.prev.provider), None)
        result, provider, _ = await dispatch(deployments, attempt, gw.rng, model=r.route.model, breaker=gw.breaker,
                                             strategy=r.route.strategy, loads=gw.loads, hold=r.stream, first=origin)
        return result, provider

    def _translate_back(self, r: _Create, chat: dict[str, Any]) -> tuple[bytes, tuple[int, int] | None]:
        try:
            out = chat_to_response(chat, r.req(), response_id=r.new_id(), created_at=r.created_at,
                                   model=r.view.model)
        except (TypeError, AttributeError, KeyError, IndexError, ValueError) as e:
            raise untranslatable(e) from None
        usage = chat.get("usage")
        tokens = (as_int(usage.get("prompt_tokens")), as_int(usage.get("completion_tokens"))) \
            if isinstance(usage, dict) else None
        return _enc.encode(out), tokens

    def _save(self, ex: Exchange, r: _Create, provider: Provider, response_id: str, raw: bytes) -> None:
        def items() -> list[Any]:
            req = r.req()
            try:
                return input_items(req)
            except InvalidRequest:
                # Item types only a native deployment knows: keep them as sent (they were accepted upstream).
                raw = req.get("input")
                return [item for item in raw if isinstance(item, dict)] if isinstance(raw, list) else []

        self.gw.responses.save(self.gw.holder.current.config.responses, response_id=response_id,
                               owner=principal_of(ex.key), provider=provider.name, model=r.route.model, response=raw,
                               input_items=items, previous_response_id=r.view.previous_response_id)

    async def input_tokens(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Counted by a native deployment (pass-through); a clear 400 when the model has none."""
        await serve(self.gw, scope, receive, send, _COUNT, self._input_tokens)

    async def _input_tokens(self, r: Request, body: bytes, view: ResponsesView) -> None:
        route = r.route(view.model)
        deployments = tuple(p for p in route.deployments if p.supports(Endpoint.RESPONSES_INPUT_TOKENS))
        if not deployments:
            kinds = ", ".join(sorted({p.kind for p in route.deployments}))
            raise UnsupportedOperation(f"/v1/responses/input_tokens needs a deployment that speaks the Responses "
                                       f"API natively; model '{route.model}' is served by kind {kinds}")
        payload = model_body(body, view.model, route.model)

        async def attempt(provider: Provider) -> bytes:
            upstream = await provider.send(Endpoint.RESPONSES_INPUT_TOKENS, payload, route.model, False)
            return await upstream.read()

        ex = r.ex
        ex.dispatched = True
        gw = self.gw
        data, provider, _ = await dispatch(deployments, attempt, gw.rng, model=route.model, breaker=gw.breaker,
                                           strategy=route.strategy, loads=gw.loads)
        ex.provider = provider.name
        await ex.respond(200, data, ex.base_headers())
