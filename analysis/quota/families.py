"""The registry: every limiter family the fit tries and the simulator replays, listed once.
The order is the fit's: candidates are tried, and equal scores ranked, in this order.

A candidate may carry a modifier over its family: a lockout (lockout.py, `lockout_s`). The
functions below take an algorithm and its parameters, modifier included, and are what the
fit, the audit and the simulator call; a family module knows nothing of the lockout."""

from __future__ import annotations

from . import (concurrency, fixed_window, lockout, shaping, sliding_counter, sliding_log,
               token_bucket)

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


def replay(algorithm: str, p: dict, s, t, h):
    f = family(algorithm)
    return lockout.replay(f, p, s, t, h) if lockout.wraps(p) else f.replay(p, s, t, h)


def reopens(algorithm: str, p: dict, s, rej):
    f = family(algorithm)
    return lockout.reopens(f, p, s, rej) if lockout.wraps(p) else f.reopens(p, s, rej)


def online(algorithm: str, p: dict):
    f = family(algorithm)
    quota = f.online(lockout.inner(p))
    return lockout.Online(quota, p) if lockout.wraps(p) else quota


def params_of(q) -> dict:
    """The parameters, modifiers included, of anything with QuotaFit's quota fields."""
    return family_of(q).from_fields(q) | lockout.from_fields(q)


def fields(algorithm: str, p: dict) -> dict:
    out = family(algorithm).fields(lockout.inner(p))
    out.setdefault("phase_s", None)
    return out | (lockout.fields(p) if lockout.wraps(p) else
                  {"lockout_s": None, "lockout_extends": None})


def short(algorithm: str, p: dict) -> str:
    out = family(algorithm).short(lockout.inner(p))
    return out + (f" then a {p['lockout_s']:g} s lockout" if lockout.wraps(p) else "")


def describe(algorithm: str, p: dict, scope: str) -> str:
    out = family(algorithm).describe(lockout.inner(p), scope)
    return out + (lockout.words(p) if lockout.wraps(p) else "")


def online_limiter(q):
    """A live limiter for anything with QuotaFit's quota fields (a fit, a ServerModel)."""
    return online(family_of(q).NAME, params_of(q))
