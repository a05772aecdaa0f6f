"""The probe's own verdict held against the fit over its requests (issue 13).

The adaptive probe concludes in its run, from the steps it chose (probe.json's `verdict`); the
fit replays every request it sent. Where both name a family, or a modifier the probe answered
(a lockout, refusals counted), and they differ, one of them is wrong, and which is not known
here: the quota is then not given as identified, and both readings are named. Pure.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .quota import QuotaFit, describe
from .quota import families
from .quota.families import published

# The probe's verdict begins with its family (locustfiles/common/probe_reasoning.verdict).
_FAMILIES = ("fixed_window/first_request", "fixed_window/epoch", "fixed_window",
             "sliding_log", "sliding_counter", "token_bucket", "concurrency", "shaping")


# The fields of one family's model, blank: a model taken in place of another keeps none of
# the other's (a concurrency cap chosen over a fixed window has no window nor alignment).
_BLANK = {"limit": None, "window_s": None, "rate_per_s": None, "burst": None,
          "alignment": None, "counts_rejected": False, "phase_s": None, "lockout_s": None,
          "lockout_extends": None, "queueing": None}
_SCOPE = {"per key": "per_key", "one quota for all keys": "global"}


def probe_reading(verdict: str) -> dict | None:
    """What a settled probe's verdict says: family, alignment, lockout, counts_rejected and
    scope (None where it does not say); None when it names no family."""
    if verdict.startswith("no limit seen"):
        return {"family": "none_observed", "alignment": None, "lockout": None,
                "counts_rejected": None, "scope": None}
    head = verdict.split(":", 1)[0]
    if head not in _FAMILIES:
        return None
    family, _, alignment = head.partition("/")
    lockout = True if "a lockout" in verdict else False if "no lockout" in verdict else None
    counts = True if "refused requests are counted" in verdict else \
        False if "refusals not counted" in verdict else None
    scope = re.search(r"; (per key|one quota for all keys)(;|$)", verdict)
    return {"family": family, "alignment": alignment or None, "lockout": lockout,
            "counts_rejected": counts, "scope": _SCOPE[scope.group(1)] if scope else None}


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
    """`fit` as it is when the probe agrees (or has no verdict), with the probe's scope when
    the decisions explain both scopes alike and the probe's scope_uneven step said which.
    Else the model the probe's experiments chose, when the decisions explain it as well as
    the fitted one (within one decision): the run cannot tell them apart, and the probe's
    steps were made to. Else 'unknown', naming both."""
    what = disagreement(fit, probe)
    if what is None:
        return _scope_told(fit, probe)
    said = probe_reading(probe["verdict"])
    chosen = _as_good_and_as_said(fit, said, said["scope"] or fit.scope)
    if chosen is not None:
        return _adopt(fit, chosen, (
            "the decisions explain {chosen} as well as {fitted} (within one decision): the "
            "probe's experiments, made to tell them apart, chose the first"))
    note = (f"the probe's experiments concluded \"{probe['verdict']}\", the fit over its "
            f"{fit.decisions} decisions gave \"{describe(fit)}\"; they differ on {what}, so "
            "neither is given as the quota (the probe's steps are below)")
    return replace(fit, algorithm="unknown", note=note)


_META = ("agreement", "weighted", "scope", "screened_only")


def _scope_told(fit: QuotaFit, probe: dict | None) -> QuotaFit:
    """A fit whose scope tied (the keys were used alike), given the scope the settled probe
    found, when its model in that scope explains the decisions as well."""
    said = probe_reading(probe.get("verdict") or "") if probe and probe.get("settled") else None
    if fit.scope != "unknown" or fit.algorithm == "unknown" or not said or not said["scope"]:
        return fit
    chosen = _as_good_and_as_said(fit, _fit_reading(fit) | {"scope": said["scope"]},
                                  said["scope"])
    if chosen is None:
        return fit
    out = _adopt(fit, chosen, (
        "the decisions explain {chosen} as well as a model in the other scope (the keys "
        "were used alike there): the probe's scope_uneven step, which loads one key only, "
        "chose " + ("per key" if said["scope"] == "per_key" else "one quota for all keys")))
    if describe(replace(out, scope=fit.scope)) == describe(fit):  # the fit's own model
        out.indistinguishable = [e for e in fit.indistinguishable
                                 if e["experiment"] != "scope_uneven"]
        out.note = "; ".join([part for part in fit.note.split("; ") if part and not
                              part.startswith("the keys were used alike")] + [out.note])
    return out


def _as_good_and_as_said(fit: QuotaFit, said: dict, scope: str) -> dict | None:
    """The best candidate the probe's reading allows, in `scope` (any when 'unknown'), that
    the decisions explain within one decision of the best; None when there is none."""
    ranked = [c for c in fit.candidates if not c.get("screened_only")]
    if not ranked or not fit.decisions:
        return None
    best = max(c["weighted"] for c in ranked)
    one = 1.0 / fit.decisions
    for c in sorted(ranked, key=lambda c: -c["weighted"]):  # stable: the fit's order in ties
        if c["weighted"] < best - one - 1e-9:
            return None
        if scope != "unknown" and c.get("scope", scope) != scope:
            continue
        if _differs(said, _candidate_reading(c)) is None:
            return c
    return None


def _adopt(fit: QuotaFit, c: dict, why: str) -> QuotaFit:
    """`fit` with candidate `c`'s model in place of its own (none of the old model's fields
    left), and `why` (naming {chosen} and {fitted}) as its note: what the fit could not tell
    apart was about the model it no longer gives."""
    params = {k: v for k, v in c.items() if k not in _META and k != "algorithm"}
    out = replace(fit, algorithm=published(c["algorithm"]), agreement=c["agreement"],
                  scope=c.get("scope", fit.scope) if fit.keys >= 2 else fit.scope,
                  indistinguishable=[], **_BLANK)
    for name, value in families.fields(c["algorithm"], params).items():
        setattr(out, name, value)
    out.note = why.format(chosen=describe(out), fitted=describe(fit))
    return out
