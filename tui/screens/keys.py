"""Keys view: every key (config and issued) with limits, budget and usage; create, edit and revoke."""

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
from tui.dialogs.key_form import KeyForm
from tui.dialogs.secret import SecretDialog
from tui.model import KeyRow, key_rows
from tui.screens.base import TableScreen


class KeysScreen(TableScreen):
    """Usage and spend come from the stats window (by_key); budget remaining awaits the usage extension."""

    VIEW = "Keys"
    MODE = "keys"
    NOUN = "keys"
    MUTATING = frozenset({"new_key", "edit_key", "revoke_key"})
    COLUMNS = ("Name", "Source", "Req", "Tokens", "Spend", "RPM", "TPM", "Budget", "Left", "Expires", "Models",
               "Prefix")
    SORTS = (("Name", lambda r: r.name.lower(), False), ("Req", lambda r: r.requests, True),
             ("Spend", lambda r: r.spend, True), ("Tokens", lambda r: r.tokens, True),
             ("Source", lambda r: (r.source, r.name), False),
             ("Expires", lambda r: (r.expires_at is None, r.expires_at or 0), False))
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_key", "New key", tooltip="Issue a key; its secret is shown once"),
        Binding("e", "edit_key", "Edit key", tooltip="Change the selected key's models, limits, budget or expiry"),
        Binding("d,delete", "revoke_key", "Revoke key", tooltip="Revoke the selected issued key (asks first)"),
    ]

    def on_mount(self) -> None:
        super().on_mount()
        self.console.lists_signal.subscribe(self, self.refresh_rows)
        self.console.stats_signal.subscribe(self, self.refresh_rows)

    def refresh_rows(self, _: Any = None) -> None:
        self.render_rows()

    def rows(self) -> list[KeyRow]:
        return key_rows(self.console.state.keys or [], self.console.state.stats)

    def row_key(self, row: KeyRow) -> str:
        return row.name

    def row_words(self, row: KeyRow) -> Iterable[object]:
        return (row.name, row.source, row.prefix, row.models)

    def cells(self, row: KeyRow) -> Iterable[str | Text]:
        now = self.console.clock()
        expires = fmt.expiry(row.expires_at, now, row.expired)
        return (
            Text(row.name, style="bold"), Text(row.source, style="dim" if row.source == "config" else "cyan"),
            fmt.right(fmt.count(row.requests)), fmt.right(fmt.count(row.tokens)), fmt.right(fmt.usd(row.spend)),
            fmt.right(fmt.count(row.rpm)), fmt.right(fmt.count(row.tpm)), fmt.right(fmt.usd(row.budget)), fmt.DASH,
            Text(expires, style="red" if expires == "expired" else ""),
            fmt.clip(row.models or "-", 32), row.prefix or "-",
        )

    def show_status(self, shown: int, total: int) -> None:
        super().show_status(shown, total)
        if self.console.state.keys is None:
            self.query_one("#table-status", Static).update("loading keys…")

    def selected(self) -> dict[str, Any] | None:
        name = self.selected_key()
        return next((k for k in self.console.state.keys or [] if k["name"] == name), None)

    def _issued(self, verb: str) -> dict[str, Any] | None:
        key = self.selected()
        if key is None:
            self.notify("Select a key first.", severity="warning")
            return None
        if key.get("source") == "config":
            self.notify(f"'{key['name']}' is declared in the config file: {verb} it there.", title="Config key",
                        severity="warning")
            return None
        return key

    # actions
    def action_new_key(self) -> None:
        self.app.push_screen(KeyForm(), self._created)

    def _created(self, result: dict[str, Any] | None) -> None:
        if result is None:
            return
        self.console.refresh_lists()
        self.app.push_screen(SecretDialog(result["name"], result.get("key", "")))

    def action_edit_key(self) -> None:
        if (key := self._issued("edit")) is not None:
            self.app.push_screen(KeyForm(key), self._edited)

    def _edited(self, result: dict[str, Any] | None) -> None:
        if result is not None:
            self.notify(f"Key '{result['name']}' updated.", title="Saved")
            self.console.refresh_lists()

    def action_revoke_key(self) -> None:
        if (key := self._issued("remove")) is None:
            return
        name = key["name"]
        dialog = ConfirmDialog("Revoke key", f"Revoke '{name}'? Requests with it fail within 2 seconds, on every "
                               "worker. This cannot be undone.", yes="Revoke")
        self.app.push_screen(dialog, lambda yes: self.revoke(name) if yes else None)

    @work(group="keys")
    async def revoke(self, name: str) -> None:
        try:
            await self.console.client.revoke_key(name)
        except ClientError as e:
            self.fail("Revoke failed", e.message)
            return
        self.notify(f"Key '{name}' revoked.", title="Revoked")
        self.console.refresh_lists()

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        if self.check_action("edit_key", ()) and (key := self.selected()) and key.get("source") == "issued":
            self.action_edit_key()
