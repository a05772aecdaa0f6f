"""The models a run cannot tell apart, and the probe step that would (summary.json's
`quota.indistinguishable`): every kind of model (family, alignment and phase, counting
refusals or not, lockout or not) whose best candidate explains the run as well as the fitted
one (weighted agreement within the fit's TIE), each with the adaptive probe's step (the
names of `locustfiles/probe.py`'s steps) that separates it from the fitted one."""

from __future__ import annotations

from .families import short
from .score import Candidate

MOST = 8
# The order the entries are listed in: what a client most needs to know first.
ORDER = ("lockout", "extends", "counts_rejected", "concurrency", "shaping", "family", "sliding",
         "alignment", "phase", "window")
# Which step separates two models, by what differs between them (the first that does).
WHY = {
    "lockout": ("pace_over", "pacing just over the apparent rate: a window refuses the excess "
                "and reopens when it ends, a lockout keeps the key out for its whole length"),
    "extends": ("reopen_gap", "single requests after growing idle gaps: a request inside an "
                "extending lockout restarts it, one inside a plain lockout does not"),
    "counts_rejected": ("reopen_gap", "single requests after growing idle gaps: when refusals "
                        "count, each probe pushes the reopening later"),
    "alignment": ("clock_phase", "keys started at different clock phases: clock windows "
                  "reopen at the same instants for every key, anchored ones a window after "
                  "each key's first request"),
    "phase": ("clock_phase", "keys started at different clock phases: the phase where each "
              "key's windows begin"),
    "sliding": ("split", "admissions split across a window: a fixed window frees all of them "
                "at once, a sliding one only the older part"),
    "family": ("idle_burst", "a burst after an idle period: a bucket refills at its rate, a "
               "window all at once"),
    "concurrency": ("concurrency_ramp", "slow requests ramped in concurrency"),
    "shaping": ("shaping_excess", "the latency of admitted requests under excess: a shaper "
                "holds the excess and answers it late, a plain limiter answers at once"),
    "window": ("reopen_gap", "single requests after growing idle gaps: when a locked quota "
               "reopens"),
}


def kind(c: Candidate) -> tuple:
    p = c.params
    ph = p.get("phase_s")
    phase = None if p.get("alignment") != "epoch" else ("per_key" if ph == "per_key"
                                                         else "shifted" if ph else "zero")
    return (c.algorithm, p.get("alignment"), phase, bool(p.get("counts_rejected")),
            p.get("lockout_s") is not None, bool(p.get("lockout_extends")))


def model_name(c: Candidate) -> str:
    """A model in a few words: family, parameters, and what sets it apart."""
    p = c.params
    extra = []
    if p.get("alignment"):
        extra.append({"epoch": "on the clock", "first_request": "from the first request"}
                     [p["alignment"]])
    if p.get("phase_s") == "per_key":
        extra.append("each key's own phase")
    elif p.get("phase_s"):
        extra.append(f"phase {float(p['phase_s']):.2f} s")
    if p.get("counts_rejected"):
        extra.append("refusals counted")
    if p.get("lockout_s") is not None and p.get("lockout_extends"):
        extra.append("refusals restart the lockout")
    tail = f" ({', '.join(extra)})" if extra else ""
    return f"{c.algorithm.replace('_', ' ')} {short(c.algorithm, p)}{tail}"


def _difference(a: tuple, b: tuple) -> str:
    if a[4] != b[4]:
        return "lockout"
    if a[5] != b[5]:
        return "extends"
    if a[3] != b[3]:
        return "counts_rejected"
    if "concurrency" in (a[0], b[0]) and a[0] != b[0]:
        return "concurrency"
    if "shaping" in (a[0], b[0]) and a[0] != b[0]:
        return "shaping"
    if a[0] != b[0]:
        windowed = {"fixed_window", "sliding_log", "sliding_counter"}
        return "sliding" if {a[0], b[0]} <= windowed else "family"
    if a[1] != b[1]:
        return "alignment"
    return "phase" if a[2] != b[2] else "window"


def find(best: Candidate, rivals: list[Candidate], tie: float) -> list[dict]:
    """[{"models": [fitted, other], "experiment": step}], the best rivals first."""
    mine = kind(best)
    out, seen = [], {mine}
    size = best.params.get("window_s")
    why: dict[int, str] = {}
    for c in rivals:
        if c is best or c.params.get("screened_only") or best.weighted - c.weighted >= tie:
            continue
        k = kind(c)
        w = c.params.get("window_s")
        if k == mine and "window" not in seen and size and w and abs(w - size) > 0.03 * size:
            # the same model with another window explains the run as well: its length is open
            seen.add("window")
            # under a lockout only traffic that meets no refusal shows the quota's window
            step = WHY["lockout" if mine[4] else "window"][0]
            out.append({"models": [model_name(best), model_name(c)], "experiment": step})
            why[id(out[-1])] = "window"
            continue
        if k in seen:
            continue
        seen.add(k)
        differs = _difference(mine, k)
        out.append({"models": [model_name(best), model_name(c)],
                    "experiment": WHY[differs][0]})
        why[id(out[-1])] = differs
    out.sort(key=lambda e: ORDER.index(why[id(e)]))  # stable: the best rivals first within
    return out[:MOST]


