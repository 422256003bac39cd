"""API-issued virtual keys: digests in storage, a local cache refreshed every second on every worker."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import time

import msgspec

from crabllm.config.starter import new_secret
from crabllm.config.validate import NAME_RE
from crabllm.errors import Conflict, CrabError, InvalidRequest, NotFound
from crabllm.registry import KeyEntry
from crabllm.storage.base import Storage
from crabllm.types.admin import IssuedKey, KeyCreate, KeyPatch

log = logging.getLogger("crabllm.keys")
PREFIX = "key/"
REFRESH_SECONDS = 1.0

_dec = msgspec.json.Decoder(IssuedKey)


def entry_of(record: IssuedKey) -> KeyEntry:
    models = None if "*" in record.models else frozenset(record.models)
    return KeyEntry(name=record.name, models=models, rate_limit=record.rate_limit, budget=record.budget,
                    source="issued", expires_at=record.expires_at, max_parallel_requests=record.max_parallel_requests)


class KeyStore:
    """Creates, updates and revokes issued keys; `lookup` is a dict access on the hot path."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.by_digest: dict[bytes, KeyEntry] = {}
        self.records: dict[str, IssuedKey] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def refresh(self) -> None:
        """Re-read every record, so revocations by other workers and instances apply here."""
        records: dict[str, IssuedKey] = {}
        for key, value in await self.storage.list(PREFIX):
            try:
                record = _dec.decode(value)
            except msgspec.DecodeError:
                log.warning("ignoring a corrupt key record %s", key)
                continue
            records[record.name] = record
        self._install(records)

    def _install(self, records: dict[str, IssuedKey]) -> None:
        self.records = records
        now = time.time()
        by_digest = {}
        for r in records.values():
            entry = entry_of(r)
            by_digest[bytes.fromhex(r.sha256)] = entry
            if r.previous_sha256 and r.previous_expires_at and r.previous_expires_at > now:
                # During a rotation's grace period the old secret still works, until the grace ends.
                until = min(r.previous_expires_at, r.expires_at or r.previous_expires_at)
                by_digest[bytes.fromhex(r.previous_sha256)] = dataclasses.replace(entry, expires_at=until)
        self.by_digest = by_digest

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.refresh()
            except CrabError as e:
                log.warning("cannot refresh issued keys: %s", e.message)

    async def create(self, body: KeyCreate, *, reserved: set[str]) -> tuple[IssuedKey, str]:
        if not NAME_RE.fullmatch(body.name):
            raise InvalidRequest("invalid key name: use 1-64 letters, digits, '.', '_' or '-'", param="name")
        if body.name in reserved:
            raise Conflict(f"key '{body.name}' is managed by the config file")
        _check_models(body.models)
        _check_limits(body.rate_limit)
        expires_at = body.expires_at
        if body.expires_in is not None:
            expires_at = time.time() + body.expires_in
        secret = new_secret()
        record = IssuedKey(name=body.name, sha256=hashlib.sha256(secret.encode()).hexdigest(), prefix=secret[:8],
                           models=body.models, created_at=time.time(), rate_limit=body.rate_limit,
                           budget=body.budget, expires_at=expires_at, max_parallel_requests=body.max_parallel_requests)
        if not await self.storage.add(PREFIX + body.name, msgspec.json.encode(record)):
            raise Conflict(f"key '{body.name}' already exists")
        self._install({**self.records, record.name: record})
        return record, secret

    async def update(self, name: str, patch: KeyPatch) -> IssuedKey:
        record = await self.get(name)
        changes = {f: getattr(patch, f) for f in patch.__struct_fields__ if getattr(patch, f) is not msgspec.UNSET}
        if "models" in changes:
            _check_models(changes["models"])
        _check_limits(changes.get("rate_limit"))
        record = msgspec.structs.replace(record, **changes)
        await self.storage.set(PREFIX + name, msgspec.json.encode(record))
        self._install({**self.records, name: record})
        return record

    async def rotate(self, name: str, grace_seconds: float) -> tuple[IssuedKey, str]:
        """A new secret for the key; the old one keeps working for `grace_seconds`."""
        if grace_seconds < 0:
            raise InvalidRequest("grace_seconds must not be negative", param="grace_seconds")
        record = await self.get(name)
        secret = new_secret()
        record = msgspec.structs.replace(
            record, sha256=hashlib.sha256(secret.encode()).hexdigest(), prefix=secret[:8],
            previous_sha256=record.sha256 if grace_seconds else None,
            previous_expires_at=time.time() + grace_seconds if grace_seconds else None)
        await self.storage.set(PREFIX + name, msgspec.json.encode(record))
        self._install({**self.records, name: record})
        return record, secret

    async def get(self, name: str) -> IssuedKey:
        value = await self.storage.get(PREFIX + name)
        if value is None:
            raise NotFound(f"key '{name}' not found")
        return _dec.decode(value)

    async def revoke(self, name: str) -> None:
        if not await self.storage.delete(PREFIX + name):
            raise NotFound(f"key '{name}' not found")
        records = dict(self.records)
        records.pop(name, None)
        self._install(records)


def _check_limits(rate_limit: object) -> None:
    for field in ("requests_per_minute", "tokens_per_minute"):
        value = getattr(rate_limit, field, None)
        if value is not None and value <= 0:
            raise InvalidRequest(f"rate_limit.{field} must be positive", param=f"rate_limit.{field}")


def _check_models(models: list[str]) -> None:
    if not models:
        raise InvalidRequest("models must not be empty; use [\"*\"] for every model", param="models")
