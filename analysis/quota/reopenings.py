"""What a fitted model says about the run, read back onto its decisions: where its windows
began (the figures) and when it says the quota reopened after each 429 (the audit)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import families
from .families import FAMILIES, family_of
from .fit import QuotaFit
from .fixed_window import anchored_window_starts, phase_of

if TYPE_CHECKING:
    from ..decisions import Decisions


def fitted_window_starts(fit: QuotaFit, decisions: Decisions, most: int = 200) -> np.ndarray:
    """Where the fitted fixed windows begin (for the first key, or for everyone when the quota
    is global): what the report draws on the accepts."""
    if fit.algorithm != "fixed_window" or not fit.window_s:
        return np.array([])
    df = decisions.rows
    if df.empty:
        return np.array([])
    w = fit.window_s
    if fit.scope == "global":
        s = decisions.streams("global")[0]
    else:
        s = dict(decisions.keyed_streams("per_key")).get(str(df["key_id"].iloc[0]))
        if s is None:
            return np.array([])
    if fit.alignment == "epoch":
        first, last = df["decided"].min(), df["decided"].max()
        ph = phase_of(families.params_of(fit), s)
        return np.arange(math.ceil((first - ph) / w) * w + ph, last, w)[:most]
    return anchored_window_starts(s, s.t, fit.limit, w)[0][:most]


def model_reopenings(fit: QuotaFit, decisions: Decisions, most: int = 20_000) -> pd.DataFrame:
    """For each 429 (the first `most` of each stream): when the fitted model says the quota
    reopens, from the decisions observed before it (for a limiter that counts refusals, the
    429 itself included). Columns: key_id, decided, reopens
    (empty where the model cannot say, as for a concurrency limit)."""
    empty = pd.DataFrame(columns=["key_id", "decided", "reopens"])
    if fit.algorithm not in FAMILIES:
        return empty
    # a shaped bucket reopens when its queue has room, not when its bucket does (issue 13)
    name = family_of(fit).NAME
    params = families.params_of(fit)
    out = []
    for key, s in decisions.keyed_streams("global" if fit.scope == "global" else "per_key"):
        rej = np.flatnonzero(s.rejected)[:most]
        reopen = families.reopens(name, params, s, rej)
        if reopen is None:
            return empty
        t = s.t[rej]
        out.append(pd.DataFrame({"key_id": key, "decided": t,
                                 "reopens": np.maximum(reopen, t)}))
    return pd.concat(out, ignore_index=True) if out else empty
