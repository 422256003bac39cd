"""/v1/messages and the media endpoints run through the extension pipeline: cache, rate limits, usage."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.conftest import KEY
from tests.fakes.gateway import GatewayServer
from tests.fakes.multi import Fakes, _clean_fakes, fakes, multi_config  # noqa: F401

EXTENSIONS = "\n[extensions.cache]\n\n[extensions.usage]\n\n[extensions.rate_limit]\nrequests_per_minute = 4\n"


def test_cache_and_rate_limit_on_messages_and_media(fakes: Fakes, make_gateway: Callable[[str], GatewayServer]) -> None:
    gw = make_gateway(multi_config(fakes, EXTENSIONS))
    body = {"model": "sonnet", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=gw.url, headers={"x-api-key": KEY}, timeout=10) as c:
        first = c.post("/v1/messages", json=body)
        second = c.post("/v1/messages", json=body)
        assert first.status_code == second.status_code == 200
        assert first.headers["x-crabllm-cache"] == "miss" and second.headers["x-crabllm-cache"] == "hit"
        assert second.content == first.content and len(fakes.anthropic.requests()) == 1
        assert "x-ratelimit-remaining-requests" in first.headers
        statuses = [c.post("/v1/images/generations", json={"model": "mock-image", "prompt": "p"}).status_code
                    for _ in range(3)]
        assert 429 in statuses
        limited = c.post("/v1/messages", json=body)
    assert limited.status_code == 429
    assert limited.json()["type"] == "error" and limited.json()["error"]["type"] == "rate_limit_error"
    assert "retry-after" in limited.headers
