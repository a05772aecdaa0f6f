"""Fit a quota model to the accept/reject decisions a run observed.

Every family in the registry (families.FAMILIES) proposes parameter candidates read off the
decisions (shape.py), then every candidate is replayed over the observed decision times and
scored by the fraction of 2xx/429 decisions it reproduces (score.py). Replays are
teacher-forced: each decision is judged against the admissions that really happened before it,
so one boundary miss does not throw every later decision off. The best score wins, after a
small penalty for complexity. Pure: decisions in, dataclass out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from . import families, indistinguishable, lockout, phases
from .families import FAMILIES, family, family_of, published
from .held import best_held, fast_503_as_refusals, held_fit, in_flight, in_flight_words
from .shaping import mark_held
from .score import Candidate, agreements, penalty
from .shape import observed_shape, stated_window as shape_stated_window
from ..stream import REJECTED, Stream, runs

if TYPE_CHECKING:
    from ..decisions import Decisions

MIN_AGREEMENT = 0.9
TIE = 1e-4  # weighted agreements this close explain a run equally
# Fixed windows this close (relative) are the same window to the fit: the tolerance its
# candidate windows are read with (shape.nice) and the accuracy table allows.
SAME_WINDOW_REL = 0.03
FINALISTS_PER_FAMILY = 6
SCREEN_EVENTS = 20_000


@dataclass
class QuotaFit:
    algorithm: str
    scope: str
    limit: int | None = None
    window_s: float | None = None
    rate_per_s: float | None = None
    burst: int | None = None
    alignment: str | None = None
    counts_rejected: bool = False
    agreement: float | None = None
    decisions: int = 0
    keys: int = 0
    rate_reached_per_s: float | None = None
    burst_observed: int | None = None
    candidates: list[dict] = field(default_factory=list)
    note: str = ""
    # --- shaping (issue 13, shaping helper): {size, max_delay_s, reached, held_most,
    # longest_wait_s} when excess requests were held instead of refused (shaping.queueing);
    # with no quota observed, the most admitted requests seen in flight at once and the
    # run's 503s {"per_key", "global", "unavailable"} (held.in_flight)
    queueing: dict | None = None
    in_flight_most: dict | None = None
    refusal_status: int = 429  # 503 when fast 503s were the refusals (fast_503_as_refusals)
    # --- end shaping
    # --- fit-modifiers (issue 13): the lockout, the epoch windows' phase, what is left open
    phase_s: float | dict | None = None
    lockout_s: float | None = None
    lockout_extends: bool | None = None
    indistinguishable: list[dict] = field(default_factory=list)
    window_range_s: list[float] | None = None  # [shortest, longest]: the run cannot tell
    # --- end fit-modifiers

    def summary(self) -> dict:
        """The summary.json `quota` object: every field, and the quota in words."""
        return asdict(self) | {"description": describe(self)}


def candidate_params(streams: list[Stream]) -> list[tuple[str, dict]]:
    """Every family's candidates. Equal scores rank in this order: the windowed ones by
    limit, then window, each (limit, window) in registry order (simpler families first),
    then the others in registry order."""
    shape = observed_shape(streams)
    if not shape["first"]:
        return []
    out = [(f.NAME, p) for f in FAMILIES.values() for p in f.propose(streams, shape)]
    out += lockout.propose(streams, shape, out)
    return sorted(out, key=lambda c: (0, c[1]["limit"], c[1]["window_s"])
                  if "window_s" in c[1] else (1, 0, 0.0))


def _screened_out(c: Candidate) -> Candidate:
    """A candidate that did not reach the second pass: its score can no longer win."""
    c.params = dict(c.params, screened_only=True)
    c.score = -1.0
    return c


def _short(c: Candidate) -> str:
    return families.short(c.algorithm, c.params)


def describe(fit: QuotaFit) -> str:
    """The quota in words, for the report's verdict."""
    scope = {"per_key": " per key", "global": " shared by all keys", "unknown": ""}[fit.scope]
    if fit.algorithm == "none_observed":
        reached = f" at up to {fit.rate_reached_per_s:.2f} requests/s" \
            if fit.rate_reached_per_s else ""
        return f"no rate limit observed{reached}{in_flight_words(fit.in_flight_most, fit.keys)}"
    if fit.algorithm == "unknown":
        return "quota not identified" + (f" ({fit.note})" if fit.note else "")
    status = " (refused with 503, not 429)" if fit.refusal_status == 503 else ""
    words = families.describe(family_of(fit).NAME, families.params_of(fit), scope) + status
    if fit.window_range_s:  # the longest is given, as the range's end
        lo, hi = fit.window_range_s
        return words.replace(f"per {hi:g} s", f"per {lo:g} to {hi:g} s (the run cannot pin "
                             "the window down within that range)", 1)
    return words


