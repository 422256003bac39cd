"""Install the pinned client programs once into `.cache/clients/` (npm prefix + a separate Python venv)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "clients"

#: Pinned client versions; changing one re-installs (the stamp is keyed on this table).
NPM = {
    "@anthropic-ai/claude-code": "2.1.332",
    "@openai/codex": "0.171.0",
}
PYPI = {
    "openai-agents": "0.24.0",
    "langchain-openai": "1.8.1",
    "langchain-anthropic": "1.7.10",
    "llm": "0.36",
    "litellm": "1.110.2",
}
INSTALL_TIMEOUT = 900


class InstallError(RuntimeError):
    """A client could not be installed (registry unreachable, bad pin, …)."""


@dataclass(frozen=True)
class Clients:
    npm_bin: Path
    python: Path
    llm: Path

    def version(self, name: str) -> str:
        return NPM.get(name) or PYPI[name]


def _stamp_key() -> str:
    table = json.dumps({"npm": NPM, "pypi": PYPI, "python": sys.version_info[:2]}, sort_keys=True)
    return hashlib.sha256(table.encode()).hexdigest()[:16]


def _run(cmd: list[str], what: str) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, cwd=CACHE)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InstallError(f"{what}: {e}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise InstallError(f"{what} failed (exit {proc.returncode}); is the registry reachable?\n{tail}")


def _install() -> None:
    if shutil.which("npm") is None:
        raise InstallError("npm is not on PATH (Node >= 20 is needed for the npm clients)")
    npm_dir = CACHE / "npm"
    npm_dir.mkdir(parents=True, exist_ok=True)
    _run(["npm", "install", "--prefix", str(npm_dir), "--no-audit", "--no-fund", "--no-update-notifier",
          *[f"{name}@{version}" for name, version in NPM.items()]], "npm install")
    py_dir = CACHE / "py"
    if py_dir.exists():
        shutil.rmtree(py_dir)
    venv.EnvBuilder(with_pip=True, clear=True).create(py_dir)
    pip = [str(py_dir / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "install", "-q"]
    _run([*pip, *[f"{name}=={version}" for name, version in PYPI.items()]], "pip install")


def ensure_clients() -> Clients:
    """Install once per pin set; concurrent sessions (xdist, two terminals) wait on one lock."""
    CACHE.mkdir(parents=True, exist_ok=True)
    stamp = CACHE / f".installed-{_stamp_key()}"
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            for old in CACHE.glob(".installed-*"):
                old.unlink()
            _install()
            stamp.touch()
    py_bin = CACHE / "py" / "bin"
    clients = Clients(npm_bin=CACHE / "npm" / "node_modules" / ".bin", python=py_bin / "python", llm=py_bin / "llm")
    missing = [p for p in (clients.npm_bin / "claude", clients.npm_bin / "codex", clients.python, clients.llm)
               if not os.path.exists(p)]
    if missing:
        stamp.unlink(missing_ok=True)
        raise InstallError(f"installed clients are missing {', '.join(map(str, missing))}; re-run to reinstall")
    return clients
