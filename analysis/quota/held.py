"""A run with no 429: were its admitted requests held (shaping), and by which bucket?

A shaped quota refuses nothing until its queue overflows, so a tight loop against it may see
no 429 at all; the latency of its admitted requests is then the only evidence. The shaping
family's candidates are scored here, per key and for all keys, as the fit scores everyone's
when there are refusals. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import shaping
from .concurrency import most_in_flight
from .score import Candidate, agreements, penalty

if TYPE_CHECKING:
    from ..decisions import Decisions

TIE = 1e-4  # as fit.TIE (fit imports this module)
# a 503 this fast (or this share of the quickest admitted reply) was answered without routing
FAST_503_S, FAST_503_SHARE, FAST_503_MIN = 0.01, 0.2, 3


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


def held_fit(held, decisions: Decisions, keys: int) -> dict:
    """QuotaFit's arguments for best_held's answer (the family's fields are set after)."""
    scope, best, tried, scope_tie = held
    note = ("no 429: excess requests were held, not refused; the bucket is read off how long "
            "each admitted request waited for its first byte")
    if keys < 2:
        note += "; one key in the run: per-key and global quotas look the same"
    elif scope_tie:
        note += ("; the keys were used alike, so per-key and global queues explain the run "
                 "equally: load the keys unevenly to tell them apart")
    return dict(algorithm=shaping.ALGORITHM,
                scope=scope if keys >= 2 and not scope_tie else "unknown",
                agreement=best.agreement, keys=keys, note=note,
                decisions=int(sum(s.scored.sum() for s in decisions.streams(scope))),
                candidates=[dict(c.as_dict(), scope=sc) for sc, c in tried])


def fast_503_as_refusals(decisions: Decisions) -> Decisions | None:
    """The run's decisions with its fast 503s read as refusals, when it has some: a limiter
    may refuse with 503 (a concurrency cap so configured, nginx limit_req by default), answered
    at once, where a busy node pool's 503 comes after its routing (and a queue's after its
    timeout). None when there is no such 503."""
    from ..decisions import decide  # the fit's caller built the first; this one is the same
    events = decisions.events
    fast = fast_503(events)
    if fast.sum() < FAST_503_MIN:
        return None
    return decide(events.assign(status=np.where(fast, 429, events["status"].to_numpy())))


def fast_503(events) -> np.ndarray:
    """Per event: a 503 answered at once (a limiter's refusal, when the fit reads them so:
    QuotaFit.refusal_status), not after a node pool's routing."""
    latency = events["latency_ms"].to_numpy(float) / 1000
    status = events["status"].to_numpy()
    ok = (status >= 200) & (status < 300)
    if not ok.any() or not (status == 503).any():
        return np.zeros(len(status), bool)
    return (status == 503) & (latency <= max(FAST_503_S,
                                             FAST_503_SHARE * np.nanmin(latency[ok])))


def in_flight(decisions: Decisions) -> dict:
    """The most admitted requests seen in flight at once, per key and for all keys, and the
    run's 503s (which a cap answering 503 would give too)."""
    return {"per_key": max(map(most_in_flight, decisions.streams("per_key"))),
            "global": most_in_flight(decisions.streams("global")[0]),
            "unavailable": int((decisions.rows["status"] == 503).sum())}


def in_flight_words(seen: dict | None, keys: int) -> str:
    """What a run with no 429 says about a concurrency cap, for the quota's description."""
    if not seen or not seen.get("per_key"):
        return ""
    where = f" per key ({seen['global']} for all keys together)" if keys >= 2 else ""
    words = f", with up to {seen['per_key']} requests admitted in flight at once{where}"
    if seen.get("unavailable"):
        # a cap that answers 503 looks like a busy node pool from here
        return (f"{words}; the {seen['unavailable']} 503s may be a concurrency cap's "
                "refusals or a busy node pool (`make probe` ramps the requests in flight to "
                "tell)")
    return (f"{words}: a concurrency cap of at least that many would have refused none "
            "(`make probe` ramps the requests in flight to find one)")
