"""The modifiers (counts_rejected on every algorithm, lockout, clock-aligned windows with a
phase), each from its own profile, over real HTTP, against definitions written here.

Each definition is a small state machine written from the option's documented meaning, not
from the gateway's code: `admits(t)` says whether a request at t is admitted, `record(t, ok)`
feeds it a request and its outcome (a counting limiter counts refusals too). As in
test_quota_http.py, the server decided each request between its send and receive times, so
the history is fed once at send times and once at receive times, and a decision matches when
either, at either end of the request (+-EPS), gives the observed answer. Retry-After is held
to the definition's reopening from the state after the refusal was recorded: never earlier,
never more than 1 s later (2 ms for retry-after-ms).

Beside a loop that mixes tight runs with pauses, clients on other keys honour every stated
wait, in milliseconds and in whole seconds, and must be let in each time.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import math
import threading
import time

import httpx
import pytest

from limiters.haproxy import HAProxyRate as RealHAProxyRate

from ..conftest import require_program
from .helpers import ALICE, BOB, BODY, CAROL, auth
from .test_quota_http import EPS, FAST, Obs

# --- the definitions ------------------------------------------------------------------------


class FixedAnchored:
    """N per W from the first request after the previous window ended. A refusal may add to
    the count, but the window's end never moves, so only admissions are recorded."""

    def __init__(self, limit, window):
        self.limit, self.window, self.start, self.count = limit, window, None, 0

    def admits(self, t):
        return self.start is None or t >= self.start + self.window or self.count < self.limit

    def record(self, t, ok):
        if ok:
            if self.start is None or t >= self.start + self.window:
                self.start, self.count = t, 0
            self.count += 1


class FixedEpoch:
    """N per window [phase + k*W, phase + (k+1)*W) since the Unix epoch."""

    def __init__(self, limit, window, phase=0.0):
        self.limit, self.window, self.phase, self.counts = limit, window, phase, {}

    def _index(self, t):
        return math.floor((t - self.phase) / self.window)

    def admits(self, t):
        return self.counts.get(self._index(t), 0) < self.limit

    def record(self, t, ok):
        if ok:
            self.counts[self._index(t)] = self.counts.get(self._index(t), 0) + 1


class SlidingLog:
    """At most N requests, refused ones included (unless not `counts`), in the W before a
    request."""

    def __init__(self, limit, window, counts=True):
        self.limit, self.window, self.counts, self.times = limit, window, counts, []

    def admits(self, t):
        inside = len(self.times) - bisect.bisect_right(self.times, t - self.window)
        return inside < self.limit

    def record(self, t, ok):
        if ok or self.counts:
            self.times.append(t)


class HAProxyRate:
    """HAProxy's http_req_rate, every request counted before it is judged: periods of W from
    the first request, each next one exactly W later (a new first period after two idle
    ones); refused when floor(previous * time left in the period / W + current) > N. (Not
    `counts`: a refused request is judged the same way, then not counted.)"""

    def __init__(self, limit, window, counts=True):
        self.limit, self.window, self.counts, self.state = limit, window, counts, None

    def _counted(self, t):
        w = self.window
        if self.state is None or t - self.state[0] >= 2 * w:
            return t, 0, 1
        start, prev, cur = self.state
        if t - start >= w:
            return start + w, cur, 1
        return start, prev, cur + 1

    def admits(self, t):
        start, prev, cur = self._counted(t)
        return math.floor(prev * (start + self.window - t) / self.window + cur) <= self.limit

    def record(self, t, ok):
        if ok or self.counts:
            self.state = self._counted(t)


class Bucket:
    """GCRA at rate r with bucket b where every request, refused or not (unless not
    `counts`), takes a slot: tat moves to max(tat, t) + 1/r; a request is admitted when
    tat - t <= (b - 1)/r."""

    def __init__(self, rate, burst, counts=True):
        self.interval, self.tolerance, self.tat = 1 / rate, (burst - 1) / rate, None
        self.counts = counts

    def admits(self, t):
        return self.tat is None or self.tat - t <= self.tolerance + 1e-9

    def record(self, t, ok):
        if ok or self.counts:
            self.tat = max(self.tat if self.tat is not None else t, t) + self.interval


