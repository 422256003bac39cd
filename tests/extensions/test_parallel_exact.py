"""max_parallel_requests is exact across worker processes (sqlite) and gateways (redis), and survives a kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from pathlib import Path

import httpx

from tests.cli.test_workers import free_port, start, stop
from tests.fakes.openai_upstream import FakeOpenAI, Script
from tests.storage.conftest import redis_gate, redis_reachable

LIMIT = 5
HOLD = 4.0  # seconds each admitted request stays at the upstream: every other one arrives meanwhile


def config(tmp_path: Path, storage: str, upstream: str, suffix: str) -> tuple[Path, str]:
    secret = f"sk-parallel-{suffix}-0123456789"
    path = tmp_path / "c.toml"
    path.write_text(f'''
{storage}

[providers.up]
base_url = "{upstream}"
models = ["m"]
max_retries = 0
timeout = 30

[[keys]]
name = "parallel-{suffix}"
key = "{secret}"
max_parallel_requests = {LIMIT}
''')
    return path, secret


async def burst(urls: list[str], key: str, n: int) -> list[httpx.Response]:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(timeout=60, limits=limits, headers={"authorization": f"Bearer {key}"}) as c:
        return list(await asyncio.gather(*(c.post(urls[i % len(urls)] + "/v1/chat/completions", json=body)
                                           for i in range(n))))


async def streams_then_more(urls: list[str], key: str) -> None:
    """LIMIT open streams fill the key; one more is refused (both envelopes); a disconnect frees a slot."""
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=60, headers=headers, limits=httpx.Limits(max_connections=50)) as c:
        opened = []
        for i in range(LIMIT):
            cm = c.stream("POST", urls[i % len(urls)] + "/v1/chat/completions", json=body)
            r = await cm.__aenter__()
            assert r.status_code == 200
            chunks = r.aiter_bytes()
            await chunks.__anext__()
            opened.append((cm, chunks))
        refused = await c.post(urls[-1] + "/v1/chat/completions", json={"model": "m", "messages": []})
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["type"] == "rate_limit_error"
        msg = await c.post(urls[0] + "/v1/messages", json={"model": "m", "max_tokens": 5,
                                                           "messages": [{"role": "user", "content": "hi"}]})
        assert msg.status_code == 429 and msg.json()["type"] == "error"
        assert msg.json()["error"]["type"] == "rate_limit_error" and msg.headers["retry-after"] == "1"
        cm, chunks = opened.pop(0)
        await chunks.aclose()
        await cm.__aexit__(None, None, None)  # the client goes away mid-stream
        deadline = time.monotonic() + 5
        while True:
            again = await c.post(urls[-1] + "/v1/chat/completions", json={"model": "m", "messages": []})
            if again.status_code == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert again.status_code == 200
        for cm, chunks in opened:
            await chunks.aclose()
            await cm.__aexit__(None, None, None)


def check_exact(urls: list[str], key: str, up: FakeOpenAI) -> None:
    up.answer_model("m", Script(delay=HOLD))
    rs = asyncio.run(burst(urls, key, 200))
    statuses = [r.status_code for r in rs]
    assert statuses.count(200) == LIMIT and statuses.count(429) == 200 - LIMIT, statuses
    assert up.max_active == LIMIT and len(up.requests()) == LIMIT  # never more at the upstream, no call for the rest
    refused = next(r for r in rs if r.status_code == 429)
    assert refused.headers["retry-after"] == "1" and refused.json()["error"]["code"] == "parallel_requests_exceeded"
    # Every slot came back: the next burst gets exactly LIMIT in again.
    up.max_active = 0
    statuses = [r.status_code for r in asyncio.run(burst(urls, key, 30))]
    assert statuses.count(200) == LIMIT and statuses.count(429) == 30 - LIMIT
    assert up.max_active == LIMIT
    up.answer_model("m", Script(chunk_delay=0.5))  # ~3 s streams
    asyncio.run(streams_then_more(urls, key))


def test_parallel_limit_exact_with_two_sqlite_workers(tmp_path: Path) -> None:
    up = FakeOpenAI().start()
    suffix = uuid.uuid4().hex[:8]
    path, key = config(tmp_path, '[storage]\nkind = "sqlite"\npath = "state.db"', up.base_url, suffix)
    port = free_port()
    proc = start(path, port, "--workers", "2")
    try:
        check_exact([f"http://127.0.0.1:{port}"], key, up)
    finally:
        stop(proc)
        up.stop()


def test_parallel_limit_exact_with_two_redis_gateways_and_a_kill(tmp_path: Path) -> None:
    redis_gate(redis_reachable(), os.environ)
    up = FakeOpenAI().start()
    suffix = uuid.uuid4().hex[:8]
    path, key = config(tmp_path, '[storage]\nkind = "redis"\npath = "redis://127.0.0.1:6379/0"', up.base_url, suffix)
    ports = [free_port(), free_port()]
    procs = [start(path, p) for p in ports]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        check_exact(urls, key, up)
        # kill -9 a gateway holding every slot: they come back within two epochs (10 s), with no cleanup.
        up.answer_model("m", Script(delay=60))

        async def fill_then_kill() -> float:
            body = {"model": "m", "messages": []}
            async with httpx.AsyncClient(timeout=70, headers={"authorization": f"Bearer {key}"}) as c:
                before = len(up.requests())
                held = [asyncio.create_task(c.post(urls[0] + "/v1/chat/completions", json=body)) for _ in range(LIMIT)]
                deadline = time.monotonic() + 10
                while len(up.requests()) - before < LIMIT and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                assert (await c.post(urls[1] + "/v1/chat/completions", json=body)).status_code == 429
                procs[0].send_signal(signal.SIGKILL)
                killed = time.monotonic()
                await asyncio.gather(*held, return_exceptions=True)
                up.answer_model("m", None)
                while (await c.post(urls[1] + "/v1/chat/completions", json=body)).status_code == 429:
                    assert time.monotonic() - killed < 12, "a killed gateway's slots did not expire"
                    await asyncio.sleep(0.25)
                return time.monotonic() - killed

        freed_after = asyncio.run(fill_then_kill())
        assert freed_after < 12
    finally:
        for p in procs:
            if p.poll() is None:
                stop(p)
        up.stop()
