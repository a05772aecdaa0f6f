"""Does Retry-After tell the truth? Each 429's stated wait against the observed reopening.

A quota decides when a request arrives, so the timeline is the send times. After a 429 sent
at `s` and answered at `r` that said "wait RA", the quota reopened somewhere in the bracket
(the last refusal before the first admission sent after `s`, that admission], for the same
key, or for anyone when the quota is global; another client on the key may be the one the
quota admitted. The stated wait is early when a request sent after r + RA was still refused,
and over 1 s late when the quota admitted a request that was answered more than 1 s before
s + RA: a loaded client whose send stamps run ahead is not read as a lying server. The
verdict and its words are made from those counts (see RULE), and the figure draws the same
brackets. The probe scenario's timed retries (attempt 2 at f x RA) are counted apart: a
refusal at f >= 1 is direct evidence of optimism.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from .decisions import CHAT, Decisions
from .polite import polite_answer
from .quota import QuotaFit, model_reopenings
from .stream import admissions_first

TOL_S = 0.05  # send/receive timing noise on loopback and scheduling
LATE_S = 1.0  # a wait this much longer than needed costs a client real time
NARROW_S = 0.5  # a bracket this narrow gives an error figure
OPTIMISTIC_SHARE = 0.05
CONSERVATIVE_SHARE = 0.5
BRACKET_COLUMNS = ("key_id", "sent_ts", "status", "ttfb_ms", "latency_ms", "retry_after_s",
                   "phase")
RULE = (f"Each 429's stated wait is checked against the interval in which the quota "
        f"reopened after it: from the last refusal to the first admission (same key, or any "
        f"key for a shared quota). It is early when a request sent after the wait ran out "
        f"(counted from the 429's reply) was still refused, and over {LATE_S:g} s late when a "
        f"request admitted had its reply more than {LATE_S:g} s before it ran out (counted "
        f"from the 429's send); {TOL_S * 1000:g} ms are allowed for timing either way. "
        f"Where the fitted quota counts refused requests, or refusals extend its lockout, a "
        f"429 followed by another request of its stream before its wait ran out is not "
        f"checked: that request may have moved the reopening. "
        f"Optimistic: more than {OPTIMISTIC_SHARE:.0%} of the checked 429s early. "
        f"Conservative: otherwise, more than {CONSERVATIVE_SHARE:.0%} over {LATE_S:g} s late. "
        f"Honest: neither.")


@dataclass
class RetryAfterAudit:
    verdict: str
    rejections: int = 0
    with_header: int = 0
    evaluable: int = 0
    too_early: int = 0
    over_1s_late: int = 0
    most_early_s: float | None = None  # the most a stated wait fell short of the bracket
    most_late_s: float | None = None  # the most it went past the bracket's end
    error_s: dict = field(default_factory=dict)  # stated - observed wait: quantiles
    error_vs_model_s: dict = field(default_factory=dict)  # stated - the fitted model's wait
    probes: dict = field(default_factory=dict)
    # issue 13 (report part): "if I wait what it says, am I let in?" (analysis/polite.py)
    polite: dict = field(default_factory=dict)
    note: str = ""
    headline: str = ""
    rule: str = RULE
    points: pd.DataFrame | None = None  # per 429: sent, stated, bracket, early, late

    def summary(self) -> dict:
        d = asdict(self)
        d.pop("points")
        return d


def _brackets(group: pd.DataFrame, moved_by_refusals: bool = False) -> pd.DataFrame:
    """For each 429 of one quota stream: the wait it needed, bracketed. The quota reopened
    between the last refusal and the first admission after it, and decided each request
    between its send and its reply, so the wait from the 429's decision was at least (last
    refusal's send - the 429's reply) and at most (first admission's reply - the 429's send):
    `wait_min` .. `wait_max`, NaN when nothing was admitted later.

    `moved_by_refusals` (the quota counts refused requests, or refusals extend its lockout):
    a 429 whose next request was sent before its wait ran out gets no bracket, since that
    request may have moved the reopening (a limiter that states the truth would otherwise
    read as early each time a client came back too soon)."""
    g = group.sort_values("sent_ts", kind="stable")
    sent = g["sent_ts"].to_numpy(float)
    # a burst sent together is read admissions first, as the fit reads it (admissions_first):
    # a refusal of the burst answered fast is not the last refusal before its admissions
    order = admissions_first(sent, sent + g["latency_ms"].fillna(0).to_numpy(float) / 1000,
                             (g["status"] != 429).to_numpy())
    if (order != np.arange(len(order))).any():
        g = g.iloc[order].assign(sent_ts=sent)
    ok = ((g["status"] >= 200) & (g["status"] < 300)).to_numpy()
    rej = (g["status"] == 429).to_numpy()
    ok_sent, rej_sent = sent[ok], sent[rej]
    # An admission was decided before its reply began; a send stamp can run ahead of the real
    # send on a loaded client, so the reply is the bound that holds.
    ok_reply = ok_sent + g["ttfb_ms"].fillna(g["latency_ms"]).fillna(0).to_numpy(float)[ok] / 1000
    rows = g[rej]
    s = rows["sent_ts"].to_numpy(float)
    # The quota decided the 429 somewhere between its send and its reply.
    recv = s + rows["latency_ms"].fillna(0).to_numpy(float) / 1000
    nxt = np.searchsorted(ok_sent, s, "right")
    has = nxt < len(ok_sent)
    first = np.minimum(nxt, max(len(ok_sent) - 1, 0))
    opens_by = np.where(has, ok_sent[first], np.nan) if len(ok_sent) else np.full(len(s), np.nan)
    reply_by = np.where(has, ok_reply[first], np.nan) if len(ok_sent) else opens_by
    last = np.searchsorted(rej_sent, np.nan_to_num(opens_by, nan=np.inf), "left") - 1
    last_sent = rej_sent[np.clip(last, 0, len(rej_sent) - 1)]
    opens_after = np.where(has, np.maximum(last_sent, s), np.nan)
    if moved_by_refusals:
        stated = rows["retry_after_s"].to_numpy(float)
        nxt_any = np.searchsorted(sent, s, "right")  # the stream's next request, any status
        came_back = np.where(nxt_any < len(sent),
                             sent[np.minimum(nxt_any, len(sent) - 1)], np.inf)
        reply_by = np.where(came_back < recv + stated - TOL_S, np.nan, reply_by)
    return pd.DataFrame({
        "key_id": rows["key_id"].astype(str).array, "sent": s,
        "stated": rows["retry_after_s"].to_numpy(float),
        "wait_min": np.maximum(opens_after - recv, 0), "wait_max": reply_by - s,
        # the estimate, if every request took as long from send to decision: for error figures
        "est_min": np.maximum(opens_after - s, 0), "est_max": opens_by - s,
        "phase": rows["phase"].astype(str).array})


def _judged(pts: pd.DataFrame) -> pd.DataFrame:
    """The brackets a verdict can use: a stated wait, and an admission after it."""
    return pts[pts["stated"].notna() & pts["wait_max"].notna()]


def _quantiles(err: np.ndarray) -> dict:
    return {q_: round(float(np.quantile(err, v)), 4) for q_, v in
            (("min", 0), ("p5", .05), ("p50", .5), ("p95", .95), ("max", 1))} | {
        "count": int(len(err))}


def against_model(decisions: Decisions, fit: QuotaFit) -> dict:
    """Stated wait minus the fitted model's wait, over the 429s that state one. The model
    reads only the first 429s of each stream, so each is paired with the same 429 by its
    place in its own stream, never by its place in the whole run."""
    predicted = model_reopenings(fit, decisions)
    if predicted.empty:
        return {}
    q = decisions.rows
    rej = q[q["status"] == 429]
    stream = (pd.Series("*", index=rej.index) if fit.scope == "global"
              else rej["key_id"].astype(str))
    rej = rej.assign(stream=stream.to_numpy(), n=rej.groupby(stream.to_numpy()).cumcount())
    predicted = predicted.assign(stream=predicted["key_id"].astype(str))
    predicted["n"] = predicted.groupby("stream").cumcount()
    pairs = rej.merge(predicted[["stream", "n", "decided", "reopens"]], on=["stream", "n"],
                      suffixes=("", "_model"))
    err = (pairs["retry_after_s"] - (pairs["reopens"] - pairs["decided"])).to_numpy(float)
    err = err[np.isfinite(err)]
    if len(err) == 0:
        return {}
    return _quantiles(err) | {"early": int((err < -TOL_S).sum()),
                              "over_1s_late": int((err > LATE_S + TOL_S).sum())}


def _share(n: int, of: int) -> str:
    pct = 100 * n / of if of else 0.0
    # 1 of 8664 is 0.012%, not 0.0%
    return f"{n} of {of} ({pct:.1f}%)" if pct >= 1 or n == 0 else f"{n} of {of} ({pct:.2g}%)"


def describe_audit(a: RetryAfterAudit) -> tuple[str, str]:
    """(headline, note): the words, made from the audit's counts and nothing else."""
    if a.verdict in ("absent", "insufficient_data") or not a.evaluable:
        if a.verdict == "absent":
            return "429s carry no Retry-After", a.note
        return f"Retry-After not judged: {a.note}", a.note
    early = (f"{_share(a.too_early, a.evaluable)} early, by up to {a.most_early_s:.3g} s"
             if a.too_early else f"none of {a.evaluable} early")
    late = (f"{_share(a.over_1s_late, a.evaluable)} over {LATE_S:g} s late, by up to "
            f"{a.most_late_s:.3g} s" if a.over_1s_late else f"none over {LATE_S:g} s late")
    headline = f"Retry-After {a.verdict}: {early}; {late}"
    note = {"optimistic": f"{_share(a.too_early, a.evaluable)} 429s said to wait less than "
                          "the quota needed: a client retrying on time is refused again.",
            "conservative": f"{_share(a.over_1s_late, a.evaluable)} 429s asked for over "
                            f"{LATE_S:g} s more than the quota needed: a client waiting as "
                            "told loses that time.",
            "honest": f"{a.evaluable - a.too_early} of {a.evaluable} stated waits were long "
                      "enough" + (f"; the {a.too_early} early ones are within the "
                                  f"{OPTIMISTIC_SHARE:.0%} the rule allows"
                                  if a.too_early else "") + "."}[a.verdict]
    return headline, note


