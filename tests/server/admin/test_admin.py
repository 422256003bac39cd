"""Admin API through the real server: auth, keys, providers via the TOML editor, stats, events, metrics."""

from __future__ import annotations

import json
import threading
import time

import httpx

from tests.conftest import ADMIN, KEY, basic_config
from tests.fakes.openai_upstream import FakeOpenAI, wait_for


def admin(gw) -> httpx.Client:
    return gw.client(ADMIN)


def test_admin_token_required(gateway) -> None:
    with gateway.client() as c:
        r = c.get("/v1/admin/keys")
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    with gateway.client(KEY) as c:
        assert c.get("/v1/admin/keys").status_code == 401  # a virtual key is not an admin token


def test_admin_disabled_without_token(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(f'[providers.p]\nbase_url = "{upstream.base_url}"\nmodels = ["m"]\n')
    with gw.client("anything") as c:
        r = c.get("/v1/admin/keys")
    assert r.status_code == 404 and "admin_token" in r.json()["error"]["message"]


def test_issued_key_lifecycle(gateway, upstream: FakeOpenAI) -> None:
    with admin(gateway) as a:
        r = a.post("/v1/admin/keys", json={"name": "svc-1", "models": ["gpt-4o"], "rate_limit": {"requests_per_minute": 5}})
        assert r.status_code == 201, r.text
        secret = r.json()["key"]
        assert secret.startswith("sk-") and len(secret) == 67
        assert a.post("/v1/admin/keys", json={"name": "svc-1"}).status_code == 409
        assert a.post("/v1/admin/keys", json={"name": "team-a"}).status_code == 409  # config key name
        assert a.post("/v1/admin/keys", json={"name": "bad name!"}).status_code == 400
        assert a.post("/v1/admin/keys", json={"name": "x", "bogus": 1}).status_code == 400
        listed = {k["name"]: k for k in a.get("/v1/admin/keys").json()["data"]}
        assert listed["team-a"]["source"] == "config" and listed["svc-1"]["source"] == "issued"
        assert secret not in json.dumps(listed)
        with gateway.client(secret) as c:
            assert c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 200
            assert c.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"}).status_code == 403
            r = a.patch("/v1/admin/keys/svc-1", json={"models": ["*"], "rate_limit": None})
            assert r.status_code == 200 and r.json()["rate_limit"] is None
            assert c.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"}).status_code == 200
            assert a.patch("/v1/admin/keys/team-a", json={"models": ["*"]}).status_code == 403
            assert a.delete("/v1/admin/keys/team-a").status_code == 403
            assert a.delete("/v1/admin/keys/svc-1").status_code == 204
            assert c.post("/v1/chat/completions", json={"model": "gpt-4o"}).status_code == 401
        assert a.delete("/v1/admin/keys/svc-1").status_code == 404
        assert a.get("/v1/admin/keys/nope").status_code == 404


def test_expired_key_stops_working(gateway) -> None:
    with admin(gateway) as a:
        secret = a.post("/v1/admin/keys", json={"name": "short", "expires_in": 0.5}).json()["key"]
    with gateway.client(secret) as c:
        assert c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 200
        time.sleep(0.6)
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []})
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]


COMMENTED = '''# Our gateway.  Keep this comment!
admin_token = "{admin}"   # the admin token

# Primary upstream
[providers.fake]
kind = "openai"
base_url = "{url}"   # fake
models = ["gpt-4o"]

[[keys]]
name = "team-a"
key = "{key}"
'''


def test_provider_crud_rewrites_toml_keeping_comments(upstream: FakeOpenAI, make_gateway, tmp_path) -> None:
    gw = make_gateway(COMMENTED.format(admin=ADMIN, url=upstream.base_url, key=KEY))
    path = gw.config_path
    with admin(gw) as a, gw.client(KEY) as c:
        r = a.post("/v1/admin/providers", json={"name": "second", "base_url": upstream.base_url, "api_key": "sk-second-secret-xyz"})
        assert r.status_code == 201, r.text
        assert r.json()["models"] == ["fake-a", "fake-b"]  # discovered from the upstream's /models
        assert r.json()["api_key"] == "sk-sec…"
        text = path.read_text()
        for comment in ("# Our gateway.  Keep this comment!", "# the admin token", "# Primary upstream", "# fake"):
            assert comment in text
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert c.post("/v1/chat/completions", json={"model": "fake-a", "messages": []}).status_code == 200
        r = a.patch("/v1/admin/providers/second", json={"models": ["renamed"]})
        assert r.status_code == 200 and r.json()["models"] == ["renamed"]
        assert c.post("/v1/chat/completions", json={"model": "fake-a"}).status_code == 404
        bad = a.patch("/v1/admin/providers/second", json={"kind": "weird"})  # custom kind is fine with base_url
        assert bad.status_code == 200
        bad = a.patch("/v1/admin/providers/second", json={"base_url": None})
        assert bad.status_code == 400 and "base_url" in bad.json()["error"]["message"]
        assert "second" in path.read_text()
        assert a.delete("/v1/admin/providers/second").status_code == 204
        assert "second" not in path.read_text() and "# Primary upstream" in path.read_text()
        assert a.delete("/v1/admin/providers/second").status_code == 404
        assert a.post("/v1/admin/providers", json={"name": "fake", "base_url": upstream.base_url, "models": ["x"]}).status_code == 409
        t = a.post("/v1/admin/providers/fake/test").json()
        assert t["ok"] is True and t["latency_ms"] >= 0
        listed = a.get("/v1/admin/providers").json()["data"]
        assert listed[0]["last_test"]["ok"] is True


