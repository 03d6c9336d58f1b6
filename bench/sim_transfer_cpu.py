"""CPU-only benchmark: a 10 MB one-way clean transfer on the simulated network (issue 6).

Times the transfer with :func:`time.process_time` (best of 3) and optionally prints the top
cProfile entries.  Run: ``.venv/bin/python bench/sim_transfer_cpu.py [--profile]``.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "core"))

from sim_util import assert_intact, make_payloads, run_transfer

from pyquic.testing.network import LinkConditions
from pyquic.testing.pair import connection_pair

SEED = 21


def once() -> float:
    pair = connection_pair(seed=SEED, conditions=LinkConditions(latency_us=10_000))
    payloads = make_payloads(SEED)
    start = time.process_time()
    result = run_transfer(
        pair,
        client_payloads=payloads,
        server_payloads=[],
        max_time_us=20_000_000,
        max_events=200_000,
    )
    elapsed = time.process_time() - start
    assert_intact(result)
    return elapsed


def main() -> None:
    if "--profile" in sys.argv:
        prof = cProfile.Profile()
        prof.enable()
        once()
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return
    best = min(once() for _ in range(3))
    print(f"10 MB one-way clean transfer: best of 3 = {best:.3f} s CPU")


if __name__ == "__main__":
    main()
