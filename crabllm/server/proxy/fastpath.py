"""Exact-path dispatch of the raw ASGI proxy routes in front of Litestar (its router costs ~10% per request)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Litestar

from crabllm.errors import ServerError
from crabllm.server.http import send_json

log = logging.getLogger("crabllm.server")
ASGIHandler = Callable[[Any, Any, Any], Awaitable[None]]


class FastPath:
    """Requests for the raw ASGI routes skip Litestar's routing; everything else goes to Litestar."""

    def __init__(self, app: Litestar, routes: dict[str, ASGIHandler],
                 prefixes: dict[str, ASGIHandler] | None = None) -> None:
        self.litestar = app
        self.routes = routes
        self.prefixes = tuple((prefixes or {}).items())

    def begin_shutdown(self) -> None:
        """Called from the signal handler: end the admin event feeds; requests and streams drain."""
        gateway = getattr(self.litestar.state, "gateway", None)
        loop = getattr(self.litestar.state, "loop", None)
        if gateway is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(gateway.observer.events.close)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.litestar, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            handler = self.routes.get(path)
            if handler is None and self.prefixes:
                handler = next((h for prefix, h in self.prefixes if path.startswith(prefix)), None)
            if handler is not None:
                try:
                    await handler(scope, receive, send)
                except Exception:  # never a stack trace to the client
                    log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                    try:
                        await send_json(send, 500, ServerError("internal error").openai_body())
                    except Exception:  # the response had already started; the connection is dropped
                        pass
                return
        await self.litestar(scope, receive, send)


def asgi_routes(handlers: list[Any]) -> dict[str, ASGIHandler]:
    """Map every plain path of Litestar `@asgi` handlers to its function."""
    routes: dict[str, ASGIHandler] = {}
    for handler in handlers:
        if type(handler).__name__ == "ASGIRouteHandler" and not getattr(handler, "is_mount", False):
            for path in handler.paths:
                if "{" not in path:
                    routes[path] = handler.fn
    return routes


def asgi_prefixes(handlers: list[Any]) -> dict[str, ASGIHandler]:
    """Map the static head of every parametrised path of `@asgi` handlers (e.g. "/v1/responses/") to its function.

    Litestar's router raises KeyError for an ASGI route with path parameters, so these are served
    here; they stay registered in Litestar so its route table (and the OpenAPI check) lists them.
    """
    prefixes: dict[str, ASGIHandler] = {}
    for handler in handlers:
        if type(handler).__name__ == "ASGIRouteHandler" and not getattr(handler, "is_mount", False):
            for path in handler.paths:
                if "{" in path:
                    prefixes.setdefault(path[: path.index("{")], handler.fn)
    return prefixes
