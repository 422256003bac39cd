"""HTTP/1.1 load generator: open-loop fixed rate (no coordinated omission) and closed-loop max."""

# Open loop: request i is due at t0 + i/rate whatever the server does; its latency is measured from
# that SCHEDULED time, so a slow server (or a slow generator) cannot hide queueing. The generator's
# own lag behind the schedule is reported as gen_lag_*, and service time from the actual send as
# svc_*. Closed loop: --conns connections each send the next request as soon as the last one is
# answered. Errors: non-200, socket errors, timeouts, streams without [DONE]/message_stop (or --end-marker).
# Loopback only; every run is bounded by --duration plus one --timeout drain. Standalone on purpose.

from __future__ import annotations

import argparse
import asyncio
import json
import os
import selectors
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httptools

Reply = tuple[int, float, bytes, bool]  # status, first body byte time, body tail, keep-alive


class Conn(asyncio.Protocol):
    """One keep-alive connection that carries one request at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.t: asyncio.Transport | None = None
        self.fut: asyncio.Future[Reply] | None = None
        self.closed = False
        self.first = 0.0
        self.tail = b""
        self.end, self.seen = b"", False  # --end-marker (set before each send), and whether this reply had it
        self.parser = httptools.HttpResponseParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.n_open -= 1
        if self.fut is not None and not self.fut.done():
            self.fut.set_exception(ConnectionError("closed"))

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception as e:
            if self.fut is not None and not self.fut.done():
                self.fut.set_exception(e)
            self.close()

    def send(self, raw: bytes, fut: asyncio.Future[Reply]) -> None:
        self.fut, self.first, self.tail, self.seen = fut, 0.0, b"", False
        self.parser = httptools.HttpResponseParser(self)
        self.t.write(raw)  # type: ignore[union-attr]

    def close(self) -> None:
        if self.t is not None:
            self.t.close()

    def on_body(self, body: bytes) -> None:
        if not self.first:
            self.first = time.perf_counter()
        if self.end and not self.seen:  # also across a chunk boundary (the marker is < 64 bytes)
            self.seen = self.end in body or self.end in self.tail + body[:len(self.end)]
        self.tail = (self.tail + body)[-64:]

    def on_message_complete(self) -> None:
        fut, self.fut = self.fut, None
        if fut is not None and not fut.done():
            fut.set_result((self.parser.get_status_code(), self.first, self.tail,
                            self.parser.should_keep_alive()))


class Pool:
    """Idle keep-alive connections; opens a new one when none is idle, up to max_conns."""

    def __init__(self, host: str, port: int, max_conns: int) -> None:
        self.host, self.port, self.max = host, port, max_conns
        self.idle: list[Conn] = []
        self.waiters: list[asyncio.Future[Conn]] = []
        self.n_open = 0
        self.peak_open = 0

    async def get(self) -> Conn:
        while self.idle:
            c = self.idle.pop()
            if not c.closed:
                return c
        if self.n_open < self.max:
            self.n_open += 1
            self.peak_open = max(self.peak_open, self.n_open)
            try:
                _, c = await asyncio.get_running_loop().create_connection(
                    lambda: Conn(self), self.host, self.port)
            except BaseException:
                self.n_open -= 1
                raise
            return c
        f: asyncio.Future[Conn] = asyncio.get_running_loop().create_future()
        self.waiters.append(f)
        return await f

    def put(self, c: Conn) -> None:
        if c.closed:
            return
        while self.waiters:
            w = self.waiters.pop(0)
            if not w.done():
                w.set_result(c)
                return
        self.idle.append(c)

    def close(self) -> None:
        for c in self.idle:
            c.close()


@dataclass
class Spec:
    """One load step."""

    url: str
    body: bytes = b""
    headers: list[str] = field(default_factory=list)
    method: str = ""
    rate: float = 100.0
    duration: float = 5.0
    warmup: float = 1.0
    timeout: float = 10.0
    max_conns: int = 1024
    conns: int = 64
    stream: bool = False
    unique: str = ""  # marker in the body replaced by a fixed-width counter (defeats caches)
    end: str = ""  # a stream is complete when this occurs in its body (default: [DONE]/message_stop at the end)


@dataclass
class Stats:
    """Latency samples and error counts of one recorded phase."""

    lat: list[float] = field(default_factory=list)
    ttfb: list[float] = field(default_factory=list)
    svc: list[float] = field(default_factory=list)
    lag: list[float] = field(default_factory=list)
    errs: dict[str, int] = field(default_factory=dict)
    first_done: float = 0.0
    last_done: float = 0.0

    def err(self, kind: str) -> None:
        self.errs[kind] = self.errs.get(kind, 0) + 1


def runq_wait_ms() -> float:
    """Time this process's threads spent runnable but waiting for a CPU (Linux schedstat), in ms."""
    total = 0
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return total / 1e6


