"""Sliding window counter: the previous period's count, weighted by the part of it still
inside the window, plus the current one's (HAProxy, Cloudflare, `limits`).

Periods on the clock (`limits`, Cloudflare), or, with `alignment="first_request"`, HAProxy's
(a stick table's freq_ctr): a key's first counted request starts its first period, each next
period starts exactly one window after the one before, and a request two windows or more
after the period's start starts a new first period. With `counts_rejected` refused requests
are counted too (HAProxy's track-then-deny), which keeps a client that never pauses locked.
A request is admitted while previous * (time left in the period / W) + current < limit."""

from __future__ import annotations

import math

import numpy as np

from . import shape as shapes
from ..stream import Stream, before, passed_before, remembered, since

NAME = "sliding_counter"
PENALTY = 0.002


def propose(streams: list[Stream], shape: dict) -> list[dict]:
    # HAProxy's periods begin at a fresh key's first request, so its first clump is the
    # limit: the anchored counters are tried at about that size only
    first = max(shape["first"]) if shape["first"] else 0
    out = []
    for base in shapes.window_grid(streams, shape):
        out.append(base)
        if abs(base["limit"] - first) <= 1:
            out += [base | {"alignment": "first_request"},
                    base | {"alignment": "first_request", "counts_rejected": True}]
    return out


def _counts(earlier: np.ndarray, t: np.ndarray, admitted: np.ndarray, w: float):
    """(window start, previous window's count, current's so far) at each of `t`, given the
    admissions before each (`earlier`) and their sorted times."""
    start = np.floor(t / w) * w
    cur = since(earlier, admitted, start)
    prev = np.searchsorted(admitted, start, "left") - np.searchsorted(admitted, start - w,
                                                                      "left")
    return start, prev, cur


def replay(p: dict, s: Stream, t: np.ndarray, h: np.ndarray) -> np.ndarray:
    w = p["window_s"]
    if p.get("alignment") == "first_request":
        counts = bool(p.get("counts_rejected"))
        return remembered(s, (NAME, "anchored", w, counts), t, h,
                          lambda: _anchored_weighted(s, t, h, w, counts)) < p["limit"]
    return remembered(s, (NAME, w), t, h, lambda: _weighted(s, t, h, w)) < p["limit"]


def _periods(x: np.ndarray, w: float):
    """HAProxy's (period start, previous, current) after each counted request at sorted times
    x. Between restarts (a request two windows or more after its period's start) the periods
    are the first request's start plus whole windows, so each stretch is worked out at once."""
    n = len(x)
    starts, period = np.empty(n), np.empty(n, np.int64)
    i, offset = 0, 0
    while i < n:
        k = np.floor((x[i:] - x[i]) / w)
        st = x[i] + k * w
        again = np.flatnonzero(x[i + 1:] - st[:-1] >= 2 * w)
        stop = i + 1 + int(again[0]) if len(again) else n
        starts[i:stop] = st[:stop - i]
        period[i:stop] = k[:stop - i].astype(np.int64) + offset
        offset = int(period[stop - 1]) + 2  # a restart is never the period after the last
        i = stop
    first = np.searchsorted(period, period, "left")
    cur = np.arange(n) - first + 1.0
    before_first = first - 1
    prev_period = np.where(before_first >= 0, period[np.maximum(before_first, 0)], -10)
    prev_first = np.searchsorted(period, period - 1, "left")
    prev = np.where(prev_period == period - 1, first - prev_first, 0).astype(float)
    return starts, prev, cur


def _rotated(start, prev, cur, t, w):
    """The state read at t (nothing counted in between): past the period's end the current
    count becomes the previous one; two windows on, nothing is left."""
    d = t - start
    nxt = (d >= w) & (d < 2 * w)
    gone = d >= 2 * w
    start = np.where(nxt, start + w, start)
    prev = np.where(nxt, cur, np.where(gone, 0.0, prev))
    cur = np.where(nxt | gone, 0.0, cur)
    return np.where(gone, t, start), prev, cur


def _anchored_weighted(s: Stream, t, h, w: float, counts: bool) -> np.ndarray:
    basis = (s.passed | s.rejected) if counts else s.passed
    starts, prevs, curs = _periods(np.sort(h[basis]), w)
    k = before(basis) - 1  # the last counted request before each decision
    has = k >= 0
    kk = np.maximum(k, 0)
    start = np.where(has, starts[kk] if len(starts) else 0.0, -math.inf)
    start, prev, cur = _rotated(start, np.where(has, prevs[kk] if len(prevs) else 0.0, 0.0),
                                np.where(has, curs[kk] if len(curs) else 0.0, 0.0), t, w)
    return prev * (start + w - t) / w + cur


