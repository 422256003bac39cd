"""Semantic checks of a decoded Config that the type system cannot express."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from crabllm.config.schema import Config, ProviderConfig
from crabllm.errors import ConfigError

OPENAI_WIRE_KINDS = frozenset({"openai", "ollama", "azure"})
TRANSLATED_KINDS = frozenset({"anthropic", "google", "bedrock"})
SUPPORTED_KINDS = OPENAI_WIRE_KINDS | TRANSLATED_KINDS | {"mock"}
_KEY_HINTS = {"anthropic": "ANTHROPIC_API_KEY", "google": "GEMINI_API_KEY"}
STORAGE_KINDS = ("memory", "sqlite", "redis")
NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")


def validate(config: Config, *, file: str, env: Mapping[str, str] | None = None) -> None:
    """Raise ConfigError for the first problem found, naming its TOML path and the fix."""
    parse_listen(config.listen, file=file, path="listen")
    for name, provider in config.providers.items():
        _validate_provider(name, provider, file, os.environ if env is None else env)
    _validate_keys(config, file)
    served = {m for p in config.providers.values() for m in p.models}
    for alias, target in config.aliases.items():
        if target not in served:
            raise ConfigError(f"alias '{alias}' points to '{target}', which no provider serves",
                              file=file, path=f"aliases.{alias}", fix=f"add '{target}' to a provider's models or fix the alias")
    _validate_extensions(config, file)
    cb = config.circuit_breaker
    for field in ("failure_threshold", "min_requests", "window_seconds", "cooldown_seconds", "max_cooldown_seconds"):
        _positive(getattr(cb, field), file, f"circuit_breaker.{field}")
    if not 0 < cb.error_ratio <= 1:
        raise ConfigError("error_ratio must be within (0, 1]", file=file, path="circuit_breaker.error_ratio", fix="e.g. 0.5")
    if config.storage.kind not in STORAGE_KINDS:
    if not 0 <= cb.panic_threshold <= 1:
        raise ConfigError("panic_threshold must be within [0, 1]", file=file, path="circuit_breaker.panic_threshold",
                          fix="a fraction of a model's deployments, e.g. 0.5; 0 routes to open ones only when none is usable")
        raise ConfigError(f"unknown storage kind '{config.storage.kind}'", file=file, path="storage.kind",
                          fix=f"use one of: {', '.join(STORAGE_KINDS)}")
    for field in ("max_header_bytes", "max_messages", "max_multipart_parts"):
        _positive(getattr(config.limits, field), file, f"limits.{field}")
    if config.limits.max_body_bytes < 1024:
        raise ConfigError("max_body_bytes must be at least 1024", file=file, path="limits.max_body_bytes",
                          fix="use a size in bytes, e.g. 33554432 for 32 MiB")
    if config.shutdown_timeout < 0:
        raise ConfigError("shutdown_timeout must not be negative", file=file, path="shutdown_timeout", fix="use seconds >= 0")


def parse_listen(listen: str, *, file: str = "", path: str = "listen") -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"invalid listen address '{listen}'", file=file or None, path=path,
                          fix='use HOST:PORT, e.g. "127.0.0.1:5632"')
    return host.strip("[]"), int(port)


def _validate_provider(name: str, p: ProviderConfig, file: str, env: Mapping[str, str]) -> None:
    path = f"providers.{name}"
    for field in ("kind", "api_key", "base_url", "api_version", "region", "access_key", "secret_key", "session_token"):
        value = getattr(p, field)
        if isinstance(value, str) and any(ord(c) < 33 or c == "\x7f" for c in value):
            raise ConfigError(f"{field} contains a control character or whitespace", file=file, path=f"{path}.{field}",
                              fix="remove the line break, tab or space (check the environment variable it comes from)")
    if not NAME_RE.fullmatch(name):
        raise ConfigError(f"invalid provider name '{name}'", file=file, path=path, fix="use letters, digits, '.', '_' or '-'")
    if p.kind in _KEY_HINTS and not p.api_key:
        raise ConfigError(f"provider '{name}' ({p.kind}) requires an api_key", file=file, path=f"{path}.api_key",
                          fix=f'set api_key, e.g. api_key = "${{{_KEY_HINTS[p.kind]}}}"')
    if p.kind == "bedrock":
        _validate_bedrock(name, p, file, env)
    if p.kind not in SUPPORTED_KINDS and not p.base_url:
        raise ConfigError(f"provider '{name}' (custom kind '{p.kind}') requires a base_url", file=file,
                          path=f"{path}.base_url", fix="set base_url to the service's OpenAI-compatible endpoint")
    if p.kind == "azure":
        if not p.api_key:
            raise ConfigError(f"provider '{name}' (azure) requires an api_key", file=file, path=f"{path}.api_key",
                              fix='set api_key, e.g. api_key = "${AZURE_OPENAI_API_KEY}"')
        if not p.base_url:
            raise ConfigError(f"provider '{name}' (azure) requires a base_url", file=file, path=f"{path}.base_url",
                              fix='set base_url = "https://<resource>.openai.azure.com"')
    if p.base_url is not None:
        _validate_url(p.base_url, file, f"{path}.base_url")
    if p.kind != "mock" and p.mock_reply is not None:
        raise ConfigError("mock_reply only applies to kind = \"mock\"", file=file, path=f"{path}.mock_reply", fix="remove it")
    for field, value in (("weight", p.weight), ("max_retries", p.max_retries), ("timeout", p.timeout),
                         ("first_byte_timeout", p.first_byte_timeout or 0), ("stream_idle_timeout", p.stream_idle_timeout or 0),
                         ("mock_chunks", p.mock_chunks), ("mock_chunk_delay_ms", p.mock_chunk_delay_ms),
                         ("mock_latency_ms", p.mock_latency_ms)):
        if value < 0:
            raise ConfigError(f"{field} must not be negative", file=file, path=f"{path}.{field}", fix="use a value >= 0")
    if p.weight > 65535:
        raise ConfigError("weight must be at most 65535", file=file, path=f"{path}.weight", fix="use 0..65535")
    if p.max_retries > 10:
        raise ConfigError("max_retries must be at most 10", file=file, path=f"{path}.max_retries", fix="use 0..10")
    if not 1 <= p.mock_dimensions <= 8192:
        raise ConfigError("mock_dimensions must be within 1..8192", file=file, path=f"{path}.mock_dimensions", fix="use 1..8192")


def _validate_bedrock(name: str, p: ProviderConfig, file: str, env: Mapping[str, str]) -> None:
    path = f"providers.{name}"
    if not (p.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")):
        raise ConfigError(f"provider '{name}' (bedrock) requires a region", file=file, path=f"{path}.region",
                          fix='set region = "us-east-1", or export AWS_REGION')
    if bool(p.access_key) != bool(p.secret_key):
        missing = "secret_key" if p.access_key else "access_key"
        raise ConfigError(f"provider '{name}' (bedrock) sets only one of access_key and secret_key", file=file,
                          path=f"{path}.{missing}", fix=f"set {missing} too, or remove both to use the AWS_* variables")
    if not p.access_key and not (env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY")):
        raise ConfigError(f"provider '{name}' (bedrock) has no AWS credentials", file=file, path=f"{path}.access_key",
                          fix='set access_key = "${AWS_ACCESS_KEY_ID}" and secret_key = "${AWS_SECRET_ACCESS_KEY}", '
                              "or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    if p.session_token and not p.access_key:
        raise ConfigError("session_token needs access_key and secret_key in the config", file=file,
                          path=f"{path}.session_token", fix="set them, or use AWS_SESSION_TOKEN with the AWS_* variables")


def _validate_url(url: str, file: str, path: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"invalid base_url '{url}'", file=file, path=path, fix="use an http:// or https:// URL")
    if parts.username or parts.password:
        raise ConfigError("base_url must not contain credentials", file=file, path=path, fix="put the secret in api_key")


def _validate_keys(config: Config, file: str) -> None:
    seen: set[str] = set()
    for i, k in enumerate(config.keys):
        path = f"keys[{i}]"
        if not NAME_RE.fullmatch(k.name):
            raise ConfigError(f"invalid key name '{k.name}'", file=file, path=f"{path}.name",
                              fix="use 1-64 letters, digits, '.', '_' or '-'")
        if k.name in seen:
            raise ConfigError(f"duplicate key name '{k.name}'", file=file, path=f"{path}.name", fix="give each key a unique name")
        seen.add(k.name)
        if (k.key is None) == (k.key_sha256 is None):
            raise ConfigError(f"key '{k.name}' needs exactly one of key or key_sha256", file=file, path=path,
                              fix='set key = "sk-..." or key_sha256 = "<64 hex>"')
        if k.key is not None and len(k.key) < 8:
            raise ConfigError(f"key '{k.name}' is too short", file=file, path=f"{path}.key", fix="use at least 8 characters (crabllm init makes sk- + 64 hex)")
        if k.key_sha256 is not None and not SHA256_RE.fullmatch(k.key_sha256):
            raise ConfigError(f"key '{k.name}' key_sha256 is not 64 lowercase hex digits", file=file,
                              path=f"{path}.key_sha256", fix="use the output of: printf %s KEY | sha256sum")
        if not k.models:
            raise ConfigError(f"key '{k.name}' allows no models", file=file, path=f"{path}.models", fix='use ["*"] for every model')
    if config.admin_token is not None and len(config.admin_token) < 8:
        raise ConfigError("admin_token is too short", file=file, path="admin_token", fix="use at least 8 characters")


def _positive(value: float | None, file: str, path: str) -> None:
    if value is not None and value <= 0:
        raise ConfigError("must be positive", file=file, path=path, fix="use a number > 0, or remove the field")


def _validate_extensions(config: Config, file: str) -> None:
    ext = config.extensions
    if ext.rate_limit is not None:
        rl = ext.rate_limit
        limits = {f: getattr(rl, f) for f in rl.__struct_fields__}
        for field, value in limits.items():
            _positive(value, file, f"extensions.rate_limit.{field}")
        if all(v is None for v in limits.values()) and not any(k.rate_limit for k in config.keys):
            raise ConfigError("rate_limit sets no limit", file=file, path="extensions.rate_limit",
                              fix="set requests_per_minute and/or tokens_per_minute")
    if ext.budget is not None:
        _positive(ext.budget.default_budget, file, "extensions.budget.default_budget")
        for name, entry in ext.budget.keys.items():
            if entry.budget < 0:
                raise ConfigError("budget must not be negative", file=file, path=f"extensions.budget.keys.{name}.budget",
                                  fix="use USD >= 0")
    if ext.cache is not None:
        _positive(ext.cache.ttl_seconds, file, "extensions.cache.ttl_seconds")
        _positive(ext.cache.max_entries, file, "extensions.cache.max_entries")
    if ext.audit is not None:
        _positive(ext.audit.retention_days, file, "extensions.audit.retention_days")
        _positive(ext.audit.max_records, file, "extensions.audit.max_records")
    for i, k in enumerate(config.keys):
        if k.rate_limit is not None:
            _positive(k.rate_limit.requests_per_minute, file, f"keys[{i}].rate_limit.requests_per_minute")
            _positive(k.rate_limit.tokens_per_minute, file, f"keys[{i}].rate_limit.tokens_per_minute")
        if k.budget is not None and k.budget < 0:
            raise ConfigError("budget must not be negative", file=file, path=f"keys[{i}].budget", fix="use USD >= 0")
