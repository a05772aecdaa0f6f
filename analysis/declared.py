"""What the rate-limit headers declare, held against the quota the run showed: summary.json's
`quota.declared`. A declared policy is evidence to test, never the answer: the fit is made
from the decisions alone, and this stage says whether the headers told the truth. Pure.

The rules (the summary model's field descriptions say the same):
- the family is the one most chat responses carried (contract.ratelimit_families decided,
  per response, which one it read); limit and window are what those responses declared, the
  most common pair; every distinct pair is listed in `policies` with its count, and more than
  one makes `agrees` false (a header that changes its policy states no one quota);
- `agrees`: limit within LIMIT_SLACK of the fitted limit (a token bucket: its burst), and the
  declared window within WINDOW_REL of the fitted window (a token bucket: the time to refill
  the bucket, burst / rate, which is what the gateway declares) or of it rounded up to the
  whole second (the drafts' windows are whole seconds, rounded up); a family without a window
  (OpenAI, Anthropic, GitHub) is judged on its limit alone. Null when there is no fitted
  quota to hold the headers against (none observed, unknown) or the fitted family has no
  limit per window (concurrency);
- `remaining`: every 429 is set against the response of its quota stream (its key's;
  everyone's under a global quota) last received before the 429 was sent that declared a
  remaining count R: what a client had been told when it asked. The quota decides a request
  between its send and its first byte, so the requests that can have spent R before the 429
  are those sent before the 429's answer and answered after that response was sent (no
  estimate of decision times is needed). R larger than their number means the header said a
  request was left, yet the request was refused: a contradiction. Refills only raise what is
  left, so they never excuse one; traffic from outside the run would (a shared key).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from contract.events import CHAT
from contract.ratelimit_families import FAMILIES

from .decisions import PASSED
from .quota import QuotaFit
from .quota.fit import SAME_WINDOW_REL
from .stream import REJECTED

COLUMNS = ("ratelimit_limit", "ratelimit_window_s", "ratelimit_remaining", "ratelimit_family")
LIMIT_SLACK = 1
WINDOW_REL = SAME_WINDOW_REL
WINDOW_FAMILIES = ("fixed_window", "sliding_log", "sliding_counter")
LABELS = {"ietf-08": "IETF draft-08 RateLimit headers", "ietf-07": "IETF draft-07 RateLimit "
          "headers", "ietf-06": "IETF draft-06 RateLimit headers", "anthropic": "Anthropic "
          "anthropic-ratelimit-requests-* headers", "openai": "OpenAI "
          "x-ratelimit-*-requests headers", "github": "X-RateLimit-* headers (GitHub's)"}


def _number(x: float):
    return int(x) if float(x).is_integer() else float(x)


def _n(x) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"  # 1000000, not 1e+06


def _policy(limit, window) -> str:
    return f"{_n(limit)} requests" + (f" per {_n(window)} s" if window is not None else "")


def _observed(fit: QuotaFit) -> tuple[float, float, str] | None:
    """(limit, window, words) of the fitted quota in the headers' terms, or None."""
    if fit.algorithm in WINDOW_FAMILIES and fit.limit and fit.window_s:
        return fit.limit, fit.window_s, f"{fit.limit} per {fit.window_s:g} s"
    if fit.algorithm == "token_bucket" and fit.burst and fit.rate_per_s:
        refill = fit.burst / fit.rate_per_s
        return fit.burst, refill, (f"a token bucket of {fit.burst} refilled in {refill:.3g} s "
                                   f"({fit.rate_per_s:g} requests/s)")
    return None


def _window_ok(declared: float, fitted: float) -> int:
    """0 when the declared window agrees; -1 when it is shorter (more per second), +1 longer."""
    if declared < fitted * (1 - WINDOW_REL):
        return -1
    return 1 if declared > math.ceil(fitted - 1e-9) * (1 + WINDOW_REL) else 0


def compare(limit: float, window: float | None, fit: QuotaFit) -> tuple[bool | None, str]:
    """Whether a declared (limit, window) is the fitted quota, and the verb or reason."""
    if fit.algorithm in ("none_observed", "unknown"):
        return None, ("no 429 in the run, so no quota to hold them against"
                      if fit.algorithm == "none_observed" else "the quota was not identified")
    seen = _observed(fit)
    if seen is None:
        return None, f"a {fit.algorithm.replace('_', ' ')} quota has no limit per window"
    lim = 0 if abs(limit - seen[0]) <= LIMIT_SLACK else (1 if limit > seen[0] else -1)
    win = 0 if window is None else -_window_ok(window, seen[1])  # shorter claims more
    if lim == win == 0:
        return True, "as observed"
    if {lim, win} <= {0, 1}:
        return False, "overstate"
    return False, "understate" if {lim, win} <= {0, -1} else "misstate"