def judge(pts: pd.DataFrame) -> dict:
    """The counts the verdict rests on, and the verdict by RULE."""
    short = pts["wait_min"] - pts["stated"]  # > 0: a refusal came after the wait ran out
    over = pts["stated"] - pts["wait_max"]  # > 0: an admission came before it ran out
    early, late = short > TOL_S, over > LATE_S + TOL_S
    n = len(pts)
    out = {"evaluable": n, "too_early": int(early.sum()), "over_1s_late": int(late.sum()),
           "most_early_s": round(float(short[early].max()), 4) if early.any() else None,
           "most_late_s": round(float(over[late].max()), 4) if late.any() else None}
    out["verdict"] = ("optimistic" if out["too_early"] > OPTIMISTIC_SHARE * n else
                      "conservative" if out["over_1s_late"] > CONSERVATIVE_SHARE * n else
                      "honest")
    return out


def audit_retry_after(decisions: Decisions, scope: str = "per_key",
                      fit: QuotaFit | None = None) -> RetryAfterAudit:
    """The audit of the run's decisions (analysis.decisions.decide(events))."""
    if not isinstance(decisions, Decisions):
        raise TypeError("audit_retry_after takes the run's decisions: "
                        "audit_retry_after(analysis.decisions.decide(events), ...)")
    audit = _audit(decisions, scope, fit)
    audit.headline, audit.note = describe_audit(audit)
    audit.polite = polite_answer(decisions.events, audit.probes)  # issue 13, report part
    return audit