def fit_quota(decisions: Decisions) -> QuotaFit:
    """The quota model that best explains the run's decisions (analysis.decisions)."""
    if isinstance(decisions, pd.DataFrame):
        raise TypeError("fit_quota takes the run's decisions: "
                        "fit_quota(analysis.decisions.decide(events))")
    try:
        return _fit(decisions)
    finally:  # what the candidates shared is of no use to the later stages
        decisions.forget_memos()


def _fit(decisions: Decisions) -> QuotaFit:
    df = decisions.rows
    keys = int(df["key_id"].nunique()) if len(df) else 0
    n_rejected = int((df["status"] == REJECTED).sum()) if len(df) else 0
    n_ok = int(((df["status"] >= 200) & (df["status"] < 300)).sum()) if len(df) else 0
    span = float(df["decided"].max() - df["decided"].min()) if len(df) > 1 else 0.0
    reached = n_ok / span if span > 0 else None
    if len(df) == 0:
        return QuotaFit("unknown", "unknown", note="no chat completion reached the quota "
                        "(only errors before it, or no events)")
    scopes = ["per_key", "global"] if keys >= 2 else ["per_key"]
    # --- shaping (issue 13, shaping helper): no 429, but admitted requests held
    if n_rejected == 0:
        held = best_held(decisions, scopes, MIN_AGREEMENT)
        if held is not None:
            fit = QuotaFit(**held_fit(held, decisions, keys), rate_reached_per_s=reached)
            for name, value in family(held[1].algorithm).fields(held[1].params).items():
                setattr(fit, name, value)
            return fit
        refused_503 = fast_503_as_refusals(decisions)
        if refused_503 is not None:
            fit = _fit(refused_503)
            if fit.algorithm not in ("none_observed", "unknown"):
                fit.refusal_status = 503
                return fit
        return QuotaFit("none_observed", "unknown", decisions=n_ok, keys=keys,
                        rate_reached_per_s=reached, in_flight_most=in_flight(decisions),
                        note=f"no 429 in {n_ok} admitted requests: the quota, if any, is above "
                             f"{reached:.2f} requests/s" if reached else "no 429 observed")
    # --- end shaping
    tried: list[tuple[str, Candidate]] = []
    key_streams = decisions.streams("per_key")
    key_shape = observed_shape(key_streams)
    stated_window = shape_stated_window(key_shape)
    # Two passes for long runs: every candidate on the first SCREEN_EVENTS decisions, then the
    # best few of each model family (and scope) on all of them. Short runs: one pass.
    screened: list[tuple[str, Candidate, list[Stream]]] = []
    # shaping (issue 13, shaping helper): held admissions count against families that do not
    mark_held([decisions.streams(sc, head) for sc in scopes for head in (None, SCREEN_EVENTS)])
    for scope in scopes:
        streams = decisions.streams(scope)
        screen_streams = decisions.streams(scope, SCREEN_EVENTS)
        candidates = candidate_params(streams)
        for (algorithm, params), (plain, weighted) in zip(
                candidates, agreements(candidates, screen_streams)):
            cost = penalty(algorithm, params, stated_window)
            screened.append((scope, Candidate(algorithm, params, plain, weighted,
                                              weighted - cost), streams))
    screened.sort(key=lambda x: -x[1].score)
    finalists, per_family = [], {}
    for scope, cand, streams in screened:
        kind = (scope,) + indistinguishable.kind(cand)  # a lockout or a phase is a kind
        if len(df) <= SCREEN_EVENTS or per_family.get(kind, 0) < FINALISTS_PER_FAMILY:
            per_family[kind] = per_family.get(kind, 0) + 1
            finalists.append((scope, cand, streams))
    if len(df) > SCREEN_EVENTS:
        for scope in scopes:
            again = [c for sc, c, _ in finalists if sc == scope]
            for cand, (plain, weighted) in zip(again, agreements(
                    [(c.algorithm, c.params) for c in again], decisions.streams(scope))):
                cand.agreement, cand.weighted = plain, weighted
                cand.score = weighted - penalty(cand.algorithm, cand.params, stated_window)
    tried += [(scope, cand) for scope, cand, _ in finalists]
    final_ids = {id(c) for _, c, _ in finalists}
    tried += [(scope, _screened_out(c)) for scope, c, _ in screened if id(c) not in final_ids]
    if not tried and not (df["status"] != REJECTED).any():
        return QuotaFit("unknown", "unknown", decisions=len(df), keys=keys,
                        note="every request was refused: no accepted request to derive a "
                             "quota from")
    reopened = any(len(runs(st)[2]) > 1 for st in key_streams)
    if not reopened and not key_shape["reopen_span"]:
        first = max(key_shape["first"] or [0])
        return QuotaFit("unknown", "unknown", limit=first or None, burst_observed=first,
                        decisions=len(df), keys=keys, rate_reached_per_s=reached,
                        candidates=[dict(c.as_dict(), scope=sc) for sc, c in tried],
                        note=f"{first} requests were admitted, then the quota did not reopen "
                             f"during the run ({span:.1f} s): its window is longer; run for "
                             "longer than one window, or use the probe")
    tried.sort(key=lambda sc: -sc[1].score)
    scope, best = tried[0]
    aligned = _twins(best, [c for sc, c in tried if sc == scope])
    if aligned:
        # A tie between alignments goes to the clock, the more specific claim: it puts every
        # window at a multiple of the window since the epoch, and any window that began
        # elsewhere would have contradicted it, where an anchored window fits a run starting
        # at any phase. The note names the other (below); only a candidate as good after
        # penalties (the same roundness) takes over, so the window's tie-breaks stand.
        epoch = next((c for c in [best] + aligned if c.params.get("alignment") == "epoch"
                      and not c.params.get("phase_s") and best.score - c.score < TIE), best)
        if epoch is not best:
            tried.remove((scope, epoch))
            tried.insert(0, (scope, epoch))
            best = epoch
            aligned = _twins(best, [c for sc, c in tried if sc == scope])
    rival = next((c for sc, c in tried if sc != scope), None)
    scope_tie = rival is not None and best.weighted - rival.weighted < TIE
    streams = decisions.streams(scope)
    burst_seen = max((key_shape if scope == "per_key" else observed_shape(streams))["first"]
                     or [0])
    fit = QuotaFit(
        algorithm=published(best.algorithm) if best.weighted >= MIN_AGREEMENT else "unknown",
        scope=scope if keys >= 2 and not scope_tie else "unknown",
        agreement=best.agreement, decisions=int(sum(s.scored.sum() for s in streams)),
        keys=keys, rate_reached_per_s=reached, burst_observed=burst_seen,
        candidates=[dict(c.as_dict(), scope=sc) for sc, c in tried])
    for name, value in families.fields(best.algorithm, best.params).items():
        setattr(fit, name, value)
    if best.params.get("phase_s") == "per_key":
        fit.phase_s = phases.by_key(decisions.keyed_streams("per_key"), best.params["window_s"])
    same_scope = [c for sc, c in tried if sc == scope]
    fit.indistinguishable = indistinguishable.find(best, same_scope, TIE)
    # windows the run cannot tell apart: the longest is given (pacing by it is safe)
    if wide := indistinguishable.widest_window(best, same_scope, TIE, SAME_WINDOW_REL,
                                               stated_window):
        for name, value in families.fields(wide[1].algorithm, wide[1].params).items():
            setattr(fit, name, value)
        fit.window_range_s = [wide[0], fit.window_s]
    if scope_tie and keys >= 2:
        fit.indistinguishable.append(indistinguishable.scope_entry(best, rival, scope))
    kinds_tied = [e for e in fit.indistinguishable if e["experiment"] != "scope_uneven"]
    if not reopened and kinds_tied and fit.algorithm != "unknown":
        # Locked from the first refusal to the end: a longer window, refusals that count and
        # a lockout all keep a client that never pauses out, so no one of them is the answer.
        return _locked(fit, kinds_tied, span, max(key_shape["first"] or [0]), keys)
    if fit.algorithm == "unknown":
        fit.note = (f"no model reproduces more than {best.weighted:.1%} of the decisions "
                    "(accepts weighted up against refusals); "
                    "the best is listed first among the candidates")
    else:
        notes = []
        if not reopened:
            notes.append("the quota did not reopen during the run: its window comes from "
                         "Retry-After alone")
        twin = next((c for sc, c in tried if c.algorithm != best.algorithm
                     and not c.params.get("screened_only")
                     and best.weighted - c.weighted < TIE), None)
        others = [e for e in fit.indistinguishable if e["experiment"] != "scope_uneven"
                  and (twin is None or not e["models"][1].startswith(
                      twin.algorithm.replace("_", " ") + " " + _short(twin)))
                  and not (aligned and e["experiment"] == "clock_phase")]
        if twin is not None:
            notes.append(f"a {best.algorithm.replace('_', ' ')} of {_short(best)} and a "
                         f"{twin.algorithm.replace('_', ' ')} of {_short(twin)} explain the "
                         "run equally (a tight loop can meet them at the same moments): the "
                         "probe, which idles, bursts and splits a window, tells them apart")
        if aligned:
            other = aligned[0]
            where = {"epoch": "aligned to the clock", "first_request":
                     "anchored at the first request"}
            clock = best if best.params["alignment"] == "epoch" else other
            why = "the clock-aligned one is reported, as the more specific claim" \
                if clock is best else "the anchored one is reported, its window the rounder"
            notes.append(f"a fixed window of {_short(best)} {where[best.params['alignment']]} "
                         f"and one of {_short(other)} {where[other.params['alignment']]} "
                         f"explain the run equally (its windows began on multiples of "
                         f"{clock.params['window_s']:g} s since the epoch); {why}: start keys at "
                         "different clock phases, or idle longer than a window and then "
                         "send mid-window (a clock-aligned window reopens at the next "
                         "multiple of the window, an anchored one a whole window after "
                         "that request), to tell them apart")
        if others:
            notes.append(indistinguishable.words(others))
        if keys < 2:
            notes.append("one key in the run: per-key and global quotas look the same")
        elif scope_tie:
            notes.append(f"the keys were used alike, so {_short(best)} {scope} and "
                         f"{_short(rival)} {'global' if scope == 'per_key' else 'per key'} "
                         "explain the run equally: load the keys unevenly (for example 3 "
                         "users on 2 keys) to tell them apart")
        fit.note = "; ".join(notes)
    return fit


def _locked(fit: QuotaFit, tied: list[dict], span: float, first: int, keys: int) -> QuotaFit:
    each = " per key" if keys >= 2 else ""
    for name in ("window_s", "rate_per_s", "alignment", "phase_s", "lockout_s",
                 "lockout_extends"):
        setattr(fit, name, None)
    fit.algorithm, fit.limit, fit.burst, fit.counts_rejected = "unknown", first, None, False
    fit.queueing = None  # nothing fitted: no family's fields stay behind
    fit.indistinguishable = tied = indistinguishable.locked_classes(tied, first, span) + [
        e for e in fit.indistinguishable if e["experiment"] == "scope_uneven"]
    fit.note = (f"{first} requests{each} were admitted, then every request was refused to the "
                f"end of the run ({span:.1f} s): the quota did not reopen, which a window longer than "
                "the run, a limiter that counts refused requests and a lockout all do to a "
                f"client that never pauses; {indistinguishable.words(tied)}")
    return fit


def _twins(best: Candidate, others: list[Candidate]) -> list[Candidate]:
    return indistinguishable.alignment_twins(best, others, TIE, SAME_WINDOW_REL)
