"""`crabllm serve`: load and check the config, bind the port, run uvicorn with a graceful drain."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import sys
from pathlib import Path

from crabllm.cli.init import print_secrets
from crabllm.cli.logs import setup_logging
from crabllm.config.loader import load_config
from crabllm.config.schema import Config
from crabllm.config.starter import write_starter
from crabllm.config.validate import parse_listen
from crabllm.errors import ConfigError

log = logging.getLogger("crabllm.serve")


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


async def _storage_problem(config: Config, path: Path) -> str | None:
    """Open and ping the configured storage once before serving: one clear line instead of a failed
    lifespan's traceback when, say, Redis is down."""
    from crabllm.errors import CrabError
    from crabllm.storage.factory import open_storage

    try:
        storage = await open_storage(config.storage.kind, config.storage.path, base_dir=path.resolve().parent)
    except CrabError as e:
        return (f"{path}: storage: cannot open {config.storage.kind} storage: {e.message} "
                "(fix: start it, or correct [storage] path)")
    await storage.close()
    return None


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(8192)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_serve(config_path: str, bind: str | None, verbosity: int, workers: int = 1, insecure: bool = False) -> int:
    setup_logging(verbosity)
    path = Path(config_path)
    if not path.exists():
        log.info("config not found — generating a starter config at %s", path)
        try:
            admin_token, key = write_starter(path)
        except ConfigError as e:
            return fail(str(e))
        print_secrets(str(path), admin_token, key)
    try:
        config = load_config(path)
        listen = bind or config.listen
        host, port = parse_listen(listen, path="--bind" if bind else "listen", file="" if bind else str(path))
    except ConfigError as e:
        return fail(str(e))
    if workers < 1:
        return fail("--workers must be at least 1")
    if not is_loopback(host) and not (config.keys or config.admin_token) and not insecure:
        return fail(f"{path}: refusing to listen on {listen} with authentication off (no [[keys]] and no admin_token): "
                    "anyone who can reach it could spend your upstream credits "
                    "(fix: add a key or an admin_token, listen on 127.0.0.1, or pass --insecure)")
    if workers > 1 and config.storage.kind == "memory":
        return fail(f"{path}: storage.kind: --workers {workers} needs shared storage; memory storage is per process "
                    '(fix: set [storage] kind = "sqlite" or "redis", or run one worker)')
    problem = asyncio.run(_storage_problem(config, path))
    if problem is not None:
        return fail(problem)
    try:
        sock = bind_socket(host, port)
    except OSError as e:
        return fail(f"cannot listen on {listen}: {e.strerror or e} "
                    f"(fix: stop the process using it, or pass --bind HOST:PORT)")

    import uvicorn

    from crabllm.server.app import create_app
    from crabllm.server.uv import DrainingServer

    if workers > 1:
        return _run_workers(path, config, listen, sock, verbosity, workers)
    app = create_app(str(path), config)
    uv_config = uvicorn.Config(
        app, loop="uvloop", http="httptools", lifespan="on", access_log=False, log_config=None,
        timeout_graceful_shutdown=int(config.shutdown_timeout) or None, server_header=False, date_header=False,
        backlog=8192, timeout_keep_alive=75,
    )
    server = DrainingServer(uv_config)
    models = {m for p in config.providers.values() for m in p.models}
    log.info("crabllm listening on http://%s (%d models, %d providers, auth %s)", listen, len(models),
             len(config.providers), "on" if (config.keys or config.admin_token) else "OFF")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if not server.started:
        return fail("the server failed to start (see the log above)")
    log.info("crabllm stopped")
    return 0


def _run_workers(path: Path, config: Config, listen: str, sock: socket.socket, verbosity: int, workers: int) -> int:
    """N worker processes share the listening socket; metrics are summed through a shared directory."""
    import os
    import tempfile

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    metrics_dir = tempfile.mkdtemp(prefix="crabllm-metrics-")
    os.environ.update({"CRABLLM_CONFIG": str(path.resolve()), "CRABLLM_VERBOSITY": str(verbosity),
                       "PROMETHEUS_MULTIPROC_DIR": metrics_dir})
    uv_config = uvicorn.Config(
        "crabllm.cli.worker:worker_app", factory=True, workers=workers, loop="uvloop", http="httptools",
        lifespan="on", access_log=False, log_config=None, timeout_graceful_shutdown=int(config.shutdown_timeout) or None,
        server_header=False, date_header=False, backlog=8192, timeout_keep_alive=75,
    )
    log.info("crabllm listening on http://%s with %d workers", listen, workers)
    try:
        Multiprocess(uv_config, sockets=[sock]).run()
    finally:
        sock.close()
        import shutil

        shutil.rmtree(metrics_dir, ignore_errors=True)
    log.info("crabllm stopped")
    return 0
