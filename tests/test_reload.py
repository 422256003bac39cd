"""Hot reload: TOML edits while requests stream, invalid edits keep the old config, the fix recovers."""

from __future__ import annotations

import os
import threading

import httpx

from tests.conftest import ADMIN, KEY, basic_config
from tests.fakes.openai_upstream import FakeOpenAI, Script, stream_chunks, wait_for


def status(gw) -> dict:
    with gw.client(ADMIN) as a:
        return a.get("/v1/admin/config").json()


def chat(gw, model: str, key: str = KEY) -> int:
    with gw.client(key) as c:
        return c.post("/v1/chat/completions", json={"model": model, "messages": []}).status_code


def write_atomic(path, text: str) -> None:
    """Save like an editor does: write a new file and rename it over the old one."""
    tmp = path.with_name(path.name + ".swp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_edit_while_streaming(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(basic_config(upstream.base_url))
    upstream.script("/v1/chat/completions", Script(chunks=stream_chunks("gpt-4o", ["x"] * 20), chunk_delay=0.1))
    result: dict[str, bytes] = {}

    def stream() -> None:
        with httpx.Client(base_url=gw.url, timeout=20) as c:
            result["body"] = c.post("/v1/chat/completions", json={"model": "gpt-4o", "stream": True},
                                    headers={"authorization": f"Bearer {KEY}"}).content

    t = threading.Thread(target=stream)
    t.start()
    wait_for(lambda: len(upstream.requests()) == 1)
    new_key = "sk-new-key-" + "d" * 50
    write_atomic(gw.config_path, basic_config(upstream.base_url, f'''
[[keys]]
name = "newcomer"
key = "{new_key}"

[aliases]
fresh = "gpt-4o"
'''))
    assert wait_for(lambda: status(gw)["generation"] == 2, 2.0)
    assert chat(gw, "fresh", new_key) == 200
    t.join(10)
    assert result["body"].endswith(b"data: [DONE]\n\n") and result["body"].count(b'"content"') == 20
    assert b'"error"' not in result["body"]


def test_invalid_edit_keeps_old_config_and_fix_recovers(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(basic_config(upstream.base_url))
    write_atomic(gw.config_path, basic_config(upstream.base_url) + "\n[providers.fake2]\nkind = \"openai\"\nwieght = 2\n")
    assert wait_for(lambda: (status(gw).get("last_reload") or {}).get("ok") is False, 2.0)
    s = status(gw)
    assert s["generation"] == 1 and "providers.fake2.wieght" in s["last_reload"]["error"]
    assert chat(gw, "gpt-4o") == 200  # still serving the old registry
    write_atomic(gw.config_path, basic_config(upstream.base_url, models='["gpt-4o", "text-embedding-3-small", "added"]'))
    assert wait_for(lambda: status(gw)["generation"] == 2, 2.0)
    assert status(gw)["last_reload"]["ok"] is True
    assert chat(gw, "added") == 200


def test_removed_key_stops_working_after_reload(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(basic_config(upstream.base_url))
    assert chat(gw, "gpt-4o") == 200
    write_atomic(gw.config_path, basic_config(upstream.base_url).replace('name = "team-a"', 'name = "team-b"').replace(KEY, "sk-other-" + "e" * 50))
    assert wait_for(lambda: status(gw)["generation"] == 2, 2.0)
    assert chat(gw, "gpt-4o") == 401


def test_reload_event_on_the_feed(upstream: FakeOpenAI, make_gateway) -> None:
    gw = make_gateway(basic_config(upstream.base_url))
    lines: list[str] = []

    def listen() -> None:
        with httpx.Client(base_url=gw.url, timeout=10) as c:
            with c.stream("GET", "/v1/admin/events", headers={"authorization": f"Bearer {ADMIN}"}) as r:
                for line in r.iter_lines():
                    lines.append(line)
                    if line.startswith("event: reload"):
                        return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    wait_for(lambda: bool(lines))
    with gw.client(ADMIN) as a:
        a.post("/v1/admin/reload")
    t.join(5)
    assert "event: reload" in lines
