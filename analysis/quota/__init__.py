"""The quota: one module per limiter family behind one interface, and the fit that scores them.

A family is a module (fixed_window, sliding_log, sliding_counter, token_bucket, concurrency)
listed once in `families.FAMILIES`; adding one is one module and one line there. Each has:

- `NAME`, and `PENALTY`: what it costs in the fit's tie-breaks (simpler models cost less);
- `propose(streams, shape) -> [params]`: candidate parameters read off the decisions
  (`shape` is `shape.observed_shape(streams)`; the window families share its limit x window
  grid);
- `replay(params, stream, t, h) -> admitted mask`: teacher-forced, each decision at `t[i]`
  judged against the admissions that really came before it, read at times `h` (the fit
  replays each family and window's candidates together: what their limits share can be
  kept with `stream.remembered`);
- `online(params)`: the same algorithm as a live limiter, `admit(t, end) -> (allowed, exact
  wait until it would admit)`, for the simulator (`end`, when the request would finish, only
  matters to concurrency); fed the same arrivals, it admits what `replay` admits;
- `reopens(params, stream, rejected positions) -> when the quota reopens` after each 429
  (None when the decisions cannot say, as for concurrency);
- `fields(params)` -> summary.json's quota fields, and `from_fields(q)`, its inverse, for
  anything carrying those fields (a QuotaFit, the simulator's ServerModel);
- `short(params)` ("3 per 1 s") and `describe(params, scope)`: the quota in words.

`fit.fit_quota(decisions)` scores every family's candidates (score.py) over the decisions
of analysis.decisions, computed once per report.
"""

from .families import FAMILIES, family, online_limiter
from .fit import TIE, QuotaFit, describe, fit_quota
from .reopenings import fitted_window_starts, model_reopenings
from .score import Candidate
from ..stream import Stream

__all__ = ["FAMILIES", "Candidate", "QuotaFit", "Stream", "TIE", "describe", "family",
           "fit_quota", "fitted_window_starts", "model_reopenings", "online_limiter"]
