"""Collect each client test's outcome and write tests/clients/results.json (the README table's source)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from tests.clients.install import NPM, PYPI

RESULTS = Path(__file__).parent / "results.json"
_OUTCOMES = pytest.StashKey[dict[str, dict[str, Any]]]()


def _case(item: pytest.Item) -> dict[str, Any] | None:
    """The row described by the test's `clients(...)` marker kwargs, or None for a helper test."""
    case: dict[str, Any] = {}
    for mark in reversed(list(item.iter_markers("clients"))):  # the closest mark (a parameter's) wins
        case.update(mark.kwargs)
    return case or None


def record_outcome(item: pytest.Item, report: pytest.TestReport) -> None:
    case = _case(item)
    if case is None:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if hasattr(report, "wasxfail"):
            outcome = "xpassed" if report.passed else "xfailed"
        else:
            outcome = report.outcome
        package = case["package"]
        row = {**case, "version": NPM.get(package) or PYPI.get(package, "?"), "test": item.nodeid.split("::")[-1],
               "result": outcome}
        if hasattr(report, "wasxfail"):
            row["reason"] = report.wasxfail
        item.session.stash.setdefault(_OUTCOMES, {})[item.nodeid] = row


def write_results(session: pytest.Session) -> None:
    """Merge this run's rows into results.json (a partial run updates only the tests it ran)."""
    rows = session.stash.get(_OUTCOMES, {})
    if not rows:
        return
    try:
        old = json.loads(RESULTS.read_text())["cases"]
    except (OSError, ValueError, KeyError):
        old = {}
    merged = {**old, **{nodeid.split("::", 1)[-1]: row for nodeid, row in rows.items()}}
    data = {"updated": datetime.date.today().isoformat(), "cases": dict(sorted(merged.items()))}
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
