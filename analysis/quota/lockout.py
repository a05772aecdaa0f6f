"""A lockout after the quota's refusal, over a window or bucket family (a wrapper, not a
family: the algorithm stays the quota's).

Definition (DESIGN.md's `lockout_s`): when the quota refuses a key, the key is refused until
`lockout_s` after that refusal, whatever it sends. Requests refused during the lockout never
reach the quota, so they use up nothing; with `lockout_extends` each of them restarts the
lockout from its own arrival. The wait until the key is admitted is the lockout's end, or the
quota's own reopening if that is later (the quota saw nothing in between).

The replay is teacher-forced as the families' are: the observed refusals are read in order; one
at or after the current lockout's end is the quota's (it starts a lockout and is judged by the
quota), one before it is the lockout's. The quota is replayed over the requests it saw only
(the admissions and its own refusals), so a counting quota counts no lockout refusal and a
refusal inside a lockout proves nothing about the quota's windows.
"""

from __future__ import annotations

import math

import numpy as np

from . import shape as shapes
from ..stream import Stream, remembered, runs

PENALTY = 0.003
KEYS = ("lockout_s", "lockout_extends")
MOST_LENGTHS = 3


def wraps(p: dict) -> bool:
    return p.get("lockout_s") is not None


def inner(p: dict) -> dict:
    return {k: v for k, v in p.items() if k not in KEYS}


def _locks(s: Stream, h: np.ndarray, length: float, extends: bool):
    """(whether each event falls inside a lockout, which events the quota saw, the lockout's
    end after each refusal, the position of the refusal that began each refusal's lockout).

    A lockout holds from its refusal to `length` after it (read at `h`), but only for requests
    the server surely decided after that refusal: ones decided no earlier than the refusal's
    latest reading. Requests sent together (a burst) are decided in an order the client does
    not see, so an admission read beside the refusal may have come first."""
    rej = np.flatnonzero(s.rejected)
    x = np.maximum.accumulate(h[rej]) if len(rej) else h[rej]
    # A refusal read a little past the lockout's end may still be the lockout's: the refusal
    # that began it may have been decided as late as its reply came back (a burst's requests
    # are decided one after the other while they are all in flight), and only a refusal past
    # that reading's end begins a new lockout.
    xl = np.maximum(x, np.maximum.accumulate(s.end[rej])) if len(rej) else x
    if extends:  # a refusal a whole lockout after the one before begins a new one
        began = np.r_[True, x[1:] >= xl[:-1] + length] if len(x) else np.zeros(0, bool)
        ends = x + length
    else:  # the first refusal past the lockout's end: few lockouts, one step each
        began = np.zeros(len(x), bool)
        i = 0
        while i < len(x):
            began[i] = True
            i = max(int(np.searchsorted(x, xl[i] + length, "left")), i + 1)
    first = np.maximum.accumulate(np.where(began, np.arange(len(x)), 0)) if len(x) else \
        np.zeros(0, int)
    if not extends:
        ends = x[first] + length
    saw = np.ones(len(s.t), bool)
    saw[rej] = began
    locked = np.zeros(len(s.t), bool)
    if len(x):
        t = s.t
        last = np.searchsorted(x, t, "left") - 1  # the latest refusal read before each event
        j = np.maximum(last, 0)
        latest = xl[first[j]]  # from when the lockout surely held
        locked = (last >= 0) & (t < ends[j]) & (t > latest)
        locked[rej] |= ~began  # the lockout's own refusals, whatever their reading
    return locked, saw, np.asarray(ends, float), rej[first]


def _quota_stream(s: Stream, h: np.ndarray, length: float, extends: bool):
    """(the stream of what the quota saw, their positions in `s`, which events of `s` fall
    inside a lockout), kept on `s` for every quota tried under this lockout."""
    def make():
        locked, saw, _, _ = _locks(s, h, length, extends)
        idx = np.flatnonzero(saw)
        sub = Stream(t=s.t[idx], t_late=s.t_late[idx], slack=s.slack, passed=s.passed[idx],
                     rejected=s.rejected[idx], scored=s.scored[idx], ok=s.ok[idx],
                     end=s.end[idx], retry_after=s.retry_after[idx],
                     t_latest=None if s.t_latest is None else s.t_latest[idx])
        return sub, idx, locked
    return remembered(s, ("lockout", length, extends), h, h, make)


def _same_reading(s: Stream, sub: Stream, idx: np.ndarray, x: np.ndarray) -> np.ndarray:
    # the quota stream's own arrays, so that its replays can share what they compute
    return sub.t if x is s.t else sub.t_late if x is s.t_late else x[idx]


def replay(f, p: dict, s: Stream, t: np.ndarray, h: np.ndarray) -> np.ndarray:
    sub, idx, locked = _quota_stream(s, h, p["lockout_s"], bool(p.get("lockout_extends")))
    out = np.zeros(len(t), bool)  # a request the quota never saw was refused by the lockout
    out[idx] = f.replay(inner(p), sub, _same_reading(s, sub, idx, t),
                        _same_reading(s, sub, idx, h))
    return out & ~locked


