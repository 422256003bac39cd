"""Base screens: every view has the header, tabs, connection banner and footer; table views add filter and sort."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from tui.console import Console, console_of
from tui.filters import text_filter
from tui.widgets import ConnectionBanner, ConsoleHeader, ViewTabs


class ViewScreen(Screen[None]):
    """One of the four views. Actions named in MUTATING disappear (keys, footer, palette) when read-only."""

    VIEW: ClassVar[str] = ""
    MODE: ClassVar[str] = ""
    MUTATING: ClassVar[frozenset[str]] = frozenset()
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", show=False, tooltip="Close the filter, else go to the previous view"),
    ]

    @property
    def console(self) -> Console:
        return console_of(self)

    def compose(self) -> ComposeResult:
        self.sub_title = self.VIEW
        yield ConsoleHeader(id="header")
        yield ViewTabs(self.MODE)
        yield ConnectionBanner(id="banner")
        yield from self.compose_view()
        yield Footer()

    def compose_view(self) -> ComposeResult:
        yield from ()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in self.MUTATING and self.console.read_only)

    async def action_back(self) -> None:
        await self.console.action_back_view()

    def fail(self, title: str, message: str) -> None:
        self.notify(message, title=title, severity="error", timeout=8)


class TableScreen(ViewScreen):
    """A view around one DataTable: `/` filters (every word must match), `s` cycles the sort column."""

    COLUMNS: ClassVar[Sequence[str]] = ()
    SORTS: ClassVar[Sequence[tuple[str, Callable[[Any], Any], bool]]] = ()  # (label, key, descending)
    NOUN: ClassVar[str] = "rows"
    AUTO_FOCUS = "#table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", tooltip="Show only rows containing every typed word"),
        Binding("s", "sort", "Sort", tooltip="Sort by the next column"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self.sort_index = 0
        self._shown: list[tuple[str, tuple[str | Text, ...]]] | None = None

    def compose_view(self) -> ComposeResult:
        box = Input(placeholder=self.filter_placeholder(), id="filter", classes="filter", compact=True)
        box.display = False
        yield box
        yield DataTable(id="table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="table-status", classes="table-status")

    def filter_placeholder(self) -> str:
        return "filter: type words, enter to keep, esc to clear"

    def on_mount(self) -> None:
        self.table.add_columns(*self.COLUMNS)
        self.render_rows()

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#table", DataTable)

    # to implement
    def rows(self) -> list[Any]:
        return []

    def row_key(self, row: Any) -> str:
        raise NotImplementedError

    def cells(self, row: Any) -> Iterable[str | Text]:
        raise NotImplementedError

    def row_words(self, row: Any) -> Iterable[object]:
        return self.cells(row)

    def keep(self) -> Callable[[Any], bool]:
        return text_filter(self.filter_text, self.row_words)

    # rendering
    def visible_rows(self) -> list[Any]:
        rows = self.rows()
        if self.filter_text:
            keep = self.keep()
            rows = [r for r in rows if keep(r)]
        if self.SORTS:
            _, key, descending = self.SORTS[self.sort_index]
            rows = sorted(rows, key=key, reverse=descending)
        return rows

    def render_rows(self) -> None:
        """Rebuild the table only when what it would show changed (polls mostly bring the same rows)."""
        table = self.table
        rows = self.visible_rows()
        content = [(self.row_key(row), tuple(self.cells(row))) for row in rows]
        if content != self._shown:
            selected = self.selected_key()
            table.clear()
            for key, cells in content:
                table.add_row(*cells, key=key)
            if selected is not None and selected in table.rows:
                table.move_cursor(row=table.get_row_index(selected), animate=False)
            self._shown = content
        self.show_status(len(rows), len(self.rows()))

    def status_parts(self, shown: int, total: int) -> list[str]:
        parts = [f"{shown} of {total} {self.NOUN}" if shown != total else f"{total} {self.NOUN}"]
        if self.filter_text:
            parts.append(f"filter: {self.filter_text}")
        if self.SORTS:
            parts.append(f"sorted by {self.SORTS[self.sort_index][0]} (s)")
        return parts

    def show_status(self, shown: int, total: int) -> None:
        self.query_one("#table-status", Static).update(" · ".join(self.status_parts(shown, total)))

    def selected_key(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return cast("str | None", row_key.value)

    # actions and events
    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_sort(self) -> None:
        if self.SORTS:
            self.sort_index = (self.sort_index + 1) % len(self.SORTS)
            self.render_rows()

    async def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display or self.filter_text:
            box.value = ""
            box.display = False
            self.filter_text = ""
            self.render_rows()
            self.table.focus()
            return
        await super().action_back()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.render_rows()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        if not self.filter_text:
            self.query_one("#filter", Input).display = False
        self.table.focus()

    @on(DataTable.HeaderSelected)
    def _header_sort(self, event: DataTable.HeaderSelected) -> None:
        label = str(event.label).lower()
        for i, (name, _, _) in enumerate(self.SORTS):
            if name.lower() == label:
                self.sort_index = i
                self.render_rows()
                return
