"""The many-open-streams group (issue 14): N concurrent 10 s streams per target, each target started fresh."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import drive, targets
from bench.procs import (
    Child,
    Children,
    ForeignCpu,
    StartFailed,
    pinned,
    proc_tree,
    session_preexec,
    tree_cpu_s,
    tree_fds,
    tree_mem_mb,
    tree_runq_wait_ms,
    wait_quiet,
)
from bench.scenarios import READY_SCENARIO, SCENARIOS

HERE = Path(__file__).resolve().parent
SC = SCENARIOS["stream_long"]
CHUNKS, GAP_MS, STREAM_S = 40, 250.0, 10.5  # what the mock does for models named *long* (+ usage, [DONE])
QUICK_NS, BIG_NS = (1000,), (1000, 5000, 10000)
NOFILE = 65536  # gateway: a client and an upstream socket per stream, plus the rest


def nofile_limit(pid: int) -> int | None:
    """The soft open-file limit in force in a process (/proc/PID/limits)."""
    try:
        with open(f"/proc/{pid}/limits") as f:
            for ln in f:
                if ln.startswith("Max open files"):
                    return int(ln.split()[3])
    except (OSError, ValueError, IndexError):
        pass
    return None


def established(port: int, side: str) -> int:
    """ESTABLISHED TCP sockets on 127.0.0.1 whose local (side="sport") or remote ("dport") port is port."""
    try:
        out = subprocess.run(["ss", "-H", "-tn", "state", "established", f"( {side} = :{port} )"],
                             capture_output=True, text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return -1
    return out.count("\n")


def ramp_s(n: int) -> float:
    """Open the streams over a few seconds (2,000 per second, at least 2 s): all N are open at once."""
    return max(2.0, n / 2000.0)


def _gen_cmd(t: targets.Target, n: int, body: Path, deadline: float) -> list[str]:
    cmd = [sys.executable, str(HERE / "streams.py"), "--url", f"http://127.0.0.1:{t.port}{SC.path}",
           "--body-file", str(body), "--n", str(n), "--ramp", str(ramp_s(n)), "--gap-ms", str(GAP_MS),
           "--chunks", str(CHUNKS + 2), "--deadline", str(deadline)]
    for k, v in t.headers.items():
        cmd += ["--header", f"{k}: {v}"]
    return cmd


def _profile(pid: int, out: Path, core: str | None, seconds: float) -> subprocess.Popen[bytes] | None:
    """py-spy record of the gateway tree (collapsed stacks, non-blocking) at the peak; None without py-spy."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        return None
    cmd = [exe, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--rate", "100",
           "--duration", str(int(seconds)), "--format", "raw", "--output", str(out)]
    return subprocess.Popen(pinned(cmd, core), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def top_frames(raw: Path, k: int = 12) -> list[tuple[str, float]]:
    """Self-time share of the hottest leaf frames in a py-spy raw (collapsed) profile."""
    counts: dict[str, int] = {}
    total = 0
    try:
        for ln in raw.read_text().splitlines():
            stack, _, n = ln.rpartition(" ")
            if not n.isdigit():
                continue
            leaf = stack.split(";")[-1]
            counts[leaf] = counts.get(leaf, 0) + int(n)
            total += int(n)
    except OSError:
        return []
    return [(f, round(100.0 * c / total, 1)) for f, c in sorted(counts.items(), key=lambda x: -x[1])[:k]] if total else []


def one(t: targets.Target, n: int, a: Any, load: drive.Load, kids: Children, work: Path, logdir: Path,
        mock: Child, emit: Callable[..., dict[str, Any]], log: Callable[..., None], profile: bool) -> None:
    """Start the target fresh, hold n streams through it, sample its tree's RSS and fds meanwhile."""
    child: Child | None = None
    try:
        if t.kind != "direct":
            child = kids.add(targets.target_child(t, a.ports, a.gateway_core, logdir, work / "configs", a.crabllm_exe))
            child.nofile = NOFILE
            if t.kind == "relay":  # its aiohttp pool (default 512) must not queue the streams
                child.env["POOL"] = str(n + 256)
            child.start()
            child.wait_ready(t.port, READY_SCENARIO.path, READY_SCENARIO.body_bytes(), t.headers, limit=a.ready_limit)
            short = dataclasses.replace(load, duration=0.5, warmup=0.0)
            for name in ("chat", "stream"):
                drive.open_loop(t.port, SCENARIOS[name], t.headers, 200, short)
            time.sleep(0.5)
        body = load.tmp / "body-stream_long.json"
        body.write_bytes(SC.body_bytes())
        before = wait_quiet(a.idle_wait) if a.idle_wait > 0 else None
        pid = child.pid if child else 0
        idle_rss = tree_mem_mb(pid, "VmRSS") if pid else None
        idle_fds = tree_fds(pid) if pid else None
        cpu0, mcpu0 = (tree_cpu_s(pid) if pid else 0.0), tree_cpu_s(mock.pid)
        runq0 = tree_runq_wait_ms(pid) if pid else 0.0
        foreign = ForeignCpu([pid, mock.pid] + [c.pid for c in kids.items if c.name == "redis"])
        foreign.start()
        deadline = ramp_s(n) + STREAM_S + 25.0
        gen = subprocess.Popen(pinned(_gen_cmd(t, n, body, deadline), load.core), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=session_preexec(load.nice, NOFILE))
        peak_rss, peak_fds, prof, prof_out = idle_rss or 0.0, idle_fds or 0, None, None
        peak_in = peak_up = 0
        ss = shutil.which("ss") is not None
        t0, tick = time.perf_counter(), 0
        while gen.poll() is None and time.perf_counter() - t0 < deadline + 15:
            tick += 1
            if pid:
                peak_rss = max(peak_rss, tree_mem_mb(pid, "VmRSS"))
                peak_fds = max(peak_fds, tree_fds(pid))
                if ss and tick % 2 == 0:  # streams the gateway holds: client side and upstream side
                    peak_in = max(peak_in, established(t.port, "sport"))
                    peak_up = max(peak_up, established(a.ports.mock, "dport"))
                if profile and prof is None and time.perf_counter() - t0 > ramp_s(n) + 3.0:
                    prof_out = work / f"pyspy-{t.name}-{n}.txt"
                    prof = _profile(pid, prof_out, load.core, 4) or False
            time.sleep(0.25)
        if gen.poll() is None:
            gen.kill()
        out, err = gen.communicate(timeout=10)
        if prof:
            prof.wait(15)
        try:
            res: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res = {"error": (err or out or f"exit {gen.returncode}")[-400:].strip()}
        cpu = (tree_cpu_s(pid) - cpu0) if pid else None
        events = res.get("events") or 0
        rec = dict(res, idle_rss_mb=idle_rss, peak_rss_mb=round(peak_rss, 1) if pid else None,
                   rss_per_stream_kb=round((peak_rss - idle_rss) * 1024 / n, 2) if pid and idle_rss else None,
                   gw_cpu_s=round(cpu, 2) if cpu is not None else None,
                   cpu_s_per_1k_chunks=round(cpu / events * 1000, 4) if cpu is not None and events else None,
                   idle_fds=idle_fds, peak_fds=peak_fds if pid else None,
                   peak_client_conns=peak_in if pid and ss else None, peak_upstream_conns=peak_up if pid and ss else None, gw_nofile=nofile_limit(pid) if pid else None, mock_cpu_s=round(tree_cpu_s(mock.pid) - mcpu0, 2),
                   n_procs=len(proc_tree(pid)) if pid else None, foreign_cpu_pct=foreign.pct(), busy_before_pct=before,
                   gw_runq_wait_ms=round(tree_runq_wait_ms(pid) - runq0, 1) if pid else None)
        if prof_out is not None and prof_out.exists():
            rec["profile"] = str(prof_out)
            rec["profile_top"] = top_frames(prof_out)
        emit(target=t.name, kind="streams", scenario=SC.name, rate=n, **rec)
        if "error" in res:
            log(f"{t.name:>20} streams {n:>6}: ERROR {res['error'][:200]}")
        else:
            log(f"{t.name:>20} streams {n:>6}: ok {res['ok']} err {res['errors']} {res['error_kinds'] or ''} "
                f"added p50 {res['added_p50_ms']} p99 {res['added_p99_ms']} ttfb50 {res['ttfb_p50_ms']} "
                f"rss {rec['peak_rss_mb']} MB ({rec['rss_per_stream_kb']} KB/stream) cpu/1k {rec['cpu_s_per_1k_chunks']} "
                f"fds {rec['peak_fds']} conns in/up {rec['peak_client_conns']}/{rec['peak_upstream_conns']} "
                f"genlag99 {res['gen_lag_p99_ms']}")
        if child is not None:
            child.check(f"streams {n}")
    except (StartFailed, FileNotFoundError) as e:
        emit(target=t.name, kind="streams", scenario=SC.name, rate=n, error=f"did not run: {e}")
        log(f"{t.name}: streams {n}: {e}")
    finally:
        if child is not None:
            child.stop()
            if child in kids.items:
                kids.items.remove(child)
        time.sleep(1.0)


def run_group(tlist: list[targets.Target], ns: tuple[int, ...], a: Any, load: drive.Load, kids: Children,
              work: Path, logdir: Path, mock: Child, emit: Callable[..., dict[str, Any]],
              log: Callable[..., None]) -> None:
    """Every N against every main target (direct first: its added delay is the floor of the others)."""
    for t in [x for x in tlist if x.kind in ("direct", "relay", "crabllm") and x.name in ("direct", "relay", "crabllm")]:
        for n in ns:
            one(t, n, a, load, kids, work, logdir, mock, emit, log,
                profile=a.profile and t.kind == "crabllm" and n == max(ns))
            mock.check(f"{t.name} streams {n}")
