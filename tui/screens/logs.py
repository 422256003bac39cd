"""Logs view: live tail of finished requests from the event feed, pause/follow, filter, detail."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from tui import fmt
from tui.dialogs.request_detail import RequestDetail
from tui.filters import parse_log_filter
from tui.screens.base import TableScreen

MAX_ROWS = 500


def status_text(event: dict[str, Any]) -> Text:
    status = event.get("status")
    code = status if isinstance(status, int) else 0
    failed = code >= 400 or code == 0 or bool(event.get("error"))
    return Text(str(code or "ERR"), style="bold red" if failed else "green")


def route_text(path: Any) -> str:
    """A short name of the route: `chat`, `responses`, `messages`, `embeddings`, `count_tokens`, `speech`…"""
    if not path:
        return "-"
    parts = str(path).removeprefix("/v1/").split("/")
    if parts[0] == "chat":
        return "chat"
    return parts[0] if len(parts) == 1 or parts[0] in ("images",) else parts[-1]


class LogsScreen(TableScreen):
    """Newest at the bottom; while following, the cursor stays on the newest request."""

    VIEW = "Logs"
    MODE = "logs"
    NOUN = "requests"
    COLUMNS = ("Time", "Status", "Route", "Key", "Model", "Provider", "Latency", "Tokens", "Cost")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pause", "Pause", tooltip="Stop moving with new requests (they are still collected)"),
        Binding("p", "follow", "Follow", tooltip="Show new requests as they finish"),
        Binding("c", "clear", "Clear", tooltip="Forget the requests collected so far"),
        Binding("enter", "detail", "Details", show=False, tooltip="Everything about the selected request"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.following = True
        self.missed = 0

    def filter_placeholder(self) -> str:
        return "filter: key:NAME model:NAME status:200|4xx|err provider:NAME words…"

    def on_mount(self) -> None:
        super().on_mount()
        self.console.event_signal.subscribe(self, self.add_event)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "sort":
            return False
        if action == "pause":
            return self.following
        if action == "follow":
            return not self.following
        return super().check_action(action, parameters)

    def rows(self) -> list[dict[str, Any]]:
        return list(self.console.state.events)

    def visible_rows(self) -> list[dict[str, Any]]:
        return super().visible_rows()[-MAX_ROWS:]

    def keep(self) -> Callable[[Any], bool]:
        return parse_log_filter(self.filter_text)

    def row_key(self, row: dict[str, Any]) -> str:
        return str(row["seq"])

    def cells(self, row: dict[str, Any]) -> Iterable[str | Text]:
        tokens = (row.get("prompt_tokens") or 0) + (row.get("completion_tokens") or 0)
        model = (row.get("model") or "-") + (" ⇣" if row.get("stream") else "")
        return (fmt.clock(row.get("time"), self.console.tz), status_text(row), route_text(row.get("path")),
                row.get("key") or "-", model,
                row.get("provider") or "-", fmt.right(fmt.ms(row.get("latency_ms"))), fmt.right(fmt.count(tokens)),
                fmt.right(fmt.usd(row.get("cost_usd"))))

    def render_rows(self) -> None:
        super().render_rows()
        if self.following:
            self.to_newest()

    def to_newest(self) -> None:
        table = self.table
        if table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)

    def status_parts(self, shown: int, total: int) -> list[str]:
        state = "following (p pauses)" if self.following else f"PAUSED · {self.missed} new (p follows)"
        return [state, *super().status_parts(shown, total), f"{self.console.state.received} seen"]

    def add_event(self, event: dict[str, Any]) -> None:
        if not self.following:
            self.missed += 1
            self.show_status(self.table.row_count, len(self.console.state.events))
            return
        if self.filter_text and not self.keep()(event):
            self.show_status(self.table.row_count, len(self.console.state.events))
            return
        table = self.table
        self._shown = None  # the table now differs from the last full render
        table.add_row(*self.cells(event), key=self.row_key(event))
        while table.row_count > MAX_ROWS:
            oldest, _ = table.coordinate_to_cell_key((0, 0))
            table.remove_row(oldest)
        self.to_newest()
        self.show_status(table.row_count, len(self.console.state.events))

    # actions
    def action_pause(self) -> None:
        self.following = False
        self.missed = 0
        self.refresh_bindings()
        self.show_status(self.table.row_count, len(self.console.state.events))

    def action_follow(self) -> None:
        self.following = True
        self.refresh_bindings()
        self.render_rows()

    def action_clear(self) -> None:
        self.console.state.events.clear()
        self.missed = 0
        self.render_rows()

    def action_detail(self) -> None:
        key = self.selected_key()
        event = next((e for e in self.console.state.events if str(e["seq"]) == key), None)
        if event is not None:
            self.app.push_screen(RequestDetail(event))

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        self.action_detail()
