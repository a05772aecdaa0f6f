"""Token bucket as GCRA (nginx `limit_req`): a sustained `rate_per_s`, bursts of `burst`;
with `counts_rejected`, a refused request uses up its slot too."""

from __future__ import annotations

import math

import numpy as np

from . import shape as shapes
from ..stream import Stream, before, remembered

NAME = "token_bucket"
PENALTY = 0.001


def propose(streams: list[Stream], shape: dict) -> list[dict]:
    rate = shapes.rate(shape)
    if not rate:
        return []
    burst = max(shape["first"])
    rates = shapes.nice([rate] + ([1 / float(np.median(shape["gaps"]))] if shape["gaps"]
                                  else [])
                        + [float(np.median(shape[k])) for k in ("stated_rate",
                                                                 "stated_step_rate")
                           if shape.get(k)], rel=0.05)
    bursts = {burst, burst - 1, burst + 1}
    for r in list(rates):
        refill = int(round(r * max(shape["first_duration"] or [0])))
        bursts |= {burst - refill, burst - refill + 1}
    out = []
    for r in sorted(rates):
        for b in sorted(x for x in bursts if x >= 1):
            out.append({"rate_per_s": float(r), "burst": int(b)})
            out.append({"rate_per_s": float(r), "burst": int(b), "counts_rejected": True})
    return out


def replay(p: dict, s: Stream, t: np.ndarray, h: np.ndarray) -> np.ndarray:
    interval = 1.0 / p["rate_per_s"]
    tolerance = (p["burst"] - 1) * interval
    counts_rejected = bool(p.get("counts_rejected", False))
    # the attempts in time order and the refusal before each: every rate and burst's
    a, admitted, k, last_refusal = remembered(s, (NAME, counts_rejected), h, h,
                                              lambda: _attempts(s, h, counts_rejected))
    if len(a) == 0:
        return np.ones(len(t), bool)
    floor = None if last_refusal is None else last_refusal + tolerance
    tat_after = gcra_tat(a, admitted, interval, tolerance, s.slack, floor)
    tat_before = np.where(k > 0, tat_after[np.maximum(k - 1, 0)], -np.inf)
    return tat_before - t <= tolerance + 1e-9


def _attempts(s: Stream, h: np.ndarray, counts_rejected: bool):
    """(the bucket's attempts read at `h` in time order, which of them were admitted, how
    many come before each event, the latest refusal before each attempt or None)."""
    basis = (s.passed | s.rejected) if counts_rejected else s.passed
    order = np.argsort(h[basis], kind="stable")
    a = h[basis][order]
    last = None if counts_rejected else _last_refusal(
        s.t[basis][order], h[s.rejected], s.end[s.rejected])
    return a, s.passed[basis][order], before(basis), last


def _last_refusal(a: np.ndarray, refused: np.ndarray,
                  refused_end: np.ndarray) -> np.ndarray | None:
    """For each attempt decided no earlier than `a`: the latest refusal time (`refused`) among
    the refusals whose reply had come back before it (`refused_end`), or -inf.

    Only those are known to have been decided first. Requests sent together (the probe's
    bursts, several users on one key) reach the server in an order the send times do not
    keep: a refusal answered at once can read earlier than admissions the server decided
    before it, and a floor taken from it would call them all impossible (a bucket of 5
    admitted whole, read as a bucket with no room after the first)."""
    if not len(refused):
        return None
    order = np.argsort(refused_end, kind="stable")
    ends = refused_end[order]
    latest = np.maximum.accumulate(refused[order])
    # strictly before: a reply at the attempt's own time (three requests at one instant, as
    # a replay of simultaneous arrivals has them) does not put the refusal first; a margin
    # for rounded times (0.5 ms, added until now) let such a refusal move the chain past the
    # admission decided beside it
    last = np.searchsorted(ends, a, "left") - 1
    return np.where(last >= 0, latest[np.maximum(last, 0)], -np.inf)


def refusal_floor(a: np.ndarray, refused: np.ndarray, refused_end: np.ndarray,
                  tolerance: float) -> np.ndarray | None:
    """For each sorted attempt time in `a`: the latest refusal known to come before it (its
    reply back by then, see _last_refusal) plus the tolerance (a refusal at r proves the
    bucket had no room then: tat > r + tolerance from there on); None when nothing was
    refused."""
    last = _last_refusal(a, refused, refused_end)
    return None if last is None else last + tolerance


