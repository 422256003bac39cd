"""One load step against one port: open loop through loadgen.py, closed loop through wrk."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import pinned, session_preexec
from bench.scenarios import UNIQUE, Scenario

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Load:
    """Where load runs from and how long each step lasts."""

    core: str | None
    duration: float
    warmup: float
    timeout: float
    conns: int
    tmp: Path
    use_wrk: bool = True
    nice: int = 0


def _loadgen(cmd: list[str], load: Load, budget: float) -> dict[str, Any]:
    try:
        r = subprocess.run(pinned([sys.executable, str(HERE / "loadgen.py"), *cmd, "--json"], load.core),
                           capture_output=True, text=True, timeout=budget, preexec_fn=session_preexec(load.nice))
    except subprocess.TimeoutExpired:
        return {"error": f"load generator did not finish within {budget:.0f}s"}
    if r.returncode != 0 or not r.stdout.strip():
        return {"error": (r.stderr or r.stdout)[-400:].strip() or f"exit {r.returncode}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def _common(port: int, sc: Scenario, headers: dict[str, str], load: Load) -> list[str]:
    body_file = load.tmp / f"body-{sc.name}.json"
    body_file.write_bytes(sc.body_bytes())
    cmd = ["--url", f"http://127.0.0.1:{port}{sc.path}", "--body-file", str(body_file),
           "--duration", str(load.duration), "--warmup", str(load.warmup), "--timeout", str(load.timeout)]
    for k, v in headers.items():
        cmd += ["--header", f"{k}: {v}"]
    if sc.stream:
        cmd.append("--stream")
    if sc.unique:
        cmd += ["--unique", UNIQUE]
    if sc.stream and sc.end:
        cmd += ["--end-marker", sc.end]
    return cmd


def open_loop(port: int, sc: Scenario, headers: dict[str, str], rate: int, load: Load) -> dict[str, Any]:
    """Fixed-rate step; latency from the scheduled send time."""
    cmd = _common(port, sc, headers, load) + ["--mode", "open", "--rate", str(rate)]
    return _loadgen(cmd, load, load.duration + load.warmup + 3 * load.timeout + 30)


def _ms(v: str) -> float | None:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", v)
    if not m:
        return None
    x, unit = float(m.group(1)), m.group(2)
    return round(x * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit], 3)


def parse_wrk(out: str) -> dict[str, Any]:
    """Requests/sec, latency percentiles and error counts from `wrk --latency` output."""
    res: dict[str, Any] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["achieved_rps"] = float(m.group(1)) if m else 0.0
    for p in ("50", "90", "99"):
        m = re.search(rf"^\s+{p}(?:\.000)?%\s+(\S+)", out, re.M)
        res[f"p{p}_ms"] = _ms(m.group(1)) if m else None
    errs: dict[str, int] = {}
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        errs["non_2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        for k, v in zip(("connect", "read", "write", "timeout"), m.groups()):
            if int(v):
                errs[k] = int(v)
    res["error_kinds"] = errs
    res["errors"] = sum(errs.values())
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else 0
    return res


def closed_loop(port: int, sc: Scenario, headers: dict[str, str], load: Load) -> dict[str, Any]:
    """Maximum throughput with load.conns connections (wrk -t1, else loadgen's closed mode)."""
    if not (load.use_wrk and shutil.which("wrk")) or sc.unique:  # wrk sends one fixed body: a cache would hit
        cmd = _common(port, sc, headers, load) + ["--mode", "closed", "--conns", str(load.conns)]
        return _loadgen(cmd, load, load.duration + load.warmup + load.timeout + 30)
    lua = load.tmp / f"wrk-{sc.name}.lua"
    lua.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                   f"wrk.body = [==[{sc.body_bytes().decode()}]==]\n")
    secs = max(1, int(round(load.duration)))
    base = ["wrk", "-t1", f"-c{load.conns}", "--timeout", f"{int(load.timeout)}s", "-s", str(lua)]
    for k, v in headers.items():
        base += ["-H", f"{k}: {v}"]
    url = f"http://127.0.0.1:{port}{sc.path}"
    try:
        if load.warmup > 0:  # open the connections and warm the path; discarded
            subprocess.run(pinned(base + [f"-d{max(1, int(round(load.warmup)))}s", url], load.core),
                           capture_output=True, timeout=load.warmup + 30, preexec_fn=session_preexec(load.nice))
        r = subprocess.run(pinned(base + [f"-d{secs}s", "--latency", url], load.core),
                           capture_output=True, text=True, timeout=secs + 30, preexec_fn=session_preexec(load.nice))
    except subprocess.TimeoutExpired:
        return {"error": "wrk did not finish in time"}
    res = parse_wrk(r.stdout)
    if not res["requests"]:
        res["error"] = (r.stderr or r.stdout)[-300:].strip()
    return dict(mode="closed", conns=load.conns, duration_s=secs, tool="wrk", **res)
