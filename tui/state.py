"""What the console knows about the gateway: the latest answers and the recent event feed."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

MAX_EVENTS = 2000


@dataclass
class ConsoleState:
    """Owned by the app, written only by its workers, read by the screens."""

    stats: dict[str, Any] | None = None
    keys: list[dict[str, Any]] | None = None
    providers: list[dict[str, Any]] | None = None
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))
    last_errors: dict[str, str] = field(default_factory=dict)
    received: int = 0  # request events seen since start (the deque forgets, this does not)

    @property
    def config(self) -> dict[str, Any]:
        return (self.stats or {}).get("config") or {}

    def add_request(self, event: dict[str, Any]) -> dict[str, Any]:
        """Store one request event, numbered (`seq`) so views can key rows by it."""
        self.received += 1
        event = {**event, "seq": self.received}
        self.events.append(event)
        provider = event.get("provider")
        if provider and event.get("error"):
            self.last_errors[provider] = str(event["error"])
        return event

    def apply_reload(self, event: dict[str, Any]) -> None:
        """A `reload` event updates the config status before the next stats poll does."""
        if self.stats is None:
            return
        config = dict(self.config)
        if event.get("ok") and isinstance(event.get("generation"), int):
            config["generation"] = event["generation"]
        config["last_reload"] = {k: event.get(k) for k in ("at", "ok", "error", "reason")}
        self.stats = {**self.stats, "config": config}
