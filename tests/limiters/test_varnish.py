"""Varnish's vsthrottle against its written truth (limiters/TRUTH.md): a token bucket whose
refill keeps only whole tokens since the last token taken, and a lockout after a refusal
during which requests still take tokens (and restart the refill) while being refused."""

from __future__ import annotations

import httpx
import pytest

from limiters import varnish
from limiters.varnish import VarnishThrottle

from .helpers import Inconclusive, Reply, assert_completion, fresh_key, post, post_at, \
    require_installed, with_trials

pytestmark = pytest.mark.system


def since(r: Reply, earlier: Reply) -> tuple[float, float]:
    """The bracket of limiter time from `earlier`'s instant to `r`'s."""
    return (r.sent - earlier.replied, r.replied - earlier.sent)


def inside(bracket: tuple[float, float], lo: float, hi: float, what: str) -> None:
    if not (lo <= bracket[0] and bracket[1] < hi):
        raise Inconclusive(f"{what} at {bracket}, not inside [{lo}, {hi})")


@pytest.fixture(scope="module")
def bucket():
    require_installed(varnish.missing())
    with VarnishThrottle(limit=2, period_s=4.0, block_s=0) as v:
        yield v


def test_refill_keeps_only_whole_tokens(bucket):
    # 2 per 4 s: a token every 2 s, counted from the last token taken.
    assert bucket.truth()["lockout_s"] is None

    def trial():
        key = fresh_key("vsthrottle")
        with httpx.Client(base_url=bucket.url) as c:
            burst = [post(c, key) for _ in range(3)]
            assert [r.status for r in burst] == [200, 200, 429], burst
            assert_completion(burst[0])
            assert post(c, fresh_key("vsthrottle-other")).status == 200  # per key
            last_taken = burst[1]
            # 3 s on: one whole token (the refusal in between moved nothing).
            p = post_at(c, key, last_taken.sent + 3.0)
            inside(since(p, last_taken), 2.0, 4.0, "first probe")
            assert p.status == 200, p
            # 1.4 s after that: the half token left at the probe was dropped when it took
            # its token, so nothing yet (a bucket keeping fractions would hold 1.2 now).
            q = post_at(c, key, p.sent + 1.4)
            inside(since(q, p), 1.0, 2.0, "second probe")
            assert q.status == 429, q

    with_trials(trial)


@pytest.fixture(scope="module")
def locking():
    require_installed(varnish.missing())
    with VarnishThrottle(limit=2, period_s=4.0, block_s=3.0) as v:
        yield v


def test_lockout_takes_tokens_while_refusing(locking):
    # 2 per 4 s (a token every 2 s), a 3 s lockout from the first refusal.
    assert (locking.truth()["lockout_s"], locking.truth()["lockout_extends"]) == (3.0, False)

    def trial():
        key = fresh_key("vsthrottle-lock")
        with httpx.Client(base_url=locking.url) as c:
            burst = [post(c, key) for _ in range(3)]
            assert [r.status for r in burst] == [200, 200, 429], burst
            last_taken, refusal = burst[1], burst[2]
            # 2.5 s on, inside the lockout: a token has come back, but the key is locked:
            # refused, and the token is taken all the same.
            p = post_at(c, key, refusal.sent + 2.5)
            inside(since(p, refusal), 2.0, 3.0, "probe in the lockout")
            inside(since(p, last_taken), 2.0, 4.0, "probe's refill")
            assert p.status == 429, p
            # After the lockout, less than a token's time after the probe: the bucket is
            # empty (a lockout that took no tokens would admit here) and the refusal starts
            # a new lockout.
            q = post_at(c, key, refusal.sent + 3.6)
            inside(since(q, refusal), 3.0, 1e9, "probe after the lockout")
            inside(since(q, p), 0.0, 2.0, "probe's refill")
            assert q.status == 429, q
            # Waiting out that new lockout (and two tokens' time) gives the whole bucket back.
            back = [post_at(c, key, q.replied + 4.1), post(c, key), post(c, key)]
            assert [r.status for r in back] == [200, 200, 429], back

    with_trials(trial)
