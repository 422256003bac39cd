"""Per-key `max_parallel_requests`: slots held in storage counters, exact across workers, expiring after a crash.

Time is cut into epochs of EPOCH seconds and every key has one counter per epoch. A request in
flight is registered in the current epoch's counter and in the next one's: admission increments
both atomically (`incr_many`) and is refused when either value exceeds the limit (the increments
are taken back), so concurrent requests on every worker and instance see distinct counts and
exactly `limit` get in. While it runs, its worker's heartbeat registers it one epoch further
ahead during each epoch, long before that epoch begins; so at every moment the current epoch's
counter counts every live request. Release decrements the counters it is registered in.

A killed worker never releases, but its registrations reach at most one epoch past the one it
died in: its slots are free again after at most 2 x EPOCH seconds, with nothing to clean up (the
counters expire on their own). The cost is one heartbeat write per worker per epoch while it has
limited requests in flight; keys without a limit never touch any of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from crabllm.errors import CrabError, RateLimited
from crabllm.registry import KeyEntry
from crabllm.storage.base import Increment, Storage

log = logging.getLogger("crabllm.parallel")
PREFIX = "mp/"
EPOCH = 5.0
TTL = 4 * EPOCH
BEAT = 1.0  # seconds between heartbeats: registrations move ahead within a second of an epoch's start


class Slot:
    """One admitted request: its key's name and the epochs [first, last] it is registered in."""

    __slots__ = ("name", "first", "last")

    def __init__(self, name: str, first: int, last: int) -> None:
        self.name, self.first, self.last = name, first, last


def counter(name: str, epoch: int) -> str:
    return f"{PREFIX}{name}/{epoch}"


class ParallelLimiter:
    """Owned by the gateway (one per worker); survives reloads."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.live: set[Slot] = set()
        self._task: asyncio.Task[None] | None = None
        self._beating: asyncio.Future[None] | None = None  # set while a heartbeat write is in flight

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._beat_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def acquire(self, key: KeyEntry, limit: int) -> Slot:
        """Take a slot of `key` or raise RateLimited (429, retry-after 1) when `limit` are in use."""
        epoch = int(time.time() // EPOCH)
        ops: list[Increment] = [(counter(key.name, epoch), 1, TTL), (counter(key.name, epoch + 1), 1, TTL)]
        values = await self.storage.incr_many(ops)
        if max(values) > limit:
            await self.storage.incr_many([(k, -1, ttl) for k, _, ttl in ops])
            raise RateLimited(f"too many parallel requests: key '{key.name}' may have {limit} in flight at once",
                              retry_after=1.0, code="parallel_requests_exceeded")
        slot = Slot(key.name, epoch, epoch + 1)
        self.live.add(slot)
        return slot

    def releaser(self, slot: Slot) -> Callable[[], Awaitable[None]]:
        """A handler's `Exchange.finishing`: released before the last response bytes, or at the end at the latest."""
        return functools.partial(self.release, slot)

    async def release(self, slot: Slot) -> None:
        """Give the slot back; safe under cancellation (the write completes on its own)."""
        self.live.discard(slot)
        try:
            await asyncio.shield(self._release(slot))
        except CrabError as e:  # the epochs expire anyway: at most 2 x EPOCH seconds of one slot too few
            log.warning("cannot release a parallel-request slot of key '%s': %s", slot.name, e.message)

    async def _release(self, slot: Slot) -> None:
        beating = self._beating
        if beating is not None:  # a heartbeat may be registering this slot ahead right now: let it land first
            with contextlib.suppress(Exception):
                await asyncio.shield(beating)
        now = int(time.time() // EPOCH)
        ops: list[Increment] = [(counter(slot.name, e), -1, TTL) for e in range(max(slot.first, now - 1), slot.last + 1)]
        if ops:
            await self.storage.incr_many(ops)

    async def _beat_loop(self) -> None:
        while True:
            await asyncio.sleep(BEAT)
            try:
                await self.beat()
            except CrabError as e:
                log.warning("cannot extend parallel-request slots: %s", e.message)

    async def beat(self) -> None:
        """Register every live slot in the next epoch (and the current one, if a stall let it lapse)."""
        epoch = int(time.time() // EPOCH)
        due = [s for s in self.live if s.last <= epoch]
        if not due:
            return
        amounts: Counter[str] = Counter()
        for s in due:
            for e in range(max(s.last + 1, epoch), epoch + 2):
                amounts[counter(s.name, e)] += 1
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._beating = done
        try:
            await self.storage.incr_many([(k, n, TTL) for k, n in amounts.items()])
            for s in due:
                s.last = epoch + 1
        finally:
            self._beating = None
            done.set_result(None)
