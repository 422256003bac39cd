"""BENCHMARKS.md sections for /v1/responses (issue 12) and the translated paths (issue 14), as ratios to raw chat."""

from __future__ import annotations

from bench.results_db import Results, fmt, fmt_delta
from bench.scenarios import SCENARIOS, group_scenarios

GW = "crabllm"
NOISE_RPS, NOISE_P50_MS = 0.05, 0.1  # how far quick steps on the shared 2-core box drift between runs

TITLES = {
    "responses": ("/v1/responses (issue 12)",
                  "Pass-through: the `openai` provider (native Responses) relays the mock's Responses object and "
                  "SSE events (20 `response.output_text.delta`, `sequence_number` on each) as bytes; goal: it "
                  "costs no more than the raw chat path (max rps ≥ raw, Δp50 ≤ raw). Translated: a provider with "
                  "`responses = false`, so the gateway converts to chat and back; goal as for the translated paths "
                  "(≥ 60% of the raw path's max rps, Δp50 ≤ 2× the raw path's). Requests send `store: false` "
                  "(storing is a separate cost, not measured here). A Responses stream carries ~1.4× the bytes of "
                  "the chat stream (7.1 vs 4.9 KB: `response.created`, `.in_progress` and `.completed` each hold "
                  "the whole response object, as OpenAI's do), so direct itself serves fewer of them."),
    "translated": ("Translated paths (issue 14)",
                   "`/v1/messages` to an OpenAI-format upstream, and `/v1/chat/completions` to Anthropic, Gemini "
                   "and Bedrock (SigV4-signed Converse; ConverseStream as AWS event-stream frames with CRCs), all "
                   "served by the mock. Goal (issue 14): ≥ 60% of the raw path's max rps, added p50 ≤ 2× the raw "
                   "path's."),
}


def _raw_of(name: str) -> str:
    """The raw pass-through scenario a gateway scenario is compared with: chat, or stream for streams."""
    return "stream" if SCENARIOS[name].stream else "chat"


def _delta(r: Results, name: str, rate: int, fld: str) -> float | None:
    """The gateway's fld minus direct's for the request the gateway sends upstream for this scenario."""
    a = r.get(GW, "open", name, rate, fld)
    b = r.get("direct", "open", SCENARIOS[name].upstream or name, rate, fld)
    return round(a - b, 3) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None


def _rate(r: Results, names: list[str]) -> int | None:
    rates = sorted({x for n in names for x in r.rates(n)})
    return 500 if 500 in rates else (rates[-1] if rates else None)


def _verdict(name: str, x_rps: float | None, x_p50: float | None, d50: float | None, raw_d50: float | None) -> str:
    if x_rps is None or d50 is None or raw_d50 is None:
        return "n/a (not measured)"
    if name in ("responses", "responses_stream"):  # pass-through: no more than the raw path
        if x_rps >= 1.0 and d50 <= raw_d50:
            return "met"
        near = x_rps >= 1.0 - NOISE_RPS and d50 <= raw_d50 + NOISE_P50_MS
        return "within noise (±5% rps, +0.1 ms p50)" if near else "**not met**"
    return "met" if x_rps >= 0.6 and (x_p50 is not None and x_p50 <= 2.0) else "**not met**"


def group_table(r: Results, group: str) -> list[str]:
    names = [n for n in group_scenarios(group) if r.find(GW, "open", n) or r.find(GW, "closed", n, "max")]
    if not names:
        return []
    rate = _rate(r, names)
    title, text = TITLES[group]
    out = [f"## {title}", "", text, "",
           f"| scenario | sent upstream | max rps | × raw max | p50 @{rate} | p99 @{rate} | Δp50 | Δp99 | "
           "Δp50 × raw Δp50 | errors | verdict |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for raw in ("chat", "stream"):
        rec = r.find(GW, "open", raw, rate) or {}
        out.append(f"| *{raw} (raw path)* | {raw} | {fmt(r.get(GW, 'closed', raw, 'max', 'achieved_rps'), 0)} | 1.00 | "
                   f"{fmt(rec.get('p50_ms'), 3)} | {fmt(rec.get('p99_ms'), 3)} | "
                   f"{fmt_delta(r.delta(GW, raw, rate, 'p50_ms'))} | {fmt_delta(r.delta(GW, raw, rate, 'p99_ms'))} | "
                   f"1.00 | {fmt(rec.get('errors'))} | baseline |")
    for n in names:
        sc, raw = SCENARIOS[n], _raw_of(n)
        rec = r.find(GW, "open", n, rate) or {}
        mx, raw_mx = r.get(GW, "closed", n, "max", "achieved_rps"), r.get(GW, "closed", raw, "max", "achieved_rps")
        x_rps = mx / raw_mx if isinstance(mx, (int, float)) and raw_mx else None
        d50, d99, raw_d50 = _delta(r, n, rate, "p50_ms"), _delta(r, n, rate, "p99_ms"), r.delta(GW, raw, rate, "p50_ms")
        x_p50 = d50 / raw_d50 if d50 is not None and raw_d50 and raw_d50 > 0 else None
        errs = (rec.get("errors") or 0) + (r.get(GW, "closed", n, "max", "errors") or 0)
        kinds = rec.get("error_kinds") or {}
        err = f"{errs} ({', '.join(f'{k}: {v}' for k, v in kinds.items())})" if kinds else fmt(errs)
        verdict = _verdict(n, x_rps, x_p50, d50, raw_d50) if not errs else "**not met** (errors)"
        out.append(f"| {n} — {sc.note} | {sc.upstream or n} | {fmt(mx, 0)} | {fmt(x_rps, 2)} | "
                   f"{fmt(rec.get('p50_ms'), 3)} | {fmt(rec.get('p99_ms'), 3)} | {fmt_delta(d50)} | {fmt_delta(d99)} | "
                   f"{fmt(x_p50, 2)} | {err} | {verdict} |")
    return out + ["", "max rps: closed loop, crabllm. × raw max: over crabllm's own raw chat (stream: raw stream) "
                  "max rps in this run. Δ: crabllm minus `direct` sending the upstream-format request the gateway "
                  "makes (column *sent upstream*) at the same rate, so translation, signing and both codecs are "
                  "all in the Δ. Δp50 × raw Δp50: that overhead over the raw path's overhead. Errors: open-loop "
                  "plus closed-loop step.", ""]


def section(r: Results) -> list[str]:
    """Both tables, or nothing when neither group ran."""
    return group_table(r, "responses") + group_table(r, "translated")
