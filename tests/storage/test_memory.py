"""Memory backend specifics: expiry on an injected clock, bounded sweeping and heap size."""

from __future__ import annotations

from crabllm.storage.memory import MemoryStorage


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_expiry_follows_the_clock() -> None:
    clock = Clock()
    storage = MemoryStorage(clock=clock)
    await storage.set("k", b"v", ttl=10)
    assert await storage.incr("c", ttl=10) == 1
    clock.now += 9.999
    assert await storage.get("k") == b"v"
    assert await storage.incr("c", ttl=10) == 2
    clock.now += 0.001
    assert await storage.get("k") is None
    assert await storage.incr("c") == 1


async def test_writes_sweep_a_bounded_number_of_expired_entries() -> None:
    clock = Clock()
    storage = MemoryStorage(clock=clock)
    for i in range(200):
        await storage.set(f"e:{i}", b"v", ttl=1)
    clock.now += 2
    await storage.set("live", b"v")
    assert 200 - 64 <= len(storage._data) - 1 < 200  # some swept, never all in one call
    for _ in range(5):
        await storage.set("live", b"v")
    assert list(storage._data) == ["live"]


async def test_rewriting_a_key_keeps_the_expiry_heap_bounded() -> None:
    storage = MemoryStorage(clock=Clock())
    for _ in range(5000):
        await storage.set("hot", b"v", ttl=60)
    assert len(storage._expiry) <= 2 * len(storage._data) + 1025
    assert await storage.get("hot") == b"v"
