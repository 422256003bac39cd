"""Shared storage on Redis (redis.asyncio): for several gateways on several machines."""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterator
from contextlib import contextmanager

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError, ResponseError

from crabllm.errors import StorageUnavailable
from crabllm.storage._common import not_a_counter, redact_url, ttl_ms
from crabllm.storage.base import Entry, Increment

DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_NAMESPACE = "crabllm:"

_BATCH = 500
_NOT_COUNTER = "crabllm-not-counter"

# Validate every key before touching any, so a non-integer value aborts the whole batch
# (Redis never rolls a script back). A counter gets its ttl only on the increment that
# created it, so a fixed window is never extended. ARGV holds (amount, ttl_ms) pairs.
_INCR_LUA = f"""
local function is_int64(v)
  if v == '0' then return true end
  local neg = string.sub(v, 1, 1) == '-'
  local digits = neg and string.sub(v, 2) or v
  if #digits > 19 or not string.match(digits, '^[1-9]%d*$') then return false end
  return #digits < 19 or digits <= (neg and '9223372036854775808' or '9223372036854775807')
end
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v and not is_int64(v) then
    return redis.error_reply('{_NOT_COUNTER} ' .. i)
  end
end
local out = {{}}
for i = 1, #KEYS do
  local created = redis.call('EXISTS', KEYS[i]) == 0
  redis.call('INCRBY', KEYS[i], ARGV[2 * i - 1])
  -- Lua numbers are doubles: read the value back as a string to stay exact past 2^53.
  out[i] = redis.call('GET', KEYS[i])
  local ttl = tonumber(ARGV[2 * i])
  if created and ttl > 0 then
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
return out
"""

_NOT_COUNTER_INDEX = re.compile(_NOT_COUNTER + r" (\d+)")


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


class RedisStorage:
    """Keys live under `namespace` in one Redis database; values are Redis strings."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        max_connections: int = 64,
        timeout: float = 5.0,
    ) -> None:
        """Build the client without connecting; a malformed `url` raises ValueError."""
        self.url = redact_url(url)
        self.namespace = namespace
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            # A couple of quick retries ride over a dropped connection; an unreachable server
            # must fail fast (readiness, startup) rather than back off for seconds.
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
        )
        self._client: Redis = Redis.from_pool(pool)
        self._incr = self._client.register_script(_INCR_LUA)

    def _k(self, key: str) -> str:
        return self.namespace + key

    @contextmanager
    def _errors(self, keys: builtins.list[str] | None = None) -> Iterator[None]:
        try:
            yield
        except ResponseError as exc:
            found = _NOT_COUNTER_INDEX.search(str(exc))
            if found and keys:
                raise not_a_counter(keys[int(found.group(1)) - 1]) from exc
            if "not an integer" in str(exc) and keys:
                raise not_a_counter(", ".join(keys)) from exc
            raise StorageUnavailable(f"redis storage at {self.url} refused the command: {exc}") from exc
        except (RedisError, OSError) as exc:
            raise StorageUnavailable(f"redis storage at {self.url} is unavailable: {exc}") from exc

    async def _scan(self, prefix: str) -> builtins.list[str]:
        """Every key (without namespace) starting with `prefix`, sorted; SCAN never blocks Redis."""
        match = _glob_escape(self._k(prefix)) + "*"
        cut = len(self.namespace)
        found: set[str] = set()
        with self._errors():
            async for raw in self._client.scan_iter(match=match, count=1000):
                found.add(raw.decode("utf-8", "surrogateescape")[cut:])
        return sorted(found)

    # -- protocol ----------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        with self._errors():
            value: bytes | None = await self._client.get(self._k(key))
        return value

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        with self._errors():
            await self._client.set(self._k(key), bytes(value), px=ttl_ms(ttl))

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        with self._errors():
            stored = await self._client.set(self._k(key), bytes(value), px=ttl_ms(ttl), nx=True)
        return bool(stored)

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        return (await self.incr_many([(key, amount, ttl)]))[0]

    async def incr_many(self, items: builtins.list[Increment]) -> builtins.list[int]:
        if not items:
            return []
        keys = [key for key, _, _ in items]
        args: builtins.list[int] = []
        for _, amount, ttl in items:
            args += [int(amount), ttl_ms(ttl) or 0]
        with self._errors(keys):
            values = await self._incr(keys=[self._k(k) for k in keys], args=args)
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
                values = await self._client.mget([self._k(k) for k in chunk])
            for key, value in zip(chunk, values):
                if value is not None:
                    out.append((key, value))
                    if limit is not None and len(out) >= limit:
                        return out
        return out

    async def delete(self, key: str) -> bool:
        with self._errors():
            removed: int = await self._client.delete(self._k(key))
        return removed > 0

    async def delete_prefix(self, prefix: str) -> int:
        keys = await self._scan(prefix)
        removed = 0
        for start in range(0, len(keys), _BATCH):
            with self._errors():
                removed += await self._client.unlink(*[self._k(k) for k in keys[start : start + _BATCH]])
        return removed

    async def ping(self) -> None:
        with self._errors():
            await self._client.ping()

    async def close(self) -> None:
        with self._errors():
            await self._client.aclose()
