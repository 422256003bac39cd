"""Routing strategies through the real gateway against fake upstreams, with a fixed seed."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.conftest import ADMIN, KEY
from tests.fakes.openai_upstream import FakeOpenAI, Script, wait_for


def providers(urls: list[str], routing: str, extra: str = "", retries: int = 0) -> str:
    out = f'admin_token = "{ADMIN}"\n\n[[keys]]\nname = "k"\nkey = "{KEY}"\n\n[models.m]\nrouting = "{routing}"\n{extra}\n'
    for i, url in enumerate(urls):
        out += f'\n[providers.p{i}]\nbase_url = "{url}"\nmodels = ["m"]\nmax_retries = {retries}\ntimeout = 5\n'
    return out


def fakes(n: int) -> list[FakeOpenAI]:
    return [FakeOpenAI().start() for _ in range(n)]


def deployments(gw) -> dict[str, dict]:
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {ADMIN}"}) as a:
        return {p["name"]: p["deployments"][0] for p in a.get("/v1/admin/providers").json()["data"]}


async def _chat_many(url: str, n: int, concurrency: int) -> list[int]:
    sem = asyncio.Semaphore(concurrency)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {KEY}"}, timeout=10) as c:
        async def one() -> int:
            async with sem:
                return (await c.post("/v1/chat/completions", json=body)).status_code
        return await asyncio.gather(*(one() for _ in range(n)))


def test_latency_sends_little_to_a_slow_deployment(make_gateway) -> None:
    fast, slow = fakes(2)
    try:
        slow.answer_model("m", Script(delay=0.150))
        gw = make_gateway(providers([fast.base_url, slow.base_url], "latency"))
        statuses = asyncio.run(_chat_many(gw.url, 200, 4))
        assert statuses.count(200) == 200
        share = len(slow.requests()) / 200
        assert share < 0.10, share
        deps = deployments(gw)
        assert deps["p1"]["ewma_latency_ms"] > 100 > deps["p0"]["ewma_latency_ms"] > 0
        assert deps["p0"]["inflight"] == deps["p1"]["inflight"] == 0
    finally:
        fast.stop()
        slow.stop()


async def _open_streams(url: str, n: int, seconds: float, gw) -> tuple[list[int], dict[str, dict]]:
    """Open `n` streams together, snapshot the gateway's in-flight view once all are flowing, read them out."""
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    started = asyncio.Event()
    flowing = 0
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {KEY}"}, timeout=30,
                                 limits=limits) as c:
        async def one() -> int:
            nonlocal flowing
            async with c.stream("POST", "/v1/chat/completions", json=body) as r:
                it = r.aiter_bytes()
                await it.__anext__()
                flowing += 1
                if flowing == n:
                    started.set()
                async for _ in it:
                    pass
                return r.status_code

        tasks = [asyncio.create_task(one()) for _ in range(n)]
        await asyncio.wait_for(started.wait(), seconds)
        snapshot = await asyncio.to_thread(deployments, gw)
        return list(await asyncio.gather(*tasks)), snapshot


def test_least_busy_spreads_concurrent_long_streams_evenly(make_gateway) -> None:
    ups = fakes(3)
    try:
        for f in ups:
            f.answer_model("m", Script(chunk_delay=0.4))  # 7 chunks: ~2.4 s per stream
        gw = make_gateway(providers([f.base_url for f in ups], "least_busy"))
        statuses, snapshot = asyncio.run(_open_streams(gw.url, 12, 10, gw))
        assert statuses == [200] * 12
        inflight = [snapshot[f"p{i}"]["inflight"] for i in range(3)]
        assert sum(inflight) == 12 and max(inflight) - min(inflight) <= 1, inflight
        received = [len(f.requests()) for f in ups]
        assert max(received) - min(received) <= 1, received
        assert wait_for(lambda: all(d["inflight"] == 0 for d in deployments(gw).values()))  # released at the end
    finally:
        for f in ups:
            f.stop()


def test_a_client_disconnect_mid_stream_releases_the_deployment(make_gateway) -> None:
    up = FakeOpenAI().start()
    try:
        up.answer_model("m", Script(chunk_delay=0.5))
        gw = make_gateway(providers([up.base_url], "least_busy"))
        body = {"model": "m", "stream": True, "messages": []}
        with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {KEY}"}, timeout=10) as c:
            with c.stream("POST", "/v1/chat/completions", json=body) as r:
                chunks = r.iter_bytes()  # kept referenced: a collected iterator closes the response
                next(chunks)
                assert deployments(gw)["p0"]["inflight"] == 1
        assert wait_for(lambda: deployments(gw)["p0"]["inflight"] == 0)
    finally:
        up.stop()


def test_cost_serves_the_cheap_one_first_and_the_dear_one_only_when_it_fails(make_gateway) -> None:
    cheap, dear = fakes(2)
    prices = ('[models."p0/m".pricing]\nprompt_cost_per_million = 2.5\ncompletion_cost_per_million = 10\n'
              '[models."p1/m".pricing]\nprompt_cost_per_million = 0.1\ncompletion_cost_per_million = 0.4\n')
    try:
        # The dear one (p0) is listed first and weighs 50 times more: only the price decides.
        toml = providers([dear.base_url, cheap.base_url], "cost", prices)
        gw = make_gateway(toml.replace('[providers.p0]', '[providers.p0]\nweight = 50'))
        with gw.client(KEY) as c:
            for _ in range(30):
                r = c.post("/v1/chat/completions", json={"model": "m", "messages": []})
                assert r.status_code == 200 and r.headers["x-crabllm-provider"] == "p1"
            assert len(dear.requests()) == 0 and len(cheap.requests()) == 30
            cheap.answer_model("m", Script(status=503))
            for _ in range(3):
                r = c.post("/v1/chat/completions", json={"model": "m", "messages": []})
                assert r.status_code == 200 and r.headers["x-crabllm-provider"] == "p0"
            assert len(cheap.requests()) == 33 and len(dear.requests()) == 3  # tried first every time
    finally:
        cheap.stop()
        dear.stop()


def test_strategy_change_applies_on_reload_and_metrics_show_loads(make_gateway, tmp_path) -> None:
    a, b = fakes(2)
    try:
        toml = providers([a.base_url, b.base_url], "weighted").replace('[providers.p1]', '[providers.p1]\nweight = 0')
        gw = make_gateway(toml)
        with gw.client(KEY) as c:
            for _ in range(5):
                c.post("/v1/chat/completions", json={"model": "m", "messages": []})
        assert len(b.requests()) == 0  # weighted: weight 0 is a backup only
        (tmp_path / "crabllm.toml").write_text(toml.replace('routing = "weighted"', 'routing = "least_busy"')
                                               .replace('weight = 0', 'weight = 1'))
        with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {ADMIN}"}) as admin:
            assert admin.post("/v1/admin/reload").status_code == 200
            with gw.client(KEY) as c:
                for _ in range(20):
                    c.post("/v1/chat/completions", json={"model": "m", "messages": []})
            assert len(b.requests()) > 0  # least_busy: idle ties go either way at random
            deadline = time.monotonic() + 3
            text = admin.get("/metrics").text
            while 'crabllm_deployment_latency_ewma_seconds{model="m",provider="p1"}' not in text and time.monotonic() < deadline:
                time.sleep(0.2)
                text = admin.get("/metrics").text
        assert 'crabllm_deployment_inflight{model="m",provider="p0"} 0.0' in text
        assert 'crabllm_deployment_latency_ewma_seconds{model="m",provider="p1"}' in text
    finally:
        a.stop()
        b.stop()
