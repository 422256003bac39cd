"""The console's pure parts: formatting, filters, form bodies, view models, connection messages."""

from __future__ import annotations

import pytest

from crabllm.client import ClientError
from tests.tui.canned import KEYS, NOW, PROVIDERS, events, stats
from tui import fmt
from tui.conn import from_error
from tui.filters import parse_log_filter, status_matches, text_filter
from tui.forms import key_create_body, key_patch_body, provider_create_body, provider_patch_body
from tui.model import key_rows, last_latency, provider_rows, series


def test_formatting() -> None:
    assert fmt.count(None) == "-" and fmt.count(1234) == "1,234" and fmt.count(12345) == "12.3k"
    assert fmt.count(4_500_000) == "4.5M"
    assert fmt.ms(None) == "-" and fmt.ms(3.21) == "3.2 ms" and fmt.ms(250) == "250 ms" and fmt.ms(1500) == "1.50 s"
    assert fmt.usd(0) == "$0" and fmt.usd(0.0012) == "$0.0012" and fmt.usd(12.345) == "$12.35"
    assert fmt.pct(0.0123) == "1.2%"
    assert fmt.ago(NOW - 90, NOW) == "1m ago" and fmt.span(3 * 86400) == "3d"
    assert fmt.expiry(None, NOW) == "never" and fmt.expiry(NOW - 1, NOW) == "expired"
    assert fmt.expiry(NOW + 7200, NOW) == "in 2h"
    assert fmt.clip("abcdef", 4) == "abc…"


def test_parsing_durations_lists_numbers() -> None:
    assert fmt.parse_duration("") is None
    assert fmt.parse_duration("90") == 90 and fmt.parse_duration("90m") == 5400 and fmt.parse_duration("2d") == 172800
    with pytest.raises(ValueError, match="not a duration"):
        fmt.parse_duration("soon")
    with pytest.raises(ValueError, match="positive"):
        fmt.parse_duration("0")
    assert fmt.parse_list("a, b  c,a") == ["a", "b", "c"]
    assert fmt.parse_number("1_000", integer=True) == 1000 and fmt.parse_number(" ") is None
    with pytest.raises(ValueError, match="weight must be a whole number"):
        fmt.parse_number("1.5", integer=True, what="weight")
    with pytest.raises(ValueError, match="negative"):
        fmt.parse_number("-1")


def test_log_filter() -> None:
    evs = events()
    f = parse_log_filter("key:team model:sonnet")
    assert [e["id"] for e in evs if f(e)] == ["req-0003"]
    assert [e["status"] for e in evs if parse_log_filter("status:err")(e)] == [502, 401, 429]
    assert [e["status"] for e in evs if parse_log_filter("status:4xx")(e)] == [401, 429]
    assert len([e for e in evs if parse_log_filter("status:ok")(e)]) == 3
    assert [e["id"] for e in evs if parse_log_filter("limit")(e)] == ["req-0005"]  # words search the error too
    assert not parse_log_filter("") and parse_log_filter("x")
    assert status_matches(200, None, "200") and not status_matches(200, "boom", "ok")
    keep = text_filter("Issued  batch", lambda r: r)
    assert keep(("batch-jobs", "issued")) and not keep(("ci", "issued"))


def test_key_bodies() -> None:
    assert key_create_body({"name": " k ", "models": "", "rpm": "", "tpm": "", "budget": "", "expires": ""}) == {
        "name": "k", "models": ["*"]}
    body = key_create_body({"name": "k", "models": "a,b", "rpm": "60", "tpm": "1000", "budget": "2.5", "expires": "1h"})
    assert body == {"name": "k", "models": ["a", "b"], "rate_limit": {"requests_per_minute": 60, "tokens_per_minute": 1000},
                    "budget": 2.5, "expires_in": 3600}
    with pytest.raises(ValueError, match="name"):
        key_create_body({"name": ""})
    patch = key_patch_body({"models": "*", "rpm": "", "tpm": "", "budget": "", "expires": ""}, NOW)
    assert patch == {"models": ["*"], "rate_limit": None, "budget": None}  # blank clears limits, keeps expiry
    assert key_patch_body({"models": "x", "expires": "never"}, NOW)["expires_at"] is None
    assert key_patch_body({"models": "x", "expires": "10s"}, NOW)["expires_at"] == NOW + 10
    with pytest.raises(ValueError, match="model"):
        key_patch_body({"models": " "}, NOW)


