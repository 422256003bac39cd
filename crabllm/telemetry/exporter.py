"""Batching OTLP/HTTP export on the gateway's event loop and aiohttp session: no thread, no SDK."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import aiohttp

from crabllm.telemetry.otlp import Encoder
from crabllm.telemetry.span import Span

log = logging.getLogger("crabllm.telemetry")

EXPORT_INTERVAL = 1.0  # seconds between exports of a partial batch
MAX_BATCH = 512
MAX_QUEUE = 8192  # spans waiting beyond this are dropped (counted), never blocking a request
WARN_EVERY = 60.0


class Exporter:
    """Collects finished spans and POSTs them in batches; `stop` sends what is left."""

    def __init__(self, session: aiohttp.ClientSession, endpoint: str, headers: dict[str, str], timeout: float,
                 encoder: Encoder) -> None:
        self._session = session
        self._endpoint = endpoint
        self._headers = {"content-type": "application/x-protobuf", **headers}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._encoder = encoder
        self._queue: list[Span] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._warned = 0.0
        self.exported = 0
        self.dropped = 0

    def add(self, span: Span) -> None:
        if self._closed:
            return
        queue = self._queue
        if len(queue) >= MAX_QUEUE:
            self.dropped += 1
            return
        queue.append(span)
        if self._task is None:
            self._start()
        elif len(queue) >= MAX_BATCH and self._wake is not None:
            self._wake.set()

    def _start(self) -> None:
        self._wake = asyncio.Event()
        # A fresh context: the export loop belongs to no request (and so carries no traceparent).
        self._task = asyncio.get_running_loop().create_task(self._run(), context=contextvars.Context())

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), EXPORT_INTERVAL)
            wake.clear()
            while self._queue:
                await self._send_batch()
            if self._closed:
                return

    async def _send_batch(self) -> None:
        batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        body = self._encoder.request(batch)
        try:
            async with self._session.post(self._endpoint, data=body, headers=self._headers,
                                          timeout=self._timeout) as resp:
                if resp.status >= 300:
                    self._warn(f"the collector answered {resp.status}")
                    return
                await resp.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            self._warn(f"{type(e).__name__}: {e}")
            return
        self.exported += len(batch)

    def _warn(self, what: str) -> None:
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY:
            self._warned = now
            log.warning("telemetry export to %s failed (%s); spans of that batch are dropped", self._endpoint, what)

    async def stop(self) -> None:
        """Export every queued span (each batch bounded by the export timeout), then stop."""
        self._closed = True
        if self._task is not None and self._wake is not None:
            self._wake.set()
            await self._task
