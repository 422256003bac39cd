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
            assert 'crabllm_circuit_open{model="m",provider="bad"} 1.0' in a.get("/metrics").text
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


def test_only_deployment_keeps_being_tried_while_open(upstream: FakeOpenAI, make_gateway) -> None:
    """Panic routing: with no alternative the breaker would only turn answers into errors."""
    upstream.script("/v1/chat/completions", *[Script(status=500)] * 5)
    gw = make_gateway(f'admin_token = "{ADMIN}"\n{BREAKER}[providers.p]\nbase_url = "{upstream.base_url}"\nmodels = ["m"]\nmax_retries = 0\n'
                      f'[[keys]]\nname = "k"\nkey = "{KEY}"\n')
    assert [chat(gw) for _ in range(3)] == [500, 500, 500]
    assert health(gw, "p")["state"] == "open"
    assert [chat(gw) for _ in range(2)] == [500, 500]  # still sent upstream, never a 503 of ours
    assert len(upstream.requests()) == 5
    assert chat(gw) == 200  # the upstream recovered: served at once, not after the cooldown
    assert len(upstream.requests()) == 6 and health(gw, "p")["state"] == "closed"


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


def three_models(url: str, extra: str = "", storage: str = "") -> str:
    return f'''admin_token = "{ADMIN}"
{storage}
{BREAKER}{extra}
[providers.oai]
base_url = "{url}"
models = ["a", "b", "c"]
max_retries = 0

[[keys]]
name = "k"
key = "{KEY}"
'''


def chat_model(gw, model: str) -> int:
    with gw.client(KEY) as c:
        return c.post("/v1/chat/completions", json={"model": model, "messages": []}).status_code


def deployments(gw, name: str) -> dict[str, dict]:
    with gw.client(ADMIN) as a:
        return {d["model"]: d for d in a.get(f"/v1/admin/providers/{name}").json()["deployments"]}


def test_a_failing_model_never_opens_its_neighbours(upstream: FakeOpenAI, make_gateway) -> None:
    upstream.answer_model("a", Script(status=500))
    gw = make_gateway(three_models(upstream.base_url).replace("cooldown_seconds = 0.6", "cooldown_seconds = 30"))
    assert [chat_model(gw, "a") for _ in range(3)] == [500] * 3
    state = deployments(gw, "oai")
    assert state["a"]["state"] == "open" and state["b"]["state"] == "closed" and state["c"]["state"] == "closed"
    for _ in range(5):
        assert chat_model(gw, "b") == 200 and chat_model(gw, "c") == 200
    with gw.client(ADMIN) as admin:
        info = admin.get("/v1/admin/providers/oai").json()
        metrics = admin.get("/metrics").text
    assert info["health"]["state"] == "open" and info["health"]["open_models"] == ["a"]
    assert 'crabllm_circuit_open{model="a",provider="oai"} 1.0' in metrics
    assert 'crabllm_circuit_open{model="b",provider="oai"} 1.0' not in metrics
    # 'a' alone, with no alternative, is still tried (panic routing) and recovers at once.
    upstream.answer_model("a", None)
    assert chat_model(gw, "a") == 200 and deployments(gw, "oai")["a"]["state"] == "closed"


def test_429_with_retry_after_parks_the_deployment_without_opening_it(make_gateway) -> None:
    limited, good = FakeOpenAI().start(), FakeOpenAI().start()
    try:
        limited.script("/v1/chat/completions", *[Script(status=429, headers={"retry-after": "1"})] * 10)
        gw = make_gateway(two(limited.base_url, good.base_url))
        assert [chat(gw) for _ in range(6)] == [200] * 6
        assert len(limited.requests()) == 1  # parked after its 429, not retried or re-picked
        h = health(gw, "bad")
        assert h["state"] == "rate_limited" and h["consecutive_failures"] == 0
        time.sleep(1.1)
        assert chat(gw) == 200 and len(limited.requests()) == 2  # its retry-after passed: picked again
        assert health(gw, "bad")["state"] != "open"
    finally:
        limited.stop()
        good.stop()


def test_repeated_429s_never_open_the_circuit_of_a_single_deployment(upstream: FakeOpenAI, make_gateway) -> None:
    upstream.script("/v1/chat/completions", *[Script(status=429, headers={"retry-after": "0"})] * 6)
    gw = make_gateway(f'admin_token = "{ADMIN}"\n{BREAKER}[providers.p]\nbase_url = "{upstream.base_url}"\nmodels = ["m"]\nmax_retries = 0\n'
                      f'[[keys]]\nname = "k"\nkey = "{KEY}"\n')
    assert [chat(gw) for _ in range(6)] == [429] * 6
    assert health(gw, "p")["consecutive_failures"] == 0 and health(gw, "p")["state"] != "open"
    assert chat(gw) == 200


def test_panic_threshold_is_validated(tmp_path) -> None:
    from crabllm.config.loader import load_config
    from crabllm.errors import ConfigError

    path = tmp_path / "c.toml"
    path.write_text('[circuit_breaker]\npanic_threshold = 1.5\n[providers.m]\nkind = "mock"\nmodels = ["m"]\n')
    try:
        load_config(path)
    except ConfigError as e:
        assert e.path == "circuit_breaker.panic_threshold"
    else:
        raise AssertionError("panic_threshold 1.5 was accepted")
