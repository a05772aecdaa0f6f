"""Retry policies simulated against a fitted quota: which client settings to ship.

A discrete-event simulation: logical requests arrive (Poisson) at an offered load; each
attempt meets the fitted limiter (admitted or 429 with the server's kind of Retry-After),
admitted attempts may meet a 503 at the rate the run saw; the policy decides whether and when
to retry, within a deadline. Pure: parameters in, figures out; the random stream is seeded.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import asdict, dataclass, field

from contract.policies import (SDK_MAX_RETRIES, Pacer, Policy, RetryBudget,  # noqa: F401
                               next_delay, pacer_rate, poisson_arrivals)
from .quota import FAMILIES
from .quota import online_limiter as quota_online_limiter

# --- the server -----------------------------------------------------------------------------

@dataclass
class ServerModel:
    algorithm: str  # as QuotaFit.algorithm, or "none_observed"
    limit: int | None = None
    window_s: float | None = None
    rate_per_s: float | None = None
    burst: int | None = None
    alignment: str | None = None
    counts_rejected: bool = False
    # fit-modifiers (issue 13): as QuotaFit's (a per-key map of phases: one key's, taken as 0)
    phase_s: float | dict | None = None
    lockout_s: float | None = None
    lockout_extends: bool | None = None
    retry_after: str = "whole"  # exact | whole | constant | absent
    retry_after_constant_s: float = 1.0
    p_unavailable: float = 0.0
    # The run's 503 share second by second, replayed from the start and repeated: 503s that
    # came in an outage come in outages (a retry a second later meets one again), not
    # scattered as independent draws would scatter them. None: p_unavailable throughout.
    unavailable_by_second: list[float] | None = None
    unavailable_retry_after_s: float | None = None
    latency_ok_s: float = 0.1
    # a shaped bucket's queue (QuotaFit.queueing): excess held and let in, not refused
    queueing: dict | None = None
    latency_rejected_s: float = 0.002
    latency_unavailable_s: float = 0.05
    # How much the moment the server decides varies around send + latency (s): a client
    # pacing at exactly the quota's rate lands a hair early at some window edges.
    decision_jitter_s: float = 0.0

    @property
    def sustained_rate(self) -> float:
        if self.rate_per_s:
            return self.rate_per_s
        if self.limit and self.window_s:
            return self.limit / self.window_s
        return math.inf


class _Unlimited:
    """No quota observed: every attempt passes it (503s are drawn apart)."""

    def admit(self, t: float, end: float = math.inf) -> tuple[bool, float]:
        return True, 0.0


def online_limiter(m: ServerModel):
    """The fitted quota as a live limiter: admit(t, end) -> (allowed, exact wait until
    reopening); the same algorithm the fit replays (analysis.quota's families)."""
    if m.algorithm in FAMILIES:
        return quota_online_limiter(m)
    return _Unlimited()


def stated_wait(m: ServerModel, wait: float) -> float | None:
    """The Retry-After the server model sends for an exact wait."""
    mode = m.retry_after
    if mode == "absent":
        return None
    if mode == "constant":
        return m.retry_after_constant_s
    if mode == "exact":
        return math.ceil(wait * 1000) / 1000
    return float(max(1, math.ceil(wait)))


# --- the simulation -------------------------------------------------------------------------

@dataclass
class Outcome:
    policy: str
    offered_per_s: float
    logical: int
    successes: int
    attempts: int
    rejected: int
    unavailable: int
    goodput_per_s: float
    success_ratio: float
    attempts_per_success: float
    rejected_per_success: float
    p50_s: float
    p99_s: float
    ideal_goodput_per_s: float
    params: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def simulate(policy: Policy, server: ServerModel, offered_per_s: float, logical: int = 10_000,
             deadline_s: float = 30.0, seed: int = 0,
             arrivals: list[float] | None = None) -> Outcome:
    """One policy over `logical` Poisson arrivals (or the given arrival offsets, in seconds:
    the live run's own schedule), against the server model."""
    intended = arrivals if arrivals is not None else poisson_arrivals(offered_per_s, logical,
                                                                      seed)
    logical = len(intended)
    rng = random.Random(seed + 1_000_003)  # jitter and 503 draws, apart from the arrivals
    limiter = online_limiter(server)
    events = [(t, i, i, 0, 0.0) for i, t in enumerate(intended)]  # (time, seq, req, retry, prev)
    seq = len(events)
    heapq.heapify(events)
    pacer = Pacer(pacer_rate(policy, server.sustained_rate))
    budget = RetryBudget(policy.budget_ratio)
    done_at: list[float] = []
    finished: list[float] = []
    attempts = rejected = unavailable = 0
    while events:
        now, _, req, retry, previous = heapq.heappop(events)
        send = pacer.slot(now)
        if send + server.latency_ok_s - intended[req] > deadline_s:
            continue  # it could not finish by its deadline: not sent, using no pacer slot
        pacer.take(send)
        attempts += 1
        if retry == 0:
            budget.earn()
        jitter = rng.uniform(0, server.decision_jitter_s) if server.decision_jitter_s else 0.0
        allowed, wait = limiter.admit(send + jitter, send + server.latency_ok_s)
        if allowed and rng.random() >= p_unavailable_at(server, send):
            finish = send + server.latency_ok_s
            if finish - intended[req] <= deadline_s:
                done_at.append(finish - intended[req])
                finished.append(finish)
            continue
        if allowed:
            unavailable += 1
            finish = send + server.latency_unavailable_s
            stated = server.unavailable_retry_after_s
        else:
            rejected += 1
            finish = send + server.latency_rejected_s
            stated = stated_wait(server, wait)
        delay = next_delay(policy, retry, stated, previous, rng)
        if delay is None or finish + delay - intended[req] > deadline_s:
            continue
        if not budget.spend():
            continue
        heapq.heappush(events, (finish + delay, seq, req, retry + 1, delay))
        seq += 1
    rate = steady_rate(finished, intended[0] if intended else 0.0,
                       intended[-1] if intended else 0.0)
    return Outcome(
        policy=policy.label(), offered_per_s=offered_per_s, logical=logical,
        successes=len(done_at), attempts=attempts, rejected=rejected, unavailable=unavailable,
        goodput_per_s=rate, **latency_figures(done_at, logical, attempts, rejected),
        # against the arrivals this schedule really holds in the steady state, as goodput
        # is counted: a Poisson schedule runs a little over or under its nominal rate
        ideal_goodput_per_s=ideal_goodput(
            steady_rate(intended, intended[0], intended[-1]) if logical >= 2 else offered_per_s,
            server.sustained_rate, server.p_unavailable),
        params=asdict(policy))


def p_unavailable_at(server: ServerModel, t: float) -> float:
    profile = server.unavailable_by_second
    return profile[int(t) % len(profile)] if profile else server.p_unavailable


def steady_rate(finished: list[float], first: float, last: float) -> float:
    """Completions per second in the steady state: between 10% and 90% of the arrival span,
    so that neither the fresh quota at the start nor the backlog draining after the last
    arrival bends the figure (the simulated and the live run use this same rule)."""
    lo, hi = first + 0.1 * (last - first), first + 0.9 * (last - first)
    if hi <= lo:
        return 0.0
    return sum(1 for f in finished if lo <= f < hi) / (hi - lo)


def latency_figures(done_at: list[float], logical: int, attempts: int, rejected: int) -> dict:
    lat = sorted(done_at)
    successes = len(lat)

    def q(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else math.nan

    return {"success_ratio": successes / logical if logical else math.nan,
            "attempts_per_success": attempts / successes if successes else math.inf,
            "rejected_per_success": rejected / successes if successes else math.inf,
            "p50_s": q(0.5), "p99_s": q(0.99)}


def ideal_goodput(offered_per_s: float, sustained_rate: float, p_unavailable: float) -> float:
    """The most a client could get: every request served, up to what the quota admits that
    finds a free node (an attempt refused with 503 has used its quota: the gateway counts
    it). A 503 is not a lost request: a retry can still get it through."""
    return min(offered_per_s, sustained_rate * (1 - p_unavailable if p_unavailable < 1 else 0))


def policy_grid() -> list[Policy]:
    """The settings the tuner tries (a few hundred)."""
    grid = [Policy("none"), Policy("sdk_default", max_retries=SDK_MAX_RETRIES)]
    for kind in ("full_jitter", "equal_jitter"):
        for base in (0.25, 0.5, 1.0, 2.0):
            for cap in (4.0, 8.0, 16.0, 32.0):
                for retries in (3, 5, 8, 12):
                    grid.append(Policy(kind, retries, base, cap))
    for base in (0.25, 0.5, 1.0, 2.0):
        for cap in (8.0, 16.0, 32.0):
            for retries in (3, 5, 8, 12):
                grid.append(Policy("decorrelated", retries, base, cap))
    for jitter in (0.0, 0.1, 0.5, 1.0):
        for retries in (3, 5, 8, 12):
            grid.append(Policy("retry_after", retries, jitter_s=jitter))
            for fraction in (0.8, 0.9, 0.95, 1.0):
                grid.append(Policy("retry_after", retries, jitter_s=jitter,
                                   pacer_fraction=fraction))
    for ratio in (0.1, 0.2, 0.5):
        for base in (0.5, 1.0):
            grid.append(Policy("full_jitter", 5, base, 16.0, budget_ratio=ratio))
    return grid


def recommend(outcomes: list[Outcome], max_rejected_per_success: float = 0.2,
              max_p99_s: float | None = None, goodput_tolerance: float = 0.0
              ) -> Outcome | None:
    """The most goodput among the settings within the limits; fewer 429s break ties. With a
    tolerance, every setting within that share of the most goodput ties, and then fewer 429s,
    then fewer attempts per success win."""
    ok = [o for o in outcomes if o.rejected_per_success <= max_rejected_per_success
          and (max_p99_s is None or (o.p99_s == o.p99_s and o.p99_s <= max_p99_s))]
    if not ok:
        return None
    if goodput_tolerance:
        top = max(o.goodput_per_s for o in ok)
        near = [o for o in ok if o.goodput_per_s >= (1 - goodput_tolerance) * top]
        return min(near, key=lambda o: (o.rejected_per_success, o.attempts_per_success))
    return max(ok, key=lambda o: (round(o.goodput_per_s, 6), -o.rejected_per_success))
