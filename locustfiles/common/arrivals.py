"""Open-loop arrivals: requests leave on a schedule whatever is still in flight.

A schedule is a list of steps (rate, duration, phase). Each user of a scenario runs its share
of the schedule: with U users, user i sends every U-th arrival of a constant schedule (so the
users interleave evenly), or an independent Poisson stream of rate/U (the superposition of
those is Poisson at the full rate). Each request carries its intended time, so lateness and
latency from the intended time are measured, not hidden (no coordinated omission).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import gevent
from gevent.pool import Pool


@dataclass(frozen=True)
class Step:
    rate_per_s: float
    duration_s: float
    phase: str


def parse_rates(text: str, duration_s: float) -> list[Step]:
    """'5,10,20' -> steps of `duration_s` each, phases 'rate=5' ..."""
    steps = []
    for part in text.split(","):
        part = part.strip()
        try:
            rate = float(part)
        except ValueError:
            raise ValueError(f"rate {part!r} is not a number") from None
        if rate < 0:
            raise ValueError(f"rate {rate} is negative")
        steps.append(Step(rate, duration_s, f"rate={part}"))
    if not steps:
        raise ValueError("no rates given")
    return steps


def arrival_offsets(steps: list[Step], kind: str = "constant", users: int = 1, index: int = 0,
                    seed: int = 0) -> Iterator[tuple[float, str]]:
    """(seconds from the schedule's start, phase) for user `index` of `users`."""
    if kind not in ("constant", "poisson"):
        raise ValueError(f"arrivals must be constant or poisson, not {kind!r}")
    rng = random.Random(seed * 1_000_003 + index)
    begin = 0.0
    for step in steps:
        end = begin + step.duration_s
        if step.rate_per_s > 0:
            if kind == "constant":
                gap = 1.0 / step.rate_per_s
                k = index
                while begin + k * gap < end:
                    yield begin + k * gap, step.phase
                    k += users
            else:
                t = begin + rng.expovariate(step.rate_per_s / users)
                while t < end:
                    yield t, step.phase
                    t += rng.expovariate(step.rate_per_s / users)
        begin = end


def run_open_loop(send: Callable[[str, float], object], offsets: Iterator[tuple[float, str]],
                  start: float, max_in_flight: int,
                  stop: Callable[[], bool] = lambda: False) -> int:
    """Call send(phase, intended_ts) at each arrival in its own greenlet; returns how many.
    The schedule is cut short when stop() says so (the request cap is spent).

    Up to max_in_flight requests may be outstanding; past that the scheduler waits for one to
    finish, and the lateness of what follows shows it.
    """
    pool = Pool(max_in_flight)
    count = 0
    for offset, phase in offsets:
        intended = start + offset
        delay = intended - time.time()
        if delay > 0:
            gevent.sleep(delay)
        if stop():
            break
        pool.spawn(send, phase, intended)
        count += 1
    pool.join()
    return count
