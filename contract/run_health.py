"""Whether a run failed, and why: one rule for the runner's exit code, Locust's exit code and
the report's red box, so that the terminal and the page never disagree.

Standard library and pyarrow only: the runner and Locust's processes import it without pandas.
A run fails when it was cut short, when the harness itself erred, when no chat completion was
attempted, or when more than the failure ratio (--fail-ratio, default DEFAULT_FAIL_RATIO) of
its attempts failed for reasons other than 429 and 503 (which are what the harness measures).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path

from .events import CHAT
from .run_folder import events_files

# A 429 or a 503 is the gateway's answer under load: data, not a failure of the run.
EXPECTED = frozenset({"ok", "rate_limited", "unavailable"})
DEFAULT_FAIL_RATIO = 0.05

Counts = Mapping[str, Mapping[str, int]]  # endpoint -> outcome -> attempts


def fail_ratio(manifest: Mapping) -> float:
    """The run's --fail-ratio as run.json recorded it, else the default."""
    value = (manifest.get("options") or {}).get("fail_ratio")
    return DEFAULT_FAIL_RATIO if value is None else float(value)


def failure_reasons(manifest: Mapping, counts: Counts) -> list[str]:
    """Why the run failed, in plain words; empty when it did not."""
    reasons = []
    if manifest and not manifest.get("complete", False):
        why = manifest.get("stop_reason") or "run.json says complete: false"
        reasons.append(f"the run was cut short ({why}{_how_far(manifest)}): its figures cover "
                       "only part of the planned run")
    harness = int(manifest.get("harness_errors") or 0)
    if harness:
        reasons.append(f"{harness} harness error(s) (exceptions in the load generator or the "
                       "recorder; see Locust's log)")
    total = sum(sum(by.values()) for by in counts.values())
    chat = sum(counts.get(CHAT, {}).values())
    if not total:
        return reasons + ["no request was recorded"]
    if not chat:
        reasons.append("no chat completion was attempted")
    failed = _failed(counts)
    n_failed = sum(failed.values())
    limit = fail_ratio(manifest)
    if n_failed and n_failed / total > limit:
        detail = ", ".join(f"{n:,} {outcome}" for outcome, n in
                           sorted(failed.items(), key=lambda kv: -kv[1]))
        reasons.append(f"{n_failed:,} of {total:,} attempts ({n_failed / total:.1%}) failed for "
                       f"reasons other than 429 and 503 ({detail}), over the failure ratio "
                       f"{limit:g} (--fail-ratio)")
    return reasons


def _how_far(manifest: Mapping) -> str:
    """' after 9 s of 60 s' when run.json says so, else ''."""
    try:
        start = dt.datetime.fromisoformat(manifest["start"])
        end = dt.datetime.fromisoformat(manifest["end"])
    except (KeyError, TypeError, ValueError):
        return ""
    planned = (manifest.get("options") or {}).get("run_time")
    of = f" of {planned:g} s" if isinstance(planned, (int, float)) and planned > 0 else ""
    return f" after {(end - start).total_seconds():.0f} s{of}"


def _failed(counts: Counts) -> dict[str, int]:
    out: dict[str, int] = {}
    for by in counts.values():
        for outcome, n in by.items():
            if outcome not in EXPECTED and n:
                out[outcome] = out.get(outcome, 0) + int(n)
    return out


def add_counts(counts: dict, endpoints: Iterable, outcomes: Iterable) -> dict:
    """Count (endpoint, outcome) pairs into `counts` (endpoint -> outcome -> n)."""
    for endpoint, outcome in zip(endpoints, outcomes):
        by = counts.setdefault(str(endpoint), {})
        by[str(outcome)] = by.get(str(outcome), 0) + 1
    return counts


def count_outcomes(run_dir: Path) -> tuple[dict, list[str]]:
    """Outcome counts from a run folder's events files, and the files that could not be read
    whole. Reads only the two columns it needs."""
    from .events_file import read_events  # pyarrow: only when a run is counted
    counts: dict = {}
    problems = []
    for path in events_files(run_dir):
        table, problem = read_events(path)
        if problem:
            problems.append(problem)
        add_counts(counts, table.column("endpoint").to_pylist(),
                   table.column("outcome").to_pylist())
    return counts, problems


def outcome_table(counts: Counts) -> list[str]:
    """The outcomes per endpoint as fixed-width lines for a terminal."""
    outcomes = sorted({o for by in counts.values() for o in by},
                      key=lambda o: (o not in EXPECTED, o != "ok", o))
    width = max([len("endpoint")] + [len(e) for e in counts])
    cols = ["attempts", *outcomes]
    lines = ["  ".join([f"{'endpoint':<{width}}", *(f"{c:>{max(len(c), 8)}}" for c in cols)])]
    for endpoint in sorted(counts, key=lambda e: (e != CHAT, e)):
        by = counts[endpoint]
        cells = [sum(by.values()), *(by.get(o, 0) for o in outcomes)]
        lines.append("  ".join([f"{endpoint:<{width}}",
                                *(f"{n:>{max(len(c), 8)},}" for c, n in zip(cols, cells))]))
    return lines
