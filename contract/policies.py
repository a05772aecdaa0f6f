"""Client retry policies: the rules the simulator replays and the live clients obey.

Standard library only: the backoff locustfile imports this module (locustfiles never import
pandas), so the simulated policy and the live one are the same code, not two copies.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

# The OpenAI Python SDK's retry rules (openai/_constants.py and _base_client.py, 3.x):
SDK_MAX_RETRIES = 2
SDK_INITIAL_RETRY_DELAY = 0.5
SDK_MAX_RETRY_DELAY = 8.0
SDK_MAX_RETRY_AFTER = 120.0

KINDS = ("none", "sdk_default", "full_jitter", "equal_jitter", "decorrelated", "retry_after")
BUDGET_CAP = 10.0  # retry tokens a client may save up


@dataclass(frozen=True)
class Policy:
    kind: str  # one of KINDS
    max_retries: int = 0
    base_s: float = 0.5
    cap_s: float = 8.0
    jitter_s: float = 0.0  # retry_after: added uniformly on top of the stated wait
    pacer_fraction: float | None = None  # pace sends at this share of the fitted rate
    budget_ratio: float | None = None  # retries allowed per logical request, on average

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown policy kind {self.kind!r} (one of {', '.join(KINDS)})")

    def label(self) -> str:
        parts = [self.kind]
        if self.kind in ("full_jitter", "equal_jitter", "decorrelated"):
            parts.append(f"base={self.base_s:g}s cap={self.cap_s:g}s")
        if self.kind == "retry_after":
            parts.append(f"jitter={self.jitter_s:g}s")
        if self.kind not in ("none", "sdk_default"):
            parts.append(f"retries={self.max_retries}")
        if self.pacer_fraction:
            parts.append(f"pacer={self.pacer_fraction:g}")
        if self.budget_ratio:
            parts.append(f"budget={self.budget_ratio:g}")
        return " ".join(parts)


def next_delay(policy: Policy, retry: int, retry_after: float | None, previous: float,
               rng: random.Random) -> float | None:
    """Seconds to wait before retry number `retry` (0 = the first retry), or None to stop.

    `retry_after` is the stated wait of the response (None when it stated none); `previous`
    is the last delay (decorrelated jitter grows from it).
    """
    if retry_after is not None and not math.isfinite(retry_after):
        retry_after = None
    if policy.kind == "none":
        return None
    if policy.kind == "sdk_default":
        if retry >= SDK_MAX_RETRIES:
            return None
        if retry_after is not None:
            if retry_after > SDK_MAX_RETRY_AFTER:
                return None  # the SDK does not retry past two minutes
            if retry_after > 0:
                return retry_after
        sleep = min(SDK_INITIAL_RETRY_DELAY * 2.0 ** retry, SDK_MAX_RETRY_DELAY)
        return sleep * (1 - 0.25 * rng.random())
    if retry >= policy.max_retries:
        return None
    ceiling = min(policy.cap_s, policy.base_s * 2.0 ** retry)
    if policy.kind == "full_jitter":
        return rng.uniform(0, ceiling)
    if policy.kind == "equal_jitter":
        return ceiling / 2 + rng.uniform(0, ceiling / 2)
    if policy.kind == "decorrelated":
        return min(policy.cap_s, rng.uniform(policy.base_s, max(policy.base_s, previous * 3)))
    # retry_after
    if retry_after is not None and retry_after >= 0:
        return retry_after + rng.uniform(0, policy.jitter_s)
    return rng.uniform(0, ceiling)  # no stated wait: full jitter


class Pacer:
    """Sends no faster than `rate` per second: each send reserves the next free slot."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1 / rate if rate and math.isfinite(rate) and rate > 0 else 0.0
        self.next_free = -math.inf

    def slot(self, now: float) -> float:
        """When a send wanted at `now` may go (without reserving it)."""
        return max(now, self.next_free) if self.interval else now

    def take(self, send: float) -> None:
        if self.interval:
            self.next_free = send + self.interval


class RetryBudget:
    """A token bucket of retries: each logical request earns `ratio`, each retry spends one."""

    def __init__(self, ratio: float | None) -> None:
        self.ratio = ratio
        self.tokens = BUDGET_CAP

    def earn(self) -> None:
        if self.ratio:
            self.tokens = min(BUDGET_CAP, self.tokens + self.ratio)

    def spend(self) -> bool:
        if not self.ratio:
            return True
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def poisson_arrivals(rate_per_s: float, count: int, seed: int) -> list[float]:
    """Arrival offsets (s from the start) of `count` logical requests at `rate_per_s`: the
    same schedule for the simulation and the live run of one seed."""
    rng = random.Random(seed)
    t, out = 0.0, []
    for _ in range(count):
        t += rng.expovariate(rate_per_s)
        out.append(t)
    return out


def pacer_rate(policy: Policy, sustained_rate: float) -> float | None:
    if policy.pacer_fraction and math.isfinite(sustained_rate):
        return policy.pacer_fraction * sustained_rate
    return None