def _weighted(s: Stream, t, h, w: float) -> np.ndarray:
    """The counter's weighted count at each decision (what every limit is held against)."""
    start, prev, cur = _counts(passed_before(s), t, np.sort(h[s.passed]), w)
    return prev * (w - (t - start)) / w + cur


def wait(prev, cur, elapsed, window: float, limit: int):
    """Seconds until a sliding window counter admits again (prev * (W - e) / W + cur < limit),
    with no admissions in between; works on numbers and on numpy arrays alike."""
    prev, cur = np.asarray(prev, float), np.asarray(cur, float)
    to_end = window - np.asarray(elapsed, float)
    # within this window, as the previous window's weight decays
    within = np.where(prev > 0, to_end - (limit - cur) * window / np.maximum(prev, 1), 0.0)
    # or in the next one, where this window's count becomes the decaying one
    later = to_end + np.maximum(0.0, window * (1 - limit / np.maximum(cur, 1)))
    return np.where(cur < limit, np.maximum(within, 0.0), later)


def reopens(p: dict, s: Stream, rej: np.ndarray) -> np.ndarray:
    w, t = p["window_s"], s.t[rej]
    if p.get("alignment") == "first_request":
        counts = bool(p.get("counts_rejected"))
        basis = (s.passed | s.rejected) if counts else s.passed
        starts, prevs, curs = _periods(s.t[basis], w)
        # the state the refusal left: with counts_rejected, itself counted
        k = before(basis)[rej] - (0 if counts else 1)
        if not len(starts):
            return t.copy()
        kk = np.clip(k, 0, None)
        start, prev, cur = _rotated(starts[kk], prevs[kk], curs[kk], t, w)
        return t + wait(prev, cur, t - start, w, p["limit"])
    start, prev, cur = _counts(before(s.passed)[rej], t, s.t[s.passed], w)
    return t + wait(prev, cur, t - start, w, p["limit"])


class Online:
    __slots__ = ("limit", "window_s", "windows", "anchored", "counts", "state")

    def __init__(self, p: dict) -> None:
        self.limit, self.window_s = p["limit"], p["window_s"]
        self.windows: dict[int, int] = {}
        self.anchored = p.get("alignment") == "first_request"
        self.counts = bool(p.get("counts_rejected"))
        self.state = (-math.inf, 0, 0)

    def _admit_anchored(self, t: float) -> tuple[bool, float]:
        w = self.window_s
        start, prev, cur = self.state
        if t - start >= 2 * w:
            start, prev, cur = t, 0, 0
        elif t - start >= w:
            start, prev, cur = start + w, cur, 0
        ok = prev * (start + w - t) / w + cur < self.limit
        if ok or self.counts:
            cur += 1
            self.state = (start, prev, cur)
        if ok:
            return True, 0.0
        return False, float(wait(prev, cur, t - start, w, self.limit))

    def admit(self, t: float, end: float = math.inf) -> tuple[bool, float]:
        if self.anchored:
            return self._admit_anchored(t)
        w, lim = self.window_s, self.limit
        k = math.floor(t / w)
        elapsed = t - k * w
        prev, cur = self.windows.get(k - 1, 0), self.windows.get(k, 0)
        if prev * (w - elapsed) / w + cur < lim:
            self.windows[k] = cur + 1
            return True, 0.0
        return False, float(wait(prev, cur, elapsed, w, lim))


def online(p: dict) -> Online:
    return Online(p)


def fields(p: dict) -> dict:
    return {"counts_rejected": bool(p.get("counts_rejected", False)), "limit": p["limit"],
            "window_s": p["window_s"], "rate_per_s": p["limit"] / p["window_s"],
            "burst": p["limit"], "alignment": p.get("alignment")}


def from_fields(q) -> dict:
    out = {"limit": q.limit, "window_s": q.window_s}
    if q.alignment == "first_request":
        out["alignment"] = "first_request"
        if q.counts_rejected:
            out["counts_rejected"] = True
    return out


def short(p: dict) -> str:
    return f"{p['limit']} per {p['window_s']:g} s"


def describe(p: dict, scope: str) -> str:
    where = ", periods from the key's first request" if p.get("alignment") == "first_request" \
        else ""
    also = " (rejected requests count too)" if p.get("counts_rejected") else ""
    return (f"{p['limit']} requests per {p['window_s']:g} s{scope}, sliding window "
            f"counter{where}{also}")
