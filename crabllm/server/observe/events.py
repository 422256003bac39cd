"""In-process event feed for the admin SSE route: bounded queues, a slow reader only loses its own events."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

QUEUE_SIZE = 2000


class Subscriber:
    __slots__ = ("queue", "dropped")

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_SIZE)  # None: the feed ends
        self.dropped = 0


class EventBus:
    """Publish never awaits: a full subscriber queue drops that subscriber's oldest event."""

    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()

    def __bool__(self) -> bool:
        return bool(self.subscribers)

    def subscribe(self) -> Subscriber:
        sub = Subscriber()
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        if not self.subscribers:
            return
        frame = b"event: " + kind.encode() + b"\ndata: " + msgspec.json.encode(payload) + b"\n\n"
        for sub in self.subscribers:
            q = sub.queue
            if q.full():
                q.get_nowait()
                sub.dropped += 1
            q.put_nowait(frame)

    def close(self) -> None:
        """End every feed (at shutdown), so open event streams do not hold up the drain."""
        for sub in self.subscribers:
            if sub.queue.full():
                sub.queue.get_nowait()
            sub.queue.put_nowait(None)