def reopens(f, p: dict, s: Stream, rej: np.ndarray) -> np.ndarray | None:
    length, extends = p["lockout_s"], bool(p.get("lockout_extends"))
    sub, idx, _ = _quota_stream(s, s.t, length, extends)
    _, _, ends, starts = _locks(s, s.t, length, extends)
    order = np.searchsorted(np.flatnonzero(s.rejected), rej)
    began = np.searchsorted(idx, starts[order])  # the quota's refusal, in its own stream
    quota = f.reopens(inner(p), sub, began)
    if quota is None:
        return None
    return np.maximum(ends[order], quota)


class Online:
    """The gateway's definition (module docstring) over any family's online limiter."""

    __slots__ = ("quota", "length", "extends", "end", "reopen")

    def __init__(self, quota, p: dict) -> None:
        self.quota, self.length = quota, float(p["lockout_s"])
        self.extends = bool(p.get("lockout_extends"))
        self.end = self.reopen = -math.inf

    def admit(self, t: float, end: float = math.inf) -> tuple[bool, float]:
        if t < self.end:
            if self.extends:
                self.end = t + self.length
            return False, max(self.end, self.reopen) - t
        ok, wait = self.quota.admit(t, end)
        if ok:
            return True, 0.0
        self.end, self.reopen = t + self.length, t + wait
        return False, max(self.end, self.reopen) - t


def lengths(streams: list[Stream]) -> list[float]:
    """Candidate lockouts: how long a key stayed refused after the first refusal that ended
    a run of admissions (to its next admission), the wait that refusal stated, and the wait
    the last refusal of a key still locked at the end stated; each the roundest value within
    3%."""
    spans, stated, last = [], [], []
    for s in streams:
        ra_rej = s.retry_after[s.rejected]
        if len(ra_rej) and np.isfinite(ra_rej[-1]) and not s.passed[-1]:
            # a lockout every refusal restarts states its own length on each of them
            last.append(float(ra_rej[-1]))
        starts, ends, _ = runs(s)
        order = s.passed | s.rejected
        t, rej, ra = s.t[order], s.rejected[order], s.retry_after[order]
        after = np.searchsorted(t, ends, "right")
        for k, i in enumerate(after.tolist()):
            if i < len(t) and rej[i]:
                if np.isfinite(ra[i]):
                    stated.append(float(ra[i]))
                if k + 1 < len(starts):
                    spans.append(float(starts[k + 1] - t[i]))
    out: list[float] = []
    for v in (float(np.median(x)) for x in (stated, spans, last) if x):
        near = shapes.nice([v])
        pick = min(near, key=lambda x: (not shapes.is_round(x), abs(x - v))) if near else None
        if pick and all(abs(pick - o) > 0.03 * o for o in out):
            out.append(pick)
    return out[:MOST_LENGTHS]


def propose(streams: list[Stream], shape: dict, base: list[tuple[str, dict]]
            ) -> list[tuple[str, dict]]:
    """A lockout of each candidate length over the quotas that could sit under it: windows
    anchored at the first request of about the first clump's size and of round fractions of
    the lockout (a lockout hides its quota's window: only traffic that never meets a refusal
    shows it), and the plain buckets of that size that refill sooner."""
    ls = lengths(streams)
    if not ls or not shape["first"]:
        return []
    first = max(shape["first"])
    sizes = sorted(set(shapes.limits(shape)) | {first})
    shortest = shapes.MIN_WINDOW_SLACKS * max(s.slack for s in streams)
    out = []
    for length in ls:
        unders = [(a, p) for a, p in base if a == "token_bucket" and not p.get("counts_rejected")
                  and p["burst"] in sizes and p["burst"] / p["rate_per_s"] < 0.97 * length]
        # not half the lockout: a probe that pauses half the stated wait would meet it exactly
        ws = shapes.nice([length / k for k in (3, 4)]) | {0.5, 1.0, 2.0, 3.0, 5.0, 10.0,
                                                          15.0, 30.0, 60.0}
        unders += [("fixed_window", {"limit": lim, "window_s": float(w),
                                     "alignment": "first_request"})
                   for w in sorted(x for x in ws if shortest <= x < 0.97 * length)
                   for lim in sizes]
        for a, p in unders:
            for extends in (False, True):
                out.append((a, p | {"lockout_s": float(length), "lockout_extends": extends}))
    return out


def fields(p: dict) -> dict:
    return {"lockout_s": float(p["lockout_s"]), "lockout_extends": bool(p.get("lockout_extends"))}


def from_fields(q) -> dict:
    length = getattr(q, "lockout_s", None)
    return {} if length is None else {"lockout_s": float(length),
                                      "lockout_extends": bool(getattr(q, "lockout_extends",
                                                                      False))}


def words(p: dict) -> str:
    extends = "; every refusal during it restarts it" if p.get("lockout_extends") else \
        "; refusals during it do not extend it"
    return f", then locked out for {p['lockout_s']:g} s from the first refusal{extends}"
