"""Redis backend specifics: namespacing, and failures mapped to StorageUnavailable."""

from __future__ import annotations

import pytest

from crabllm.errors import StorageUnavailable
from crabllm.storage.redis import RedisStorage

from .conftest import REDIS_URL, redis_gate, unique_namespace


async def test_keys_live_under_the_namespace(redis_storage: RedisStorage) -> None:
    await redis_storage.set("k", b"mine")
    await redis_storage.incr("n", 3)
    bare = RedisStorage(REDIS_URL, namespace="")
    other = RedisStorage(REDIS_URL, namespace=unique_namespace())
    try:
        assert await bare.get(redis_storage.namespace + "k") == b"mine"
        assert await bare.get(redis_storage.namespace + "n") == b"3"
        assert await other.get("k") is None
        await other.set("k", b"theirs")
        assert await other.list("") == [("k", b"theirs")]
        assert await other.delete_prefix("") == 1
        assert await redis_storage.list("") == [("k", b"mine"), ("n", b"3")]
    finally:
        await bare.close()
        await other.close()


async def test_ttl_is_set_in_milliseconds(redis_storage: RedisStorage) -> None:
    await redis_storage.set("t", b"v", ttl=5)
    await redis_storage.incr("c", ttl=0.0001)  # rounds up to 1 ms, never "no expiry"
    bare = RedisStorage(REDIS_URL, namespace=redis_storage.namespace)
    try:
        assert 4000 < await bare._client.execute("PTTL", bare.namespace + "t") <= 5000
        assert await bare.get("c") is None or await bare._client.execute("PTTL", bare.namespace + "c") <= 1
    finally:
        await bare.close()


async def test_unreachable_server_is_unavailable() -> None:
    storage = RedisStorage("redis://:s3cret@127.0.0.1:1/0")
    try:
        for call in (storage.ping(), storage.get("k"), storage.incr("k"), storage.list("")):
            with pytest.raises(StorageUnavailable, match="127.0.0.1:1") as info:
                await call
            assert "s3cret" not in str(info.value)
    finally:
        await storage.close()


def test_gate_skips_without_redis() -> None:
    with pytest.raises(pytest.skip.Exception):
        redis_gate(False, {})
    with pytest.raises(pytest.skip.Exception):
        redis_gate(False, {"CRABLLM_REQUIRE_REDIS": "0"})


def test_gate_fails_when_ci_requires_redis() -> None:
    with pytest.raises(pytest.fail.Exception, match="CRABLLM_REQUIRE_REDIS=1"):
        redis_gate(False, {"CRABLLM_REQUIRE_REDIS": "1"})
    redis_gate(True, {"CRABLLM_REQUIRE_REDIS": "1"})
