"""Routing strategies in isolation: peak-EWMA, power of two choices, least busy, cost, and the registry's choice."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from crabllm.routing.breaker import Breaker
from crabllm.config.loader import config_from_raw
from crabllm.errors import UpstreamUnavailable
from crabllm.routing.loads import FAILURE_SECONDS, PENALTY, Loads
from crabllm.registry import build_registry
from crabllm.routing.dispatch import attempt_order, dispatch
from crabllm.storage.memory import MemoryStorage
from crabllm.routing.strategies import Cost, LeastBusy, Latency, build_strategy


class P:
    def __init__(self, name: str, weight: int = 1) -> None:
        self.name, self.weight, self.max_retries = name, weight, 0

    def __repr__(self) -> str:
        return self.name


def names(order) -> list[str]:
    return [p.name for p in order]


def test_peak_ewma_jumps_up_and_decays_down() -> None:
    loads = Loads(decay=10.0)
    load = loads.load("a/m")
    loads.observe(load, 0.1, 100.0)
    assert load.ewma == 0.1
    loads.observe(load, 0.5, 100.0)  # a peak is believed at once
    assert load.ewma == 0.5
    loads.observe(load, 0.1, 110.0)  # one time constant later: 1/e of the way back
    assert load.ewma == pytest.approx(0.1 + 0.4 * 0.36788, rel=1e-3)
    loads.observe(load, 0.1, 110.0)  # no time passed: a lower sample moves nothing
    assert load.ewma == pytest.approx(0.1 + 0.4 * 0.36788, rel=1e-3)
    assert loads.estimate(load, 120.0) == pytest.approx(load.ewma * 0.36788, rel=1e-3)  # idle: decays toward 0


def test_cost_counts_inflight_and_probes_new_deployments_one_at_a_time() -> None:
    loads = Loads()
    assert loads.cost("new/m", 0.0) == 0.0  # never seen: probed
    loads.begin("new/m")
    assert loads.cost("new/m", 0.0) == PENALTY + 1  # its probe is in flight: not every request
    seen = loads.begin("seen/m")
    loads.end(seen, 0.2, hold=True)
    now = seen.stamp
    assert loads.cost("seen/m", now) == pytest.approx(0.2 * 2)  # ewma x (in flight + 1)
    loads.release("seen/m")
    assert loads.cost("seen/m", now) == pytest.approx(0.2)
    loads.release("seen/m")  # a stray release never goes negative
    assert loads.inflight("seen/m") == 0
    failed = loads.begin("seen/m")
    loads.failed(failed, 0.001)
    assert failed.ewma == pytest.approx(max(FAILURE_SECONDS, 0.4), rel=1e-3) and failed.inflight == 0
    assert loads.status("seen/m")[0] == pytest.approx(failed.ewma * 1000) and loads.status("x/m") == (None, 0)


def test_latency_picks_the_cheaper_of_two_and_probes_the_unknown() -> None:
    loads = Loads()
    fast, slow, fresh = P("fast"), P("slow"), P("fresh")
    for name, seconds in (("fast", 0.005), ("slow", 0.150)):
        loads.end(loads.begin(f"{name}/m"), seconds)
    rng = random.Random(7)
    strategy = Latency()
    assert {names(strategy.order([fast, slow], rng, loads, "m"))[0] for _ in range(100)} == {"fast"}
    assert names(strategy.order([slow, fast], rng, loads, "m")) == ["fast", "slow"]
    firsts = Counter(strategy.order([fast, slow, fresh], rng, loads, "m")[0].name for _ in range(300))
    assert firsts["slow"] == 0 and firsts["fresh"] > 100  # no samples yet: treated as best whenever drawn
    for seed in range(20):  # after the winner of the two, the rest by cost
        rest = names(strategy.order([fast, slow, fresh], random.Random(seed), loads, "m"))[1:]
        assert rest in (["fast", "slow"], ["fresh", "slow"], ["fresh", "fast"])


def test_latency_honours_weights_and_keeps_weight_zero_as_backup() -> None:
    loads = Loads()
    a, b, c = P("a", 3), P("b", 1), P("backup", 0)
    rng = random.Random(3)
    firsts = Counter(Latency().order([a, b, c], rng, loads, "m")[0].name for _ in range(2000))
    assert firsts["backup"] == 0
    # Equal costs (no samples): the first drawn wins, so the draw's weights decide.
    assert 0.70 < firsts["a"] / 2000 < 0.80
    loads.end(loads.begin("backup/m"), 0.001)
    assert {Latency().order([a, c], rng, loads, "m")[0].name for _ in range(50)} == {"a"}


def test_least_busy_orders_by_inflight_then_weight() -> None:
    loads = Loads()
    a, b, c = P("a", 1), P("b", 5), P("c", 1)
    rng = random.Random(0)
    assert names(LeastBusy().order([a, b, c], rng, loads, "m"))[0] == "b"  # all idle: the heavier one
    loads.begin("b/m")
    assert set(names(LeastBusy().order([a, b, c], rng, loads, "m"))[:2]) == {"a", "c"}
    assert {LeastBusy().order([a, c], rng, loads, "m")[0].name for _ in range(50)} == {"a", "c"}  # ties at random
    loads.begin("a/m")
    loads.begin("c/m")
    loads.begin("c/m")
    assert names(LeastBusy().order([a, b, c], rng, loads, "m")) == ["b", "a", "c"]


def test_cost_orders_by_price_ties_by_weight_unpriced_last() -> None:
    cheap, cheap2, dear, free_form = P("cheap", 1), P("cheap2", 9), P("dear"), P("unpriced", 100)
    strategy = Cost({"cheap": 1e-6, "cheap2": 1e-6, "dear": 5e-6})
    rng = random.Random(5)
    orders = [names(strategy.order([dear, free_form, cheap, cheap2], rng, None, "m")) for _ in range(400)]
    assert all(o[2:] == ["dear", "unpriced"] for o in orders)
    share = sum(o[0] == "cheap2" for o in orders) / 400  # same price: weighted, 9 to 1
    assert 0.84 < share < 0.96


def test_weighted_is_the_default_and_bit_for_bit_attempt_order() -> None:
    assert build_strategy("weighted", "m", {}) is None
    deps = [P("a", 3), P("b", 1), P("c", 2)]
    one, two = random.Random(42), random.Random(42)
    assert all(attempt_order(deps, one) == attempt_order(deps, two) for _ in range(100))


def _config(raw: dict) -> object:
    return config_from_raw(raw, file="t.toml", env={}, base_dir=".")


async def test_registry_resolves_model_default_and_alias_strategies() -> None:
    import aiohttp

    raw = {
        "routing": {"default": "least_busy"},
        "providers": {"a": {"kind": "mock", "models": ["m", "n", "p"]}, "b": {"kind": "mock", "models": ["m", "p"]}},
        "aliases": {"fast": "m", "same": "m", "cheap": "p"},
        "models": {"m": {"routing": "latency"}, "fast": {"routing": "weighted"}, "p": {"routing": "cost"},
                   "a/p": {"pricing": {"prompt_cost_per_million": 1, "completion_cost_per_million": 2}},
                   "b/p": {"pricing": {"prompt_cost_per_million": 3, "completion_cost_per_million": 2}}},
    }
    async with aiohttp.ClientSession() as session:
        reg = build_registry(_config(raw), session)  # type: ignore[arg-type]
    assert reg.routes["m"].routing == "latency" and reg.routes["n"].routing == "least_busy"
    assert reg.routes["same"].routing == "latency"  # an alias follows its target...
    assert reg.routes["fast"].routing == "weighted" and reg.routes["fast"].model == "m"  # ...unless it says otherwise
    assert reg.routes["fast"].deployments == reg.routes["m"].deployments
    assert reg.routes["cheap"].strategy.prices == pytest.approx({"a": 3e-6, "b": 5e-6})
    plain = {"providers": {"a": {"kind": "mock", "models": ["m"]}}}
    async with aiohttp.ClientSession() as session:
        assert build_registry(_config(plain), session).routes["m"].strategy is None  # type: ignore[arg-type]


async def test_dispatch_counts_inflight_holds_streams_and_composes_with_fallback() -> None:
    loads = Loads()
    breaker = Breaker(MemoryStorage())
    a, b = P("a"), P("b")
    seen: list[str] = []

    async def call(p: P) -> str:
        seen.append(p.name)
        assert loads.inflight(f"{p.name}/m") == 1  # counted while the attempt runs
        if p.name == "a":
            raise UpstreamUnavailable("down")
        return "ok"

    strategy = Cost({"a": 1e-6, "b": 2e-6})
    result, provider, attempts = await dispatch([b, a], call, random.Random(1), model="m", breaker=breaker,
                                                strategy=strategy, loads=loads)
    assert (result, provider.name, attempts, seen) == ("ok", "b", 2, ["a", "b"])  # cheapest first, then fallback
    assert loads.inflight("a/m") == 0 and loads.inflight("b/m") == 0
    assert loads.deps["a/m"].ewma >= FAILURE_SECONDS  # the failure left a penalty sample
    await dispatch([b], call, random.Random(1), model="m", loads=loads, hold=True)
    assert loads.inflight("b/m") == 1  # a stream stays in flight until its relay releases it
    loads.release("b/m")

    async def cancelled(p: P) -> str:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await dispatch([b], cancelled, random.Random(1), model="m", loads=loads)
    assert loads.inflight("b/m") == 0


@pytest.mark.parametrize("strategy", [Latency(), LeastBusy(), Cost({"fast": 1e-6, "slow": 9e-6})])
async def test_every_strategy_composes_with_the_breaker_and_panic_routing(strategy) -> None:
    from crabllm.config.schema import CircuitBreakerConfig

    loads = Loads()
    for name, seconds in (("fast", 0.005), ("slow", 0.150)):
        loads.end(loads.begin(f"{name}/m"), seconds)
    breaker = Breaker(MemoryStorage())
    breaker.cfg = CircuitBreakerConfig(failure_threshold=1, cooldown_seconds=30)
    fast, slow = P("fast", 5), P("slow")
    served: list[str] = []

    async def call(p: P) -> str:
        served.append(p.name)
        return p.name

    breaker.failure("fast/m", "boom")  # the strategy's favourite is cooling down: skipped
    assert (await dispatch([fast, slow], call, random.Random(1), model="m", breaker=breaker, strategy=strategy,
                           loads=loads))[0] == "slow"
    breaker.failure("slow/m", "boom")  # both open: panic routing still answers
    assert (await dispatch([fast, slow], call, random.Random(1), model="m", breaker=breaker, strategy=strategy,
                           loads=loads))[1].name in {"fast", "slow"}
