"""The client's question of Retry-After: "if I wait what it says, am I let in?" (issue 13,
item 4; the report part).

The adaptive probe asks it in its `polite` steps: attempt 1 of a logical request is a 429
that states a wait (Retry-After, or without one a declared reset), attempt 2 of the same
logical request is sent that long after the 429 was received. The answer is counted from
those pairs only. The old probe's timed retries (attempt 2 of `retry_after_probe` at f x RA,
f drawn from [0.5, 1.5]) give a partial answer for f >= 1: waits at least as long as told,
never exactly that. A run with neither did not ask, and the answer says so. Pure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contract.events import CHAT

POLITE = "polite"
TOL_S = 0.05  # as the audit's: a retry this much early still waited as told
ASK = "make probe asks it"


def _ok(status: pd.Series) -> np.ndarray:
    return ((status >= 200) & (status < 300)).to_numpy()


def _pairs(events: pd.DataFrame) -> pd.DataFrame:
    """Each polite 429 with its retry: the wait it stated, on what, and how long it waited."""
    mine = (events["phase"] == POLITE).to_numpy(bool, copy=True)
    if "endpoint" in events:
        mine &= (events["endpoint"] == CHAT).to_numpy(bool)
    p = events[mine]
    first = p[(p["attempt"] == 1) & (p["status"] == 429)]
    retry = p[p["attempt"] == 2]
    cols = ["logical_id", "sent_ts", "latency_ms", "retry_after_s"]
    reset = "ratelimit_reset_s" in p
    first = first[cols + (["ratelimit_reset_s"] if reset else [])]
    pairs = first.merge(retry[["logical_id", "sent_ts", "status", "retry_after_s"]],
                        on="logical_id", suffixes=("_429", ""))
    ra = pairs["retry_after_s_429"].to_numpy(float)
    on_reset = np.isnan(ra) & (reset and pairs["ratelimit_reset_s"].notna().to_numpy())
    stated = np.where(on_reset, pairs["ratelimit_reset_s"] if reset else np.nan, ra)
    received = pairs["sent_ts_429"] + pairs["latency_ms"].fillna(0) / 1000
    return pd.DataFrame({"stated": stated, "on_reset": on_reset,
                         "waited": (pairs["sent_ts"] - received).to_numpy(float),
                         "ok": _ok(pairs["status"]), "refused": (pairs["status"] == 429)
                         .to_numpy(), "restated": pairs["retry_after_s"].to_numpy(float)})


def _times(k: int) -> str:
    return "once" if k == 1 else f"{k} times"


def _told(n: int, let_in: int) -> str:
    if let_in == n:
        return "a client that obeys Retry-After is let in"
    if let_in == 0:
        return "a client that obeys Retry-After is locked out"
    return f"a client that obeys Retry-After is refused again {_times(n - let_in)} in {n}"


def polite_answer(events: pd.DataFrame, probes: dict | None = None) -> dict:
    """The answer: the counts, where they come from (`source`: polite, retry_after_probe or
    None when the run did not ask) and a headline made from them. `probes` is the audit's
    count of the old probe's timed retries (RetryAfterAudit.probes)."""
    has_polite = "phase" in events and bool((events["phase"] == POLITE).any())
    if not has_polite:
        return _old_probe(probes or {})
    pts = _pairs(events)
    stated = pts[np.isfinite(pts["stated"])]
    told = stated[stated["waited"] >= stated["stated"] - TOL_S]
    n, let_in = len(told), int(told["ok"].sum())
    refused = int(told["refused"].sum())
    again = told.loc[told["refused"], "restated"].dropna()
    out = {"source": POLITE, "asked": n, "let_in": let_in, "refused": refused,
           "other": n - let_in - refused, "sent_early": int(len(stated) - n),
           "no_stated_wait": int(len(pts) - len(stated)),
           "on_reset": int(told["on_reset"].sum()),
           "stated_s": ({"min": round(float(told["stated"].min()), 4),
                         "max": round(float(told["stated"].max()), 4)} if n else {}),
           "restated_p50_s": round(float(again.median()), 4) if len(again) else None}
    out["headline"] = _polite_words(out)
    return out


def _polite_words(a: dict) -> str:
    n = a["asked"]
    if not n:
        why = (f"{a['sent_early']} retries went before the stated wait ran out"
               if a["sent_early"] else "no polite 429 stated a wait and was retried")
        return f"Waiting as told was not measured: the polite steps were run, but {why}"
    lo, hi = a["stated_s"]["min"], a["stated_s"]["max"]
    if n == 1:  # one try says what happened to it, not how often a polite client gets in
        got = "was let in" if a["let_in"] else "was refused" if a["refused"] else \
            "came back with neither a success nor a 429"
        words = (f"Waiting as told was tried once: the polite retry, sent the stated {lo:g} s "
                 f"after its 429, {got}")
        if a["restated_p50_s"] is not None:
            words += f" and told to wait again ({a['restated_p50_s']:g} s)"
        return words + _early(a)
    words = f"Waiting as told got in {a['let_in']} of {n} times: {_told(n, a['let_in'])}"
    if a["other"]:
        words += f" ({a['other']} came back with neither a success nor a 429)"
    if a["restated_p50_s"] is not None:
        words += f"; each refused retry was told to wait again ({a['restated_p50_s']:g} s median)"
    words += (f"; the wait stated was {lo:g} s every time" if lo == hi else
              f"; the waits stated ran from {lo:g} to {hi:g} s")
    if a["on_reset"]:
        words += (f" ({a['on_reset']} from a declared reset, as no Retry-After came)")
    return words + _early(a)


def _early(a: dict) -> str:
    k = a["sent_early"]
    return (f"; {k} retr{'y' if k == 1 else 'ies'} sent early {'is' if k == 1 else 'are'} not "
            "counted") if k else ""


def _old_probe(probes: dict) -> dict:
    """The old probe's retries at f x RA with f >= 1: each waited at least as long as told."""
    n = int(probes.get("at_or_after_stated") or 0)
    if not probes.get("sent"):
        return {"source": None, "asked": 0, "headline": (
            f"Waiting as told was not tried: the run has no polite steps ({ASK})")}
    if not n:
        return {"source": "retry_after_probe", "asked": 0, "headline": (
            f"Waiting as told was not tried: none of the old probe's {probes['sent']} timed "
            f"retries waited as long as told ({ASK})")}
    refused = int(probes.get("refused_at_or_after_stated") or 0)
    let_in = n - refused
    return {"source": "retry_after_probe", "asked": n, "let_in": let_in,
            "not_let_in": refused, "headline": (
                f"Waiting at least as told (1 to 1.5 x Retry-After, the old probe's timed "
                f"retries) got in {let_in} of {n} times: a partial answer, as none waited "
                f"exactly what it was told ({ASK})")}
