"""The console app: views as modes, workers that poll the admin API and tail its event feed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import tzinfo
from functools import partial
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.markup import escape
from textual.screen import Screen
from textual.signal import Signal

from crabllm.client import ClientError
from tui.conn import CONNECTING, LIVE, Connection, from_error
from tui.dialogs.help import HelpScreen, view_bindings
from tui.screens.dashboard import DashboardScreen
from tui.screens.keys import KeysScreen
from tui.screens.logs import LogsScreen
from tui.screens.providers import ProvidersScreen
from tui.state import ConsoleState

WINDOW = 300  # seconds of history behind the sparklines
LIST_EVERY = 5  # re-read keys and providers every N polls (and after every change made here)
VIEWS = ("dashboard", "keys", "providers", "logs")


class ConsoleApp(App[None]):
    """`client` is an AdminClient (or anything with its async methods); the app closes it on exit.

    It satisfies `tui.console.Console`, the only face of it that screens, dialogs and widgets see.
    """

    CSS_PATH = "console.tcss"
    TITLE = "crabllm console"
    MODES: ClassVar[dict[str, Any]] = {"dashboard": DashboardScreen, "keys": KeysScreen,
                                        "providers": ProvidersScreen, "logs": LogsScreen}
    DEFAULT_MODE = "dashboard"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (30, "-tall"), (44, "-huge")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "view('dashboard')", "Dashboard", show=False, tooltip="Live traffic, spend and config status"),
        Binding("2", "view('keys')", "Keys", show=False, tooltip="Virtual keys: usage, limits, create and revoke"),
        Binding("3", "view('providers')", "Providers", show=False, tooltip="Upstreams: health, add, edit, test"),
        Binding("4", "view('logs')", "Logs", show=False, tooltip="Live tail of finished requests"),
        Binding("r", "refresh", "Refresh", show=False, tooltip="Fetch everything now (and retry a lost connection)"),
        Binding("question_mark", "help", "Help", tooltip="Every key binding of this view"),
        Binding("q", "quit", "Quit", tooltip="Leave the console (the gateway keeps running)"),
    ]

    def __init__(self, client: Any, *, read_only: bool = False, refresh: float = 2.0, max_backoff: float = 15.0,
                 clock: Callable[[], float] = time.time, tz: tzinfo | None = None) -> None:
        super().__init__()
        self.client = client
        self.url: str = client.target.url
        self.read_only = read_only
        self.refresh_s = max(0.05, refresh)
        self.max_backoff = max(self.refresh_s, max_backoff)
        self.clock = clock
        self.tz = tz
        self.state = ConsoleState()
        self.connection = Connection(CONNECTING, self.url, since=clock())
        self.connection_signal: Signal[Connection] = Signal(self, "connection")
        self.stats_signal: Signal[None] = Signal(self, "stats")
        self.lists_signal: Signal[None] = Signal(self, "lists")
        self.event_signal: Signal[dict[str, Any]] = Signal(self, "event")
        self._wake = asyncio.Event()
        self._previous_view = "dashboard"

    # lifecycle
    def on_mount(self) -> None:
        self.run_worker(self._poll_loop, name="poll", group="poll", exclusive=True)
        self.run_worker(self._event_loop, name="events", group="events", exclusive=True)

    async def on_unmount(self) -> None:
        self.workers.cancel_all()
        with contextlib.suppress(Exception):
            await self.client.close()

    # workers
    async def _poll_loop(self) -> None:
        """Poll stats every refresh; on failure say why and back off (doubling, capped), then recover."""
        delay = self.refresh_s
        polls = 0
        while True:
            try:
                stats = await self.client.stats(WINDOW)
                if not isinstance(stats, dict) or "series" not in stats:
                    raise ClientError(502, f"{self.url} answered, but not as a crabllm admin API")
                if polls % LIST_EVERY == 0 or not self.connection.live:
                    await self._fetch_lists()
                if stats != self.state.stats:
                    self.state.stats = stats
                    self.stats_signal.publish(None)
                delay = self.refresh_s
                self._set_connection(Connection(LIVE, self.url))
                polls += 1
            except ClientError as e:
                delay = self.refresh_s if self.connection.live or self.connection.state == CONNECTING \
                    else min(delay * 2, self.max_backoff)
                self._set_connection(from_error(self.url, e, delay))
                polls = 0
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _event_loop(self) -> None:
        """Tail the SSE feed; reconnect with backoff whenever it ends or breaks."""
        delay = self.refresh_s
        while True:
            try:
                async for name, payload in self.client.events():
                    delay = self.refresh_s
                    self._on_event(name, payload)
            except ClientError:
                pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)

    async def _fetch_lists(self) -> None:
        keys = await self.client.keys()
        providers = await self.client.providers()
        if (keys, providers) != (self.state.keys, self.state.providers):
            self.state.keys, self.state.providers = keys, providers
            self.lists_signal.publish(None)

    async def _load_lists(self) -> None:
        try:
            await self._fetch_lists()
        except ClientError as e:
            self.notify(e.message, title="Refresh failed", severity="error")

    def refresh_lists(self) -> None:
        """Re-read keys and providers now (after a change made in the console)."""
        self.run_worker(self._load_lists, group="lists", exclusive=True)

    def _on_event(self, name: str, payload: dict[str, Any]) -> None:
        if name == "request":
            self.event_signal.publish(self.state.add_request(payload))
        elif name == "reload":
            self.state.apply_reload(payload)
            self.stats_signal.publish(None)
            if payload.get("ok"):
                self.notify(f"Config reloaded: generation {payload.get('generation')}", title="Reload")
                self.refresh_lists()
            else:
                self.notify(str(payload.get("error")), title="Config reload FAILED", severity="error", timeout=10)

    def _set_connection(self, conn: Connection) -> None:
        was = self.connection
        conn = replace(conn, since=was.since if conn.state == was.state else self.clock())
        self.connection = conn
        if conn != was or not conn.live:  # while down, every retry refreshes the banner's "down for"
            self.connection_signal.publish(conn)
        if conn.live and not was.live and was.state != CONNECTING:
            self.notify(f"Connected to {self.url} again", title="Gateway is back")

    # actions
    async def action_view(self, name: str) -> None:
        if name not in VIEWS or name == self.current_mode:
            return
        self._previous_view = self.current_mode
        await self.switch_mode(name)

    async def action_back_view(self) -> None:
        await self.action_view(self._previous_view if self._previous_view != self.current_mode else "dashboard")

    def action_refresh(self) -> None:
        self._wake.set()
        if self.connection.live:
            self.refresh_lists()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every explained binding of the view (what `?` lists) is a palette command, then Textual's own."""
        titles: set[str] = set()
        for keys, b, node in view_bindings(self, screen):
            titles.add(b.description)
            yield SystemCommand(b.description, escape(f"{keys} · {b.tooltip}"), partial(self.run_action, b.action, node))
        for command in super().get_system_commands(screen):
            if command.title not in titles and command.title != "Keys":
                yield command
