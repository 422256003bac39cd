"""USD budgets per key with optional daily/weekly/monthly reset, exact under concurrency.

Spend is an integer micro-USD counter per key and period in storage. Before a request the
gateway reserves the expected cost (the last cost seen for this key and model) with one atomic
increment and admits the request only if the reserved total still fits; afterwards it corrects
the reservation to the real cost. With a known price, exactly budget/price requests get through
however many arrive at once, on any number of workers.
"""

from __future__ import annotations

import calendar
import time
from datetime import datetime, timedelta, timezone

from crabllm.config.schema import BudgetExtension
from crabllm.errors import BudgetExceeded
from crabllm.extensions.call import ANONYMOUS, Call, micros
from crabllm.storage.base import Increment, Storage

PERIOD_SECONDS = {"daily": 86400, "weekly": 7 * 86400, "monthly": 31 * 86400}


def period_id(period: str, now: float) -> str:
    t = time.gmtime(now)
    if period == "daily":
        return time.strftime("%Y-%m-%d", t)
    if period == "weekly":
        year, week, _ = datetime.fromtimestamp(now, timezone.utc).isocalendar()
        return f"{year}-W{week:02d}"
    if period == "monthly":
        return time.strftime("%Y-%m", t)
    return "all"


def next_reset(period: str, now: float) -> float | None:
    d = datetime.fromtimestamp(now, timezone.utc)
    if period == "daily":
        start = d.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    elif period == "weekly":
        start = d.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=7 - d.weekday())
    elif period == "monthly":
        days = calendar.monthrange(d.year, d.month)[1]
        start = d.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=days)
    else:
        return None
    return start.timestamp()


class Budget:
    def __init__(self, cfg: BudgetExtension, storage: Storage) -> None:
        self.cfg = cfg
        self.storage = storage
        self._estimates: dict[tuple[str, str], int] = {}
        self._pending: dict[tuple[str, str], int] = {}  # learned estimates not yet in storage

    def limit_usd(self, name: str, key_budget: float | None) -> float | None:
        if key_budget is not None:
            return key_budget
        entry = self.cfg.keys.get(name)
        if entry is not None:
            return entry.budget
        return self.cfg.default_budget

    def spend_key(self, name: str, now: float) -> str:
        return f"bg/{name}/{period_id(self.cfg.period, now)}"

    def ttl(self) -> float | None:
        seconds = PERIOD_SECONDS.get(self.cfg.period)
        return seconds * 2 if seconds else None

    async def plan(self, call: Call) -> list[Increment]:
        limit = self.limit_usd(call.principal, call.key.budget if call.key else None)
        if limit is None:
            return []
        call.budget_key = self.spend_key(call.principal, call.now)
        call.budget_reserved = await self._estimate(call.principal, call.model)
        return [(call.budget_key, call.budget_reserved, self.ttl())]

    def check(self, call: Call, value: int) -> BudgetExceeded | None:
        limit = micros(self.limit_usd(call.principal, call.key.budget if call.key else None) or 0.0)
        fits = value <= limit if call.budget_reserved else value < limit
        if fits:
            return None
        who = "" if call.principal == ANONYMOUS else f"key '{call.principal}' "
        return BudgetExceeded(f"budget exceeded: {who}spent its {limit / 1e6:.6f} USD budget",
                              retry_after=_retry_after(self.cfg.period, call.now))

    def undo(self, call: Call) -> list[Increment]:
        if call.budget_key is None or not call.budget_reserved:
            return []
        return [(call.budget_key, -call.budget_reserved, self.ttl())]

    def account(self, call: Call, cost_micros: int) -> list[Increment]:
        if call.budget_key is None:
            return []
        if cost_micros:
            self._learn(call.principal, call.model, cost_micros)
        delta = cost_micros - call.budget_reserved
        return [(call.budget_key, delta, self.ttl())] if delta else []

    async def _estimate(self, name: str, model: str) -> int:
        cached = self._estimates.get((name, model))
        if cached is not None:
            return cached
        raw = await self.storage.get(f"bg/est/{name}/{model}")
        value = int(raw) if raw and raw.isdigit() else 0
        self._estimates[(name, model)] = value
        return value

    def _learn(self, name: str, model: str, cost: int) -> None:
        if self._estimates.get((name, model)) != cost:
            if len(self._estimates) > 100_000:
                self._estimates.clear()
            self._estimates[(name, model)] = cost
            self._pending[(name, model)] = cost

    @property
    def has_estimates(self) -> bool:
        """Learned estimates wait to be written (flush_estimates has work)."""
        return bool(self._pending)

    async def flush_estimates(self) -> None:
        while self._pending:
            (name, model), cost = self._pending.popitem()
            await self.storage.set(f"bg/est/{name}/{model}", str(cost).encode())


def _retry_after(period: str, now: float) -> float | None:
    reset = next_reset(period, now)
    return None if reset is None else max(1.0, reset - now)
