"""Circuit breaker: a failing deployment is skipped for a cooldown, probed once, shared across gateways."""

from __future__ import annotations

import time

from tests.conftest import ADMIN, KEY
from tests.fakes.openai_upstream import FakeOpenAI, Script, wait_for

BREAKER = "[circuit_breaker]\nfailure_threshold = 3\ncooldown_seconds = 0.6\n"


def two(bad: str, good: str, storage: str = "") -> str:
    return f'''admin_token = "{ADMIN}"
{storage}
{BREAKER}
[providers.bad]
base_url = "{bad}"
models = ["m"]
weight = 100
max_retries = 0

[providers.good]
base_url = "{good}"
models = ["m"]
weight = 1
max_retries = 0

[[keys]]
name = "k"
key = "{KEY}"
'''


def chat(gw) -> int:
    with gw.client(KEY) as c:
        return c.post("/v1/chat/completions", json={"model": "m", "messages": []}).status_code


def health(gw, name: str) -> dict:
    with gw.client(ADMIN) as a:
        return a.get(f"/v1/admin/providers/{name}").json()["health"]


def test_trips_skips_probes_and_recovers(make_gateway) -> None:
    bad, good = FakeOpenAI().start(), FakeOpenAI().start()
    try:
        bad.script("/v1/chat/completions", *[Script(status=503)] * 4)
        gw = make_gateway(two(bad.base_url, good.base_url))
        assert [chat(gw) for _ in range(3)] == [200, 200, 200]  # served by the fallback
        assert len(bad.requests()) == 3
        assert health(gw, "bad")["state"] == "open" and health(gw, "good")["state"] == "closed"
        for _ in range(5):
            assert chat(gw) == 200
        assert len(bad.requests()) == 3  # skipped while open
        with gw.client(ADMIN) as a:
            assert 'crabllm_circuit_open{provider="bad"} 1.0' in a.get("/metrics").text
        time.sleep(0.7)
        assert chat(gw) == 200  # the probe fails (4th scripted 503): open again, for longer
        assert len(bad.requests()) == 4 and health(gw, "bad")["state"] == "open"
        time.sleep(0.7)
        assert chat(gw) == 200 and len(bad.requests()) == 4  # the cooldown doubled to 1.2 s
        time.sleep(0.6)
        assert chat(gw) == 200  # probe succeeds: closed
        assert len(bad.requests()) == 5 and health(gw, "bad")["state"] == "closed"
        assert chat(gw) == 200 and len(bad.requests()) == 6
    finally:
        bad.stop()
        good.stop()


def test_only_deployment_open_answers_503_without_calling_it(upstream: FakeOpenAI, make_gateway) -> None:
    upstream.script("/v1/chat/completions", *[Script(status=500)] * 3)
    gw = make_gateway(f'{BREAKER}[providers.p]\nbase_url = "{upstream.base_url}"\nmodels = ["m"]\nmax_retries = 0\n')
    assert [chat(gw) for _ in range(3)] == [500, 500, 500]
    with gw.client() as c:
        r = c.post("/v1/chat/completions", json={"model": "m", "messages": []})
    assert r.status_code == 503 and r.json()["error"]["code"] == "circuit_open" and int(r.headers["retry-after"]) >= 1
    assert len(upstream.requests()) == 3


def test_client_errors_do_not_trip(upstream: FakeOpenAI, make_gateway) -> None:
    upstream.script("/v1/chat/completions", *[Script(status=400, body=b'{"error":{"message":"bad"}}')] * 5)
    gw = make_gateway(f'{BREAKER}[providers.p]\nbase_url = "{upstream.base_url}"\nmodels = ["m"]\n')
    assert [chat(gw) for _ in range(5)] == [400] * 5
    assert chat(gw) == 200


def test_disabled(upstream: FakeOpenAI, make_gateway) -> None:
    upstream.script("/v1/chat/completions", *[Script(status=500)] * 6)
    gw = make_gateway(f'[circuit_breaker]\nenabled = false\nfailure_threshold = 1\n[providers.p]\nbase_url = "{upstream.base_url}"\n'
                      'models = ["m"]\nmax_retries = 0\n')
    assert [chat(gw) for _ in range(4)] == [500] * 4


def test_open_state_is_shared_through_storage(make_gateway, tmp_path) -> None:
    bad, good = FakeOpenAI().start(), FakeOpenAI().start()
    try:
        bad.script("/v1/chat/completions", *[Script(status=503)] * 10)
        storage = f'[storage]\nkind = "sqlite"\npath = "{tmp_path / "shared.db"}"'
        a = make_gateway(two(bad.base_url, good.base_url, storage).replace("cooldown_seconds = 0.6", "cooldown_seconds = 5"), "a.toml")
        b = make_gateway(two(bad.base_url, good.base_url, storage).replace("cooldown_seconds = 0.6", "cooldown_seconds = 5"), "b.toml")
        assert [chat(a) for _ in range(3)] == [200] * 3
        assert wait_for(lambda: health(b, "bad")["state"] == "open", 3.0)  # b never saw a failure itself
        before = len(bad.requests())
        assert chat(b) == 200 and len(bad.requests()) == before
    finally:
        bad.stop()
        good.stop()
