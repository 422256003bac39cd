"""Secret: a credential that prints, formats and encodes as `***`; only `.reveal()` gives the value."""

from __future__ import annotations

import hmac
from typing import Any

MASK = "***"


class Secret:
    """Holds one credential so no log line, repr or encoded response can carry it by accident.

    Call `.reveal()` only where the value goes on the wire (an auth header, a signature, a digest).
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Secret holds a str, not {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def __bool__(self) -> bool:
        # `if cfg.api_key:` means "is a credential configured", as it did for the plain str.
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        # Config snapshots are compared on reload; compare_digest keeps the comparison constant-time.
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Secret, (self._value,))


def reveal(secret: Secret | None, default: str = "") -> str:
    """The value of an optional secret, or `default` when none is configured."""
    return secret.reveal() if secret is not None else default


def dec_hook(typ: type, obj: Any) -> Any:
    """msgspec decode hook: a TOML string becomes a Secret (after `${VAR}` interpolation)."""
    if typ is Secret:
        if isinstance(obj, Secret):
            return obj
        if isinstance(obj, str):
            return Secret(obj)
        raise TypeError(f"Expected `str`, got `{type(obj).__name__}`")
    raise NotImplementedError(f"no decoder for {typ!r}")


def enc_hook(obj: Any) -> Any:
    """msgspec encode hook: a Secret is written masked, never revealed."""
    if isinstance(obj, Secret):
        return MASK
    raise NotImplementedError(f"Objects of type {type(obj).__name__} are not supported")
