"""Retry, backoff, fallback and weighted selection against real fake upstreams."""

from __future__ import annotations

import random
from collections import Counter

from crabllm.routing.dispatch import attempt_order, backoff
from tests.conftest import KEY
from tests.fakes.openai_upstream import FakeOpenAI, Script


def two_providers(a: str, b: str, wa: int = 1, wb: int = 1, retries: int = 2) -> str:
    return f'''
[providers.a]
base_url = "{a}"
models = ["m"]
weight = {wa}
max_retries = {retries}
timeout = 2

[providers.b]
base_url = "{b}"
models = ["m"]
weight = {wb}
max_retries = {retries}
timeout = 2

[[keys]]
name = "k"
key = "{KEY}"
'''


def test_fails_twice_then_succeeds_on_same_deployment(upstream: FakeOpenAI, make_gateway) -> None:
    upstream.script("/v1/chat/completions", Script(status=500), Script(status=429, headers={"retry-after": "0"}))
    gw = make_gateway(f'[providers.a]\nbase_url = "{upstream.base_url}"\nmodels = ["m"]\n[[keys]]\nname = "k"\nkey = "{KEY}"\n')
    with gw.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "m", "messages": []})
    assert r.status_code == 200
    assert len(upstream.requests()) == 3


def test_always_failing_falls_over_to_next_deployment(make_gateway) -> None:
    bad, good = FakeOpenAI().start(), FakeOpenAI().start()
    try:
        bad.script("/v1/chat/completions", *[Script(status=503)] * 10)
        gw = make_gateway(two_providers(bad.base_url, good.base_url, wa=1, wb=0, retries=1))
        with gw.client(KEY) as c:
            r = c.post("/v1/chat/completions", json={"model": "m", "messages": []})
        assert r.status_code == 200
        assert r.headers["x-crabllm-provider"] == "b"
        assert len(bad.requests()) == 2 and len(good.requests()) == 1
    finally:
        bad.stop()
        good.stop()


def test_connection_refused_falls_over(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(two_providers("http://127.0.0.1:9/v1", upstream.base_url, wa=1, wb=0, retries=0))
    with gw.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "m", "messages": []})
    assert r.status_code == 200 and r.headers["x-crabllm-provider"] == "b"


def test_connection_refused_everywhere_is_502(make_gateway) -> None:
    gw = make_gateway(two_providers("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1", retries=0))
    with gw.client(KEY) as c:
        r = c.post("/v1/chat/completions", json={"model": "m", "messages": []})
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "upstream_unavailable"
    assert r.headers["x-should-retry"] == "false"


def test_timeout_is_504(upstream: FakeOpenAI, make_gateway) -> None:
    upstream.script("/v1/chat/completions", Script(delay=2.0))
    gw = make_gateway(f'[providers.a]\nbase_url = "{upstream.base_url}"\nmodels = ["m"]\ntimeout = 0.3\nmax_retries = 0\n')
    with gw.client() as c:
        r = c.post("/v1/chat/completions", json={"model": "m", "messages": []})
    assert r.status_code == 504
    assert r.json()["error"] == {"message": "request timed out", "type": "timeout_error", "param": None, "code": "upstream_timeout"}


def test_400_is_final_and_401_falls_back(make_gateway) -> None:
    a, b = FakeOpenAI().start(), FakeOpenAI().start()
    try:
        gw = make_gateway(two_providers(a.base_url, b.base_url, wa=1, wb=0))
        a.script("/v1/chat/completions", Script(status=400, body=b'{"error":{"message":"bad"}}'))
        with gw.client(KEY) as c:
            assert c.post("/v1/chat/completions", json={"model": "m"}).status_code == 400
            assert len(b.requests()) == 0
            a.script("/v1/chat/completions", Script(status=401, body=b'{"error":{"message":"wrong upstream key"}}'))
            assert c.post("/v1/chat/completions", json={"model": "m"}).status_code == 200
            assert len(b.requests()) == 1
    finally:
        a.stop()
        b.stop()


def test_weights_hold_over_many_requests() -> None:
    class P:
        def __init__(self, name: str, weight: int) -> None:
            self.name, self.weight, self.max_retries = name, weight, 0

    deps = [P("a", 3), P("b", 1)]
    rng = random.Random(42)
    firsts = Counter(attempt_order(deps, rng)[0].name for _ in range(4000))
    assert 0.72 < firsts["a"] / 4000 < 0.78
    zero = [P("x", 0), P("y", 0)]
    assert {attempt_order(zero, rng)[0].name for _ in range(50)} == {"x"}
    order = attempt_order([P("a", 1), P("b", 5), P("c", 3)], random.Random(0))
    assert [p.name for p in order[1:]] == sorted([p.name for p in order[1:]], key=lambda n: -{"a": 1, "b": 5, "c": 3}[n])


def test_weights_through_the_gateway(make_gateway) -> None:
    a, b = FakeOpenAI().start(), FakeOpenAI().start()
    try:
        gw = make_gateway(two_providers(a.base_url, b.base_url, wa=3, wb=1))
        with gw.client(KEY) as c:
            for _ in range(400):
                c.post("/v1/chat/completions", json={"model": "m"})
        share = len(a.requests()) / 400
        assert 0.68 < share < 0.82
    finally:
        a.stop()
        b.stop()


def test_backoff_bounds_and_retry_after() -> None:
    rng = random.Random(1)
    for attempt, (lo, hi) in enumerate([(0.05, 0.1), (0.1, 0.2), (0.2, 0.4)]):
        for _ in range(50):
            assert lo <= backoff(attempt, rng, None) <= hi
    assert backoff(0, rng, 1.5) == 1.5


class _Dep:
    def __init__(self, name: str, weight: int = 1) -> None:
        self.name, self.weight, self.max_retries = name, weight, 0


async def test_panic_threshold_adds_open_deployments_soonest_first() -> None:
    from crabllm.routing.breaker import Breaker, deployment_id
    from crabllm.config.schema import CircuitBreakerConfig
    from crabllm.routing.dispatch import healthy
    from crabllm.storage.memory import MemoryStorage

    breaker = Breaker(MemoryStorage())
    breaker.cfg = CircuitBreakerConfig(failure_threshold=1, cooldown_seconds=10)
    a, b, c = _Dep("a"), _Dep("b"), _Dep("c")
    breaker.failure(deployment_id("b", "m"), "boom")
    breaker.cfg = CircuitBreakerConfig(failure_threshold=1, cooldown_seconds=5)
    breaker.failure(deployment_id("c", "m"), "boom")  # c reopens sooner than b
    assert await healthy([a, b, c], breaker, "m") == [a]  # 1 of 3 usable, threshold 0: no panic
    breaker.cfg = CircuitBreakerConfig(failure_threshold=1, cooldown_seconds=5, panic_threshold=0.5)
    assert await healthy([a, b, c], breaker, "m") == [a, c, b]  # below half: the open ones follow
    assert await healthy([b, c], breaker, "m") == [c, b]  # none usable: routed anyway, soonest first
    assert await healthy([a], breaker, "other") == [a]  # another model of the same providers is untouched
