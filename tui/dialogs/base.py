"""Dialog bases: a modal closed by escape, and a form that validates, calls the API in a worker, then closes."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from crabllm.client import ClientError
from tui.console import Console, console_of

T = TypeVar("T")


class Dialog(ModalScreen[T]):
    """A centred box; escape closes it with None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Close", tooltip="Close this dialog")]

    @property
    def console(self) -> Console:
        return console_of(self)

    def action_cancel(self) -> None:
        self.dismiss(None)


class FormDialog(Dialog[dict[str, Any]]):
    """Subclasses build the body (ValueError -> shown inline) and send it (ClientError -> shown inline)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+s", "submit", "Save", tooltip="Send the form")]

    def values(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for field in self.query(Input):
            if field.id:
                out[field.id] = field.value
        for select in self.query(Select):
            if select.id:
                out[select.id] = "" if select.value is Select.BLANK else str(select.value)
        return out

    def show_error(self, message: str) -> None:
        box = self.query_one("#form-error", Static)
        box.update(message)
        box.display = bool(message)

    def on_mount(self) -> None:
        self.query_one("#form-error", Static).display = False

    def build(self, values: dict[str, str]) -> dict[str, Any]:
        raise NotImplementedError

    async def send(self, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def action_submit(self) -> None:
        try:
            body = self.build(self.values())
        except ValueError as e:
            self.show_error(str(e))
            return
        self.show_error("")
        self.submit(body)

    @work(exclusive=True, group="submit")
    async def submit(self, body: dict[str, Any]) -> None:
        self.query_one("#save", Button).disabled = True
        try:
            result = await self.send(body)
        except ClientError as e:
            self.show_error(e.message if e.status == 0 else f"{e.status}: {e.message}")
            self.query_one("#save", Button).disabled = False
            return
        self.dismiss(result)

    @on(Input.Submitted)
    def _enter(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
