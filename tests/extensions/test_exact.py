"""Exactness under concurrency: limits and budgets across worker processes (sqlite) and gateways (redis)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import httpx

from tests.cli.test_workers import free_port, start, stop
from tests.storage.conftest import redis_gate, redis_reachable

ADMIN = "sk-admin-exact-0123456789"


def config(tmp_path: Path, storage: str, suffix: str) -> tuple[Path, str, str]:
    limited, budgeted = f"sk-limited-{suffix}-0123456789", f"sk-budget-{suffix}-0123456789"
    path = tmp_path / "c.toml"
    path.write_text(f'''
admin_token = "{ADMIN}"
{storage}

[providers.m]
kind = "mock"
models = ["m"]
mock_latency_ms = 20

[[keys]]
name = "limited-{suffix}"
key = "{limited}"
rate_limit = {{ requests_per_minute = 50 }}
budget = 1000000.0

[[keys]]
name = "budgeted-{suffix}"
key = "{budgeted}"

[extensions.rate_limit]
requests_per_minute = 100000

[extensions.budget]
default_budget = 3.0

[extensions.usage]

[models.m.pricing]
prompt_cost_per_million = 100000.0
completion_cost_per_million = 100000.0
''')
    return path, limited, budgeted


async def burst(urls: list[str], key: str, n: int = 200) -> list[int]:
    body = {"model": "m", "messages": [{"role": "user", "content": "a b c"}]}  # 3 + 3 tokens: 0.6 USD
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(timeout=30, limits=limits, headers={"authorization": f"Bearer {key}"}) as c:
        rs = await asyncio.gather(*(c.post(urls[i % len(urls)] + "/v1/chat/completions", json=body) for i in range(n)))
    return [r.status_code for r in rs]


def check_exact(urls: list[str], limited: str, budgeted: str, suffix: str) -> None:
    statuses = asyncio.run(burst(urls, limited))
    assert statuses.count(200) == 50 and statuses.count(429) == 150
    # The first request teaches the gateway the price; then exactly 3.0 / 0.6 = 5 requests fit.
    assert asyncio.run(burst(urls, budgeted, 1)) == [200]
    statuses = asyncio.run(burst(urls, budgeted))
    assert statuses.count(200) == 4 and statuses.count(429) == 196
    admin = {"authorization": f"Bearer {ADMIN}"}
    usage = httpx.get(urls[0] + "/v1/admin/usage", params={"key": f"budgeted-{suffix}"}, headers=admin).json()["data"]
    assert usage == [{"key": f"budgeted-{suffix}", "model": "m", "provider": "m", "requests": 5, "prompt_tokens": 15,
                      "completion_tokens": 15, "total_tokens": 30, "cost_usd": 3.0}]
    budget = {r["key"]: r for r in httpx.get(urls[-1] + "/v1/admin/budget", headers=admin).json()["data"]}
    assert budget[f"budgeted-{suffix}"]["spent_usd"] == 3.0 and budget[f"budgeted-{suffix}"]["remaining_usd"] == 0.0
    usage = httpx.get(urls[0] + "/v1/admin/usage", params={"key": f"limited-{suffix}"}, headers=admin).json()["data"]
    assert usage[0]["requests"] == 50


def test_exact_with_two_sqlite_workers(tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    path, limited, budgeted = config(tmp_path, '[storage]\nkind = "sqlite"\npath = "state.db"', suffix)
    port = free_port()
    proc = start(path, port, "--workers", "2")
    try:
        check_exact([f"http://127.0.0.1:{port}"], limited, budgeted, suffix)
    finally:
        stop(proc)


def test_exact_with_two_redis_gateways(tmp_path: Path) -> None:
    redis_gate(redis_reachable(), os.environ)
    suffix = uuid.uuid4().hex[:8]
    path, limited, budgeted = config(tmp_path, '[storage]\nkind = "redis"\npath = "redis://127.0.0.1:6379/0"', suffix)
    ports = [free_port(), free_port()]
    procs = [start(path, p) for p in ports]
    try:
        check_exact([f"http://127.0.0.1:{p}" for p in ports], limited, budgeted, suffix)
    finally:
        for p in procs:
            stop(p)