def remaining_check(rows: pd.DataFrame, scope: str | None) -> dict:
    """Each 429 against the remaining count of the response its stream last received before
    it was sent (module docstring); scope None: the streams are unknown, nothing is checked."""
    checked = contradicted = 0
    if scope is None or "ratelimit_remaining" not in rows or not len(rows):
        return {"checked": 0, "contradicted": 0, "consistent": None}
    groups = [rows] if scope == "global" else [g for _, g in rows.groupby(
        "key_id", observed=True, sort=True)]
    for g in groups:
        sent = g["sent_ts"].to_numpy(float)
        # the quota decided between the send and the first byte (the headers' arrival)
        heard = sent + g["ttfb_ms"].fillna(g["latency_ms"]).fillna(0).to_numpy(float) / 1000
        status = g["status"].to_numpy()
        left = g["ratelimit_remaining"].to_numpy(float)
        told = np.flatnonzero(np.isfinite(left))
        told = told[np.argsort(heard[told], kind="stable")]
        passed = np.isin(status, list(PASSED))
        refused = np.flatnonzero(status == REJECTED)
        k = np.searchsorted(heard[told], sent[refused], side="left") - 1
        refused, ref = refused[k >= 0], told[k[k >= 0]]
        # passed the quota possibly after the reference and before the 429: sent before the
        # 429 was answered and answered after the reference was sent (the reference itself
        # too, which counted its own admission)
        since = (np.searchsorted(np.sort(sent[passed]), heard[refused], side="right")
                 - np.searchsorted(np.sort(heard[passed]), sent[ref], side="left")
                 - passed[ref])
        checked += len(refused)
        contradicted += int((left[ref] > since).sum())
    return {"checked": checked, "contradicted": contradicted,
            "consistent": (contradicted == 0) if checked else None}


def _streams(fit: QuotaFit, rows: pd.DataFrame) -> str | None:
    """Whose remaining a response declares: the fitted scope's; with several keys and no
    scope fitted, unknown (one key's count set against another key's refusals would be
    wrong either way)."""
    if fit.scope != "unknown":
        return fit.scope
    return "per_key" if not len(rows) or rows["key_id"].nunique() <= 1 else None


def _family(chat: pd.DataFrame) -> tuple[str, dict[str, int]]:
    counts = chat["ratelimit_family"].value_counts()  # a categorical's counts all categories
    families = {f: int(counts[f]) for f in FAMILIES if f in counts.index and counts[f] > 0}
    most = max(families.values())
    return next(f for f, n in families.items() if n == most), families  # ties: precedence


def declared_policy(decisions, fit: QuotaFit) -> dict | None:
    """summary.json's `quota.declared` from the decisions (analysis.decisions) and the fit:
    None when no chat response carried a readable policy (or the events predate the columns)."""
    ev = decisions.events
    if not len(ev) or any(c not in ev for c in COLUMNS):
        return None
    # compared as they are: a categorical column is not turned into a string per row
    chat = ev.loc[(ev["endpoint"] == CHAT) & (ev["ratelimit_family"] != "") & np.isfinite(
        ev["ratelimit_limit"].to_numpy(float)), list(COLUMNS)]
    if not len(chat):
        return None
    name, families = _family(chat)
    own = chat[chat["ratelimit_family"] == name]
    pairs = own.groupby([own["ratelimit_limit"], own["ratelimit_window_s"].fillna(-1.0)],
                        sort=True).size().sort_values(ascending=False, kind="stable")
    policies = [{"limit": _number(lim), "window_s": None if w < 0 else _number(w),
                 "responses": int(n)} for (lim, w), n in pairs.items()]
    top = policies[0]
    rows = decisions.rows
    remaining = remaining_check(rows, _streams(fit, rows))
    if len(policies) > 1:
        agrees, why = False, "varies"
    else:
        agrees, why = compare(top["limit"], top["window_s"], fit)
    out = {"header_family": name, "limit": top["limit"], "window_s": top["window_s"],
           "remaining": remaining, "agrees": agrees, "responses": int(len(chat)),
           "families": families, "policies": policies}
    return out | {"headline": headline(out, fit, why)}


def headline(d: dict, fit: QuotaFit, why: str) -> str:
    """The declared policy in words, against what was observed; every figure is d's or fit's."""
    label = LABELS[d["header_family"]]
    seen = _observed(fit)
    observed = seen[2] if seen else None
    if why == "varies":
        listed = ", ".join(f"{_policy(p['limit'], p['window_s'])} ({p['responses']} "
                           f"response{'s' if p['responses'] != 1 else ''})"
                           for p in d["policies"])
        out = (f"The {label} declared {len(d['policies'])} different policies: {listed}; "
               "they do not state one quota" + (f" (observed: {observed})." if observed
                                                else "."))
    else:
        policy = (_policy(d["limit"], d["window_s"]) if d["window_s"] is not None else
                  f"a limit of {_n(d['limit'])} requests and no window")
        if d["agrees"] is True and d["window_s"] is None:
            out = f"The {label} declare {policy}; the limit is as observed ({observed})."
        elif d["agrees"] is True:
            out = f"The {label} declare {policy}, as observed" + (
                f": {observed}." if fit.algorithm == "token_bucket" else ".")
        elif d["agrees"] is False:
            out = (f"The {label} declare {policy}; observed: {observed} — the headers {why} "
                   "the quota.")
        else:
            out = f"The {label} declare {policy}; not checked: {why}."
    others = {f: n for f, n in d["families"].items() if f != d["header_family"]}
    if others:
        out += (" Other responses carried other families, not read here: " + ", ".join(
            f"{LABELS[f]} ({n})" for f, n in others.items()) + ".")
    r = d["remaining"]
    whose = "the shared quota" if fit.scope == "global" else "that key"
    told = (f"429s were sent after a response of {whose} declared more requests left than "
            "could have passed the quota since")
    if r["contradicted"]:
        out += (f" Their remaining count is contradicted: {r['contradicted']} of "
                f"{r['checked']} {told}.")
    elif r["checked"]:
        out += f" Their remaining count held: none of {r['checked']} {told}."
    return out
