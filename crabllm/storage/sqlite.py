"""Embedded persistent storage on SQLite (aiosqlite, WAL): safe for several worker processes."""

from __future__ import annotations

import asyncio
import builtins
import os
import pathlib
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import aiosqlite

from crabllm.errors import ServerError, StorageUnavailable
from crabllm.storage._common import norm_ttl, not_a_counter, parse_counter, prefix_end
from crabllm.storage.base import Entry, Increment

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL)",
    "CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires)",
)

_SET = (
    "INSERT INTO kv (key, value, expires) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires"
)

# The DO UPDATE only fires over an expired row, so RETURNING yields a row iff we stored.
_ADD = (
    "INSERT INTO kv (key, value, expires) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires "
    "WHERE kv.expires IS NOT NULL AND kv.expires <= ?4 RETURNING 1"
)

# One statement is one write transaction, so concurrent processes serialise on the database
# lock (waiting up to busy_timeout) and no increment is lost. An expired row restarts from 0
# with the new ttl; a canonical decimal blob (from `set`) is counted on; anything else becomes
# NULL, which violates NOT NULL and rolls the whole statement back (all items or none).
_INCR_HEAD = "INSERT INTO kv (key, value, expires) VALUES "
_INCR_TAIL = (
    " ON CONFLICT (key) DO UPDATE SET "
    "value = CASE "
    "WHEN kv.expires IS NOT NULL AND kv.expires <= ?1 THEN excluded.value "
    "WHEN typeof(kv.value) = 'integer' THEN kv.value + excluded.value "
    "WHEN typeof(kv.value) IN ('blob', 'text') "
    "AND CAST(CAST(CAST(kv.value AS TEXT) AS INTEGER) AS TEXT) = CAST(kv.value AS TEXT) "
    "THEN CAST(CAST(kv.value AS TEXT) AS INTEGER) + excluded.value "
    "ELSE NULL END, "
    "expires = CASE WHEN kv.expires IS NOT NULL AND kv.expires <= ?1 "
    "THEN excluded.expires ELSE kv.expires END "
    "RETURNING key, value"
)

_LIVE = "(expires IS NULL OR expires > ?)"


