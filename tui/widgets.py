"""Small shared widgets: the header, the view tabs, the connection banner and a metric card."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from tui import fmt
from tui.conn import Connection
from tui.console import console_of

TABS = (("1", "dashboard", "Dashboard"), ("2", "keys", "Keys"), ("3", "providers", "Providers"), ("4", "logs", "Logs"))
STATE_STYLE = {"live": "bold green", "connecting": "bold yellow", "down": "bold red", "unauthorized": "bold red",
               "error": "bold red"}


class ConsoleHeader(Static):
    """One line: product, gateway URL, connection state and the read-only marker."""

    def on_mount(self) -> None:
        app = console_of(self)
        app.connection_signal.subscribe(self, self.show_connection)
        self.show_connection(app.connection)

    def show_connection(self, conn: Connection) -> None:
        app = console_of(self)
        text = Text.assemble((" crabllm ", "bold reverse"), " ", (app.url, "bold"), "  ")
        text.append(f"● {conn.label}", style=STATE_STYLE.get(conn.state, "bold red"))
        if app.read_only:
            text.append("  read-only", style="bold yellow")
        self.update(text)


class ViewTabs(Static):
    """The view switcher line; the current view is highlighted, each name is clickable."""

    def __init__(self, current: str) -> None:
        super().__init__(classes="view-tabs")
        self.current = current

    def on_mount(self) -> None:
        parts = []
        for key, mode, title in TABS:
            label = f" {key} {title} "
            if mode == self.current:
                parts.append(f"[b reverse]{label}[/]")
            else:
                parts.append(f"[@click=app.view('{mode}')]{label}[/]")
        self.update(" ".join(parts))


class ConnectionBanner(Static):
    """Hidden while connected; otherwise what went wrong, what to do, and that it keeps retrying."""

    def on_mount(self) -> None:
        app = console_of(self)
        app.connection_signal.subscribe(self, self.show_connection)
        self.show_connection(app.connection)

    def show_connection(self, conn: Connection) -> None:
        self.display = not conn.live and bool(conn.message)
        self.set_class(conn.state == "unauthorized", "-auth")
        if not self.display:
            return
        app = console_of(self)
        down_for = fmt.span(app.clock() - conn.since) if conn.since else "0s"
        text = Text.assemble((conn.message, "bold"), " ", conn.hint, "\n",
                             (f"Retrying every {conn.retry_in:g} s (down for {down_for}); press r to retry now.", "italic"))
        self.update(text)


class MetricCard(Vertical):
    """A titled card: the current value on one line, then one sparkline per label (or one unlabelled)."""

    def __init__(self, title: str, *, labels: Sequence[str] = (), id: str | None = None) -> None:
        super().__init__(id=id, classes="metric")
        self.border_title = title
        self.labels = tuple(labels)

    def compose(self) -> ComposeResult:
        yield Static("-", classes="metric-value")
        if not self.labels:
            yield Sparkline([], classes="spark")
        for label in self.labels:
            with Horizontal(classes="spark-row"):
                yield Static(label, classes="spark-label")
                yield Sparkline([], classes="spark")

    def show(self, value: str, *data: Sequence[float]) -> None:
        self.query_one(".metric-value", Static).update(value)
        for spark, points in zip(self.query(Sparkline), data, strict=False):
            spark.data = list(points)
