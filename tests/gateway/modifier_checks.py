"""Definitions of the modifiers, written from their documented meaning and not from the
gateway's code, with the traffic and the checks that hold a live server to them
(test_modifiers_http.py uses them).

Each definition is a small state machine: `admits(t)` says whether a request at t is admitted,
`record(t, ok)` feeds it a request and its outcome (a counting limiter counts refusals too).
As in test_quota_http.py, the server decided each request between its send and receive times,
so the history is fed once at send times and once at receive times, and a decision matches
when either, at either end of the request (+-EPS), gives the observed answer. Retry-After is
held to the definition's reopening from the state after the refusal was recorded: never
earlier, never more than 1 s later (2 ms for retry-after-ms).
"""

from __future__ import annotations

import bisect
import copy
import math
import threading
import time

import httpx

from .helpers import ALICE, BOB, CAROL
from .test_quota_http import EPS, send

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
            # An admission into a full window can only have opened the next one: the server
            # saw it after the window's end even when t (a send or receive time, not the
            # server's own) falls a little before it.
            if self.start is None or t >= self.start + self.window or self.count >= self.limit:
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
    out.append(send(client, key))
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
    # The server's clock for an earlier request lies anywhere in its [sent, recv]; for periods
    # anchored at a key's first request neither extreme history bounds the reopening, so a
    # stated wait may come as much as the slowest request's time in flight before the earliest
    # of the two (a run beside two CPU hogs met 0.4 ms over a bare EPS).
    early = EPS + max((x.recv - x.sent for x in obs), default=0.0)
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
            if o.recv + wait < min(opens) - early or o.sent + wait > max(opens) + slack + EPS:
                dishonest.append((o, wait, opens))
    return wrong, dishonest


def timeline(obs, bad):
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
        assert after_wait == [200] * n, (unit, after_wait, timeline(results[unit][0], []))
    loop = results["loop"]
    assert {o.status for o in loop} == {200, 429}, {o.status for o in loop}
    for name, obs in [("loop", loop), ("ms", results["ms"][0]), ("s", results["s"][0])]:
        wrong, dishonest = violations(obs, make)
        assert not wrong, f"{name}: decisions " + timeline(obs, wrong)
        assert not dishonest, f"{name}: Retry-After " + timeline(obs, dishonest)
    return loop


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
