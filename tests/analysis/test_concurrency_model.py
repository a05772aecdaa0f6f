"""The concurrency model (at most `limit` requests in flight) against its definition, written
out here: a request is admitted when fewer than `limit` of the admitted requests before it
are still unanswered at its decision."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
from hypothesis import given, settings, strategies as st

from analysis.decisions import decide
from analysis.quota import Stream, fit_quota
from analysis.quota.concurrency import replay


def admitted_by_hand(starts, ends, passed, limit) -> list[bool]:
    out = []
    for i, t in enumerate(starts):
        busy = sum(1 for j in range(i) if passed[j] and ends[j] > t)
        out.append(busy < limit)
    return out


def stream(starts, ends, passed) -> Stream:
    t, passed = np.array(starts, float), np.array(passed, bool)
    return Stream(t=t, t_late=t, slack=0.0, passed=passed, rejected=~passed,
                  scored=np.ones(len(t), bool), ok=passed.copy(), end=np.array(ends, float),
                  retry_after=np.full(len(t), np.nan))


requests = st.lists(st.tuples(st.floats(0, 1), st.floats(0.001, 2), st.booleans()),
                    min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(requests, st.integers(1, 6))
def test_concurrency_admits_while_fewer_than_the_limit_are_in_flight(reqs, limit):
    starts = np.cumsum([gap for gap, _, _ in reqs])  # decision order; equal times allowed
    ends = [s + took for s, (_, took, _) in zip(starts, reqs)]
    passed = [p for _, _, p in reqs]
    s = stream(starts, ends, passed)
    hand = admitted_by_hand(list(starts), ends, passed, limit)
    assert replay({"limit": limit}, s, s.t, s.t).tolist() == hand


def test_a_request_answered_at_the_decision_no_longer_counts():
    # Two in flight at most: the third is decided at the very moment the first one ends.
    s = stream([0.0, 0.1, 1.0, 1.0], [1.0, 2.0, 3.0, 3.0], [True, True, True, True])
    assert replay({"limit": 2}, s, s.t, s.t).tolist() == [True, True, True, False]
    assert admitted_by_hand([0.0, 0.1, 1.0, 1.0], [1.0, 2.0, 3.0, 3.0], [True] * 4, 2) == \
        [True, True, True, False]


def concurrency_limited_run(limit: int, users: int, seconds: float, status: int = 429,
                            refusal_s: float = 0.002, seed: int = 7) -> pd.DataFrame:
    """A closed loop of `users` against a server that admits a request while fewer than
    `limit` are in flight (replies take 0.1 to 0.6 s: no window could time them) and refuses
    the others with `status` after `refusal_s` (at once: 2 ms)."""
    rng = random.Random(seed)
    rows, ends_admitted = [], []
    clock = {u: 0.001 * u for u in range(users)}
    while min(clock.values()) < seconds:
        u = min(clock, key=clock.get)
        t = clock[u]
        busy = sum(1 for e in ends_admitted if e > t)
        ok = busy < limit
        latency = rng.uniform(0.1, 0.6) if ok else refusal_s
        if ok:
            ends_admitted.append(t + latency)
        rows.append({"phase": "", "logical_id": f"{u}-{len(rows)}", "attempt": 1,
                     "key_id": "k1", "endpoint": "/v1/chat/completions", "intended_ts": t,
                     "sent_ts": t, "latency_ms": latency * 1000, "ttfb_ms": latency * 1000,
                     "status": 200 if ok else status,
                     "outcome": "ok" if ok else "rate_limited", "retry_after_s": np.nan,
                     "worker": "w", "user": u})
        clock[u] = t + latency + 0.05  # the next request after a short think time
    return pd.DataFrame(rows)


def test_a_concurrency_limited_server_is_fitted_as_one():
    events = concurrency_limited_run(limit=2, users=5, seconds=20)
    assert (events["status"] == 429).any() and (events["status"] == 200).any()
    fit = fit_quota(decide(events))
    assert (fit.algorithm, fit.limit) == ("concurrency", 2), fit.candidates[:3]
    assert fit.agreement >= 0.99
