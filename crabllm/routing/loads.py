"""Per-worker load of each deployment: requests in flight (streams until they end) and a peak-EWMA latency.

The peak-EWMA estimate is Finagle's and Linkerd's: a sample above the estimate replaces it at
once (a slowdown is believed immediately), a sample below pulls it down with a time constant
(`decay` seconds), and while a deployment gets no samples its estimate decays toward zero, so a
once-slow deployment is tried again after a while. `cost` multiplies it by in-flight + 1. Samples
are a stream's time to first byte and a unary request's total latency, taken by `dispatch` around
each attempt. Nothing here is shared between workers: each worker routes on what it has seen.
"""

from __future__ import annotations

import math
import time

#: The cost of a deployment that has no sample yet but already a request in flight: it is probed
#: by one request at a time instead of taking every request until its first answer.
PENALTY = 1e6
#: A failed attempt counts as at least this slow (seconds), and twice the current estimate.
FAILURE_SECONDS = 1.0


class Load:
    """One deployment's counters; `ewma` is in seconds, `stamp` the monotonic time of its last sample."""

    __slots__ = ("inflight", "ewma", "stamp", "samples")

    def __init__(self) -> None:
        self.inflight = 0
        self.ewma = 0.0
        self.stamp = 0.0
        self.samples = 0


class Loads:
    """Owned by the gateway (one per worker); survives reloads. Keys are `breaker.deployment_id`s."""

    def __init__(self, decay: float = 10.0) -> None:
        self.decay = decay
        self.deps: dict[str, Load] = {}

    def load(self, dep: str) -> Load:
        load = self.deps.get(dep)
        if load is None:
            load = self.deps[dep] = Load()
        return load

    def begin(self, dep: str) -> Load:
        """An attempt starts: count it in flight until `end` (or `release`, for a held stream)."""
        load = self.deps.get(dep)
        if load is None:
            load = self.deps[dep] = Load()
        load.inflight += 1
        return load

    def end(self, load: Load, seconds: float | None, *, hold: bool = False) -> None:
        """An attempt answered after `seconds` (None: no sample); `hold` keeps it in flight (a stream)."""
        if seconds is not None:
            self.observe(load, seconds, time.monotonic())
        if not hold and load.inflight > 0:
            load.inflight -= 1

    def failed(self, load: Load, seconds: float) -> None:
        """An attempt failed on the deployment's side: a penalty sample, so the strategy moves away."""
        current = self.estimate(load, time.monotonic()) if load.samples else 0.0
        self.end(load, max(seconds, 2 * current, FAILURE_SECONDS))

    def release(self, dep: str) -> None:
        """A held stream ended."""
        load = self.deps.get(dep)
        if load is not None and load.inflight > 0:
            load.inflight -= 1

    def observe(self, load: Load, seconds: float, now: float) -> None:
        if load.samples == 0 or seconds >= load.ewma:
            load.ewma = seconds
        else:
            w = math.exp(-max(0.0, now - load.stamp) / self.decay)
            load.ewma = load.ewma * w + seconds * (1.0 - w)
        load.stamp = now
        load.samples += 1

    def estimate(self, load: Load, now: float) -> float:
        """The latency estimate now: the EWMA, decayed toward zero since its last sample."""
        return load.ewma * math.exp(-max(0.0, now - load.stamp) / self.decay)

    def cost(self, dep: str, now: float) -> float:
        load = self.deps.get(dep)
        if load is None or load.samples == 0:
            return 0.0 if load is None or load.inflight == 0 else PENALTY + load.inflight
        return self.estimate(load, now) * (load.inflight + 1)

    def inflight(self, dep: str) -> int:
        load = self.deps.get(dep)
        return 0 if load is None else load.inflight

    def status(self, dep: str) -> tuple[float | None, int]:
        """(EWMA latency in ms or None without samples, in flight) for the admin API and metrics.

        The estimate as of its last sample: the idle decay only serves re-probing, not a reader."""
        load = self.deps.get(dep)
        if load is None:
            return None, 0
        ms = round(load.ewma * 1000, 3) if load.samples else None
        return ms, load.inflight
