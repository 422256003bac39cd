"""Rolling per-second traffic statistics for the admin API and the console (bounded memory)."""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field
from typing import Any

HORIZON = 900  # seconds kept
# Latency histogram bucket upper bounds in ms: fine at the low end, coarse at the top.
BOUNDS = [0.1 * 1.25 ** i for i in range(64)]


@dataclass(slots=True)
class Tally:
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    spend: float = 0.0

    def add(self, error: bool, prompt: int, completion: int, cost: float) -> None:
        self.requests += 1
        self.errors += error
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.spend += cost

    def merge(self, other: Tally) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.spend += other.spend

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "errors": self.errors, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "spend_usd": round(self.spend, 9)}


@dataclass(slots=True)
class Second:
    at: int
    total: Tally = field(default_factory=Tally)
    hist: list[int] = field(default_factory=lambda: [0] * (len(BOUNDS) + 1))
    by_key: dict[str, Tally] = field(default_factory=dict)
    by_model: dict[str, Tally] = field(default_factory=dict)
    by_provider: dict[str, Tally] = field(default_factory=dict)


class Stats:
    """Ring of per-second buckets; `record` is O(1), `snapshot` aggregates a window."""

    def __init__(self, clock: Any = time.time) -> None:
        self._clock = clock
        self._ring: list[Second | None] = [None] * HORIZON
        self.day_spend: dict[str, float] = {}

    def _bucket(self, now: float) -> Second:
        sec = int(now)
        slot = sec % HORIZON
        bucket = self._ring[slot]
        if bucket is None or bucket.at != sec:
            bucket = self._ring[slot] = Second(sec)
        return bucket

    def record(self, *, key: str, model: str, provider: str, error: bool, latency_ms: float,
               prompt: int, completion: int, cost: float) -> None:
        now = self._clock()
        b = self._bucket(now)
        b.total.add(error, prompt, completion, cost)
        b.hist[bisect.bisect_left(BOUNDS, latency_ms)] += 1
        for table, name in ((b.by_key, key), (b.by_model, model), (b.by_provider, provider)):
            if name:
                tally = table.get(name)
                if tally is None:
                    tally = table[name] = Tally()
                tally.add(error, prompt, completion, cost)
        if cost:
            day = time.strftime("%Y-%m-%d", time.gmtime(now))
            self.day_spend[day] = self.day_spend.get(day, 0.0) + cost
            if len(self.day_spend) > 8:
                self.day_spend.pop(min(self.day_spend))

    def snapshot(self, window: int = 60, *, top: int = 10) -> dict[str, Any]:
        window = max(1, min(window, HORIZON))
        now = int(self._clock())
        total = Tally()
        hist = [0] * (len(BOUNDS) + 1)
        groups: dict[str, dict[str, Tally]] = {"by_key": {}, "by_model": {}, "by_provider": {}}
        series = []
        for sec in range(now - window + 1, now + 1):
            b = self._ring[sec % HORIZON]
            if b is None or b.at != sec:
                series.append({"t": sec, "requests": 0, "errors": 0, "tokens": 0, "p50_ms": None, "p95_ms": None})
                continue
            total.merge(b.total)
            for i, n in enumerate(b.hist):
                hist[i] += n
            for name in groups:
                for k, tally in getattr(b, name).items():
                    groups[name].setdefault(k, Tally()).merge(tally)
            series.append({"t": sec, "requests": b.total.requests, "errors": b.total.errors,
                           "tokens": b.total.prompt_tokens + b.total.completion_tokens,
                           "p50_ms": _percentile(b.hist, 0.5), "p95_ms": _percentile(b.hist, 0.95)})
        tokens = total.prompt_tokens + total.completion_tokens
        out: dict[str, Any] = {
            "window_s": window, "now": now, **total.to_dict(),
            "error_rate": total.errors / total.requests if total.requests else 0.0,
            "rps": total.requests / window, "tokens_per_s": tokens / window,
            "latency_ms": {"p50": _percentile(hist, 0.5), "p95": _percentile(hist, 0.95), "p99": _percentile(hist, 0.99)},
            "spend_today_usd": round(self.day_spend.get(time.strftime("%Y-%m-%d", time.gmtime(now)), 0.0), 9),
            "series": series,
        }
        for name, table in groups.items():
            ranked = sorted(table.items(), key=lambda kv: -kv[1].requests)[:top]
            out[name] = [{"name": k, **t.to_dict()} for k, t in ranked]
        return out


def _percentile(hist: list[int], q: float) -> float | None:
    n = sum(hist)
    if not n:
        return None
    rank = q * n
    seen = 0
    for i, count in enumerate(hist):
        seen += count
        if seen >= rank and count:
            return round(BOUNDS[min(i, len(BOUNDS) - 1)], 3)
    return round(BOUNDS[-1], 3)
