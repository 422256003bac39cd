"""In-process storage: a dict with expiry, for one worker (lost on restart)."""

from __future__ import annotations

import builtins
import heapq
import time
from collections.abc import Callable

from crabllm.storage._common import norm_ttl, not_a_counter, parse_counter
from crabllm.storage.base import Entry, Increment

_SWEEP_BATCH = 64
"""Most expired entries purged per write, so one call never does unbounded work."""


class MemoryStorage:
    """A dict of (value, expires-at); counters are kept as int and read back as decimal bytes.

    Every method runs without awaiting anything, so on one event loop each call is atomic.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, tuple[bytes | int, float | None]] = {}
        # Expiry heap of (expires, key); entries can be stale (key rewritten) and are checked on pop.
        self._expiry: builtins.list[tuple[float, str]] = []

    # -- internals ---------------------------------------------------------------------------

    def _live(self, key: str, now: float) -> bytes | int | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= now:
            del self._data[key]
            return None
        return value

    def _put(self, key: str, value: bytes | int, ttl: float | None, now: float) -> None:
        seconds = norm_ttl(ttl)
        expires = None if seconds is None else now + seconds
        self._data[key] = (value, expires)
        if expires is not None:
            heapq.heappush(self._expiry, (expires, key))
        self._sweep(now)

    def _sweep(self, now: float) -> None:
        heap = self._expiry
        for _ in range(_SWEEP_BATCH):
            if not heap or heap[0][0] > now:
                break
            expires, key = heapq.heappop(heap)
            item = self._data.get(key)
            if item is not None and item[1] == expires:
                del self._data[key]
        if len(heap) > 2 * len(self._data) + 1024:
            # Rewrites of the same key leave stale heap entries; rebuild so memory stays bounded.
            self._expiry = [(exp, k) for k, (_, exp) in self._data.items() if exp is not None]
            heapq.heapify(self._expiry)

    def _counter(self, key: str, now: float) -> int | None:
        value = self._live(key, now)
        if value is None or isinstance(value, int):
            return value
        number = parse_counter(value)
        if number is None:
            raise not_a_counter(key)
        return number

    @staticmethod
    def _encode(value: bytes | int) -> bytes:
        return str(value).encode() if isinstance(value, int) else value

    # -- protocol ----------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        value = self._live(key, self._clock())
        return None if value is None else self._encode(value)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._put(key, bytes(value), ttl, self._clock())

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        now = self._clock()
        if self._live(key, now) is not None:
            return False
        self._put(key, bytes(value), ttl, now)
        return True

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        return (await self.incr_many([(key, amount, ttl)]))[0]

    async def incr_many(self, items: builtins.list[Increment]) -> builtins.list[int]:
        now = self._clock()
        # Validate every key first so a bad one leaves all counters untouched.
        current = {key: self._counter(key, now) for key, _, _ in items}
        results: builtins.list[int] = []
        for key, amount, ttl in items:
            old = current[key]
            new = (old or 0) + int(amount)
            if old is None:
                self._put(key, new, ttl, now)
            else:
                self._data[key] = (new, self._data[key][1])
            current[key] = new
            results.append(new)
        return results

    async def list(self, prefix: str, limit: int | None = None) -> builtins.list[Entry]:
        if limit is not None and limit <= 0:
            return []
        now = self._clock()
        keys = sorted(k for k in self._data if k.startswith(prefix))
        out: builtins.list[Entry] = []
        for key in keys:
            value = self._live(key, now)
            if value is not None:
                out.append((key, self._encode(value)))
                if limit is not None and len(out) >= limit:
                    break
        return out

    async def delete(self, key: str) -> bool:
        live = self._live(key, self._clock()) is not None
        self._data.pop(key, None)
        return live

    async def delete_prefix(self, prefix: str) -> int:
        now = self._clock()
        keys = [k for k in self._data if k.startswith(prefix)]
        removed = sum(1 for k in keys if self._live(k, now) is not None)
        for key in keys:
            self._data.pop(key, None)
        return removed

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None
