"""Does Retry-After tell the truth? Each 429's stated wait against the observed reopening.

For a 429 received at `recv` that said "wait RA", the quota reopened somewhere between the
last rejection before the next accept and that accept (for the same key, or for anyone when
the quota is global). So a stated wait is certainly too short when a request sent after
recv + RA was still refused, and certainly more than a second too long when an accept came
more than RA - 1 s after recv. The error distribution uses the brackets narrow enough to read
(tight loops give millisecond brackets). The probe scenario's timed retries (attempt 2 at
f x RA) are counted apart: a refusal at f >= 1 is direct evidence of optimism.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from .quota import CHAT, QuotaFit, model_reopenings, quota_events

TOL_S = 0.05  # send/receive timing noise on loopback and scheduling
NARROW_S = 0.5  # a bracket this narrow gives an error figure
OPTIMISTIC_SHARE = 0.05
CONSERVATIVE_SHARE = 0.5


@dataclass
class RetryAfterAudit:
    verdict: str
    rejections: int = 0
    with_header: int = 0
    evaluable: int = 0
    too_early: int = 0
    over_1s_late: int = 0
    error_s: dict = field(default_factory=dict)  # stated - observed wait: quantiles
    error_vs_model_s: dict = field(default_factory=dict)  # stated - the fitted model's wait
    probes: dict = field(default_factory=dict)
    note: str = ""
    points: pd.DataFrame | None = None  # per 429: recv, stated, observed bounds (for plots)

    def summary(self) -> dict:
        d = asdict(self)
        d.pop("points")
        return d


def _brackets(group: pd.DataFrame) -> pd.DataFrame:
    """For each 429: the observed reopening bracket after the client received it.

    The client can only act on a 429 once it has it, so the bracket is (the last refusal
    sent after the 429 arrived, or its arrival; the first accept sent after it arrived].
    """
    g = group.sort_values("sent_ts", kind="stable")
    sent = g["sent_ts"].to_numpy(float)
    ok = ((g["status"] >= 200) & (g["status"] < 300)).to_numpy()
    rej = (g["status"] == 429).to_numpy()
    ok_sent, rej_sent = sent[ok], sent[rej]
    rows = g[rej]
    recv = rows["sent_ts"].to_numpy(float) + rows["latency_ms"].fillna(0).to_numpy(float) / 1000
    nxt = np.searchsorted(ok_sent, recv, "right")
    has = nxt < len(ok_sent)
    opens_by = np.where(has, ok_sent[np.minimum(nxt, max(len(ok_sent) - 1, 0))], np.nan) \
        if len(ok_sent) else np.full(len(recv), np.nan)
    last = np.searchsorted(rej_sent, np.nan_to_num(opens_by, nan=np.inf), "left") - 1
    last_sent = rej_sent[np.clip(last, 0, len(rej_sent) - 1)]
    opens_after = np.where(has, np.maximum(last_sent, recv), np.nan)
    return pd.DataFrame({
        "key_id": rows["key_id"].astype(str).to_numpy(), "sent": rows["sent_ts"].to_numpy(float),
        "recv": recv, "stated": rows["retry_after_s"].to_numpy(float),
        "opens_after": opens_after, "opens_by": opens_by,
        "phase": rows["phase"].astype(str).to_numpy()})


def against_model(events: pd.DataFrame, fit: QuotaFit) -> dict:
    """Stated wait minus the fitted model's wait, over the 429s that state one."""
    predicted = model_reopenings(fit, events)
    if predicted.empty:
        return {}
    q = quota_events(events)
    rej = q[q["status"] == 429]
    if fit.scope != "global":
        rej = rej.sort_values(["key_id", "decided"], kind="stable")
        predicted = predicted.sort_values(["key_id", "decided"], kind="stable")
    stated = rej["retry_after_s"].to_numpy(float)[: len(predicted)]
    decided = rej["decided"].to_numpy(float)[: len(predicted)]
    err = stated - (predicted["reopens"].to_numpy(float) - decided)
    err = err[np.isfinite(err)]
    if len(err) == 0:
        return {}
    return {q_: round(float(np.quantile(err, v)), 4) for q_, v in
            (("min", 0), ("p5", .05), ("p50", .5), ("p95", .95), ("max", 1))} | {
        "count": int(len(err)),
        "early": int((err < -TOL_S).sum()), "over_1s_late": int((err > 1 + TOL_S).sum())}


