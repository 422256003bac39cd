"""Per-deployment circuit breaker: a failing (provider, model) cools down, then one probe decides; shared via storage.

A deployment is one provider serving one upstream model: upstreams fail and rate-limit per model,
so a broken model never takes its provider's other models down with it. A deployment opens after
`failure_threshold` consecutive failures, or when at least `min_requests` in the last
`window_seconds` failed at `error_ratio` or more. It is skipped for `cooldown_seconds`, doubled on
each consecutive trip up to `max_cooldown_seconds`. After the cooldown exactly one request
(claimed atomically in storage, so one across all workers) probes it: success closes it, failure
opens it again for longer. A 429 is not a health failure: the deployment is only skipped until the
time its `retry-after` gives. Opening, closing and rate limits are written to storage and every
worker reads them back each second, so all workers agree.
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

log = logging.getLogger("crabllm.routing.breaker")
PREFIX = "cb/"
OPEN = PREFIX + "open/"
PROBE = PREFIX + "probe/"
LIMITED = PREFIX + "rl/"
SYNC_SECONDS = 1.0
BUCKET = 5.0  # seconds per error-ratio bucket
#: How long a 429 without retry-after keeps a deployment out of the rotation.
DEFAULT_RATE_LIMIT_SECONDS = 1.0


def deployment_id(provider: str, model: str) -> str:
    """The breaker's identity of a deployment; provider names never contain '/', models may."""
    return f"{provider}/{model}"


def split_id(dep: str) -> tuple[str, str]:
    provider, _, model = dep.partition("/")
    return provider, model


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
    limited_until: float = 0.0  # wall clock; a 429's retry-after, not a health failure
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

    def usable_at(self) -> float:
        """When this deployment may take traffic again (0 when it may now)."""
        return max(self.open.until if self.open is not None else 0.0, self.limited_until)


class Breaker:
    """Owned by the gateway (one per worker); survives reloads. Keys are `deployment_id`s."""

    def __init__(self, storage: Storage, on_change: Callable[[str, bool], None] | None = None) -> None:
        self.storage = storage
        self.on_change = on_change or (lambda dep, is_open: None)
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

    def is_open(self, dep: str) -> bool:
        """True while the deployment must be skipped (cooling down, probed by another request, or rate limited)."""
        h = self.health.get(dep)
        if h is None:
            return False
        now = time.time()
        if h.limited_until > now:
            return True
        if h.open is None:
            return False
        return h.probing or now < h.open.until

    def needs_probe(self, dep: str) -> bool:
        h = self.health.get(dep)
        return h is not None and h.open is not None

    async def claim_probe(self, dep: str) -> bool:
        """After the cooldown, one request across all workers may try the deployment."""
        h = self.health.get(dep)
        if h is None or h.open is None or h.probing:
            return h is None or h.open is None
        try:
            won = await self.storage.add(PROBE + dep, b"1", ttl=max(5.0, h.open.cooldown))
        except CrabError:
            won = True  # storage down: probe locally rather than never recovering
        if won:
            h.probing = True
        return won

    def success(self, dep: str) -> None:
        h = self.health.get(dep)
        if h is None:
            return
        h.consecutive = 0
        h.record(False, time.time(), self.cfg.window_seconds)
        if h.open is not None:
            log.info("deployment %s recovered: circuit closed", dep)
            h.open, h.probing, h.trips = None, False, 0
            self.on_change(dep, False)
            self._spawn(self._clear(dep))

    def failure(self, dep: str, reason: str) -> None:
        if not self.cfg.enabled:
            return
        h = self.health.setdefault(dep, Health())
        now = time.time()
        h.consecutive += 1
        h.last_error = reason
        total, fails = h.record(True, now, self.cfg.window_seconds)
        ratio_trip = total >= self.cfg.min_requests and fails / total >= self.cfg.error_ratio
        if h.probing or (h.open is None and (h.consecutive >= self.cfg.failure_threshold or ratio_trip)):
            if h.probing:  # the probe failed: release the claim so the next cooldown can end in a probe
                self._spawn(self.storage.delete(PROBE + dep))
            h.trips += 1
            cooldown = min(self.cfg.max_cooldown_seconds, self.cfg.cooldown_seconds * 2 ** (h.trips - 1))
            h.open = OpenState(until=now + cooldown, cooldown=cooldown, reason=reason)
            h.opened_here_at, h.probing = now, False
            log.warning("deployment %s failing (%s): circuit open for %.0f s", dep, reason, cooldown)
            self.on_change(dep, True)
            self._spawn(self.storage.set(OPEN + dep, msgspec.json.encode(h.open), ttl=cooldown + 60))

    def rate_limited(self, dep: str, retry_after: float | None, reason: str) -> None:
        """A 429: skip the deployment until `retry_after` has passed; its health is untouched."""
        if not self.cfg.enabled:
            return
        seconds = retry_after if retry_after is not None and retry_after > 0 else DEFAULT_RATE_LIMIT_SECONDS
        seconds = min(seconds, self.cfg.max_cooldown_seconds)
        until = time.time() + seconds
        h = self.health.setdefault(dep, Health())
        h.last_error = reason
        if until > h.limited_until:
            h.limited_until = until
            self._spawn(self.storage.set(LIMITED + dep, msgspec.json.encode(until), ttl=seconds + 1))

    def usable_at(self, dep: str) -> float:
        h = self.health.get(dep)
        return 0.0 if h is None else h.usable_at()

    def status(self, dep: str) -> dict[str, object]:
        h = self.health.get(dep)
        if h is None:
            return {"state": "closed", "consecutive_failures": 0, "error_rate": 0.0, "last_error": None}
        total = sum(c[0] for c in h.buckets.values())
        fails = sum(c[1] for c in h.buckets.values())
        now = time.time()
        if h.open is not None:
            state = "half_open" if h.probing or now >= h.open.until else "open"
        else:
            state = "rate_limited" if h.limited_until > now else "closed"
        until = h.open.until if h.open is not None else h.limited_until if state == "rate_limited" else None
        return {"state": state, "open_until": until, "consecutive_failures": h.consecutive,
                "error_rate": round(fails / total, 4) if total else 0.0, "last_error": h.last_error}

    async def _clear(self, dep: str) -> None:
        await self.storage.delete(OPEN + dep)
        await self.storage.delete(PROBE + dep)

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
        """Adopt the open/closed states and rate limits other workers wrote."""
        shared: dict[str, OpenState] = {}
        for key, value in await self.storage.list(OPEN):
            with contextlib.suppress(msgspec.DecodeError):
                shared[key[len(OPEN):]] = msgspec.json.decode(value, type=OpenState)
        for key, value in await self.storage.list(LIMITED):
            with contextlib.suppress(msgspec.DecodeError):
                until = msgspec.json.decode(value, type=float)
                h = self.health.setdefault(key[len(LIMITED):], Health())
                h.limited_until = max(h.limited_until, until)
        now = time.time()
        for dep, state in shared.items():
            h = self.health.setdefault(dep, Health())
            if h.open is None or h.open.until < state.until:
                h.open, h.probing = state, False
                self.on_change(dep, True)
        for dep, h in self.health.items():
            # Closed elsewhere (a probe succeeded); ignore our own opening not yet written.
            if h.open is not None and dep not in shared and now - h.opened_here_at > 2 * SYNC_SECONDS:
                h.open, h.probing, h.trips = None, False, 0
                self.on_change(dep, False)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("cannot store circuit state: %s", task.exception())
