"""Per-request cost of each routing strategy: ns per attempt-order selection for 2, 4 and 8 deployments."""

# Usage: .venv/bin/python -m bench.routing [--number 200000]
# Also times the load bookkeeping dispatch does around every attempt (Loads.begin + end with a
# latency sample), which every strategy pays, weighted included.

from __future__ import annotations

import argparse
import random
import sys
import time
import timeit
from pathlib import Path

if __name__ == "__main__" and not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crabllm.routing.loads import Loads  # noqa: E402
from crabllm.routing.dispatch import attempt_order  # noqa: E402
from crabllm.routing.strategies import Cost, LeastBusy, Latency  # noqa: E402

SIZES = (2, 4, 8)


class Dep:
    __slots__ = ("name", "weight", "max_retries")

    def __init__(self, name: str, weight: int) -> None:
        self.name, self.weight, self.max_retries = name, weight, 0


def setup(n: int, rng: random.Random) -> tuple[list[Dep], Loads]:
    deps = [Dep(f"p{i}", 1 + i % 3) for i in range(n)]
    loads = Loads()
    now = time.monotonic()
    for i, d in enumerate(deps):  # every deployment sampled and a few busy: the steady state
        load = loads.load(f"{d.name}/m")
        loads.observe(load, 0.05 + 0.01 * rng.random(), now)
        load.inflight = i % 3
    return deps, loads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=200_000, help="selections per measurement")
    args = parser.parse_args(argv)
    rng = random.Random(1)
    print(f"{'strategy':<12}" + "".join(f"{n:>10} deps" for n in SIZES) + "   (ns per selection, best of 5)")
    rows: dict[str, list[float]] = {}
    for n in SIZES:
        deps, loads = setup(n, rng)
        cost = Cost({d.name: 1e-6 * (1 + i % 2) for i, d in enumerate(deps)})
        cases = {
            "weighted": lambda: attempt_order(deps, rng),
            "latency": lambda: Latency().order(deps, rng, loads, "m"),
            "least_busy": lambda: LeastBusy().order(deps, rng, loads, "m"),
            "cost": lambda: cost.order(deps, rng, loads, "m"),
        }
        for name, fn in cases.items():
            best = min(timeit.repeat(fn, number=args.number, repeat=5)) / args.number
            rows.setdefault(name, []).append(best * 1e9)
    for name, values in rows.items():
        print(f"{name:<12}" + "".join(f"{v:>15.0f}" for v in values))
    loads = Loads()

    def bookkeeping() -> None:
        load = loads.begin("p0/m")
        loads.end(load, 0.05)

    best = min(timeit.repeat(bookkeeping, number=args.number, repeat=5)) / args.number
    print(f"\nload bookkeeping per attempt (begin + end with a sample): {best * 1e9:.0f} ns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
