"""Load crabllm.toml: parse, interpolate the environment, decode strictly, validate."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from crabllm.config.env import expand_all
from crabllm.config.problems import Problems
from crabllm.config.schema import Config, KeyConfig, ModelInfo, ProviderConfig
from crabllm.config.secret import dec_hook
from crabllm.config.validate import validate
from crabllm.errors import ConfigError

T = TypeVar("T")

_FIELD_RE = re.compile(r"`([^`]+)`")
_SEGMENT_RE = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_MAX_REPAIRS = 100


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file; every problem is a ConfigError naming file and path."""
    config = _load(path, env, Problems())
    assert config is not None  # a fail-fast sink raised otherwise
    return config


def check_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> tuple[Config | None, list[ConfigError]]:
    """Run the loader's checks, gathering every problem instead of stopping at the first (`crabllm check`)."""
    problems = Problems(collect=True)
    try:
        config = _load(path, env, problems)
    except ConfigError as e:  # a check outside any collecting unit: still one problem, never a crash
        problems.errors.append(e)
        config = None
    return (config if not problems.errors else None), problems.errors


def _load(path: str | os.PathLike[str], env: Mapping[str, str] | None, problems: Problems) -> Config | None:
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=file, fix="run `crabllm init` to write a starter config") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read file: {e}", file=file) from None
    raw = _parse_toml(text, file)
    return _build(raw, file=file, env=os.environ if env is None else env, base_dir=Path(path).parent, problems=problems)


def parse_config(text: str, *, file: str = "<config>", env: Mapping[str, str] | None = None,
                 base_dir: Path | None = None) -> Config:
    raw = _parse_toml(text, file)
    return config_from_raw(raw, file=file, env=os.environ if env is None else env, base_dir=base_dir or Path("."))


def _parse_toml(text: str, file: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML: {e}", file=file, fix="correct the TOML syntax at that line") from None


def config_from_raw(raw: dict[str, Any], *, file: str, env: Mapping[str, str], base_dir: Path) -> Config:
    config = _build(raw, file=file, env=env, base_dir=base_dir, problems=Problems())
    assert config is not None  # a fail-fast sink raised otherwise
    return config


def _build(raw: dict[str, Any], *, file: str, env: Mapping[str, str], base_dir: Path, problems: Problems) -> Config | None:
    """The one path from parsed TOML to a valid Config; every problem goes to `problems`.

    Collecting, a table that fails to decode is repaired (the offending field dropped) so the
    checks after it still run; the problems that follow only from a reported one are kept quiet.
    """
    data, missing = expand_all(raw, env)
    if missing and problems.collect:
        for p, v in missing:
            problems.add(ConfigError(f"environment variable {v} is not set", file=file, path=p,
                                     fix=f"export {v}, or write ${{{v}:-default}}"))
    elif missing:
        where = ", ".join(f"{p} needs ${{{v}}}" for p, v in missing)
        names = ", ".join(sorted({v for _, v in missing}))
        problems.add(ConfigError(f"environment variable not set: {where}", file=file,
                                 fix=f"export {names}, or write ${{VAR:-default}}"))
    problems.quiet(p for p, _ in missing)
    if isinstance(data.get("cloud_models"), str):
        try:
            data["models"] = _merge_cloud_models(data, base_dir, file)
        except ConfigError as e:
            problems.add(e)
    # Tables of named entries (and the keys list) are converted one by one so errors can name the entry.
    for section, typ in (("providers", ProviderConfig), ("models", ModelInfo)):
        entries = data.get(section)
        if isinstance(entries, dict):
            for name in list(entries):
                if _convert(entries[name], typ, file=file, path=f"{section}.{_toml_key(name)}", problems=problems) is None:
                    del entries[name]
    if isinstance(data.get("keys"), list):
        good = [_convert(entry, KeyConfig, file=file, path=f"keys[{i}]", problems=problems) is not None
                for i, entry in enumerate(data["keys"])]
        data["keys"] = [entry for entry, ok in zip(data["keys"], good, strict=True) if ok]
    config = _convert(data, Config, file=file, path="", problems=problems)
    if config is None:
        return None
    validate(config, file=file, env=env, problems=problems)
    return config


def convert(data: Any, typ: type[T], *, file: str, path: str) -> T:
    """msgspec.convert with errors rewritten as ConfigError carrying the TOML path."""
    try:
        return msgspec.convert(data, typ, strict=True, dec_hook=dec_hook)
    except msgspec.ValidationError as e:
        raise _config_error(str(e), file=file, base=path) from None


def _convert(data: Any, typ: type[T], *, file: str, path: str, problems: Problems) -> T | None:
    """`data` decoded as `typ`; collecting, each bad field is reported and dropped, then retried (None: gave up)."""
    for _ in range(_MAX_REPAIRS):
        try:
            return msgspec.convert(data, typ, strict=True, dec_hook=dec_hook)
        except msgspec.ValidationError as e:
            error = _config_error(str(e), file=file, base=path)
            problems.add(error)
            if error.path and not error.message.startswith("missing required"):
                problems.quiet([error.path])  # the field is dropped: its "missing" and later checks follow from this
            if not _drop_bad_field(data, str(e)):
                return None
    return None


def _drop_bad_field(data: Any, msg: str) -> bool:
    """Remove what a msgspec error points at (an unnamed table key drops its whole table); False if nothing can go."""
    text, _, where = msg.partition(" - at `")
    segments: list[str | int | None] = []
    for name, index in _SEGMENT_RE.findall(where.rstrip("`")):
        segments.append(name if name else (None if index == "..." else int(index)))
    m = _FIELD_RE.search(text)
    if text.startswith("Object contains unknown field") and m:
        segments.append(m.group(1))
    if None in segments:
        segments = segments[:segments.index(None)]
    if not segments:
        return False
    node = data
    try:
        for seg in segments[:-1]:
            node = node[seg]
        del node[segments[-1]]
    except (KeyError, IndexError, TypeError):
        return False
    return True


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