def scope_entry(best: Candidate, rival: Candidate, scope: str) -> dict:
    other = "global" if scope == "per_key" else "per key"
    return {"models": [f"{model_name(best)} {scope.replace('_', ' ')}",
                       f"{model_name(rival)} {other}"], "experiment": "scope_uneven",
            }


def words(entries: list[dict]) -> str:
    """The note's sentence: the models named, each with the step that separates it."""
    parts = [f"{e['models'][1]} (the probe's {e['experiment']} step tells it apart)"
             for e in entries]
    return (f"this run cannot tell {entries[0]['models'][0]} from " + "; nor from ".join(parts)
            + ": run `make probe` to tell them apart")


def locked_classes(tied: list[dict], first: int, span: float) -> list[dict]:
    """`tied` and, for each kind of limiter that keeps a client that never pauses out after
    `first` admissions (a window longer than the run, one counting refused requests, a
    lockout) that none of them names, that kind in words: the candidates of a locked run
    cannot hold every such model (a counting bucket's rate, a lockout's length are not in
    it), and the list must not read as if those were ruled out."""
    best = tied[0]["models"][0] if tied else f"{first} admitted, then refused to the end"
    named = [m for e in tied for m in e["models"]]
    out = list(tied)
    plain = [m for m in named if "lockout" not in m and "refusals counted" not in m]
    classes = [("refusals counted", "reopen_gap", f"a limiter that counts refused requests "
                f"({first} admitted; every request refused after them uses up the quota "
                "again: refusals counted)"),
               ("lockout", "pace_over", f"a quota of {first} with a lockout longer than the "
                f"run ({span:.0f} s) after its first refusal"),
               (" per ", "reopen_gap", f"a window of {first} per more than {span:.0f} s")]
    for word, step, words in classes:
        if not any(word in m for m in (plain if word == " per " else named)):
            out.append({"models": [best, words], "experiment": step})
    return out


def alignment_twins(best: Candidate, others: list[Candidate], tie: float, same_rel: float
                    ) -> list[Candidate]:
    """Fixed windows that differ from `best` only in alignment (the same limit, the same
    window within `same_rel`) and explain the run equally (weighted within `tie`), best
    first: a run whose windows began on the clock's multiples cannot tell an anchored window
    from a clock-aligned one."""
    if best.algorithm != "fixed_window":
        return []
    p = best.params
    return [c for c in others if c is not best and c.algorithm == "fixed_window"
            and not c.params.get("screened_only")
            and not c.params.get("phase_s") and not p.get("phase_s")
            and c.params.get("lockout_s") is None and p.get("lockout_s") is None
            and c.params.get("alignment") != p.get("alignment")
            and c.params["limit"] == p["limit"]
            and abs(c.params["window_s"] - p["window_s"]) <= same_rel * p["window_s"]
            and best.weighted - c.weighted < tie]


def widest_window(best: Candidate, same_scope: list[Candidate], tie: float, rel: float,
                  stated: float | None) -> tuple[float, Candidate] | None:
    """When windows of many lengths explain the run alike (same family, limit, alignment
    and lockout as the fitted one) and no stated wait names one of them: (the shortest such
    window, the candidate with the longest), else None. A run that never saw a reopening
    closely (a lying Retry-After, a reopening bracketed by doubling idle gaps) leaves the
    window anywhere in that range, and the fit's first pick in it is no measurement."""
    if "window_s" not in best.params:
        return None
    same = ("limit", "alignment", "lockout_s", "lockout_extends", "counts_rejected")
    tied = [c for c in same_scope if c.algorithm == best.algorithm and "window_s" in c.params
            and not c.params.get("screened_only") and best.weighted - c.weighted < tie
            and all(c.params.get(n) == best.params.get(n) for n in same)]
    windows = [c.params["window_s"] for c in tied] + [best.params["window_s"]]
    lo, hi = min(windows), max(windows)
    if hi <= lo * (1 + rel):
        return None
    if stated and abs(best.params["window_s"] - stated) <= rel * stated:
        return None  # the server's stated reopenings pick the fitted window among them
    return lo, max(tied, key=lambda c: c.params["window_s"])
