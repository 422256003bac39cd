"""Shows a newly issued key's secret exactly once, with a copy-to-clipboard action."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from tui.dialogs.base import Dialog


class SecretDialog(Dialog[None]):
    """The secret is held only by this dialog; closing it forgets it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy", "Copy", tooltip="Copy the secret to the clipboard"),
        Binding("enter", "cancel", "Done", tooltip="Close; the secret cannot be shown again"),
    ]

    def __init__(self, name: str, secret: str) -> None:
        super().__init__()
        self.key_name = name
        self.secret = secret

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog secret") as box:
            box.border_title = f"Key '{self.key_name}' created"
            yield Static(Text(self.secret, style="bold"), id="secret-value")
            yield Static(Text("Copy it now: this is the only time the gateway shows this secret.", style="yellow"),
                         classes="dialog-text")
            with Horizontal(classes="buttons"):
                yield Button("Copy (c)", variant="primary", id="copy")
                yield Button("Done (enter)", id="done")

    def on_mount(self) -> None:
        self.query_one("#done", Button).focus()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.secret)
        self.notify("The secret is on the clipboard.", title="Copied")

    @on(Button.Pressed, "#copy")
    def _copy(self) -> None:
        self.action_copy()

    @on(Button.Pressed, "#done")
    def _done(self) -> None:
        self.dismiss(None)
