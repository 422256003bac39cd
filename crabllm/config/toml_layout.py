"""Layout-preserving edits of TOML text: locate a table's lines, change it, keep every other byte."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import tomlkit
from tomlkit.items import AoT, InlineTable, Item, Table, Whitespace

from crabllm.errors import ConfigError

Key = tuple[str | int, ...]

# Whole tables are added and dropped as whole lines, so every untouched line keeps its exact
# bytes; changes inside one table go through tomlkit on that table's lines only.
_LINE = re.compile(r"[^\n]*\n|[^\n]+\Z")


@dataclass(frozen=True)
class Section:
    """The lines of one `[header]` (or of the root, before any header)."""

    path: Key  # logical path: header keys, with the element index after an array-of-tables key
    nav: Key  # where the table sits when this section's text is parsed on its own
    start: int  # first line, including the comment lines glued (no blank line) above the header
    end: int  # one past the last line


def lines_of(text: str) -> list[str]:
    return _LINE.findall(text)


def _close(line: str, i: int, delim: str) -> int:
    """Index just past the string closing `delim` found from i on this line, or -1."""
    n = len(line)
    while i < n:
        if delim[0] == '"' and line[i] == "\\":
            i += 2
            continue
        if line.startswith(delim, i):
            i += len(delim)
            extra = 0  # a multi-line string may end with up to two more quotes: `"""a"""""`
            while len(delim) == 3 and extra < 2 and i < n and line[i] == delim[0]:
                i, extra = i + 1, extra + 1
            return i
        i += 1
    return -1


def _line_kinds(lines: list[str]) -> list[str]:
    """Per line: "[" for a table header, "#" for a comment line, "" otherwise (inside strings too)."""
    kinds, mode, depth = [], "", 0
    for line in lines:
        first = line.lstrip()[:1]
        kind = first if not mode and depth == 0 and first in ("[", "#") else ""
        kinds.append(kind)
        i = len(line) if kind else 0  # a header is one line and its brackets open no array
        while i < len(line):
            if mode:
                end = _close(line, i, mode)
                i, mode = (len(line), mode) if end < 0 else (end, "")
                continue
            c = line[i]
            if c == "#":
                break
            if c in "\"'":
                if line.startswith(c * 3, i):
                    mode, i = c * 3, i + 3
                else:
                    end = _close(line, i + 1, c)
                    i = len(line) if end < 0 else end
                continue
            depth += (c in "[{") - (c in "]}")
            i += 1
    return kinds


def _header_keys(line: str) -> tuple[tuple[str, ...], bool]:
    node: Any = tomllib.loads(line)
    keys: list[str] = []
    while True:
        ((k, v),) = node.items()
        keys.append(k)
        if isinstance(v, list) or not v:
            return tuple(keys), isinstance(v, list)
        node = v


def sections(lines: list[str]) -> list[Section]:
    """The root section, then one per header in file order."""
    kinds = _line_kinds(lines)
    found: list[tuple[int, Key, Key]] = []
    counts: dict[Key, int] = {}
    aot: Key = ()
    for i, line in enumerate(lines):
        if kinds[i] != "[":
            continue
        keys, is_aot = _header_keys(line)
        if is_aot:
            counts[keys] = counts.get(keys, -1) + 1
            aot = keys + (counts[keys],)
            found.append((i, aot, keys + (0,)))
        elif aot and keys[: len(aot) - 1] == aot[:-1]:  # `[keys.sub]` belongs to the last [[keys]]
            found.append((i, aot + keys[len(aot) - 1 :], keys))
        else:
            found.append((i, keys, keys))
    starts, prev = [], -1
    for head, _, _ in found:
        s = head
        while s - 1 > prev and kinds[s - 1] == "#":
            s -= 1
        starts.append(s)
        prev = head
    bounds = [*starts, len(lines)]
    root = Section((), (), 0, bounds[0])
    return [root] + [Section(p, nav, bounds[k], bounds[k + 1]) for k, (_, p, nav) in enumerate(found)]


def walk(node: Any, keys: Key) -> Any:
    """The value at `keys` inside plain or tomlkit data, or None."""
    for k in keys:
        if isinstance(k, int):
            if not isinstance(node, list) or not 0 <= k < len(node):
                return None
        elif not isinstance(node, Mapping) or k not in node:
            return None
        node = node[k]
    return node


def under(secs: list[Section], path: Key) -> list[Section]:
    """The sections of the table at `path` and of its sub-tables."""
    return [s for s in secs if s.path and s.path[: len(path)] == path]


def locate(lines: list[str], secs: list[Section], path: Key) -> tuple[Section, Any, Any] | None:
    """The section whose text holds the value at `path`, that text parsed, and the value in it."""
    owners = [s for s in secs if path[: len(s.path)] == s.path]
    for sec in sorted(owners, key=lambda s: -len(s.path)):
        doc = tomlkit.parse("".join(lines[sec.start : sec.end]))
        node = walk(doc, sec.nav + path[len(sec.path) :])
        if node is not None:
            return sec, doc, node
    return None


def splice(lines: list[str], start: int, end: int, new: str) -> str:
    return "".join(lines[:start]) + new + "".join(lines[end:])


def insert_block(lines: list[str], at: int, block: str) -> str:
    """Insert a table's text at a line boundary, with a blank line on each side."""
    if at > 0 and lines[at - 1].strip():
        block = "\n" + block
    if any(line.strip() for line in lines[at:]):
        block += "\n"
    return splice(lines, at, at, block)


