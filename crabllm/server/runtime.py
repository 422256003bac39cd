"""Per-worker runtime state built in the lifespan: registry holder, upstream session, stream tracker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any, Protocol

import aiohttp

from crabllm.routing.breaker import Breaker, split_id
from crabllm.config.schema import Config
from crabllm.extensions.audit import AuditLog
from crabllm.extensions.parallel import ParallelLimiter
from crabllm.extensions.pipeline import build_pipeline
from crabllm.routing.loads import Loads
from crabllm.registry import Registry, RegistryHolder, build_registry
from crabllm.reload import Reloader
from crabllm.server.state.keystore import KeyStore
from crabllm.storage.base import Storage
from crabllm.server.observe.observer import Observer
from crabllm.server.state.responses import ResponseStore
from crabllm.telemetry.slot import TelemetrySlot

log = logging.getLogger("crabllm.server")

KEEPALIVE_IDLE = 15.0
KEEPALIVE_TICK = 5.0
KEEPALIVE = b":\n\n"


class OpenStream(Protocol):
    """What the tracker needs of a committed stream's relay: when it last wrote to the client."""

    last_write: float


class StreamTracker:
    """Open SSE responses: counted for shutdown and metrics, sent a keep-alive comment when idle."""

    def __init__(self) -> None:
        self.open: dict[OpenStream, Any] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def add(self, relay: OpenStream, send: Any) -> None:
        relay.last_write = asyncio.get_running_loop().time()
        self.open[relay] = send

    def discard(self, relay: OpenStream) -> None:
        self.open.pop(relay, None)

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(KEEPALIVE_TICK)
            now = loop.time()
            for relay, send in list(self.open.items()):
                if now - relay.last_write >= KEEPALIVE_IDLE:
                    relay.last_write = now
                    # Each send writes one whole frame, so a comment never splits an event.
                    try:
                        await send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
                    except Exception:  # the client is gone; the relay notices on its own
                        self.open.pop(relay, None)


class Ticker:
    """Calls `fn` every `seconds` until stopped (publishes this worker's deployment loads to the gauges)."""

    def __init__(self, fn: Any, seconds: float = 1.0) -> None:
        self.fn, self.seconds = fn, seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.seconds)
            try:
                self.fn()
            except Exception:  # a metrics hiccup must never stop the ticker
                log.exception("cannot publish deployment loads")


class Gateway:
    """What every handler of one worker shares."""

    def __init__(self, config: Config, session: aiohttp.ClientSession, storage: Storage, *,
                 config_path: str, seed: int | None = None) -> None:
        self.session = session
        self.storage = storage
        self.keys = KeyStore(storage)
        self.audit = AuditLog(storage)
        self.responses = ResponseStore(storage)
        self.breaker = Breaker(storage, self._circuit_changed)
        self.loads = Loads()  # per-deployment in-flight and latency, for the routing strategies
        self.parallel = ParallelLimiter(storage)  # per-key max_parallel_requests
        self.load_gauges = Ticker(lambda: self.observer.metrics.publish_loads(self.loads))
        self.reloader = Reloader(self, config_path, lambda kind, data: self.observer.events.publish(kind, data))
        self.rng = random.Random(seed)
        self.streams = StreamTracker()
        self.observer = Observer()
        self.telemetry = TelemetrySlot()  # OpenTelemetry traces; the tracer loads only when [telemetry] is set
        self.provider_tests: dict[str, Any] = {}
        self.holder = RegistryHolder(self.build(config, 1))

    def _circuit_changed(self, deployment: str, is_open: bool) -> None:
        provider, model = split_id(deployment)
        self.observer.metrics.circuit_open.labels(provider, model).set(1 if is_open else 0)

    def build(self, config: Config, generation: int) -> Registry:
        """A complete registry for `config`, with this worker's session, storage and audit writer."""
        self.breaker.cfg = config.circuit_breaker
        registry = build_registry(config, self.telemetry.session(config.telemetry, self.session),
                                  path=str(self.reloader.path), generation=generation,
                                  pipeline=build_pipeline(config, self.storage, self.audit))
        # After the registry built: a failed reload leaves tracing as it was.
        self.observer.tracer = self.telemetry.apply(config.telemetry, self.session)
        self.loads.decay = config.routing.latency_decay_seconds
        return registry


def new_session(limit: int = 16384) -> aiohttp.ClientSession:
    """One keep-alive pool per worker, sized for thousands of concurrent streams."""
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=300, keepalive_timeout=60,
                                     enable_cleanup_closed=False)
    return aiohttp.ClientSession(connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent", "Accept-Encoding"),
                                 headers={"user-agent": "crabllm"}, raise_for_status=False, trust_env=False)
