"""The gateway's current Telemetry: built when [telemetry] appears or changes, retired and flushed after."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from crabllm.config.schema import TelemetryConfig
from crabllm.telemetry.context import TracingSession

log = logging.getLogger("crabllm.telemetry")
#: A replaced Telemetry keeps exporting the spans of requests still in flight for this long.
RETIRE_AFTER = 30.0


class TelemetrySlot:
    """Owned by the Gateway; `current` is None while tracing is off (then no tracing module is even loaded)."""

    def __init__(self) -> None:
        self.current: Any = None  # a crabllm.telemetry.tracer.Telemetry
        self._retired: set[Any] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @staticmethod
    def session(cfg: TelemetryConfig | None, session: Any) -> Any:
        """The session the providers get: the plain one when off, one that propagates traceparent when on."""
        return session if cfg is None else TracingSession(session)

    def apply(self, cfg: TelemetryConfig | None, session: Any) -> Any:
        """Make `cfg` current (an equal table keeps its Telemetry); returns the Telemetry or None.

        `session` is the plain aiohttp session: the exporter's own POSTs carry no traceparent.
        """
        old = self.current
        if (old is None and cfg is None) or (old is not None and old.cfg == cfg):
            return old
        self.current = build(cfg, session) if cfg is not None else None
        if old is not None:
            self._retire(old)
        if cfg is not None:
            log.info("tracing on: OTLP/HTTP to %s, sample ratio %g", cfg.endpoint, cfg.sample_ratio)
        return self.current

    def _retire(self, old: Any) -> None:
        self._retired.add(old)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # stopped by `stop`
        task = loop.create_task(self._stop_later(old))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stop_later(self, old: Any) -> None:
        await asyncio.sleep(RETIRE_AFTER)
        self._retired.discard(old)
        await old.stop()

    async def stop(self) -> None:
        """Export what is queued and stop every Telemetry, current and retired (lifespan exit)."""
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        pending = [*self._retired, *([self.current] if self.current is not None else [])]
        self._retired.clear()
        for tel in pending:
            await tel.stop()


def build(cfg: TelemetryConfig, session: Any) -> Any:
    """Load the tracer (first use only) and build a Telemetry for `cfg`."""
    from importlib import metadata

    from crabllm.telemetry.tracer import Telemetry

    try:
        version = metadata.version("crabllm")
    except metadata.PackageNotFoundError:
        version = ""
    return Telemetry(cfg, session, version=version)
