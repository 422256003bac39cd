"""Each extension through the real HTTP server against the fake upstream, streaming and not."""

from __future__ import annotations

import json
import logging
import time

import pytest

from tests.conftest import ADMIN, KEY, OTHER_KEY, basic_config
from tests.fakes.openai_upstream import FakeOpenAI, Script, wait_for

PRICING = '''
[models."gpt-4o".pricing]
prompt_cost_per_million = 1000.0
completion_cost_per_million = 2000.0
'''
# The fake upstream reports 11 prompt + 7 completion tokens: 0.011 + 0.014 = 0.025 USD a request.
COST = 0.025


def chat(c, stream: bool = False, **extra):
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **extra}
    if stream:
        body["stream"] = True
    return c.post("/v1/chat/completions", json=body)


def test_rate_limit_requests_with_headers(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(basic_config(upstream.base_url, "\n[extensions.rate_limit]\nrequests_per_minute = 3\n"))
    with gw.client(KEY) as c:
        rs = [chat(c) for _ in range(3)]
        assert [r.status_code for r in rs] == [200, 200, 200]
        assert rs[0].headers["x-ratelimit-limit-requests"] == "3"
        assert [r.headers["x-ratelimit-remaining-requests"] for r in rs] == ["2", "1", "0"]
        assert rs[0].headers["x-ratelimit-reset-requests"].endswith("s")
        r = chat(c)
        assert r.status_code == 429
        assert r.json()["error"]["type"] == "rate_limit_error" and "3 requests per minute" in r.json()["error"]["message"]
        assert int(r.headers["retry-after"]) >= 1 and r.headers["x-ratelimit-remaining-requests"] == "0"
        assert chat(c, stream=True).status_code == 429
    with gw.client(OTHER_KEY) as c:  # another key has its own window
        assert chat(c).status_code == 200
    assert len(upstream.requests()) == 4


def test_per_key_limit_overrides_default(upstream: FakeOpenAI, make_gateway) -> None:
    cfg = basic_config(upstream.base_url, "\n[extensions.rate_limit]\nrequests_per_minute = 100\n")
    cfg = cfg.replace('name = "restricted"', 'name = "restricted"\nrate_limit = { requests_per_minute = 1 }')
    gw = make_gateway(cfg)
    with gw.client(OTHER_KEY) as c:
        assert chat(c).status_code == 200
        assert chat(c).status_code == 429
    with gw.client(KEY) as c:
        assert chat(c).status_code == 200 and chat(c).headers["x-ratelimit-limit-requests"] == "100"


def test_issued_key_limits_apply(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(basic_config(upstream.base_url, "\n[extensions.rate_limit]\nrequests_per_minute = 100\n"))
    with gw.client(ADMIN) as a:
        secret = a.post("/v1/admin/keys", json={"name": "tiny", "rate_limit": {"requests_per_minute": 2}}).json()["key"]
    with gw.client(secret) as c:
        assert [chat(c).status_code for _ in range(3)] == [200, 200, 429]


def test_tokens_per_minute_counts_streams(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(basic_config(upstream.base_url, "\n[extensions.rate_limit]\ntokens_per_minute = 30\n"))
    with gw.client(KEY) as c:
        r = chat(c, stream=True)  # 18 tokens, counted from the usage chunk
        assert r.status_code == 200 and r.headers["x-ratelimit-limit-tokens"] == "30"
        r = chat(c)
        assert r.status_code == 200 and r.headers["x-ratelimit-remaining-tokens"] == "12"
        r = chat(c)
        assert r.status_code == 429 and "tokens per minute" in r.json()["error"]["message"]


def test_global_limit(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(basic_config(upstream.base_url, "\n[extensions.rate_limit]\nglobal_requests_per_minute = 2\n"))
    with gw.client(KEY) as a, gw.client(OTHER_KEY) as b:
        assert [chat(a).status_code, chat(b).status_code, chat(a).status_code] == [200, 200, 429]


def test_usage_counts_stream_and_plain_and_embeddings(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(basic_config(upstream.base_url, "\n[extensions.usage]\n" + PRICING))
    with gw.client(KEY) as c:
        chat(c)
        chat(c, stream=True)
        chat(c, stream=True, stream_options={"include_usage": True})
        c.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"})
        mine = c.get("/v1/usage").json()["data"]
    with gw.client(ADMIN) as a:
        rows = a.get("/v1/admin/usage").json()["data"]
        only = a.get("/v1/admin/usage", params={"model": "gpt-4o"}).json()["data"]
    by_model = {r["model"]: r for r in rows}
    assert by_model["gpt-4o"]["requests"] == 3
    assert by_model["gpt-4o"]["prompt_tokens"] == 33 and by_model["gpt-4o"]["completion_tokens"] == 21
    assert by_model["gpt-4o"]["cost_usd"] == pytest.approx(3 * COST)
    assert by_model["text-embedding-3-small"]["prompt_tokens"] == 5
    assert all(r["key"] == "team-a" and r["provider"] == "fake" for r in rows)
    assert mine == rows and len(only) == 1


def test_budget_blocks_before_upstream_and_resets(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(basic_config(upstream.base_url, f"\n[extensions.budget]\ndefault_budget = {COST * 2}\n" + PRICING))
    with gw.client(KEY) as c:
        assert chat(c).status_code == 200
        assert chat(c, stream=True).status_code == 200
        r = chat(c)
        assert r.status_code == 429 and r.json()["error"]["type"] == "budget_exceeded"
    assert len(upstream.requests()) == 2
    with gw.client(ADMIN) as a:
        rows = {r["key"]: r for r in a.get("/v1/admin/budget").json()["data"]}
        assert rows["team-a"]["spent_usd"] == pytest.approx(2 * COST) and rows["team-a"]["remaining_usd"] == 0
        assert rows["restricted"]["spent_usd"] == 0 and rows["team-a"]["next_reset"] is None
        assert a.post("/v1/admin/budget/team-a/reset").status_code == 200
        assert a.post("/v1/admin/budget/nobody/reset").status_code == 404
    with gw.client(KEY) as c:
        assert chat(c).status_code == 200


def test_budget_per_key_and_period(upstream: FakeOpenAI, make_gateway) -> None:
    extra = f'\n[extensions.budget]\ndefault_budget = 100.0\nperiod = "daily"\n[extensions.budget.keys.restricted]\nbudget = {COST / 2}\n' + PRICING
    gw = make_gateway(basic_config(upstream.base_url, extra))
    with gw.client(OTHER_KEY) as c:
        assert chat(c).status_code == 200
        assert chat(c).status_code == 429
    with gw.client(ADMIN) as a:
        row = {r["key"]: r for r in a.get("/v1/admin/budget").json()["data"]}["restricted"]
    assert row["period"] == "daily" and row["next_reset"] > time.time()


def test_cache_hit_miss_isolated_and_cleared(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(basic_config(upstream.base_url, "\n[extensions.cache]\nttl_seconds = 60\n[extensions.usage]\n"))
    with gw.client(KEY) as c:
        first, second = chat(c), chat(c)
        assert first.headers["x-crabllm-cache"] == "miss" and second.headers["x-crabllm-cache"] == "hit"
        assert second.content == first.content
        assert "x-crabllm-cache" not in chat(c, stream=True).headers  # streams are never cached
    with gw.client(OTHER_KEY) as c:
        assert chat(c).headers["x-crabllm-cache"] == "miss"  # keys do not share entries
    assert len(upstream.requests()) == 3
    with gw.client(ADMIN) as a:
        rows = a.get("/v1/admin/usage").json()["data"]
        assert sum(r["requests"] for r in rows if r["key"] == "team-a") == 2  # the hit is not billed
        assert a.delete("/v1/admin/cache").json()["removed"] >= 2
    with gw.client(KEY) as c:
        assert chat(c).headers["x-crabllm-cache"] == "miss"


def test_cache_ttl_and_max_entries(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(basic_config(upstream.base_url, "\n[extensions.cache]\nttl_seconds = 1\nmax_entries = 2\nshared = true\n"))
    with gw.client(KEY) as c:
        for i in range(3):
            chat(c, user=f"u{i}")
        assert chat(c, user="u0").headers["x-crabllm-cache"] == "miss"  # evicted as the oldest
        assert chat(c, user="u2").headers["x-crabllm-cache"] == "hit"
        time.sleep(1.2)
        assert chat(c, user="u2").headers["x-crabllm-cache"] == "miss"  # expired
    with gw.client(OTHER_KEY) as c:
        assert chat(c, user="u2").headers["x-crabllm-cache"] == "hit"  # shared = true


def test_audit_records_and_filters(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(basic_config(upstream.base_url, "\n[extensions.audit]\n" + PRICING))
    upstream.script("/v1/chat/completions", Script(), Script(), Script(status=400, body=b'{"error":{"message":"nope"}}'))
    before = int(time.time() * 1000)
    with gw.client(KEY) as c:
        chat(c)
        chat(c, stream=True)
        chat(c)
    with gw.client(OTHER_KEY) as c:
        chat(c)
    with gw.client(ADMIN) as a:
        logs = a.get("/v1/admin/logs").json()["data"]
        assert len(logs) == 4 and [r["timestamp"] for r in logs] == sorted((r["timestamp"] for r in logs), reverse=True)
        mine = a.get("/v1/admin/logs", params={"key": "team-a"}).json()["data"]
        assert len(mine) == 3 and {r["status"] for r in mine} == {200, 400}
        failed = a.get("/v1/admin/logs", params={"status": 400}).json()["data"]
        assert len(failed) == 1 and failed[0]["error"] == "nope"
        ok = [r for r in mine if r["status"] == 200]
        assert all(r["prompt_tokens"] == 11 and r["cost_usd"] == pytest.approx(COST) for r in ok)
        assert any(r["stream"] for r in ok)
        assert len(a.get("/v1/admin/logs", params={"limit": 2}).json()["data"]) == 2
        ranged = a.get("/v1/admin/logs", params={"since": before, "until": int(time.time() * 1000) + 1000}).json()["data"]
        assert len(ranged) == 4
        assert a.get("/v1/admin/logs", params={"until": before - 1}).json()["data"] == []


def test_disabled_extension_routes_are_404(gateway) -> None:
    with gateway.client(ADMIN) as a:
        for path in ("/v1/admin/usage", "/v1/admin/budget", "/v1/admin/logs"):
            assert a.get(path).status_code == 404
        assert a.delete("/v1/admin/cache").status_code == 404
    with gateway.client() as c:
        assert c.get("/v1/admin/usage").status_code == 401


def test_logging_json_without_secrets(upstream: FakeOpenAI, make_gateway, caplog) -> None:
    gw = make_gateway(basic_config(upstream.base_url, '\n[extensions.logging]\nformat = "json"\n'))
    with caplog.at_level(logging.INFO, logger="crabllm.access"):
        with gw.client(KEY) as c:
            chat(c)
            chat(c, stream=True)
        # The line is written once the response has gone out, so it may trail the client.
        wait_for(lambda: sum(r.name == "crabllm.access" for r in caplog.records) == 2)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "crabllm.access"]
    assert len(lines) == 2 and {line["stream"] for line in lines} == {True, False}
    assert lines[0]["key"] == "team-a" and lines[0]["prompt_tokens"] == 11 and "request_body" not in lines[0]
    assert KEY not in caplog.text and "sk-upstream-secret" not in caplog.text and '"hi"' not in caplog.text


def test_log_bodies_opt_in(upstream: FakeOpenAI, make_gateway, caplog) -> None:
    gw = make_gateway(basic_config(upstream.base_url, '\n[extensions.logging]\nlog_bodies = true\n'))
    with caplog.at_level(logging.INFO, logger="crabllm.access"):
        with gw.client(KEY) as c:
            chat(c)
        wait_for(lambda: '"content":"hi"' in caplog.text)
    assert '"content":"hi"' in caplog.text and KEY not in caplog.text


def test_counters_survive_reload(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(basic_config(upstream.base_url, "\n[extensions.rate_limit]\nrequests_per_minute = 2\n"))
    with gw.client(KEY) as c, gw.client(ADMIN) as a:
        assert chat(c).status_code == 200
        assert a.post("/v1/admin/reload").status_code == 200
        assert chat(c).status_code == 200
        assert chat(c).status_code == 429
