"""The console against a real gateway on loopback: traffic, keys, providers, and losing the gateway."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from textual.widgets import DataTable, Input, Select

from tests.conftest import KEY, OTHER_KEY, basic_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.openai_upstream import FakeOpenAI
from tests.tui.helpers import live_app, shown, table_text, wait_for
from tui.dialogs.confirm import ConfirmDialog
from tui.dialogs.key_form import KeyForm
from tui.dialogs.provider_form import ProviderForm
from tui.dialogs.request_detail import RequestDetail
from tui.dialogs.secret import SecretDialog
from tui.screens.keys import KeysScreen
from tui.screens.logs import LogsScreen

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


async def chat(url: str, key: str, body: dict[str, Any] = CHAT) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=10) as c:
        return await c.post("/v1/chat/completions", json=body)


def subscribers(gw: GatewayServer) -> int:
    return len(gw.app.state.gateway.observer.events.subscribers)  # type: ignore[union-attr]


async def test_traffic_shows_in_dashboard_and_log_tail(gateway: GatewayServer) -> None:
    app = live_app(gateway.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.connection.live and subscribers(gateway), "the console to connect")
        for _ in range(3):
            assert (await chat(gateway.url, KEY)).status_code == 200
        denied = await chat(gateway.url, OTHER_KEY, {**CHAT, "model": "text-embedding-3-small"})
        assert denied.status_code == 403

        await wait_for(pilot, lambda: "4 in 5m" in shown(app.screen.query_one("#rps .metric-value")),
                       "the dashboard to count 4 requests")
        assert "team-a" in shown(app.screen.query_one("#top-keys"))
        assert "gpt-4o" in shown(app.screen.query_one("#top-models"))
        assert "1 errors" in shown(app.screen.query_one("#errors .metric-value"))

        await pilot.press("4")
        logs = app.screen
        assert isinstance(logs, LogsScreen)
        table = logs.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 4, "four requests in the log tail")
        rows = table_text(table)
        assert sum("team-a" in r and "200" in r for r in rows) == 3
        assert any("restricted" in r and "403" in r for r in rows)

        await pilot.press("slash")
        logs.query_one("#filter", Input).value = "status:err"
        await wait_for(pilot, lambda: table.row_count == 1, "the filter to keep only the failure")
        await pilot.press("enter", "enter")  # keep the filter, then open the selected request
        await wait_for(pilot, lambda: isinstance(app.screen, RequestDetail), "the request detail")
        assert app.screen.event["key"] == "restricted" and app.screen.event["status"] == 403  # type: ignore[attr-defined]
        await pilot.press("escape", "escape")  # close the detail, then clear the filter
        await wait_for(pilot, lambda: table.row_count == 4, "the filter to clear")


async def test_key_created_in_console_works_until_revoked_there(gateway: GatewayServer, tmp_path: Path) -> None:
    app = live_app(gateway.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.connection.live, "the console to connect")
        await pilot.press("2")
        keys = app.screen
        assert isinstance(keys, KeysScreen)
        await wait_for(pilot, lambda: keys.query_one(DataTable).row_count == 2, "the two config keys")

        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, KeyForm), "the new-key form")
        form = app.screen
        form.query_one("#name", Input).value = "console-made"
        form.query_one("#models", Input).value = "gpt-4o"
        form.query_one("#rpm", Input).value = "100"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, SecretDialog), "the one-time secret")
        await pilot.press("c")
        secret = app.clipboard
        assert secret and secret == app.screen.secret  # type: ignore[attr-defined]
        await pilot.press("enter")

        table = keys.query_one(DataTable)
        await wait_for(pilot, lambda: "console-made" in table.rows, "the new key in the table")
        assert any("console-made" in r and "issued" in r and "100" in r for r in table_text(table))
        ok = await chat(gateway.url, secret)
        assert ok.status_code == 200, ok.text

        table.move_cursor(row=table.get_row_index("console-made"))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the revoke confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: "console-made" not in table.rows, "the key to leave the table")
        assert (await chat(gateway.url, secret)).status_code == 401


COMMENTED = '''# Production gateway. Hand-written notes like this one must survive console edits.
{body}
# Keep the fallback provider last (ops runbook §4).
'''


async def test_provider_added_in_console_lands_in_toml_and_serves(upstream: FakeOpenAI, make_gateway: Any) -> None:
    gw = make_gateway(COMMENTED.format(body=basic_config(upstream.base_url)))
    app = live_app(gw.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.connection.live and app.state.providers, "the console to connect")
        await pilot.press("3", "a")
        await wait_for(pilot, lambda: isinstance(app.screen, ProviderForm), "the add-provider form")
        form = app.screen
        form.query_one("#name", Input).value = "second"
        form.query_one("#kind", Select).value = "openai"
        form.query_one("#base_url", Input).value = upstream.base_url
        form.query_one("#api_key", Input).value = "sk-second-upstream"
        form.query_one("#models", Input).value = "gpt-4o-mini"
        form.query_one("#weight", Input).value = "2"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, ProviderForm), "the form to close")
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: "second" in table.rows, "the provider in the table")

        text = gw.config_path.read_text()
        assert "[providers.second]" in text and 'models = ["gpt-4o-mini"]' in text and "weight = 2" in text
        assert "# Production gateway. Hand-written notes" in text
        assert "# Keep the fallback provider last (ops runbook §4)." in text
        served = await chat(gw.url, KEY, {**CHAT, "model": "gpt-4o-mini"})
        assert served.status_code == 200 and served.headers["x-crabllm-provider"] == "second"

        table.move_cursor(row=table.get_row_index("second"))
        await pilot.press("t")
        await wait_for(pilot, lambda: any(p["name"] == "second" and p.get("last_test") for p in app.state.providers or []),
                       "the live test result")
        assert any("second" in r and "ok" in r for r in table_text(table))


async def test_gateway_going_away_and_coming_back(gateway: GatewayServer) -> None:
    app = live_app(gateway.url)
    restarted: GatewayServer | None = None
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.connection.live and subscribers(gateway), "the console to connect")
            await asyncio.to_thread(gateway.stop)
            banner = app.screen.query_one("#banner")
            await wait_for(pilot, lambda: app.connection.state == "down" and banner.display, "the outage banner")
            assert "Cannot reach the gateway" in shown(banner) and "crabllm serve" in shown(banner)
            assert "unreachable" in shown(app.screen.query_one("#header"))

            restarted = await asyncio.to_thread(lambda: GatewayServer(gateway.config_path, port=gateway.port).start())
            await wait_for(pilot, lambda: app.connection.live and not banner.display, "the console to recover")
            await pilot.press("4")
            await wait_for(pilot, lambda: subscribers(restarted), "the event feed to reconnect")  # type: ignore[arg-type]
            assert (await chat(gateway.url, KEY)).status_code == 200
            table = app.screen.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 1, "the request after the restart in the tail")
    finally:
        if restarted is not None:
            await asyncio.to_thread(restarted.stop)


async def test_wrong_token_says_what_to_do(gateway: GatewayServer) -> None:
    app = live_app(gateway.url, token="sk-admin-wrong")
    async with app.run_test(size=(80, 24)) as pilot:
        banner = app.screen.query_one("#banner")
        await wait_for(pilot, lambda: app.connection.state == "unauthorized" and banner.display, "the 401 banner")
        assert "--token" in shown(banner) and "CRABLLM_TOKEN" in shown(banner)
