"""Semantic checks of a decoded Config that the type system cannot express."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import urlsplit

from crabllm.config.problems import Problems
from crabllm.config.schema import Config, ProviderConfig
from crabllm.config.secret import Secret
from crabllm.errors import ConfigError
from crabllm.storage._common import redact_url

OPENAI_WIRE_KINDS = frozenset({"openai", "ollama", "azure"})
TRANSLATED_KINDS = frozenset({"anthropic", "google", "bedrock"})
SUPPORTED_KINDS = OPENAI_WIRE_KINDS | TRANSLATED_KINDS | {"mock"}
_KEY_HINTS = {"anthropic": "ANTHROPIC_API_KEY", "google": "GEMINI_API_KEY"}
STORAGE_KINDS = ("memory", "sqlite", "redis")
NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
HEADER_NAME_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def validate(config: Config, *, file: str, env: Mapping[str, str] | None = None, problems: Problems | None = None) -> None:
    """Report every problem to `problems`; without one, raise ConfigError for the first (TOML path and fix)."""
    sink = problems if problems is not None else Problems()
    env = os.environ if env is None else env
    # Independent units: a check that raises rather than yields still ends only its own unit.
    units: list[Iterable[ConfigError]] = [_validate_listen(config, file)]
    units += [_validate_provider(name, provider, file, env) for name, provider in config.providers.items()]
    units += [_validate_keys(config, file), _validate_aliases(config, file), _validate_models(config, file),
              _validate_extensions(config, file), _validate_breaker(config, file), _validate_routing(config, file), _validate_storage(config, file),
              _validate_limits(config, file), _validate_telemetry(config, file)]
    for unit in units:
        sink.run(unit)


def _validate_listen(config: Config, file: str) -> Iterator[ConfigError]:
    try:
        parse_listen(config.listen, file=file, path="listen")
    except ConfigError as e:
        yield e


def _validate_aliases(config: Config, file: str) -> Iterator[ConfigError]:
    served = {m for p in config.providers.values() for m in p.models}
    for alias, target in config.aliases.items():
        if target not in served:
            yield ConfigError(f"alias '{alias}' points to '{target}', which no provider serves",
                              file=file, path=f"aliases.{alias}", fix=f"add '{target}' to a provider's models or fix the alias")


def _validate_models(config: Config, file: str) -> Iterator[ConfigError]:
    for name, info in config.models.items():
        path = f"models.{_toml_key(name)}"
        if info.context_length is not None and info.context_length <= 0:
            yield ConfigError("context_length must be positive", file=file, path=f"{path}.context_length",
                              fix="use the model's context window in tokens")
        if info.pricing is not None:
            for field in ("prompt_cost_per_million", "completion_cost_per_million"):
                if getattr(info.pricing, field) < 0:
                    yield ConfigError(f"{field} must not be negative", file=file, path=f"{path}.pricing.{field}",
                                      fix="use USD per million tokens >= 0")


def _validate_routing(config: Config, file: str) -> Iterator[ConfigError]:
    yield from _positive(config.routing.latency_decay_seconds, file, "routing.latency_decay_seconds")
    deployments = {f"{name}/{m}" for name, p in config.providers.items() for m in p.models}
    for name, info in config.models.items():
        if info.routing is not None and name in deployments and name not in config.aliases:
            yield ConfigError(f"routing orders a model's deployments; '{name}' is one deployment", file=file,
                              path=f"models.{_toml_key(name)}.routing", fix="set routing on the model (or alias) entry")


def _validate_breaker(config: Config, file: str) -> Iterator[ConfigError]:
    cb = config.circuit_breaker
    for field in ("failure_threshold", "min_requests", "window_seconds", "cooldown_seconds", "max_cooldown_seconds"):
        yield from _positive(getattr(cb, field), file, f"circuit_breaker.{field}")
    if not 0 < cb.error_ratio <= 1:
        yield ConfigError("error_ratio must be within (0, 1]", file=file, path="circuit_breaker.error_ratio", fix="e.g. 0.5")
    if not 0 <= cb.panic_threshold <= 1:
        yield ConfigError("panic_threshold must be within [0, 1]", file=file, path="circuit_breaker.panic_threshold",
                          fix="a fraction of a model's deployments, e.g. 0.5; 0 routes to open ones only when none is usable")


def _validate_storage(config: Config, file: str) -> Iterator[ConfigError]:
    kind, path = config.storage.kind, config.storage.path
    if kind not in STORAGE_KINDS:
        yield ConfigError(f"unknown storage kind '{kind}'", file=file, path="storage.kind",
                          fix=f"use one of: {', '.join(STORAGE_KINDS)}")
    elif kind == "redis" and path is not None:
        problem = redis_url_problem(path)
        if problem:
            yield ConfigError(f"invalid redis URL '{redact_url(path)}': {problem}", file=file, path="storage.path",
                              fix="use redis://[:password@]host:port/db, rediss://… or unix:///path/to/socket")
    elif kind == "sqlite" and path is not None and (not path.strip() or "\x00" in path):
        yield ConfigError("invalid sqlite path", file=file, path="storage.path",
                          fix='use a file name, e.g. path = "crabllm.db" (relative to the config file)')


def redis_url_problem(url: str) -> str | None:
    """What is wrong with a Redis URL, checked offline (no connection), or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        return str(e)
    if parts.scheme not in ("redis", "rediss", "unix"):
        return f"scheme '{parts.scheme}' is not redis, rediss or unix" if parts.scheme else "no scheme"
    if parts.scheme == "unix":
        return None if parts.path else "no socket path"
    if not parts.hostname:
        return "no host"
    if port == 0:
        return "port 0"
    db = parts.path.strip("/")
    if db and not db.isdigit():
        return f"database '{db}' is not a number"
    return None