class Lockout:
    """A refusal by the quota refuses the key until `length` after it; a request in that time
    is refused without reaching the quota (with `extends`, it restarts the lockout)."""

    def __init__(self, quota, length, extends):
        self.quota, self.length, self.extends, self.end = quota, length, extends, -math.inf

    def admits(self, t):
        return t >= self.end and self.quota.admits(t)

    def record(self, t, ok):
        if not ok and t < self.end:
            if self.extends:
                self.end = t + self.length
            return
        self.quota.record(t, ok)
        if not ok:
            self.end = t + self.length


# --- traffic --------------------------------------------------------------------------------

def _send(client, key, out):
    sent = time.time()
    r = client.post("/chat/completions", json=BODY, headers=auth(key))
    recv = time.time()
    ra, ra_ms = r.headers.get("retry-after"), r.headers.get("retry-after-ms")
    out.append(Obs(key, sent, recv, r.status_code, float(ra) if ra else None,
                   float(ra_ms) if ra_ms else None))
    return out[-1]


def gappy_loop(base_url, key, seconds, runs, max_requests=5000):
    """Runs of requests back to back, each followed by a pause, taken in turn from `runs`:
    (a number of requests, or a float of seconds, then the pause). The pauses are chosen
    around the reopenings, so that some are too short and some long enough. Bounded in time
    and count."""
    out, i = [], 0
    with httpx.Client(base_url=base_url, timeout=10) as client:
        end = time.time() + seconds
        while time.time() < end and len(out) < max_requests:
            run, pause = runs[i % len(runs)]
            run_end, n = time.time() + run, 0
            while (n < run if isinstance(run, int) else time.time() < run_end) \
                    and len(out) < max_requests:
                _send(client, key, out)
                n += 1
            time.sleep(max(0.0, min(pause, end - time.time())))
            i += 1
    return out


def each(run, pauses):
    return [(run, pause) for pause in pauses]


def honouring_client(base_url, key, unit, refusals, max_requests=400):
    """Sends back to back; after each 429 waits exactly what it states (retry-after-ms, or
    the whole seconds of Retry-After) from when the 429 arrived, and records whether the next
    request got in. Returns (observations, statuses of the requests sent after a wait)."""
    out, after_wait = [], []
    with httpx.Client(base_url=base_url, timeout=10) as client:
        while len(after_wait) < refusals and len(out) < max_requests:
            o = _send(client, key, out)
            if o.status != 429:
                continue
            wait = o.retry_after_ms / 1000 if unit == "ms" else o.retry_after
            time.sleep(max(0.0, o.recv + wait - time.time()))
            after_wait.append(_send(client, key, out).status)
    return out, after_wait


# --- checking -------------------------------------------------------------------------------

def _reopening(d, t):
    """The earliest time >= t at which d admits (it is monotone when nothing is sent)."""
    if d.admits(t):
        return t
    lo, hi = t, t + 0.5
    while not d.admits(hi):
        lo, hi = hi, hi + 2 * (hi - t)
    while hi - lo > 1e-4:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if d.admits(mid) else (mid, hi)
    return hi


def violations(obs, make, stated=True):
    """(decisions the definition cannot explain, 429s whose stated wait it contradicts; with
    `stated` False, for a limiter that states none, decisions only)."""
    at_send, at_recv = make(), make()
    wrong, dishonest = [], []
    for o in obs:
        ok = o.status == 200
        if all(d.admits(t) != ok for d in (at_send, at_recv) for t in (o.sent - EPS,
                                                                      o.recv + EPS)):
            wrong.append(o)
        at_send.record(o.sent, ok)
        at_recv.record(o.recv, ok)
        if ok or not stated:
            continue
        assert o.retry_after is not None, f"a 429 without Retry-After: {o}"
        opens = [_reopening(copy.deepcopy(d), o.sent) for d in (at_send, at_recv)]
        waits = [(o.retry_after, 1.0)] + ([(o.retry_after_ms / 1000, 0.002)]
                                          if o.retry_after_ms is not None else [])
        for wait, slack in waits:
            if o.recv + wait < min(opens) - EPS or o.sent + wait > max(opens) + slack + EPS:
                dishonest.append((o, wait, opens))
    return wrong, dishonest


