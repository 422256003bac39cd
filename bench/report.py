"""Write BENCHMARKS.md (and the PNG chart) from one raw results file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:  # `python bench/report.py` from the project root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import chart, peers, report_paths, report_scale, targets_check  # noqa: E402
from bench.results_db import MAIN, Results, fmt, fmt_delta, latest_raw  # noqa: E402
from bench.scenarios import GROUPS, SCENARIOS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("crabllm-ext-sqlite", "crabllm-ext-redis")


def _cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "?")
    except (OSError, subprocess.SubprocessError):
        model = "?"
    return f"{model}, {os.cpu_count()} cores"


def _only(plan: dict[str, object]) -> str:
    groups = plan.get("groups")
    return f" --only {','.join(groups)}" if isinstance(groups, list) and set(groups) != set(GROUPS) else ""


def header(r: Results, md: Path) -> list[str]:
    m = r.meta
    plan = m.get("plan", {})
    raw = os.path.relpath(r.path, md.parent)
    return [
        "# Benchmarks", "",
        f"Produced by `python -m bench.run{' --quick' if m.get('quick') else ''}{_only(plan)}` "
        f"(run `{m.get('run', '?')}`, "
        f"commit `{m.get('commit') or '?'}`, {_cpu()}, Python {m.get('python', '?')}). Raw data: `{raw}` "
        "(not committed). How to run and what each scenario means: [bench/README.md](bench/README.md).", "",
        f"Each load step: {plan.get('warmup')} s warm-up + {plan.get('duration')} s measured. Open loop = fixed "
        "rate, latency measured from each request's *scheduled* send time (no coordinated omission). "
        f"Closed loop = {'wrk -t1' if m.get('wrk') else 'our load generator'} with {plan.get('conns')} "
        f"connections. Load generator, mock upstream (and redis) on core {m.get('load_core')}; the gateway "
        f"alone on core {m.get('gateway_core')}"
        + (f"; every child runs at nice {m['nice']} (process and scheduler autogroup) so that other work on "
           "this shared machine yields the cores to it" if m.get("nice") else "")
        + ". Latencies in ms. Δ = gateway minus direct for the same step: the gateway's overhead. "
        "`direct` is the mock without any gateway; `relay` is the minimal "
        "Litestar + uvicorn + aiohttp relay (no auth, no routing: a ceiling, not a feature peer).", "",
        "![latency and throughput](bench/results/latency.png)", ""]


def headline(r: Results, rate: int = 500) -> list[str]:
    """One row per main target: the figures people ask for first."""
    names = [t for t in MAIN if t in r.targets() and r.not_run(t) is None]
    slow = max(r.rates("stream_slow"), default=None)
    out = ["## Headline", "",
           f"| target | chat max rps | stream max rps | embed max rps | Δp50 / Δp99 @{rate} chat "
           f"| stream (last byte) | embed | slow streams @{slow}: errors, p99 | peak RSS | ready |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for t in names:
        mx = [fmt(r.get(t, "closed", sc, "max", "achieved_rps"), 0) for sc in ("chat", "stream", "embed")]
        ds = []
        for sc in ("chat", "stream", "embed"):
            if t == "direct":
                p50, p99 = r.get(t, "open", sc, rate, "p50_ms"), r.get(t, "open", sc, rate, "p99_ms")
                ds.append(f"p50 {fmt(p50, 3)}, p99 {fmt(p99, 2)}")
            else:
                ds.append(f"{fmt_delta(r.delta(t, sc, rate, 'p50_ms'))} / {fmt_delta(r.delta(t, sc, rate, 'p99_ms'))}")
        se = r.find(t, "open", "stream_slow", slow) if slow else None
        slow_txt = f"{fmt(se.get('errors'))}, {fmt(se.get('p99_ms'), 1)} ms" if se and "p99_ms" in se else "—"
        rss, ready = r.get(t, "rss", None, None, "peak_rss_mb"), r.get(t, "ready", None, None, "ready_s")
        out.append(f"| {t} | {' | '.join(mx)} | {' | '.join(ds)} | {slow_txt} | "
                   f"{fmt(rss, 1) + ' MB' if rss else '—'} | {fmt(ready, 3) + ' s' if ready else '—'} |")
    return out + ["", "direct's row shows its absolute p50 / p99 (ms); the others show Δ over direct (ms).", ""]


def targets_table(r: Results) -> list[str]:
    out = ["## Issue 3 targets (single worker, this run)", "",
           "| target | goal | crabllm measured | baseline in this run | verdict |", "|---|---|---|---|---|"]
    for c in targets_check.all_checks(r):
        out.append(f"| {c.name} | {c.goal} | {c.measured} | {c.baseline} | {c.verdict} |")
    return out + [""]


def open_tables(r: Results) -> list[str]:
    out = ["## Fixed rate (open loop)", ""]
    names = [t for t in MAIN if t in r.targets()]
    for sc in ("chat", "stream", "embed", "large", "stream_slow", "chat_unique", "stream_unique"):
        rates = r.rates(sc)
        if not rates:
            continue
        stream = SCENARIOS[sc].stream
        out += [f"### {sc} — {SCENARIOS[sc].note}", "",
                "| target | rate | achieved rps | p50 | p90 | p99 | max | Δp50 | Δp99 |"
                + (" TTFB p50 | TTFB p99 | Δ TTFB p50 |" if stream else "") + " errors |",
                "|---|---|---|---|---|---|---|---|---|" + ("---|---|---|" if stream else "") + "---|"]
        for rate in rates:
            for t in names:
                rec = r.find(t, "open", sc, rate)
                if rec is None:
                    continue
                if "skipped" in rec or "error" in rec:
                    out.append(f"| {t} | {rate} | {rec.get('skipped') or rec.get('error', '')[:80]} |"
                               + " |" * (9 if stream else 6))
                    continue
                errs = rec.get("errors") or 0
                kinds = rec.get("error_kinds") or {}
                err = f"{errs} ({', '.join(f'{k}: {v}' for k, v in kinds.items())})" if errs else "0"
                sat = " ⚠" if rec.get("achieved_rps", 0) < 0.9 * rate else ""
                row = (f"| {t} | {rate} | {fmt(rec.get('achieved_rps'), 0)}{sat} | {fmt(rec.get('p50_ms'), 3)} | "
                       f"{fmt(rec.get('p90_ms'), 3)} | {fmt(rec.get('p99_ms'), 3)} | {fmt(rec.get('max_ms'), 2)} | "
                       f"{fmt_delta(r.delta(t, sc, rate, 'p50_ms')) if t != 'direct' else ''} | "
                       f"{fmt_delta(r.delta(t, sc, rate, 'p99_ms')) if t != 'direct' else ''} |")
                if stream:
                    row += (f" {fmt(rec.get('ttfb_p50_ms'), 3)} | {fmt(rec.get('ttfb_p99_ms'), 3)} | "
                            f"{fmt_delta(r.delta(t, sc, rate, 'ttfb_p50_ms')) if t != 'direct' else ''} |")
                out.append(row + f" {err} |")
        out.append("")
    lag = [r.get("direct", "open", "chat", x, "gen_lag_p99_ms") for x in r.rates("chat")]
    out += ["Generator lag behind the schedule (direct, chat) p99: "
            + ", ".join(f"{fmt(v, 3)} ms @{x}" for v, x in zip(lag, r.rates("chat"))) + ". It is part of every "
            "latency above (measured from the scheduled time), for direct and the gateways alike. ⚠ = under "
            "90% of the offered rate.", ""]
    return out


def closed_table(r: Results) -> list[str]:
    names = [t for t in MAIN if t in r.targets()]
    scs = [s for s in ("chat", "stream", "embed") if any(r.find(t, "closed", s, "max") for t in names)]
    if not scs:
        return []
    out = ["## Maximum throughput (closed loop)", "",
           "| scenario | " + " | ".join(f"{t} rps" for t in names) + " | crabllm × relay | crabllm p50 / p99 | "
           "crabllm errors |", "|---|" + "---|" * len(names) + "---|---|---|"]
    for sc in scs:
        vals = {t: r.get(t, "closed", sc, "max", "achieved_rps") for t in names}
        xr = vals.get("crabllm") / vals["relay"] if vals.get("crabllm") and vals.get("relay") else None
        gw = r.find("crabllm", "closed", sc, "max") or {}
        out.append(f"| {sc} | " + " | ".join(fmt(vals[t], 0) for t in names) +
                   f" | {fmt(xr, 2)} | {fmt(gw.get('p50_ms'), 2)} / {fmt(gw.get('p99_ms'), 2)} | "
                   f"{fmt(gw.get('errors'))} |")
    return out + [""]


def variants_table(r: Results) -> list[str]:
    out = ["## Extensions, storage backends and workers", ""]
    names = [t for t in r.targets() if t.startswith("crabllm-")]
    if not names:
        return out + ["Not part of this run (`--no-variants`, or crabllm not among `--targets`).", ""]
    rows = ["| variant | step | achieved rps | p50 | p99 | Δp50 vs crabllm (no extensions) | errors |",
            "|---|---|---|---|---|---|---|"]
    notes = []
    for t in names:
        nr = r.not_run(t)
        if nr:
            notes.append(f"- **{t}**: {nr.get('reason')}. Gateway said: `{nr.get('error', '')[:300]}`")
            continue
        for rec in [x for x in r.recs if x.get("target") == t and x.get("kind") in ("open", "closed")]:
            sc, rate = rec["scenario"], rec["rate"]
            base = r.get("crabllm", rec["kind"], sc, rate, "p50_ms")
            d = rec["p50_ms"] - base if isinstance(rec.get("p50_ms"), (int, float)) and base else None
            rows.append(f"| {t} | {sc} @{rate} | {fmt(rec.get('achieved_rps'), 0)} | {fmt(rec.get('p50_ms'), 3)} | "
                        f"{fmt(rec.get('p99_ms'), 3)} | {fmt_delta(d)} | {fmt(rec.get('errors'))} |")
        rss = r.get(t, "rss", None, None, "peak_rss_mb")
        ready = r.get(t, "ready", None, None, "ready_s")
        ev = r.find(t, "evidence") or {}
        store = f"; files in its data folder afterwards: {', '.join(ev.get('sqlite_files') or []) or 'none'}"
        if "redis_keys" in ev:
            store += f"; keys in redis afterwards: {fmt(ev.get('redis_keys'))}"
        notes.append(f"- **{t}**: ready in {fmt(ready, 3)} s, peak RSS {fmt(rss, 1)} MB "
                     f"({fmt(r.get(t, 'rss', None, None, 'n_procs'))} processes){store}.")
    if len(rows) > 2:
        out += rows + [""]
    return out + notes + ["", "The extension variants send a per-request unique field (`chat_unique`, "
                          "`stream_unique`) so the response cache always misses; compare them with crabllm's own "
                          "`chat_unique`/`stream_unique` rows above. The workers variant shares the gateway core "
                          "unless `--workers-cores` says otherwise: on 2 cores it shows the cost of the "
                          "multi-process mode, not scaling.", ""]


def resources_table(r: Results) -> list[str]:
    out = ["## Memory, start-up and CLI", "",
           "| target | ready (start → first 200 chat) | idle RSS after start | peak RSS (VmHWM, tree) | processes |",
           "|---|---|---|---|---|"]
    for t in [x for x in r.targets() if x != "direct"]:
        ready, rss = r.find(t, "ready"), r.find(t, "rss")
        if ready is None and rss is None:
            continue
        ready, rss = ready or {}, rss or {}
        out.append(f"| {t} | {fmt(ready.get('ready_s'), 3)} s | {fmt(ready.get('idle_rss_mb'), 1)} MB | "
                   f"{fmt(rss.get('peak_rss_mb'), 1)} MB | {fmt(rss.get('n_procs') or ready.get('n_procs'))} |")
    h = r.find("crabllm", "help")
    if h:
        out += ["", f"`crabllm --help`: median {fmt(h.get('help_s'), 3)} s, best {fmt(h.get('help_min_s'), 3)} s "
                f"over 5 runs (exit {h.get('returncode', h.get('error'))})."]
    return out + [""]


def failures(r: Results) -> list[str]:
    bad = [x for x in r.recs if x.get("kind") == "not_run" and x.get("target") in MAIN]
    if not bad:
        return []
    return ["## Targets that did not run", ""] + [
        f"- **{x['target']}**: {x.get('reason')}: `{x.get('error', '')[:300]}`" for x in bad] + [""]


def caveats(r: Results) -> list[str]:
    note = ""
    steps = [x for x in r.recs if x.get("kind") in ("open", "closed")]
    # open loop only: far from saturation, a gateway that waits for its core waits for someone else
    hit = [x for x in steps if x.get("kind") == "open" and not x["target"].startswith("crabllm-workers")
           and (x.get("gw_runq_wait_ms") or 0) > 10 * (x.get("duration_s") or 1)]
    foreign = [x.get("foreign_cpu_pct") or 0 for x in steps]
    if foreign and max(foreign) > 5:
        note += ("\n" if note else "") + (
            f"- Other processes (not the benchmark) used up to {max(foreign):.0f}% of the machine's CPU during "
            f"the steps (median {sorted(foreign)[len(foreign) // 2]:.0f}%; `foreign_cpu_pct` in the raw file). "
            + ("The benchmark runs at a higher priority, so they mostly took idle cycles. " if r.meta.get("nice")
               else ""))
        if hit:
            worst = sorted(hit, key=lambda x: -x["gw_runq_wait_ms"])[:6]
            note += (f"In {len(hit)} open-loop step(s) the gateway waited for its core more than 1% of the time "
                     "(run-queue wait from schedstat, `gw_runq_wait_ms`: other processes, or its own threads such as a "
                     "sqlite worker), e.g. " + ", ".join(
                         f"{x['target']} {x['scenario']}@{x['rate']} {x['gw_runq_wait_ms']:.0f} ms"
                         for x in worst) + "; those rows are pessimistic.")
        else:
            note += "The gateway's run-queue wait stayed under 1% of every open-loop step, so they did not delay it."
    return ["## Caveats", "", *([note] if note else []),
            "- Two cores: the load generator and the mock share core 0, so `direct` measures them together, and "
            "at high rates they take CPU from each other, not from the gateway. Compare gateways through "
            "`× relay` and Δ columns rather than against direct's absolute rps.",
            "- Loopback, plain HTTP, tiny canned replies, no real model latency: these figures isolate gateway "
            "overhead; they are not end-to-end LLM latencies.",
            "- `--quick` steps (2.5 s) are enough for medians and ratios, not for stable p99 tails; use the full "
            "run (10 s steps) for tails. Absolute numbers drift by about ±5% between runs on this box.", ""]


def _kept_soak(md: Path) -> list[str]:
    """The soak section (written by bench.soak) survives a re-render of the rest."""
    if not md.exists():
        return []
    text = md.read_text()
    start, end = text.find("<!-- soak:start -->"), text.find("<!-- soak:end -->")
    if start < 0 or end < start:
        return []
    return ["", text[start:end + len("<!-- soak:end -->")], ""]


SCALE_ONLY = {"streams", "storage", "workers"}


def _scale_provenance(r: Results, md: Path) -> str:
    m = r.meta
    plan = m.get("plan", {})
    return (f"The sections below come from a separate run: `python -m bench.run{' --quick' if m.get('quick') else ''}"
            f"{_only(plan)}` (run `{m.get('run', '?')}`, commit `{m.get('commit') or '?'}`, raw "
            f"`{os.path.relpath(r.path, md.parent)}`), with its own direct and crabllm baselines.")


def write(raw: Path, md: Path, png: Path) -> tuple[Path, Path | None]:
    """Render md (and the chart pngs) from raw; returns their paths. A run of only the streams, storage
    and workers groups replaces just their marked block in an existing md (the rest stays)."""
    r = Results.load(raw)
    chart.draw_streams(r, png.parent / "streams.png")
    groups = set(r.meta.get("plan", {}).get("groups") or [])
    if groups and groups <= SCALE_ONLY and md.exists():
        block = report_scale.section(r, _scale_provenance(r, md))
        if block:
            md.write_text(report_scale.splice(md.read_text(), block))
        return md, None
    drawn = chart.draw(r, png)
    lines = header(r, md) if drawn else [ln for ln in header(r, md) if not ln.startswith("![")]
    lines += headline(r) + targets_table(r) + failures(r) + open_tables(r) + closed_table(r)
    lines += report_paths.section(r) + report_scale.section(r) + variants_table(r)
    lines += resources_table(r) + peers.section(ROOT / "bench" / "results" / "peers") + caveats(r)
    lines += _kept_soak(md)
    md.write_text("\n".join(lines))
    return md, drawn


def main() -> int:
    raw = Path(sys.argv[1]) if len(sys.argv) > 1 else latest_raw(ROOT / "bench" / "results")
    if raw is None:
        print("no bench/results/raw-*.jsonl; run `python -m bench.run --quick` first", file=sys.stderr)
        return 1
    md, png = write(raw, ROOT / "BENCHMARKS.md", ROOT / "bench" / "results" / "latency.png")
    print(f"{md}\n{png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
