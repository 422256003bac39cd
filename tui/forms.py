"""Pure form logic: dialog field values -> admin API bodies (create) and merge patches (edit)."""

from __future__ import annotations

from typing import Any

from tui.fmt import parse_duration, parse_list, parse_number

NEVER = ("never", "none", "-")
PROVIDER_KINDS = ("openai", "anthropic", "google", "azure", "bedrock", "ollama", "mock")


def _rate_limit(values: dict[str, str]) -> dict[str, int] | None:
    rpm = parse_number(values.get("rpm", ""), integer=True, what="requests/minute")
    tpm = parse_number(values.get("tpm", ""), integer=True, what="tokens/minute")
    if rpm is None and tpm is None:
        return None
    out = {}
    if rpm is not None:
        out["requests_per_minute"] = int(rpm)
    if tpm is not None:
        out["tokens_per_minute"] = int(tpm)
    return out


def _models(values: dict[str, str], *, default: list[str] | None) -> list[str] | None:
    models = parse_list(values.get("models", ""))
    return models or default


def key_create_body(values: dict[str, str]) -> dict[str, Any]:
    """Raises ValueError naming the bad field."""
    name = values.get("name", "").strip()
    if not name:
        raise ValueError("a key needs a name")
    body: dict[str, Any] = {"name": name, "models": _models(values, default=["*"])}
    if (rl := _rate_limit(values)) is not None:
        body["rate_limit"] = rl
    if (budget := parse_number(values.get("budget", ""), what="budget")) is not None:
        body["budget"] = float(budget)
    expires = values.get("expires", "").strip().lower()
    if expires and expires not in NEVER:
        body["expires_in"] = parse_duration(expires)
    return body


def key_patch_body(values: dict[str, str], now: float) -> dict[str, Any]:
    """Blank limits and budget clear them; blank expiry keeps it, `never` clears it, a duration sets it from now."""
    models = _models(values, default=None)
    if not models:
        raise ValueError("list at least one model, or * for all")
    budget = parse_number(values.get("budget", ""), what="budget")
    patch: dict[str, Any] = {"models": models, "rate_limit": _rate_limit(values),
                             "budget": None if budget is None else float(budget)}
    expires = values.get("expires", "").strip().lower()
    if expires in NEVER:
        patch["expires_at"] = None
    elif expires:
        seconds = parse_duration(expires)
        patch["expires_at"] = None if seconds is None else now + seconds
    return patch


def provider_create_body(values: dict[str, str]) -> dict[str, Any]:
    name = values.get("name", "").strip()
    if not name:
        raise ValueError("a provider needs a name")
    kind = values.get("kind", "").strip() or "openai"
    body: dict[str, Any] = {"name": name, "kind": kind}
    for field in ("base_url", "api_key", "api_version"):
        if text := values.get(field, "").strip():
            body[field] = text
    if models := parse_list(values.get("models", "")):
        body["models"] = models
    body.update(_provider_numbers(values))
    return body


def _provider_numbers(values: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    weight = parse_number(values.get("weight", ""), integer=True, what="weight")
    retries = parse_number(values.get("max_retries", ""), integer=True, what="max retries")
    timeout = parse_number(values.get("timeout", ""), what="timeout")
    if weight is not None:
        out["weight"] = int(weight)
    if retries is not None:
        out["max_retries"] = int(retries)
    if timeout is not None:
        out["timeout"] = float(timeout)
    return out


def provider_patch_body(values: dict[str, str], original: dict[str, Any]) -> dict[str, Any]:
    """Only what changed. A blank api_key keeps the secret (it is shown masked); blank text fields are removed."""
    patch: dict[str, Any] = {}
    if (kind := values.get("kind", "").strip()) and kind != original.get("kind"):
        patch["kind"] = kind
    for field in ("base_url", "api_version"):
        text = values.get(field, "").strip() or None
        if text != original.get(field):
            patch[field] = text
    if secret := values.get("api_key", "").strip():
        patch["api_key"] = secret
    models = parse_list(values.get("models", ""))
    if not models:
        raise ValueError("list the provider's models")
    if models != list(original.get("models") or []):
        patch["models"] = models
    for field, value in _provider_numbers(values).items():
        if value != original.get(field):
            patch[field] = value
    return patch
