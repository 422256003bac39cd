"""Small helpers shared by the storage backends: ttl normalisation, prefix ranges, counters."""

from __future__ import annotations

import math

from crabllm.errors import ServerError

MIN_TTL = 0.001
"""Shortest expiry honoured: Redis counts in whole milliseconds, so every backend rounds up to it."""

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def norm_ttl(ttl: float | None) -> float | None:
    """None stays None (forever); anything else is at least one millisecond."""
    if ttl is None:
        return None
    if not math.isfinite(ttl):
        raise ValueError(f"ttl must be a finite number of seconds, got {ttl!r}")
    return max(float(ttl), MIN_TTL)


def ttl_ms(ttl: float | None) -> int | None:
    """The ttl in whole milliseconds, rounded up, as Redis PX/PEXPIRE want it."""
    seconds = norm_ttl(ttl)
    return None if seconds is None else max(1, math.ceil(seconds * 1000))


def prefix_end(prefix: str) -> str | None:
    """The smallest str greater than every str starting with `prefix` (None: no upper bound).

    Comparing str by code point matches SQLite's BINARY collation over UTF-8, so the pair
    (prefix, prefix_end) is an index range scan.
    """
    stripped = prefix.rstrip("\U0010ffff")
    if not stripped:
        return None
    code = ord(stripped[-1]) + 1
    if 0xD800 <= code <= 0xDFFF:
        code = 0xE000
    return stripped[:-1] + chr(code)


def parse_counter(value: bytes) -> int | None:
    """The integer a stored value holds when it is canonical decimal ASCII (as Redis accepts)."""
    if not value or len(value) > 20:
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    if str(number).encode() != value or not _INT64_MIN <= number <= _INT64_MAX:
        return None
    return number


def not_a_counter(key: str) -> ServerError:
    """The error for incrementing a key that holds a non-integer value."""
    return ServerError(f"storage key '{key}' does not hold an integer counter")


def redact_url(url: str) -> str:
    """The URL without its password, safe for logs and error messages."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    userinfo, _, host = rest.partition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in userinfo else f"{scheme}://{user}@{host}"
