"""Many-open-streams load generator: N streams held open at once, ramped up, inter-chunk gaps measured."""

# Opens N connections over --ramp seconds (stream i is due at t0 + i * ramp / N), sends one streaming
# request on each and reads the SSE reply to its end ([DONE] and the terminal chunk). For each reply it
# records the time to the first `data:` event from the send (TTFB) and, for every read that carries an
# event, the gap since the previous event's read: the upstream writes one event every --gap-ms, so
# (gap - gap-ms) is the delay added on the way (by the generator, the gateway, and the mock's own
# timers). Reads carrying more than one event (coalesced) are counted. The generator's own event-loop
# lag is measured by a 10 ms ticker. Raw protocol on uvloop (epoll: no 1,024-fd select() cap), one
# process; it raises its own open-file limit. Loopback only; bounded by --deadline.
# Standalone on purpose: the runner starts it by path.

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from array import array
from typing import Any
from urllib.parse import urlsplit

try:
    from bench.procs import raise_nofile
except ImportError:  # started by path: bench/ itself is on sys.path
    from procs import raise_nofile  # type: ignore[no-redef]

DATA, DONE, END = b"data: ", b"[DONE]", b"0\r\n\r\n"


class Run:
    """Shared counters and samples of one run."""

    def __init__(self, n: int, gap_s: float) -> None:
        self.n, self.gap = n, gap_s
        self.gaps = array("d")  # added delay per event read (s)
        self.ttfb = array("d")
        self.connect = array("d")
        self.lag = array("d")
        self.errs: dict[str, int] = {}
        self.ok = self.events = self.coalesced = 0
        self.open = self.peak_open = 0
        self.all_open_at = 0.0
        self.finished = asyncio.get_running_loop().create_future()
        self.closed = 0

    def err(self, kind: str) -> None:
        self.errs[kind] = self.errs.get(kind, 0) + 1

    def close_one(self) -> None:
        self.closed += 1
        if self.closed >= self.n and not self.finished.done():
            self.finished.set_result(None)


class Stream(asyncio.Protocol):
    __slots__ = ("counted", "done", "head", "last", "raw", "run", "sent", "status", "t", "tail")

    def __init__(self, run: Run, raw: bytes) -> None:
        self.run, self.raw = run, raw
        self.t: asyncio.Transport | None = None
        self.sent = self.last = 0.0
        self.status = 0
        self.head = b""
        self.tail = b""
        self.done = self.counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport  # type: ignore[assignment]
        r = self.run
        r.open += 1
        r.peak_open = max(r.peak_open, r.open)
        if r.peak_open == r.n and not r.all_open_at:
            r.all_open_at = time.perf_counter()
        self.sent = time.perf_counter()
        self.t.write(self.raw)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        r = self.run
        if not self.status:
            self.head += data
            i = self.head.find(b"\r\n\r\n")
            if i < 0:
                return
            try:
                self.status = int(self.head[9:12])
            except ValueError:
                self.status = -1
            data, self.head = self.head[i + 4:], b""
            if self.status != 200:
                self.finish(f"http_{self.status}")
                return
        k = data.count(DATA)
        if k:
            if self.last:
                r.gaps.append(now - self.last - r.gap)
            else:
                r.ttfb.append(now - self.sent)
            self.last = now
            r.events += k
            if k > 1:
                r.coalesced += k - 1
        self.tail = (self.tail + data)[-32:]
        if self.tail.endswith(END) and DONE in self.tail:
            self.finish(None)

    def finish(self, err: str | None) -> None:
        if self.counted:
            return
        self.counted = True
        if err is None:
            self.run.ok += 1
        else:
            self.run.err(err)
        if self.t is not None:
            self.t.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.run.open -= 1
        if not self.counted:
            if self.status == 200 and DONE in self.tail:  # [DONE], then the server closed
                self.finish(None)
            else:
                self.finish("closed_early" if self.status == 200 else "no_reply")
        self.run.close_one()


def pct(vals: array, p: float) -> float | None:
    if not vals:
        return None
    s = sorted(vals)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return round(s[k] * 1e3, 3)


async def ticker(run: Run, stop: asyncio.Event, every: float = 0.01) -> None:
    while not stop.is_set():
        due = time.perf_counter() + every
        await asyncio.sleep(every)
        run.lag.append(max(0.0, time.perf_counter() - due))


