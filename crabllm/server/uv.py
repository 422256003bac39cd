"""uvicorn server tuned for the gateway: SIGINT/SIGTERM drain in-flight work, then exit 0."""

from __future__ import annotations

import logging
from types import FrameType

import uvicorn

log = logging.getLogger("crabllm.serve")


class DrainingServer(uvicorn.Server):
    """A first signal drains (up to the graceful timeout); a second one forces the exit."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # uvicorn re-raises captured signals after shutdown, which would turn a clean drain
        # into death-by-signal; we record nothing so the process exits 0.
        if self.should_exit:
            log.warning("second shutdown signal: forcing exit")
            self.force_exit = True
            return
        log.info("shutdown signal received, draining connections (timeout %ss)",
                 self.config.timeout_graceful_shutdown)
        self.should_exit = True
        begin = getattr(self.config.app, "begin_shutdown", None)
        if begin is not None:
            begin()