def _audit(decisions: Decisions, scope: str, fit: QuotaFit | None) -> RetryAfterAudit:
    events = decisions.events
    # only the columns the brackets read: copying every column of a million rows (and again
    # per key) was most of the audit's cost
    chat = events.loc[(events["endpoint"] == CHAT) & events["status"].isin(
        [200, 201, 202, 204, 429]), [c for c in BRACKET_COLUMNS if c in events]]
    rejections = int((chat["status"] == 429).sum())
    if rejections == 0:
        return RetryAfterAudit("insufficient_data", note="no 429 in the run")
    with_header = int(((chat["status"] == 429) & chat["retry_after_s"].notna()).sum())
    if with_header == 0:
        return RetryAfterAudit("absent", rejections=rejections,
                               note="no 429 carried a Retry-After (or retry-after-ms) header")
    # one key's rows at a time: a list of every key's copies doubled the audit's memory
    groups = [chat] if scope == "global" else (g for _, g in chat.groupby(
        "key_id", observed=True))
    moved = fit is not None and bool(fit.counts_rejected or fit.lockout_extends)
    pts = pd.concat([_judged(_brackets(g, moved)) for g in groups], ignore_index=True)
    del groups, chat  # the rows are in the brackets now
    audit = RetryAfterAudit("insufficient_data", rejections=rejections,
                            with_header=with_header, probes=_probes(events))
    if pts.empty:
        audit.note = "no 429 with Retry-After was followed by an admission for the same key"
        return audit
    counts = judge(pts)
    for k, v in counts.items():
        setattr(audit, k, v)
    # in place: a copy of every 429's bracket costs hundreds of MB on a long run
    pts["early"] = pts["wait_min"] - pts["stated"] > TOL_S
    pts["late"] = pts["stated"] - pts["wait_max"] > LATE_S + TOL_S
    audit.points = pts
    if fit is not None and fit.agreement and fit.agreement >= 0.95:
        audit.error_vs_model_s = against_model(decisions, fit)
    narrow = (pts["est_max"] - pts["est_min"]) <= NARROW_S
    if narrow.any():
        observed = (pts["est_min"] + pts["est_max"]) / 2
        audit.error_s = _quantiles((pts["stated"] - observed)[narrow].to_numpy())
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
