"""Litestar app factory: routes, error envelopes, and the lifespan that builds per-worker state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, Request, Response, asgi
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException

from pathlib import Path

from crabllm.config.loader import load_config
from crabllm.config.schema import Config
from crabllm.config.secret import Secret, enc_hook
from crabllm.errors import CrabError, InvalidRequest, MethodNotAllowed, NotFound, ServerError
from crabllm.server.admin.api import admin_router
from crabllm.server.admin.extensions import EXTENSION_HANDLERS
from crabllm.server.admin.observe import OBS_HANDLERS, metrics
from crabllm.server.admin.providers import PROVIDER_HANDLERS
from crabllm.server.proxy.fastpath import FastPath, asgi_prefixes, asgi_routes
from crabllm.server.proxy.media import Media
from crabllm.server.proxy.messages import Messages
from crabllm.server.proxy.meta import Meta
from crabllm.server.docs.openapi import openapi_handlers
from crabllm.server.proxy.chat import Proxy
from crabllm.server.proxy.responses import Responses
from crabllm.server.proxy.responses_state import ResponsesState
from crabllm.server.runtime import Gateway, new_session
from crabllm.storage.factory import open_storage

log = logging.getLogger("crabllm.server")


def _envelope(error: CrabError) -> Response[bytes]:
    return Response(error.openai_body(), status_code=error.status, media_type="application/json",
                    headers=error.headers())


def _on_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    if isinstance(exc, NotFoundException):
        return _envelope(NotFound(f"no route for {request.method} {request.url.path}"))
    if isinstance(exc, MethodNotAllowedException):
        return _envelope(MethodNotAllowed(f"method {request.method} is not allowed on {request.url.path}"))
    if exc.status_code < 500:
        error = InvalidRequest(_detail(exc))
        error.status = exc.status_code
        return _envelope(error)
    return _on_exception(request, exc)


def _detail(exc: HTTPException) -> str:
    """Litestar's message plus the field-level reasons it keeps in `extra`."""
    reasons = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict) and item.get("message"):
            key = item.get("key")
            reasons.append(f"{key}: {item['message']}" if key else str(item["message"]))
    return f"{exc.detail}: {'; '.join(reasons)}" if reasons else str(exc.detail)


def _on_crab_error(request: Request[Any, Any, Any], exc: CrabError) -> Response[bytes]:
    return _envelope(exc)


def _on_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _envelope(ServerError("internal error"))


def create_app(config_path: str, config: Config | None = None, *, seed: int | None = None) -> Litestar:
    """Build the ASGI app; the config is (re)loaded from `config_path` when not given."""
    state: dict[str, Gateway] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        cfg = config if config is not None else load_config(config_path)
        storage = await open_storage(cfg.storage.kind, cfg.storage.path, base_dir=Path(config_path).resolve().parent)
        session = new_session()
        gateway = Gateway(cfg, session, storage, config_path=config_path, seed=seed)
        state["gw"] = gateway
        app.state.gateway = gateway
        app.state.loop = asyncio.get_running_loop()
        try:
            gateway.audit.start()
            gateway.breaker.start()
            gateway.parallel.start()
            gateway.load_gauges.start()
            await gateway.keys.start()
            gateway.streams.start()
            gateway.reloader.start()
            yield
        finally:
            await gateway.reloader.stop()
            await gateway.keys.stop()
            await gateway.streams.stop()
            await gateway.responses.stop()
            await gateway.audit.stop()
            await gateway.breaker.stop()
            await gateway.telemetry.stop()  # flush the spans still queued
            await gateway.parallel.stop()
            await gateway.load_gauges.stop()
            await session.close()
            await storage.close()

    handlers = [*_handlers(state), admin_router([*PROVIDER_HANDLERS, *OBS_HANDLERS, *EXTENSION_HANDLERS]), metrics,
                *openapi_handlers()]
    app = Litestar(
        route_handlers=handlers,
        lifespan=[lifespan],
        exception_handlers={HTTPException: _on_http_exception, CrabError: _on_crab_error, Exception: _on_exception},
        openapi_config=None,
        logging_config=None,
        # A credential that ever reaches a response is written masked, never as its value.
        type_encoders={Secret: enc_hook},
        debug=False,
    )
    return FastPath(app, asgi_routes(handlers), asgi_prefixes(handlers))  # type: ignore[return-value]


