"""Deployment selection (weighted), retry with backoff and jitter, and fallback."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from crabllm.errors import CrabError, UnsupportedOperation, UpstreamError
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
                   rng: random.Random, *, retries: bool = True) -> tuple[T, Provider, int]:
    """Try deployments in order with per-deployment retries; return (result, provider, attempts).

    Retries only transient failures; moves to the next deployment on transient failures and on
    401/403/404 from the upstream; any other error (a bad request) is final at once.
    """
    last: CrabError | None = None
    attempts = 0
    for provider in attempt_order(deployments, rng):
        tries = 1 + (provider.max_retries if retries else 0)
        for attempt in range(tries):
            attempts += 1
            try:
                return await call(provider), provider, attempts
            except CrabError as e:
                # "This deployment cannot do that" must not hide a real failure of another one.
                if last is None or not isinstance(e, UnsupportedOperation):
                    last = e
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("provider %s attempt %d failed: %s %s", provider.name, attempt + 1, e.status, e.message)
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
    assert last is not None, "dispatch needs at least one deployment"
    raise last