def pct(vals: list[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted values, in ms."""
    if not vals:
        return None
    k = min(len(vals) - 1, max(0, int(round(p / 100.0 * len(vals) + 0.5)) - 1))
    return round(vals[k] * 1e3, 3)


class Requester:
    """Builds raw requests and sends them over a pool, recording into a Stats."""

    def __init__(self, spec: Spec) -> None:
        u = urlsplit(spec.url)
        if u.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("refusing non-loopback target")
        self.spec = spec
        self.pool = Pool(u.hostname, u.port or 80, spec.max_conns)
        method = spec.method or ("POST" if spec.body else "GET")
        head = [f"{method} {u.path or '/'}{'?' + u.query if u.query else ''} HTTP/1.1",
                f"host: {u.hostname}:{u.port or 80}", "user-agent: crabllm-bench/1", "accept: */*"]
        if spec.body:
            head += ["content-type: application/json", f"content-length: {len(spec.body)}"]
        self.head = ("\r\n".join(head + spec.headers) + "\r\n\r\n").encode()
        self.parts = spec.body.split(spec.unique.encode(), 1) if spec.unique else [spec.body]
        self.width = len(spec.unique)
        self.end = spec.end.encode() if spec.stream else b""
        self.n = 0

    def raw(self) -> bytes:
        if len(self.parts) == 1:
            return self.head + self.parts[0]
        self.n += 1
        return b"".join((self.head, self.parts[0], b"%0*d" % (self.width, self.n % 10 ** self.width),
                         self.parts[1]))

    async def one(self, start: float, st: Stats | None) -> None:
        """One request; latency counted from start (the scheduled time in open loop)."""
        sp = self.spec
        try:
            c = await asyncio.wait_for(self.pool.get(), sp.timeout)
            fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
            sent = time.perf_counter()
            c.end = self.end
            c.send(self.raw(), fut)
            try:
                status, first, tail, keep = await asyncio.wait_for(fut, sp.timeout)
            except BaseException:
                c.close()
                raise
            end = time.perf_counter()
            self.pool.put(c) if keep else c.close()
            if st is None:
                return
            if status != 200:
                st.err(f"http_{status}")
            elif sp.stream and not (c.seen if self.end else (b"[DONE]" in tail or b"message_stop" in tail)):
                st.err("no_done")
            else:
                st.lat.append(end - start)
                st.svc.append(end - sent)
                if first:
                    st.ttfb.append(first - start)
                st.last_done = max(st.last_done, end)
                st.first_done = st.first_done or end
        except asyncio.TimeoutError:
            if st is not None:
                st.err("timeout")
        except Exception as e:
            if st is not None:
                st.err(type(e).__name__)


def summary(st: Stats, extra: dict[str, Any]) -> dict[str, Any]:
    """Sort the samples and reduce them to the reported figures."""
    for v in (st.lat, st.ttfb, st.svc, st.lag):
        v.sort()
    ok = len(st.lat)
    # completions over the span first..last completion: robust to long latencies and drained backlogs
    span = (st.last_done - st.first_done) * ok / (ok - 1) if ok > 1 else 0.0
    return dict(extra, ok=ok, errors=sum(st.errs.values()), error_kinds=st.errs,
                achieved_rps=round(ok / span, 1) if span > 0 else 0.0,
                p50_ms=pct(st.lat, 50), p90_ms=pct(st.lat, 90), p99_ms=pct(st.lat, 99),
                max_ms=round(st.lat[-1] * 1e3, 3) if st.lat else None,
                ttfb_p50_ms=pct(st.ttfb, 50), ttfb_p90_ms=pct(st.ttfb, 90), ttfb_p99_ms=pct(st.ttfb, 99),
                svc_p50_ms=pct(st.svc, 50), svc_p99_ms=pct(st.svc, 99),
                gen_lag_p50_ms=pct(st.lag, 50), gen_lag_p99_ms=pct(st.lag, 99),
                gen_lag_max_ms=round(st.lag[-1] * 1e3, 3) if st.lag else None)


async def run_open(spec: Spec) -> dict[str, Any]:
    """Fixed-rate schedule; returns the summary of the recorded phase."""
    rq = Requester(spec)
    loop = asyncio.get_running_loop()
    inflight: set[asyncio.Task[None]] = set()
    warm = [await rq.pool.get() for _ in range(min(16, spec.max_conns))]
    for c in warm:
        rq.pool.put(c)

    async def phase(seconds: float, st: Stats | None) -> None:
        n = int(spec.rate * seconds)
        t0 = time.perf_counter() + 0.005
        i = 0
        while i < n:
            now = time.perf_counter()
            due = t0 + i / spec.rate
            if due > now:
                await asyncio.sleep(due - now)
                continue
            while i < n and t0 + i / spec.rate <= now:
                sched = t0 + i / spec.rate
                if st is not None:
                    st.lag.append(now - sched)
                task = loop.create_task(rq.one(sched, st))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
                i += 1

    if spec.warmup > 0:
        await phase(spec.warmup, None)
        if inflight:
            await asyncio.wait(list(inflight), timeout=spec.timeout)
    st = Stats()
    wait0 = runq_wait_ms()
    await phase(spec.duration, st)
    if inflight:
        done, pending = await asyncio.wait(list(inflight), timeout=spec.timeout + 1)
        for task in pending:
            task.cancel()
            st.err("unfinished")
    rq.pool.close()
    return summary(st, dict(mode="open", target_rps=spec.rate, duration_s=spec.duration,
                            scheduled=int(spec.rate * spec.duration), peak_conns=rq.pool.peak_open,
                            gen_runq_wait_ms=round(runq_wait_ms() - wait0, 1)))


async def run_closed(spec: Spec) -> dict[str, Any]:
    """spec.conns workers, each one request at a time, for the warmup then the duration."""
    rq = Requester(spec)
    rq.pool.max = spec.conns
    st = Stats()
    recording: list[Stats | None] = [None]
    stop_at = [0.0]

    async def worker() -> None:
        while time.perf_counter() < stop_at[0]:
            await rq.one(time.perf_counter(), recording[0])

    stop_at[0] = time.perf_counter() + spec.warmup + spec.duration
    tasks = [asyncio.ensure_future(worker()) for _ in range(spec.conns)]
    await asyncio.sleep(spec.warmup)
    recording[0] = st
    t0 = time.perf_counter()
    await asyncio.wait(tasks, timeout=spec.duration + spec.timeout + 1)
    elapsed = time.perf_counter() - t0
    for task in tasks:
        task.cancel()
    rq.pool.close()
    res = summary(st, dict(mode="closed", conns=spec.conns, duration_s=spec.duration, tool="loadgen"))
    return dict(res, achieved_rps=round(len(st.lat) / elapsed, 1) if elapsed > 0 else 0.0)


def parse_args(argv: list[str] | None) -> tuple[str, Spec, bool, str]:
    ap = argparse.ArgumentParser(description="HTTP/1.1 load generator (loopback only).")
    ap.add_argument("--url", required=True)
    ap.add_argument("--mode", choices=("open", "closed"), default="open")
    ap.add_argument("--body")
    ap.add_argument("--body-file")
    ap.add_argument("--method", default="")
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--rate", type=float, default=100.0, help="open loop: requests per second")
    ap.add_argument("--conns", type=int, default=64, help="closed loop: concurrent connections")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--max-conns", type=int, default=1024)
    ap.add_argument("--stream", action="store_true", help="a reply must end with [DONE]/message_stop")
    ap.add_argument("--unique", default="", help="body marker replaced by a per-request counter")
    ap.add_argument("--end-marker", default="", help="with --stream: complete when these bytes occur in the reply")
    ap.add_argument("--loop", choices=("auto", "select", "uvloop"), default="auto",
                    help="auto: precise select() loop for open, uvloop for closed")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    body = a.body or ""
    if a.body_file:
        with open(a.body_file) as f:
            body = f.read()
    if a.duration > 120 or a.warmup > 30 or a.rate * (a.duration + a.warmup) > 300_000:
        ap.error("bounded load only: duration <= 120 s, warmup <= 30 s, rate*time <= 300000")
    spec = Spec(a.url, body.encode(), a.header, a.method, a.rate, a.duration, a.warmup, a.timeout,
                a.max_conns, a.conns, a.stream, a.unique, a.end_marker)
    return a.mode, spec, a.json, a.loop


def precise_loop() -> asyncio.AbstractEventLoop:
    """Stock asyncio over select(): its timers wake within microseconds, where uvloop's and epoll's
    round to whole milliseconds (which would add ~0.3 ms of generator lag to every open-loop
    sample). select() only takes fds below 1024, hence the connection cap in open mode."""
    try:  # 1 ns timer slack instead of the default 50 us (Linux only, best effort)
        import ctypes
        ctypes.CDLL(None).prctl(29, 1, 0, 0, 0)  # PR_SET_TIMERSLACK
    except (OSError, AttributeError):
        pass
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


def execute(mode: str, spec: Spec, loop_kind: str = "auto") -> dict[str, Any]:
    """Run one step on a fresh event loop: precise select() loop for open, uvloop for closed."""
    if loop_kind == "auto":
        loop_kind = "select" if mode == "open" else "uvloop"
    if loop_kind == "select":
        spec.max_conns = min(spec.max_conns, 960)
        loop = precise_loop()
    else:
        try:
            import uvloop
            loop = uvloop.new_event_loop()
        except ImportError:
            loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(run_open(spec) if mode == "open" else run_closed(spec))
    finally:
        loop.close()


def main(argv: list[str] | None = None) -> None:
    mode, spec, as_json, loop_kind = parse_args(argv)
    res = execute(mode, spec, loop_kind)
    print(json.dumps(res) if as_json else "\n".join(f"{k:>16}: {v}" for k, v in res.items()))


if __name__ == "__main__":
    main()
