"""The narrow interface views, dialogs and widgets use from the app; `ConsoleApp` satisfies it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import Any, Protocol, cast

from textual.dom import DOMNode
from textual.signal import Signal

from tui.conn import Connection
from tui.state import ConsoleState


class Console(Protocol):
    """What a screen, dialog or widget may read from, and ask of, the running console.

    Screens and dialogs depend on this instead of `tui.app`, so the app can import them and not the
    other way round. Everything is a read-only property here: only the app's workers change them.
    Textual's own App API (push_screen, notify, copy_to_clipboard) stays on `self.app`.
    """

    @property
    def client(self) -> Any:
        """The AdminClient (or a fake with its async methods)."""

    @property
    def url(self) -> str: ...

    @property
    def read_only(self) -> bool: ...

    @property
    def clock(self) -> Callable[[], float]: ...

    @property
    def tz(self) -> tzinfo | None: ...

    @property
    def state(self) -> ConsoleState: ...

    @property
    def connection(self) -> Connection: ...

    @property
    def connection_signal(self) -> Signal[Connection]: ...

    @property
    def stats_signal(self) -> Signal[None]: ...

    @property
    def lists_signal(self) -> Signal[None]: ...

    @property
    def event_signal(self) -> Signal[dict[str, Any]]: ...

    def refresh_lists(self) -> None:
        """Re-read keys and providers now (after a change made in the console)."""

    def action_refresh(self) -> None:
        """Fetch everything now, and retry a lost connection."""

    async def action_back_view(self) -> None:
        """Go back to the previous view."""


def console_of(node: DOMNode) -> Console:
    """The console that `node` is mounted in."""
    return cast(Console, node.app)
