"""HAProxy's stick tables against their written truth (limiters/TRUTH.md): the sliding-window
estimate counts refused requests when the request is tracked before the deny rule, and only
admitted ones when it is tracked after; the in-flight cap is per key."""

from __future__ import annotations

import math
import threading

import httpx
import pytest

from limiters.haproxy import HAProxyConcurrency, HAProxyQueue, HAProxyRate, \
    haproxy_version

from ..conftest import require_program
from .helpers import Inconclusive, Reply, assert_completion, fresh_key, post, post_at, \
    with_trials

pytestmark = pytest.mark.system


def estimate(previous: int, current: int, into_period: float) -> int:
    """TRUTH.md's reading of freq_ctr_total(): the previous period's count weighted by the
    part of it still inside the window, plus the current period's, rounded down. `current`
    counts the requests before the one judged; the one judged is refused when this is at the
    limit already (counted first and over the limit, or not counted and at it: the same)."""
    return math.floor(previous * (1 - into_period) + current)


def decided(previous: int, current: int, bracket: tuple[float, float], limit: int) -> bool:
    """Whether the truth refuses at every instant of the bracket (fractions of the second
    period); Inconclusive when the bracket straddles the boundary."""
    refused = {estimate(previous, current, f) >= limit for f in bracket}
    if len(refused) != 1 or not 0 <= bracket[0] <= bracket[1] < 1:
        raise Inconclusive(f"probe at {bracket} of the period")
    return refused.pop()


@pytest.fixture(scope="module", params=[True, False], ids=["counts-rejected", "admitted-only"])
def rate(request):
    require_program("haproxy")
    with HAProxyRate(limit=5, window_s=4, counts_rejected=request.param) as h:
        yield h


def test_sliding_estimate_counts_what_the_config_says(rate):
    n, w, counted = rate.limit, rate.window_s, rate.counts_rejected
    assert rate.truth()["counts_rejected"] is counted

    def trial():
        key = fresh_key("haproxy-rate")
        with httpx.Client(base_url=rate.url) as c:
            burst = [post(c, key) for _ in range(2 * n)]
            if burst[-1].replied - burst[0].sent > w / 20:
                raise Inconclusive("the burst did not fit in the window's first twentieth")
            # A fresh window admits exactly the limit, then refuses.
            assert [r.status for r in burst] == [200] * n + [429] * n, burst
            assert_completion(burst[0])
            # Another key has its own counter.
            assert post(c, fresh_key("haproxy-other")).status == 200
            anchor = (burst[0].sent, burst[0].replied)
            previous = 2 * n if counted else n
            # A quarter into the next period: 2n counted in the previous one weigh 1.5n and
            # refuse the probe; n (the admitted only) weigh 0.75n and let it in.
            p1 = post_at(c, key, anchor[0] + 1.25 * w)
            f1 = bracket(p1, anchor, w)
            assert decided(2 * n, 0, f1, n) != decided(n, 0, f1, n), "cannot tell them apart"
            assert (p1.status == 429) == decided(previous, 0, f1, n), (p1, f1)
            # Late in that period the weight has fallen: let in either way.
            p2 = post_at(c, key, anchor[0] + 1.85 * w)
            f2 = bracket(p2, anchor, w)
            p1_counted = int(counted or p1.status == 200)
            assert (p2.status == 429) == decided(previous, p1_counted, f2, n), (p2, f2)
            assert p2.status == 200
            assert p1.headers.get("retry-after") is None  # HAProxy sends none

    with_trials(trial)


def bracket(probe: Reply, anchor: tuple[float, float], window_s: float) -> tuple[float, float]:
    """The probe's instant as a fraction of the second period, whose start is the first
    request's instant plus one window."""
    return ((probe.sent - anchor[1]) / window_s - 1, (probe.replied - anchor[0]) / window_s - 1)


@pytest.fixture(scope="module")
def conc():
    require_program("haproxy")
    with HAProxyConcurrency(limit=2, delay_s=1.0) as h:
        yield h


def in_flight_violations(replies: list[Reply], limit: int, delay_s: float) -> list[str]:
    """What the truth (at most `limit` of a key in flight) forbids, whatever the unseen
    instants inside each bracket were."""
    admitted = [r for r in replies if r.status == 200]
    problems = []
    # Surely in flight: from the latest it can have arrived to the earliest it can have left.
    surely = [(r.replied - delay_s, r.sent + delay_s) for r in admitted]
    for start, _ in surely:
        if sum(s <= start <= e for s, e in surely) > limit:
            problems.append(f"more than {limit} surely in flight at {start:.3f}")
    for r in replies:
        if r.status == 429:  # refused: `limit` others must have been in flight meanwhile
            others = [a for a in admitted if a.sent <= r.replied and a.replied >= r.sent]
            if len(others) < limit:
                problems.append(f"refused with only {len(others)} possibly in flight: {r}")
    return problems


def concurrent_posts(url: str, keys: list[str]) -> list[Reply]:
    out: list[Reply | None] = [None] * len(keys)
    start = threading.Barrier(len(keys))

    def one(i: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            start.wait()
            out[i] = post(c, keys[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(keys))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(out), "a request thread did not finish"
    return out  # type: ignore[return-value]


def test_at_most_c_in_flight_per_key(conc):
    c_max, delay = conc.limit, conc.delay_s
    assert haproxy_version().startswith("2.6.")

    def trial():
        key, other = fresh_key("haproxy-conc"), fresh_key("haproxy-conc-other")
        replies = concurrent_posts(conc.url, [key] * (2 * c_max) + [other])
        mine, theirs = replies[:-1], replies[-1]
        assert in_flight_violations(mine, c_max, delay) == []
        assert theirs.status == 200, "another key's slots are its own"
        assert_completion(theirs)
        if sum(r.status == 429 for r in mine) == 0:
            raise Inconclusive("the requests did not overlap")
        assert sum(r.status == 200 for r in mine) == c_max, mine
        # Once they have left, the slots are free again.
        again = concurrent_posts(conc.url, [key] * c_max)
        assert in_flight_violations(again, c_max, delay) == []
        assert [r.status for r in again] == [200] * c_max

    with_trials(trial)


def test_queue_holds_the_excess_then_answers_or_gives_up():
    require_program("haproxy")
    with HAProxyQueue(limit=1, delay_s=1.0, queue_timeout_s=2.5) as q:
        delay, timeout = q.delay_s, q.queue_timeout_s
        assert q.truth()["queueing"] == {"size": None, "max_delay_s": timeout}

        def trial():
            # Four at once, different keys: the slot is shared by all of them.
            replies = concurrent_posts(q.url, [fresh_key("haproxy-queue") for _ in range(4)])
            assert {r.status for r in replies} <= {200, 503}, replies  # held, never a 429
            served = sorted((r for r in replies if r.status == 200), key=lambda r: r.replied)
            assert in_flight_violations(served, q.limit, delay) == []
            start = min(r.sent for r in replies)
            # One at a time upstream: the k-th answer cannot come before k holds have passed.
            for k, r in enumerate(served, 1):
                assert r.replied - start >= k * delay, (k, r)
            for r in replies:
                if r.status == 503:  # given up only after waiting the whole queue timeout
                    assert r.replied - r.sent >= timeout, r
            if len(served) < 2 or not any(r.status == 503 for r in replies):
                raise Inconclusive(f"no request was both held and answered, or none gave up: "
                                   f"{[r.status for r in replies]}")
            assert_completion(served[-1])

        with_trials(trial)
