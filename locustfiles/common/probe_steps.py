"""The probe's steps: each sends a bounded handful of requests, all recorded with the step's
name as their phase, and returns what it measured as a dict for probe_reasoning.

Every wait is cut to the budget left, and every send takes one of the probe's request slots:
`OutOfBudget` ends the probe (the steps so far stay in probe.json).
"""

from __future__ import annotations

import math
import statistics
import time
import uuid

import gevent

from .probe_hypotheses import Knowledge
from .probe_reply import FAST_503_S, FAST_503_SHARE, Reply

# A polite client sends this long after the stated wait, not at it: a wait stated in whole
# milliseconds is rounded, and a send at the instant could land a hair early.
POLITE_MARGIN_S = 0.005
# A loop's sends are at least this far apart: a refusal comes back in a millisecond, and a
# loop at a thousand a second would spend the request cap in seconds and tell no more than
# one at twenty a second (a quota that refills, a window that reopens, show either way).
LOOP_GAP_S = 0.05
# A stated reopening this much later after a refusal was moved by it (a stated wait is
# rounded to the millisecond, or to the second: PUSHED_S is above the first).
PUSHED_S = 0.2


class OutOfBudget(Exception):
    """The probe's time or request cap is spent."""


class Prober:
    """Sends for the probe, within its deadline and request cap."""

    def __init__(self, user, deadline: float, cap: int, others: list[str]) -> None:
        self.user, self.deadline, self.cap, self.others = user, deadline, cap, others
        self.sent = 0
        self.fastest_ok = math.inf  # the quickest admitted reply's latency so far
        self._last_loop = 0.0
        self._own: list[Reply] = []  # the latest replies on the probe's own key
        hub = gevent.get_hub()  # a spawned send that meets the budget's end is no error
        if OutOfBudget not in hub.NOT_ERROR:
            hub.NOT_ERROR = (*hub.NOT_ERROR, OutOfBudget)

    def left(self) -> float:
        return self.deadline - time.time()

    def send(self, phase: str, *, key: str | None = None, logical_id: str | None = None,
             attempt: int = 1) -> Reply:
        if self.sent >= self.cap:
            raise OutOfBudget(f"the request cap ({self.cap}) is spent")
        if self.left() <= 0:
            raise OutOfBudget("the time budget is spent")
        self.sent += 1
        sent = time.time()
        a = self.user.chat(phase=phase, key=key, logical_id=logical_id, attempt=attempt)
        recv = time.time()
        refused = a.status in (429, 503)
        r = Reply(a.status, sent, recv, a.retry_after_s if refused else math.nan,
                  a.reset_s if refused else math.nan)
        if r.ok:
            self.fastest_ok = min(self.fastest_ok, r.latency)
        self._mark(r)
        if key is None:
            self._own = self._own[-63:] + [r]
        return r

    def stated_reopening(self) -> float | None:
        """When the own key's quota reopens, as the refusals sent since its last admission
        state (the latest of them: where refusals count, each states a later one); None when
        the last request sent on it was admitted, or a refusal since stated no wait."""
        tail = []
        for r in sorted(self._own, key=lambda r: r.sent, reverse=True):
            if not r.refused:
                break
            tail.append(r)
        if not tail or not all(math.isfinite(r.wait) for r in tail):
            return None
        return max(r.recv + r.wait for r in tail)

    def _mark(self, r: Reply) -> None:
        share = FAST_503_SHARE * self.fastest_ok if math.isfinite(self.fastest_ok) else 0.0
        r.fast_refusal = r.status == 503 and r.latency <= max(FAST_503_S, share)

    def next(self, phase: str) -> Reply:
        """One send of a loop, LOOP_GAP_S at least after the loop's previous one."""
        wait = self._last_loop + LOOP_GAP_S - time.time()
        if wait > 0:
            gevent.sleep(wait)
        self._last_loop = time.time()
        return self.send(phase)

    def sleep_until(self, when: float) -> None:
        wait = when - time.time()
        if wait > self.left():
            raise OutOfBudget(f"a wait of {wait:.1f} s is longer than the budget left")
        if wait > 0:
            gevent.sleep(wait)

    def together(self, phase: str, n: int, *, key: str | None = None) -> list[Reply]:
        """n requests sent at once."""
        gs = [gevent.spawn(self.send, phase, key=key) for _ in range(n)]
        gevent.joinall(gs)
        for g in gs:  # the budget's end, the cap, or a fault: the step ends with it
            if g.exception is not None:
                raise g.exception
        got = [g.value for g in gs if g.successful() and g.value is not None]
        for r in got:  # a 503 back before the wave's admissions is judged against them
            self._mark(r)
        return got

    def until_refused(self, phase: str, most: int, *, seconds: float = math.inf) -> list[Reply]:
        """Sequential sends until a 429, `most` sends or `seconds`."""
        out, end = [], time.time() + seconds
        while len(out) < most and time.time() < end:
            out.append(self.next(phase))
            if out[-1].refused:
                break
        return out


