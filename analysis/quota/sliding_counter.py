"""Sliding window counter on clock windows: the previous window's count, weighted by the part
of it still inside the window, plus the current one's (HAProxy, Cloudflare, `limits`)."""

from __future__ import annotations

import math

import numpy as np

from . import shape as shapes
from ..stream import Stream, before, passed_before, remembered, since

NAME = "sliding_counter"
PENALTY = 0.002


def propose(streams: list[Stream], shape: dict) -> list[dict]:
    return shapes.window_grid(streams, shape)


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
    return remembered(s, (NAME, w), t, h, lambda: _weighted(s, t, h, w)) < p["limit"]


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
    start, prev, cur = _counts(before(s.passed)[rej], t, s.t[s.passed], w)
    return t + wait(prev, cur, t - start, w, p["limit"])


class Online:
    __slots__ = ("limit", "window_s", "windows")

    def __init__(self, p: dict) -> None:
        self.limit, self.window_s = p["limit"], p["window_s"]
        self.windows: dict[int, int] = {}

    def admit(self, t: float, end: float = math.inf) -> tuple[bool, float]:
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
    return {"counts_rejected": False, "limit": p["limit"], "window_s": p["window_s"],
            "rate_per_s": p["limit"] / p["window_s"], "burst": p["limit"], "alignment": None}


def from_fields(q) -> dict:
    return {"limit": q.limit, "window_s": q.window_s}


def short(p: dict) -> str:
    return f"{p['limit']} per {p['window_s']:g} s"


def describe(p: dict, scope: str) -> str:
    return f"{p['limit']} requests per {p['window_s']:g} s{scope}, sliding window counter"
