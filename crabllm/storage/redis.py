"""Shared storage on Redis: for several gateways on several machines.

Commands go through crabllm.storage.resp (one automatically pipelined connection, hiredis
parsing): the gateway's per-request counters, cache and audit writes from many concurrent
requests share single writes and reads instead of each taking a pooled connection.
"""

from __future__ import annotations

import builtins
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from crabllm.errors import StorageUnavailable
from crabllm.storage._common import not_a_counter, redact_url, ttl_ms
from crabllm.storage.base import Entry, Increment
from crabllm.storage.resp import RedisClient, RedisConnectionError, RedisReplyError, parse_url

DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_NAMESPACE = "crabllm:"

_BATCH = 500
_NOT_COUNTER = "crabllm-not-counter"

# Validate every key before touching any, so a non-integer value aborts the whole batch
# (Redis never rolls a script back); that first GET also tells which counters this call creates.
# A counter gets its ttl only on the increment that created it, so a fixed window is never
# extended. ARGV holds (amount, ttl_ms) pairs. INCRBY's reply reaches Lua as a double: exact below
# 2^53, where it is returned as is; past that the value is read back as a string.
_INCR_LUA = f"""
local function is_int64(v)
  if v == '0' then return true end
  local neg = string.sub(v, 1, 1) == '-'
  local digits = neg and string.sub(v, 2) or v
  if #digits > 19 or not string.match(digits, '^[1-9]%d*$') then return false end
  return #digits < 19 or digits <= (neg and '9223372036854775808' or '9223372036854775807')
end
local absent = {{}}
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v and not is_int64(v) then
    return redis.error_reply('{_NOT_COUNTER} ' .. i)
  end
  if not v then absent[KEYS[i]] = true end
end
local out = {{}}
for i = 1, #KEYS do
  local value = redis.call('INCRBY', KEYS[i], ARGV[2 * i - 1])
  if value >= 9007199254740992 or value <= -9007199254740992 then
    value = redis.call('GET', KEYS[i])
  end
  out[i] = value
  local ttl = tonumber(ARGV[2 * i])
  if absent[KEYS[i]] then
    absent[KEYS[i]] = nil
    if ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
return out
"""

_NOT_COUNTER_INDEX = re.compile(_NOT_COUNTER + r" (\d+)")


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


class RedisStorage:
    """Keys live under `namespace` in one Redis database; values are Redis strings."""

    #: Concurrent calls share one write and one read (see storage.base.together).
    pipelined = True

    def __init__(self, url: str = DEFAULT_URL, *, namespace: str = DEFAULT_NAMESPACE, timeout: float = 5.0) -> None:
        """Build the client without connecting; a malformed `url` raises ValueError."""
        self.url = redact_url(url)
        self.namespace = namespace
        self._client = RedisClient(parse_url(url), timeout=timeout)
        self._incr_sha = hashlib.sha1(_INCR_LUA.encode()).hexdigest()

    def _k(self, key: str) -> str:
        return self.namespace + key

    @contextmanager
    def _errors(self, keys: builtins.list[str] | None = None) -> Iterator[None]:
        try:
            yield
        except RedisReplyError as exc:
            found = _NOT_COUNTER_INDEX.search(str(exc))
            if found and keys:
                raise not_a_counter(keys[int(found.group(1)) - 1]) from exc
            if "not an integer" in str(exc) and keys:
                raise not_a_counter(", ".join(keys)) from exc
            raise StorageUnavailable(f"redis storage at {self.url} refused the command: {exc}") from exc
        except (RedisConnectionError, OSError) as exc:
            raise StorageUnavailable(f"redis storage at {self.url} is unavailable: {exc}") from exc

    async def _run(self, *args: Any) -> Any:
        return await self._client.execute(*args)

    async def _scan(self, prefix: str) -> builtins.list[str]:
        """Every key (without namespace) starting with `prefix`, sorted; SCAN never blocks Redis."""
        match = _glob_escape(self._k(prefix)) + "*"
        cut = len(self.namespace)
        found: set[str] = set()
        cursor = b"0"
        with self._errors():
            while True:
                cursor, batch = await self._run("SCAN", cursor, "MATCH", match, "COUNT", 1000)
                found.update(raw.decode("utf-8", "surrogateescape")[cut:] for raw in batch)
                if cursor == b"0":
                    break
        return sorted(found)

    # -- protocol ----------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        with self._errors():
            value: bytes | None = await self._run("GET", self._k(key))
        return value

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        ms = ttl_ms(ttl)
        with self._errors():
            if ms is None:
                await self._run("SET", self._k(key), bytes(value))
            else:
                await self._run("SET", self._k(key), bytes(value), "PX", ms)

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        ms = ttl_ms(ttl)
        with self._errors():
            if ms is None:
                stored = await self._run("SET", self._k(key), bytes(value), "NX")
            else:
                stored = await self._run("SET", self._k(key), bytes(value), "PX", ms, "NX")
        return stored is not None

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        return (await self.incr_many([(key, amount, ttl)]))[0]

    async def incr_many(self, items: builtins.list[Increment]) -> builtins.list[int]:
        if not items:
            return []
        keys = [key for key, _, _ in items]
        args: builtins.list[int] = []
        for _, amount, ttl in items:
            args += [int(amount), ttl_ms(ttl) or 0]
        names = [self._k(k) for k in keys]
        with self._errors(keys):
            try:
                values = await self._run("EVALSHA", self._incr_sha, len(names), *names, *args)
            except RedisReplyError as exc:
                if not str(exc).startswith("NOSCRIPT"):
                    raise
                values = await self._run("EVAL", _INCR_LUA, len(names), *names, *args)  # loads it too
        return [int(v) for v in values]

    async def list(self, prefix: str, limit: int | None = None) -> builtins.list[Entry]:
        if limit is not None and limit <= 0:
            return []
        keys = await self._scan(prefix)
        out: builtins.list[Entry] = []
        # Keys can expire between SCAN and MGET; keep reading until `limit` live entries.
        for start in range(0, len(keys), _BATCH):
            chunk = keys[start : start + _BATCH]
            with self._errors():
                values = await self._run("MGET", *[self._k(k) for k in chunk])
            for key, value in zip(chunk, values):
                if value is not None:
                    out.append((key, value))
                    if limit is not None and len(out) >= limit:
                        return out
        return out

    async def delete(self, key: str) -> bool:
        with self._errors():
            removed: int = await self._run("DEL", self._k(key))
        return removed > 0

    async def delete_prefix(self, prefix: str) -> int:
        keys = await self._scan(prefix)
        removed = 0
        for start in range(0, len(keys), _BATCH):
            with self._errors():
                removed += await self._run("UNLINK", *[self._k(k) for k in keys[start : start + _BATCH]])
        return removed

    async def ping(self) -> None:
        with self._errors():
            await self._run("PING")

    async def close(self) -> None:
        await self._client.close()
