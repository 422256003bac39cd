"""The issue-3 performance targets, evaluated against one run's results."""

from __future__ import annotations

from dataclasses import dataclass

from bench.results_db import Results, fmt

GW = "crabllm"


@dataclass(frozen=True)
class Check:
    """One target: what was measured, the baseline beside it, and whether it is met."""

    name: str
    goal: str
    measured: str
    baseline: str
    met: bool | None  # None: not measured

    @property
    def verdict(self) -> str:
        return "n/a (not measured)" if self.met is None else ("met" if self.met else "**not met**")


def _max_rps(r: Results, target: str, sc: str) -> float | None:
    v = r.get(target, "closed", sc, "max", "achieved_rps")
    return v if isinstance(v, (int, float)) and v > 0 else None


def throughput(r: Results) -> list[Check]:
    out = []
    for sc, floor in (("chat", 5000), ("stream", 3500), ("embed", 5000)):
        gw, relay, direct = _max_rps(r, GW, sc), _max_rps(r, "relay", sc), _max_rps(r, "direct", sc)
        ratio = gw / relay if gw and relay else None
        met = None if gw is None else (gw >= floor and (ratio is None or ratio >= 0.75))
        out.append(Check(f"max throughput, {sc}", f"≥ {floor:,} rps and ≥ 75% of relay",
                         f"{fmt(gw)} rps" + (f" ({ratio:.0%} of relay)" if ratio else ""),
                         f"direct {fmt(direct)}, relay {fmt(relay)}", met))
    return out


def overhead(r: Results, rate: int = 500) -> list[Check]:
    out = []
    specs = [("chat", "p50_ms", 0.35, "Δp50"), ("embed", "p50_ms", 0.35, "Δp50"),
             ("stream", "ttfb_p50_ms", 0.5, "Δp50 first byte"), ("stream", "p50_ms", 0.5, "Δp50 last byte"),
             ("chat", "p99_ms", 2.0, "Δp99"), ("embed", "p99_ms", 2.0, "Δp99"),
             ("stream", "p99_ms", 2.0, "Δp99 last byte")]
    for sc, fld, lim, what in specs:
        d = r.delta(GW, sc, rate, fld)
        base = r.get("direct", "open", sc, rate, fld)
        errs = r.get(GW, "open", sc, rate, "errors")
        met = None if d is None else (d <= lim and not errs)
        out.append(Check(f"{what} over direct @{rate} rps, {sc}", f"≤ {lim} ms",
                         f"{d:+.3f} ms" + (f" ({errs} errors)" if errs else "") if d is not None else "—",
                         f"direct {fmt(base, 3)} ms", met))
    return out


def slow(r: Results) -> list[Check]:
    rates = r.rates("stream_slow")
    if not rates:
        return [Check("slow upstream", "zero errors, p99 within 5% of direct", "—", "—", None)]
    rate = max(rates)
    errs = r.get(GW, "open", "stream_slow", rate, "errors")
    p99, base = r.get(GW, "open", "stream_slow", rate, "p99_ms"), r.get("direct", "open", "stream_slow", rate, "p99_ms")
    ach = r.get(GW, "open", "stream_slow", rate, "achieved_rps")
    met = None if p99 is None or base is None else (errs == 0 and p99 <= 1.05 * base)
    measured = f"{fmt(errs)} errors, p99 {fmt(p99)} ms ({(p99 / base - 1):+.1%}), {fmt(ach)} rps" \
        if p99 is not None and base else (f"{fmt(errs)} errors, no successful stream" if errs else "—")
    return [Check(f"{rate} rps slow streams (~{rate * 0.21:.0f} concurrent)", "0 errors, p99 ≤ direct + 5%",
                  measured, f"direct p99 {fmt(base)} ms", met)]


def extensions(r: Results, rate: int = 500) -> list[Check]:
    out = []
    for sc in ("chat_unique", "stream_unique"):
        nr = r.not_run("crabllm-ext-sqlite")
        ext, none = r.get("crabllm-ext-sqlite", "open", sc, rate, "p50_ms"), r.get(GW, "open", sc, rate, "p50_ms")
        if nr or ext is None or none is None:
            why = nr.get("reason", "not run") if nr else "not measured"
            out.append(Check(f"all extensions (sqlite) @{rate}, {sc}", "p50 ≤ no-extension p50 + 0.5 ms",
                             why, f"no extensions p50 {fmt(none, 3)} ms", None))
            continue
        d = ext - none
        out.append(Check(f"all extensions (sqlite) @{rate}, {sc}", "p50 ≤ no-extension p50 + 0.5 ms",
                         f"p50 {ext:.3f} ms ({d:+.3f} ms)", f"no extensions p50 {none:.3f} ms", d <= 0.5))
    return out


def resources(r: Results) -> list[Check]:
    rss = r.get(GW, "rss", None, None, "peak_rss_mb")
    relay_rss = r.get("relay", "rss", None, None, "peak_rss_mb")
    ready = r.get(GW, "ready", None, None, "ready_s")
    relay_ready = r.get("relay", "ready", None, None, "ready_s")
    help_s = r.get(GW, "help", None, None, "help_s")
    help_rc = r.get(GW, "help", None, None, "returncode")
    return [
        Check("peak RSS under load (VmHWM, process tree)", "≤ 75 MB", f"{fmt(rss, 1)} MB" if rss else "—",
              f"relay {fmt(relay_rss, 1)} MB", None if rss is None else rss <= 75),
        Check("start → first 200 on a chat request", "≤ 1 s", f"{fmt(ready, 3)} s" if ready else "—",
              f"relay {fmt(relay_ready, 3)} s", None if ready is None else ready <= 1.0),
        Check("`crabllm --help` wall time (median of 5)", "≤ 0.3 s",
              f"{fmt(help_s, 3)} s" + (f" (exit {help_rc})" if help_rc else "") if help_s else "—", "—",
              None if help_s is None else (help_s <= 0.3 and not help_rc)),
    ]


def all_checks(r: Results) -> list[Check]:
    return throughput(r) + overhead(r) + slow(r) + extensions(r) + resources(r)
