"""Create or edit a virtual key: name, models, rate limits, budget and expiry."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from tui import fmt
from tui.dialogs.base import FormDialog
from tui.forms import key_create_body, key_patch_body


def text_of(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def field(label: str, widget: Input) -> ComposeResult:
    """A label and a compact input, one grid row."""
    yield Label(label, classes="field-label")
    widget.compact = True
    yield widget


class KeyForm(FormDialog):
    """`key` None creates (dismisses with the created key, secret included); otherwise edits that key."""

    def __init__(self, key: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.key = key

    def compose(self) -> ComposeResult:
        key = self.key or {}
        rl = key.get("rate_limit") or {}
        if self.key is None:
            expires_hint = "e.g. 30d, 12h, 3600 (blank = never)"
        else:
            current = fmt.expiry(key.get("expires_at"), self.console.clock(), bool(key.get("expired")))
            expires_hint = f"blank keeps '{current}'; never clears"
        with Vertical(classes="dialog form") as box:
            box.border_title = "New key" if self.key is None else f"Edit key '{key['name']}'"
            with Grid(classes="fields"):
                yield from field("Name", Input(key.get("name", ""), placeholder="e.g. team-search", id="name",
                                               disabled=self.key is not None))
                yield from field("Models", Input(", ".join(key.get("models") or ["*"]), id="models",
                                                 placeholder="comma-separated; * for all"))
                yield from field("Requests/min", Input(text_of(rl.get("requests_per_minute")), placeholder="no limit",
                                                       id="rpm", type="integer"))
                yield from field("Tokens/min", Input(text_of(rl.get("tokens_per_minute")), placeholder="no limit",
                                                     id="tpm", type="integer"))
                yield from field("Budget USD", Input(text_of(key.get("budget")), placeholder="no budget", id="budget",
                                                     type="number"))
                yield from field("Expires in", Input("", placeholder=expires_hint, id="expires"))
            yield Static("", id="form-error", classes="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Create ^s" if self.key is None else "Save ^s", variant="primary", id="save")
                yield Button("Cancel esc", id="cancel")

    def build(self, values: dict[str, str]) -> dict[str, Any]:
        if self.key is None:
            return key_create_body(values)
        return key_patch_body(values, self.console.clock())

    async def send(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.key is None:
            return await self.console.client.create_key(body)  # type: ignore[no-any-return]
        return await self.console.client.update_key(self.key["name"], body)  # type: ignore[no-any-return]
