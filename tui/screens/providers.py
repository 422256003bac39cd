"""Providers view: kind, models, weight, health (last test, latency, recent errors) and load; add, edit, delete, test."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from crabllm.client import ClientError
from tui import fmt
from tui.dialogs.confirm import ConfirmDialog
from tui.dialogs.provider_form import ProviderForm
from tui.model import ProviderRow, provider_rows
from tui.screens.base import TableScreen


class ProvidersScreen(TableScreen):
    """Cooldown is the gateway's circuit breaker: '-' while closed, the time left while open.

    Load is requests in flight @ the slowest deployment's peak-EWMA latency (what `latency` routing sees).
    """

    VIEW = "Providers"
    MODE = "providers"
    NOUN = "providers"
    MUTATING = frozenset({"add_provider", "edit_provider", "delete_provider"})
    COLUMNS = ("Name", "Kind", "Test", "Latency", "Load", "Req", "Errors", "Cooldown", "Weight", "Last error", "Models")
    SORTS = (("Name", lambda r: r.name.lower(), False), ("Req", lambda r: r.requests, True),
             ("Errors", lambda r: r.error_rate or 0.0, True), ("Kind", lambda r: (r.kind, r.name), False),
             ("Weight", lambda r: r.weight, True))
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add_provider", "Add provider", tooltip="Add an upstream to the config file"),
        Binding("e", "edit_provider", "Edit provider", tooltip="Change the selected provider in the config file"),
        Binding("d,delete", "delete_provider", "Delete provider", tooltip="Remove the selected provider (asks first)"),
        Binding("t", "test_provider", "Test now", tooltip="Ask the selected upstream for its models, timed"),
    ]

    def on_mount(self) -> None:
        super().on_mount()
        self.console.lists_signal.subscribe(self, self.refresh_rows)
        self.console.stats_signal.subscribe(self, self.refresh_rows)

    def refresh_rows(self, _: Any = None) -> None:
        self.render_rows()

    def rows(self) -> list[ProviderRow]:
        state = self.console.state
        return provider_rows(state.providers or [], state.stats, state.last_errors)

    def row_key(self, row: ProviderRow) -> str:
        return row.name

    def row_words(self, row: ProviderRow) -> Iterable[object]:
        return (row.name, row.kind, row.models, row.base_url, row.last_error)

    def _cooldown(self, row: ProviderRow) -> str | Text:
        which = f" {row.open_models}" if row.open_models and row.open_models != row.models else ""
        if row.circuit == "open" and row.open_until:
            return Text(f"open {max(0, row.open_until - self.console.clock()):.0f}s{which}", style="bold red")
        if row.circuit == "half_open":
            return Text(f"probing{which}", style="yellow")
        if row.circuit == "rate_limited" and row.open_until:
            return Text(f"429 {max(0, row.open_until - self.console.clock()):.0f}s{which}", style="yellow")
        return fmt.DASH

    @staticmethod
    def _load(row: ProviderRow) -> str | Text:
        if row.ewma_ms is None and not row.inflight:
            return fmt.right("-", "dim")
        return fmt.right(f"{row.inflight} @ {fmt.ms(row.ewma_ms)}")

    def cells(self, row: ProviderRow) -> Iterable[str | Text]:
        if row.test_ok is None:
            test = Text("never", style="dim")
        else:
            test = Text(f"{'ok' if row.test_ok else 'FAIL'} {fmt.ago(row.tested_at, self.console.clock())}",
                        style="green" if row.test_ok else "bold red")
        rate = row.error_rate
        errors = fmt.right(fmt.pct(rate), "red" if rate else "") if rate is not None else fmt.right("-", "dim")
        return (
            Text(row.name, style="bold"), row.kind, test, fmt.right(fmt.ms(row.latency_ms)), self._load(row),
            fmt.right(fmt.count(row.requests)), errors, self._cooldown(row), fmt.right(str(row.weight)),
            Text(fmt.clip(row.last_error or "-", 40), style="red" if row.last_error else "dim"),
            fmt.clip(row.models or "-", 40),
        )

    def show_status(self, shown: int, total: int) -> None:
        super().show_status(shown, total)
        if self.console.state.providers is None:
            self.query_one("#table-status", Static).update("loading providers…")

    def selected(self) -> dict[str, Any] | None:
        name = self.selected_key()
        provider = next((p for p in self.console.state.providers or [] if p["name"] == name), None)
        if provider is None:
            self.notify("Select a provider first.", severity="warning")
        return provider

    # actions
    def action_add_provider(self) -> None:
        self.app.push_screen(ProviderForm(), self._saved)

    def action_edit_provider(self) -> None:
        if (provider := self.selected()) is not None:
            self.app.push_screen(ProviderForm(provider), self._saved)

    def _saved(self, result: dict[str, Any] | None) -> None:
        if result is not None:
            self.notify(f"'{result['name']}' is in the config file and live.", title="Provider saved")
            self.console.refresh_lists()

    def action_delete_provider(self) -> None:
        if (provider := self.selected()) is None:
            return
        name = provider["name"]
        dialog = ConfirmDialog("Delete provider", f"Remove '{name}' from the config file? Models it alone serves "
                               "stop working after the reload.", yes="Delete")
        self.app.push_screen(dialog, lambda yes: self.delete(name) if yes else None)

    @work(group="providers")
    async def delete(self, name: str) -> None:
        try:
            await self.console.client.delete_provider(name)
        except ClientError as e:
            self.fail("Delete failed", e.message)
            return
        self.notify(f"'{name}' removed from the config file.", title="Provider deleted")
        self.console.refresh_lists()

    def action_test_provider(self) -> None:
        if (provider := self.selected()) is not None:
            self.notify(f"Testing '{provider['name']}'…")
            self.test(provider["name"])

    @work(group="providers")
    async def test(self, name: str) -> None:
        try:
            result = await self.console.client.test_provider(name)
        except ClientError as e:
            self.fail("Test failed", e.message)
            return
        if result.get("ok"):
            self.notify(f"'{name}' answered in {fmt.ms(result.get('latency_ms'))} with "
                        f"{len(result.get('models') or [])} models.", title="Test passed")
        else:
            self.fail("Test failed", f"'{name}': {result.get('error')}")
        self.console.refresh_lists()

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        if self.check_action("edit_provider", ()):
            self.action_edit_provider()
