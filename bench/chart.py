"""PNG chart of one run: latency at a fixed rate and closed-loop maximum throughput per target."""

from __future__ import annotations

from pathlib import Path

from bench.results_db import MAIN, Results

COLORS = {"direct": "#7f7f7f", "relay": "#1f77b4", "crabllm": "#d62728"}


def draw(r: Results, png: Path, rate: int = 500) -> Path | None:
    """Three panels: p50 and p99 at `rate` rps (chat, stream, embed, large), max rps per scenario."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    tnames = [t for t in MAIN if t in r.targets() and r.not_run(t) is None]
    if not tnames:
        return None
    scen = [s for s in ("chat", "stream", "embed", "large") if r.get("direct", "open", s, rate, "p50_ms")
            is not None or r.get("crabllm", "open", s, rate, "p50_ms") is not None]
    closed = [s for s in ("chat", "stream", "embed") if any(r.find(t, "closed", s, "max") for t in tnames)]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    width = 0.8 / len(tnames)
    panels = [(axes[0], f"p50 latency @{rate} rps (ms, from scheduled send)", "p50_ms", scen, "open", rate),
              (axes[1], f"p99 latency @{rate} rps (ms)", "p99_ms", scen, "open", rate),
              (axes[2], "closed-loop max throughput (rps, 64 conns)", "achieved_rps", closed, "closed", "max")]
    for ax, title, fld, names, kind, rt in panels:
        for i, t in enumerate(tnames):
            vals = [r.get(t, kind, s, rt, fld) or 0.0 for s in names]
            xs = [j + (i - (len(tnames) - 1) / 2) * width for j in range(len(names))]
            bars = ax.bar(xs, vals, width, label=t, color=COLORS.get(t))
            for b, v in zip(bars, vals):
                if v:
                    label = f"{v:,.0f}" if fld == "achieved_rps" else f"{v:.2f}"
                    ax.annotate(label, (b.get_x() + b.get_width() / 2, b.get_height()), ha="center",
                                va="bottom", fontsize=7, rotation=90 if fld == "achieved_rps" else 0)
        ax.set_xticks(range(len(names)), names)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        if fld == "achieved_rps":
            ax.set_yscale("log")
        else:
            ax.set_ylim(top=ax.get_ylim()[1] * 1.25)  # room for the legend and labels
    axes[0].legend(fontsize=8, loc="upper left", ncol=len(tnames))
    meta = r.meta
    fig.suptitle(f"crabllm benchmark, run {meta.get('run', '?')} ({'quick' if meta.get('quick') else 'full'}; "
                 "mock + load generator on core 0, gateway on core 1)", fontsize=11)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


def draw_streams(r: Results, png: Path) -> Path | None:
    """Many open streams: gateway RSS (above idle) and added inter-chunk delay (p50, p99) against N."""
    ns = sorted({x["rate"] for x in r.recs if x.get("kind") == "streams" and isinstance(x.get("rate"), int)})
    if not ns:
        return None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.4))
    for t in ("direct", "relay", "crabllm"):
        rows = [(n, r.find(t, "streams", "stream_long", n) or {}) for n in ns]
        rows = [(n, x) for n, x in rows if "ok" in x]
        if not rows:
            continue
        xs = [n for n, _ in rows]
        if t != "direct":
            a1.plot(xs, [(x.get("peak_rss_mb") or 0) - (x.get("idle_rss_mb") or 0) for _, x in rows], "o-",
                    color=COLORS.get(t), label=t)
            for n, x in rows:
                if x.get("rss_per_stream_kb") is not None:
                    a1.annotate(f"{x['rss_per_stream_kb']:.0f} KB/stream", (n, (x.get("peak_rss_mb") or 0)
                                - (x.get("idle_rss_mb") or 0)), fontsize=7, textcoords="offset points", xytext=(4, 4))
        a2.plot(xs, [x.get("added_p99_ms") or 0 for _, x in rows], "o-", color=COLORS.get(t), label=f"{t} p99")
        a2.plot(xs, [x.get("added_p50_ms") or 0 for _, x in rows], "s--", color=COLORS.get(t), alpha=0.6,
                label=f"{t} p50")
    a1.plot(ns, [n * 40 / 1024 for n in ns], ":", color="#2ca02c", label="goal: 40 KB / stream")
    a2.axhline(10, ls=":", color="#2ca02c", label="goal: p99 ≤ 10 ms")
    a1.set_title("gateway RSS above idle (MB, process tree) vs open streams", fontsize=10)
    a2.set_title("added inter-chunk delay (ms: client gap − 250 ms) vs open streams", fontsize=10)
    for ax in (a1, a2):
        ax.set_xlabel("concurrent streams (N)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    a2.set_yscale("symlog", linthresh=1)
    a1.set_ylim(bottom=0)
    fig.suptitle(f"crabllm many open streams, run {r.meta.get('run', '?')} (40 chunks x 250 ms; "
                 "generator + mock on core 0, gateway on core 1)", fontsize=11)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png