def _decode(value: Any) -> bytes:
    """A stored value as bytes: counters are INTEGER and read back as decimal ASCII."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return str(int(value)).encode()
    return str(value).encode()


class SqliteStorage:
    """One `kv` table in a SQLite file; one connection per instance, every write one statement."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_ms: int = 5000,
        sweep_every: int = 256,
        sweep_batch: int = 256,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = pathlib.Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._sweep_every = max(1, sweep_every)
        self._sweep_batch = sweep_batch
        # Wall clock, not monotonic: expiry times are shared with other processes via the file.
        self._clock = clock
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self._writes = 0

    # -- connection --------------------------------------------------------------------------

    def _unavailable(self, exc: BaseException) -> StorageUnavailable:
        return StorageUnavailable(f"sqlite storage at {self.path} failed: {exc}")

    async def _db(self) -> aiosqlite.Connection:
        if self._conn is not None:
            return self._conn
        async with self._lock:
            if self._closed:
                raise StorageUnavailable(f"sqlite storage at {self.path} is closed")
            if self._conn is None:
                self._conn = await self._connect()
        return self._conn

    async def _connect(self) -> aiosqlite.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"cannot create the directory of sqlite storage {self.path}: {exc}") from exc
        try:
            # Opened here, not by aiosqlite.connect: when that fails it leaves its worker thread
            # to report into an event loop that may be closed by then.
            raw = await asyncio.to_thread(
                sqlite3.connect,
                str(self.path),
                timeout=self._busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,  # used only from aiosqlite's worker thread from now on
            )
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc
        conn = aiosqlite.Connection(lambda: raw, 64)
        try:
            await conn
            await conn.execute_fetchall(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            await self._switch_to_wal(conn)
            await conn.execute_fetchall("PRAGMA synchronous = NORMAL")
            for statement in _SCHEMA:
                await conn.execute_fetchall(statement)
        except (sqlite3.Error, ValueError) as exc:
            await self._close_quietly(conn)
            raise self._unavailable(exc) from exc
        return conn

    async def _switch_to_wal(self, conn: aiosqlite.Connection) -> None:
        """Set WAL mode, which is persistent in the file, so usually already done.

        Switching needs an exclusive lock and SQLite does not call the busy handler for it,
        so workers starting together on a fresh file get "database is locked" at once:
        retry until the busy timeout instead.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._busy_timeout_ms / 1000
        while True:
            try:
                if await conn.execute_fetchall("PRAGMA journal_mode") == [("wal",)]:
                    return
                await conn.execute_fetchall("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or loop.time() > deadline:
                    raise
            await asyncio.sleep(0.01)

    @staticmethod
    async def _close_quietly(conn: aiosqlite.Connection) -> None:
        try:
            await conn.close()
        except (sqlite3.Error, ValueError):
            pass

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[Any]:
        db = await self._db()
        try:
            return builtins.list(await db.execute_fetchall(sql, params))
        except (sqlite3.Error, ValueError) as exc:
            raise self._unavailable(exc) from exc

    async def _wrote(self) -> None:
        self._writes += 1
        if self._writes % self._sweep_every == 0:
            await self.sweep()

    async def sweep(self) -> int:
        """Delete up to `sweep_batch` expired rows (bounded work); the number removed."""
        try:
            rows = await self._rows(
                "DELETE FROM kv WHERE key IN "
                "(SELECT key FROM kv WHERE expires <= ? LIMIT ?) RETURNING 1",
                (self._clock(), self._sweep_batch),
            )
        except StorageUnavailable:
            # Housekeeping only: the caller's write already succeeded; the next sweep retries.
            return 0
        return len(rows)

    # -- protocol ----------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        rows = await self._rows("SELECT value, expires FROM kv WHERE key = ?", (key,))
        if not rows:
            return None
        value, expires = rows[0]
        now = self._clock()
        if expires is not None and expires <= now:
            try:
                await self._rows("DELETE FROM kv WHERE key = ? AND expires <= ?", (key, now))
            except StorageUnavailable:
                pass  # the read succeeded; a later access or sweep purges the row
            return None
        return _decode(value)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        now = self._clock()
        seconds = norm_ttl(ttl)
        await self._rows(_SET, (key, bytes(value), None if seconds is None else now + seconds))
        await self._wrote()

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        now = self._clock()
        seconds = norm_ttl(ttl)
        expires = None if seconds is None else now + seconds
        rows = await self._rows(_ADD, (key, bytes(value), expires, now))
        await self._wrote()
        return bool(rows)

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        return (await self.incr_many([(key, amount, ttl)]))[0]

    async def incr_many(self, items: builtins.list[Increment]) -> builtins.list[int]:
        if not items:
            return []
        now = self._clock()
        # Merge repeated keys so the statement touches each row once; the first ttl wins
        # because only the item that creates a counter sets its expiry.
        totals: dict[str, int] = {}
        expiry: dict[str, float | None] = {}
        for key, amount, ttl in items:
            totals[key] = totals.get(key, 0) + int(amount)
            if key not in expiry:
                seconds = norm_ttl(ttl)
                expiry[key] = None if seconds is None else now + seconds
        params: builtins.list[Any] = [now]
        placeholders = []
        for i, (key, total) in enumerate(totals.items()):
            base = 2 + 3 * i
            placeholders.append(f"(?{base}, ?{base + 1}, ?{base + 2})")
            params += [key, total, expiry[key]]
        sql = _INCR_HEAD + ", ".join(placeholders) + _INCR_TAIL
        db = await self._db()
        try:
            rows = await db.execute_fetchall(sql, params)
        except sqlite3.IntegrityError as exc:
            raise await self._which_not_counter(totals) from exc
        except (sqlite3.Error, ValueError) as exc:
            raise self._unavailable(exc) from exc
        await self._wrote()
        final = {key: int(value) for key, value in rows}
        # Report the value after each item, as if the items were applied one by one.
        running = {key: final[key] - total for key, total in totals.items()}
        results: builtins.list[int] = []
        for key, amount, _ in items:
            running[key] += int(amount)
            results.append(running[key])
        return results

    async def _which_not_counter(self, keys: Iterable[str]) -> ServerError:
        names = builtins.list(keys)
        marks = ", ".join("?" for _ in names)
        rows = await self._rows(
            f"SELECT key, value FROM kv WHERE key IN ({marks}) AND {_LIVE}", (*names, self._clock())
        )
        for key, value in rows:
            if isinstance(value, (bytes, str)) and parse_counter(_decode(value)) is None:
                return not_a_counter(key)
        return not_a_counter(", ".join(names))

    async def list(self, prefix: str, limit: int | None = None) -> builtins.list[Entry]:
        if limit is not None and limit <= 0:
            return []
        sql = "SELECT key, value FROM kv WHERE key >= ?"
        params: builtins.list[Any] = [prefix]
        end = prefix_end(prefix)
        if end is not None:
            sql += " AND key < ?"
            params.append(end)
        sql += f" AND {_LIVE} ORDER BY key"
        params.append(self._clock())
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = await self._rows(sql, params)
        return [(key, _decode(value)) for key, value in rows]

    async def delete(self, key: str) -> bool:
        rows = await self._rows("DELETE FROM kv WHERE key = ? RETURNING expires", (key,))
        now = self._clock()
        return any(expires is None or expires > now for (expires,) in rows)

    async def delete_prefix(self, prefix: str) -> int:
        sql = "DELETE FROM kv WHERE key >= ?"
        params: builtins.list[Any] = [prefix]
        end = prefix_end(prefix)
        if end is not None:
            sql += " AND key < ?"
            params.append(end)
        rows = await self._rows(sql + " RETURNING expires", params)
        now = self._clock()
        return sum(1 for (expires,) in rows if expires is None or expires > now)

    async def ping(self) -> None:
        await self._rows("SELECT 1")

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except (sqlite3.Error, ValueError) as exc:
                raise self._unavailable(exc) from exc
