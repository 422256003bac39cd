"""The per-deployment breaker across `serve --workers 2` on sqlite: one model opens everywhere, its neighbours serve."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.cli.test_workers import free_port, start, stop
from tests.conftest import ADMIN, KEY
from tests.fakes.openai_upstream import FakeOpenAI, Script


def test_one_failing_model_opens_on_every_worker_and_its_neighbours_keep_serving(tmp_path: Path) -> None:
    main, backup = FakeOpenAI().start(), FakeOpenAI().start()
    main.answer_model("a", Script(status=500))
    config = tmp_path / "c.toml"
    config.write_text(f'''admin_token = "{ADMIN}"
[storage]
kind = "sqlite"
path = "{tmp_path / 'shared.db'}"

[circuit_breaker]
failure_threshold = 2
cooldown_seconds = 30

[providers.oai]
base_url = "{main.base_url}"
models = ["a", "b", "c"]
weight = 100
max_retries = 0

[providers.backup]
base_url = "{backup.base_url}"
models = ["a"]
weight = 1
max_retries = 0

[[keys]]
name = "k"
key = "{KEY}"
''')
    port = free_port()
    proc = start(config, port, "--workers", "2")
    url = f"http://127.0.0.1:{port}"
    headers = {"authorization": f"Bearer {KEY}"}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=10) as c:
            def chat(model: str) -> int:
                return c.post("/v1/chat/completions", json={"model": model, "messages": []}).status_code

            # Until the circuit of oai/a is open on both workers, 'a' falls back to the backup.
            assert all(chat("a") == 200 for _ in range(12))
            time.sleep(2.5)  # every worker adopts the shared open state within its 1 s sync
            failed_before = sum(1 for r in main.requests() if r.json().get("model") == "a")
            assert [chat("a") for _ in range(20)] == [200] * 20
            assert sum(1 for r in main.requests() if r.json().get("model") == "a") == failed_before  # skipped by both
            assert [chat("b") for _ in range(10)] == [200] * 10
            assert [chat("c") for _ in range(10)] == [200] * 10
            for _ in range(6):  # whichever worker answers shows which model is open
                info = c.get("/v1/admin/providers/oai", headers={"authorization": f"Bearer {ADMIN}"}).json()
                states = {d["model"]: d["state"] for d in info["deployments"]}
                assert states == {"a": "open", "b": "closed", "c": "closed"}
        assert sum(1 for r in main.requests() if r.json().get("model") in ("b", "c")) == 20
    finally:
        stop(proc)
        main.stop()
        backup.stop()
