"""Prometheus metrics; with several workers they share PROMETHEUS_MULTIPROC_DIR and are summed."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from crabllm.routing.loads import Loads

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def status_class(status: int) -> str:
    if status == 429:
        return "429"
    if status >= 500 or status == 0:
        return "5xx"
    if status >= 400:
        return "4xx"
    return "2xx"


class Metrics:
    """Label children are cached so an observation is a dict lookup plus the increment."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry(auto_describe=True)
        reg = None if self.multiprocess else self.registry
        kw = {"registry": reg} if reg is not None else {}
        self.duration = Histogram("crabllm_request_duration_seconds", "Request duration until the last byte",
                                  ["provider", "model", "status", "stream"], buckets=BUCKETS, **kw)
        self.tokens = Counter("crabllm_tokens_total", "Tokens by direction", ["provider", "model", "direction"], **kw)
        self.upstream_errors = Counter("crabllm_upstream_errors_total", "Failed requests by provider and status",
                                       ["provider", "status"], **kw)
        self.inflight = Gauge("crabllm_inflight_requests", "Requests in flight, streams until their end",
                              multiprocess_mode="livesum", **kw)
        self.circuit_open = Gauge("crabllm_circuit_open", "1 while the deployment's circuit breaker is open",
                                  ["provider", "model"], multiprocess_mode="max", **kw)
        # Per worker, published each second (Gateway.publish_loads): in-flight sums over live workers,
        # the latency estimate reports the worst worker's view.
        self.deployment_latency = Gauge("crabllm_deployment_latency_ewma_seconds",
                                        "Peak-EWMA latency (time to first byte for streams) of the deployment",
                                        ["provider", "model"], multiprocess_mode="livemax", **kw)
        self.deployment_inflight = Gauge("crabllm_deployment_inflight", "Attempts and open streams on the deployment",
                                         ["provider", "model"], multiprocess_mode="livesum", **kw)
        self._children: dict[tuple[str, str, str, bool], object] = {}
        #: (provider, model) -> the (prompt, completion) token counters: `labels()` costs ~2 µs a call.
        self._token_children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def observe(self, provider: str, model: str, status: int, stream: bool, seconds: float,
                prompt: int, completion: int) -> None:
        cls = status_class(status)
        key = (provider, model, cls, stream)
        child = self._children.get(key)
        if child is None:
            if len(self._children) > 10000:
                self._children.clear()
            child = self._children[key] = self.duration.labels(provider or "-", model or "-", cls, "true" if stream else "false")
        child.observe(seconds)  # type: ignore[attr-defined]
        if prompt or completion:
            counters = self._token_children.get((provider, model))
            if counters is None:
                if len(self._token_children) > 10000:
                    self._token_children.clear()
                p, m = provider or "-", model or "-"
                counters = self._token_children[(provider, model)] = (self.tokens.labels(p, m, "prompt"),
                                                                      self.tokens.labels(p, m, "completion"))
            if prompt:
                counters[0].inc(prompt)
            if completion:
                counters[1].inc(completion)
        if status >= 500 or status == 0:
            self.upstream_errors.labels(provider or "-", str(status)).inc()

    def publish_loads(self, loads: Loads) -> None:
        """Copy every deployment's in-flight count and latency estimate into the gauges."""
        for dep, load in list(loads.deps.items()):
            provider, _, model = dep.partition("/")
            self.deployment_inflight.labels(provider, model).set(load.inflight)
            if load.samples:
                self.deployment_latency.labels(provider, model).set(load.ewma)

    def render(self) -> bytes:
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
