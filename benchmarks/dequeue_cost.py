"""Cost of one DRR delivery (`DrrScheduler.next`) as the number of keys grows.

Run: python benchmarks/dequeue_cost.py  (about 10-20 s)

The claim under test (fila/server/scheduler.py, "Cost"): a dequeue is O(1) amortised in the number
of active keys, and parked (throttled) keys cost nothing once parked. Each row
times DELIVERIES calls of next() on a full backlog; "worst batch" is the
slowest run of BATCH consecutive deliveries (it includes round starts).
"""

from __future__ import annotations

import random
import time

from _harness import header

from fila.server.scheduler import Block, DrrScheduler

DELIVERIES = 200_000
BATCH = 1_000
BLOCK = Block("throttled", "bench", None)


def allow(key: str, item: str) -> Block | None:
    return None


def run(n_keys: int, parked_fraction: float, mixed_weights: bool) -> tuple[float, float, float]:
    """Returns (park pass seconds, mean ns per delivery, worst batch ns per delivery)."""
    rng = random.Random(n_keys)
    s = DrrScheduler()
    n_parked = int(n_keys * parked_fraction)
    blocked = {f"k{i}" for i in range(n_parked)}
    active = n_keys - n_parked
    per_key = DELIVERIES // active + 11  # stay backlogged for the whole run
    for i in range(n_keys):
        key = f"k{i}"
        weight = rng.randint(1, 10) if mixed_weights else 1
        for j in range(per_key if key not in blocked else 1):
            s.push(key, f"{key}/{j}", weight)

    def check(key: str, item: str) -> Block | None:
        return BLOCK if key in blocked else None

    chk = check if blocked else allow
    # The first call walks every key once and parks the blocked ones; time it
    # apart: it is paid once per park, not per delivery.
    t0 = time.perf_counter()
    assert s.next(chk) is not None
    park_pass = time.perf_counter() - t0
    assert len(s.parked()) == n_parked

    nxt = s.next
    perf = time.perf_counter
    worst = 0.0
    start = perf()
    for _ in range(DELIVERIES // BATCH):
        b0 = perf()
        for _ in range(BATCH):
            nxt(chk)
        worst = max(worst, perf() - b0)
    total = perf() - start
    return park_pass, total / DELIVERIES * 1e9, worst / BATCH * 1e9


def main() -> None:
    print(header())
    print(f"{DELIVERIES:,} deliveries per row, weights 1 unless 'mixed' (1-10)\n")
    columns = (
        f"{'keys':>8} {'parked':>8} {'weights':>8} {'park pass ms':>13} "
        f"{'ns/delivery':>12} {'worst batch ns':>15}"
    )
    print(columns)
    print("-" * len(columns))
    cases = [
        (10, 0.0, False),
        (1_000, 0.0, False),
        (100_000, 0.0, False),
        (1_000, 0.0, True),
        (100_000, 0.0, True),
        (1_000, 0.99, False),
        (100_000, 0.99, False),
    ]
    for n_keys, parked, mixed in cases:
        park, mean, worst = run(n_keys, parked, mixed)
        print(
            f"{n_keys:>8,} {int(n_keys * parked):>8,} {'mixed' if mixed else '1':>8} "
            f"{park * 1e3:>13.2f} {mean:>12.0f} {worst:>15.0f}"
        )


if __name__ == "__main__":
    main()
