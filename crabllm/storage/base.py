"""The storage protocol: one small async key-value contract shared by every backend."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Awaitable
from typing import Any, Protocol, runtime_checkable

Entry = tuple[str, bytes]
"""One listed entry: the key and its value (counters as decimal ASCII)."""

Increment = tuple[str, int, float | None]
"""One item of `incr_many`: key, amount, ttl in seconds applied only when the counter is created."""


@runtime_checkable
class Storage(Protocol):
    """Byte values under str keys, with optional expiry and atomic integer counters."""

    async def get(self, key: str) -> bytes | None:
        """The live value of `key`, or None; a counter reads as its decimal ASCII bytes."""
        ...

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store `value`, replacing any previous value and expiry; ttl None keeps it forever."""
        ...

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Atomically store `value` only if `key` is absent or expired; True if it was stored."""
        ...

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Atomically add `amount` (creating at 0) and return the new value.

        `ttl` is applied only when the counter is created, so a fixed window expires on time.
        A key whose value is not a decimal integer raises ServerError and is left unchanged.
        """
        ...

    async def incr_many(self, items: builtins.list[Increment]) -> builtins.list[int]:
        """Apply several increments atomically together (all or none); the value after each item."""
        ...

    async def list(self, prefix: str, limit: int | None = None) -> builtins.list[Entry]:
        """Live entries whose key starts with `prefix`, sorted by key, at most `limit`."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove `key`; True if a live entry was removed."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every entry whose key starts with `prefix`; the number of live entries removed."""
        ...

    async def ping(self) -> None:
        """Return when the backend answers; raise StorageUnavailable otherwise."""
        ...

    async def close(self) -> None:
        """Release connections; safe to call twice."""
        ...


async def together(storage: Storage, *calls: Awaitable[Any]) -> builtins.list[Any]:
    """Await independent storage calls: at once on a backend that pipelines them (`pipelined`, e.g.
    redis: one write, one read), one after another elsewhere (tasks would only cost time there)."""
    if getattr(storage, "pipelined", False) and len(calls) > 1:
        return builtins.list(await asyncio.gather(*calls))
    return [await call for call in calls]
