"""Live reload: watch the config's directory, build a complete new registry, swap it in one assignment."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import watchfiles

from crabllm.config.loader import load_config
from crabllm.config.schema import Config
from crabllm.errors import ConfigError
from crabllm.registry import Registry, RegistryHolder
from crabllm.types.admin import ReloadStatus

log = logging.getLogger("crabllm.reload")
DEBOUNCE_MS = 150


class Target(Protocol):
    """What a reload acts on (the server's Gateway): the holder to swap, and how to build a registry."""

    holder: RegistryHolder

    def build(self, config: Config, generation: int) -> Registry: ...


class Reloader:
    """Keeps the old registry serving when the new file is invalid, and reports why.

    `publish(kind, data)` announces every outcome (the server passes its event feed).
    """

    def __init__(self, target: Target, path: str, publish: Callable[[str, dict[str, Any]], None]) -> None:
        self.gw = target
        self._publish = publish
        self.path = Path(path).resolve()
        self.last: ReloadStatus | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def reload(self, reason: str) -> ReloadStatus:
        """Load, validate and build; on success swap, on failure keep serving the old snapshot."""
        async with self._lock:
            current = self.gw.holder.current
            try:
                config = await asyncio.to_thread(load_config, self.path)
                registry = self.gw.build(config, current.generation + 1)
            except ConfigError as e:
                status = ReloadStatus(at=time.time(), ok=False, error=str(e), reason=reason)
                log.error("config reload failed, still serving generation %d: %s", current.generation, e)
            else:
                if config.storage != current.config.storage:
                    log.warning("[storage] changed in %s; storage changes take effect after a restart", self.path)
                self.gw.holder.swap(registry)
                status = ReloadStatus(at=time.time(), ok=True, reason=reason)
                log.info("config reloaded (%s): generation %d, %d models", reason, registry.generation, len(registry.models))
            self.last = status
            self._publish("reload", {"generation": self.gw.holder.current.generation,
                                     **{f: getattr(status, f) for f in status.__struct_fields__}})
            return status

    async def _watch(self) -> None:
        # Editors save by writing a new file and renaming it over the old one, so the
        # directory is watched, not the file.
        name = self.path.name
        try:
            async for changes in watchfiles.awatch(self.path.parent, debounce=DEBOUNCE_MS, step=50,
                                                   stop_event=self._stop, recursive=False):
                if any(Path(p).name == name for _, p in changes) and self.path.exists():
                    await self.reload("file changed")
        except Exception as e:  # a watcher failure must not take the gateway down
            log.error("config watcher stopped: %s; use POST /v1/admin/reload", e)
