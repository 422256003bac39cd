"""Add or edit a provider; the gateway writes it into the TOML (comments kept) and reloads."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static

from tui.dialogs.base import FormDialog
from tui.dialogs.key_form import field, text_of
from tui.forms import PROVIDER_KINDS, provider_create_body, provider_patch_body


class ProviderForm(FormDialog):
    """`provider` None adds one (models discovered when left blank); otherwise edits it."""

    def __init__(self, provider: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.provider = provider

    def compose(self) -> ComposeResult:
        p = self.provider or {}
        adding = self.provider is None
        secret_hint = f"blank keeps {p['api_key']}" if p.get("api_key") else "e.g. ${OPENAI_API_KEY}"
        with Vertical(classes="dialog form") as box:
            box.border_title = "Add provider" if adding else f"Edit provider '{p['name']}'"
            with Grid(classes="fields dense"):
                yield from field("Name", Input(p.get("name", ""), placeholder="e.g. openai-eu", id="name",
                                               disabled=not adding))
                yield Label("Kind", classes="field-label")
                yield Select([(k, k) for k in PROVIDER_KINDS], value=p.get("kind", "openai"), allow_blank=False,
                             id="kind", compact=True)
                yield from field("Base URL", Input(p.get("base_url") or "", placeholder="the kind's default",
                                                   id="base_url"))
                yield from field("API key", Input("", placeholder=secret_hint, id="api_key", password=True))
                yield from field("Models", Input(", ".join(p.get("models") or []), id="models",
                                                 placeholder="blank = ask the upstream" if adding else "comma-separated"))
                yield from field("Weight", Input(text_of(p.get("weight")), placeholder="1", id="weight", type="integer"))
                yield from field("Max retries", Input(text_of(p.get("max_retries")), placeholder="2", id="max_retries",
                                                      type="integer"))
                yield from field("Timeout s", Input(text_of(p.get("timeout")), placeholder="30", id="timeout",
                                                    type="number"))
                yield from field("API version", Input(p.get("api_version") or "", placeholder="azure only",
                                                      id="api_version"))
            yield Static("", id="form-error", classes="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Add ^s" if adding else "Save ^s", variant="primary", id="save")
                yield Button("Cancel esc", id="cancel")

    def build(self, values: dict[str, str]) -> dict[str, Any]:
        if self.provider is None:
            return provider_create_body(values)
        patch = provider_patch_body(values, self.provider)
        if not patch:
            raise ValueError("nothing changed")
        return patch

    async def send(self, body: dict[str, Any]) -> dict[str, Any]:
        client = self.console.client
        if self.provider is None:
            return await client.create_provider(body)  # type: ignore[no-any-return]
        return await client.update_provider(self.provider["name"], body)  # type: ignore[no-any-return]
