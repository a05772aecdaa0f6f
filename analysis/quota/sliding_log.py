"""Sliding log: at most `limit` in any `window_s`; with `counts_rejected`, refused requests
take a place in the log too."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from . import shape as shapes
from ..stream import Stream, before, remembered, since

NAME = "sliding_log"
PENALTY = 0.001


def propose(streams: list[Stream], shape: dict) -> list[dict]:
    out = []
    for base in shapes.window_grid(streams, shape):
        out += [dict(base), base | {"counts_rejected": True}]
    return out


def replay(p: dict, s: Stream, t: np.ndarray, h: np.ndarray) -> np.ndarray:
    counts_rejected, w = bool(p.get("counts_rejected")), p["window_s"]
    return remembered(s, (NAME, w, counts_rejected), t, h,
                      lambda: _in_window(s, t, h, w, counts_rejected)) < p["limit"]


def _in_window(s: Stream, t, h, w: float, counts_rejected: bool) -> np.ndarray:
    """How many earlier requests of the basis fall in the window ending at each decision."""
    basis = (s.passed | s.rejected) if counts_rejected else s.passed
    return since(before(basis), np.sort(h[basis]), t - w)


def reopens(p: dict, s: Stream, rej: np.ndarray) -> np.ndarray:
    # the limit-th newest entry expires first: the newest admissions before the 429, or with
    # counts_rejected the newest attempts, the 429 itself included
    counted = (s.passed | s.rejected) if p.get("counts_rejected") else s.passed
    entries, t = s.t[counted], s.t[rej]
    pos = before(counted)[rej] - p["limit"] + (1 if p.get("counts_rejected") else 0)
    return np.where(pos >= 0, entries[np.clip(pos, 0, None)] + p["window_s"], t)


class Online:
    __slots__ = ("limit", "window_s", "counts_rejected", "log")

    def __init__(self, p: dict) -> None:
        self.limit, self.window_s = p["limit"], p["window_s"]
        self.counts_rejected = bool(p.get("counts_rejected"))
        self.log: deque[float] = deque()

    def admit(self, t: float, end: float = math.inf) -> tuple[bool, float]:
        log, w = self.log, self.window_s
        # the replay counts an entry at exactly t - w as still inside
        while log and log[0] < t - w:
            log.popleft()
        if len(log) < self.limit:
            log.append(t)
            return True, 0.0
        if self.counts_rejected:
            log.append(t)
        return False, log[len(log) - self.limit] + w - t


def online(p: dict) -> Online:
    return Online(p)


def fields(p: dict) -> dict:
    return {"counts_rejected": bool(p.get("counts_rejected", False)), "limit": p["limit"],
            "window_s": p["window_s"], "rate_per_s": p["limit"] / p["window_s"],
            "burst": p["limit"], "alignment": None}


def from_fields(q) -> dict:
    return {"limit": q.limit, "window_s": q.window_s} | (
        {"counts_rejected": True} if q.counts_rejected else {})


def short(p: dict) -> str:
    return f"{p['limit']} per {p['window_s']:g} s"


def describe(p: dict, scope: str) -> str:
    also = " (rejected requests count too)" if p.get("counts_rejected") else ""
    return f"{p['limit']} requests per {p['window_s']:g} s{scope}, sliding log{also}"
