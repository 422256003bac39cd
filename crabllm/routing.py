"""Deployment selection (weighted), retry with backoff and jitter, and fallback."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from crabllm.breaker import Breaker
from crabllm.errors import CrabError, UnsupportedOperation, UpstreamError, UpstreamProtocolError
from crabllm.providers.base import Provider

T = TypeVar("T")
log = logging.getLogger("crabllm.routing")

BASE_BACKOFF = 0.1
MAX_RETRY_AFTER = 10.0
#: Upstream statuses that say "this deployment cannot serve it" rather than "your request is bad".
FALLBACK_STATUSES = frozenset({401, 403, 404})


def attempt_order(deployments: Sequence[Provider], rng: random.Random) -> Sequence[Provider]:
    """Weighted-random first choice, then the rest by weight, heaviest first."""
    if len(deployments) == 1:
        return deployments
    total = sum(d.weight for d in deployments)
    if total <= 0:
        first = 0
    else:
        pick = rng.randrange(total)
        first = 0
        for i, d in enumerate(deployments):
            pick -= d.weight
            if pick < 0:
                first = i
                break
    rest = sorted((d for i, d in enumerate(deployments) if i != first), key=lambda d: -d.weight)
    return [deployments[first], *rest]


def is_transient(error: CrabError) -> bool:
    return bool(getattr(error, "transient", False))


def backoff(attempt: int, rng: random.Random, retry_after: float | None) -> float:
    """Half-jitter exponential backoff (100 ms x 2^n), or the upstream's Retry-After if longer."""
    base = BASE_BACKOFF * (2 ** attempt)
    delay = base / 2 + rng.random() * base / 2
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


async def dispatch(deployments: Sequence[Provider], call: Callable[[Provider], Awaitable[T]],
                   rng: random.Random, *, retries: bool = True, breaker: Breaker | None = None) -> tuple[T, Provider, int]:
    """Try deployments in order with per-deployment retries; return (result, provider, attempts).

    Retries only transient failures; moves to the next deployment on transient failures and on
    401/403/404 from the upstream; any other error (a bad request) is final at once. Deployments
    whose circuit is open are skipped; transient failures feed the breaker.
    """
    last: CrabError | None = None
    attempts = 0
    order = attempt_order(deployments, rng)
    if breaker is not None and breaker.health:
        order = await healthy(order, breaker)
    for provider in order:
        tries = 1 + (provider.max_retries if retries else 0)
        for attempt in range(tries):
            attempts += 1
            try:
                result = await call(provider)
            except CrabError as e:
                # "This deployment cannot do that" must not hide a real failure of another one.
                if last is None or not isinstance(e, UnsupportedOperation):
                    last = e
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("provider %s attempt %d failed: %s %s", provider.name, attempt + 1, e.status, e.message)
                if breaker is not None and (is_transient(e) or isinstance(e, UpstreamProtocolError)):
                    breaker.failure(provider.name, e.message)
                    if breaker.is_open(provider.name):
                        break
                if not is_transient(e):
                    if isinstance(e, UnsupportedOperation) or (isinstance(e, UpstreamError) and e.status in FALLBACK_STATUSES):
                        break
                    raise
                if attempt + 1 >= tries:
                    break
                retry_after = getattr(e, "retry_after", None)
                if retry_after is not None and retry_after > MAX_RETRY_AFTER:
                    break  # the upstream asks for longer than we hold a client; try elsewhere
                await asyncio.sleep(backoff(attempt, rng, retry_after))
            else:
                if breaker is not None:
                    breaker.success(provider.name)
                return result, provider, attempts
    if last is None:
        raise CircuitOpen(deployments, breaker)
    raise last


async def healthy(order: Sequence[Provider], breaker: Breaker) -> list[Provider]:
    """The deployments that may take this request: closed ones, and one probe of a cooled-down one."""
    out = []
    for provider in order:
        if breaker.is_open(provider.name):
            continue
        if provider.name in breaker.health and breaker.health[provider.name].open is not None:
            if not await breaker.claim_probe(provider.name):
                continue
        out.append(provider)
    return out


class CircuitOpen(CrabError):
    """Every deployment of the model is cooling down after failures."""

    status = 503
    type = "server_error"
    code = "circuit_open"

    def __init__(self, deployments: Sequence[Provider], breaker: Breaker | None) -> None:
        names = ", ".join(p.name for p in deployments)
        super().__init__(f"every deployment of this model is cooling down after failures ({names}); retry shortly")
        until = [breaker.health[p.name].open.until for p in deployments  # type: ignore[union-attr]
                 if breaker is not None and p.name in breaker.health and breaker.health[p.name].open is not None]
        self.retry_after = max(1.0, min(until) - time.time()) if until else 1.0

    def headers(self) -> dict[str, str]:
        return {"retry-after": str(int(self.retry_after + 0.999))}
