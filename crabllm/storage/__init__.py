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

Key conventions: `<area>:<owner>:<detail>`, colon separated, e.g. `keys:<sha256>`,
`prvd:<name>`, `rlim:<principal>:<window>`, `usge:<principal>:<model>:p`, `bdgt:<principal>`,
`cach:<digest-hex>`, `alog:<epoch-ms>:<request-id>`. Components that come from users are
validated names (`[A-Za-z0-9._-]+`) or hex digests, so one key can never collide with another
owner's prefix. Keys are text; list order is by code point. The redis backend adds its own
namespace (default `crabllm:`) in front of every key.

Backends are chosen by `open_storage(kind, path, base_dir=...)` (factory.py).
"""

from crabllm.storage.base import Storage
from crabllm.storage.factory import open_storage

__all__ = ["Storage", "open_storage"]
