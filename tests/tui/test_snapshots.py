"""Snapshots of every view and dialog with fixed data and a frozen clock (pytest-textual-snapshot).

Update after an intended change: `pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from crabllm.client import ClientError
from tests.tui.canned import NOW, UTC, CannedClient
from tests.tui.helpers import wait_for
from tui.app import ConsoleApp

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def canned_app(**kw: Any) -> ConsoleApp:
    client_kw = {k: kw.pop(k) for k in ("fail", "reload_ok", "feed") if k in kw}
    return ConsoleApp(CannedClient(**client_kw), clock=lambda: NOW, tz=UTC, refresh=0.2, **kw)


async def loaded(pilot: Pilot[Any]) -> None:
    app: ConsoleApp = pilot.app  # type: ignore[assignment]
    await wait_for(pilot, lambda: app.state.stats and app.state.keys and len(app.state.events) == 6, "canned data")


async def steady(pilot: Pilot[Any]) -> None:
    """Stop every text cursor blinking (it stays shown): on a slow machine a snapshot taken more than
    0.5 s after a form opened would otherwise catch the cursor hidden."""
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


def steps(*keys: str, until: Callable[[ConsoleApp], Any] | None = None) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        if until is not None:
            await wait_for(pilot, lambda: until(pilot.app), "the screen under test")  # type: ignore[arg-type]
        await steady(pilot)

    return run


def screen_is(name: str) -> Callable[[ConsoleApp], bool]:
    return lambda app: type(app.screen).__name__ == name


VIEWS = {
    "dashboard": ((), None),
    "keys": (("2",), None),
    "providers": (("3",), None),
    "logs": (("4",), None),
    "help": (("2", "question_mark"), screen_is("HelpScreen")),
    "palette": (("2", "ctrl+p"), screen_is("CommandPalette")),
    "key_new": (("2", "n"), screen_is("KeyForm")),
    "key_edit": (("2", "e"), screen_is("KeyForm")),
    "key_revoke": (("2", "d"), screen_is("ConfirmDialog")),
    "provider_add": (("3", "a"), screen_is("ProviderForm")),
    "provider_edit": (("3", "down", "down", "e"), screen_is("ProviderForm")),
    "provider_delete": (("3", "d"), screen_is("ConfirmDialog")),
    "request_detail": (("4", "up", "up", "up", "enter"), screen_is("RequestDetail")),
}


@pytest.mark.parametrize("name", list(VIEWS))
def test_view(snap_compare: Any, name: str) -> None:
    keys, until = VIEWS[name]
    assert snap_compare(canned_app(), terminal_size=(80, 24), run_before=steps(*keys, until=until))


def test_dashboard_large_terminal(snap_compare: Any) -> None:
    assert snap_compare(canned_app(), terminal_size=(140, 44), run_before=steps())


def test_dashboard_failed_reload_read_only(snap_compare: Any) -> None:
    assert snap_compare(canned_app(reload_ok=False, read_only=True), terminal_size=(80, 24), run_before=steps())


def test_keys_read_only_filtered(snap_compare: Any) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await steps("2", "slash")(pilot)
        pilot.app.screen.query_one("#filter", Input).value = "issued"
        await pilot.press("enter")
        await wait_for(pilot, lambda: pilot.app.screen.query_one(DataTable).row_count == 2, "the filter")
        await steady(pilot)

    assert snap_compare(canned_app(read_only=True), terminal_size=(80, 24), run_before=run)


def test_secret_shown_once(snap_compare: Any) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await steps("2", "n", until=screen_is("KeyForm"))(pilot)
        pilot.app.screen.query_one("#name", Input).value = "new-service"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen_is("SecretDialog")(pilot.app), "the secret dialog")  # type: ignore[arg-type]
        await steady(pilot)

    assert snap_compare(canned_app(), terminal_size=(80, 24), run_before=run)


@pytest.mark.parametrize("status", [0, 401])
def test_connection_problem(snap_compare: Any, status: int) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        app: ConsoleApp = pilot.app  # type: ignore[assignment]
        await wait_for(pilot, lambda: app.screen.query_one("#banner").display and app.connection.retry_in == 0.8,
                       "the banner, backed off to its cap")
        await pilot.pause()

    app = canned_app(fail=ClientError(status, "refused" if status else "connection refused"), feed=False, max_backoff=0.8)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run)


@pytest.mark.parametrize(("view", "keys"), [("dashboard", ()), ("keys", ("2",))])
async def test_docs_screenshots(view: str, keys: tuple[str, ...]) -> None:
    """Keep docs/screenshots/*.svg in step with the console (rewritten only when they change)."""
    app = canned_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await steps(*keys)(pilot)
        target = DOCS / f"console-{view}.svg"
        old = target.read_text(encoding="utf-8") if target.exists() else None
        if app.export_screenshot() != old:
            DOCS.mkdir(parents=True, exist_ok=True)
            app.save_screenshot(target.name, str(DOCS))
        assert target.read_text(encoding="utf-8").startswith("<svg")
