"""Exact-match response cache for non-streaming requests, keyed by the caller, the model and the body bytes."""

from __future__ import annotations

import hashlib
import time

from crabllm.config.schema import CacheExtension
from crabllm.extensions.call import Call
from crabllm.storage.base import Storage, together

ENTRY = "cache/e/"
INDEX = "cache/i/"
COUNT = "cache/n"


class Cache:
    """Entries expire after ttl_seconds; past max_entries the oldest are evicted, down to 90% of it."""

    def __init__(self, cfg: CacheExtension, storage: Storage) -> None:
        self.cfg = cfg
        self.storage = storage

    def key(self, call: Call) -> str:
        scope = b"*" if self.cfg.shared else call.principal.encode()
        h = hashlib.sha256(scope + b"\0" + call.endpoint.encode() + b"\0" + call.model.encode() + b"\0" + call.body)
        return h.hexdigest()

    async def lookup(self, call: Call) -> bytes | None:
        if call.stream:
            return None
        call.cache_key = self.key(call)
        return await self.storage.get(ENTRY + call.cache_key)

    async def store(self, call: Call, response: bytes) -> None:
        if call.cache_key is None:
            return
        ttl = float(self.cfg.ttl_seconds)
        st = self.storage
        # The counter only triggers a look at the index; expired entries leave it too high,
        # so the live index is what decides how many to evict.
        _, _, count = await together(st, st.set(ENTRY + call.cache_key, response, ttl),
                                     st.set(f"{INDEX}{time.time_ns():020d}/{call.cache_key}", b"", ttl),
                                     st.incr(COUNT, 1))
        if count > self.cfg.max_entries:
            await self._evict()

    async def _evict(self) -> None:
        # Down to 90% of the bound, not to the bound itself: otherwise, once full, every miss that
        # stores would list the whole index again (a full scan per request).
        live = await self.storage.list(INDEX)
        most = self.cfg.max_entries
        cut = max(0, len(live) - (most - max(1, most // 10))) if len(live) > most else 0
        doomed, kept = live[:cut], {k.rsplit("/", 1)[1] for k, _ in live[cut:]}
        for index_key, _ in doomed:
            await self.storage.delete(index_key)
            entry = index_key.rsplit("/", 1)[1]
            if entry not in kept:  # a newer store of the same response keeps it
                await self.storage.delete(ENTRY + entry)
        await self.storage.set(COUNT, str(len(live) - len(doomed)).encode())

    async def clear(self) -> int:
        return await self.storage.delete_prefix("cache/")
