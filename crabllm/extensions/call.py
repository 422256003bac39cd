"""What the extensions see of one request, and the storage key helpers they share."""

from __future__ import annotations

from dataclasses import dataclass, field

from crabllm.registry import KeyEntry

ANONYMOUS = "-"
Header = tuple[bytes, bytes]


@dataclass(slots=True)
class Call:
    """One model-routed request; filled in by `before`, read again by `after`."""

    principal: str
    key: KeyEntry | None
    model: str
    endpoint: str
    stream: bool
    body: bytes
    now: float
    headers: list[Header] = field(default_factory=list)
    cache_key: str | None = None
    budget_key: str | None = None
    budget_reserved: int = 0
    rate_keys: list[tuple[str, str]] = field(default_factory=list)  # (token counter key, principal)


def principal_of(key: KeyEntry | None) -> str:
    return key.name if key is not None else ANONYMOUS


def micros(usd: float) -> int:
    return int(round(usd * 1_000_000))
