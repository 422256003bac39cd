"""Comment-preserving editor of the TOML config: the single, atomic, locked writer of the file."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import fcntl
import math
import os
import tempfile
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Array

from crabllm.config import toml_layout as layout
from crabllm.config.toml_layout import Key
from crabllm.errors import ConfigError, Conflict, InvalidRequest, NotFound

Validator = Callable[[dict[str, Any]], None]


@dataclass
class _Edit:
    text: str
    raw: dict[str, Any]  # the document before the edit
    expected: dict[str, Any]  # what the document must parse to afterwards
    dropped: list[Key] = field(default_factory=list)


def _merge(edit: _Edit, path: Key, patch: dict[str, Any]) -> None:
    """JSON-merge-patch `patch` into the table at `path`: None removes, tables merge, rest replaces."""
    current = layout.walk(edit.raw, path)
    if current is None:
        edit.text = layout.insert_table(edit.text, path, _clean(patch))
        return
    if not isinstance(current, dict):
        raise ConfigError(f"'{layout.dotted(path)}' is not a table", path=layout.dotted(path))
    for k, v in patch.items():
        old = current.get(k)
        if v is None:
            if k in current:
                edit.text = layout.delete(edit.text, path + (k,))
                edit.dropped.append(path + (k,))
        elif isinstance(v, dict) and isinstance(old, dict):
            _merge(edit, path + (k,), v)
        else:
            if isinstance(old, (dict, list)) and _has_tables(edit.text, path + (k,)):
                edit.text = layout.delete(edit.text, path + (k,))  # `[x.k]` tables give way to `k = ...`
            edit.text = layout.set_kv(edit.text, path, k, _clean(v))


def _has_tables(text: str, path: Key) -> bool:
    return bool(layout.under(layout.sections(layout.lines_of(text)), path))


def _merge_plain(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(target.get(k), dict):
            _merge_plain(target[k], v)
        else:
            target[k] = _clean(v)


def _expect_merge(edit: _Edit, path: Key, patch: dict[str, Any]) -> None:
    node: Any = edit.expected
    for k in path:
        node = node[k] if isinstance(k, int) else node.setdefault(k, {})
    _merge_plain(node, patch)


def _reconcile(expected: dict[str, Any], actual: dict[str, Any], dropped: list[Key]) -> None:
    """A table emptied by a delete may vanish from the file along with its last section."""
    for path in dropped:
        for n in range(len(path) - 1, 0, -1):
            if layout.walk(expected, path[:n]) in ({}, []) and layout.walk(actual, path[:n]) is None:
                del layout.walk(expected, path[: n - 1])[path[n - 1]]


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    return value


_SCALARS = (str, bool, int, float, dt.datetime, dt.date, dt.time)


def _plain(value: Any, where: str) -> Any:
    """Check a value can be written as TOML; None (inside tables) means "remove"."""
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or not k:
                raise InvalidRequest(f"'{where}': field names must be non-empty strings", param=where)
            out[k] = None if v is None else _plain(v, f"{where}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        if any(v is None for v in value):
            raise InvalidRequest(f"'{where}': a list cannot hold null", param=where)
        return [_plain(v, where) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequest(f"'{where}': {value} cannot be written", param=where)
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        raise InvalidRequest(f"'{where}': integer out of range", param=where)
    if not isinstance(value, _SCALARS):
        raise InvalidRequest(f"'{where}': unsupported value type {type(value).__name__}", param=where)
    return value


def _fields(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidRequest(f"{what} fields must be an object", param=what)
    return _plain(value, what)


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{what} must be a non-empty string", param=what)
    return value


def _table(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"'{key}' must be a table", path=key, fix=f"write it as [{key}]")
    return value


def _key_index(raw: dict[str, Any], name: str) -> int | None:
    keys = raw.get("keys", [])
    if not isinstance(keys, list):
        raise ConfigError("'keys' must be an array of tables", path="keys", fix="write entries as [[keys]]")
    return next((i for i, e in enumerate(keys) if isinstance(e, dict) and e.get("name") == name), None)


def _money(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise InvalidRequest(f"{what} must be a non-negative number", param=what)
    return float(value)


class ConfigEditor:
    """Edits the config file in place: keeps comments and layout, never expands `${VAR}`."""

    # One lock per file shared by every editor in the process: flock() may be emulated with
    # POSIX record locks (e.g. on NFS), which do not exclude threads of one process.
    _locks: ClassVar[dict[str, threading.Lock]] = {}
    _locks_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: str | os.PathLike[str], *, validate: Validator | None = None) -> None:
        self.path = Path(path)
        self._real = Path(os.path.realpath(self.path))  # replace a symlink's target, not the link
        self._validate = validate

    def read_raw(self) -> dict[str, Any]:
        """The parsed document as plain Python, `${VAR}` left as written."""
        return self._parse(self._read())

    def upsert_provider(self, name: str, fields: Mapping[str, Any], *, create: bool) -> None:
        """Create `[providers.<name>]`, or merge `fields` into it (None removes a field)."""
        _name(name, "provider name")
        patch = _fields(fields, "provider")

        def op(edit: _Edit) -> None:
            exists = name in _table(edit.raw, "providers")
            if create and exists:
                raise Conflict(f"provider '{name}' already exists")
            if not create and not exists:
                raise NotFound(f"provider '{name}' not found")
            _merge(edit, ("providers", name), patch)
            _expect_merge(edit, ("providers", name), patch)

        self._apply(op)

    def delete_provider(self, name: str) -> None:
        """Remove a provider: its table(s), or its entry in an inline `providers` table."""
        self._drop(("providers", _name(name, "provider name")), f"provider '{name}' not found")

    def set_alias(self, alias: str, target: str) -> None:
        """Set `[aliases] <alias> = "<target>"`, creating the table when needed."""
        _name(alias, "alias")
        _name(target, "alias target")

        def op(edit: _Edit) -> None:
            _table(edit.raw, "aliases")
            edit.text = layout.set_kv(edit.text, ("aliases",), alias, target)
            edit.expected.setdefault("aliases", {})[alias] = target

        self._apply(op)

    def delete_alias(self, alias: str) -> None:
        """Remove one alias."""
        self._drop(("aliases", _name(alias, "alias")), f"alias '{alias}' not found")

    def set_model_pricing(self, model: str, prompt_cost_per_million: float,
                          completion_cost_per_million: float) -> None:
        """Set `[models."<model>".pricing]` (USD per million tokens), adding that table if needed."""
        _name(model, "model")
        patch = {"prompt_cost_per_million": _money(prompt_cost_per_million, "prompt_cost_per_million"),
                 "completion_cost_per_million": _money(completion_cost_per_million, "completion_cost_per_million")}

        def op(edit: _Edit) -> None:
            _table(edit.raw, "models")
            where = layout.dotted(("models", model))
            if not isinstance(layout.walk(edit.raw, ("models", model)), (dict, type(None))):
                raise ConfigError(f"'{where}' must be a table", path=where)
            _merge(edit, ("models", model, "pricing"), patch)
            _expect_merge(edit, ("models", model, "pricing"), patch)

        self._apply(op)

    def set_model_info(self, model: str, fields: Mapping[str, Any]) -> None:
        """Merge `fields` into `[models."<model>"]` (None removes; `pricing` merges as a table)."""
        _name(model, "model")
        patch = _fields(fields, "model")

        def op(edit: _Edit) -> None:
            _table(edit.raw, "models")
            _merge(edit, ("models", model), patch)
            _expect_merge(edit, ("models", model), patch)

        self._apply(op)

    def add_key(self, entry: Mapping[str, Any]) -> None:
        """Append a `[[keys]]` entry; its `name` must be new."""
        body = _clean(_fields(entry, "key"))
        name = _name(body.get("name"), "key name")

        def op(edit: _Edit) -> None:
            if _key_index(edit.raw, name) is not None:
                raise Conflict(f"key '{name}' already exists")
            lines = layout.lines_of(edit.text)
            secs = layout.sections(lines)
            found = layout.locate(lines, secs, ("keys",))
            if found is not None and isinstance(found[2], Array):  # `keys = [...]` stays inline
                sec, doc, array = found
                array.append(layout.to_item(body))
                edit.text = layout.splice(lines, sec.start, sec.end, doc.as_string())
            else:
                at = layout.anchor(secs, ("keys", len(edit.raw.get("keys", []))))
                edit.text = layout.insert_block(lines, at, layout.block(("keys",), body, aot=True))
            edit.expected.setdefault("keys", []).append(body)

        self._apply(op)

    def update_key(self, name: str, fields: Mapping[str, Any]) -> None:
        """Merge `fields` into the `[[keys]]` entry called `name`."""
        patch = _fields(fields, "key")
        if "name" in patch:
            _name(patch["name"], "key name")

        def op(edit: _Edit) -> None:
            index = _key_index(edit.raw, name)
            if index is None:
                raise NotFound(f"key '{name}' not found")
            new = patch.get("name", name)
            if new != name and _key_index(edit.raw, new) is not None:
                raise Conflict(f"key '{new}' already exists")
            _merge(edit, ("keys", index), patch)
            _expect_merge(edit, ("keys", index), patch)

        self._apply(op)

    def delete_key(self, name: str) -> None:
        """Remove the `[[keys]]` entry called `name`."""

        def op(edit: _Edit) -> None:
            index = _key_index(edit.raw, name)
            if index is None:
                raise NotFound(f"key '{name}' not found")
            self._drop_in(edit, ("keys", index))

        self._apply(op)

    def _drop(self, path: Key, missing: str) -> None:
        def op(edit: _Edit) -> None:
            if path[-1] not in _table(edit.raw, str(path[0])):
                raise NotFound(missing)
            self._drop_in(edit, path)

        self._apply(op)

    @staticmethod
    def _drop_in(edit: _Edit, path: Key) -> None:
        edit.text = layout.delete(edit.text, path)
        del layout.walk(edit.expected, path[:-1])[path[-1]]
        edit.dropped.append(path)

    def _apply(self, op: Callable[[_Edit], None]) -> None:
        with self._exclusive():
            before = self._read()
            raw = self._parse(before)
            edit = _Edit(before if before.endswith("\n") or not before else before + "\n", raw, copy.deepcopy(raw))
            try:
                op(edit)
            except ConfigError as e:
                e.file = e.file or str(self.path)
                raise
            except (TOMLKitError, tomllib.TOMLDecodeError) as e:
                raise self._error(f"this file's layout cannot be edited automatically ({e})") from e
            if edit.text == before:
                return
            actual = self._verify(edit, before)
            if self._validate is not None:
                self._validate(actual)
            self._write(edit.text)

    def _verify(self, edit: _Edit, before: str) -> dict[str, Any]:
        """The edited text must parse, round-trip through tomlkit and mean exactly what was asked."""
        try:
            actual = tomllib.loads(edit.text)
            # tomlkit cannot round-trip some valid files (e.g. [providers.*] tables split by other
            # tables) even unedited; for those the meaning check below is the guard.
            round_trip = tomlkit.parse(edit.text).as_string() == edit.text or \
                tomlkit.parse(before).as_string() != before
        except (TOMLKitError, tomllib.TOMLDecodeError) as e:
            raise self._error(f"the edit would leave invalid TOML ({e}); nothing was written") from e
        _reconcile(edit.expected, actual, edit.dropped)
        if not round_trip or not layout.same(actual, edit.expected):
            raise self._error("the edit cannot be applied to this file's layout without changing other settings")
        return actual

    def _error(self, message: str) -> ConfigError:
        return ConfigError(message, file=str(self.path), fix="make this change by editing the file by hand")

    def _parse(self, text: str) -> dict[str, Any]:
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"not valid TOML: {e}", file=str(self.path), fix="fix the file by hand first") from e

    def _read(self) -> str:
        try:
            with open(self._real, encoding="utf-8", newline="") as f:
                return f.read()
        except FileNotFoundError:
            return ""
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read the config: {e}", file=str(self.path)) from e

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        key = str(self._real)
        with ConfigEditor._locks_guard:
            lock = ConfigEditor._locks.setdefault(key, threading.Lock())
        with lock:
            lock_path = self._real.parent / f".{self._real.name}.lock"
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as e:
                raise ConfigError(f"cannot open the lock file {lock_path}: {e}", file=str(self.path)) from e
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing the descriptor releases the flock

    def _write(self, text: str) -> None:
        """Replace the file atomically: temp file in the same directory, fsync, rename, mode 0600."""
        folder = self._real.parent
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self._real.name}.", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                    f.write(text)
                    f.flush()
                    os.fchmod(f.fileno(), 0o600)
                    os.fsync(f.fileno())
                os.replace(tmp, self._real)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # make the rename itself durable
            finally:
                os.close(dir_fd)
        except OSError as e:
            raise ConfigError(f"cannot write the config: {e}", file=str(self.path),
                              fix="check the permissions of the config directory") from e
