"""Load crabllm.toml: parse, interpolate the environment, decode strictly, validate."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from crabllm.config.env import MissingVariables, expand
from crabllm.config.schema import Config, ModelInfo, ProviderConfig
from crabllm.config.validate import validate
from crabllm.errors import ConfigError

T = TypeVar("T")

_FIELD_RE = re.compile(r"`([^`]+)`")


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file; every problem is a ConfigError naming file and path."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=file, fix="run `crabllm init` to write a starter config") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read file: {e}", file=file) from None
    return parse_config(text, file=file, env=os.environ if env is None else env, base_dir=Path(path).parent)


def parse_config(text: str, *, file: str = "<config>", env: Mapping[str, str] | None = None,
                 base_dir: Path | None = None) -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML: {e}", file=file, fix="correct the TOML syntax at that line") from None
    return config_from_raw(raw, file=file, env=os.environ if env is None else env, base_dir=base_dir or Path("."))


def config_from_raw(raw: dict[str, Any], *, file: str, env: Mapping[str, str], base_dir: Path) -> Config:
    try:
        data = expand(raw, env)
    except MissingVariables as e:
        where = ", ".join(f"{p} needs ${{{v}}}" for p, v in e.missing)
        names = ", ".join(sorted({v for _, v in e.missing}))
        raise ConfigError(f"environment variable not set: {where}", file=file,
                          fix=f"export {names}, or write ${{VAR:-default}}") from None
    if isinstance(data.get("cloud_models"), str):
        data["models"] = _merge_cloud_models(data, base_dir, file)
    # Tables of named entries are converted one by one so errors can name the entry.
    for section, typ in (("providers", ProviderConfig), ("models", ModelInfo)):
        entries = data.get(section)
        if isinstance(entries, dict):
            for name, entry in entries.items():
                convert(entry, typ, file=file, path=f"{section}.{_toml_key(name)}")
    config = convert(data, Config, file=file, path="")
    validate(config, file=file, env=env)
    return config


def convert(data: Any, typ: type[T], *, file: str, path: str) -> T:
    """msgspec.convert with errors rewritten as ConfigError carrying the TOML path."""
    try:
        return msgspec.convert(data, typ, strict=True)
    except msgspec.ValidationError as e:
        raise _config_error(str(e), file=file, base=path) from None


def _config_error(msg: str, *, file: str, base: str) -> ConfigError:
    text, _, where = msg.partition(" - at `")
    loc = where.rstrip("`")[1:] if where else ""
    toml_path = (base + loc.replace("[...]", "")).lstrip(".")
    m = _FIELD_RE.search(text)
    if text.startswith("Object contains unknown field") and m:
        field = m.group(1)
        full = f"{toml_path}.{field}" if toml_path else field
        if toml_path == "extensions":
            return ConfigError(f"unknown extension '{field}'", file=file, path=full,
                               fix="valid extensions: audit, budget, cache, logging, rate_limit, usage")
        return ConfigError(f"unknown field '{field}'", file=file, path=full,
                           fix="remove it or check its spelling against the config reference")
    if text.startswith("Object missing required field") and m:
        field = m.group(1)
        full = f"{toml_path}.{field}" if toml_path else field
        return ConfigError(f"missing required field '{field}'", file=file, path=full, fix="add it")
    return ConfigError(_lower_first(text), file=file, path=toml_path or None, fix="use a value of the expected type")


def _merge_cloud_models(data: dict[str, Any], base_dir: Path, file: str) -> dict[str, Any]:
    """Merge a cloud model table field by field; entries in the config win per field."""
    cloud_path = base_dir / data["cloud_models"]
    try:
        cloud = tomllib.loads(cloud_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot load cloud_models '{cloud_path}': {e}", file=file, path="cloud_models") from None
    merged: dict[str, Any] = {}
    own = data.get("models") or {}
    for name in {**cloud, **own}:
        base = dict(cloud.get(name) or {})
        mine = own.get(name) or {}
        for field, value in mine.items():
            if isinstance(value, dict) and isinstance(base.get(field), dict):
                base[field] = {**base[field], **value}
            else:
                base[field] = value
        merged[name] = base
    return merged


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'"{name}"'


def _lower_first(s: str) -> str:
    return s[:1].lower() + s[1:]