def gcra_tat(a: np.ndarray, admitted: np.ndarray, interval: float, tolerance: float,
             slack: float, floor: np.ndarray | None = None) -> np.ndarray:
    """The bucket's theoretical arrival time after each of the sorted attempts `a`.

    GCRA: tat_j = max(tat_{j-1}, a_j) + T, whose closed form is
    tat_j = (j+1) T + max_{i<=j} (a_i - i T). The state chains through every admission, so a
    tight loop admitted right at each reopening carries any timing error forward, both ways:
    - An observed admission that reads up to `slack` before the bucket had room proves it had
      room: the chain restarts from it (as an anchored window's anchors do).
    - `floor[j]`, the latest refusal before attempt j plus the tolerance, proves the bucket
      had no room until then: the chain moves forward to it. In a drained bucket tat runs a
      whole tolerance ahead of the attempts, so without this a chain that started a few
      milliseconds early (a slow first request, a reply the server sent late) would stay
      early for the rest of the run, and every reopening's last refusals would look wrong.
    """
    c = a if floor is None else np.maximum(a, floor)
    j = np.arange(len(a))
    tat_after = (j + 1) * interval + np.maximum.accumulate(c - j * interval)
    tat_before = np.r_[-np.inf, tat_after[:-1]]
    early = admitted & (tat_before - a > tolerance + 1e-9) & \
        (tat_before - a <= tolerance + slack)
    if not early.any():
        return tat_after
    # Python floats, not numpy scalars: the same arithmetic, several times faster per step
    times, ok = a.tolist(), admitted.tolist()
    floors = floor.tolist() if floor is not None else None
    out = [0.0] * len(times)
    tat, top = -math.inf, tolerance + slack
    for i, ai in enumerate(times):
        if ai > tat:
            tat = ai
        if ok[i] and tolerance < tat - ai <= top:
            tat = ai + tolerance
        if floors is not None and floors[i] > tat:
            tat = floors[i]
        tat += interval
        out[i] = tat
    return np.array(out)


def reopens(p: dict, s: Stream, rej: np.ndarray) -> np.ndarray:
    interval = 1 / p["rate_per_s"]
    tol = (p["burst"] - 1) * interval
    if p.get("counts_rejected"):
        # every attempt took its slot, the refusal itself too: the bucket it left says when
        basis = s.passed | s.rejected
        tat = gcra_tat(s.t[basis], s.passed[basis], interval, tol, s.slack)
        return tat[before(basis)[rej]] - tol
    admitted = s.t[s.passed]
    floor = refusal_floor(admitted, s.t[s.rejected], s.end[s.rejected], tol)
    tat = gcra_tat(admitted, np.ones(len(admitted), bool), interval, tol, s.slack,
                   floor) if len(admitted) else np.array([np.nan])
    return tat[np.clip(before(s.passed)[rej] - 1, 0, None)] - tol


class Online:
    """With `counts_rejected`, a refusal takes its slot and the wait it states is from the
    bucket it leaves, as the reference gateway states it: a client retrying on time is let in."""

    __slots__ = ("interval", "tolerance", "counts_rejected", "tat")

    def __init__(self, p: dict) -> None:
        self.interval = 1 / p["rate_per_s"]
        self.tolerance = (p["burst"] - 1) * self.interval
        self.counts_rejected = bool(p.get("counts_rejected"))
        self.tat = -math.inf

    def admit(self, t: float, end: float = math.inf) -> tuple[bool, float]:
        tat = max(self.tat, t)
        if tat - t > self.tolerance + 1e-9:
            if self.counts_rejected:
                tat += self.interval
                self.tat = tat
            return False, tat - self.tolerance - t
        self.tat = tat + self.interval
        return True, 0.0


def online(p: dict) -> Online:
    return Online(p)


def fields(p: dict) -> dict:
    return {"counts_rejected": bool(p.get("counts_rejected", False)), "limit": p["burst"],
            "burst": p["burst"], "rate_per_s": p["rate_per_s"]}


def from_fields(q) -> dict:
    return {"rate_per_s": q.rate_per_s, "burst": q.burst} | (
        {"counts_rejected": True} if q.counts_rejected else {})


def short(p: dict) -> str:
    return f"{p['rate_per_s']:g}/s burst {p['burst']}"


def describe(p: dict, scope: str) -> str:
    also = " (rejected requests count too)" if p.get("counts_rejected") else ""
    return (f"token bucket: {p['rate_per_s']:g} requests/s sustained, bursts of "
            f"{p['burst']}{scope}{also}")