def test_provider_bodies() -> None:
    body = provider_create_body({"name": "p", "kind": "openai", "base_url": "http://x", "api_key": "", "models": "",
                                 "weight": "2", "max_retries": "", "timeout": "", "api_version": ""})
    assert body == {"name": "p", "kind": "openai", "base_url": "http://x", "weight": 2}  # no models: discovered
    original = PROVIDERS[0]
    same = {"kind": "openai", "base_url": "", "api_key": "", "models": "gpt-4o-mini, text-embedding-3-small",
            "weight": "3", "max_retries": "2", "timeout": "30", "api_version": ""}
    assert provider_patch_body(same, original) == {}
    changed = {**same, "api_key": "sk-new", "weight": "5", "base_url": "http://proxy"}
    assert provider_patch_body(changed, original) == {"api_key": "sk-new", "weight": 5, "base_url": "http://proxy"}


def test_view_models() -> None:
    s = stats()
    rows = {r.name: r for r in key_rows(KEYS, s)}
    assert rows["team-search"].requests == 1530 and rows["team-search"].rpm == 600 and not rows["team-search"].editable
    assert rows["ci"].expired and rows["ci"].editable and rows["ci"].tokens == 9245
    prows = {r.name: r for r in provider_rows(PROVIDERS, s, {"anthropic": "upstream timed out"})}
    assert prows["anthropic"].test_ok is False and prows["anthropic"].last_error == "upstream timed out"
    assert prows["openai"].error_rate == pytest.approx(3 / 1888) and prows["local"].error_rate is None
    ser = series(s)
    assert len(ser.rps) == 300 and ser.now("rps") > 0
    assert last_latency(s, "p50_ms") is not None and last_latency({"series": [], "latency_ms": {"p50": 5}}, "p50_ms") == 5
    assert series(None).rps == []


def test_connection_messages_say_what_to_do() -> None:
    down = from_error("http://gw", ClientError(0, "refused"), 2.0)
    assert down.state == "down" and "crabllm serve" in down.hint and "--url" in down.hint
    auth = from_error("http://gw", ClientError(401, "bad token"), 2.0)
    assert auth.state == "unauthorized" and "--token" in auth.hint and "CRABLLM_TOKEN" in auth.hint
    assert "admin_token" in from_error("http://gw", ClientError(404, "admin API is disabled"), 1).hint
    assert from_error("http://gw", ClientError(500, "boom"), 1).state == "error"


def test_provider_rows_carry_the_circuit_state() -> None:
    from tui.model import provider_rows

    rows = provider_rows([{"name": "a", "kind": "openai", "models": ["m"], "weight": 1,
                           "health": {"state": "open", "open_until": 123.0, "last_error": "boom"}},
                          {"name": "b", "kind": "openai", "models": ["m"], "weight": 1}], None, {})
    assert (rows[0].circuit, rows[0].open_until, rows[0].last_error) == ("open", 123.0, "boom")
    assert rows[1].circuit == "closed" and rows[1].open_until is None


def test_provider_rows_sum_inflight_and_take_the_slowest_ewma() -> None:
    from tui.model import provider_rows

    rows = provider_rows([{"name": "a", "models": ["m", "n"], "deployments": [
        {"model": "m", "state": "closed", "ewma_latency_ms": 12.5, "inflight": 2},
        {"model": "n", "state": "closed", "ewma_latency_ms": None, "inflight": 1}]},
        {"name": "b", "models": ["m"]}], None, {})
    assert (rows[0].inflight, rows[0].ewma_ms) == (3, 12.5) and (rows[1].inflight, rows[1].ewma_ms) == (0, None)