def test_config_status_and_reload(gateway) -> None:
    with admin(gateway) as a:
        status = a.get("/v1/admin/config").json()
        assert status["generation"] == 1 and status["storage"] == "memory"
        r = a.post("/v1/admin/reload")
        assert r.status_code == 200 and r.json()["generation"] == 2
        gateway.config_path.write_text("this is = = not toml")
        r = a.post("/v1/admin/reload")
        assert r.status_code == 400 and "invalid TOML" in r.json()["error"]["message"]
        status = a.get("/v1/admin/config").json()
        assert status["last_reload"]["ok"] is False and status["generation"] == 2


def test_stats_events_and_metrics(gateway) -> None:
    got: list[str] = []

    def listen() -> None:
        with httpx.Client(base_url=gateway.url, timeout=10) as c:
            with c.stream("GET", "/v1/admin/events", headers={"authorization": f"Bearer {ADMIN}"}) as r:
                for line in r.iter_lines():
                    got.append(line)
                    if line.startswith("data:") and '"status":200' in line:
                        return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    time.sleep(0.3)
    with gateway.client(KEY) as c:
        for _ in range(3):
            c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []})
        c.post("/v1/chat/completions", json={"model": "nope"})
    t.join(5)
    events = [json.loads(line[5:]) for line in got if line.startswith("data:")]
    assert events and events[0]["model"] == "gpt-4o" and events[0]["key"] == "team-a" and events[0]["prompt_tokens"] == 11
    with admin(gateway) as a:
        s = a.get("/v1/admin/stats", params={"window": 60}).json()
        assert s["requests"] == 4 and s["errors"] == 1 and s["prompt_tokens"] == 33
        assert s["by_model"][0]["name"] == "gpt-4o" and s["latency_ms"]["p50"] is not None
        m = a.get("/metrics")
        assert m.status_code == 200 and 'crabllm_request_duration_seconds_count{model="gpt-4o"' in m.text
        assert 'crabllm_tokens_total{direction="prompt",model="gpt-4o",provider="fake"} 33.0' in m.text
    with gateway.client() as c:
        assert c.get("/metrics").status_code == 401


def test_key_rotation_with_grace(gateway) -> None:
    with admin(gateway) as a:
        old = a.post("/v1/admin/keys", json={"name": "rot"}).json()["key"]
        r = a.post("/v1/admin/keys/rot/rotate", json={"grace_seconds": 0.6})
        assert r.status_code == 200 and r.json()["key"] != old and r.json()["previous_expires_at"] is not None
        new = r.json()["key"]
        assert a.post("/v1/admin/keys/team-a/rotate", json={}).status_code == 403
        assert a.post("/v1/admin/keys/nobody/rotate", json={}).status_code == 404
    with gateway.client(old) as c_old, gateway.client(new) as c_new:
        assert c_old.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 200
        assert c_new.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 200
        time.sleep(0.7)
        assert c_old.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 401
        assert c_new.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 200
    with admin(gateway) as a:
        newer = a.post("/v1/admin/keys/rot/rotate", json={}).json()["key"]  # no grace: the old one stops at once
    with gateway.client(new) as c:
        assert c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 401
    with gateway.client(newer) as c:
        assert c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []}).status_code == 200


def test_ready_reports_storage(gateway) -> None:
    with gateway.client() as c:
        r = c.get("/ready")
    assert r.status_code == 200 and r.json()["storage"] == "memory"


def test_live_test_of_a_translated_kind_sends_one_token(make_gateway) -> None:
    from tests.fakes.anthropic_upstream import FakeAnthropic

    fake = FakeAnthropic().start()
    try:
        gw = make_gateway(f'admin_token = "{ADMIN}"\n[providers.claude]\nkind = "anthropic"\napi_key = "sk-ant-x-12345"\n'
                          f'base_url = "{fake.base_url}"\nmodels = ["claude-crab-1"]\n')
        with admin(gw) as a:
            t = a.post("/v1/admin/providers/claude/test").json()
            assert t["ok"] is True and t["models"] == ["claude-crab-1"]
            sent = fake.requests()[-1].json()
            assert sent["max_tokens"] == 1 and sent["model"] == "claude-crab-1"
            r = a.post("/v1/admin/providers", json={"name": "c2", "kind": "anthropic", "api_key": "sk-ant-y-12345",
                                                    "base_url": fake.base_url})
            assert r.status_code == 400 and "models is required" in r.json()["error"]["message"]
    finally:
        fake.stop()
