"""open_storage: kinds, path resolution, and the errors a misconfiguration gives."""

from __future__ import annotations

import pathlib

import pytest

from crabllm.errors import ConfigError, StorageUnavailable
from crabllm.storage import Storage, open_storage
from crabllm.storage.memory import MemoryStorage
from crabllm.storage.redis import RedisStorage
from crabllm.storage.sqlite import SqliteStorage

from .conftest import REDIS_URL


@pytest.mark.parametrize("kind", ["memory", ""])
async def test_memory_is_the_default(kind: str, tmp_path: pathlib.Path) -> None:
    storage = await open_storage(kind, None, base_dir=tmp_path)
    assert isinstance(storage, MemoryStorage) and isinstance(storage, Storage)
    await storage.close()


async def test_unknown_kind_names_storage_kind(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError) as info:
        await open_storage("mongo", None, base_dir=tmp_path)
    assert info.value.path == "storage.kind"
    assert info.value.message == "unknown storage kind 'mongo'"
    assert info.value.fix == "use one of: memory, sqlite, redis"


async def test_sqlite_relative_path_resolves_against_base_dir(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, elsewhere = tmp_path / "conf", tmp_path / "cwd"
    base.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    storage = await open_storage("sqlite", "data/kv.db", base_dir=base)
    try:
        assert isinstance(storage, SqliteStorage)
        assert storage.path == base / "data" / "kv.db"
        assert storage.path.is_file()
        assert list(elsewhere.iterdir()) == []
    finally:
        await storage.close()


async def test_sqlite_default_and_absolute_paths(tmp_path: pathlib.Path) -> None:
    default = await open_storage("sqlite", None, base_dir=tmp_path)
    absolute = await open_storage("sqlite", str(tmp_path / "abs" / "x.db"), base_dir=tmp_path / "ignored")
    try:
        assert isinstance(default, SqliteStorage) and default.path == tmp_path / "crabllm.db"
        assert isinstance(absolute, SqliteStorage) and absolute.path == tmp_path / "abs" / "x.db"
        assert not (tmp_path / "ignored").exists()
    finally:
        await default.close()
        await absolute.close()


async def test_sqlite_unusable_path_is_unavailable(tmp_path: pathlib.Path) -> None:
    with pytest.raises(StorageUnavailable, match="sqlite"):
        await open_storage("sqlite", str(tmp_path), base_dir=tmp_path)


async def test_redis_unreachable_is_unavailable(tmp_path: pathlib.Path) -> None:
    with pytest.raises(StorageUnavailable, match="redis://127.0.0.1:1"):
        await open_storage("redis", "redis://127.0.0.1:1/0", base_dir=tmp_path)


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "127.0.0.1:6379", "redis://127.0.0.1:6379/0?db=x"])
async def test_redis_malformed_url_is_a_config_error(url: str, tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError) as info:
        await open_storage("redis", url, base_dir=tmp_path)
    assert info.value.path == "storage.path"


async def test_redis_opens_and_pings(require_redis: None, tmp_path: pathlib.Path) -> None:
    storage = await open_storage("redis", REDIS_URL, base_dir=tmp_path)
    try:
        assert isinstance(storage, RedisStorage)
        await storage.ping()
    finally:
        await storage.close()


async def test_redis_default_url(require_redis: None, tmp_path: pathlib.Path) -> None:
    storage = await open_storage("redis", None, base_dir=tmp_path)
    try:
        assert isinstance(storage, RedisStorage) and storage.url == "redis://127.0.0.1:6379/0"
    finally:
        await storage.close()
