"""A run's report page from its summary (the summary.json contract) and its figures."""

from __future__ import annotations

import math

from . import inline_images, render
from ..load_levels import MIN_ATTEMPTS, MIN_SPAN_S
from ..retry_after import NARROW_S

SECTIONS = ["status", "quota", "retry-after", "throughput", "latency", "keys"]


def _apart(entries) -> str | None:
    """quota.indistinguishable (the fit's list of {models, experiment}: the fitted model, then
    a rival that explains the run as well) in words; entries not of that shape are left out."""
    ok = [e for e in entries if isinstance(e, dict) and isinstance(e.get("models"), list)
          and len(e["models"]) >= 2 and all(isinstance(m, str) for m in e["models"])]
    if not ok:
        return None
    rivals = "; ".join(
        ", ".join(e["models"][1:]) + (f" ({e['experiment']} would tell them apart)"
                                      if isinstance(e.get("experiment"), str)
                                      and e["experiment"] else "") for e in ok)
    return f"{ok[0]['models'][0]} is not the only reading: as well explained by {rivals}"


def sureness(summary: dict) -> list[str]:
    """How sure the verdict is, from the summary alone: the fit's agreement, the models it
    cannot tell apart, whether the probe settled, what the run did not ask (issue 13)."""
    q, probe = summary["quota"], summary.get("probe")
    out = []
    if q.get("agreement") is not None and q.get("algorithm") == "unknown":
        # no model is the verdict: the best one tried is not a fitted model
        out.append(f"no model was settled on: the best one tried reproduces "
                   f"{100 * q['agreement']:.2f}% of {q.get('decisions', 0)} accept/refuse "
                   "decisions")
    elif q.get("agreement") is not None:
        out.append(f"the fitted model reproduces {100 * q['agreement']:.2f}% of "
                   f"{q.get('decisions', 0)} accept/refuse decisions")
    apart = q.get("indistinguishable")
    apart = _apart(apart if isinstance(apart, list) else [])
    out += [apart] if apart else []
    if probe:
        budget = (f" of its {probe['budget_s']:g} s budget" if probe.get("budget_s")
                  is not None else "")
        after = probe.get("settled_after_s")
        out.append(f"the probe settled after {after:.1f} s{budget}" if probe["settled"] and
                   after is not None else "the probe settled" if probe["settled"] else
                   f"the probe did not settle{budget.replace(' of', ' within')}" + (
                       f"; still open: {', '.join(probe['open'])}" if probe.get("open")
                       else ""))
    if summary.get("unanswered"):
        n = len(summary["unanswered"])
        out.append(f"{n} question{'s' if n > 1 else ''} this run's traffic could not answer "
                   "(below)")
    return out


def render_report(summary: dict, figures: dict[str, bytes], missing: list[str] = ()) -> str:
    """The page; `missing` names figures the page should have whose PNG is gone (`render`
    from a folder that lost one): the page says so where the figure would be."""
    q = summary["quota"]
    best = sorted(q.get("candidates") or [], key=lambda c: -(c.get("weighted") or 0))[:15]
    candidates = [{"algorithm": c["algorithm"], "scope": c.get("scope", ""),
                   "agreement": c["agreement"], "weighted": c.get("weighted", 0),
                   "params": ", ".join(f"{k}={v}" for k, v in c.items() if k not in
                                       ("algorithm", "scope", "agreement", "weighted"))}
                  for c in best]
    lat = summary.get("latency") or {}
    rows = [("ok, from intended send", lat.get("ok_from_intended_ms", {})),
            ("ok, from send", lat.get("ok_from_sent_ms", {}))]
    rows += [(f"{o.replace('_', ' ')}", d) for o, d in (lat.get("by_outcome") or {}).items()
             if o != "ok"]
    # null (no success at all) shows as nan rather than breaking the number formats
    policies = [{k: (math.nan if v is None else v) for k, v in o.items()}
                for o in sorted(summary["backoff"].get("policies") or [],
                                key=lambda o: -(o.get("goodput_per_s") or 0))]
    return render(
        "report.html", s=summary, img=inline_images(figures), missing=list(missing),
        candidates=candidates, latency_rows=rows, policies=policies[:12], b=summary["backoff"],
        min_level={"attempts": MIN_ATTEMPTS, "span_s": MIN_SPAN_S}, narrow_s=NARROW_S,
        sections=SECTIONS, sureness=sureness(summary))
