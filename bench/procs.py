"""Child processes for the benchmark: pinned start, readiness, memory, and a guaranteed stop."""

from __future__ import annotations

import http.client
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


def raise_nofile(want: int) -> int:
    """Raise this process's open-file limit to `want` (the hard limit too when allowed, i.e. as root);
    falls back to the hard limit. Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    for lim in ((want, max(want, hard)), (min(want, hard), hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, lim)
            return lim[0]
        except (ValueError, OSError):
            continue
    return soft


def session_preexec(nice: int, nofile: int = 0) -> Callable[[], None]:
    """For Popen(preexec_fn=...): a new session (so a group signal reaches only this child) whose
    scheduler autogroup gets `nice`. With kernel.sched_autogroup_enabled, a process's own nice only
    ranks it inside its session's autogroup; across sessions the autogroup nice is what counts.
    nofile > 0: raise the child's open-file limit (10,000 streams need 20,000+ fds in a gateway)."""
    def pre() -> None:
        os.setsid()
        if nofile:
            raise_nofile(nofile)
        if nice:
            try:
                with open("/proc/self/autogroup", "w") as f:
                    f.write(str(nice))
            except OSError:
                pass
            try:
                os.setpriority(os.PRIO_PROCESS, 0, nice)
            except OSError:
                pass
    return pre


class StartFailed(Exception):
    """A child did not become ready; the message says why (with the log's error line)."""


def port_busy(port: int) -> bool:
    """True when something on 127.0.0.1 accepts connections on port, or the port cannot be bound."""
    with socket.socket() as s:
        s.settimeout(0.3)
        if s.connect_ex(("127.0.0.1", port)) == 0:
            return True
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are fine
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def pinned(cmd: list[str], core: str | None) -> list[str]:
    """Prefix cmd with taskset when it exists and a core list is given."""
    if core and shutil.which("taskset"):
        return ["taskset", "-c", core, *cmd]
    return cmd


def error_line(text: str) -> str:
    """The most telling line of a log: a traceback's exception line or the last error-ish line."""
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return "(empty log)"
    pat = re.compile(r"(?i)error|exception|failed|fatal|cannot|can't|unable|invalid|unknown|"
                     r"not supported|unsupported|refus|no such|usage:")
    best = (len(lines) - 1, lines[-1].strip())
    for i in range(len(lines) - 1, -1, -1):
        if pat.search(lines[i]):
            best = (i, lines[i].strip())
            break
    tbs = [i for i, ln in enumerate(lines) if ln.lstrip().startswith("Traceback (most recent call last)")]
    if tbs:
        indent = len(lines[tbs[-1]]) - len(lines[tbs[-1]].lstrip())
        for i in range(tbs[-1] + 1, len(lines)):
            if len(lines[i]) - len(lines[i].lstrip()) == indent and i >= best[0]:
                best = (i, lines[i].strip())
                break
    return best[1][:300]


def log_error_line(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - 65536))
            return error_line(f.read().decode("utf-8", "replace"))
    except OSError as e:
        return f"(no log: {e})"


def proc_tree(root: int) -> list[int]:
    """root and all its descendants, from /proc."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def mem_kb(pid: int, fld: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(fld + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_mem_mb(root: int, fld: str = "VmHWM") -> float:
    """Sum of a /proc status field (VmHWM = peak RSS, VmRSS = now) over a process tree, in MB."""
    return round(sum(mem_kb(p, fld) for p in proc_tree(root)) / 1024.0, 1)


def http_post(port: int, path: str, body: bytes, headers: dict[str, str],
              timeout: float = 3.0) -> tuple[int, bytes]:
    """One request over a fresh connection; status 0 and the error text when no HTTP answer came."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST" if body else "GET", path, body=body or None,
                     headers={"content-type": "application/json", **headers})
        r = conn.getresponse()
        return r.status, r.read()
    except (OSError, http.client.HTTPException) as e:
        return 0, repr(e).encode()
    finally:
        conn.close()


