"""rate-limiter-flexible's RateLimiterMemory against its written truth (limiters/TRUTH.md): a
fixed window from the key's first request, a lockout from the first refusal that later
refusals do not extend, and a Retry-After that a client can honour."""

from __future__ import annotations

import httpx
import pytest

from limiters import rate_limiter_flexible
from limiters.rate_limiter_flexible import RateLimiterFlexible

from .helpers import Inconclusive, assert_completion, fresh_key, post, post_at, require_installed, \
    with_trials

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def flexible():
    require_installed(rate_limiter_flexible.missing())
    with RateLimiterFlexible(points=3, duration_s=2, block_s=4) as limiter:
        yield limiter


def test_lockout_outlasts_the_window_and_refusals_do_not_extend_it(flexible):
    n, w, lock = flexible.points, flexible.duration_s, flexible.block_s
    truth = flexible.truth()
    assert (truth["lockout_s"], truth["lockout_extends"]) == (lock, False)
    assert lock > w  # so that a refusal after the window's end can only be the lockout

    def trial():
        key = fresh_key("flexible")
        with httpx.Client(base_url=flexible.url) as c:
            burst = [post(c, key) for _ in range(n + 2)]
            assert [r.status for r in burst] == [200] * n + [429] * 2, burst
            assert_completion(burst[0])
            first, refusal = burst[0], burst[n]
            # The first refusal sets the lockout: its whole length, in whole seconds.
            assert refusal.headers["retry-after"] == str(lock)
            assert 1 <= int(burst[n + 1].headers["retry-after"]) <= lock
            assert post(c, fresh_key("flexible-other")).status == 200  # per key
            # After the window's end and inside the lockout: still refused.
            probe = post_at(c, key, first.sent + w + (lock - w) / 2)
            if not (probe.sent - first.replied > w and probe.replied - refusal.sent < lock):
                raise Inconclusive("the probe missed the gap between window and lockout")
            assert probe.status == 429, probe
            # Honouring the probe's Retry-After lets the key in: the probe's refusal did not
            # extend the lockout, and the stated wait was long enough.
            wait = int(probe.headers["retry-after"])
            assert 1 <= wait <= lock
            back = post_at(c, key, probe.replied + wait)
            assert back.status == 200, back
            # That request opened a fresh window of the whole quota.
            rest = [post(c, key) for _ in range(n)]
            assert [r.status for r in rest] == [200] * (n - 1) + [429], rest

    with_trials(trial)
