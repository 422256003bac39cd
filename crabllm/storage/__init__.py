"""Storage: one small async key-value protocol with memory, sqlite and redis backends.

Protocol (`Storage`, see base.py): str keys, bytes values, optional ttl in seconds.

- `get`, `set`, `delete`; `add` is an atomic insert-if-absent (an expired entry is absent).
- `incr(key, amount, ttl)` is an atomic counter that starts at 0; the ttl is applied only when
  the counter is created, so fixed windows expire on time. `incr_many` applies several
  increments all together in one round trip (all or none). `get`/`list` return a counter as
  decimal ASCII (b"42") on every backend, so readers never depend on the backend.
- `list(prefix, limit)` returns live entries sorted by key; `delete_prefix(prefix)` counts what
  it removed. Expired entries are never returned.
- Every backend failure is a `StorageUnavailable` (503); incrementing a key that holds a
  non-integer value is a `ServerError`. `ping` backs readiness; `close` releases connections.

Key conventions (slash separated; components from users are validated names, `[A-Za-z0-9._-]+`,
or hex digests; model names may hold anything, so they always come last):
`key/<name>` issued keys, `rl/<principal>/<r|t>/<minute>` rate-limit windows,
`us/<principal>/<provider>/<p|c|r|u>/<model>` usage, `bg/<principal>/<period>` budget spend,
`cache/e/<sha256>` and `cache/i/<ns>/<sha256>` the cache and its age index, `audit/<t|k|m>/…`
audit records and their indexes. The redis backend adds its own namespace (default `crabllm:`).

Backends are chosen by `open_storage(kind, path, base_dir=...)` (factory.py).
"""

from typing import Any

from crabllm.storage.base import Storage

__all__ = ["Storage", "open_storage"]


def __getattr__(name: str) -> Any:
    # The factory pulls in the redis and sqlite clients; import it only when it is used.
    if name == "open_storage":
        from crabllm.storage.factory import open_storage

        return open_storage
    raise AttributeError(name)
