"""One log line per finished request, text or JSON; nothing is formatted when the level is off.

Never a secret: the key's name is logged, not the key. Request bodies only with the logging
extension's `log_bodies = true`.
"""

from __future__ import annotations

import logging
import time

import msgspec

from crabllm.config.schema import LoggingExtension
from crabllm.server.http import Exchange

log = logging.getLogger("crabllm.access")
MAX_LOGGED_BODY = 16 * 1024


def log_access(ex: Exchange, fmt: LoggingExtension | None = None, body: bytes | None = None) -> None:
    status = ex.status
    level = logging.WARNING if status >= 400 or status == 0 else logging.INFO
    if not log.isEnabledFor(level):
        return
    scope = ex.scope
    key = ex.key.name if ex.key is not None else "-"
    latency = (time.perf_counter() - ex.started) * 1000
    if fmt is not None and fmt.format == "json":
        record = {"event": "request", "method": scope["method"], "path": scope["path"], "status": status,
                  "latency_ms": round(latency, 3), "model": ex.model or None, "provider": ex.provider or None,
                  "key": key, "stream": ex.stream, "prompt_tokens": ex.prompt_tokens,
                  "completion_tokens": ex.completion_tokens, "cached": ex.cached, "request_id": ex.request_id.decode(),
                  "error": ex.error or None}
        if fmt.log_bodies and body is not None:
            record["request_body"] = body[:MAX_LOGGED_BODY].decode("utf-8", "replace")
        log.log(level, "%s", msgspec.json.encode(record).decode())
        return
    extra = f" error={ex.error!r}" if ex.error else ""
    if ex.cached:
        extra += " cache=hit"
    if fmt is not None and fmt.log_bodies and body is not None:
        extra += f" body={body[:MAX_LOGGED_BODY].decode('utf-8', 'replace')!r}"
    log.log(level, "%s %s %d %.2fms model=%s provider=%s key=%s stream=%s tokens=%d/%d rid=%s%s",
            scope["method"], scope["path"], status, latency, ex.model or "-", ex.provider or "-", key,
            "true" if ex.stream else "false", ex.prompt_tokens, ex.completion_tokens, ex.request_id.decode(), extra)
