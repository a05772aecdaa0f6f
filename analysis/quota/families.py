"""The registry: every limiter family the fit tries and the simulator replays, listed once.
The order is the fit's: candidates are tried, and equal scores ranked, in this order."""

from __future__ import annotations

import numpy as np

from . import concurrency, fixed_window, sliding_counter, sliding_log, token_bucket
from .stream import Stream

FAMILIES = {f.NAME: f for f in (fixed_window, sliding_log, sliding_counter, token_bucket,
                                concurrency)}


def family(algorithm: str):
    """The family module of `algorithm`; a clear error for a name no family has."""
    try:
        return FAMILIES[algorithm]
    except KeyError:
        raise ValueError(f"no limiter family {algorithm!r} (one of "
                         f"{', '.join(FAMILIES)})") from None


def predict(algorithm: str, params: dict, s: Stream, t=None, h=None) -> np.ndarray:
    """The family's teacher-forced replay; t and h default to the typical reading."""
    return family(algorithm).replay(params, s, s.t if t is None else t, s.t if h is None else h)


def quota_fields(algorithm: str, p: dict) -> dict:
    """QuotaFit's quota fields for one model's parameters (a candidate's dict will do)."""
    return family(algorithm).fields(p)


def online_limiter(q):
    """A live limiter for anything with QuotaFit's quota fields (a fit, a ServerModel)."""
    f = family(q.algorithm)
    return f.online(f.from_fields(q))
