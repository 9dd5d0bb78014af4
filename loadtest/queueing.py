"""What tail latency an ideal server would have: the yardstick for the p99/p50 target.

Under Poisson arrivals even a perfect FIFO server queues: at 70% utilisation
some requests arrive behind several others. This simulates a single FIFO
queue (one core does the work, however many workers share it) whose service
times have the measured single-user distribution, rescaled so the server's
capacity is the measured saturation throughput, and reports the p50 and p99
of the time in system. A measured p99/p50 close to this is queueing, not
serving overhead.
"""

from __future__ import annotations

import random
from typing import Dict, Sequence

import numpy as np


def reference_tail(service_ms: Sequence[float], load: float, arrivals: int = 200_000, seed: int = 0) -> Dict[str, float]:
    """p50, p99 and p99/p50 of an M/G/1 FIFO queue at utilisation ``load`` with ``service_ms``'s shape.

    The service times are scaled to mean 1 (so the times returned are in units
    of the mean service time); only their shape, and so the ratio, matters.
    """
    samples = np.asarray(service_ms, dtype=float)
    samples = samples / samples.mean()
    rng = random.Random(seed)
    gen = np.random.default_rng(seed)
    service = gen.choice(samples, size=arrivals)
    wait = 0.0
    sojourn = np.empty(arrivals)
    for i in range(arrivals):
        sojourn[i] = wait + service[i]
        # Lindley's recursion: the next arrival waits for what is left of this one's work.
        wait = max(0.0, sojourn[i] - rng.expovariate(load))
    p50, p99 = np.percentile(sojourn, [50, 99])
    return {"p50": float(p50), "p99": float(p99), "p99_over_p50": float(p99 / p50), "load": load}