@dataclass
class Child:
    """A process started in its own session; only its own group is ever signalled."""

    name: str
    cmd: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    nice: int = 0
    nofile: int = 0
    popen: subprocess.Popen[bytes] | None = None
    started: float = 0.0

    def start(self) -> Child:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as lf:
            lf.write(("$ " + " ".join(self.cmd) + "\n").encode())
            lf.flush()
            self.started = time.perf_counter()
            self.popen = subprocess.Popen(self.cmd, stdout=lf, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, cwd=self.cwd,
                                          env={**os.environ, **self.env},
                                          preexec_fn=session_preexec(self.nice, self.nofile))
        return self

    @property
    def pid(self) -> int:
        return self.popen.pid if self.popen else 0

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check(self, step: str) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise StartFailed(f"{self.name} exited with code {self.popen.returncode} during {step}: "
                              f"{log_error_line(self.log)}")

    def wait_ready(self, port: int, path: str, body: bytes, headers: dict[str, str],
                   limit: float = 30.0) -> float:
        """Poll every 10 ms until a 200 answers; seconds since start. Fails early if it exits, or
        if it answers only non-200 for 10 s (the reason is its last answer)."""
        first_answer = 0.0
        status, reply = 0, b""
        while time.perf_counter() - self.started < limit:
            status, reply = http_post(port, path, body, headers, timeout=2.0)
            if status == 200:
                return time.perf_counter() - self.started
            if not self.alive():
                raise StartFailed(f"exited with code {self.popen.returncode if self.popen else '?'} "
                                  f"before it was ready: {log_error_line(self.log)}")
            if status:
                first_answer = first_answer or time.perf_counter()
                if time.perf_counter() - first_answer > 10:
                    raise StartFailed(f"answers HTTP {status}: {reply[:200].decode('utf-8', 'replace')}")
            time.sleep(0.01)
        last = f"HTTP {status}: {reply[:160].decode('utf-8', 'replace')}" if status else "no HTTP answer"
        raise StartFailed(f"not ready after {limit:.0f}s ({last}); log: {log_error_line(self.log)}")

    def stop(self, grace: float = 8.0) -> None:
        """SIGTERM the child's own process group, then SIGKILL it after grace seconds."""
        p = self.popen
        if p is None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                break
            try:
                p.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # the group may outlive its leader (e.g. worker processes): make sure it is gone
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen = None


@dataclass
class Children:
    """Every child the run started, stopped in reverse order by stop_all (idempotent)."""

    nice: int = 0
    nofile: int = 0
    items: list[Child] = field(default_factory=list)

    def add(self, child: Child) -> Child:
        child.nice = self.nice
        child.nofile = child.nofile or self.nofile
        self.items.append(child)
        return child

    def stop_all(self) -> None:
        while self.items:
            self.items.pop().stop()


def busy_cpu_pct(seconds: float = 1.0) -> float:
    """Machine-wide CPU use over a short idle window: what other processes take before a step."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            vals = [int(x) for x in f.readline().split()[1:]]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return sum(vals), idle

    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
    except (OSError, ValueError, IndexError):
        return -1.0
    return round(100.0 * (1 - (i1 - i0) / max(t1 - t0, 1)), 1)


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system) used so far by a live process tree."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in proc_tree(root):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent not idle, from /proc/stat."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    return (sum(vals) - vals[3] - (vals[4] if len(vals) > 4 else 0)) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    """CPU seconds of this process's waited-for children (load generator and wrk runs)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


@dataclass
class ForeignCpu:
    """Measures how much CPU processes outside the benchmark took during a step."""

    roots: list[int]
    t0: float = 0.0
    busy0: float = 0.0
    ours0: float = 0.0

    def ours(self) -> float:
        return sum(tree_cpu_s(p) for p in self.roots if p) + children_cpu_s() + time.process_time()

    def start(self) -> None:
        self.t0, self.busy0, self.ours0 = time.perf_counter(), machine_busy_s(), self.ours()

    def pct(self) -> float:
        """Foreign CPU since start, in % of the whole machine."""
        wall = time.perf_counter() - self.t0
        foreign = (machine_busy_s() - self.busy0) - (self.ours() - self.ours0)
        return round(max(0.0, 100.0 * foreign / max(wall * (os.cpu_count() or 1), 1e-9)), 1)


def wait_quiet(limit: float, threshold: float = 15.0) -> float:
    """Wait (at most limit seconds) until the machine is under threshold % busy; returns the last %."""
    end = time.perf_counter() + limit
    pct = busy_cpu_pct(0.3)
    while pct > threshold and time.perf_counter() < end:
        time.sleep(0.5)
        pct = busy_cpu_pct(0.3)
    return pct


def tree_fds(root: int) -> int:
    """Open file descriptors over a process tree (entries of /proc/PID/fd)."""
    n = 0
    for pid in proc_tree(root):
        try:
            n += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            pass
    return n


def tree_runq_wait_ms(root: int) -> float:
    """Milliseconds the threads of a process tree spent runnable but waiting for a CPU (schedstat)."""
    total = 0
    for pid in proc_tree(root):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return total / 1e6
