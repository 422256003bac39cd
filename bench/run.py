"""One command for the whole benchmark: direct, relay and crabllm in the same run, then the report."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, NoReturn

if __name__ == "__main__" and not __package__:  # `python bench/run.py` from the project root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import drive, report, streams_run, targets  # noqa: E402
from bench.procs import (Child, Children, StartFailed, http_post, pinned, port_busy,  # noqa: E402
                         ForeignCpu, busy_cpu_pct, proc_tree, tree_mem_mb, tree_runq_wait_ms,
                         session_preexec, wait_quiet)
from bench.plan import Plan, plan_for, steps_for  # noqa: E402
from bench.scenarios import GROUPS, READY_SCENARIO, SCENARIOS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class Recorder:
    """Appends one JSON object per line to the raw results file, and logs a summary line."""

    def __init__(self, f: IO[str], stamp: str) -> None:
        self.f, self.stamp, self.t0 = f, stamp, time.time()

    def emit(self, **rec: Any) -> dict[str, Any]:
        rec = {"run": self.stamp, **rec}
        self.f.write(json.dumps(rec) + "\n")
        self.f.flush()
        return rec

    def log(self, *parts: object) -> None:
        print(f"[{time.time() - self.t0:6.1f}s]", *parts, flush=True)


def line(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"ERROR {r['error'][:160]}"
    ttfb = f" ttfb50 {r['ttfb_p50_ms']}" if r.get("ttfb_p50_ms") is not None and r.get("mode") == "open" else ""
    return (f"rps {r.get('achieved_rps')} p50 {r.get('p50_ms')} p99 {r.get('p99_ms')}{ttfb} "
            f"err {r.get('errors')} {r.get('error_kinds') or ''}")


def settle(t: targets.Target, limit: float = 30.0) -> None:
    """Wait until the target answers a chat promptly again (it may still drain an overload)."""
    end = time.time() + limit
    while time.time() < end:
        a = time.perf_counter()
        status, _ = http_post(t.port, READY_SCENARIO.path, READY_SCENARIO.body_bytes(), t.headers, 5.0)
        if status == 200 and time.perf_counter() - a < 0.2:
            return
        time.sleep(0.5)


def measure(t: targets.Target, child: Child | None, steps: list[tuple[str, str, int]], load: drive.Load,
            rec: Recorder, roots: list[int], idle_wait: float) -> None:
    """Run steps ("open", scenario, rate) / ("closed", scenario, 0) against one started target.
    Before each step wait (bounded) for a quiet machine; record how much CPU others took during it."""
    saturated: dict[str, int] = {}
    foreign = ForeignCpu(roots)
    for mode, name, rate in steps:
        sc = SCENARIOS[name]
        if mode == "open" and name in saturated:
            rec.emit(target=t.name, kind="open", scenario=name, rate=rate,
                     skipped=f"saturated at {saturated[name]} rps")
            continue
        before = wait_quiet(idle_wait) if idle_wait > 0 else None
        foreign.start()
        runq0 = tree_runq_wait_ms(child.pid) if child is not None else 0.0
        if mode == "open":
            r = drive.open_loop(t.port, sc, t.headers, rate, load)
        else:
            r = drive.closed_loop(t.port, sc, t.headers, load)
        r.update(foreign_cpu_pct=foreign.pct(), busy_before_pct=before,
                 gw_runq_wait_ms=round(tree_runq_wait_ms(child.pid) - runq0, 1) if child is not None else None)
        rec.emit(target=t.name, kind=mode, scenario=name, rate=rate if mode == "open" else "max", **r)
        rec.log(f"{t.name:>20} {name:>13} {('@' + str(rate)) if mode == 'open' else 'max':>6}: {line(r)}")
        if child is not None:
            child.check(f"{name} {mode}")
        if mode == "open" and ("error" in r or r["achieved_rps"] < 0.9 * rate
                               or r["errors"] > 0.05 * max(r.get("scheduled", 1), 1)):
            saturated[name] = rate
        settle(t)


#: direct-only scenarios (upstream-format requests), warmed like the groups they stand in for
UPSTREAMS = frozenset(s.upstream for s in SCENARIOS.values() if s.upstream) - {"chat", "stream"}


def warm(t: targets.Target, load: drive.Load, steps: list[tuple[str, str, int]], core: bool) -> None:
    short = dataclasses.replace(load, duration=min(1.0, load.duration), warmup=0.0)
    for name in ("chat", "stream", "embed", "large") if core else ("chat", "stream"):
        drive.open_loop(t.port, SCENARIOS[name], t.headers, 200, short)
    shorter = dataclasses.replace(short, duration=min(0.5, load.duration))
    for name in dict.fromkeys(s[1] for s in steps if SCENARIOS[s[1]].group or s[1] in UPSTREAMS):
        drive.open_loop(t.port, SCENARIOS[name], t.headers, 200, shorter)



def bench_target(t: targets.Target, a: argparse.Namespace, p: Plan, load: drive.Load, kids: Children,
                 rec: Recorder, work: Path, logdir: Path, services: dict[str, Child | None]) -> None:
    child: Child | None = None
    ready_at: float | None = None
    try:
        if "redis" in t.needs:
            if "redis" not in services:
                services["redis"] = start_redis(a, kids, work, logdir)
            if services["redis"] is None:
                raise StartFailed("redis-server is not installed (needed for redis storage)")
        if t.kind != "direct":
            shutil.rmtree(work / "data", ignore_errors=True)
            (work / "data").mkdir(parents=True)
            core = a.gateway_core
            if t.name.startswith("crabllm-workers"):  # -allcores: the gateway's and the generator's cores
                core = f"{a.load_core},{a.gateway_core}" if t.name.endswith("-allcores") else a.workers_cores
            child = kids.add(targets.target_child(t, a.ports, core, logdir, work / "configs", a.crabllm_exe))
            child.start()
            ready = child.wait_ready(t.port, READY_SCENARIO.path, READY_SCENARIO.body_bytes(), t.headers,
                                     limit=a.ready_limit)
            ready_at = ready
            rec.emit(target=t.name, kind="ready", ready_s=round(ready, 3),
                     idle_rss_mb=tree_mem_mb(child.pid, "VmRSS"), n_procs=len(proc_tree(child.pid)))
            rec.log(f"{t.name}: ready in {ready * 1000:.0f} ms")
        steps = steps_for(t, p)
        warm(t, load, steps, "core" in p.groups)
        roots = [child.pid if child else 0] + [c.pid for c in kids.items if c.name in ("mock", "redis")]
        measure(t, child, steps, load, rec, roots, a.idle_wait)
        if t.name.startswith("crabllm-"):
            rec.emit(target=t.name, kind="evidence", **storage_evidence(t, a, work))
        if child is not None:
            rec.emit(target=t.name, kind="rss", peak_rss_mb=tree_mem_mb(child.pid, "VmHWM"),
                     rss_end_mb=tree_mem_mb(child.pid, "VmRSS"), n_procs=len(proc_tree(child.pid)))
    except (StartFailed, FileNotFoundError) as e:
        if ready_at is not None:
            why = "failed during the run"
        elif child is not None and t.name != "crabllm":
            why = "not run: gateway does not support it yet"
        else:
            why = "not run: gateway did not start"
        rec.emit(target=t.name, kind="not_run", reason=why, error=str(e),
                 log=str(child.log) if child else None)
        rec.log(f"{t.name}: {why}: {e}")
    finally:
        if child is not None:
            child.stop()
            if child in kids.items:
                kids.items.remove(child)
        time.sleep(0.5)


def redis_cmd(port: int, cmd: bytes) -> bytes:
    """One inline redis command over a fresh socket; b"" when redis does not answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5) as s:
            s.sendall(cmd + b"\r\n")
            return s.recv(64)
    except OSError:
        return b""


