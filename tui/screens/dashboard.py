"""Dashboard view: live rates as sparklines, spend, in-flight work, top keys and models, config status."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal
from textual.widgets import Static

from crabllm.client import ClientError
from tui import fmt
from tui.model import last_latency, series
from tui.screens.base import ViewScreen
from tui.widgets import MetricCard


def top_table(rows: list[dict[str, Any]], limit: int = 20) -> Table | Text:
    if not rows:
        return Text("no traffic yet", style="dim")
    table = Table(box=None, expand=True, padding=(0, 0, 0, 1), show_edge=False, header_style="bold")
    table.add_column("name", ratio=1, min_width=6, no_wrap=True, overflow="ellipsis")
    table.add_column("req", justify="right", no_wrap=True)
    table.add_column("spend", justify="right", no_wrap=True)
    for row in rows[:limit]:
        table.add_row(str(row["name"]), fmt.count(row["requests"]), fmt.usd(row["spend_usd"]))
    return table


class DashboardScreen(ViewScreen):
    """The landing view; refreshed on every stats poll and reload event."""

    VIEW = "Dashboard"
    MODE = "dashboard"
    MUTATING = frozenset({"reload_config"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "reload_config", "Reload config", tooltip="Re-read the config file on the gateway now"),
    ]

    def compose_view(self) -> ComposeResult:
        yield Static("", id="reload-alert")
        with Grid(id="cards"):
            yield MetricCard("Requests/s", id="rps")
            yield MetricCard("Error rate", id="errors")
            yield MetricCard("Latency", labels=("p50", "p95"), id="latency")
            yield MetricCard("Tokens/s", id="tokens")
        with Horizontal(id="panels"):
            yield Static("", id="now", classes="panel")
            yield Static("", id="top-keys", classes="panel")
            yield Static("", id="top-models", classes="panel")
            yield Static("", id="top-providers", classes="panel wide-only")

    def on_mount(self) -> None:
        self.query_one("#now").border_title = "Now"
        self.query_one("#top-keys").border_title = "Top keys"
        self.query_one("#top-models").border_title = "Top models"
        self.query_one("#top-providers").border_title = "Top providers"
        self.console.stats_signal.subscribe(self, self.show_stats)
        self.show_stats(None)

    def show_stats(self, _: None) -> None:
        stats = self.console.state.stats
        self.show_reload()
        if stats is None:
            self.query_one("#now", Static).update(Text("waiting for the gateway…", style="dim"))
            return
        s = series(stats)
        window = fmt.span(stats.get("window_s", 0))
        tokens = stats.get("prompt_tokens", 0) + stats.get("completion_tokens", 0)
        self.query_one("#rps", MetricCard).show(
            f"{fmt.rate(s.now('rps'))} req/s · {fmt.count(stats.get('requests', 0))} in {window}", s.rps)
        self.query_one("#errors", MetricCard).show(
            f"{fmt.pct(stats.get('error_rate', 0.0))} · {fmt.count(stats.get('errors', 0))} errors in {window}", s.error_rate)
        lat = stats.get("latency_ms") or {}
        self.query_one("#latency", MetricCard).show(
            f"p50 {fmt.ms(last_latency(stats, 'p50_ms'))} · p95 {fmt.ms(last_latency(stats, 'p95_ms'))}"
            f" · p99 {fmt.ms(lat.get('p99'))}", s.p50, s.p95)
        self.query_one("#tokens", MetricCard).show(
            f"{fmt.rate(s.now('tokens'))} tok/s · {fmt.count(tokens)} in {window}", s.tokens)
        self.query_one("#now", Static).update(self.now_panel(stats, window))
        self.query_one("#top-keys", Static).update(top_table(stats.get("by_key") or []))
        self.query_one("#top-models", Static).update(top_table(stats.get("by_model") or []))
        self.query_one("#top-providers", Static).update(top_table(stats.get("by_provider") or []))

    def now_panel(self, stats: dict[str, Any], window: str) -> Table:
        config = stats.get("config") or {}
        last = config.get("last_reload")
        if last is None:
            reload = Text("none yet", style="dim")
        elif last.get("ok"):
            reload = Text(f"ok {fmt.ago(last.get('at'), self.console.clock())}", style="green")
        else:
            reload = Text("FAILED", style="bold red")
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(style="dim", no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        table.add_row("spend today", Text(fmt.usd(stats.get("spend_today_usd")), style="bold"))
        table.add_row(f"spend {window}", fmt.usd(stats.get("spend_usd")))
        table.add_row("in flight", fmt.count(stats.get("inflight", 0)))
        table.add_row("streams", fmt.count(stats.get("streams", 0)))
        table.add_row("config gen", str(config.get("generation", "-")))
        table.add_row("last reload", reload)
        return table

    def show_reload(self) -> None:
        """A failed reload is shown above everything else until a later reload succeeds."""
        alert = self.query_one("#reload-alert", Static)
        last = self.console.state.config.get("last_reload")
        failed = bool(last) and not last.get("ok")
        alert.display = failed
        if failed:
            generation = self.console.state.config.get("generation", "?")
            alert.update(Text.assemble(
                ("CONFIG RELOAD FAILED ", "bold"), f"at {fmt.clock(last.get('at'), self.console.tz)}",
                f" ({last.get('reason') or 'reload'}): ", (str(last.get("error") or "unknown error"), "bold"),
                f"\nStill serving generation {generation}. Fix the file: it reloads on save"
                + ("." if self.console.read_only else " (or press ctrl+r).")))

    def action_reload_config(self) -> None:
        self.reload_config()

    @work(group="reload", exclusive=True)
    async def reload_config(self) -> None:
        try:
            status = await self.console.client.reload()
        except ClientError as e:
            self.fail("Reload failed", e.message)
        else:
            self.notify(f"Generation {status.get('generation')}", title="Config reloaded")
        self.console.action_refresh()
