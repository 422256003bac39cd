"""The benchmark plan: how long each step lasts, and which steps each target runs."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from bench import targets
from bench.scenarios import GROUPS, SCENARIOS, group_scenarios


@dataclass
class Plan:
    """Which steps run, and how long each lasts."""

    duration: float
    warmup: float
    timeout: float
    rates: list[int]
    open: list[str] = field(default_factory=lambda: ["chat", "stream", "embed"])
    closed: list[str] = field(default_factory=lambda: ["chat", "stream", "embed"])
    slow_rate: int = 1000
    large_rate: int = 500
    ext_rate: int = 500
    paths_rate: int = 500  # the open-loop rate of the responses and translated groups
    conns: int = 64
    groups: list[str] = field(default_factory=lambda: list(GROUPS))


def plan_for(a: argparse.Namespace) -> Plan:
    p = Plan(2.5, 0.5, 5.0, [100, 500, 1000]) if a.quick else Plan(10.0, 1.0, 10.0, [100, 500, 1000])
    if a.duration:
        p.duration = a.duration
    if a.rates:
        p.rates = [int(x) for x in a.rates.split(",") if x.strip()]
    p.groups = a.groups
    return p


def paths_steps(t: targets.Target, p: Plan, have: list[tuple[str, str, int]], mode: str) -> list[tuple[str, str, int]]:
    """The responses/translated steps of one mode; direct sends each scenario's upstream request instead
    (once, and not again when the core plan already measures it). The relay has none of these routes."""
    if t.kind == "relay":
        return []
    rate = p.paths_rate if mode == "open" else 0
    out: list[tuple[str, str, int]] = []
    for g in p.groups:
        for name in group_scenarios(g) if g != "core" else []:
            sent = (SCENARIOS[name].upstream or name) if t.kind == "direct" else name
            step = (mode, sent, rate)
            if step not in have and step not in out:
                out.append(step)
    return out


EXT_MAX = ("chat_unique", "stream_unique")  # the max-rps steps of the storage group (cache always misses)


def storage_baseline(t: targets.Target, p: Plan, have: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """What the storage variants are compared with: the same unique-body steps with extensions off
    (crabllm) and against the mock alone (direct). Not the relay (it has no extensions to compare)."""
    if "storage" not in p.groups or t.kind == "relay":
        return []
    want = [("open", sc, p.ext_rate) for sc in ("chat_unique", "stream_unique", "embed")]
    if t.kind == "crabllm":
        want += [("closed", sc, 0) for sc in EXT_MAX]
    return [x for x in want if x not in have]


def steps_for(t: targets.Target, p: Plan) -> list[tuple[str, str, int]]:
    if t.name.startswith("crabllm-ext"):
        return [("open", "chat_unique", p.ext_rate), ("open", "stream_unique", p.ext_rate),
                ("open", "embed", p.ext_rate)] + [("closed", sc, 0) for sc in EXT_MAX]
    if t.name.startswith("crabllm-workers"):
        return [("open", "chat", p.ext_rate), ("open", "stream", p.ext_rate), ("closed", "chat", 0),
                ("closed", "stream", 0)]
    if not set(p.groups) - {"streams"}:  # the streams group alone: its own steps (streams_run)
        return []
    if "core" not in p.groups:  # only the raw chat and stream paths, as the baseline of the other groups
        out = [("open", sc, p.paths_rate) for sc in ("chat", "stream")]
        out += paths_steps(t, p, out, "open")
        closed = [("closed", sc, 0) for sc in ("chat", "stream")]
        out += closed + paths_steps(t, p, closed, "closed")
        return out + storage_baseline(t, p, out)
    out = [("open", sc, rate) for sc in p.open for rate in p.rates]
    out += [("open", "large", p.large_rate)]
    if t.kind != "relay":
        out += [("open", "chat_unique", p.ext_rate), ("open", "stream_unique", p.ext_rate)]
    out += paths_steps(t, p, out, "open")
    closed = [("closed", sc, 0) for sc in p.closed]
    out += closed + paths_steps(t, p, closed, "closed")
    out += storage_baseline(t, p, out)
    out += [("open", "stream_slow", p.slow_rate)]  # last: an overload here can leave pools degraded
    return out