def _validate_limits(config: Config, file: str) -> Iterator[ConfigError]:
    for field in ("max_header_bytes", "max_messages", "max_multipart_parts"):
        yield from _positive(getattr(config.limits, field), file, f"limits.{field}")
    if config.limits.max_body_bytes < 1024:
        yield ConfigError("max_body_bytes must be at least 1024", file=file, path="limits.max_body_bytes",
                          fix="use a size in bytes, e.g. 33554432 for 32 MiB")
    if not config.responses.ttl_days > 0:
        yield ConfigError("ttl_days must be positive", file=file, path="responses.ttl_days", fix="e.g. 30")
    yield from _positive(config.responses.max_bytes_per_key, file, "responses.max_bytes_per_key")
    if config.shutdown_timeout < 0:
        yield ConfigError("shutdown_timeout must not be negative", file=file, path="shutdown_timeout", fix="use seconds >= 0")


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'"{name}"'


def parse_listen(listen: str, *, file: str = "", path: str = "listen") -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"invalid listen address '{listen}'", file=file or None, path=path,
                          fix='use HOST:PORT, e.g. "127.0.0.1:5632"')
    return host.strip("[]"), int(port)


def _validate_provider(name: str, p: ProviderConfig, file: str, env: Mapping[str, str]) -> Iterator[ConfigError]:
    path = f"providers.{name}"
    for field in ("kind", "api_key", "base_url", "api_version", "region", "access_key", "secret_key", "session_token"):
        value = getattr(p, field)
        if isinstance(value, Secret):
            value = value.reveal()
        if isinstance(value, str) and any(ord(c) < 33 or c == "\x7f" for c in value):
            yield ConfigError(f"{field} contains a control character or whitespace", file=file, path=f"{path}.{field}",
                              fix="remove the line break, tab or space (check the environment variable it comes from)")
    if not NAME_RE.fullmatch(name):
        yield ConfigError(f"invalid provider name '{name}'", file=file, path=path, fix="use letters, digits, '.', '_' or '-'")
    if p.kind in _KEY_HINTS and not p.api_key:
        yield ConfigError(f"provider '{name}' ({p.kind}) requires an api_key", file=file, path=f"{path}.api_key",
                          fix=f'set api_key, e.g. api_key = "${{{_KEY_HINTS[p.kind]}}}"')
    if p.kind == "bedrock":
        yield from _validate_bedrock(name, p, file, env)
    if p.kind not in SUPPORTED_KINDS and not p.base_url:
        yield ConfigError(f"provider '{name}' (custom kind '{p.kind}') requires a base_url", file=file,
                          path=f"{path}.base_url", fix="set base_url to the service's OpenAI-compatible endpoint")
    if p.kind == "azure":
        if not p.api_key:
            yield ConfigError(f"provider '{name}' (azure) requires an api_key", file=file, path=f"{path}.api_key",
                              fix='set api_key, e.g. api_key = "${AZURE_OPENAI_API_KEY}"')
        if not p.base_url:
            yield ConfigError(f"provider '{name}' (azure) requires a base_url", file=file, path=f"{path}.base_url",
                              fix='set base_url = "https://<resource>.openai.azure.com"')
    if p.base_url is not None:
        yield from _validate_url(p.base_url, file, f"{path}.base_url")
    if p.responses and (p.kind in TRANSLATED_KINDS or p.kind == "mock"):
        yield ConfigError(f"responses = true needs an OpenAI-compatible kind, not '{p.kind}'", file=file,
                          path=f"{path}.responses", fix="remove it: /v1/responses is translated for this kind")
    if p.kind != "mock" and p.mock_reply is not None:
        yield ConfigError("mock_reply only applies to kind = \"mock\"", file=file, path=f"{path}.mock_reply", fix="remove it")
    for field, value in (("weight", p.weight), ("max_retries", p.max_retries), ("timeout", p.timeout),
                         ("first_byte_timeout", p.first_byte_timeout or 0), ("stream_idle_timeout", p.stream_idle_timeout or 0),
                         ("mock_chunks", p.mock_chunks), ("mock_chunk_delay_ms", p.mock_chunk_delay_ms),
                         ("mock_latency_ms", p.mock_latency_ms)):
        if value < 0:
            yield ConfigError(f"{field} must not be negative", file=file, path=f"{path}.{field}", fix="use a value >= 0")
    if p.weight > 65535:
        yield ConfigError("weight must be at most 65535", file=file, path=f"{path}.weight", fix="use 0..65535")
    if p.max_retries > 10:
        yield ConfigError("max_retries must be at most 10", file=file, path=f"{path}.max_retries", fix="use 0..10")
    if not 1 <= p.mock_dimensions <= 8192:
        yield ConfigError("mock_dimensions must be within 1..8192", file=file, path=f"{path}.mock_dimensions", fix="use 1..8192")