def _handlers(state: dict[str, Gateway]) -> list[Any]:
    """ASGI route handlers: raw scope/receive/send, so the hot path skips request parsing layers."""
    cache: dict[str, Any] = {}

    def target(kind: str) -> Any:
        obj = cache.get(kind)
        gw = state["gw"]
        if obj is None or obj.gw is not gw:
            obj = cache[kind] = _TARGETS[kind](gw)
        return obj

    @asgi("/v1/chat/completions", copy_scope=False)
    async def chat(scope: Any, receive: Any, send: Any) -> None:
        await target("proxy").chat(scope, receive, send)

    @asgi("/v1/embeddings", copy_scope=False)
    async def embeddings(scope: Any, receive: Any, send: Any) -> None:
        await target("proxy").embeddings(scope, receive, send)

    @asgi("/v1/models", copy_scope=False)
    async def models(scope: Any, receive: Any, send: Any) -> None:
        await target("meta").models(scope, receive, send)

    @asgi("/v1/usage", copy_scope=False)
    async def usage(scope: Any, receive: Any, send: Any) -> None:
        await target("meta").usage(scope, receive, send)

    @asgi("/health", copy_scope=False)
    async def health(scope: Any, receive: Any, send: Any) -> None:
        await target("meta").health(scope, receive, send)

    @asgi("/ready", copy_scope=False)
    async def ready(scope: Any, receive: Any, send: Any) -> None:
        await target("meta").ready(scope, receive, send)

    @asgi("/v1/messages", copy_scope=False)
    async def messages(scope: Any, receive: Any, send: Any) -> None:
        await target("messages").messages(scope, receive, send)

    @asgi("/v1/messages/count_tokens", copy_scope=False)
    async def count_tokens(scope: Any, receive: Any, send: Any) -> None:
        await target("messages").count_tokens(scope, receive, send)

    @asgi("/v1/images/generations", copy_scope=False)
    async def images(scope: Any, receive: Any, send: Any) -> None:
        await target("media").images(scope, receive, send)

    @asgi("/v1/audio/speech", copy_scope=False)
    async def speech(scope: Any, receive: Any, send: Any) -> None:
        await target("media").speech(scope, receive, send)

    @asgi("/v1/audio/transcriptions", copy_scope=False)
    async def transcriptions(scope: Any, receive: Any, send: Any) -> None:
        await target("media").transcriptions(scope, receive, send)

    @asgi("/v1/responses", copy_scope=False)
    async def responses(scope: Any, receive: Any, send: Any) -> None:
        await target("responses").create(scope, receive, send)

    @asgi("/v1/responses/input_tokens", copy_scope=False)
    async def responses_input_tokens(scope: Any, receive: Any, send: Any) -> None:
        await target("responses").input_tokens(scope, receive, send)

    # Paths with an id: one handler parses them; served through the fast path's prefix table (see asgi_prefixes).
    @asgi(path=["/v1/responses/{response_id:str}", "/v1/responses/{response_id:str}/input_items",
                "/v1/responses/{response_id:str}/cancel"], copy_scope=False)
    async def response_by_id(scope: Any, receive: Any, send: Any) -> None:
        await target("responses_state").by_id(scope, receive, send)

    return [chat, embeddings, models, usage, health, ready, messages, count_tokens, images, speech, transcriptions,
            responses, responses_input_tokens, response_by_id]


_TARGETS: dict[str, Any] = {"proxy": Proxy, "meta": Meta, "messages": Messages, "media": Media,
                            "responses": Responses, "responses_state": ResponsesState}
