"""Per-deployment circuit breaker: failing deployments cool down, then one probe decides; shared via storage.

A deployment opens after `failure_threshold` consecutive failures, or when at least
`min_requests` in the last `window_seconds` failed at `error_ratio` or more. It is skipped for
`cooldown_seconds`, doubled on each consecutive trip up to `max_cooldown_seconds`. After the
cooldown exactly one request (claimed atomically in storage, so one across all workers) probes
it: success closes it, failure opens it again for longer. Opening and closing are written to
storage and every worker reads them back each second, so all workers agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from crabllm.config.schema import CircuitBreakerConfig
from crabllm.errors import CrabError
from crabllm.storage.base import Storage

log = logging.getLogger("crabllm.breaker")
PREFIX = "cb/"
SYNC_SECONDS = 1.0
BUCKET = 5.0  # seconds per error-ratio bucket


class OpenState(msgspec.Struct):
    until: float  # wall clock
    cooldown: float
    reason: str = ""


@dataclass
class Health:
    consecutive: int = 0
    trips: int = 0
    open: OpenState | None = None
    opened_here_at: float = 0.0
    probing: bool = False
    buckets: dict[int, list[int]] = field(default_factory=dict)  # bucket -> [requests, failures]
    last_error: str | None = None

    def record(self, failed: bool, now: float, window: float) -> tuple[int, int]:
        b = int(now // BUCKET)
        counts = self.buckets.get(b)
        if counts is None:
            counts = self.buckets[b] = [0, 0]
            oldest = b - int(window // BUCKET)
            for stale in [k for k in self.buckets if k <= oldest]:
                del self.buckets[stale]
        counts[0] += 1
        counts[1] += failed
        total = sum(c[0] for c in self.buckets.values())
        fails = sum(c[1] for c in self.buckets.values())
        return total, fails


class Breaker:
    """Owned by the gateway (one per worker); survives reloads."""

    def __init__(self, storage: Storage, on_change: Callable[[str, bool], None] | None = None) -> None:
        self.storage = storage
        self.on_change = on_change or (lambda name, is_open: None)
        self.cfg = CircuitBreakerConfig()
        self.health: dict[str, Health] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sync_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def is_open(self, name: str) -> bool:
        """True while the deployment must be skipped (cooling down, or another request probes it)."""
        h = self.health.get(name)
        if h is None or h.open is None:
            return False
        return h.probing or time.time() < h.open.until

    async def claim_probe(self, name: str) -> bool:
        """After the cooldown, one request across all workers may try the deployment."""
        h = self.health.get(name)
        if h is None or h.open is None or h.probing:
            return h is None or h.open is None
        try:
            won = await self.storage.add(f"{PREFIX}probe/{name}", b"1", ttl=max(5.0, h.open.cooldown))
        except CrabError:
            won = True  # storage down: probe locally rather than never recovering
        if won:
            h.probing = True
        return won

    def success(self, name: str) -> None:
        h = self.health.get(name)
        if h is None:
            return
        h.consecutive = 0
        h.record(False, time.time(), self.cfg.window_seconds)
        if h.open is not None:
            log.info("provider %s recovered: circuit closed", name)
            h.open, h.probing, h.trips = None, False, 0
            self.on_change(name, False)
            self._spawn(self._clear(name))

    def failure(self, name: str, reason: str) -> None:
        if not self.cfg.enabled:
            return
        h = self.health.setdefault(name, Health())
        now = time.time()
        h.consecutive += 1
        h.last_error = reason
        total, fails = h.record(True, now, self.cfg.window_seconds)
        ratio_trip = total >= self.cfg.min_requests and fails / total >= self.cfg.error_ratio
        if h.probing or (h.open is None and (h.consecutive >= self.cfg.failure_threshold or ratio_trip)):
            if h.probing:  # the probe failed: release the claim so the next cooldown can end in a probe
                self._spawn(self.storage.delete(f"{PREFIX}probe/{name}"))
            h.trips += 1
            cooldown = min(self.cfg.max_cooldown_seconds, self.cfg.cooldown_seconds * 2 ** (h.trips - 1))
            h.open = OpenState(until=now + cooldown, cooldown=cooldown, reason=reason)
            h.opened_here_at, h.probing = now, False
            log.warning("provider %s failing (%s): circuit open for %.0f s", name, reason, cooldown)
            self.on_change(name, True)
            self._spawn(self.storage.set(PREFIX + name, msgspec.json.encode(h.open), ttl=cooldown + 60))

    def status(self, name: str) -> dict[str, object]:
        h = self.health.get(name)
        if h is None:
            return {"state": "closed", "consecutive_failures": 0, "error_rate": 0.0, "last_error": None}
        total = sum(c[0] for c in h.buckets.values())
        fails = sum(c[1] for c in h.buckets.values())
        state = "closed" if h.open is None else "half_open" if h.probing or time.time() >= h.open.until else "open"
        return {"state": state, "open_until": h.open.until if h.open else None, "consecutive_failures": h.consecutive,
                "error_rate": round(fails / total, 4) if total else 0.0, "last_error": h.last_error}

    async def _clear(self, name: str) -> None:
        await self.storage.delete(PREFIX + name)
        await self.storage.delete(f"{PREFIX}probe/{name}")

    def _spawn(self, coro: object) -> None:
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        task.add_done_callback(_log_failure)

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(SYNC_SECONDS)
            try:
                await self.sync()
            except CrabError as e:
                log.warning("cannot read circuit states: %s", e.message)

    async def sync(self) -> None:
        """Adopt the open/closed states other workers wrote."""
        shared: dict[str, OpenState] = {}
        for key, value in await self.storage.list(PREFIX):
            name = key[len(PREFIX):]
            if "/" in name:
                continue
            with contextlib.suppress(msgspec.DecodeError):
                shared[name] = msgspec.json.decode(value, type=OpenState)
        now = time.time()
        for name, state in shared.items():
            h = self.health.setdefault(name, Health())
            if h.open is None or h.open.until < state.until:
                h.open, h.probing = state, False
                self.on_change(name, True)
        for name, h in self.health.items():
            # Closed elsewhere (a probe succeeded); ignore our own opening not yet written.
            if h.open is not None and name not in shared and now - h.opened_here_at > 2 * SYNC_SECONDS:
                h.open, h.probing, h.trips = None, False, 0
                self.on_change(name, False)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("cannot store circuit state: %s", task.exception())
