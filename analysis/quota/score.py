"""Scoring a candidate: the fraction of observed decisions its replay reproduces, and the
small penalty for complexity that breaks ties (fixed windows before sliding ones, plain
before "counts rejected requests too", round before odd)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import families
from .families import family
from .shape import is_round
from ..stream import Stream

COUNTS_REJECTED_PENALTY = 0.002
# A phase read off the run is a claim fitted to it, so it costs more than a window on the
# clock's multiples (and one phase per key more than one for all), but less than any
# disagreement with the window the server stated (1e-6 x the relative error, below): with one
# reopening per key, a window of another length on the clock's multiples can meet the run's
# one boundary too, and only the stated window says which. A lockout is a model on top of a
# model.
PHASE_PENALTY = 1e-8
PER_KEY_PHASE_PENALTY = 2e-8
LOCKOUT_PENALTY = 0.003
EXTENDS_PENALTY = 0.0005
NOT_ROUND_PENALTY = 0.001
ACCEPT_WEIGHT_CAP = 10.0


@dataclass
class Candidate:
    algorithm: str
    params: dict
    agreement: float
    weighted: float
    score: float

    def as_dict(self) -> dict:
        return {"algorithm": self.algorithm, **self.params,
                "agreement": round(self.agreement, 5), "weighted": round(self.weighted, 5)}


def reproduced(algorithm: str, params: dict, s: Stream) -> np.ndarray:
    """Per scored decision: does the model give the observed answer at some reading of when
    the server decided (this request's and the earlier ones', each between send and reply)?"""
    ok = s.ok[s.scored]
    hit = np.zeros(int(s.scored.sum()), bool)
    pairs = [(s.t, s.t), (s.t_late, s.t_late), (s.t, s.t_late), (s.t_late, s.t)]
    for t, h in pairs:
        hit |= families.replay(algorithm, params, s, t, h)[s.scored] == ok
        if hit.all():
            break
    # --- shaping (issue 13, shaping helper): an admission held before its answer is not
    # what a family that answers at once does (only shaping's replay judges holds)
    if s.held is not None and not getattr(family(algorithm), "HOLDS", False):
        hit &= ~s.held[s.scored]
    # --- end shaping
    return hit


def agreement(algorithm: str, params: dict, streams: list[Stream]) -> tuple[float, float]:
    """(plain, weighted) agreement. Plain: the fraction of decisions reproduced. Weighted:
    accepts count up to ACCEPT_WEIGHT_CAP times a refusal (as many times as refusals outnumber
    them), so that thousands of 429s in a tight loop cannot hide a model that gets the few
    accepts wrong, while one missed accept cannot outweigh hundreds of refusals either.
    Fits are chosen on it."""
    hits = {True: 0, False: 0}
    totals = {True: 0, False: 0}
    for s in streams:
        if s.scored.any():
            r = reproduced(algorithm, params, s)
            ok = s.ok[s.scored]
            for side in (True, False):
                hits[side] += int(r[ok == side].sum())
                totals[side] += int((ok == side).sum())
    total = totals[True] + totals[False]
    if not total:
        return 0.0, 0.0
    plain = (hits[True] + hits[False]) / total
    weight = min(ACCEPT_WEIGHT_CAP, max(1.0, totals[False] / totals[True])) if totals[True] else 1
    weighted = (weight * hits[True] + hits[False]) / (weight * totals[True] + totals[False])
    return plain, weighted


def agreements(candidates: list[tuple[str, dict]], streams: list[Stream]
               ) -> list[tuple[float, float]]:
    """agreement() of each (algorithm, params), in the candidates' order. They are replayed
    family by family and window by window, so that what the limits of one window share is
    computed once (stream.remembered)."""
    def group(i: int):
        algorithm, p = candidates[i]
        return (algorithm, str(p.get("lockout_s")), bool(p.get("lockout_extends")),
                p.get("window_s") or 0.0, str(p.get("alignment")), str(p.get("phase_s")),
                bool(p.get("counts_rejected")))

    out: list[tuple[float, float]] = [(0.0, 0.0)] * len(candidates)
    for i in sorted(range(len(candidates)), key=group):
        out[i] = agreement(*candidates[i], streams)
    return out


def penalty(algorithm: str, params: dict, stated_window: float | None = None) -> float:
    p = family(algorithm).PENALTY
    if stated_window and "window_s" in params:
        # Breaks ties only (a millionth per relative error): when the decisions cannot tell
        # windows apart, as when a limiter that counts refusals keeps a loop locked out, the
        # reopening the server stated decides.
        p += 1e-6 * min(1.0, abs(params["window_s"] - stated_window) / stated_window)
    if params.get("counts_rejected"):
        p += COUNTS_REJECTED_PENALTY
    if params.get("phase_s"):
        p += PER_KEY_PHASE_PENALTY if params["phase_s"] == "per_key" else PHASE_PENALTY
    if params.get("lockout_s") is not None:
        p += LOCKOUT_PENALTY + (EXTENDS_PENALTY if params.get("lockout_extends") else 0.0)
    for name in ("window_s", "rate_per_s"):
        if name in params and not is_round(params[name]):
            p += NOT_ROUND_PENALTY
    return p
