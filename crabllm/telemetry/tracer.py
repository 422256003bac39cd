"""Tracing per the GenAI semantic conventions: a SERVER span per proxied request, a CLIENT span per attempt."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from crabllm.config.schema import TelemetryConfig
from crabllm.config.secret import Secret
from crabllm.errors import CrabError, UpstreamError
from crabllm.telemetry.context import ACTIVE
from crabllm.telemetry.exporter import Exporter
from crabllm.telemetry.names import operation, provider_name
from crabllm.telemetry.otlp import Encoder
from crabllm.telemetry.span import CLIENT, SERVER, Span, clean_tracestate, parse_traceparent, traceparent

T = TypeVar("T")
_LOW64 = (1 << 64) - 1
#: The top-level "model" of an OpenAI / Anthropic answer or first stream chunk. A "model" inside
#: message text is JSON-escaped (\"model\"), so it cannot match.
_MODEL_RE = re.compile(rb'"model"\s*:\s*"([^"\\]{1,256})"')
_SNIFF_BYTES = 64 * 1024


class Telemetry:
    """One [telemetry] table: sampling, ids, span building, and its batching exporter."""

    def __init__(self, cfg: TelemetryConfig, session: Any, *, version: str = "") -> None:
        self.cfg = cfg
        headers = {k: v.reveal() if isinstance(v, Secret) else v for k, v in cfg.headers.items()}
        resource: dict[str, Any] = {"service.name": cfg.service_name, "telemetry.sdk.name": "crabllm",
                                    "telemetry.sdk.language": "python"}
        if version:
            resource["service.version"] = resource["telemetry.sdk.version"] = version
        self.exporter = Exporter(session, cfg.endpoint, headers, cfg.timeout, Encoder(resource, "crabllm", version))
        # As OpenTelemetry's TraceIdRatioBased: keep a new trace when its low 64 bits fall below the bound.
        self._bound = round(cfg.sample_ratio * (1 << 64))
        self._rng = random.Random()  # seeded from os.urandom; ids need to be unique, not secret
        self._servers: dict[str, tuple[str, int]] = {}

    def new_id(self, bits: int) -> int:
        return self._rng.getrandbits(bits) or 1

    def start(self, ex: Any) -> None:
        """Open the request's SERVER span (a child of the client's `traceparent`) and make it current."""
        scope = ex.scope
        header = state = ""
        for name, value in scope["headers"]:
            if name == b"traceparent":
                header = value.decode("latin-1")
            elif name == b"tracestate":
                state = value.decode("latin-1")
        parent = parse_traceparent(header) if header else None
        if parent is not None:
            trace_id, parent_id, parent_flags = parent
            sampled = parent_flags & 1  # parent-based: the caller's decision stands
            flags = (parent_flags & 0x02) | sampled  # keep W3C level 2's "random trace id" bit
            state = clean_tracestate(state) if state else ""
        else:
            trace_id, parent_id = self.new_id(128), 0
            sampled = flags = 1 if (trace_id & _LOW64) < self._bound else 0
            state = ""
        span_id = self.new_id(64)
        path = scope["path"]
        op, output = operation(path)
        trace = RequestTrace(self, trace_id, span_id, flags, state, op)
        if sampled:
            attributes: dict[str, Any] = {"gen_ai.operation.name": op, "http.request.method": scope["method"],
                                          "http.route": path}
            if output is not None:
                attributes["gen_ai.output.type"] = output
            trace.span = Span(trace_id, span_id, parent_id, op, SERVER, time.time_ns(), attributes, flags=flags,
                              state=state, remote_parent=parent is not None)
        trace.token = ACTIVE.set(trace)
        ex.trace = trace

    def server(self, provider: Any) -> tuple[str, int] | None:
        """(server.address, server.port) of a deployment, from its base URL."""
        base = getattr(provider, "base_url", None)
        if not base:
            return None
        found = self._servers.get(base)
        if found is None:
            parts = urlsplit(base)
            found = (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
            if len(self._servers) < 1024:
                self._servers[base] = found
        return found

    async def stop(self) -> None:
        await self.exporter.stop()


class RequestTrace:
    """The trace of one proxied request; `upstream` is the span an upstream POST names as its parent.

    `span` is None when the trace is not sampled: ids still flow (so the upstream can follow the
    decision) but nothing is recorded or exported.
    """

    __slots__ = ("tel", "trace_id", "span_id", "flags", "tracestate", "op", "span", "token", "upstream", "kind",
                 "response_model")

    def __init__(self, tel: Telemetry, trace_id: int, span_id: int, flags: int, tracestate: str, op: str) -> None:
        self.tel = tel
        self.trace_id = trace_id
        self.span_id = span_id
        self.flags = flags
        self.tracestate = tracestate
        self.op = op
        self.span: Span | None = None
        self.token: Any = None
        self.upstream = span_id
        self.kind = ""
        self.response_model = ""

    def traceparent(self) -> str:
        """The `traceparent` header for an upstream request made now (formatted only when one is made)."""
        return traceparent(self.trace_id, self.upstream, self.flags)

    async def attempt(self, call: Callable[[Any], Awaitable[T]], provider: Any, model: str, number: int,
                      retry: int) -> T:
        """Run one upstream attempt inside its CLIENT span (the span the upstream sees as its parent)."""
        tel = self.tel
        span_id = tel.new_id(64)
        own, self.upstream = self.upstream, span_id
        span = None
        if self.span is not None:
            attributes: dict[str, Any] = {
                "gen_ai.operation.name": self.op, "gen_ai.request.model": model,
                "gen_ai.provider.name": provider_name(provider.kind), "crabllm.deployment": provider.name,
                "crabllm.attempt": number,
            }
            if retry:
                attributes["http.request.resend_count"] = retry
            server = tel.server(provider)
            if server is not None:
                attributes["server.address"], attributes["server.port"] = server
            span = Span(self.trace_id, span_id, self.span_id, f"{self.op} {model}" if model else self.op, CLIENT,
                        time.time_ns(), attributes, flags=self.flags, state=self.tracestate)
        try:
            result = await call(provider)
        except CrabError as e:
            if span is not None:
                if isinstance(e, UpstreamError):
                    span.attributes["http.response.status_code"] = e.status
                span.attributes["error.type"] = error_type(e)
                span.error, span.message = True, e.message
            raise
        except BaseException as e:  # cancelled (client gone, a deadline): still an ended span
            if span is not None:
                span.attributes["error.type"] = type(e).__qualname__
                span.error = True
            raise
        else:
            self.kind = provider.kind
            if span is not None:
                status, found = _inspect(result)
                if status:
                    span.attributes["http.response.status_code"] = status
                if found:
                    self.response_model = span.attributes["gen_ai.response.model"] = found
            return result
        finally:
            self.upstream = own
            if span is not None:
                span.end = time.time_ns()
                tel.exporter.add(span)

    def end(self, ex: Any) -> None:
        """Close the SERVER span with what the request ended as (once, from Observer.finish)."""
        try:
            span = self.span
            if span is None:
                return
            model, status = ex.model, ex.status
            if model:
                span.name = f"{self.op} {model}"
            a = span.attributes
            a["http.response.status_code"] = status
            a["crabllm.stream"] = ex.stream
            a["crabllm.request_id"] = ex.request_id.decode("latin-1")
            if model:
                a["gen_ai.request.model"] = model
            if self.response_model:
                a["gen_ai.response.model"] = self.response_model
            if self.kind:
                a["gen_ai.provider.name"] = provider_name(self.kind)
            if ex.provider:
                a["crabllm.provider"] = ex.provider
            if ex.key is not None:
                a["crabllm.key"] = ex.key.name  # the key's name; its secret is never known here
            if ex.cached:
                a["crabllm.cached"] = True
            if ex.prompt_tokens or ex.completion_tokens:
                a["gen_ai.usage.input_tokens"] = ex.prompt_tokens
                a["gen_ai.usage.output_tokens"] = ex.completion_tokens
            if status >= 400 or status == 0:
                a["error.type"] = str(status) if status else "_OTHER"
            elif ex.error:
                a["error.type"] = "stream_error"  # answered 200, then the stream broke
            # As HTTP server spans: a 4xx is the client's, not an error of this span.
            if status >= 500 or status == 0 or (ex.error and status < 400):
                span.error, span.message = True, ex.error
            span.end = time.time_ns()
            self.tel.exporter.add(span)
        finally:
            try:
                ACTIVE.reset(self.token)
            except ValueError:  # finished in another context than it began in
                ACTIVE.set(None)


def error_type(e: CrabError) -> str:
    """A low-cardinality error.type: the upstream status, else the error's code or class."""
    if isinstance(e, UpstreamError):
        return str(e.status)
    return e.code or type(e).__name__


def _inspect(result: Any) -> tuple[int, str]:
    """Best effort from an attempt's result: the upstream status and the answer's model."""
    status, model = 0, ""
    for item in result if isinstance(result, tuple) else (result,):
        if isinstance(item, (bytes, bytearray)):
            if not model:
                m = _MODEL_RE.search(item, 0, _SNIFF_BYTES)
                if m:
                    model = m.group(1).decode("utf-8", "replace")
        elif not status and isinstance(getattr(item, "status", None), int):
            status = item.status
    return status, model
