"""Cache eviction: past max_entries the oldest go, down to 90% of it, so a full cache does not rescan per store."""

from __future__ import annotations

from crabllm.config.schema import CacheExtension
from crabllm.extensions.cache import INDEX, Cache
from crabllm.extensions.call import Call
from crabllm.storage.memory import MemoryStorage


class CountingStorage(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.lists = 0

    async def list(self, prefix: str, limit: int | None = None):  # type: ignore[override]
        self.lists += 1
        return await super().list(prefix, limit)


def call(i: int) -> Call:
    c = Call(principal="*", key=None, model="m", endpoint="chat", stream=False, body=b"%d" % i, now=0.0)
    c.cache_key = f"{i:04d}"
    return c


async def test_a_full_cache_evicts_the_oldest_down_to_ninety_percent_and_rarely_scans() -> None:
    storage = CountingStorage()
    cache = Cache(CacheExtension(ttl_seconds=300, max_entries=100), storage)
    for i in range(300):
        await cache.store(call(i), b"answer")
    live = await MemoryStorage.list(storage, INDEX)
    assert 90 <= len(live) <= 100
    assert await storage.get("cache/e/0000") is None and await storage.get("cache/e/0299") == b"answer"
    # 200 stores past the bound: one scan per 10 of them, not one per store.
    assert storage.lists <= 25
