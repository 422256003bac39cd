"""The container files and the two-gateways-one-Redis topology: the files' structure, then the same topology as processes."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from crabllm.cli.main import build_parser
from crabllm.config.loader import load_config
from tests.storage.conftest import REDIS_HOST, REDIS_PORT, redis_gate, redis_reachable

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TOML = ROOT / "configs" / "compose.toml"
GATEWAYS = ("gateway-a", "gateway-b")
CONFIG_MOUNT = "/etc/crabllm/crabllm.toml"
ADMIN = "sk-admin-ops-" + "0123456789"
KEY = "sk-ops-declared-0123456789"
TEST_DB = 13  # a database of its own; the key names are unique per run as well, so concurrent runs never meet


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's own ${VAR:-default} substitution, enough for this file."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: env.get(m.group(1)) or m.group(2) or "", value)


def test_compose_runs_two_gateways_behind_one_redis() -> None:
    doc = compose()
    services = doc["services"]
    assert set(services) == {*GATEWAYS, "redis"}
    a, b = (services[name] for name in GATEWAYS)
    assert a["build"] == b["build"] == "." and a["image"] == b["image"]
    assert a["volumes"] == b["volumes"] == [f"./configs/compose.toml:{CONFIG_MOUNT}:ro"]
    assert (ROOT / a["volumes"][0].split(":")[0]).resolve() == COMPOSE_TOML
    for gw in (a, b):
        assert gw["depends_on"]["redis"]["condition"] == "service_healthy"
    host_ports = [p.split(":")[0] for gw in (a, b) for p in gw["ports"]]
    assert len(host_ports) == len(set(host_ports)) == 2 and set(host_ports) == {"5632", "5633"}
    assert {p.split(":")[1] for gw in (a, b) for p in gw["ports"]} == {"5632"}
    assert services["redis"]["image"].startswith("redis:7") and "healthcheck" in services["redis"]


def test_compose_storage_points_at_the_redis_service() -> None:
    doc = compose()
    for name in GATEWAYS:
        env = {k: interpolate(str(v), {}) for k, v in doc["services"][name]["environment"].items()}
        config = load_config(COMPOSE_TOML, env=env)
        assert config.storage.kind == "redis" and config.storage.path is not None
        assert urlsplit(config.storage.path).hostname in doc["services"]
        # serve refuses a public bind without authentication: the shared config must have both.
        assert config.keys and config.admin_token is not None
        assert config.admin_token.reveal() == env["CRABLLM_ADMIN_TOKEN"]
        assert config.keys[0].key is not None and config.keys[0].key.reveal() == env["CRABLLM_KEY"]
        assert config.providers["mock"].kind == "mock", "works with no upstream account"
        grace = doc["services"][name]["stop_grace_period"]
        assert int(grace.rstrip("s")) > config.shutdown_timeout, "compose must not SIGKILL a draining gateway"


def test_dockerfile_essentials() -> None:
    steps = dockerfile()
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) == 2 and " AS builder" in froms[0], "multi-stage: a builder, then the runtime image"
    assert any(word == "ARG" and "python:3.1" in args and "-slim" in args for word, args in steps)
    installs = " ".join(args for word, args in steps if word == "RUN" and "pip install" in args)
    assert "pip install" in installs and "[dev]" not in installs and " -e " not in installs
    final = final_stage()
    users = [args for word, args in final if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert ("COPY", "--from=builder /opt/crabllm /opt/crabllm") in final
    assert [args for word, args in final if word == "EXPOSE"] == ["5632"]
    health = " ".join(args for word, args in final if word == "HEALTHCHECK")
    assert "/health" in health and "python" in health and "curl" not in health
    entry = json.loads(next(args for word, args in final if word == "ENTRYPOINT"))
    assert entry[:2] == ["crabllm", "serve"]
    args = build_parser().parse_args(entry[1:])  # flags serve really accepts
    assert args.config == CONFIG_MOUNT and args.bind == "0.0.0.0:5632"
    assert "127.0.0.1:5632/health" in health, "the probe hits the port the entrypoint binds"


def test_dockerignore_keeps_the_context_small() -> None:
    lines = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "*", "ignore everything, then allow what the image needs"
    assert {"!pyproject.toml", "!README.md", "!crabllm/", "!tui/"} <= set(lines)
    allowed = {ln.removeprefix("!").rstrip("/") for ln in lines if ln.startswith("!")}
    copied = [src for word, args in dockerfile() if word == "COPY" and not args.startswith("--from")
              for src in shlex.split(args)[:-1]]
    assert copied and all((ROOT / src).exists() and src in allowed for src in copied), copied


def healthcheck_command(port: int) -> list[str]:
    """The image's HEALTHCHECK as argv, aimed at a local gateway on `port`."""
    health = next(args for word, args in final_stage() if word == "HEALTHCHECK")
    argv = json.loads(health.split(" CMD ", 1)[1])
    return [sys.executable if a == "python" else a.replace("127.0.0.1:5632", f"127.0.0.1:{port}") for a in argv]


