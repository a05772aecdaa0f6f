"""The probe's own verdict held against the fit over its requests (issue 13).

The adaptive probe concludes in its run, from the steps it chose (probe.json's `verdict`); the
fit replays every request it sent. Where both name a family, or a modifier the probe answered
(a lockout, refusals counted), and they differ, one of them is wrong, and which is not known
here: the quota is then not given as identified, and both readings are named. Pure.
"""

from __future__ import annotations

from dataclasses import replace

from .quota import QuotaFit, describe

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


def disagreement(fit: QuotaFit, probe: dict | None) -> str | None:
    """What the settled probe and the fit disagree on, in words; None when they agree, or
    when either has nothing to say."""
    if not probe or not probe.get("settled") or fit.algorithm == "unknown":
        return None
    said = probe_reading(probe.get("verdict") or "")
    if said is None:
        return None
    got = _fit_reading(fit)
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


def reconcile(fit: QuotaFit, probe: dict | None) -> QuotaFit:
    """`fit` as it is when the probe agrees (or has no verdict); else 'unknown', naming both."""
    what = disagreement(fit, probe)
    if what is None:
        return fit
    note = (f"the probe's experiments concluded \"{probe['verdict']}\", the fit over its "
            f"{fit.decisions} decisions gave \"{describe(fit)}\"; they differ on {what}, so "
            "neither is given as the quota (the probe's steps are below)")
    return replace(fit, algorithm="unknown", note=note)
