"""The peer section of BENCHMARKS.md: LiteLLM and Portkey from the shared bench-peers harness."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from bench.results_db import fmt

PEER_CMD = "bash ../shared/bench-peers/run_peer_bench.sh --out bench/results/peers"
ORDER = ["direct", "B_uvicorn_aiohttp", "crabllm", "portkey", "litellm"]
LABELS = {"direct": "direct (mock)", "B_uvicorn_aiohttp": "minimal aiohttp relay (B)", "crabllm": "crabllm",
          "portkey": "Portkey 1.15.2 (Node)", "litellm": "LiteLLM 1.108.7 (1 worker)"}
# From /work/shared/bench-peers/README.md (their full run: 10 s steps, medians of 2 reps)
REFERENCE = [("minimal aiohttp relay (B)", "7,417", "4,721", "6,858", "0.22", "59"),
             ("Portkey 1.15.2 (Node)", "1,781", "1,429", "1,365", "0.67 (streams +26 ms TTFB)", "306"),
             ("LiteLLM 1.108.7 (1 worker)", "159", "46", "94", "saturated at 500 rps (6.2 ms @100)", "510")]


def _med(recs: list[dict[str, Any]], fld: str) -> float | None:
    vals = [r[fld] for r in recs if isinstance(r.get(fld), (int, float))]
    return statistics.median(vals) if vals else None


def _peer_table(path: Path) -> list[str]:
    with open(path) as f:
        recs = [json.loads(ln) for ln in f if ln.strip()]
    present = [t for t in ORDER if any(r.get("target") == t for r in recs)]
    present += sorted({r["target"] for r in recs if r.get("target") not in ORDER})

    def sel(t: str, mode: str, sc: str | None = None, rate: Any = None) -> list[dict[str, Any]]:
        return [r for r in recs if r.get("target") == t and r.get("mode") == mode
                and (sc is None or r.get("scenario") == sc) and (rate is None or r.get("rate") == rate)
                and "error" not in r]

    direct50 = _med(sel("direct", "open", "chat", 500), "p50_ms")
    b = {sc: _med(sel("B_uvicorn_aiohttp", "closed", sc), "achieved_rps") for sc in ("chat", "stream", "embed")}
    out = ["| target | chat max rps | stream max rps | embed max rps | × relay (chat) | chat p50 @500 (Δ vs direct) "
           "| stream_slow errors (highest rate) | peak RSS MB |", "|---|---|---|---|---|---|---|---|"]
    for t in present:
        fails = [r for r in recs if r.get("target") == t and r.get("mode") == "failed"]
        if fails and not sel(t, "open"):
            out.append(f"| {LABELS.get(t, t)} | failed: {fails[0].get('error', '')[:120]} | | | | | | |")
            continue
        mx = {sc: _med(sel(t, "closed", sc), "achieved_rps") for sc in ("chat", "stream", "embed")}
        at500 = sel(t, "open", "chat", 500)
        p50 = _med(at500, "p50_ms")
        d = f" ({p50 - direct50:+.2f})" if p50 is not None and direct50 is not None else ""
        ach = _med(at500, "achieved_rps")
        if ach is not None and ach < 450:
            d += f" ⚠ saturated: {ach:.0f} rps"
        slow = [r for r in recs if r.get("target") == t and r.get("mode") == "open"
                and r.get("scenario") == "stream_slow" and "errors" in r]
        slow_txt = f"{slow[-1]['errors']} @{slow[-1]['rate']}" if slow else "—"
        if slow and slow[-1].get("achieved_rps", 0) < 0.9 * slow[-1]["rate"]:
            slow_txt += f" ⚠ saturated: {slow[-1]['achieved_rps']:.0f} rps"
        xb = f"{mx['chat'] / b['chat']:.2f}" if mx["chat"] and b["chat"] and t != "direct" else "—"
        out.append(f"| {LABELS.get(t, t)} | {fmt(mx['chat'], 0)} | {fmt(mx['stream'], 0)} | "
                   f"{fmt(mx['embed'], 0)} | {xb} | "
                   f"{fmt(p50)}{d} | {slow_txt} | {fmt(_med(sel(t, 'rss'), 'peak_rss_mb'), 0)} |")
    return out


def section(peers_dir: Path) -> list[str]:
    """Markdown lines: how to run the peers, then the latest peer run's table or the reference figures."""
    lines = ["## Beside LiteLLM and Portkey", "",
             "The shared harness in `../shared/bench-peers/` runs LiteLLM, Portkey, the raw relay (B) and crabllm "
             "through its own mock and load generator (`wrk -t1 -c64` for max throughput). From the project root:",
             "", "```bash",
             f"{PEER_CMD} --targets direct,B_uvicorn_aiohttp,crabllm,portkey,litellm   # ~6 min + installs",
             f"{PEER_CMD}                  # all 10 targets, ~10 min",
             f"FULL=1 {PEER_CMD}           # 10 s steps, 2 reps, ~60 min",
             "# on a shared machine, keep the harness and all its children at a higher priority:",
             f"python -m bench.boost -- {PEER_CMD} --targets direct,B_uvicorn_aiohttp,crabllm,portkey,litellm",
             "```", "",
             "It installs LiteLLM and Portkey into `$PEERS` (default `/tmp/crabllm-peers`), never into this repo, "
             "and writes `bench/results/peers/results/raw-<stamp>.{jsonl,md}` (ignored by git).", ""]
    runs = sorted((peers_dir / "results").glob("raw-*.jsonl")) if peers_dir.exists() else []
    runs = [p for p in runs if p.stat().st_size > 0]
    if runs:
        rel = runs[-1].relative_to(peers_dir.parent.parent.parent)
        lines += [f"Measured by the shared harness in this checkout (`{rel}`, not committed; quick 2.5 s steps, "
                  "1 rep): a separate run from the tables above, so compare ratios within it, not absolute "
                  "numbers across runs. Its load generator measures latency from each request's release, not from "
                  "its scheduled time as ours does, so its p50s are lower than ours. Its crabllm is "
                  "the same checkout, pip-installed into the harness's own venv. The harness itself does not "
                  "guard against other work on the machine (run it through `bench.boost`, as this one was): "
                  "when its relay (B) is far below the reference figures further down, the box was busy.", ""]
        lines += _peer_table(runs[-1]) + [""]
        intro = "For context, the harness's published figures"
    else:
        intro = "No peer run found in `bench/results/peers/`. The harness's published figures"
    lines += [f"{intro} (**reference, NOT from this run**: `../shared/bench-peers/README.md`, 1 worker on one "
              "core, 10 s steps, medians of 2 reps):", "",
              "| target (reference, not this run) | chat max rps | stream max rps | embed max rps | "
              "Δp50 chat @500 rps (ms) | peak RSS MB |", "|---|---|---|---|---|---|"]
    return lines + [f"| {a} | {b} | {c} | {d} | {e} | {f} |" for a, b, c, d, e, f in REFERENCE] + [""]
