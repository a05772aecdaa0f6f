"""The registry: every limiter family the fit tries and the simulator replays, listed once.
The order is the fit's: candidates are tried, and equal scores ranked, in this order."""

from __future__ import annotations

from . import concurrency, fixed_window, shaping, sliding_counter, sliding_log, token_bucket

FAMILIES = {f.NAME: f for f in (fixed_window, sliding_log, sliding_counter, token_bucket,
                                concurrency, shaping)}


def family(algorithm: str):
    """The family module of `algorithm`; a clear error for a name no family has."""
    try:
        return FAMILIES[algorithm]
    except KeyError:
        raise ValueError(f"no limiter family {algorithm!r} (one of "
                         f"{', '.join(FAMILIES)})") from None


# --- shaping (issue 13, shaping helper): summary.json names a shaped bucket `token_bucket`
# with `queueing` set; the family that replays it is `shaping`.
def published(name: str) -> str:
    """summary.json's quota.algorithm for a family's NAME."""
    return getattr(family(name), "ALGORITHM", name)


def family_of(q):
    """The family of anything with QuotaFit's quota fields: `queueing` set means shaping."""
    return shaping if getattr(q, "queueing", None) else family(q.algorithm)
# --- end shaping


def online_limiter(q):
    """A live limiter for anything with QuotaFit's quota fields (a fit, a ServerModel)."""
    f = family_of(q)
    return f.online(f.from_fields(q))
