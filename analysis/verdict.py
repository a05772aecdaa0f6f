"""summary.json's content from what the stages computed: the run's verdict in one
sentence, why the run failed, and the document the summary model validates. Pure."""

from __future__ import annotations

import pandas as pd

from contract import run_health
from contract.events import CHAT, SCHEMA_VERSION
from .quota import QuotaFit, describe
from .retry_after import RetryAfterAudit, describe_audit
from .summary import SUMMARY_VERSION, clean


def verdict(fit: QuotaFit, audit: RetryAfterAudit, unavailable: dict,
            declared: dict | None = None) -> str:
    words = describe(fit)  # as in summary["quota"]["description"]
    words = words[0].upper() + words[1:]
    ra = audit.headline or describe_audit(audit)[0]  # from the audit's counts, as the page's
    out = f"{words}; {ra}."
    polite = audit.polite or {}
    if polite.get("source"):  # issue 13, report part: the client's answer, when asked
        out += f" {polite['headline']}."
    if declared:  # the page's sentence, word for word
        out += f" {declared['headline']}"
    if unavailable.get("count") and fit.refusal_status == 503:
        out += (f" {unavailable['count']} requests were answered 503: the quick ones are the "
                "limiter's refusals above, not a want of free nodes.")
    elif unavailable.get("count"):
        p50 = unavailable["latency_ms"].get("p50")
        out += (f" {unavailable['count']} requests found no free node (503)"
                + (f", answered in {p50:g} ms (median)." if p50 is not None else "."))
    return out


def run_failures(manifest: dict, events: pd.DataFrame) -> list[str]:
    """Why the run failed (run_health's rule, the one the runner's exit code follows)."""
    counts: dict = {}
    if len(events):
        sizes = events.groupby(["endpoint", "outcome"], observed=True).size()
        for (endpoint, outcome), n in sizes.items():
            counts.setdefault(str(endpoint), {})[str(outcome)] = int(n)
    return run_health.failure_reasons(manifest, counts)


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def summary_doc(run, fit: QuotaFit, audit: RetryAfterAudit, sections: dict,
                backoff: dict | None, generated_at: str, declared: dict | None = None) -> dict:
    """The summary of `run` (a store.Run), JSON-safe: `sections` holds throughput,
    unavailable, latency and keys as load_levels made them; `backoff` is tune's result;
    `declared` what analysis.declared made of the rate-limit headers."""
    events = run.events
    problems = list(run.problems)
    if len(events) and not (events["endpoint"] == CHAT).any():
        problems.append("no chat completion attempts in the events")
    return clean({
        "schema_version": SUMMARY_VERSION, "events_schema_version": SCHEMA_VERSION,
        "run_id": str(run.run_id), "scenario": _text(run.manifest.get("scenario")),
        "target": _text(run.manifest.get("target")), "events": int(len(events)),
        "generated_at": generated_at, "problems": problems,
        "failures": run_failures(run.manifest, events),
        "verdict": verdict(fit, audit, sections["unavailable"], declared),
        "quota": fit.summary() | {"declared": declared}, "retry_after": audit.summary(),
        **sections,
        "backoff": backoff or {"recommended": None, "policies": [],
                               "note": "not tuned yet: python -m analysis tune"},
    })