def audit_retry_after(events: pd.DataFrame, scope: str = "per_key",
                      fit: QuotaFit | None = None) -> RetryAfterAudit:
    chat = events[(events["endpoint"] == CHAT) & events["status"].isin(
        [200, 201, 202, 204, 429])]
    rejections = int((chat["status"] == 429).sum())
    if rejections == 0:
        return RetryAfterAudit("insufficient_data", note="no 429 in the run")
    with_header = int(((chat["status"] == 429) & chat["retry_after_s"].notna()).sum())
    if with_header == 0:
        return RetryAfterAudit("absent", rejections=rejections,
                               note="no 429 carried a Retry-After (or retry-after-ms) header")
    groups = [chat] if scope == "global" else [g for _, g in chat.groupby(
        "key_id", observed=True)]
    pts = pd.concat([_brackets(g) for g in groups], ignore_index=True)
    pts = pts[pts["stated"].notna() & pts["opens_by"].notna()]
    audit = RetryAfterAudit("insufficient_data", rejections=rejections,
                            with_header=with_header, points=pts, probes=_probes(events))
    if pts.empty:
        audit.note = "no 429 with Retry-After was followed by an accept for the same key"
        return audit
    # The stated wait runs from when the client got the 429.
    retry_at = pts["recv"] + pts["stated"]
    early = retry_at < pts["opens_after"] - TOL_S  # a later request was still refused
    late = pts["sent"] + pts["stated"] > pts["opens_by"] + 1 + TOL_S
    audit.evaluable = len(pts)
    if fit is not None and fit.agreement and fit.agreement >= 0.95:
        audit.error_vs_model_s = against_model(events, fit)
    audit.too_early = int(early.sum())
    audit.over_1s_late = int(late.sum())
    narrow = (pts["opens_by"] - pts["opens_after"]) <= NARROW_S
    if narrow.any():
        observed = (pts["opens_after"] + pts["opens_by"]) / 2 - pts["recv"]
        err = (pts["stated"] - observed)[narrow].to_numpy()
        audit.error_s = {q: round(float(np.quantile(err, v)), 4) for q, v in
                         (("min", 0), ("p5", .05), ("p50", .5), ("p95", .95), ("max", 1))}
        audit.error_s["count"] = int(narrow.sum())
    if audit.too_early > OPTIMISTIC_SHARE * audit.evaluable:
        audit.verdict = "optimistic"
        audit.note = (f"{audit.too_early} of {audit.evaluable} 429s said to wait less than "
                      "the quota needed: a client retrying on time is refused again")
    elif audit.over_1s_late > CONSERVATIVE_SHARE * audit.evaluable:
        audit.verdict = "conservative"
        audit.note = (f"{audit.over_1s_late} of {audit.evaluable} 429s said to wait over 1 s "
                      "longer than the quota needed")
    else:
        audit.verdict = "honest"
        audit.note = (f"{audit.evaluable - audit.too_early} of {audit.evaluable} stated waits "
                      "were long enough")
    return audit


def _probes(events: pd.DataFrame) -> dict:
    """The probe's timed retries: attempt 2 sent f x RA after its 429."""
    probes = events[(events["phase"] == "retry_after_probe") & (events["attempt"] == 2)]
    if probes.empty:
        return {}
    first = events[(events["phase"] == "retry_after_wait") & (events["status"] == 429)]
    pairs = probes.merge(first, on="logical_id", suffixes=("", "_429"))
    if pairs.empty:
        return {}
    recv = pairs["sent_ts_429"] + pairs["latency_ms_429"].fillna(0) / 1000
    f = (pairs["sent_ts"] - recv) / pairs["retry_after_s_429"]
    ok = (pairs["status"] >= 200) & (pairs["status"] < 300)
    return {"sent": int(len(pairs)),
            "refused_at_or_after_stated": int(((f >= 1) & ~ok).sum()),
            "accepted_before_stated": int(((f < 1) & ok).sum()),
            "at_or_after_stated": int((f >= 1).sum())}