def storage_evidence(t: targets.Target, a: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Did the variant really use its storage? (a gateway may accept a config it does not act on)"""
    data = work / "data"
    files = sorted(p.name for p in data.iterdir()) if data.exists() else []
    out: dict[str, Any] = {"sqlite_files": files}
    if "redis" in t.needs:
        reply = redis_cmd(a.ports.redis, b"DBSIZE")
        out["redis_keys"] = int(reply[1:].split(b"\r")[0]) if reply.startswith(b":") else None
    return out


def start_redis(a: argparse.Namespace, kids: Children, work: Path, logdir: Path) -> Child | None:
    child = targets.redis_child(a.ports, a.load_core, logdir, work / "redis")
    if child is None:
        return None
    kids.add(child).start()
    for _ in range(100):
        if redis_cmd(a.ports.redis, b"PING").startswith(b"+PONG"):
            return child
        time.sleep(0.05)
    return None


def help_time(exe: str | None, core: str | None, nice: int, rec: Recorder) -> None:
    if exe is None:
        rec.emit(target="crabllm", kind="help", error="no crabllm command")
        return
    times: list[float] = []
    rc = 0
    for i in range(6):
        t0 = time.perf_counter()
        r = subprocess.run(pinned([exe, "--help"], core), capture_output=True, timeout=30,
                           preexec_fn=session_preexec(nice))
        if i:  # the first run warms the page cache
            times.append(time.perf_counter() - t0)
        rc = rc or r.returncode
    rec.emit(target="crabllm", kind="help", help_s=round(statistics.median(times), 3),
             help_min_s=round(min(times), 3), returncode=rc)
    rec.log(f"crabllm --help: median {statistics.median(times) * 1000:.0f} ms (exit {rc})")


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="2.5 s steps (~4-5 min) instead of 10 s (~15 min)")
    ap.add_argument("--duration", type=float, help="seconds per measured step (overrides the plan)")
    ap.add_argument("--rates", help="open-loop rates, comma separated (default 100,500,1000)")
    ap.add_argument("--targets", default="direct,relay,crabllm", help="main targets (direct,relay,crabllm)")
    ap.add_argument("--no-variants", action="store_true", help="skip extensions and --workers variants")
    ap.add_argument("--only", default=",".join(GROUPS),
                    help=f"step groups, comma separated, of {','.join(GROUPS)} (default: all). Without core, "
                         "only the raw chat and stream paths run beside the others (their baseline), and no "
                         "variants nor the --help timing")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--big", action="store_true",
                    help="streams group: N = 1,000, 5,000 and 10,000 (default: 1,000 only, unless --only names "
                         "streams explicitly)")
    ap.add_argument("--streams", dest="streams_n", help="streams group: the N to run, comma separated")
    ap.add_argument("--profile", action="store_true",
                    help="streams group: py-spy record (4 s, non-blocking) of crabllm at the largest N")
    ap.add_argument("--crabllm", dest="crabllm_exe_arg", help="path of the crabllm executable")
    ap.add_argument("--load-core", default="0", help="core(s) for load generator, mock and redis")
    ap.add_argument("--gateway-core", default="1", help="core(s) for the gateway under test")
    ap.add_argument("--workers-cores", default="1", help="core(s) for the --workers variant")
    ap.add_argument("--ready-limit", type=float, default=30.0)
    ap.add_argument("--nice", type=int, default=-10 if os.geteuid() == 0 else 0,
                    help="scheduling priority (process and autogroup nice) of every child (default -10 as "
                         "root): keeps other work on a shared machine from taking the cores mid-step")
    ap.add_argument("--idle-wait", type=float, default=None,
                    help="before each step, wait up to this many seconds for a quiet machine "
                         "(default 1 with --quick, else 3; 0: never)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--report", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--mock-port", type=int, default=9000)
    ap.add_argument("--gateway-port", type=int, default=8110)
    ap.add_argument("--relay-port", type=int, default=8102)
    ap.add_argument("--redis-port", type=int, default=6390)
    a = ap.parse_args(argv)
    if a.idle_wait is None:
        a.idle_wait = 1.0 if a.quick else 3.0
    a.groups = [g.strip() for g in a.only.split(",") if g.strip()]
    if not a.groups or set(a.groups) - set(GROUPS):
        ap.error(f"--only takes a comma-separated subset of {','.join(GROUPS)}")
    explicit = "--only" in " ".join(argv if argv is not None else sys.argv[1:]) and "streams" in a.groups
    a.streams_ns = tuple(int(x) for x in a.streams_n.split(",") if x.strip()) if a.streams_n else (
        streams_run.BIG_NS if a.big or explicit else streams_run.QUICK_NS)
    a.ports = targets.Ports(a.mock_port, a.gateway_port, a.relay_port, a.redis_port)
    a.crabllm_exe = targets.find_crabllm(a.crabllm_exe_arg)
    return a


def on_signal(signum: int, _frame: object) -> NoReturn:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    p = plan_for(a)
    wanted = [x.strip() for x in a.targets.split(",") if x.strip()]
    out = Path(a.out).resolve()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = out / f"raw-{stamp}-work"  # configs, bodies, sqlite files, logs: ignored by git (raw-*)
    tlist = [t for t in targets.main_targets(a.ports, "relay" in wanted) if t.name in wanted]
    if not a.no_variants and "crabllm" in wanted:  # storage and workers: in the default plan, or --only
        tlist += [v for v in targets.variant_targets(a.ports, work / "data", a.workers)
                  if ("storage" in p.groups and v.name.startswith("crabllm-ext"))
                  or ("workers" in p.groups and v.name.startswith("crabllm-workers"))]
    ports = sorted({a.ports.mock} | {t.port for t in tlist} | ({a.ports.redis} if any(t.needs for t in tlist) else set()))
    busy = [x for x in ports if port_busy(x)]
    if busy:
        print(f"port(s) {', '.join(map(str, busy))} on 127.0.0.1 are in use; free them first", file=sys.stderr)
        return 2
    if a.nice:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, a.nice)  # inherited by every child started below
        except OSError as e:
            print(f"cannot set priority {a.nice}: {e}; running at the default", file=sys.stderr)
            a.nice = 0
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (&)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    logdir = work / "logs"
    work.mkdir(parents=True)
    raw = out / f"raw-{stamp}.jsonl"
    load = drive.Load(a.load_core, p.duration, p.warmup, p.timeout, p.conns, work, nice=a.nice)
    kids = Children(nice=a.nice)
    services: dict[str, Child | None] = {}
    with open(raw, "w") as f:
        rec = Recorder(f, stamp)
        rec.emit(kind="meta", quick=a.quick, plan=vars(p), ports=vars(a.ports), load_core=a.load_core,
                 gateway_core=a.gateway_core, workers_cores=a.workers_cores, nice=a.nice, crabllm=a.crabllm_exe, wrk=shutil.which("wrk"),
                 taskset=shutil.which("taskset"), python=sys.version.split()[0],
                 commit=subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                       capture_output=True, text=True).stdout.strip())
        try:
            mock = kids.add(targets.mock_child(a.ports, a.load_core, logdir)).start()
            mock.wait_ready(a.ports.mock, READY_SCENARIO.path, READY_SCENARIO.body_bytes(), {}, 10)
            (work / "configs").mkdir(exist_ok=True)
            regular = bool(set(p.groups) - {"streams"})
            for t in tlist if regular else []:
                bg = busy_cpu_pct()
                rec.emit(target=t.name, kind="background", busy_cpu_pct=bg)
                rec.log(f"== {t.name}: {t.label} (machine busy {bg}% before start)")
                bench_target(t, a, p, load, kids, rec, work, logdir, services)
                mock.check(f"{t.name}")
            if "crabllm" in wanted and "core" in p.groups:
                help_time(a.crabllm_exe, a.gateway_core, a.nice, rec)
            if "streams" in p.groups:  # last: 10,000 streams leave sockets in TIME_WAIT behind them
                rec.log(f"== streams: N = {', '.join(map(str, a.streams_ns))} x 40 chunks x 250 ms")
                streams_run.run_group(tlist, a.streams_ns, a, load, kids, work, logdir, mock, rec.emit, rec.log)
        except KeyboardInterrupt:
            rec.log("interrupted; stopping children (no report written: rebuild with python -m bench.report RAW)")
            rec.emit(kind="interrupted")
            return 130
        except StartFailed as e:  # the mock (or redis) died: nothing after this can be trusted
            rec.log(f"aborted: {e}")
            rec.emit(kind="aborted", error=str(e))
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
            kids.stop_all()
            signal.signal(signal.SIGINT, signal.default_int_handler)
    rec.log(f"raw results: {raw}")
    md, png = report.write(raw, Path(a.report), out / "latency.png")
    rec.log(f"report: {md}; charts: {png}, {out / 'streams.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