def idle_burst(p: Prober, k: Knowledge, idle_s: float, wave: int, most: int) -> dict:
    gevent.sleep(min(idle_s, max(0.0, p.left())))
    t0 = time.time()
    got: list[Reply] = []
    while len(got) < most:
        got += p.together("idle_burst", min(wave, most - len(got)))
        if any(r.refused for r in got):
            break
    ok = [r for r in got if r.ok]
    refused = [r for r in got if r.refused]
    first = min(refused, key=lambda r: r.recv) if refused else None
    lat = [r.latency for r in ok] or [0.0]
    return {"sent": len(got), "admitted": len(ok), "refused": len(refused), "t0": t0,
            "ra_s": first.wait if first else math.nan,
            "burst_s": (first.recv - t0) if first else time.time() - t0,
            "refused_ts": first.recv if first else math.nan,
            "refused_status": first.status if first else None, "fastest_s": min(lat), "slowest_s": max(lat), "idle_s": idle_s}


def tight(p: Prober, k: Knowledge) -> dict:
    start, pushed, threshold = time.time(), None, None
    if k.tight_runs == 0:
        got = _first_tight(p, k)
        pushed = _pushed(got)
        stated = [r for r in got if r.refused and math.isfinite(r.wait)]
        threshold = pushed_threshold(stated[-1].wait) if stated else None
    elif k.tight_runs == 1:
        got = p.until_refused("tight", 3 * int(k.get("burst") or 1) + 10, seconds=15.0)
    else:  # keep asking through the stated wait: does asking keep it closed?
        # through the stated wait, or without one, one and a half windows as measured
        last = k.finite("last_ra")
        wait = last if last is not None else 1.5 * (k.finite("window") or 2.0)
        end = start + min(wait + 1.0, 8.0)
        got = []
        while time.time() < end:
            got.append(p.next("tight"))
            if got[-1].ok:
                break
    ok = [r for r in got if r.ok]
    last_refused = next((r for r in reversed(got) if r.refused), None)
    return {"sent": len(got), "pushed": pushed, "push_threshold": threshold,
            "admitted": len(ok), "span_s": time.time() - start,
            "pattern": "".join("A" if r.ok else "R" if r.refused else "E" for r in got),
            "admitted_span_s": (ok[-1].sent - ok[0].sent) if len(ok) > 1 else 0.0,
            "first_admitted_ts": ok[0].sent if ok else math.nan,
            "median_latency_s": statistics.median(r.latency for r in ok) if ok else 0.0,
            "ra_s": last_refused.wait if last_refused else math.nan,
            "refused_ts": last_refused.recv if last_refused else math.nan}


def _first_tight(p: Prober, k: Knowledge) -> list[Reply]:
    """A loop right after the burst, past its stated wait when that is short."""
    ra1 = k.finite("ra1")
    end = time.time() + (min(max(1.5 * ra1 + 0.5, 1.5), 3.0) if ra1 is not None else 2.0)
    got, first = [], None
    while time.time() < end:
        got.append(r := p.next("tight"))
        if r.ok:
            first = None  # an admission moves the reopening by itself
        elif r.refused and math.isfinite(r.wait):
            first = first or (r.wait, len(got))
            # each refusal made the stated wait longer: they count, and asking more would
            # only keep this key out for longer (a wait that stays the same is a constant,
            # or a lockout that refusals extend: the polite step tells which)
            if r.wait - first[0] > pushed_threshold(r.wait) and len(got) - first[1] >= 2:
                break
    return got


def pushed_threshold(wait: float) -> float:
    """How much later a stated reopening must be to have been moved: waits stated in whole
    seconds jitter by up to one."""
    return PUSHED_S if wait != int(wait) else 1.5


def _pushed(got: list[Reply]) -> tuple[float, int, float] | None:
    """(how much later the last refusal's stated reopening is than the first's, refusals
    between them, how much longer its stated wait is) over the refusals since the last
    admission that stated a wait; None when fewer than two did."""
    tail = got[max((i for i, r in enumerate(got) if r.ok), default=-1) + 1:]
    stated = [r for r in tail if r.refused and math.isfinite(r.wait)]
    if len(stated) < 2:
        return None
    grew = stated[-1].wait - stated[0].wait
    return grew + stated[-1].recv - stated[0].recv, len(stated) - 1, grew


