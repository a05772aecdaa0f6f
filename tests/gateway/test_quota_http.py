"""Each quota algorithm, over real HTTP, against its definition.

A tight loop records every request's send and receive times and status. The definitions below
are written independently of the gateway's code: each says, from the admissions so far, whether
a request at time t is admitted. The server decided somewhere between send and receive, so a
decision matches when the definition gives the same answer at either end (+-EPS).
Retry-After is then checked against the definition's exact reopening time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import httpx
import pytest

from .helpers import ALICE, BOB, BODY, auth

EPS = 0.005
FAST = ["latency.ttft_ms=0", "latency.per_token_ms=0", "nodes.slots=1000"]


@dataclass
class Obs:
    key: str
    sent: float
    recv: float
    status: int
    retry_after: float | None
    retry_after_ms: float | None


def send(client: httpx.Client, key: str) -> Obs:
    """One chat completion on `key`, timed around the call, with its stated waits."""
    sent = time.time()
    r = client.post("/chat/completions", json=BODY, headers=auth(key))
    recv = time.time()
    ra, ra_ms = r.headers.get("retry-after"), r.headers.get("retry-after-ms")
    return Obs(key, sent, recv, r.status_code, float(ra) if ra else None,
               float(ra_ms) if ra_ms else None)


def tight_loop(base_url: str, keys: list[str], duration_s: float, *, prelude: int = 0,
               prelude_pause_s: float = 0.0, max_requests: int = 30_000) -> list[Obs]:
    """Send `prelude` requests, pause, then loop with no wait; bounded in time and count."""
    out: list[Obs] = []
    with httpx.Client(base_url=base_url, timeout=10) as client:
        def one(i: int) -> None:
            out.append(send(client, keys[i % len(keys)]))

        for i in range(prelude):
            one(i)
        time.sleep(prelude_pause_s)
        end = time.time() + duration_s
        i = prelude
        while time.time() < end and i < max_requests:
            one(i)
            i += 1
    return out


# --- the definitions ------------------------------------------------------------------------

def fixed_anchored(limit, window):
    def admits(hist, t):
        start, count = None, 0
        for a in hist:
            # An admission into a full window can only have opened the next one (the server
            # saw it after the window's end even when its send or receive time is a little
            # before it): without this, one slow admission shifts every later window.
            if start is None or a >= start + window or count >= limit:
                start, count = a, 0
            count += 1
        return start is None or t >= start + window or count < limit
    return admits


def fixed_epoch(limit, window):
    def admits(hist, t):
        begin = math.floor(t / window) * window
        return sum(1 for a in hist if a >= begin) < limit
    return admits


# `hist` holds only earlier admissions, so no upper bound on `a`: t may be shifted a little
# before the send time, and nothing admitted before the request must drop out of the count.
def sliding_log(limit, window):
    def admits(hist, t):
        return sum(1 for a in hist if a > t - window) < limit
    return admits


def sliding_counter(limit, window):
    def admits(hist, t):
        begin = math.floor(t / window) * window
        cur = sum(1 for a in hist if a >= begin)
        prev = sum(1 for a in hist if begin - window <= a < begin)
        return prev * (window - (t - begin)) / window + cur < limit
    return admits


def token_bucket(rate, burst):
    interval, tolerance = 1 / rate, (burst - 1) / rate

    def admits(hist, t):
        tat = None
        for a in hist:
            tat = max(tat if tat is not None else a, a) + interval
        return tat is None or tat - t <= tolerance + 1e-9
    return admits


# --- checking -------------------------------------------------------------------------------

def groups(obs: list[Obs], scope: str) -> dict[str, list[Obs]]:
    if scope == "global":
        return {"*": obs}
    out: dict[str, list[Obs]] = {}
    for o in obs:
        out.setdefault(o.key, []).append(o)
    return out


def decision_mismatches(obs, admits, scope="per_key"):
    """Requests whose status the definition cannot explain.

    The server decided each request, earlier admissions included, at some moment between its
    send and receive times; so the definition is tried with the history at its send times and
    at its receive times, and at either end of the request (+-EPS). Only a decision that none
    of these reproduce is a mismatch.
    """
    bad = []
    for _, seq in groups(obs, scope).items():
        sent_hist: list[float] = []
        recv_hist: list[float] = []
        for o in seq:
            ok = o.status == 200
            if all(admits(h, t) != ok for h in (sent_hist, recv_hist)
                   for t in (o.sent - EPS, o.recv + EPS)):
                bad.append((o, sent_hist[-3:]))
            if ok:
                sent_hist.append(o.sent)
                recv_hist.append(o.recv)
    return bad


def explain(obs, bad, what="mismatch"):
    """A readable timeline around the first bad observation (times from the first send)."""
    if not bad:
        return ""
    t0, first = obs[0].sent, bad[0][0]
    i = obs.index(first)
    admitted = [round(o.sent - t0, 4) for o in obs if o.status == 200]
    around = [(round(o.sent - t0, 4), o.status, o.retry_after, o.retry_after_ms)
              for o in obs[max(0, i - 3):i + 2]]
    return (f"{len(bad)} of {len(obs)} requests: first {what} at {first.sent - t0:.4f}s; "
            f"around it {around}; admissions at {admitted}")


def reopening(admits, hist, t):
    """The earliest time >= t at which the definition admits (it is monotone in t)."""
    lo, hi = t, t + 1
    while not admits(hist, hi):
        lo, hi = hi, hi + (hi - t)
    while hi - lo > 1e-4:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if admits(hist, mid) else (mid, hi)
    return hi


def retry_after_violations(obs, admits, scope="per_key"):
    """429s whose Retry-After is earlier than the reopening, or more than 1 s later."""
    bad = []
    for _, seq in groups(obs, scope).items():
        sent_hist: list[float] = []
        recv_hist: list[float] = []
        for o in seq:
            if o.status == 200:
                sent_hist.append(o.sent)
                recv_hist.append(o.recv)
                continue
            assert o.retry_after is not None, "a 429 without Retry-After"
            # The server's clock for the wait started in [sent, recv]; its view of the earlier
            # admissions lies between their send and receive times.
            opens = [reopening(admits, h, o.sent) for h in (sent_hist, recv_hist)]
            earliest, latest = min(opens), max(opens)
            waits = [o.retry_after]
            if o.retry_after_ms is not None:
                waits.append(o.retry_after_ms / 1000)
            for wait, slack in zip(waits, (1.0, 0.002)):
                if o.recv + wait < earliest - EPS or o.sent + wait > latest + slack + EPS:
                    bad.append((o, earliest))
    return bad


def observed_reopening_violations(obs):
    """The same promise without any definition: the next admission the loop saw."""
    bad = []
    for i, o in enumerate(obs):
        if o.status != 429:
            continue
        nxt = next((n for n in obs[i + 1:] if n.key == o.key and n.status == 200), None)
        if nxt is None:
            continue
        if o.recv + o.retry_after < nxt.sent - 0.05 or o.sent + o.retry_after > nxt.recv + 1:
            bad.append((o, nxt.sent))
    return bad


CASES = [
    # (profile overrides, definition, loop seconds, prelude, prelude pause)
    pytest.param(["quota.algorithm='fixed_window'", "quota.alignment='first_request'",
                  "quota.limit=5", "quota.window_s=2"], fixed_anchored(5, 2), 4.6, 0, 0,
                 id="fixed-first-request-5-per-2s"),
    pytest.param(["quota.algorithm='fixed_window'", "quota.alignment='first_request'",
                  "quota.limit=3", "quota.window_s=1"], fixed_anchored(3, 1), 2.6, 1, 0.3,
                 id="fixed-first-request-3-per-1s"),
    pytest.param(["quota.algorithm='fixed_window'", "quota.alignment='epoch'",
                  "quota.limit=4", "quota.window_s=2"], fixed_epoch(4, 2), 4.6, 0, 0,
                 id="fixed-epoch-4-per-2s"),
    pytest.param(["quota.algorithm='sliding_log'", "quota.limit=5", "quota.window_s=2"],
                 sliding_log(5, 2), 4.6, 2, 1.0, id="sliding-log-5-per-2s"),
    pytest.param(["quota.algorithm='sliding_counter'", "quota.limit=10", "quota.window_s=2"],
                 sliding_counter(10, 2), 4.6, 4, 0.5, id="sliding-counter-10-per-2s"),
    pytest.param(["quota.algorithm='token_bucket'", "quota.rate_per_s=4.0", "quota.burst=5"],
                 token_bucket(4, 5), 3.0, 0, 0, id="token-bucket-4ps-burst-5"),
]


@pytest.mark.parametrize("overrides, admits, seconds, prelude, pause", CASES)
def test_algorithm_matches_its_definition_and_retry_after_is_honest(
        gateway_factory, overrides, admits, seconds, prelude, pause):
    gw = gateway_factory("default", FAST + overrides)
    obs = tight_loop(gw.base_url, [ALICE], seconds, prelude=prelude, prelude_pause_s=pause)
    statuses = {o.status for o in obs}
    assert statuses == {200, 429}, statuses
    bad = decision_mismatches(obs, admits)
    assert not bad, explain(obs, bad)
    bad = retry_after_violations(obs, admits)
    assert not bad, explain(obs, bad, "Retry-After violation")
    bad = observed_reopening_violations(obs)
    assert not bad, explain(obs, bad, "Retry-After against the next admission")


def test_fixed_window_admits_exactly_limit_per_window(gateway_factory):
    gw = gateway_factory("default", FAST + ["quota.limit=5", "quota.window_s=2"])
    obs = tight_loop(gw.base_url, [ALICE], 4.5)
    admitted = [o.sent for o in obs if o.status == 200]
    assert len(admitted) == 15  # three windows began in 4.5 s of tight loop
    for k in range(3):
        clump = admitted[5 * k:5 * k + 5]
        assert clump[-1] - clump[0] < 0.25 * 2  # bunched at the window's start
        if k:
            assert admitted[5 * k] - admitted[5 * (k - 1)] == pytest.approx(2.0, abs=0.05)


def test_per_key_scope_keeps_keys_apart(gateway_factory):
    gw = gateway_factory("default", FAST + ["quota.limit=4", "quota.window_s=2"])
    obs = tight_loop(gw.base_url, [ALICE, BOB], 3.0)
    assert decision_mismatches(obs, fixed_anchored(4, 2), "per_key") == []
    assert sum(o.status == 200 and o.key == BOB for o in obs) == 8


def test_global_scope_shares_one_quota(gateway_factory):
    gw = gateway_factory("default", FAST + ["quota.scope='global'", "quota.alignment='epoch'",
                                            "quota.limit=6", "quota.window_s=2"])
    obs = tight_loop(gw.base_url, [ALICE, BOB], 4.5)
    assert decision_mismatches(obs, fixed_epoch(6, 2), "global") == []
    assert decision_mismatches(obs, fixed_epoch(6, 2), "per_key") != []  # the check can fail
    assert retry_after_violations(obs, fixed_epoch(6, 2), "global") == []


def test_liar_is_caught_by_the_same_check(gateway_factory):
    gw = gateway_factory("liar", FAST + ["quota.limit=3", "quota.window_s=3"])
    obs = tight_loop(gw.base_url, [ALICE], 3.5)
    assert {o.retry_after for o in obs if o.status == 429} == {1.0}
    assert decision_mismatches(obs, fixed_anchored(3, 3)) == []
    assert len(retry_after_violations(obs, fixed_anchored(3, 3))) > 100


def test_absent_profile_sends_no_retry_after(gateway_factory):
    gw = gateway_factory("no-retry-after", FAST + ["quota.limit=2"])
    with httpx.Client(base_url=gw.base_url) as c:
        rs = [c.post("/chat/completions", json=BODY, headers=auth(ALICE)) for _ in range(4)]
    assert [r.status_code for r in rs] == [200, 200, 429, 429]
    assert all("retry-after" not in r.headers and "retry-after-ms" not in r.headers
               for r in rs)


def test_sliding_log_counting_rejections_keeps_a_tight_loop_out(gateway_factory):
    gw = gateway_factory("sliding", FAST + ["quota.limit=3", "quota.window_s=1",
                                            "quota.counts_rejected=true"])
    obs = tight_loop(gw.base_url, [ALICE], 2.5)
    assert sum(o.status == 200 for o in obs) == 3  # the loop never lets the log drain
    time.sleep(1.05)
    with httpx.Client(base_url=gw.base_url) as c:
        assert c.post("/chat/completions", json=BODY, headers=auth(ALICE)).status_code == 200


@pytest.mark.parametrize("family, names", [
    ("openai", ["x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests"]),
    ("ietf-06", ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"]),
    ("github", ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"]),
])
def test_ratelimit_header_families(gateway_factory, family, names):
    gw = gateway_factory("default", FAST + [f"quota.headers=['{family}']",
                                            "quota.limit=3"])
    with httpx.Client(base_url=gw.base_url) as c:
        rs = [c.post("/chat/completions", json=BODY, headers=auth(ALICE)) for _ in range(4)]
    assert [r.headers[names[1]] for r in rs] == ["2", "1", "0", "0"]
    assert all(r.headers[names[0]] == "3" and names[2] in r.headers for r in rs)
