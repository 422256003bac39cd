"""Everything the event feed said about one finished request."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui import fmt
from tui.dialogs.base import Dialog


def detail_table(event: dict[str, Any], tz: Any = None) -> Table:
    status = event.get("status")
    failed = not isinstance(status, int) or status >= 400 or status == 0 or bool(event.get("error"))
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim", no_wrap=True)
    table.add_column()
    rows: list[tuple[str, str | Text]] = [
        ("request id", str(event.get("id") or "-")),
        ("time", fmt.stamp(event.get("time"), tz)),
        ("path", str(event.get("path") or "-")),
        ("key", str(event.get("key") or "-")),
        ("model", str(event.get("model") or "-")),
        ("provider", str(event.get("provider") or "-")),
        ("status", Text(str(status), style="bold red" if failed else "bold green")),
        ("streamed", "yes" if event.get("stream") else "no"),
        ("latency", fmt.ms(event.get("latency_ms"))),
        ("prompt tokens", fmt.count(event.get("prompt_tokens") or 0)),
        ("completion tokens", fmt.count(event.get("completion_tokens") or 0)),
        ("cost", fmt.usd(event.get("cost_usd"))),
        ("error", Text(str(event.get("error") or "-"), style="red" if event.get("error") else "")),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


class RequestDetail(Dialog[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy_id", "Copy id", tooltip="Copy the request id (x-request-id) to the clipboard"),
    ]

    def __init__(self, event: dict[str, Any]) -> None:
        super().__init__()
        self.event = event

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog detail") as box:
            box.border_title = "Request"
            box.border_subtitle = "c copies the id · esc closes"
            yield Static(detail_table(self.event, self.console.tz))

    def action_copy_id(self) -> None:
        self.app.copy_to_clipboard(str(self.event.get("id") or ""))
        self.notify("Request id copied.", title="Copied")