def anchor(secs: list[Section], path: Key) -> int:
    """Where a new table for `path` goes: after its closest relatives' tables, else at the end."""
    for n in range(len(path) - 1, 0, -1):
        if kin := under(secs, path[:n]):
            return kin[-1].end
    return secs[-1].end


def dotted(path: Key) -> str:
    return ".".join(tomlkit.key(str(k)).as_string() for k in path)


def to_item(value: Any) -> Item:
    """A tomlkit item; tables become inline tables so a new entry stays one block."""
    if isinstance(value, dict):
        table = tomlkit.inline_table()
        for k, v in value.items():
            table.append(k, to_item(v))
        return table
    if isinstance(value, list):
        array = tomlkit.array()
        for v in value:
            array.append(to_item(v))
        return array
    return tomlkit.item(value)


def block(path: Key, fields: dict[str, Any], *, aot: bool = False) -> str:
    body = tomlkit.document()
    for k, v in fields.items():
        body.add(k, to_item(v))
    return (f"[[{dotted(path)}]]\n" if aot else f"[{dotted(path)}]\n") + body.as_string()


def _add_kv(node: Any, key: str, item: Item) -> None:
    """Add a key after the table's last key, not after its trailing comments and blank lines."""
    if not isinstance(node, (Table, tomlkit.TOMLDocument)):
        node[key] = item  # inline and dotted-key tables lay themselves out
        return
    container = node.value if isinstance(node, Table) else node
    body = container.body
    keyed = [i for i, (k, v) in enumerate(body) if k is not None and not isinstance(v, (Table, AoT))]
    if keyed:
        at = keyed[-1] + 1
        item.trivia.indent = body[keyed[-1]][1].trivia.indent
    else:
        at = next((i + 1 for i in range(len(body) - 1, -1, -1) if not isinstance(body[i][1], Whitespace)), 0)
    if at < len(body):
        container._insert_at(at, key, item)  # tomlkit has no public positional insert
    else:
        node.append(key, item)


def same(a: Any, b: Any) -> bool:
    """Equal with TOML types kept apart (1 is not true, 1 is not 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    return bool(a == b or (a != a and b != b))


def set_kv(text: str, table: Key, key: str, value: Any) -> str:
    """Set `key = value` in the table at `path`, keeping the line's comment; create the table."""
    lines = lines_of(text)
    secs = sections(lines)
    found = locate(lines, secs, table)
    if found is None:
        if below := under(secs, table):  # defined only through sub-tables: give it a header
            return insert_block(lines, below[0].start, block(table, {key: value}))
        return insert_table(text, table, {key: value})
    sec, doc, node = found
    if not isinstance(node, Mapping):
        raise ConfigError(f"'{dotted(table)}' is not a table", path=dotted(table))
    if key in node:
        old = node[key]
        if same(old.unwrap() if hasattr(old, "unwrap") else old, value):
            return text
        node[key] = to_item(value)
    else:
        _add_kv(node, key, to_item(value))
    return splice(lines, sec.start, sec.end, doc.as_string())


def insert_table(text: str, path: Key, fields: dict[str, Any]) -> str:
    """Add the table at `path` (absent so far) after its relatives, or inside an inline parent."""
    lines = lines_of(text)
    secs = sections(lines)
    parent = locate(lines, secs, path[:-1]) if len(path) > 1 else None
    if parent is not None and isinstance(parent[2], InlineTable):
        return set_kv(text, path[:-1], str(path[-1]), fields)
    return insert_block(lines, anchor(secs, path), block(path, fields))


def delete(text: str, path: Key) -> str:
    """Drop the value at `path`: its tables (with the comments glued above them) or its key."""
    lines = lines_of(text)
    if doomed := under(sections(lines), path):
        gone = {i for s in doomed for i in range(s.start, s.end)}
        for s in doomed:  # a dropped run between two blocks leaves its blank line between them
            first, last = s.start, s.end - 1
            while first - 1 in gone:
                first -= 1
            if last + 1 < len(lines) and last + 1 not in gone and first > 0 and lines[first - 1].strip() \
                    and not lines[last].strip():
                gone.discard(last)
        text = "".join(line for i, line in enumerate(lines) if i not in gone)
        if doomed[-1].end == len(lines):
            text = text.rstrip("\n") + "\n" if text.strip() else ""
        lines = lines_of(text)
    found = locate(lines, sections(lines), path[:-1])
    if found is not None and walk(found[2], path[-1:]) is not None:
        sec, doc, node = found
        del node[path[-1]]
        text = splice(lines, sec.start, sec.end, doc.as_string())
    return text
