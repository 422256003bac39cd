"""Fixtures for the storage tests: one opened backend per parameter, Redis gated on availability."""

from __future__ import annotations

import os
import pathlib
import socket
import uuid
from collections.abc import AsyncIterator, Mapping

import pytest

from crabllm.storage.base import Storage
from crabllm.storage.memory import MemoryStorage
from crabllm.storage.redis import RedisStorage
from crabllm.storage.sqlite import SqliteStorage

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
REQUIRE_REDIS = "CRABLLM_REQUIRE_REDIS"
BACKENDS = ["memory", "sqlite", "redis"]


def redis_reachable(host: str = REDIS_HOST, port: int = REDIS_PORT) -> bool:
    """True when something accepts TCP connections where the test Redis should listen."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def redis_gate(reachable: bool, env: Mapping[str, str]) -> None:
    """Skip a Redis test when no server is up, unless CI demands Redis: then fail it."""
    if reachable:
        return
    reason = f"no Redis server on {REDIS_HOST}:{REDIS_PORT}"
    if env.get(REQUIRE_REDIS) == "1":
        pytest.fail(f"{reason}, but {REQUIRE_REDIS}=1 requires the Redis tests to run")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_up() -> bool:
    return redis_reachable()


@pytest.fixture
def require_redis(redis_up: bool) -> None:
    redis_gate(redis_up, os.environ)


def unique_namespace() -> str:
    """A namespace no other test (or a concurrent CI job) shares."""
    return f"crabllm-test:{uuid.uuid4().hex}:"


async def _open_redis() -> RedisStorage:
    storage = RedisStorage(REDIS_URL, namespace=unique_namespace())
    await storage.ping()
    return storage


async def _drop_redis(storage: RedisStorage) -> None:
    await storage.close()
    # A fresh client cleans up, so a test that closed its storage still leaves no keys behind.
    cleaner = RedisStorage(REDIS_URL, namespace=storage.namespace)
    try:
        await cleaner.delete_prefix("")
    finally:
        await cleaner.close()


@pytest.fixture
async def redis_storage(require_redis: None) -> AsyncIterator[RedisStorage]:
    storage = await _open_redis()
    try:
        yield storage
    finally:
        await _drop_redis(storage)


@pytest.fixture(params=BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: pathlib.Path, redis_up: bool) -> AsyncIterator[Storage]:
    """An opened, empty backend of every kind."""
    kind: str = request.param
    if kind == "redis":
        redis_gate(redis_up, os.environ)
        redis = await _open_redis()
        try:
            yield redis
        finally:
            await _drop_redis(redis)
        return
    backend: Storage = MemoryStorage() if kind == "memory" else SqliteStorage(tmp_path / "kv.db")
    await backend.ping()
    try:
        yield backend
    finally:
        await backend.close()
