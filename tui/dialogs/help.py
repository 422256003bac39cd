"""`?` help: a table generated from the bindings active on the view underneath."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.dom import DOMNode
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from tui.dialogs.base import Dialog


def view_bindings(app: App[Any], screen: Screen[Any]) -> list[tuple[str, Binding, DOMNode]]:
    """(keys, binding, node) for every explained binding of `screen`, then of the app.

    Keys bound to the same action are merged ("d, del"); bindings that check_action hides are left out.
    """
    merged: dict[tuple[int, str, str], tuple[list[str], Binding, DOMNode]] = {}
    for rank, node in enumerate((screen, app)):
        for _, b in node._bindings:
            if not b.description or not b.tooltip or node.check_action(b.action.split("(")[0], ()) is False:
                continue
            entry = merged.setdefault((rank, b.action, b.description), ([], b, node))
            entry[0].append(app.get_key_display(b))
    return [(", ".join(keys), b, node) for keys, b, node in merged.values()]


def bindings_table(app: App[Any], screen: Screen[Any]) -> Table:
    table = Table(box=None, expand=True, padding=(0, 1), header_style="bold")
    table.add_column("key", no_wrap=True, style="bold cyan")
    table.add_column("action", no_wrap=True)
    table.add_column("what it does", ratio=1, style="dim")
    for keys, b, _ in view_bindings(app, screen):
        table.add_row(keys, b.description, b.tooltip)
    return table


class HelpScreen(Dialog[None]):
    """Read-only mode shows fewer rows here, because the hidden actions are not active bindings."""

    def __init__(self, view: Screen[Any]) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help") as box:
            box.border_title = f"Help · {self.view.sub_title or 'console'}"
            box.border_subtitle = "esc closes · ctrl+p runs any of these by name"
            yield Static(bindings_table(self.app, self.view))
