"""The run's verdict in one sentence, and why the run failed: words from what the stages
computed. Pure."""

from __future__ import annotations

import pandas as pd

from contract import run_health
from .quota import QuotaFit, describe
from .retry_after import RetryAfterAudit, describe_audit


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


def run_failures(manifest: dict, events: pd.DataFrame) -> list[str]:
    """Why the run failed (run_health's rule, the one the runner's exit code follows)."""
    counts: dict = {}
    if len(events):
        sizes = events.groupby(["endpoint", "outcome"], observed=True).size()
        for (endpoint, outcome), n in sizes.items():
            counts.setdefault(str(endpoint), {})[str(outcome)] = int(n)
    return run_health.failure_reasons(manifest, counts)
