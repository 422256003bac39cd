"""Read a raw results file and answer lookups (median over repeated steps) for the report."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAIN = ("direct", "relay", "crabllm")


def _median(vals: list[Any]) -> Any:
    nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if nums and len(nums) == len(vals):
        return statistics.median(nums)
    return vals[-1] if vals else None


@dataclass
class Results:
    """All records of one run, indexed by (target, kind, scenario, rate)."""

    path: Path
    recs: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Results:
        with open(path) as f:
            return cls(path, [json.loads(ln) for ln in f if ln.strip()])

    @property
    def meta(self) -> dict[str, Any]:
        return next((r for r in self.recs if r.get("kind") == "meta"), {})

    def targets(self) -> list[str]:
        seen: list[str] = []
        for r in self.recs:
            t = r.get("target")
            if t and t not in seen:
                seen.append(t)
        return seen

    def find(self, target: str, kind: str, scenario: str | None = None,
             rate: int | str | None = None) -> dict[str, Any] | None:
        """The record(s) matching; numeric fields are the median when a step ran more than once."""
        rs = [r for r in self.recs if r.get("target") == target and r.get("kind") == kind
              and (scenario is None or r.get("scenario") == scenario) and (rate is None or r.get("rate") == rate)]
        if not rs:
            return None
        done = [r for r in rs if "achieved_rps" in r or kind not in ("open", "closed")] or rs
        keys = {k for r in done for k in r}
        return {k: _median([r[k] for r in done if k in r]) for k in keys}

    def get(self, target: str, kind: str, scenario: str | None, rate: int | str | None, fld: str) -> Any:
        r = self.find(target, kind, scenario, rate)
        return None if r is None else r.get(fld)

    def not_run(self, target: str) -> dict[str, Any] | None:
        return next((r for r in self.recs if r.get("target") == target and r.get("kind") == "not_run"), None)

    def rates(self, scenario: str) -> list[int]:
        return sorted({r["rate"] for r in self.recs if r.get("kind") == "open" and r.get("scenario") == scenario
                       and isinstance(r.get("rate"), int)})

    def delta(self, target: str, scenario: str, rate: int, fld: str, base: str = "direct") -> float | None:
        """target's fld minus base's fld for the same step (the gateway's overhead)."""
        a, b = self.get(target, "open", scenario, rate, fld), self.get(base, "open", scenario, rate, fld)
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            return None
        return round(a - b, 3)


def fmt(v: Any, nd: int = 2) -> str:
    """Table cell: — for missing, thousands without decimals, small numbers with nd decimals."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{nd}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def fmt_delta(v: float | None) -> str:
    return "—" if v is None else f"{v:+.2f}"


def latest_raw(folder: Path) -> Path | None:
    files = sorted(folder.glob("raw-*.jsonl"))
    return files[-1] if files else None
