"""Routing strategies other than `weighted`: each only orders a request's attempts (dispatch does the rest).

`latency` (power of two choices over peak-EWMA cost), `least_busy` (fewest in flight) and `cost`
(cheapest configured price). Retries, fallback, the circuit breaker and panic routing apply to the
order they return exactly as to the weighted one. A route whose strategy is `weighted` holds None
and dispatch calls `routing.attempt_order` directly, so the default costs what it always did.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from typing import Protocol

from crabllm.routing.breaker import deployment_id
from crabllm.routing.loads import Loads
from crabllm.providers.base import Provider
from crabllm.routing.dispatch import attempt_order


class Strategy(Protocol):
    name: str

    def order(self, deployments: Sequence[Provider], rng: random.Random, loads: Loads | None,
              model: str) -> Sequence[Provider]: ...


def _pick(candidates: Sequence[Provider], rng: random.Random) -> int:
    """An index drawn with probability proportional to weight (uniform when every weight is 0)."""
    total = sum(d.weight for d in candidates)
    if total <= 0:
        return rng.randrange(len(candidates))
    pick = rng.randrange(total)
    for i, d in enumerate(candidates):
        pick -= d.weight
        if pick < 0:
            return i
    return len(candidates) - 1


class Latency:
    """Power of two choices: two distinct deployments drawn by weight, the lower peak-EWMA cost first.

    Weight-0 deployments stay backups (never drawn while another has weight). The rest follow by
    cost, then weight. A deployment without samples costs 0, so it is probed by the next draw.
    """

    name = "latency"

    def order(self, deployments: Sequence[Provider], rng: random.Random, loads: Loads | None,
              model: str) -> Sequence[Provider]:
        n = len(deployments)
        if n == 1 or loads is None:
            return attempt_order(deployments, rng)
        now = time.monotonic()
        cost = loads.cost
        costs = [cost(deployment_id(d.name, model), now) for d in deployments]
        candidates = [i for i in range(n) if deployments[i].weight > 0] or list(range(n))
        if len(candidates) == 1:
            first = candidates[0]
        else:
            a = candidates.pop(_pick([deployments[i] for i in candidates], rng))
            b = candidates[_pick([deployments[i] for i in candidates], rng)]
            first = b if costs[b] < costs[a] else a
        if n == 2:
            return [deployments[first], deployments[1 - first]]
        rest = sorted((i for i in range(n) if i != first), key=lambda i: (costs[i], -deployments[i].weight))
        return [deployments[first], *(deployments[i] for i in rest)]


class LeastBusy:
    """Fewest requests in flight on this worker first; ties by weight (heavier first), then at random."""

    name = "least_busy"

    def order(self, deployments: Sequence[Provider], rng: random.Random, loads: Loads | None,
              model: str) -> Sequence[Provider]:
        if len(deployments) == 1 or loads is None:
            return attempt_order(deployments, rng)
        return sorted(deployments, key=lambda d: (loads.inflight(deployment_id(d.name, model)), -d.weight, rng.random()))


class Cost:
    """Cheapest configured price (prompt + completion per token) first; unpriced deployments last.

    Deployments of the same price are ordered as `weighted` orders them (by weight, first at random).
    """

    name = "cost"

    def __init__(self, prices: dict[str, float]) -> None:
        self.prices = prices  # provider name -> USD per prompt token + per completion token

    def order(self, deployments: Sequence[Provider], rng: random.Random, loads: Loads | None,
              model: str) -> Sequence[Provider]:
        if len(deployments) == 1:
            return deployments
        price = self.prices.get
        ranked = sorted(deployments, key=lambda d: price(d.name, math.inf))
        out: list[Provider] = []
        i = 0
        while i < len(ranked):
            j = i + 1
            p = price(ranked[i].name, math.inf)
            while j < len(ranked) and price(ranked[j].name, math.inf) == p:
                j += 1
            out.extend(ranked[i:j] if j - i == 1 else attempt_order(ranked[i:j], rng))
            i = j
        return out


def build_strategy(name: str, model: str, prices: dict[tuple[str, str], tuple[float, float]]) -> Strategy | None:
    """The strategy object a route holds; None for `weighted` (dispatch's fast path)."""
    if name == "latency":
        return Latency()
    if name == "least_busy":
        return LeastBusy()
    if name == "cost":
        return Cost({p: a + b for (p, m), (a, b) in prices.items() if m == model})
    return None