async def main_async(a: argparse.Namespace, raw: bytes) -> dict[str, Any]:
    u = urlsplit(a.url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    loop = asyncio.get_running_loop()
    run = Run(a.n, a.gap_ms / 1000.0)
    stop = asyncio.Event()
    tick = loop.create_task(ticker(run, stop))
    t0 = time.perf_counter()
    pending: set[asyncio.Task[Any]] = set()

    async def open_one() -> None:
        c0 = time.perf_counter()
        try:
            await loop.create_connection(lambda: Stream(run, raw), host, port)
            run.connect.append(time.perf_counter() - c0)
        except OSError as e:
            run.err(f"connect_{type(e).__name__}")
            run.close_one()

    i = 0
    while i < a.n:
        now = time.perf_counter()
        due = t0 + i * a.ramp / a.n
        if due > now:
            await asyncio.sleep(due - now)
            continue
        while i < a.n and t0 + i * a.ramp / a.n <= now:
            task = loop.create_task(open_one())
            pending.add(task)
            task.add_done_callback(pending.discard)
            i += 1
    sent_s = time.perf_counter() - t0
    try:
        await asyncio.wait_for(asyncio.shield(run.finished), max(1.0, a.deadline - (time.perf_counter() - t0)))
    except TimeoutError:
        pass
    unfinished = a.n - run.closed
    if unfinished > 0:
        run.errs["unfinished"] = run.errs.get("unfinished", 0) + unfinished
    stop.set()
    await tick
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    expected = a.n * a.chunks
    return dict(mode="streams", n=a.n, ramp_s=a.ramp, gap_ms=a.gap_ms, ok=run.ok,
                errors=sum(run.errs.values()), error_kinds=run.errs, events=run.events,
                events_expected=expected, coalesced=run.coalesced, peak_open=run.peak_open,
                all_open_s=round(run.all_open_at - t0, 3) if run.all_open_at else None,
                sent_s=round(sent_s, 3), wall_s=round(wall, 3),
                added_p50_ms=pct(run.gaps, 50), added_p90_ms=pct(run.gaps, 90), added_p99_ms=pct(run.gaps, 99),
                added_max_ms=round(max(run.gaps) * 1e3, 3) if run.gaps else None,
                ttfb_p50_ms=pct(run.ttfb, 50), ttfb_p99_ms=pct(run.ttfb, 99),
                ttfb_max_ms=round(max(run.ttfb) * 1e3, 3) if run.ttfb else None,
                connect_p99_ms=pct(run.connect, 99),
                gen_lag_p50_ms=pct(run.lag, 50), gen_lag_p99_ms=pct(run.lag, 99),
                gen_lag_max_ms=round(max(run.lag) * 1e3, 3) if run.lag else None,
                gen_cpu_s=round(ru.ru_utime + ru.ru_stime, 2), gen_maxrss_mb=round(ru.ru_maxrss / 1024, 1))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="N concurrent long SSE streams (loopback only).")
    ap.add_argument("--url", required=True)
    ap.add_argument("--body-file", required=True)
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--n", type=int, default=1000, help="concurrent streams")
    ap.add_argument("--ramp", type=float, default=3.0, help="seconds over which the streams are opened")
    ap.add_argument("--gap-ms", type=float, default=250.0, help="the upstream's gap between events")
    ap.add_argument("--chunks", type=int, default=40, help="content events per stream (for the expected count)")
    ap.add_argument("--deadline", type=float, default=60.0, help="seconds until unfinished streams count as errors")
    a = ap.parse_args(argv)
    u = urlsplit(a.url)
    if u.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("refusing non-loopback target")
    if a.n > 20000 or a.deadline > 120 or a.ramp > 30:
        ap.error("bounded load only: n <= 20000, deadline <= 120 s, ramp <= 30 s")
    limit = raise_nofile(a.n + 1024)
    if limit < a.n + 64:
        raise SystemExit(f"open-file limit {limit} is below {a.n + 64} (needs root or a higher hard limit)")
    with open(a.body_file, "rb") as f:
        body = f.read()
    head = [f"POST {u.path or '/'} HTTP/1.1", f"host: {u.hostname}:{u.port or 80}", "user-agent: crabllm-bench/1",
            "accept: text/event-stream", "content-type: application/json", f"content-length: {len(body)}"]
    raw = ("\r\n".join(head + a.header) + "\r\n\r\n").encode() + body
    try:
        import uvloop
        res = uvloop.run(main_async(a, raw))
    except ImportError:
        res = asyncio.run(main_async(a, raw))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
