"""One access-log line per finished request; nothing is formatted when the level is off."""

from __future__ import annotations

import logging
import time

from crabllm.server.http import Exchange

log = logging.getLogger("crabllm.access")


def log_access(ex: Exchange) -> None:
    status = ex.status
    level = logging.WARNING if status >= 400 or status == 0 else logging.INFO
    if not log.isEnabledFor(level):
        return
    scope = ex.scope
    key = ex.key.name if ex.key is not None else "-"
    latency = (time.perf_counter() - ex.started) * 1000
    extra = f" error={ex.error!r}" if ex.error else ""
    log.log(level, "%s %s %d %.2fms model=%s provider=%s key=%s stream=%s tokens=%d/%d rid=%s%s",
            scope["method"], scope["path"], status, latency, ex.model or "-", ex.provider or "-", key,
            "true" if ex.stream else "false", ex.prompt_tokens, ex.completion_tokens, ex.request_id.decode(), extra)
