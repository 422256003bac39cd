"""SQLite backend specifics: file handling, pragmas, sweeping, errors, several worker processes."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from crabllm.errors import StorageUnavailable
from crabllm.storage.sqlite import SqliteStorage

ROOT = pathlib.Path(__file__).resolve().parents[2]


def raw(path: pathlib.Path, sql: str) -> list[tuple[object, ...]]:
    """Read the file with the stdlib driver, bypassing the backend."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(tmp_path: pathlib.Path) -> AsyncIterator[SqliteStorage]:
    storage = SqliteStorage(tmp_path / "kv.db")
    try:
        yield storage
    finally:
        await storage.close()


async def test_file_and_parent_created_on_first_use(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "deep" / "er" / "kv.db"
    storage = SqliteStorage(path)
    assert not path.parent.exists()  # constructing does no I/O
    try:
        await storage.ping()
        assert path.is_file()
    finally:
        await storage.close()


async def test_pragmas_and_schema(db: SqliteStorage) -> None:
    await db.ping()
    assert raw(db.path, "PRAGMA journal_mode") == [("wal",)]
    assert await db._rows("PRAGMA busy_timeout") == [(5000,)]
    assert await db._rows("PRAGMA synchronous") == [(1,)]  # NORMAL
    columns = [(name, kind) for _, name, kind, *_ in raw(db.path, "PRAGMA table_info(kv)")]
    assert columns == [("key", "TEXT"), ("value", "BLOB"), ("expires", "REAL")]
    assert ("kv_expires",) in raw(db.path, "SELECT name FROM sqlite_master WHERE type = 'index'")


async def test_counters_are_stored_as_integers(db: SqliteStorage) -> None:
    await db.incr("c", 42)
    await db.set("b", b"42")
    assert raw(db.path, "SELECT key, typeof(value), value FROM kv ORDER BY key") == [
        ("b", "blob", b"42"),
        ("c", "integer", 42),
    ]


async def test_two_handles_share_the_file(tmp_path: pathlib.Path) -> None:
    one, two = SqliteStorage(tmp_path / "kv.db"), SqliteStorage(tmp_path / "kv.db")
    try:
        results = await asyncio.gather(*(s.incr("n") for _ in range(50) for s in (one, two)))
        assert sorted(results) == list(range(1, 101))
        assert await two.add("once", b"1") and not await one.add("once", b"2")
        assert await one.get("once") == b"1"
    finally:
        await one.close()
        await two.close()


async def test_get_purges_an_expired_row(tmp_path: pathlib.Path) -> None:
    clock = Clock()
    storage = SqliteStorage(tmp_path / "kv.db", clock=clock)
    try:
        await storage.set("gone", b"v", ttl=1)
        clock.now += 1
        assert raw(storage.path, "SELECT count(*) FROM kv") == [(1,)]
        assert await storage.get("gone") is None
        assert raw(storage.path, "SELECT count(*) FROM kv") == [(0,)]
    finally:
        await storage.close()


async def test_sweep_is_bounded(tmp_path: pathlib.Path) -> None:
    clock = Clock()
    storage = SqliteStorage(tmp_path / "kv.db", sweep_every=1, sweep_batch=2, clock=clock)
    try:
        for i in range(5):
            await storage.set(f"e:{i}", b"v", ttl=1)
        clock.now += 2
        await storage.set("live", b"v")  # every write sweeps at most two expired rows
        assert raw(storage.path, "SELECT count(*) FROM kv") == [(4,)]
        assert [await storage.sweep() for _ in range(3)] == [2, 1, 0]
        assert raw(storage.path, "SELECT key FROM kv") == [("live",)]
    finally:
        await storage.close()


async def test_not_a_database_is_unavailable(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a sqlite file" * 100)
    storage = SqliteStorage(path)
    with pytest.raises(StorageUnavailable, match="garbage.db"):
        await storage.ping()
    await storage.close()


async def test_unusable_paths_are_unavailable(tmp_path: pathlib.Path) -> None:
    (tmp_path / "file").write_text("x")
    for path in (tmp_path, tmp_path / "file" / "kv.db"):
        storage = SqliteStorage(path)
        with pytest.raises(StorageUnavailable):
            await storage.get("k")
        await storage.close()


async def test_use_after_close_is_unavailable(db: SqliteStorage) -> None:
    await db.set("k", b"v")
    await db.close()
    with pytest.raises(StorageUnavailable, match="closed"):
        await db.get("k")


def run_workers(path: pathlib.Path, mode: str, count: int, processes: int = 4) -> list[list[object]]:
    """Start the workers, release them together once all are up, and collect their results."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    procs = [
        subprocess.Popen(
            [sys.executable, "-W", "error", "-m", "tests.storage._proc_worker", str(path), mode, str(count), f"p{i}"],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(processes)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        outputs = []
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            outputs.append(json.loads(out.strip().splitlines()[-1]))
        return outputs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


async def test_incr_is_atomic_across_processes(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "shared.db"  # fresh: the processes also race on creating it
    outputs = await asyncio.to_thread(run_workers, path, "incr", 100)
    values = [v for out in outputs for v in out]
    assert sorted(values) == list(range(1, 401))  # each value handed out exactly once
    assert raw(path, "SELECT value FROM kv WHERE key = 'shared:counter'") == [(400,)]


async def test_add_has_one_winner_across_processes(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "shared.db"
    outputs = await asyncio.to_thread(run_workers, path, "add", 30)
    for i in range(30):
        assert sum(bool(out[i]) for out in outputs) == 1, f"key {i}"
    winners = {key: value for key, value in raw(path, "SELECT key, value FROM kv")}
    assert len(winners) == 30
    for i in range(30):
        winner = next(p for p, out in enumerate(outputs) if out[i])
        assert winners[f"shared:add:{i}"] == f"p{winner}".encode()


async def test_incr_many_is_atomic_across_processes(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "shared.db"
    outputs = await asyncio.to_thread(run_workers, path, "incr_many", 50)
    pairs = [pair for out in outputs for pair in out]
    assert all(y == 2 * x for x, y in pairs)
    assert sorted(x for x, _ in pairs) == list(range(1, 201))
