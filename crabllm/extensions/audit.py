"""Audit trail: one record per finished request, written off the request path, queried through indexes.

Records are stored under keys whose timestamps are inverted (newest sorts first), bucketed by
hour, in three indexes: all, per key, per model. A query walks one index newest-first and stops
at `limit`; a time range only visits the hour buckets it covers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec

from crabllm.config.schema import AuditExtension
from crabllm.errors import CrabError
from crabllm.storage.base import Storage, together
from crabllm.types.admin_docs import AuditEntry

log = logging.getLogger("crabllm.audit")
PREFIX = "audit/"
HOUR_MS = 3_600_000
INV_MS = 10**13
INV_HOUR = 10**10
QUEUE = 10_000


AuditRecord = AuditEntry  # the stored record is the documented admin shape

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder(AuditRecord)


def _suffix(ts_ms: int, rid: str) -> str:
    return f"{INV_HOUR - ts_ms // HOUR_MS:010d}/{INV_MS - ts_ms:013d}-{rid}"


def _index(kind: str, value: str | None) -> str:
    return f"{PREFIX}{kind}/" if value is None else f"{PREFIX}{kind}/{value}\0/"


class AuditLog:
    """Owned by the gateway: a queue and one writer task per worker."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.cfg = AuditExtension()
        self._queue: asyncio.Queue[AuditRecord] = asyncio.Queue(QUEUE)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), 5)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def submit(self, record: AuditRecord) -> None:
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.dropped += 1

    async def drain(self) -> None:
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            record = await self._queue.get()
            try:
                await self._write(record)
            except CrabError as e:
                log.warning("audit: failed to write record %s: %s", record.request_id, e.message)
            finally:
                self._queue.task_done()

    async def _write(self, r: AuditRecord) -> None:
        value = _enc.encode(r)
        ttl = self.cfg.retention_days * 86400
        suffix = _suffix(r.timestamp, r.request_id)
        st = self.storage
        writes = [st.set(_index("t", None) + suffix, value, ttl)]
        if r.key:
            writes.append(st.set(_index("k", r.key) + suffix, value, ttl))
        if r.model:
            writes.append(st.set(_index("m", r.model) + suffix, value, ttl))
        if self.cfg.max_records:
            writes.append(st.incr(f"{PREFIX}n", 1))
        done = await together(st, *writes)
        if self.cfg.max_records and done[-1] > self.cfg.max_records * 1.1:
            await self.prune(self.cfg.max_records)

    async def prune(self, keep: int) -> int:
        """Delete all but the newest `keep` records (from every index)."""
        entries = await self.storage.list(_index("t", None))
        doomed = entries[keep:]
        for key, value in doomed:
            await self.storage.delete(key)
            with contextlib.suppress(msgspec.DecodeError):
                r = _dec.decode(value)
                suffix = _suffix(r.timestamp, r.request_id)
                await self.storage.delete(_index("k", r.key) + suffix)
                await self.storage.delete(_index("m", r.model) + suffix)
        await self.storage.incr(f"{PREFIX}n", -len(doomed))
        return len(doomed)

    async def query(self, *, key: str | None = None, model: str | None = None, status: int | None = None,
                    since: int | None = None, until: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first. `since`/`until` are epoch ms, inclusive."""
        limit = max(1, min(limit, 10_000))
        base = _index("k", key) if key else _index("m", model) if model else _index("t", None)
        out: list[dict[str, Any]] = []
        if since is None and until is None:
            prefixes = [base]
        else:
            hi = (until if until is not None else 2**42) // HOUR_MS
            lo = (since if since is not None else 0) // HOUR_MS
            if hi - lo > 24 * 400:  # an open range: walk the index from the top instead
                prefixes = [base]
            else:
                prefixes = [f"{base}{INV_HOUR - h:010d}/" for h in range(hi, lo - 1, -1)]
        for prefix in prefixes:
            scan = limit
            while True:
                entries = await self.storage.list(prefix, limit=scan)
                matched = [r for r in (_dec.decode(v) for _, v in entries) if _match(r, key, model, status, since, until)]
                if len(matched) >= limit - len(out) or len(entries) < scan:
                    break
                scan *= 4
            out.extend(msgspec.to_builtins(r) for r in matched[: limit - len(out)])
            if len(out) >= limit:
                break
        return out


def _match(r: AuditRecord, key: str | None, model: str | None, status: int | None, since: int | None,
           until: int | None) -> bool:
    return ((key is None or r.key == key) and (model is None or r.model == model)
            and (status is None or r.status == status) and (since is None or r.timestamp >= since)
            and (until is None or r.timestamp <= until))
