"""Stored /v1/responses objects: owned by a key, bounded per key, expired by TTL, written off the hot path."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec

from crabllm.config.schema import ResponsesConfig
from crabllm.errors import CrabError, InvalidRequest
from crabllm.storage.base import Storage

log = logging.getLogger("crabllm.responses")

PREFIX = "resp:"
INDEX = "respidx:"
BYTES = "respbytes:"
MAX_CHAIN = 1000
"""Longest previous_response_id chain rebuilt for a translated deployment (a cycle guard too)."""


class StoredResponse(msgspec.Struct, omit_defaults=True):
    """One stored response: the object as the client got it, its input items, and who may see it."""

    id: str
    owner: str
    provider: str
    model: str
    response: msgspec.Raw
    input: list[msgspec.Raw] = []
    previous_response_id: str | None = None
    index_key: str = ""
    size: int = 0


_dec = msgspec.json.Decoder(StoredResponse)
_enc = msgspec.json.Encoder()


def owner_tag(owner: str) -> str:
    """A storage-safe fixed-size form of the owner (key names may hold any character)."""
    return hashlib.sha256(owner.encode()).hexdigest()[:32]


class ResponseStore:
    """Per-worker facade over the shared Storage; writes run as tasks so the response bytes go out first.

    A follow-up that arrives on this worker before its predecessor's write finished waits for that
    write, so `previous_response_id` right after a response always finds it here.
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._pending: dict[str, asyncio.Task[None]] = {}

    def save(self, cfg: ResponsesConfig, *, response_id: str, owner: str, provider: str, model: str,
             response: bytes, input_items: Callable[[], list[Any]], previous_response_id: str | None) -> None:
        """Schedule the write; `input_items` is called in the task (a full decode stays off the hot path)."""
        if not response_id:
            return
        task = asyncio.get_running_loop().create_task(
            self._write(cfg, response_id, owner, provider, model, response, input_items, previous_response_id))
        self._pending[response_id] = task
        task.add_done_callback(lambda t, rid=response_id: self._done(rid, t))

    def _done(self, response_id: str, task: asyncio.Task[None]) -> None:
        if self._pending.get(response_id) is task:
            del self._pending[response_id]

    async def _write(self, cfg: ResponsesConfig, response_id: str, owner: str, provider: str, model: str,
                     response: bytes, input_items: Callable[[], list[Any]], previous_response_id: str | None) -> None:
        try:
            items = [msgspec.Raw(_enc.encode(item)) for item in input_items()]
        except (CrabError, TypeError, ValueError, KeyError, AttributeError) as e:
            log.warning("response %s: input items not stored: %s", response_id, e)
            items = []
        tag = owner_tag(owner)
        index_key = f"{INDEX}{tag}:{time.time_ns():020d}:{response_id}"
        record = StoredResponse(id=response_id, owner=owner, provider=provider, model=model,
                                response=msgspec.Raw(response), input=items,
                                previous_response_id=previous_response_id, index_key=index_key)
        data = _enc.encode(record)
        size = len(data)
        if size > cfg.max_bytes_per_key:
            log.warning("response %s (%d bytes) is larger than [responses] max_bytes_per_key; not stored",
                        response_id, size)
            return
        record.size = size
        data = _enc.encode(record)
        ttl = cfg.ttl_days * 86400.0
        try:
            await self.storage.set(PREFIX + response_id, data, ttl)
            await self.storage.set(index_key, str(size).encode(), ttl)
            total = await self.storage.incr(BYTES + tag, size)
            if total > cfg.max_bytes_per_key:
                await self._evict(tag, cfg.max_bytes_per_key)
        except CrabError as e:
            log.warning("response %s not stored: %s", response_id, e.message)

    async def _evict(self, tag: str, limit: int) -> None:
        """Drop the owner's oldest responses until the live total fits; the counter is then re-based."""
        entries = await self.storage.list(f"{INDEX}{tag}:")
        sizes = [(key, int(value) if value.isdigit() else 0) for key, value in entries]
        total = sum(size for _, size in sizes)
        for key, size in sizes:
            if total <= limit:
                break
            await self.storage.delete(PREFIX + key.rpartition(":")[2])
            await self.storage.delete(key)
            total -= size
        await self.storage.set(BYTES + tag, str(total).encode())

    async def get(self, response_id: str, owner: str) -> StoredResponse | None:
        """The owner's stored response, or None (absent, expired, or another key's)."""
        pending = self._pending.get(response_id)
        if pending is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(pending)
        data = await self.storage.get(PREFIX + response_id)
        if data is None:
            return None
        try:
            record = _dec.decode(data)
        except msgspec.DecodeError:
            return None
        return record if record.owner == owner else None

    async def delete(self, record: StoredResponse) -> None:
        await self.storage.delete(PREFIX + record.id)
        if record.index_key:
            await self.storage.delete(record.index_key)
            await self.storage.incr(BYTES + record.index_key.split(":")[1], -record.size)

    async def history(self, record: StoredResponse) -> list[dict[str, Any]]:
        """The conversation up to and including `record`: every input and output item, oldest first."""
        chain = [record]
        seen = {record.id}
        while chain[-1].previous_response_id and len(chain) < MAX_CHAIN:
            prev_id = chain[-1].previous_response_id
            prev = await self.get(prev_id, record.owner) if prev_id not in seen else None
            if prev is None:
                raise InvalidRequest(f"previous response '{prev_id}' of '{chain[-1].id}' is no longer stored",
                                     param="previous_response_id")
            seen.add(prev.id)
            chain.append(prev)
        items: list[dict[str, Any]] = []
        for stored in reversed(chain):
            items.extend(msgspec.json.decode(raw) for raw in stored.input)
            response = msgspec.json.decode(stored.response)
            output = response.get("output") if isinstance(response, dict) else None
            if isinstance(output, list):
                items.extend(item for item in output if isinstance(item, dict))
        return items

    async def stop(self) -> None:
        """Let the writes in flight finish (shutdown)."""
        if self._pending:
            await asyncio.gather(*self._pending.values(), return_exceptions=True)
