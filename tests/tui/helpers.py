"""Helpers for console Pilot tests: wait for a condition, read what a widget shows, build the app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable

from crabllm.client import AdminClient, Target
from tests.conftest import ADMIN
from tui.app import ConsoleApp


async def wait_for(pilot: Pilot[Any], predicate: Callable[[], Any], what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.05)


def shown(widget: Widget) -> str:
    """The plain text a widget currently shows on screen (borders included)."""
    lines = widget.render_lines(Region(0, 0, widget.outer_size.width, widget.outer_size.height))
    return "\n".join(line.text for line in lines)


def table_text(table: DataTable[Any]) -> list[str]:
    return [" ".join(str(cell) for cell in table.get_row_at(i)) for i in range(table.row_count)]


def live_app(url: str, token: str = ADMIN, **kw: Any) -> ConsoleApp:
    """A console on a real gateway, polling fast and retrying quickly so tests stay short."""
    kw.setdefault("refresh", 0.2)
    kw.setdefault("max_backoff", 0.5)
    return ConsoleApp(AdminClient(Target(url=url, token=token), timeout=5.0), **kw)
