"""Run a command (e.g. the shared peer harness) with it and all its descendants at a higher priority."""

# Usage: python -m bench.boost [--nice -10] -- bash ../shared/bench-peers/run_peer_bench.sh --out ...
# With kernel.sched_autogroup_enabled, `nice` alone does not help a harness whose children start their
# own sessions: each session gets a fresh autogroup at nice 0. This keeps every descendant's
# autogroup at --nice while the command runs. It only touches processes the command started.

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

if __name__ == "__main__" and not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.procs import proc_tree, session_preexec  # noqa: E402


def raise_autogroups(root: int, nice: int) -> None:
    """Set the autogroup nice of every descendant of root whose autogroup has another one (checked
    every time: a child that calls setsid later gets a fresh autogroup)."""
    want = f"nice {nice}"
    for pid in proc_tree(root):
        try:
            with open(f"/proc/{pid}/autogroup") as f:
                if f.read().split()[-2:] == want.split():
                    continue
            with open(f"/proc/{pid}/autogroup", "w") as f:
                f.write(str(nice))
        except (OSError, IndexError):
            pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.boost")
    ap.add_argument("--nice", type=int, default=-10)
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- command and its arguments")
    a = ap.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("no command given")
    # its own session, so that raising its autogroup does not raise the caller's terminal session
    p = subprocess.Popen(cmd, preexec_fn=session_preexec(a.nice))
    try:
        while p.poll() is None:
            raise_autogroups(p.pid, a.nice)
            time.sleep(0.1)
    except KeyboardInterrupt:  # the command is not in the terminal's process group: pass Ctrl-C on
        os.killpg(p.pid, signal.SIGINT)
        p.wait(60)
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