# --- the same topology with plain processes: two `crabllm serve` on loopback, one Redis -------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "crabllm", "serve", "--config", str(COMPOSE_TOML),
                                 "--bind", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, **env})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(log.read_text())


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def chat(url: str, secret: str, text: str) -> int:
    body = {"model": "mock-gpt", "messages": [{"role": "user", "content": text}]}
    return httpx.post(url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {secret}"},
                      timeout=10).status_code


@pytest.fixture
def redis_url() -> Any:
    redis_gate(redis_reachable(), os.environ)
    import redis

    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{TEST_DB}"
    client = redis.Redis.from_url(url)
    yield url, client
    client.close()


def test_two_gateways_share_keys_revocations_and_usage(tmp_path: Path, redis_url: tuple[str, Any]) -> None:
    url, client = redis_url
    env = {"REDIS_URL": url, "CRABLLM_ADMIN_TOKEN": ADMIN, "CRABLLM_KEY": KEY}
    ports = [free_port(), free_port()]
    procs = [start(p, env, tmp_path / f"gateway-{p}.log") for p in ports]
    a, b = (f"http://127.0.0.1:{p}" for p in ports)
    admin = {"authorization": f"Bearer {ADMIN}"}
    name = "ops-" + uuid.uuid4().hex[:12]
    try:
        assert subprocess.run(healthcheck_command(ports[0]), timeout=10).returncode == 0, "the image's probe"
        assert subprocess.run(healthcheck_command(free_port()), capture_output=True, timeout=10).returncode != 0
        assert chat(a, KEY, "declared") == chat(b, KEY, "declared") == 200, "the declared key from the environment"
        created = httpx.post(a + "/v1/admin/keys", json={"name": name}, headers=admin, timeout=10)
        assert created.status_code == 201, created.text
        secret = created.json()["key"]

        served = {a: 0, b: 0}
        deadline = time.monotonic() + 5
        while chat(b, secret, f"reach b {time.monotonic()}") != 200:  # B learns the key from Redis, not from A
            assert time.monotonic() < deadline, "a key created on gateway A never worked on gateway B"
            time.sleep(0.1)
        served[b] += 1
        for i in range(3):
            assert chat(a, secret, f"via a {i}") == 200
            served[a] += 1
            assert chat(b, secret, f"via b {i}") == 200
            served[b] += 1

        total = served[a] + served[b]
        for gw in (a, b):
            rows = httpx.get(gw + "/v1/admin/usage", params={"key": name}, headers=admin, timeout=10).json()["data"]
            assert [(r["key"], r["model"], r["provider"], r["requests"]) for r in rows] == [(name, "mock-gpt", "mock", total)]
            assert rows[0]["total_tokens"] > 0 and rows[0]["cost_usd"] > 0
        assert int(client.get(f"crabllm:us/{name}/mock/r/mock-gpt")) == total, "one counter in Redis, summed"

        assert httpx.delete(a + f"/v1/admin/keys/{name}", headers=admin, timeout=10).status_code == 204
        time.sleep(2.0)
        assert chat(b, secret, "after revoke b") == 401, "a revocation on A stops the key on B within 2 s"
        assert chat(a, secret, "after revoke a") == 401
    finally:
        codes = [stop(p) for p in procs]
        for pattern in (f"crabllm:*{name}*", "crabllm:*/compose/*"):  # the issued and the declared key's records
            for key in client.scan_iter(match=pattern):
                client.delete(key)
    assert codes == [0, 0], "SIGTERM drains and exits 0"