def polite(p: Prober, k: Knowledge) -> dict:
    """Attempt 1 is a 429 that states a wait; attempt 2, the same logical request, goes that
    long after the 429 was received."""
    for _ in range(3 * int(k.get("burst") or 1) + 10):
        logical = uuid.uuid4().hex[:16]
        first = p.send("polite", logical_id=logical)
        if first.refused:
            break
    else:
        return {"admitted": None, "sent": 0}
    wait = first.wait
    if not math.isfinite(wait):
        return {"admitted": None}
    p.sleep_until(first.recv + wait + POLITE_MARGIN_S)
    second = p.send("polite", logical_id=logical, attempt=2)
    return {"admitted": second.ok, "wait_s": wait, "sent_ts": second.sent,
            "ra_s": second.wait, "refused_ts": second.recv}


def reopen_gap(p: Prober, k: Knowledge, stated: float) -> dict:
    """Single requests after growing idle gaps from the last refusal, until one is admitted."""
    gap, last_refused, tried = max(stated if math.isfinite(stated) else 0.5, 0.5), 0.0, 0.0
    mark = time.time()
    while True:
        p.sleep_until(mark + gap)
        r = p.send("reopen_gap")
        tried = gap
        if r.ok:
            return {"reopened_after_s": gap, "last_refused_s": last_refused,
                    "stated_s": stated, "sent_ts": r.sent}
        last_refused, mark, gap = gap, r.recv, gap * 2
        if gap > p.left():
            return {"reopened_after_s": None, "tried_up_to_s": tried}


def split(p: Prober, k: Knowledge) -> dict:
    n = int(k.get("burst") or 2)
    half = max(1, n // 2)
    end, last = k.finite("second_tight_end"), k.finite("last_ra")
    opened, period1 = k.finite("reopen_ts"), k.finite("period1")
    if (end is None or last is None) and (opened is None or period1 is None):
        return {"half": half}  # no reopening seen: nothing says when the next one is
    reopen = end + last if end is not None and last is not None else opened + period1
    # a wait stated in whole seconds says when to within a second: from a second before,
    # a loop finds the reopening to within a loop's gap
    whole = last is not None and last == int(last)
    p.sleep_until(reopen - (1.0 if whole else 0.0) + POLITE_MARGIN_S)
    start = None
    deadline = time.time() + 2.0
    while whole and time.time() < deadline:
        if (r := p.next("split")).ok:
            start = r.sent
            break
    for _ in range(4 if start is None else 0):  # waiting as told for the window to open
        r = p.send("split")
        if r.ok:
            start = r.sent
            break
        p.sleep_until(r.recv + (r.wait if math.isfinite(r.wait) else 0.5) + POLITE_MARGIN_S)
    if start is None:
        return {"half": half}
    # the second split (after refusals were seen to extend a lockout) waits as told
    polite = k.split_tried
    period = k.finite("window") if polite and k.finite("window") else \
        start - opened if opened is not None else None
    if not period:
        return {"half": half}  # no reopening before this one to measure the period from
    # windows on the clock are whole tenths of a second long in every limiter we know; a
    # phase read modulo the measured length (off by milliseconds) would be off by that
    # times the billion seconds since the epoch
    on_clock = (round(period) if whole else round(period, 1)) or period
    out = {"half": half, "period_s": period, "phase_s": start % on_clock}
    taken = 1
    while taken < half:
        r = p.send("split")
        if not r.ok:
            break
        taken += 1
    p.sleep_until(start + period / 2)
    mid = p.until_refused("split", 2 * n + 5)
    out["middle_admitted"] = sum(r.ok for r in mid)
    if out["middle_admitted"] >= max(half + 2, 0.8 * n) or not mid[-1].refused:
        return out
    stated = mid[-1].wait if math.isfinite(mid[-1].wait) else period / 2
    end = time.time() + min(stated + period / 2 + 1.0, p.left())
    first_in = None
    if polite:
        p.sleep_until(mid[-1].recv + stated + POLITE_MARGIN_S)
        end = time.time() + 1.0
    while time.time() < end:  # keep asking: is it let back in when the wait is up?
        r = p.next("split")
        if r.ok:
            first_in = r
            break
    if first_in is None:
        out["kept_out"] = True
        return out
    back = [first_in] + p.until_refused("split", half + 2)
    out["reopen_admitted"] = sum(r.ok for r in back)
    if not polite:  # both ends found by asking: the window's length, whatever was stated
        out["window_s"] = first_in.sent - start
        out["phase_s"] = start % (round(out["window_s"], 1) or out["window_s"])
    return out
