"""Concurrency: at most `limit` admitted requests in flight (unanswered) at a decision."""

from __future__ import annotations

import heapq

import numpy as np

from ..stream import Stream, before, passed_before

NAME = "concurrency"
PENALTY = 0.003


def propose(streams: list[Stream], shape: dict) -> list[dict]:
    # A concurrency limit shows as slow admissions overlapping: only worth trying then.
    ok_latency = [float(np.median(s.end[s.ok] - s.t[s.ok])) for s in streams if s.ok.any()]
    if not ok_latency or np.median(ok_latency) <= 0.02:
        return []
    peak = 0
    for s in streams:
        ends = np.sort(s.end[s.passed])
        in_flight = before(s.passed) - np.searchsorted(ends, s.t, "right")
        if s.passed.any():
            peak = max(peak, int(in_flight[s.passed].max()) + 1)
    return [{"limit": c} for c in (peak - 1, peak, peak + 1) if c >= 1]


def most_in_flight(s: Stream) -> int:
    """The most admitted (2xx) requests in flight at once, from decision to reply."""
    if not s.ok.any():
        return 0
    ends = np.sort(s.end[s.ok])
    return int((before(s.ok) - np.searchsorted(ends, s.t, "right"))[s.ok].max()) + 1


def replay(p: dict, s: Stream, t: np.ndarray, h: np.ndarray) -> np.ndarray:
    ends = np.sort(s.end[s.passed])
    return passed_before(s) - np.searchsorted(ends, t, "right") < p["limit"]


def reopens(p: dict, s: Stream, rej: np.ndarray) -> None:
    return None  # the replies in flight say when, not the decisions


class Online:
    """Each admission holds a place until its `end`, which the caller knows."""

    __slots__ = ("limit", "ends")

    def __init__(self, p: dict) -> None:
        self.limit = p["limit"]
        self.ends: list[float] = []

    def admit(self, t: float, end: float) -> tuple[bool, float]:
        ends = self.ends
        while ends and ends[0] <= t:
            heapq.heappop(ends)
        if len(ends) < self.limit:
            heapq.heappush(ends, end)
            return True, 0.0
        return False, ends[0] - t


def online(p: dict) -> Online:
    return Online(p)


def fields(p: dict) -> dict:
    return {"counts_rejected": False, "limit": p["limit"]}


def from_fields(q) -> dict:
    return {"limit": q.limit}


def short(p: dict) -> str:
    return f"{p['limit']} in flight"


def describe(p: dict, scope: str) -> str:
    return f"at most {p['limit']} requests in flight{scope}"
