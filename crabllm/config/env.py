"""`${VAR}` / `${VAR:-default}` interpolation in string values, after TOML parsing; `$${` escapes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PATTERN = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class MissingVariables(Exception):
    """Raised with every (toml_path, variable) pair that has no value and no default."""

    def __init__(self, missing: list[tuple[str, str]]) -> None:
        super().__init__(", ".join(f"{path}: ${{{var}}}" for path, var in missing))
        self.missing = missing


def expand_string(value: str, env: Mapping[str, str], path: str, missing: list[tuple[str, str]]) -> str:
    if "$" not in value:
        return value

    def replace(m: re.Match[str]) -> str:
        whole = m.group(0)
        if whole == "$${":
            return "${"
        name, default = m.group(1), m.group(2)
        got = env.get(name)
        if got is not None and got != "":
            return got
        if default is not None:
            return default
        if got is not None:
            return got
        missing.append((path, name))
        return ""

    return _PATTERN.sub(replace, value)


def expand(data: Any, env: Mapping[str, str]) -> Any:
    """Return a copy of `data` with every string interpolated; raise MissingVariables."""
    out, missing = expand_all(data, env)
    if missing:
        raise MissingVariables(missing)
    return out


def expand_all(data: Any, env: Mapping[str, str]) -> tuple[Any, list[tuple[str, str]]]:
    """The interpolated copy (a missing variable becomes "") and every (toml_path, variable) missing."""
    missing: list[tuple[str, str]] = []
    return _walk(data, env, "", missing), missing


def _walk(node: Any, env: Mapping[str, str], path: str, missing: list[tuple[str, str]]) -> Any:
    if isinstance(node, str):
        return expand_string(node, env, path, missing)
    if isinstance(node, dict):
        return {k: _walk(v, env, _join(path, k), missing) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, env, f"{path}[{i}]", missing) for i, v in enumerate(node)]
    return node


def _join(path: str, key: str) -> str:
    part = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'
    return f"{path}.{part}" if path else part
