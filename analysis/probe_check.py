"""The probe's own verdict held against the fit over its requests (issue 13).

The adaptive probe concludes in its run, from the steps it chose (probe.json's `verdict`); the
fit replays every request it sent. Where both name a family, or a modifier the probe answered
(a lockout, refusals counted), and they differ, one of them is wrong, and which is not known
here: the quota is then not given as identified, and both readings are named. Pure.
"""

from __future__ import annotations

from dataclasses import replace

from .quota import QuotaFit, describe
from .quota import families
from .quota.families import published

# The probe's verdict begins with its family (locustfiles/common/probe_reasoning.verdict).
_FAMILIES = ("fixed_window/first_request", "fixed_window/epoch", "fixed_window",
             "sliding_log", "sliding_counter", "token_bucket", "concurrency", "shaping")


def probe_reading(verdict: str) -> dict | None:
    """What a settled probe's verdict says: family, alignment, lockout, counts_rejected
    (None where it does not say); None when it names no family."""
    if verdict.startswith("no limit seen"):
        return {"family": "none_observed", "alignment": None, "lockout": None,
                "counts_rejected": None}
    head = verdict.split(":", 1)[0]
    if head not in _FAMILIES:
        return None
    family, _, alignment = head.partition("/")
    lockout = True if "a lockout" in verdict else False if "no lockout" in verdict else None
    counts = True if "refused requests are counted" in verdict else \
        False if "refusals not counted" in verdict else None
    return {"family": family, "alignment": alignment or None, "lockout": lockout,
            "counts_rejected": counts}


def _fit_reading(fit: QuotaFit) -> dict:
    family = "shaping" if fit.queueing else fit.algorithm
    return {"family": family, "alignment": fit.alignment, "lockout": fit.lockout_s is not None,
            "counts_rejected": bool(fit.counts_rejected)}


def _candidate_reading(c: dict) -> dict:
    return {"family": c["algorithm"], "alignment": c.get("alignment"),
            "lockout": c.get("lockout_s") is not None,
            "counts_rejected": bool(c.get("counts_rejected"))}


def _differs(said: dict, got: dict) -> str | None:
    if said["family"] != got["family"]:
        return "the family"
    if said["alignment"] and got["alignment"] and said["alignment"] != got["alignment"]:
        return "the windows' alignment"
    if said["family"] in ("concurrency", "shaping", "none_observed"):
        return None
    for name, what in (("lockout", "whether a refused key is locked out"),
                       ("counts_rejected", "whether refused requests count")):
        if said[name] is not None and said[name] != got[name]:
            return what
    return None


def disagreement(fit: QuotaFit, probe: dict | None) -> str | None:
    """What the settled probe and the fit disagree on, in words; None when they agree, or
    when either has nothing to say."""
    if not probe or not probe.get("settled") or fit.algorithm == "unknown":
        return None
    said = probe_reading(probe.get("verdict") or "")
    if said is None:
        return None
    return _differs(said, _fit_reading(fit))


def reconcile(fit: QuotaFit, probe: dict | None) -> QuotaFit:
    """`fit` as it is when the probe agrees (or has no verdict). Else the model the probe's
    experiments chose, when the decisions explain it as well as the fitted one (within one
    decision): the run cannot tell them apart, and the probe's steps were made to. Else
    'unknown', naming both."""
    what = disagreement(fit, probe)
    if what is None:
        return fit
    chosen = _as_good_and_as_said(fit, probe_reading(probe["verdict"]))
    if chosen is not None:
        return chosen
    note = (f"the probe's experiments concluded \"{probe['verdict']}\", the fit over its "
            f"{fit.decisions} decisions gave \"{describe(fit)}\"; they differ on {what}, so "
            "neither is given as the quota (the probe's steps are below)")
    return replace(fit, algorithm="unknown", note=note)


_META = ("agreement", "weighted", "scope", "screened_only")


def _as_good_and_as_said(fit: QuotaFit, said: dict) -> QuotaFit | None:
    ranked = [c for c in fit.candidates if not c.get("screened_only")]
    if not ranked or not fit.decisions:
        return None
    best = max(c["weighted"] for c in ranked)
    one = 1.0 / fit.decisions
    for c in sorted(ranked, key=lambda c: -c["weighted"]):  # stable: the fit's order in ties
        if c["weighted"] < best - one - 1e-9:
            return None
        if c.get("scope", fit.scope) not in (fit.scope, "unknown") and fit.scope != "unknown":
            continue
        if _differs(said, _candidate_reading(c)) is None:
            params = {k: v for k, v in c.items() if k not in _META and k != "algorithm"}
            out = replace(fit, algorithm=published(c["algorithm"]), agreement=c["agreement"],
                          queueing=None)
            for name, value in families.fields(c["algorithm"], params).items():
                setattr(out, name, value)
            out.note = "; ".join(x for x in (fit.note, (
                f"the decisions explain {describe(out)} as well as {describe(fit)} (within "
                "one decision): the probe's experiments, made to tell them apart, chose the "
                "first")) if x)
            return out
    return None
