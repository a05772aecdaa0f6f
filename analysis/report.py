"""Build a run's summary (the summary.json contract), figures and self-contained HTML page."""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Callable

import jinja2
import numpy as np

from . import load_levels, run_health
from .decisions import Decisions, decide
from .plots import render_backoff, render_figures
from .quota import QuotaFit, describe, fit_quota
from .retry_after import NARROW_S, RetryAfterAudit, audit_retry_after, describe_audit
from .rundir import Run
from .schema import SCHEMA_VERSION
from .streaming import streaming_latency

SUMMARY_VERSION = 1
_TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("analysis", "templates"),
                                autoescape=jinja2.select_autoescape(["html"]))


def _clean(value):
    """JSON-safe: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def verdict(fit: QuotaFit, audit: RetryAfterAudit, unavailable: dict) -> str:
    words = describe(fit)  # as in summary["quota"]["description"]
    words = words[0].upper() + words[1:]
    ra = audit.headline or describe_audit(audit)[0]  # from the audit's counts, as the page's
    out = f"{words}; {ra}."
    if unavailable.get("count"):
        p50 = unavailable["latency_ms"].get("p50")
        out += (f" {unavailable['count']} requests found no free node (503)"
                + (f", answered in {p50:g} ms (median)." if p50 is not None else "."))
    return out


def run_failures(run: Run) -> list[str]:
    """Why the run failed (run_health's rule, the one the runner's exit code follows)."""
    counts: dict = {}
    if len(run.events):
        sizes = run.events.groupby(["endpoint", "outcome"], observed=True).size()
        for (endpoint, outcome), n in sizes.items():
            counts.setdefault(str(endpoint), {})[str(outcome)] = int(n)
    return run_health.failure_reasons(run.manifest, counts)


def build_summary(run: Run, progress: Callable[[str], None] | None = None,
                  backoff: dict | None = None, fit: QuotaFit | None = None,
                  audit: RetryAfterAudit | None = None, decisions: Decisions | None = None
                  ) -> tuple[dict, QuotaFit, RetryAfterAudit]:
    """Everything summary.json holds; a fit and audit already made are used as they are."""
    say = progress or (lambda _msg: None)
    events = run.events
    decisions = decisions if decisions is not None else decide(events)
    if fit is None:
        say(f"fitting the quota to {len(events)} events")
        fit = fit_quota(decisions)
    if audit is None:
        say("auditing Retry-After")
        audit = audit_retry_after(decisions, "global" if fit.scope == "global" else "per_key",
                                  fit)
    say("throughput, latency, 503s")
    tp = load_levels.throughput(events, fit.summary())
    unavailable = load_levels.unavailable(events)
    problems = list(run.problems)
    if len(events) and not (events["endpoint"] == "/v1/chat/completions").any():
        problems.append("no chat completion attempts in the events")
    summary = {
        "schema_version": SUMMARY_VERSION, "events_schema_version": SCHEMA_VERSION,
        "run_id": run.run_id, "scenario": run.manifest.get("scenario"),
        "target": run.manifest.get("target"), "events": int(len(events)),
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "problems": problems,
        "failures": run_failures(run),
        "verdict": verdict(fit, audit, unavailable),
        "quota": fit.summary(),
        "retry_after": audit.summary(),
        "throughput": tp,
        "unavailable": unavailable,
        "latency": {**load_levels.latency(events), **streaming_latency(events)}
        if len(events) else {},
        "keys": load_levels.per_key(events) if len(events) else [],
        "backoff": backoff or {"recommended": None, "policies": [],
                               "note": "not tuned yet: python -m analysis tune"},
    }
    return _clean(summary), fit, audit


def render_html(summary: dict, figures: dict[str, bytes]) -> str:
    images = {k: base64.b64encode(v).decode() for k, v in figures.items()}
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
    return _TEMPLATES.get_template("report.html").render(
        s=summary, img=images, candidates=candidates, latency_rows=rows,
        policies=policies[:12], b=summary["backoff"],
        min_level={"attempts": load_levels.MIN_ATTEMPTS, "span_s": load_levels.MIN_SPAN_S},
        narrow_s=NARROW_S,
        sections=["status", "quota", "retry-after", "throughput", "latency", "keys"])


def build_report(run: Run, progress: Callable[[str], None] | None = None,
                 backoff: dict | None = None, fit: QuotaFit | None = None,
                 audit: RetryAfterAudit | None = None, decisions: Decisions | None = None
                 ) -> tuple[dict, dict[str, bytes], str]:
    decisions = decisions if decisions is not None else decide(run.events)
    summary, fit, audit = build_summary(run, progress, backoff, fit, audit, decisions)
    if progress:
        progress("drawing figures")
    figures = render_figures(run.events, fit, audit.points,
                             summary["throughput"], decisions) if len(run.events) else {}
    if summary["backoff"].get("policies"):
        figures["backoff"] = render_backoff(summary["backoff"])
    return summary, figures, render_html(summary, figures)
