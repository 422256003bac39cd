"""The [telemetry] table: defaults, validation with TOML paths, and the slot that rebuilds it on change."""

from __future__ import annotations

from pathlib import Path

import pytest

from crabllm.config.loader import load_config
from crabllm.config.schema import TelemetryConfig
from crabllm.errors import ConfigError
from crabllm.telemetry.context import TracingSession
from crabllm.telemetry.slot import TelemetrySlot


def load(tmp_path: Path, table: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "crabllm.toml"
    path.write_text(table)
    return load_config(path, env={})


def test_absent_table_is_off_and_defaults_apply(tmp_path: Path) -> None:
    assert load(tmp_path, "").telemetry is None
    t = load(tmp_path, "[telemetry]\n").telemetry
    assert t == TelemetryConfig(endpoint="http://127.0.0.1:4318/v1/traces", service_name="crabllm", sample_ratio=1.0)


def test_headers_are_masked(tmp_path: Path) -> None:
    t = load(tmp_path, '[telemetry]\nheaders = { "x-honeycomb-team" = "secret-value" }\n').telemetry
    assert t is not None and "secret-value" not in repr(t)
    assert t.headers["x-honeycomb-team"].reveal() == "secret-value"


@pytest.mark.parametrize(("body", "path"), [
    ('endpoint = "localhost:4318"', "telemetry.endpoint"),
    ('endpoint = "http://user:pw@host/v1/traces"', "telemetry.endpoint"),
    ("sample_ratio = 1.5", "telemetry.sample_ratio"),
    ("sample_ratio = -0.1", "telemetry.sample_ratio"),
    ('service_name = ""', "telemetry.service_name"),
    ("timeout = 0", "telemetry.timeout"),
    ('headers = { "bad header" = "x" }', "telemetry.headers.bad header"),
    ('endpiont = "http://x/v1/traces"', "telemetry"),
])
def test_invalid_tables_name_the_path(tmp_path: Path, body: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, f"[telemetry]\n{body}\n")
    assert info.value.path is not None and info.value.path.startswith(path)


async def test_slot_rebuilds_only_when_the_table_changes() -> None:
    slot = TelemetrySlot()
    session = object()
    assert slot.apply(None, session) is None and slot.session(None, session) is session
    cfg = TelemetryConfig(endpoint="http://127.0.0.1:9/v1/traces")
    first = slot.apply(cfg, session)
    assert first is not None and isinstance(slot.session(cfg, session), TracingSession)
    assert slot.apply(TelemetryConfig(endpoint="http://127.0.0.1:9/v1/traces"), session) is first  # equal: kept
    second = slot.apply(TelemetryConfig(endpoint="http://127.0.0.1:9/v1/traces", sample_ratio=0.5), session)
    assert second is not first and slot.current is second
    assert slot.apply(None, session) is None and slot.current is None
    await slot.stop()  # the retired ones are stopped at once (nothing was queued: nothing is sent)
    assert first.exporter._closed and second.exporter._closed
