"""Pure filter parsing: `key:x model:y status:4xx words` for the log tail, plain words for tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

FIELDS = ("key", "model", "provider", "status", "path")


@dataclass(frozen=True)
class LogFilter:
    """Every given term must match; words match any of key, model, provider, path or error."""

    fields: dict[str, str] = field(default_factory=dict)
    words: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.fields or self.words)

    def __call__(self, event: dict[str, Any]) -> bool:
        for name, want in self.fields.items():
            if name == "status":
                if not status_matches(event.get("status"), event.get("error"), want):
                    return False
            elif want not in str(event.get(name) or "").lower():
                return False
        if self.words:
            hay = " ".join(str(event.get(f) or "") for f in ("key", "model", "provider", "path", "error", "id")).lower()
            return all(w in hay for w in self.words)
        return True


def parse_log_filter(text: str) -> LogFilter:
    fields: dict[str, str] = {}
    words: list[str] = []
    for token in text.lower().split():
        name, sep, value = token.partition(":")
        if sep and name in FIELDS and value:
            fields[name] = value
        else:
            words.append(token)
    return LogFilter(fields, tuple(words))


def status_matches(status: Any, error: Any, want: str) -> bool:
    """'200' exact, '4xx' a class, 'err' any failure, 'ok' any success."""
    code = status if isinstance(status, int) else 0
    failed = code >= 400 or code == 0 or bool(error)
    if want in ("err", "error", "errors", "fail"):
        return failed
    if want == "ok":
        return not failed
    if len(want) == 3 and want.endswith("xx") and want[0].isdigit():
        return code // 100 == int(want[0])
    return str(code) == want


def text_filter(text: str, fields: Callable[[Any], Iterable[object]]) -> Callable[[Any], bool]:
    """A row predicate: every word appears in one of the row's fields (case-insensitive)."""
    words = text.lower().split()

    def keep(row: Any) -> bool:
        hay = " ".join(str(v) for v in fields(row)).lower()
        return all(w in hay for w in words)

    return keep
