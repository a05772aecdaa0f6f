"""Shaping (excess held and answered late, refused only beyond the queue) fitted from
synthetic tight loops, against its definition written out here in tokens: tokens accrue at
`rate` per second up to `bucket`, and a key's bucket starts full; an arriving request waits,
first come first served, for its own token; it is let in (held until its token) while fewer
than `size` of its key's let-in requests are still waiting and its wait is at most
`max_delay`, else refused at once (and the refusal changes nothing)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.decisions import decide
from analysis.quota import describe, fit_quota

from .test_concurrency_model import concurrency_limited_run

CHAT = "/v1/chat/completions"


class Shaper:
    def __init__(self, rate, bucket, size, max_delay=None):
        self.rate, self.bucket, self.size, self.max_delay = rate, bucket, size, max_delay
        self.keys: dict[str, dict] = {}

    def arrive(self, key: str, t: float) -> float | None:
        """When the request gets its token (held until then), or None: refused."""
        k = self.keys.setdefault(key, {"level": float(self.bucket), "clock": t, "last": t,
                                       "tokens": []})
        start = max(t, k["last"])
        level = min(self.bucket, k["level"] + (start - k["clock"]) * self.rate)
        token = start if level >= 1 else start + (1 - level) / self.rate
        waiting = sum(1 for x in k["tokens"] if x > t)
        if waiting >= self.size or (self.max_delay is not None
                                    and token - t > self.max_delay + 1e-9):
            return None
        k["level"] = max(level, 1.0) - 1
        k["clock"] = k["last"] = token
        k["tokens"].append(token)
        return token


def tight_loop(limiter, users_keys: list[str], seconds: float, generation=0.11,
               jitter=0.01, seed=3) -> pd.DataFrame:
    """Each user sends again as soon as its answer is in: a 429 comes back in 2 ms, an
    admitted request after its hold and its generation (with a little jitter)."""
    rng = random.Random(seed)
    rows = []
    clock = {u: 0.001 * u for u in range(len(users_keys))}
    while min(clock.values()) < seconds:
        u = min(clock, key=clock.get)
        t, key = clock[u], users_keys[u]
        token = limiter(key, t)
        if token is None:
            took, status = 0.002, 429
        else:
            took, status = token - t + generation * (1 + rng.uniform(-jitter, jitter)), 200
        rows.append({"key_id": key, "endpoint": CHAT, "sent_ts": 1e9 + t, "intended_ts": 1e9 + t,
                     "latency_ms": took * 1000, "ttfb_ms": took * 1000, "status": status,
                     "retry_after_s": np.nan, "user": u})
        clock[u] = t + took + 0.0005
    return pd.DataFrame(rows)


def test_held_without_a_429_is_a_shaped_bucket_whose_queue_was_not_reached():
    # The reference profile's `shaping` (2/s, bucket 1, queue 5) under 4 users on 3 keys: at
    # most 2 requests of a key in flight, so the queue never overflows and no 429 comes back.
    events = tight_loop(Shaper(2.0, 1, 5).arrive, ["a", "a", "b", "c"], 12)
    assert not (events["status"] == 429).any()
    assert (events["latency_ms"] > 300).mean() > 0.8  # held, answered late
    fit = fit_quota(decide(events))
    assert (fit.algorithm, fit.scope, fit.burst) == ("token_bucket", "per_key", 1), \
        fit.candidates[:3]
    assert fit.rate_per_s == pytest.approx(2.0, rel=0.03)
    q = fit.queueing
    assert q["reached"] is False and q["size"] is None and q["max_delay_s"] is None
    # the lower bounds are what was seen, and true: key a had 2 held at once, for up to a
    # second (its second request waited for the token after the first one's)
    assert q["held_most"] == 2 and 0.8 <= q["longest_wait_s"] <= 1.0
    words = describe(fit)
    assert words.startswith("token bucket with shaping: 2 requests/s sustained, bursts of 1 "
                            "per key; excess requests are held"), words
    assert "its size and longest wait were not reached: at least 2 held at once" in words
    assert "make probe" in words
    assert fit.agreement >= 0.99


def test_a_queue_that_overflows_gives_its_size_not_a_bigger_bucket():
    # Bucket 1 with a queue of 2 admits exactly what a plain bucket of 3 admits; only the
    # holds tell them apart (the fit before issue 13 answered "token bucket 2/s burst 3").
    events = tight_loop(Shaper(2.0, 1, 2).arrive, ["a"] * 6, 8)
    assert (events["status"] == 429).any()
    fit = fit_quota(decide(events))
    assert (fit.algorithm, fit.burst) == ("token_bucket", 1), fit.candidates[:3]
    assert fit.rate_per_s == pytest.approx(2.0, rel=0.03)
    assert fit.queueing["reached"] is True
    assert (fit.queueing["size"], fit.queueing["max_delay_s"]) == (2, None), fit.candidates[:3]
    assert "up to 2 at once (a request beyond them is refused)" in describe(fit)
    assert fit.candidates[0]["algorithm"] == "shaping"
    # the decisions-only twins are in the table, below it
    assert any(c["algorithm"] == "token_bucket" for c in fit.candidates)


def test_a_queue_bounded_by_its_longest_wait_gives_that_wait():
    events = tight_loop(Shaper(2.0, 2, 5, max_delay=0.8).arrive, ["a"] * 6, 8)
    assert (events["status"] == 429).any()
    fit = fit_quota(decide(events))
    assert (fit.algorithm, fit.burst) == ("token_bucket", 2), fit.candidates[:3]
    assert fit.queueing["size"] is None
    assert fit.queueing["max_delay_s"] == pytest.approx(0.8, rel=0.03), fit.candidates[:3]
    assert "for up to 0.8 s (a request that would wait longer is refused)" in describe(fit)


def test_a_global_queue_is_told_from_per_key_ones():
    events = tight_loop(Shaper(2.0, 1, 5).arrive, ["*"] * 3, 8).assign(
        key_id=lambda d: np.where(d["user"] == 0, "a", np.where(d["user"] == 1, "b", "c")))
    fit = fit_quota(decide(events))
    assert (fit.algorithm, fit.scope) == ("token_bucket", "global"), fit.candidates[:3]
    assert fit.rate_per_s == pytest.approx(2.0, rel=0.03)


def test_generations_of_varying_length_are_no_shaping():
    # A plain bucket (2/s, burst 3) whose answers take 0.1 to 0.6 s: long first bytes that
    # follow no bucket's schedule are not holds, and the bucket is fitted as before.
    rng = random.Random(5)
    tat = {"a": -1e9}

    def bucket(key, t):
        if max(tat[key], t) - t > 2 * 0.5 + 1e-9:
            return None
        tat[key] = max(tat[key], t) + 0.5
        return t + rng.uniform(0.0, 0.5)  # no hold: the "token" time only lengthens the answer
    events = tight_loop(bucket, ["a"], 10, generation=0.1)
    fit = fit_quota(decide(events))
    assert (fit.algorithm, fit.burst, fit.queueing) == ("token_bucket", 3, None), \
        fit.candidates[:3]


def test_no_429_says_how_many_were_in_flight():
    # 2 users on one key, nothing limits them: a concurrency cap of 2 or more refuses none.
    events = tight_loop(lambda key, t: t, ["a", "a", "b"], 3, generation=0.1)
    fit = fit_quota(decide(events))
    assert fit.algorithm == "none_observed"
    assert fit.in_flight_most == {"per_key": 2, "global": 3, "unavailable": 0}
    words = describe(fit)
    assert ("with up to 2 requests admitted in flight at once per key (3 for all keys "
            "together): a concurrency cap of at least that many would have refused none") \
        in words, words


def test_keys_used_alike_do_not_make_the_holds_a_global_window():
    # A 4 s tight loop of 6 users on 3 keys against the gateway's shaper (2/s, bucket 1,
    # queue of 1 per key; kept as test data): 429s beyond the queue. The holds are the
    # requests' whatever the scope: a global fixed window that admits the same requests
    # (3 per 0.5 s) does not hold them, and won while only the scope whose shaping explained
    # the holds was judged on them.
    events = pd.read_parquet(Path(__file__).parent / "data" /
                             "shaping-queue-1-keys-alike.parquet")
    assert (events["status"] == 429).any()
    fit = fit_quota(decide(events))
    assert (fit.algorithm, fit.scope, fit.burst) == ("token_bucket", "per_key", 1), \
        fit.candidates[:3]
    assert fit.rate_per_s == pytest.approx(2.0, rel=0.03)
    assert fit.queueing["size"] == 1, fit.candidates[:3]


def capped_loop(limit: int, users: int, seconds: float, refusal_s: float) -> pd.DataFrame:
    """A closed loop against at most `limit` in flight, the excess refused with 503 after
    `refusal_s`; answers take 0.1 to 0.6 s."""
    return concurrency_limited_run(limit, users, seconds, status=503, refusal_s=refusal_s,
                                   seed=11)


def test_a_cap_refusing_with_503_at_once_is_read_as_a_cap():
    fit = fit_quota(decide(capped_loop(2, 5, 20, refusal_s=0.002)))
    assert (fit.algorithm, fit.limit, fit.refusal_status) == ("concurrency", 2, 503), \
        fit.candidates[:3]
    assert describe(fit) == "at most 2 requests in flight (refused with 503, not 429)"


def test_503s_after_a_routing_delay_are_a_busy_pool_not_a_quota():
    # the same refusals, answered after 60 ms (a node pool routes before it gives up)
    fit = fit_quota(decide(capped_loop(2, 5, 20, refusal_s=0.06)))
    assert fit.algorithm == "none_observed"
    assert "503s may be a concurrency cap's refusals or a busy node pool" in describe(fit)


def test_a_limiter_refusing_with_503_is_not_also_simulated_as_a_busy_pool():
    """The tuner's server model: with the fit reading the quick 503s as the limiter's
    refusals, they are its 429s to the simulator, not a node pool's random 503s as well."""
    from analysis.quota import QuotaFit
    from analysis.retry_after import RetryAfterAudit
    from analysis.tune import server_model

    events = capped_loop(2, 5, 20, refusal_s=0.002)
    fit = QuotaFit("token_bucket", "per_key", rate_per_s=2.0, burst=2, refusal_status=503)
    assert server_model(events, fit, RetryAfterAudit("absent")).p_unavailable == 0.0
    fit.refusal_status = 429  # read as a pool's 503s, they are what the pool sheds
    assert server_model(events, fit, RetryAfterAudit("absent")).p_unavailable > 0.1


@pytest.mark.parametrize("kept", ["shaping-probe-burst-out-of-order",
                                  "shaping-probe-burst-after-an-answer"])
def test_a_burst_into_the_queue_is_read_in_the_order_it_was_served(kept):
    """The shaping profile (2/s, a queue of 5) through the probe, kept from two runs that
    failed: 16 requests sent at once, 1 served, 5 held, 10 refused. In send order the holds
    read 0, 0.5, 1, 2, 1.5, 2.5 s (the server took the burst in another order), which no
    bucket releases, so the holds counted for nothing and a fixed window won. Read in the
    order they were answered, the shaped bucket explains them. In the second run the burst's
    last two were sent 0.02 and 0.12 ms after its first refusal was answered, which made the
    whole burst not one sent together; they now begin a group of their own."""
    events = pd.read_parquet(Path(__file__).parent / "data" / f"{kept}.parquet")
    fit = fit_quota(decide(events))
    assert (fit.algorithm, fit.burst, fit.scope) == ("token_bucket", 1, "per_key"), \
        describe(fit)
    assert fit.rate_per_s == pytest.approx(2.0, rel=0.03)
    assert fit.queueing["size"] == 5 and fit.queueing["reached"]
