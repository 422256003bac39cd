"""Deployment selection (weighted; other strategies in strategies.py), retry with backoff and jitter, and fallback."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from crabllm.routing.breaker import Breaker, deployment_id
from crabllm.errors import CrabError, UnsupportedOperation, UpstreamError, UpstreamProtocolError
from crabllm.providers.base import Provider
from crabllm.telemetry.context import ACTIVE

if TYPE_CHECKING:
    from crabllm.routing.loads import Loads
    from crabllm.routing.strategies import Strategy

T = TypeVar("T")
log = logging.getLogger("crabllm.routing.dispatch")

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
                   rng: random.Random, *, model: str = "", retries: bool = True,
                   breaker: Breaker | None = None, strategy: Strategy | None = None, loads: Loads | None = None,
                   hold: bool = False, first: Provider | None = None) -> tuple[T, Provider, int]:
    """Try deployments in order with per-deployment retries; return (result, provider, attempts).

    Retries only transient failures; moves to the next deployment on transient failures, on a 2xx
    answer it cannot use, and on 401/403/404 from the upstream; any other error (a bad request) is
    final at once. Deployments (provider, `model`) whose circuit is open are skipped unless none is
    healthy (panic routing); failures feed the breaker, and a 429 only parks its deployment until
    its retry-after.

    `strategy` orders the attempts (None: weighted). `loads` counts every attempt in flight and
    takes its latency (time to the call's return: the first bytes of a stream); with `hold` the
    successful attempt stays in flight until the caller's `loads.release` (a stream's end).
    `first`, one of `deployments`, is tried before the others (a follow-up to the deployment that
    holds its state); the breaker and fallback treat it as any other.
    """
    last: CrabError | None = None
    attempts = 0
    trace = ACTIVE.get()
    order = attempt_order(deployments, rng) if strategy is None else strategy.order(deployments, rng, loads, model)
    if first is not None and first in order and order[0] is not first:
        order = [first, *(p for p in order if p is not first)]
    if breaker is not None and breaker.health:
        order = await healthy(order, breaker, model)
    for index, provider in enumerate(order):
        dep = deployment_id(provider.name, model)
        tries = 1 + (provider.max_retries if retries else 0)
        more = index + 1 < len(order)
        for attempt in range(tries):
            attempts += 1
            load = loads.begin(dep) if loads is not None else None
            started = time.perf_counter()
            try:
                if trace is None:
                    result = await call(provider)
                else:  # [telemetry] is on: each attempt is a child span
                    result = await trace.attempt(call, provider, model, attempts, attempt)
            except CrabError as e:
                if loads is not None and load is not None:
                    if is_transient(e) or isinstance(e, UpstreamProtocolError) or getattr(e, "status", 0) == 429:
                        loads.failed(load, time.perf_counter() - started)
                    else:
                        loads.end(load, None)
                # "This deployment cannot do that" must not hide a real failure of another one.
                if last is None or not isinstance(e, UnsupportedOperation):
                    last = e
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("deployment %s attempt %d failed: %s %s", dep, attempt + 1, e.status, e.message)
                retry_after = getattr(e, "retry_after", None)
                if isinstance(e, UpstreamError) and e.status == 429:
                    if breaker is not None:
                        breaker.rate_limited(dep, retry_after, e.message)
                    if more:
                        break  # parked until its retry-after: another deployment serves now
                elif breaker is not None and (is_transient(e) or isinstance(e, UpstreamProtocolError)):
                    breaker.failure(dep, e.message)
                    if more and breaker.is_open(dep):
                        break
                if isinstance(e, UpstreamProtocolError):
                    break  # the same deployment would likely answer the same garbage: try the next
                if not is_transient(e):
                    if isinstance(e, UnsupportedOperation) or (isinstance(e, UpstreamError) and e.status in FALLBACK_STATUSES):
                        break
                    raise
                if attempt + 1 >= tries:
                    break
                if retry_after is not None and retry_after > MAX_RETRY_AFTER:
                    break  # the upstream asks for longer than we hold a client; try elsewhere
                await asyncio.sleep(backoff(attempt, rng, retry_after))
            except BaseException:
                if loads is not None and load is not None:
                    loads.end(load, None)  # cancelled: no sample
                raise
            else:
                if loads is not None and load is not None:
                    loads.end(load, time.perf_counter() - started, hold=hold)
                if breaker is not None:
                    breaker.success(dep)
                return result, provider, attempts
    if last is None:
        raise NoDeployment(model)
    raise last


async def healthy(order: Sequence[Provider], breaker: Breaker, model: str) -> list[Provider]:
    """The deployments that may take this request, in order.

    Closed ones first, plus one probe of a cooled-down one. When fewer than `panic_threshold` of
    them (or none at all) are usable, the breaker would only turn an answer into an error, so the
    skipped ones follow, soonest to recover first (Envoy's panic routing).
    """
    out: list[Provider] = []
    skipped: list[Provider] = []
    for provider in order:
        dep = deployment_id(provider.name, model)
        if breaker.is_open(dep):
            skipped.append(provider)
        elif breaker.needs_probe(dep) and not await breaker.claim_probe(dep):
            skipped.append(provider)
        else:
            out.append(provider)
    if skipped and (not out or len(out) / len(order) < breaker.cfg.panic_threshold):
        skipped.sort(key=lambda p: breaker.usable_at(deployment_id(p.name, model)))
        if not out:
            log.warning("every deployment of model '%s' is cooling down: routing anyway (panic)", model)
        out.extend(skipped)
    return out


class NoDeployment(CrabError):
    """No deployment could even be tried (an empty route); never expected from a valid registry."""

    status = 503
    type = "server_error"
    code = "no_deployment"

    def __init__(self, model: str) -> None:
        super().__init__(f"no deployment can serve model '{model}'")
