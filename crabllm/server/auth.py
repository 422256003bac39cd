"""Virtual-key and admin-token authentication: lookup by SHA-256 digest, constant-time compare."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from crabllm.errors import AuthenticationError
from crabllm.registry import KeyEntry, Registry

_BEARER = b"Bearer "


def extract_token(auth: bytes | None, api_key: bytes | None) -> bytes | None:
    """Bearer wins over x-api-key when both are present."""
    if auth is not None and auth.startswith(_BEARER):
        return auth[7:].strip()
    if api_key:
        return api_key.strip()
    return None


def authenticate(registry: Registry, issued: Mapping[bytes, KeyEntry], auth: bytes | None,
                 api_key: bytes | None) -> KeyEntry | None:
    """The caller's key (config or issued), or None in no-auth mode (no keys, no admin token)."""
    if not registry.auth_enabled:
        return None
    token = extract_token(auth, api_key)
    if not token:
        raise AuthenticationError("missing Authorization or x-api-key header")
    digest = hashlib.sha256(token).digest()
    entry = registry.keys.get(digest) or issued.get(digest)
    if entry is None:
        raise AuthenticationError("invalid API key")
    if entry.expires_at is not None and time.time() >= entry.expires_at:
        raise AuthenticationError(f"key '{entry.name}' has expired", code="expired_api_key")
    return entry


def check_admin(registry: Registry, auth: bytes | None) -> None:
    expected = registry.admin_digest
    token = auth[7:].strip() if auth is not None and auth.startswith(_BEARER) else b""
    if expected is None or not hmac.compare_digest(hashlib.sha256(token).digest(), expected):
        raise AuthenticationError("missing or invalid admin token", code="invalid_admin_token")
