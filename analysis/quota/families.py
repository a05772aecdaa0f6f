"""The registry: every limiter family the fit tries and the simulator replays, listed once.
The order is the fit's: candidates are tried, and equal scores ranked, in this order."""

from __future__ import annotations

from . import concurrency, fixed_window, sliding_counter, sliding_log, token_bucket

FAMILIES = {f.NAME: f for f in (fixed_window, sliding_log, sliding_counter, token_bucket,
                                concurrency)}


def family(algorithm: str):
    """The family module of `algorithm`; a clear error for a name no family has."""
    try:
        return FAMILIES[algorithm]
    except KeyError:
        raise ValueError(f"no limiter family {algorithm!r} (one of "
                         f"{', '.join(FAMILIES)})") from None


def online_limiter(q):
    """A live limiter for anything with QuotaFit's quota fields (a fit, a ServerModel)."""
    f = family(q.algorithm)
    return f.online(f.from_fields(q))
