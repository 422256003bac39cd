"""Pure text formatting for the console: numbers, money, latency, times and durations."""

from __future__ import annotations

import re
import time
from datetime import datetime, tzinfo

from rich.text import Text

DASH = "-"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)


def count(n: float | None) -> str:
    """1234 -> '1234', 12345 -> '12.3k', 4.5e6 -> '4.5M'."""
    if n is None:
        return DASH
    if abs(n) < 10_000:
        return f"{n:,.0f}" if float(n).is_integer() else f"{n:,.2f}"
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def rate(x: float | None) -> str:
    if x is None:
        return DASH
    return f"{x:.2f}" if x < 100 else f"{x:,.0f}"


def pct(x: float | None) -> str:
    return DASH if x is None else f"{x * 100:.1f}%"


def ms(x: float | None) -> str:
    if x is None:
        return DASH
    if x >= 1000:
        return f"{x / 1000:.2f} s"
    return f"{x:.1f} ms" if x < 10 else f"{x:.0f} ms"


def usd(x: float | None) -> str:
    if x is None:
        return DASH
    if x == 0:
        return "$0"
    return f"${x:.4f}" if abs(x) < 0.01 else f"${x:,.2f}"


def clock(t: float | None, tz: tzinfo | None = None) -> str:
    """HH:MM:SS in the given zone (local time when tz is None)."""
    if t is None:
        return DASH
    return datetime.fromtimestamp(t, tz).strftime("%H:%M:%S")


def stamp(t: float | None, tz: tzinfo | None = None) -> str:
    if t is None:
        return DASH
    return datetime.fromtimestamp(t, tz).strftime("%Y-%m-%d %H:%M:%S")


def right(text: str, style: str = "") -> Text:
    """A right-aligned table cell (numbers)."""
    return Text(text, style=style, justify="right")


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def span(seconds: float) -> str:
    """A short human duration: 42s, 5m, 3h, 2d."""
    s = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{int(s // size)}{unit}"
    return f"{int(s)}s"


def ago(t: float | None, now: float | None = None) -> str:
    if t is None:
        return DASH
    now = time.time() if now is None else now
    return f"{span(now - t)} ago"


def expiry(t: float | None, now: float, expired: bool = False) -> str:
    if t is None:
        return "never"
    if expired or t <= now:
        return "expired"
    return f"in {span(t - now)}"


def parse_duration(text: str) -> float | None:
    """'30d', '12h', '90m', '45s' or bare seconds -> seconds; '' -> None; anything else raises ValueError."""
    if not text.strip():
        return None
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(f"'{text}' is not a duration: use e.g. 3600, 90m, 12h or 30d")
    value = float(m.group(1)) * _UNITS[(m.group(2) or "s").lower()]
    if value <= 0:
        raise ValueError("the duration must be positive")
    return value


def parse_list(text: str) -> list[str]:
    """Comma- or space-separated names -> a list without blanks or duplicates."""
    out: list[str] = []
    for part in re.split(r"[,\s]+", text):
        if part and part not in out:
            out.append(part)
    return out


def parse_number(text: str, *, integer: bool = False, what: str = "value") -> float | int | None:
    """'' -> None; a non-negative number -> it; anything else raises ValueError naming `what`."""
    text = text.strip().replace("_", "")
    if not text:
        return None
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise ValueError(f"{what} must be {'a whole number' if integer else 'a number'}, not '{text}'") from None
    if value < 0:
        raise ValueError(f"{what} must not be negative")
    return value
