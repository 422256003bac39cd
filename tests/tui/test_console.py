"""Console behaviour on canned data: views, bindings and palette, read-only, sort, pause/follow, forms, CLI."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
from textual.binding import Binding
from textual.widgets import DataTable, Input

from tests.tui.canned import NOW, UTC, CannedClient, events
from tests.tui.helpers import shown, wait_for
from tui.app import ConsoleApp
from tui.cli import add_tui_parser, run_tui
from tui.dialogs.help import HelpScreen, view_bindings
from tui.dialogs.key_form import KeyForm
from tui.dialogs.provider_form import ProviderForm

MUTATING = {"New key", "Edit key", "Revoke key", "Add provider", "Edit provider", "Delete provider", "Reload config"}


def canned(**kw: Any) -> tuple[ConsoleApp, CannedClient]:
    client = CannedClient()
    return ConsoleApp(client, clock=lambda: NOW, tz=UTC, refresh=0.2, **kw), client


async def ready(pilot: Any) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.state.stats and app.state.keys and len(app.state.events) == 6, "canned data")


def palette_titles(app: ConsoleApp) -> set[str]:
    return {c.title for c in app.get_system_commands(app.screen)}


async def test_number_keys_switch_titled_views_and_esc_goes_back() -> None:
    app, _ = canned()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        for key, name in (("2", "Keys"), ("3", "Providers"), ("4", "Logs"), ("1", "Dashboard")):
            await pilot.press(key)
            assert app.screen.sub_title == name
            assert f"{key} {name}" in shown(app.screen.query_one(".view-tabs"))
        await pilot.press("3", "escape")
        assert app.screen.sub_title == "Dashboard"  # back to where we came from


async def test_palette_and_help_list_every_action_of_the_view() -> None:
    app, _ = canned()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        for key in "1234":
            await pilot.press(key)
            declared = [b for cls in type(app.screen).__mro__ for b in cls.__dict__.get("BINDINGS", [])]
            described = {b.description for b in declared if isinstance(b, Binding) and b.tooltip
                         and app.screen.check_action(b.action, ())}
            described |= {"Dashboard", "Keys", "Providers", "Logs", "Help", "Quit", "Refresh"}
            titles = palette_titles(app)
            assert described <= titles, described - titles
            assert described <= {b.description for _, b, _ in view_bindings(app, app.screen)}
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.pause()
        assert "Pause" in shown(app.screen.query_one(".help Static"))
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandPalette", "the palette")


async def test_palette_command_runs_the_action() -> None:
    app, _ = canned()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Providers")
        await command.callback()
        assert app.screen.sub_title == "Providers"


async def test_read_only_hides_every_mutating_action() -> None:
    app, client = canned(read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert "read-only" in shown(app.screen.query_one("#header"))
        for key in "1234":
            await pilot.press(key)
            assert not MUTATING & palette_titles(app)
            assert not MUTATING & {b.description for _, b, _ in view_bindings(app, app.screen)}
        await pilot.press("2", "n", "e", "d")
        await pilot.press("3", "a", "e", "d")
        await pilot.press("1", "ctrl+r")
        await pilot.pause()
        assert app.screen.sub_title == "Dashboard" and not isinstance(app.screen, (KeyForm, ProviderForm))
        assert not {name for name, _ in client.calls} - {"stats", "keys", "providers", "events"}
        await pilot.press("3", "t")  # a live test changes nothing, so it stays
        await wait_for(pilot, lambda: ("test_provider", "anthropic") in client.calls, "the provider test")


async def test_sort_and_filter_keys() -> None:
    app, _ = canned()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("2")
        table = app.screen.query_one(DataTable)
        assert [str(table.get_row_at(i)[0]) for i in range(3)] == ["batch-jobs", "ci", "team-search"]
        await pilot.press("s")  # by requests, most first
        assert [str(table.get_row_at(i)[0]) for i in range(3)] == ["team-search", "batch-jobs", "ci"]
        await pilot.press("slash")
        app.screen.query_one("#filter", Input).value = "gpt-4o-mini"
        await pilot.press("enter")
        assert table.row_count == 2 and app.focused is table
        await pilot.press("escape")
        assert table.row_count == 3 and not app.screen.query_one("#filter").display


async def test_logs_pause_and_follow() -> None:
    app, _ = canned()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("4")
        table = app.screen.query_one(DataTable)
        assert table.row_count == 6 and table.cursor_row == 5
        await pilot.press("p")
        app._on_event("request", {**events()[0], "id": "late"})
        await pilot.pause()
        assert table.row_count == 6 and "PAUSED · 1 new" in shown(app.screen.query_one("#table-status"))
        await pilot.press("p")
        assert table.row_count == 7 and table.cursor_row == 6
        app._on_event("request", {**events()[2], "id": "later"})
        await pilot.pause()
        assert table.row_count == 8 and table.cursor_row == 7
        await pilot.press("c")
        assert table.row_count == 0


async def test_failed_reload_event_is_shown_prominently() -> None:
    app, _ = canned()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        alert = app.screen.query_one("#reload-alert")
        assert not alert.display
        app._on_event("reload", {"generation": 7, "at": NOW, "ok": False, "error": "bad weight", "reason": "file changed"})
        await wait_for(pilot, lambda: alert.display and "bad weight" in shown(alert), "the reload alert")
        assert "CONFIG RELOAD FAILED" in shown(alert)


async def test_edit_forms_send_merge_patches() -> None:
    app, client = canned()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("2", "e")  # batch-jobs, issued
        assert isinstance(app.screen, KeyForm)
        app.screen.query_one("#budget", Input).value = "12"
        app.screen.query_one("#expires", Input).value = "soon"
        await pilot.press("ctrl+s")
        assert "not a duration" in shown(app.screen.query_one("#form-error"))
        app.screen.query_one("#expires", Input).value = "never"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, KeyForm), "the form to close")
        assert ("update_key", ("batch-jobs", {"models": ["gpt-4o-mini"], "rate_limit": None, "budget": 12.0,
                                              "expires_at": None})) in client.calls

        await pilot.press("3", "e")  # anthropic
        assert isinstance(app.screen, ProviderForm)
        app.screen.query_one("#weight", Input).value = "4"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, ProviderForm), "the form to close")
        assert ("update_provider", ("anthropic", {"weight": 4})) in client.calls

        await pilot.press("2", "down", "down", "d")  # team-search comes from the config file
        assert app.screen.sub_title == "Keys" and ("revoke_key", "team-search") not in client.calls


def test_cli_parses_flags_and_resolves_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parser = argparse.ArgumentParser(prog="crabllm")
    add_tui_parser(parser.add_subparsers(dest="command"))
    config = tmp_path / "gw.toml"
    config.write_text('listen = "0.0.0.0:7001"\nadmin_token = "sk-admin-from-file"\n')
    args = parser.parse_args(["tui", "--read-only", "--refresh", "0.5", "--config", str(config)])
    assert args.read_only and args.refresh == 0.5 and args.url is None
    with pytest.raises(SystemExit):
        parser.parse_args(["tui", "--refresh", "0"])

    started: list[ConsoleApp] = []
    monkeypatch.setattr(ConsoleApp, "run", lambda self, **kw: started.append(self))
    monkeypatch.delenv("CRABLLM_URL", raising=False)
    monkeypatch.delenv("CRABLLM_TOKEN", raising=False)
    assert run_tui(args) == 0
    app = started[0]
    assert app.url == "http://127.0.0.1:7001" and app.client.target.token == "sk-admin-from-file"
    assert app.read_only and app.refresh_s == 0.5


async def test_docs_list_every_binding() -> None:
    """docs/console.md names every explained binding of every view."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "console.md").read_text(encoding="utf-8").lower()
    app, _ = canned()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        for key in "1234":
            await pilot.press(key)
            for keys, b, _ in view_bindings(app, app.screen):
                if b.action != "command_palette":
                    assert b.description.lower() in docs, b.description
                    first = keys.split(", ")[0].replace("^", "ctrl+").replace("⏎", "enter")
                    assert f"`{first}`" in docs, keys
