"""Plain-text output for people: aligned tables and key/value blocks (no terminal library)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

EMPTY = "(no results)"


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return " ".join(f"{k}={cell(v)}" for k, v in value.items()) or "-"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    if not rows:
        return EMPTY
    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]
    lines = []
    for row in [list(headers), *text]:
        parts = [v.ljust(widths[i]) if i < len(row) - 1 else v for i, v in enumerate(row)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def dict_table(rows: Sequence[dict[str, Any]]) -> str:
    """A table of arbitrary records: the columns are the union of their fields, in first-seen order."""
    headers: list[str] = []
    for row in rows:
        headers.extend(k for k in row if k not in headers)
    return table([h.upper() for h in headers], [[row.get(h) for h in headers] for row in rows])


def fields(pairs: Sequence[tuple[str, Any]]) -> str:
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k + ':':<{width + 1}} {cell(v)}" for k, v in pairs)


def when(ts: float | None, now: float | None = None) -> str | None:
    """A unix time as UTC ISO-8601 with a relative hint: '2025-01-01 12:00:00Z (in 2h)'."""
    if ts is None:
        return None
    now = time.time() if now is None else now
    stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ts))
    return f"{stamp} ({relative(ts - now)})"


def relative(seconds: float) -> str:
    ago = seconds < 0
    s = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            amount = f"{int(s // size)}{unit}"
            break
    else:
        amount = f"{int(s)}s"
    return f"{amount} ago" if ago else f"in {amount}"
