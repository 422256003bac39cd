"""Observability routes: rolling stats and the live event feed (admin), and Prometheus /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, Response, get
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromQuery
from litestar.response import Stream

from crabllm.server.admin.api import admin_guard, config_status, gateway_of
from crabllm.server.observe.metrics import CONTENT_TYPE

KEEPALIVE_SECONDS = 15.0


@get("/stats", summary="Rolling traffic statistics over the last `window` seconds (max 900)")
async def stats(request: Request[Any, Any, Any], window: FromQuery[int] = 60) -> dict[str, Any]:
    gw = gateway_of(request)
    out = gw.observer.stats.snapshot(window)
    out["inflight"] = gw.observer.inflight
    out["streams"] = len(gw.streams.open)
    status = config_status(gw)
    out["config"] = {"generation": status.generation, "last_reload": status.last_reload}
    return out


@get("/events", summary="Server-sent events: one `request` event per finished request, plus `reload` events")
async def events(request: Request[Any, Any, Any]) -> Stream:
    gw = gateway_of(request)
    sub = gw.observer.events.subscribe()

    async def feed() -> AsyncIterator[bytes]:
        try:
            yield b": connected\n\n"
            while True:
                try:
                    frame = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield b":\n\n"
                    continue
                if frame is None:
                    return
                yield frame
        finally:
            gw.observer.events.unsubscribe(sub)

    return Stream(feed(), media_type="text/event-stream", headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


def metrics_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    if not gateway_of(connection).holder.current.config.metrics_public:
        admin_guard(connection, handler)


@get("/metrics", guards=[metrics_guard], summary="Prometheus metrics (admin token unless metrics_public = true)",
     media_type=CONTENT_TYPE, tags=["observability"])
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    gw = gateway_of(request)
    gw.observer.metrics.publish_loads(gw.loads)  # this worker's loads as of now; the others' as of their last second
    return Response(gw.observer.metrics.render(), media_type=CONTENT_TYPE)


OBS_HANDLERS = [stats, events]
