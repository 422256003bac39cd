"""max_parallel_requests in one process: slots, epochs moved ahead by the heartbeat, a crashed worker's expiry."""

from __future__ import annotations

import asyncio
import time

import pytest

from crabllm.errors import RateLimited
from crabllm.extensions import parallel
from crabllm.extensions.parallel import EPOCH, ParallelLimiter
from crabllm.registry import KeyEntry
from crabllm.storage.memory import MemoryStorage

KEY = KeyEntry(name="k", models=None, max_parallel_requests=2)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(1000 * EPOCH + 0.5)
    monkeypatch.setattr(parallel, "time", c)
    return c


async def test_limit_is_exact_and_release_frees_the_slot(clock: Clock) -> None:
    limiter = ParallelLimiter(MemoryStorage())
    a = await limiter.acquire(KEY, 2)
    await limiter.acquire(KEY, 2)
    with pytest.raises(RateLimited) as e:
        await limiter.acquire(KEY, 2)
    assert e.value.status == 429 and e.value.headers() == {"retry-after": "1"}
    await limiter.release(a)
    await limiter.acquire(KEY, 2)  # the rejected one took its increments back


async def test_concurrent_acquires_admit_exactly_the_limit(clock: Clock) -> None:
    storage = MemoryStorage()
    workers = [ParallelLimiter(storage) for _ in range(4)]

    async def one(i: int) -> bool:
        try:
            await workers[i % 4].acquire(KEY, 2)
            return True
        except RateLimited:
            return False

    admitted = await asyncio.gather(*(one(i) for i in range(50)))
    assert admitted.count(True) == 2


async def test_heartbeat_carries_long_requests_into_later_epochs(clock: Clock) -> None:
    limiter = ParallelLimiter(MemoryStorage())
    slot = await limiter.acquire(KEY, 2)
    await limiter.acquire(KEY, 2)
    for _ in range(5):  # a long stream: the heartbeat runs within each epoch
        clock.now += EPOCH
        await limiter.beat()
        with pytest.raises(RateLimited):
            await limiter.acquire(KEY, 2)  # still counted, epochs later
    await limiter.release(slot)
    await limiter.acquire(KEY, 2)
    with pytest.raises(RateLimited):
        await limiter.acquire(KEY, 2)


async def test_a_crashed_workers_slots_expire_within_two_epochs(clock: Clock) -> None:
    storage = MemoryStorage()
    dead, alive = ParallelLimiter(storage), ParallelLimiter(storage)
    await dead.acquire(KEY, 2)
    await dead.acquire(KEY, 2)
    await dead.beat()  # kill -9 now: no release, no further heartbeat
    with pytest.raises(RateLimited):
        await alive.acquire(KEY, 2)
    clock.now += EPOCH
    with pytest.raises(RateLimited):
        await alive.acquire(KEY, 2)  # registered one epoch ahead: still held
    clock.now += EPOCH
    await alive.acquire(KEY, 2)
    await alive.acquire(KEY, 2)


async def test_release_waits_for_a_heartbeat_in_flight(clock: Clock) -> None:
    storage = MemoryStorage()
    limiter = ParallelLimiter(storage)
    slot = await limiter.acquire(KEY, 1)
    clock.now += EPOCH
    beat = asyncio.create_task(limiter.beat())
    await asyncio.sleep(0)
    await limiter.release(slot)
    await beat
    clock.now += EPOCH
    await limiter.acquire(KEY, 1)  # the heartbeat's registration was taken back with the rest


def test_issued_keys_take_the_limit_through_the_admin_api(make_gateway) -> None:
    import threading

    import httpx

    from tests.conftest import ADMIN, KEY
    from tests.fakes.openai_upstream import FakeOpenAI, Script

    up = FakeOpenAI().start()
    try:
        up.answer_model("m", Script(delay=1.0))
        gw = make_gateway(f'admin_token = "{ADMIN}"\n[providers.p]\nbase_url = "{up.base_url}"\nmodels = ["m"]\n'
                          f'[[keys]]\nname = "cfg"\nkey = "{KEY}"\nmax_parallel_requests = 3\n')
        with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {ADMIN}"}) as admin:
            assert admin.get("/v1/admin/keys/cfg").json()["max_parallel_requests"] == 3
            assert admin.post("/v1/admin/keys", json={"name": "zero", "max_parallel_requests": 0}).status_code == 400
            created = admin.post("/v1/admin/keys", json={"name": "one", "max_parallel_requests": 1}).json()
            assert created["max_parallel_requests"] == 1
            secret = created["key"]
            body = {"model": "m", "messages": []}
            with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {secret}"}, timeout=10) as c:
                held = threading.Thread(target=lambda: c.post("/v1/chat/completions", json=body))
                held.start()
                deadline = time.monotonic() + 5
                while not up.requests() and time.monotonic() < deadline:
                    time.sleep(0.02)
                r = c.post("/v1/chat/completions", json=body)
                assert r.status_code == 429 and r.headers["retry-after"] == "1"
                assert r.json()["error"]["code"] == "parallel_requests_exceeded"
                held.join()
                patched = admin.patch("/v1/admin/keys/one", json={"max_parallel_requests": None}).json()
                assert patched["max_parallel_requests"] is None
                up.answer_model("m", None)
                assert c.post("/v1/chat/completions", json=body).status_code == 200
    finally:
        up.stop()


def test_a_sequential_client_never_meets_its_own_previous_request(make_gateway) -> None:
    """The slot is given back before the answer's last bytes: the next request right after finds it free."""
    from tests.conftest import KEY

    gw = make_gateway(f'[storage]\nkind = "sqlite"\npath = "seq.db"\n[providers.p]\nkind = "mock"\nmodels = ["m"]\n'
                      f'[[keys]]\nname = "one"\nkey = "{KEY}"\nmax_parallel_requests = 1\n[extensions.usage]\n'
                      f'[extensions.audit]\n')
    with gw.client(KEY) as c:
        for i in range(40):
            body = {"model": "m", "stream": i % 2 == 1, "messages": [{"role": "user", "content": "hi"}]}
            r = c.post("/v1/chat/completions", json=body)
            assert r.status_code == 200, (i, r.text)