def _timeline(obs, bad):
    """The first problem and the requests around it (times from the first send); with no
    problem, the whole run's first requests."""
    if not bad:
        return str([(round(o.sent - obs[0].sent, 4), o.status, o.retry_after,
                     o.retry_after_ms) for o in obs[:12]]) if obs else "no requests"
    first = bad[0][0] if isinstance(bad[0], tuple) else bad[0]
    t0, i = obs[0].sent, obs.index(first)
    return (f"{len(bad)} problems in {len(obs)} requests: first at {first.sent - t0:.4f}s: "
            f"{bad[0]}; around it "
            + str([(round(o.sent - t0, 4), o.status, o.retry_after, o.retry_after_ms)
                   for o in obs[max(0, i - 4):i + 2]]))


def run_all(gw, make, seconds, runs, honoured=(3, 2)):
    """The gappy loop on ALICE while BOB honours retry-after-ms and CAROL whole seconds."""
    results = {}

    def run(name, fn, *args):
        results[name] = fn(*args)

    threads = [threading.Thread(target=run, args=("loop", gappy_loop, gw.base_url, ALICE,
                                                  seconds, runs)),
               threading.Thread(target=run, args=("ms", honouring_client, gw.base_url, BOB,
                                                  "ms", honoured[0])),
               threading.Thread(target=run, args=("s", honouring_client, gw.base_url, CAROL,
                                                  "s", honoured[1]))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    for unit, n in zip(("ms", "s"), honoured):
        after_wait = results[unit][1]
        assert after_wait == [200] * n, (unit, after_wait, _timeline(results[unit][0], []))
    loop = results["loop"]
    assert {o.status for o in loop} == {200, 429}, {o.status for o in loop}
    for name, obs in [("loop", loop), ("ms", results["ms"][0]), ("s", results["s"][0])]:
        wrong, dishonest = violations(obs, make)
        assert not wrong, f"{name}: decisions " + _timeline(obs, wrong)
        assert not dishonest, f"{name}: Retry-After " + _timeline(obs, dishonest)
    return loop


# (profile, overrides, definition, the same limiter not counting refusals, runs); a long run
# keeps a counting limiter closed until the loop stops for about a window, so runs are short
FIXED = ["quota.algorithm='fixed_window'", "quota.limit=3", "quota.window_s=1"]
COUNTS_REJECTED = [
    pytest.param("counts-rejected", FIXED + ["quota.alignment='first_request'"],
                 lambda: FixedAnchored(3, 1), None, each(40, [0.1, 0.3, 0.5, 0.7]),
                 id="fixed-first-request-3-per-1s"),
    pytest.param("counts-rejected", FIXED + ["quota.alignment='epoch'"],
                 lambda: FixedEpoch(3, 1), None, each(40, [0.1, 0.3, 0.5, 0.7]),
                 id="fixed-epoch-3-per-1s"),
    pytest.param("counts-rejected", ["quota.algorithm='sliding_log'", "quota.limit=3",
                                     "quota.window_s=1"],
                 lambda: SlidingLog(3, 1), lambda: SlidingLog(3, 1, counts=False),
                 each(2, [0.2, 0.45, 0.7, 0.3]), id="sliding-log-3-per-1s"),
    pytest.param("sliding-counter-counts-rejected", ["quota.limit=3", "quota.window_s=1"],
                 lambda: HAProxyRate(3, 1), lambda: HAProxyRate(3, 1, counts=False),
                 each(2, [0.35, 0.65, 0.95]), id="sliding-counter-haproxy-3-per-1s"),
    pytest.param("counts-rejected", [], lambda: Bucket(10, 2),
                 lambda: Bucket(10, 2, counts=False), each(2, [0.1, 0.25, 0.4, 0.15]),
                 id="token-bucket-10ps-burst-2"),
]


@pytest.mark.parametrize("profile, overrides, make, uncounted, runs", COUNTS_REJECTED)
def test_counts_rejected_matches_its_definition_and_its_wait_lets_the_client_in(
        gateway_factory, profile, overrides, make, uncounted, runs):
    gw = gateway_factory(profile, FAST + overrides)
    loop = run_all(gw, make, 3.0, runs)
    if uncounted is not None:
        # the check can fail: not counting refusals is not what the gateway did (on fixed
        # windows counting changes nothing, and the one definition serves both)
        assert violations(loop, uncounted)[0]


@pytest.mark.system
def test_the_counting_sliding_counter_definition_is_real_haproxys():
    """The definition the gateway is held to, held to HAProxy itself (limiters/haproxy.py:
    tracked before the deny rule, so refusals count), over the same kind of loop."""
    require_program("haproxy")
    with RealHAProxyRate(limit=3, window_s=1, counts_rejected=True) as real:
        obs = gappy_loop(real.base_url, ALICE, 3.0, each(2, [0.35, 0.65, 0.95]))
    assert {o.status for o in obs} == {200, 429}
    wrong, _ = violations(obs, lambda: HAProxyRate(3, 1), stated=False)
    assert not wrong, _timeline(obs, wrong)
    # the check can fail: neither limits' counter (admissions only, windows on the clock) nor
    # HAProxy tracking after the deny rule (admissions only) is what it did
    assert violations(obs, lambda: LimitsCounter(3, 1), stated=False)[0]
    assert violations(obs, lambda: HAProxyRate(3, 1, counts=False), stated=False)[0]


class LimitsCounter:
    """For contrast: only admissions counted, windows on multiples of W since the epoch."""

    def __init__(self, limit, window):
        self.limit, self.window, self.counts = limit, window, {}

    def admits(self, t):
        k = math.floor(t / self.window)
        prev, cur = self.counts.get(k - 1, 0), self.counts.get(k, 0)
        return prev * (1 - (t / self.window - k)) + cur < self.limit

    def record(self, t, ok):
        if ok:
            k = math.floor(t / self.window)
            self.counts[k] = self.counts.get(k, 0) + 1


# Runs that start after the window has reopened but before the lockout ends, and one after a
# non-extending lockout would have ended but before an extended one does.
@pytest.mark.parametrize("profile, length, extends, runs", [
    ("lockout", 1.5, False, [(0.3, 0.8), (0.3, 0.25)]),
    ("lockout-extends", 1.2, True, [(0.3, 1.0), (0.1, 1.2)]),
])
def test_lockout_matches_its_definition_and_its_wait_lets_the_client_in(
        gateway_factory, profile, length, extends, runs):
    gw = gateway_factory(profile, FAST + ["quota.limit=3", "quota.window_s=1",
                                          f"quota.lockout_s={length}"])
    loop = run_all(gw, lambda: Lockout(FixedAnchored(3, 1), length, extends), 3.5, runs,
                   honoured=(2, 2))
    # the check can fail: neither the window alone nor the other kind of lockout is what the
    # gateway did
    assert violations(loop, lambda: FixedAnchored(3, 1))[0]
    assert violations(loop, lambda: Lockout(FixedAnchored(3, 1), length, not extends))[0]


def key_phase(key, window_s):
    """The documented phase: SHA-256 of the key's UTF-8 bytes, as a big-endian integer, modulo
    the window in milliseconds."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % (window_s * 1000) / 1000


@pytest.mark.parametrize("profile, phases", [
    ("epoch-phase", {ALICE: 0.7, BOB: 0.7}),
    ("epoch-key-phase", {ALICE: key_phase(ALICE, 2), BOB: key_phase(BOB, 2)}),
])
def test_epoch_phase_matches_its_definition(gateway_factory, profile, phases):
    sets = ["quota.limit=3", "quota.window_s=2"]
    if profile == "epoch-phase":
        sets.append("quota.phase_s=0.7")
    gw = gateway_factory(profile, FAST + sets)
    loops = {}

    def run(key):
        loops[key] = gappy_loop(gw.base_url, key, 4.2, each(40, [0.2, 0.5, 0.35]))

    threads = [threading.Thread(target=run, args=(k,)) for k in phases]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    for key, phase in phases.items():
        obs = loops[key]
        assert {o.status for o in obs} == {200, 429}
        wrong, dishonest = violations(obs, lambda: FixedEpoch(3, 2, phase))
        assert not wrong, _timeline(obs, wrong)
        assert not dishonest, _timeline(obs, dishonest)
        # the check can fail: windows on plain multiples of 2 s are not what the gateway ran
        assert violations(obs, lambda: FixedEpoch(3, 2, 0.0))[0]
