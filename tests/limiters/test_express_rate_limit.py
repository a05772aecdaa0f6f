"""express-rate-limit against its written truth (limiters/TRUTH.md): a fixed window from each
key's own first request (not a sliding one), an honest Retry-After, and the IETF draft headers
it declares, in the shape of each draft."""

from __future__ import annotations

import re

import httpx
import pytest

from contract.headers import parse_declared, pick
from limiters import express_rate_limit
from limiters.express_rate_limit import ExpressRateLimit

from .helpers import Inconclusive, assert_completion, fresh_key, post, post_at, require_installed, \
    with_trials

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def express():
    require_installed(express_rate_limit.missing())
    with ExpressRateLimit(limit=4, window_s=3, headers="draft-8") as limiter:
        yield limiter


def test_fixed_window_per_key_from_its_first_request(express):
    n, w = express.limit, express.window_s
    assert express.truth()["alignment"] == "first_request"

    def trial():
        a, b = fresh_key("erl-a"), fresh_key("erl-b")
        with httpx.Client(base_url=express.url) as c:
            first = post(c, a)
            assert_completion(first)
            # Key b starts its own window half a window later, and uses it all up.
            b_burst = [post_at(c, b, first.sent + w / 2)] + [post(c, b) for _ in range(n)]
            assert [r.status for r in b_burst] == [200] * n + [429], b_burst
            # Late in a's window: the rest of its quota, then refusals.
            late = [post_at(c, a, first.sent + 0.8 * w)] + [post(c, a) for _ in range(n)]
            if late[-1].replied - first.sent >= w:
                raise Inconclusive("the late requests were not all inside a's first window")
            assert [r.status for r in late] == [200] * (n - 1) + [429] * 2, late
            # Honouring Retry-After opens a's next window: the whole quota at once, which a
            # sliding window (still holding the late ones) would refuse.
            wait = int(late[-1].headers["retry-after"])
            assert 1 <= wait <= w
            again = [post_at(c, a, late[-1].replied + wait)] + [post(c, a) for _ in range(n)]
            assert [r.status for r in again] == [200] * n + [429], again
            # ... while b, whose window started later, is still refused.
            b_probe = post(c, b)
            if b_probe.replied - b_burst[0].sent >= w:
                raise Inconclusive("b's window was over before its probe")
            assert b_probe.status == 429, b_probe

    with_trials(trial)


def test_draft8_headers_declare_the_real_policy(express):
    n, w = express.limit, express.window_s
    with httpx.Client(base_url=express.url) as c:
        key = fresh_key("erl-headers")
        replies = [post(c, key) for _ in range(n + 1)]
    name = f'"{n}-in-{w}sec"'
    for i, r in enumerate(replies):
        policy = re.fullmatch(rf'{name}; q={n}; w={w}; pk=:([A-Za-z0-9+/=]+):',
                              r.headers["ratelimit-policy"])
        assert policy, r.headers
        state = re.fullmatch(rf"{name}; r=(\d+); t=(\d+)", r.headers["ratelimit"])
        assert state, r.headers
        assert int(state[1]) == max(n - 1 - i, 0)
        assert 1 <= int(state[2]) <= w
    assert replies[-1].status == 429
    assert replies[-1].headers["retry-after"] == state[2]  # the same reset, in seconds


def test_the_recorder_reads_the_policy_its_draft8_headers_declare(express):
    """The recorder's parser (contract.ratelimit_families) on headers we did not write."""
    n, w = express.limit, express.window_s
    with httpx.Client(base_url=express.url) as c:
        key = fresh_key("erl-read")
        replies = [post(c, key) for _ in range(n + 1)]
    for i, r in enumerate(replies):
        limit, window, remaining, reset, family, raw = parse_declared(pick(r.headers), 0.0)
        assert (limit, window, remaining, family, raw) == (n, w, max(n - 1 - i, 0), "ietf-08",
                                                           "")
        assert 1 <= reset <= w


@pytest.mark.parametrize("family,expected", [
    ("draft-6", {"ratelimit-policy": "4;w=3", "ratelimit-limit": "4",
                 "ratelimit-remaining": "3", "ratelimit-reset": "3"}),
    ("draft-7", {"ratelimit-policy": "4;w=3", "ratelimit": "limit=4, remaining=3, reset=3"}),
])
def test_older_drafts_shapes(family, expected):
    require_installed(express_rate_limit.missing())
    with ExpressRateLimit(limit=4, window_s=3, headers=family) as limiter, \
            httpx.Client(base_url=limiter.url) as c:
        reply = post(c, fresh_key("erl-draft"))
    assert reply.status == 200
    # reset is ceil(seconds left) read right after the request started the window: 3
    assert {k: reply.headers.get(k) for k in expected} == expected
    # ... and the recorder's parser reads them as the draft they are (issue 12)
    assert parse_declared(pick(reply.headers), 0.0) == (
        4, 3, 3, 3, {"draft-6": "ietf-06", "draft-7": "ietf-07"}[family], "")
