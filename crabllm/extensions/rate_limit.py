"""Requests and tokens per minute, per key and gateway-wide, with a sliding window exact across workers.

Each limit keeps one counter per minute in storage. The estimate for "the last 60 seconds" is
`previous * (1 - elapsed_fraction) + current`, which never lets 2x the limit through at a minute
boundary. A request is admitted by incrementing the current counter atomically and checking the
value it got back, so concurrent requests on every worker see distinct counts: exactly `limit`
pass. A rejected request takes its increment back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from crabllm.config.schema import RateLimitExtension
from crabllm.errors import RateLimited
from crabllm.extensions.call import Call, Header
from crabllm.storage.base import Increment

WINDOW = 60
TTL = 3 * WINDOW
GLOBAL = "*"


@dataclass(slots=True)
class Limits:
    rpm: int | None
    tpm: int | None


def estimate(prev: int, cur: int, frac: float) -> float:
    return prev * (1.0 - frac) + cur


def seconds_until_below(prev: int, cur: int, frac: float, limit: float) -> float:
    """Seconds until the sliding estimate drops to `limit` (nothing new counted meanwhile)."""
    left = (1.0 - frac) * WINDOW
    if estimate(prev, cur, frac) <= limit:
        return 0.0
    if prev > 0:
        # Within this window the estimate falls by prev/WINDOW per second.
        dt = (estimate(prev, cur, frac) - limit) * WINDOW / prev
        if dt <= left:
            return dt
    # After the boundary `cur` becomes the previous window and decays from full weight.
    if cur <= limit:
        return left
    return left + (1.0 - limit / cur) * WINDOW


class RateLimiter:
    def __init__(self, cfg: RateLimitExtension) -> None:
        self.cfg = cfg

    def limits(self, call: Call) -> tuple[Limits, Limits]:
        own = call.key.rate_limit if call.key is not None else None
        per_key = Limits(
            rpm=(own.requests_per_minute if own and own.requests_per_minute else None) or self.cfg.requests_per_minute,
            tpm=(own.tokens_per_minute if own and own.tokens_per_minute else None) or self.cfg.tokens_per_minute,
        )
        return per_key, Limits(self.cfg.global_requests_per_minute, self.cfg.global_tokens_per_minute)

    def plan(self, call: Call) -> list[Increment]:
        minute = int(call.now // WINDOW)
        ops: list[Increment] = []
        for who, lim in zip((call.principal, GLOBAL), self.limits(call)):
            if lim.rpm:
                ops += [(f"rl/{who}/r/{minute}", 1, TTL), (f"rl/{who}/r/{minute - 1}", 0, TTL)]
            if lim.tpm:
                ops += [(f"rl/{who}/t/{minute}", 0, TTL), (f"rl/{who}/t/{minute - 1}", 0, TTL)]
                call.rate_keys.append((f"rl/{who}/t/", who))
        return ops

    def check(self, call: Call, values: list[int]) -> tuple[RateLimited | None, list[Increment]]:
        """Return (rejection or None, increments to take back if the request is not admitted)."""
        frac = (call.now % WINDOW) / WINDOW
        minute = int(call.now // WINDOW)
        i = 0
        undo: list[Increment] = []
        error: RateLimited | None = None
        for who, lim in zip((call.principal, GLOBAL), self.limits(call)):
            headers = who != GLOBAL
            if lim.rpm:
                cur, prev = values[i], values[i + 1]
                i += 2
                undo.append((f"rl/{who}/r/{minute}", -1, TTL))
                est = estimate(prev, cur, frac)
                if headers:
                    _headers(call.headers, "requests", lim.rpm, max(0, math.floor(lim.rpm - est)),
                             seconds_until_below(prev, cur, frac, lim.rpm - 1))
                if est > lim.rpm and error is None:
                    scope = "" if headers else " (gateway-wide)"
                    error = RateLimited(f"rate limit exceeded: {lim.rpm} requests per minute{scope}",
                                        retry_after=seconds_until_below(prev, cur - 1, frac, lim.rpm - 1) or 1.0)
            if lim.tpm:
                cur, prev = values[i], values[i + 1]
                i += 2
                est = estimate(prev, cur, frac)
                if headers:
                    _headers(call.headers, "tokens", lim.tpm, max(0, math.floor(lim.tpm - est)),
                             seconds_until_below(prev, cur, frac, lim.tpm - 1))
                if est >= lim.tpm and error is None:
                    scope = "" if headers else " (gateway-wide)"
                    error = RateLimited(f"rate limit exceeded: {lim.tpm} tokens per minute{scope}",
                                        retry_after=seconds_until_below(prev, cur, frac, lim.tpm - 1) or 1.0)
        return error, undo

    def account(self, call: Call, tokens: int) -> list[Increment]:
        if not tokens or not call.rate_keys:
            return []
        minute = int(call.now // WINDOW)
        return [(f"{prefix}{minute}", tokens, TTL) for prefix, _ in call.rate_keys]


def _headers(out: list[Header], kind: str, limit: int, remaining: int, reset: float) -> None:
    out.append((f"x-ratelimit-limit-{kind}".encode(), str(limit).encode()))
    out.append((f"x-ratelimit-remaining-{kind}".encode(), str(remaining).encode()))
    out.append((f"x-ratelimit-reset-{kind}".encode(), f"{max(0.0, reset):.0f}s".encode()))
