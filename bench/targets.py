"""The things under test: direct (the mock), the minimal aiohttp relay, and crabllm variants."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench import scenarios
from bench.procs import Child, pinned

RELAY_APP = Path(__file__).resolve().parents[2] / "shared" / "bench-peers" / "candidates" / "b_litestar_aiohttp.py"
UVICORN_FLAGS = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
                 "--host", "127.0.0.1"]


@dataclass(frozen=True)
class Ports:
    """Every port the run uses on 127.0.0.1."""

    mock: int = 9000
    crabllm: int = 8110
    relay: int = 8102
    redis: int = 6390


@dataclass(frozen=True)
class Target:
    """How to start one target and what to run against it."""

    name: str
    label: str
    port: int
    kind: str  # direct | relay | crabllm
    config: str = ""  # TOML text for crabllm
    extra_args: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()  # services to start first: "redis"
    headers: dict[str, str] = field(default_factory=lambda: dict(scenarios.AUTH))


def find_crabllm(explicit: str | None) -> str | None:
    """The crabllm executable: --crabllm, else next to this Python, else on PATH."""
    if explicit:
        return explicit if Path(explicit).exists() else None
    beside = Path(sys.executable).parent / "crabllm"
    return str(beside) if beside.exists() else shutil.which("crabllm")


def main_targets(ports: Ports, with_relay: bool) -> list[Target]:
    out = [Target("direct", "direct (the mock itself, no gateway)", ports.mock, "direct")]
    if with_relay:
        out.append(Target("relay", "minimal Litestar + uvicorn + aiohttp relay (shared bench-peers B)",
                          ports.relay, "relay"))
    out.append(Target("crabllm", "crabllm serve (1 worker, memory storage, no extensions)",
                      ports.crabllm, "crabllm", scenarios.base_config(ports.crabllm, ports.mock)))
    return out


def variant_targets(ports: Ports, data_dir: Path, workers: int) -> list[Target]:
    """The optional crabllm variants; each may be refused by a gateway that lacks the feature."""
    db = str(data_dir / "bench.db")
    redis_url = f"redis://127.0.0.1:{ports.redis}/0"
    return [
        Target("crabllm-ext-sqlite", "crabllm, all extensions on, sqlite storage", ports.crabllm, "crabllm",
               scenarios.extensions_config(ports.crabllm, ports.mock, "sqlite", redis_url, db)),
        Target("crabllm-ext-redis", "crabllm, all extensions on, redis storage", ports.crabllm, "crabllm",
               scenarios.extensions_config(ports.crabllm, ports.mock, "redis", redis_url, db),
               needs=("redis",)),
        Target(f"crabllm-workers{workers}", f"crabllm serve --workers {workers} (sqlite storage)",
               ports.crabllm, "crabllm", scenarios.workers_config(ports.crabllm, ports.mock, db),
               extra_args=("--workers", str(workers))),
        Target(f"crabllm-workers{workers}-allcores", f"crabllm serve --workers {workers} (sqlite storage) "
               "on every core (the generator's too)", ports.crabllm, "crabllm",
               scenarios.workers_config(ports.crabllm, ports.mock, db), extra_args=("--workers", str(workers))),
    ]


def mock_child(ports: Ports, core: str | None, logdir: Path) -> Child:
    here = Path(__file__).resolve().parent
    cmd = [sys.executable, str(here / "mock_upstream.py"), "--port", str(ports.mock)]
    return Child("mock", pinned(cmd, core), logdir / "mock.log")


def redis_child(ports: Ports, core: str | None, logdir: Path, workdir: Path) -> Child | None:
    exe = shutil.which("redis-server")
    if exe is None:
        return None
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [exe, "--port", str(ports.redis), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", str(workdir), "--protected-mode", "yes"]
    return Child("redis", pinned(cmd, core), logdir / "redis.log")


def target_child(t: Target, ports: Ports, core: str | None, logdir: Path, workdir: Path,
                 crabllm: str | None) -> Child:
    """The process for a target (not for direct). Raises FileNotFoundError when it cannot exist."""
    log = logdir / f"{t.name}.log"
    if t.kind == "relay":
        if not RELAY_APP.exists():
            raise FileNotFoundError(f"relay app not found: {RELAY_APP}")
        cmd = [sys.executable, "-m", "uvicorn", "b_litestar_aiohttp:app", "--app-dir", str(RELAY_APP.parent),
               "--port", str(t.port), *UVICORN_FLAGS]
        return Child(t.name, pinned(cmd, core), log,
                     env={"UPSTREAM": f"http://127.0.0.1:{ports.mock}/v1"})
    if crabllm is None:
        raise FileNotFoundError("no `crabllm` command (not installed in this venv nor on PATH)")
    # the config alone in its folder: the gateway watches the config's directory
    cfg_dir = workdir / t.name
    shutil.rmtree(cfg_dir, ignore_errors=True)
    cfg_dir.mkdir(parents=True)
    cfg = cfg_dir / "crabllm.toml"
    cfg.write_text(t.config)
    cmd = [crabllm, "serve", "--config", str(cfg), "--bind", f"127.0.0.1:{t.port}", *t.extra_args]
    return Child(t.name, pinned(cmd, core), log, cwd=cfg_dir)
