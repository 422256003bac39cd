"""The end of every proxied request: cost, access log, stats, metrics and the event feed."""

from __future__ import annotations

import time
from typing import Any

from crabllm.extensions.audit import AuditRecord
from crabllm.registry import Registry
from crabllm.server.observe.access import log_access
from crabllm.server.observe.events import EventBus
from crabllm.server.http import Exchange
from crabllm.server.observe.metrics import Metrics
from crabllm.server.observe.stats import Stats


class Observer:
    """Owned by the Gateway; `finish` is called exactly once per proxied request."""

    def __init__(self) -> None:
        self.stats = Stats()
        self.events = EventBus()
        self.metrics = Metrics()
        self.inflight = 0
        #: The gateway's Telemetry while [telemetry] is set (crabllm.telemetry.tracer), else None.
        self.tracer: Any = None

    def begin(self, ex: Exchange) -> None:
        self.inflight += 1
        self.metrics.inflight.inc()
        if self.tracer is not None:
            self.tracer.start(ex)

    def finish(self, ex: Exchange, registry: Registry) -> None:
        if ex.trace is not None:
            ex.trace.end(ex)
        self.inflight -= 1
        self.metrics.inflight.dec()
        seconds = time.perf_counter() - ex.started
        status = ex.status
        prompt, completion = ex.prompt_tokens, ex.completion_tokens
        cost = registry.cost(ex.provider, ex.model, prompt, completion) if (prompt or completion) and not ex.cached else 0.0
        error = status >= 400 or status == 0 or bool(ex.error)
        key = ex.key.name if ex.key is not None else ""
        self.stats.record(key=key, model=ex.model, provider=ex.provider, error=error, latency_ms=seconds * 1000,
                          prompt=prompt, completion=completion, cost=cost)
        if ex.model:
            self.metrics.observe(ex.provider, ex.model, status, ex.stream, seconds, prompt, completion)
        if self.events:
            self.events.publish("request", {
                "id": ex.request_id.decode(), "time": time.time(), "path": ex.scope["path"], "key": key or None,
                "model": ex.model or None, "provider": ex.provider or None, "status": status, "stream": ex.stream,
                "latency_ms": round(seconds * 1000, 3), "prompt_tokens": prompt, "completion_tokens": completion,
                "cost_usd": round(cost, 9), "error": ex.error or None,
            })
        pipeline = registry.pipeline
        if pipeline is not None and pipeline.audit is not None and ex.model:
            pipeline.record(AuditRecord(
                request_id=ex.request_id.decode(), timestamp=int(time.time() * 1000), key=key, model=ex.model,
                provider=ex.provider, status=status, latency_ms=round(seconds * 1000, 3), prompt_tokens=prompt,
                completion_tokens=completion, cost_usd=round(cost, 9), stream=ex.stream,
                endpoint=ex.scope["path"], error=ex.error or None, cached=ex.cached))
        log_access(ex, registry.config.extensions.logging, ex.body)