def _validate_bedrock(name: str, p: ProviderConfig, file: str, env: Mapping[str, str]) -> Iterator[ConfigError]:
    path = f"providers.{name}"
    if not (p.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")):
        yield ConfigError(f"provider '{name}' (bedrock) requires a region", file=file, path=f"{path}.region",
                          fix='set region = "us-east-1", or export AWS_REGION')
    if bool(p.access_key) != bool(p.secret_key):
        missing = "secret_key" if p.access_key else "access_key"
        yield ConfigError(f"provider '{name}' (bedrock) sets only one of access_key and secret_key", file=file,
                          path=f"{path}.{missing}", fix=f"set {missing} too, or remove both to use the AWS_* variables")
    if not p.access_key and not (env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY")):
        yield ConfigError(f"provider '{name}' (bedrock) has no AWS credentials", file=file, path=f"{path}.access_key",
                          fix='set access_key = "${AWS_ACCESS_KEY_ID}" and secret_key = "${AWS_SECRET_ACCESS_KEY}", '
                              "or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    if p.session_token and not p.access_key:
        yield ConfigError("session_token needs access_key and secret_key in the config", file=file,
                          path=f"{path}.session_token", fix="set them, or use AWS_SESSION_TOKEN with the AWS_* variables")


def _validate_url(url: str, file: str, path: str) -> Iterator[ConfigError]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        yield ConfigError(f"invalid base_url '{url}'", file=file, path=path, fix="use an http:// or https:// URL")
    if parts.username or parts.password:
        yield ConfigError("base_url must not contain credentials", file=file, path=path, fix="put the secret in api_key")


def _validate_keys(config: Config, file: str) -> Iterator[ConfigError]:
    seen: set[str] = set()
    for i, k in enumerate(config.keys):
        path = f"keys[{i}]"
        if not NAME_RE.fullmatch(k.name):
            yield ConfigError(f"invalid key name '{k.name}'", file=file, path=f"{path}.name",
                              fix="use 1-64 letters, digits, '.', '_' or '-'")
        if k.name in seen:
            yield ConfigError(f"duplicate key name '{k.name}'", file=file, path=f"{path}.name", fix="give each key a unique name")
        seen.add(k.name)
        if (k.key is None) == (k.key_sha256 is None):
            yield ConfigError(f"key '{k.name}' needs exactly one of key or key_sha256", file=file, path=path,
                              fix='set key = "sk-..." or key_sha256 = "<64 hex>"')
        if k.key is not None and len(k.key.reveal()) < 8:
            yield ConfigError(f"key '{k.name}' is too short", file=file, path=f"{path}.key", fix="use at least 8 characters (crabllm init makes sk- + 64 hex)")
        if k.key_sha256 is not None and not SHA256_RE.fullmatch(k.key_sha256):
            yield ConfigError(f"key '{k.name}' key_sha256 is not 64 lowercase hex digits", file=file,
                              path=f"{path}.key_sha256", fix="use the output of: printf %s KEY | sha256sum")
        if not k.models:
            yield ConfigError(f"key '{k.name}' allows no models", file=file, path=f"{path}.models", fix='use ["*"] for every model')
        yield from _positive(k.max_parallel_requests, file, f"{path}.max_parallel_requests")
    if config.admin_token is not None and len(config.admin_token.reveal()) < 8:
        yield ConfigError("admin_token is too short", file=file, path="admin_token", fix="use at least 8 characters")


def _positive(value: float | None, file: str, path: str) -> Iterator[ConfigError]:
    if value is not None and value <= 0:
        yield ConfigError("must be positive", file=file, path=path, fix="use a number > 0, or remove the field")


def _validate_extensions(config: Config, file: str) -> Iterator[ConfigError]:
    ext = config.extensions
    if ext.rate_limit is not None:
        rl = ext.rate_limit
        limits = {f: getattr(rl, f) for f in rl.__struct_fields__}
        for field, value in limits.items():
            yield from _positive(value, file, f"extensions.rate_limit.{field}")
        if all(v is None for v in limits.values()) and not any(k.rate_limit for k in config.keys):
            yield ConfigError("rate_limit sets no limit", file=file, path="extensions.rate_limit",
                              fix="set requests_per_minute and/or tokens_per_minute")
    if ext.budget is not None:
        yield from _positive(ext.budget.default_budget, file, "extensions.budget.default_budget")
        for name, entry in ext.budget.keys.items():
            if entry.budget < 0:
                yield ConfigError("budget must not be negative", file=file, path=f"extensions.budget.keys.{name}.budget",
                                  fix="use USD >= 0")
    if ext.cache is not None:
        yield from _positive(ext.cache.ttl_seconds, file, "extensions.cache.ttl_seconds")
        yield from _positive(ext.cache.max_entries, file, "extensions.cache.max_entries")
    if ext.audit is not None:
        yield from _positive(ext.audit.retention_days, file, "extensions.audit.retention_days")
        yield from _positive(ext.audit.max_records, file, "extensions.audit.max_records")
    for i, k in enumerate(config.keys):
        if k.rate_limit is not None:
            yield from _positive(k.rate_limit.requests_per_minute, file, f"keys[{i}].rate_limit.requests_per_minute")
            yield from _positive(k.rate_limit.tokens_per_minute, file, f"keys[{i}].rate_limit.tokens_per_minute")
        if k.budget is not None and k.budget < 0:
            yield ConfigError("budget must not be negative", file=file, path=f"keys[{i}].budget", fix="use USD >= 0")


def _validate_telemetry(config: Config, file: str) -> Iterator[ConfigError]:
    t = config.telemetry
    if t is None:
        return
    parts = urlsplit(t.endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        yield ConfigError(f"invalid telemetry endpoint '{t.endpoint}'", file=file, path="telemetry.endpoint",
                          fix='use the OTLP/HTTP traces URL, e.g. "http://127.0.0.1:4318/v1/traces"')
    elif parts.username or parts.password:
        yield ConfigError("telemetry endpoint must not contain credentials", file=file, path="telemetry.endpoint",
                          fix="send them with [telemetry.headers]")
    if not 0 <= t.sample_ratio <= 1:
        yield ConfigError("sample_ratio must be within [0, 1]", file=file, path="telemetry.sample_ratio",
                          fix="a fraction of traces, e.g. 0.1; 1 keeps every trace")
    if not t.service_name:
        yield ConfigError("service_name must not be empty", file=file, path="telemetry.service_name", fix='e.g. "crabllm"')
    yield from _positive(t.timeout, file, "telemetry.timeout")
    for name, value in t.headers.items():
        text = value.reveal() if isinstance(value, Secret) else value
        if not HEADER_NAME_RE.fullmatch(name) or any(ord(c) < 32 or c == "\x7f" for c in text):
            yield ConfigError(f"invalid telemetry header '{name}'", file=file, path=f"telemetry.headers.{name}",
                              fix="use a token name and a value without control characters")
