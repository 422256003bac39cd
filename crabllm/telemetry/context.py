"""The per-request trace handle (a context variable set only while tracing is on) and upstream propagation."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

#: The RequestTrace of the request this task serves; never set while tracing is off, so reading it
#: costs the off path one lookup that returns None.
ACTIVE: ContextVar[Any] = ContextVar("crabllm_trace", default=None)


class TracingSession:
    """The upstream session as the providers see it while tracing is on: each POST carries the
    current attempt's W3C `traceparent` (and the client's `tracestate`).

    Providers are built with the plain aiohttp session when tracing is off, so they pay nothing.
    """

    __slots__ = ("_session",)

    def __init__(self, session: Any) -> None:
        self._session = session

    def post(self, url: Any, **kw: Any) -> Any:
        trace = ACTIVE.get()
        if trace is not None:
            extra = {"traceparent": trace.traceparent()}
            if trace.tracestate:
                extra["tracestate"] = trace.tracestate
            headers = kw.get("headers")
            kw["headers"] = {**headers, **extra} if headers else extra
        return self._session.post(url, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)
