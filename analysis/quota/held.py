"""A run with no 429: were its admitted requests held (shaping), and by which bucket?

A shaped quota refuses nothing until its queue overflows, so a tight loop against it may see
no 429 at all; the latency of its admitted requests is then the only evidence. The shaping
family's candidates are scored here, per key and for all keys, as the fit scores everyone's
when there are refusals. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import shaping
from .score import Candidate, agreements, penalty

if TYPE_CHECKING:
    from ..decisions import Decisions

TIE = 1e-4  # as fit.TIE (fit imports this module)


def best_held(decisions: Decisions, scopes: list[str], least: float
              ) -> tuple[str, Candidate, list[tuple[str, Candidate]], bool] | None:
    """(scope, the best shaped bucket, every candidate tried best first, whether the other
    scope explains the run as well), or None when nothing was held or no bucket explains at
    least `least` of the decisions (holds included)."""
    tried: list[tuple[str, Candidate]] = []
    for scope in scopes:
        streams = decisions.streams(scope)
        params = shaping.propose(streams, {})
        for p, (plain, weighted) in zip(params, agreements([(shaping.NAME, p) for p in params],
                                                             streams)):
            tried.append((scope, Candidate(shaping.NAME, p, plain, weighted,
                                           weighted - penalty(shaping.NAME, p))))
    if not tried:
        return None
    tried.sort(key=lambda sc: -sc[1].score)
    scope, best = tried[0]
    if best.weighted < least:
        return None
    rival = next((c for sc, c in tried if sc != scope), None)
    return scope, best, tried, rival is not None and best.weighted - rival.weighted < TIE
