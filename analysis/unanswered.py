"""The questions a tight loop's or a spike's traffic could not answer, which `make probe`
asks (issue 13, item 6; the report part). Each is named only when this run's own events
show it was not asked: the keys it used, the pauses it made after a refusal, the polite
retries it sent. Pure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contract.events import CHAT

ASKED_OF = ("tight_loop", "spike", "spike_open")
FOUND = ("fixed_window", "sliding_log", "sliding_counter", "token_bucket")


def _period(quota: dict, chat: pd.DataFrame) -> tuple[float | None, str]:
    """How long a key must rest for its quota to come back: the fitted lockout when it is
    longer than the rest, the fitted window or the time to refill the bucket, else the
    longest wait a 429 stated."""
    lockout = quota.get("lockout_s") or 0.0
    if lockout and lockout >= (quota.get("window_s") or 0.0):
        return float(lockout), "the fitted lockout"
    if quota.get("window_s"):
        return float(quota["window_s"]), "the fitted window"
    if quota.get("algorithm") == "token_bucket" and quota.get("rate_per_s") and quota.get(
            "burst"):
        return quota["burst"] / quota["rate_per_s"], "the time to refill the fitted bucket"
    stated = chat.loc[chat["status"] == 429, "retry_after_s"].to_numpy(float)
    stated = stated[np.isfinite(stated)]
    return (float(stated.max()), "the longest stated Retry-After") if len(stated) else (
        None, "")


def _pauses(chat: pd.DataFrame) -> tuple[float, float]:
    """(longest pause of any key once it had been refused, longest pause right after a 429):
    the rest a key had before its next request, in seconds."""
    rest, after_429 = 0.0, 0.0
    for _, g in chat.groupby("key_id", observed=True):
        sent = np.sort(g["sent_ts"].to_numpy(float))
        order = np.argsort(g["sent_ts"].to_numpy(float), kind="stable")
        refused = (g["status"].to_numpy() == 429)[order]
        if not refused.any() or len(sent) < 2:
            continue
        gaps = np.diff(sent)
        since = np.argmax(refused)  # the key's first refusal
        rest = max(rest, float(gaps[since:].max(initial=0.0)))
        after_429 = max(after_429, float(gaps[refused[:-1]].max(initial=0.0)))
    return rest, after_429


def unanswered(events: pd.DataFrame, scenario: str | None, quota: dict,
               polite: dict | None) -> list[dict] | None:
    """[{question, why}] for a tight loop or a spike (an empty list: none left open); None
    for the other scenarios, which are not asked about."""
    if scenario not in ASKED_OF:
        return None
    chat = events[(events["endpoint"] == CHAT).to_numpy(bool)] if len(events) else events
    out = []
    keys = int(chat["key_id"].nunique()) if len(chat) else 0
    if keys == 1:
        out.append({"question": "whether the quota is per key or shared by every key (scope)",
                    "why": "the run used one key"})
    elif keys > 1 and quota.get("scope") == "unknown" and quota.get("algorithm") in FOUND:
        out.append({"question": "whether the quota is per key or shared by every key (scope)",
                    "why": f"the load on its {keys} keys did not tell them apart"})
    if not len(chat) or not (chat["status"] == 429).any():
        return out  # nothing refused: the questions below are about refusals
    period, basis = _period(quota, chat)
    rest, after_429 = _pauses(chat)
    enough = (f"less than {basis} ({period:.3g} s)" if period else
              "and the run has no window or stated wait to hold that against")
    if period is None or rest < period:
        out.append({"question": "how much a key gets back after an idle period (its burst "
                                "after idle)",
                    "why": f"once refused, no key rested longer than {rest:.3g} s before "
                           f"its next request, {enough}"})
    if not (polite or {}).get("source"):
        out.append({"question": "whether a client that waits what Retry-After says is let in",
                    "why": "no request was retried after waiting as told"})
    if period is None or after_429 < period:
        out.append({"question": "whether a refused key is locked out for a while, or its "
                                "window is longer",
                    "why": f"no key paused longer than {after_429:.3g} s after a 429, "
                           f"{enough}, so a lockout cannot be told from a longer window"})
    return out
