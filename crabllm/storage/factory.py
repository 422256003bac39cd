"""Build the configured storage backend and check that it answers."""

from __future__ import annotations

import pathlib

from crabllm.errors import ConfigError, StorageUnavailable
from crabllm.storage._common import redact_url
from crabllm.storage.base import Storage

KINDS = ("memory", "sqlite", "redis")
DEFAULT_SQLITE_PATH = "crabllm.db"


async def open_storage(kind: str, path: str | None, *, base_dir: pathlib.Path) -> Storage:
    """Open `kind` ("memory", "sqlite", "redis") and ping it.

    For sqlite `path` is the database file (default crabllm.db; a relative path is resolved
    against `base_dir`, the config file's directory); for redis it is the URL. Raises
    ConfigError for an unknown kind or malformed URL, StorageUnavailable if it does not answer.
    """
    kind = kind or "memory"
    storage: Storage
    # Backends are imported on use: the redis client alone costs ~6 MB of resident memory.
    if kind == "memory":
        from crabllm.storage.memory import MemoryStorage

        return MemoryStorage()
    if kind == "sqlite":
        from crabllm.storage.sqlite import SqliteStorage

        file = pathlib.Path(path or DEFAULT_SQLITE_PATH).expanduser()
        storage = SqliteStorage(file if file.is_absolute() else base_dir / file)
    elif kind == "redis":
        from crabllm.storage.redis import DEFAULT_URL, RedisStorage

        url = path or DEFAULT_URL
        try:
            storage = RedisStorage(url)
        except ValueError as exc:
            raise ConfigError(
                f"invalid redis URL '{redact_url(url)}': {exc}",
                path="storage.path",
                fix="use redis://[:password@]host:port/db, rediss://… or unix:///path/to/socket",
            ) from exc
    else:
        raise ConfigError(f"unknown storage kind '{kind}'", path="storage.kind", fix="use one of: memory, sqlite, redis")
    try:
        await storage.ping()
    except StorageUnavailable:
        await _close_quietly(storage)
        raise
    return storage


async def _close_quietly(storage: Storage) -> None:
    try:
        await storage.close()
    except StorageUnavailable:
        pass
