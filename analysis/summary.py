"""summary.json, typed and versioned: the contract the pages, `compare`, the runs index and
other tools read (its meaning is in DESIGN.md's summary.json section).

A summary is validated through `Summary` before it is written and when it is read, so that a
page is never drawn from a half-understood file. The sections are open to keys a later
stage adds (`extra="allow"`): the fields named here are the ones every summary of this
version has, with their types. `analysis/summary.schema.json` is generated from the model
(`python -m analysis schema`) and a test keeps it current.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .summary_quota import Number, Quota, Section as _Section
from .summary_probe import Polite, Probe, Unanswered  # issue 13, report part

# 1: issues 1-10, a dict checked against six keys. 2: validated through this model, and
# `figures` names the PNGs drawn beside it (so `render` knows when one is missing).
# 3: `quota.declared` (a version-2 summary has none, which is not "no policy declared").
SUMMARY_VERSION = 3
OLDEST_READABLE_BACKOFF = 1  # the backoff section has not changed since version 1

class Percentiles(_Section):
    """Milliseconds (or seconds, as the key says), rounded to the µs; only `count` when the
    group is empty."""
    count: int = 0
    p50: Number = None
    p90: Number = None
    p99: Number = None
    max: Number = None
    mean: Number = None


class RetryAfter(_Section):
    verdict: Literal["honest", "conservative", "optimistic", "absent", "insufficient_data"]
    rejections: int = 0
    with_header: int = 0
    evaluable: int = 0
    too_early: int = 0
    over_1s_late: int = 0
    most_early_s: Number = None
    most_late_s: Number = None
    error_s: dict[str, Number] = Field(default_factory=dict)
    error_vs_model_s: dict[str, Number] = Field(default_factory=dict)
    probes: dict[str, Any] = Field(default_factory=dict)
    polite: Polite | None = None  # issue 13, report part: absent in earlier summaries
    note: str = ""
    headline: str = ""
    rule: str = ""


class Level(_Section):
    """One load level (a phase, or a slice of time); rates per second over its span."""
    level: str
    start_ts: Number = None
    start_s: Number = None
    end_s: Number = None
    duration_s: Number = None
    attempts: int
    ok: int = 0
    rate_limited: int = 0
    unavailable: int = 0
    offered_per_s: Number = None
    goodput_per_s: Number = None
    rate_limited_per_s: Number = None
    unavailable_per_s: Number = None
    other_errors_per_s: Number = None
    error_fraction: Number = None


class LeftOut(_Section):
    level: str
    attempts: int
    duration_s: Number = None
    why: str


class Throughput(_Section):
    levels: list[Level]
    left_out: list[LeftOut] = Field(default_factory=list)
    by: Literal["phase", "time"] | None = None
    offered_levels: int = 0
    overall: Level | None = None
    sustained_per_s: Number = None
    quota_period_s: Number = None
    levels_shorter_than_period: bool = False
    saturation: dict[str, Any] | None = None
    knee: dict[str, Any] | None = None
    headline: str = ""


class PerSecond(_Section):
    start_ts: int | float
    counts: list[int]


class Unavailable(_Section):
    count: int = 0
    share: Number = None
    rate_per_s: Number = None
    latency_ms: Percentiles = Field(default_factory=Percentiles)
    with_retry_after: int = 0
    per_second: PerSecond | None = None


class Spike(_Section):
    first_error_after_s: Number = None
    recovered_after_s: Number = None
    note: str | None = None


class Latency(_Section):
    """Empty for a run without events; the streaming keys only when something streamed."""
    ok_from_intended_ms: Percentiles | None = None
    ok_from_sent_ms: Percentiles | None = None
    send_lateness_ms: Percentiles | None = None
    by_outcome: dict[str, Percentiles] = Field(default_factory=dict)
    spike: Spike | None = None
    streamed: int | None = None
    ttft_ms: Percentiles | None = None
    tbt_ms: Percentiles | None = None
    tbt_max_ms: Percentiles | None = None
    ttft_share_of_latency_p50: Number = None


class KeyRow(_Section):
    key_id: str
    attempts: int
    ok: int = 0
    rate_limited: int = 0
    unavailable: int = 0
    other_errors: int = 0
    goodput_per_s: Number = None
    median_retry_after_s: Number = None


class PolicyResult(_Section):
    """One retry policy setting, simulated (null: no success, so no ratio)."""
    policy: str
    goodput_per_s: Number = None
    success_ratio: Number = None
    attempts_per_success: Number = None
    rejected_per_success: Number = None
    p50_s: Number = None
    p99_s: Number = None
    params: dict[str, Any] = Field(default_factory=dict)


class Backoff(_Section):
    """What `tune` found; before it ran, only `recommended: null`, no policies and a note."""
    recommended: PolicyResult | None = None
    policies: list[PolicyResult] = Field(default_factory=list)
    note: str = ""
    offered_per_s: Number = None
    deadline_s: Number = None
    logical_requests: int | None = None
    limits: dict[str, Any] | None = None
    capacity_only: bool | None = None
    ideal_goodput_per_s: Number = None
    sdk_default: PolicyResult | None = None
    no_retry: PolicyResult | None = None
    code: dict[str, str] | None = None
    live: dict[str, Any] | None = Field(None, description="the live check (needed traffic)")


class Summary(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False,
                              title="Pinaivu run summary (summary.json)")
    schema_version: Literal[SUMMARY_VERSION]  # type: ignore[valid-type]
    events_schema_version: int
    run_id: str
    scenario: str | None = None
    target: str | None = None
    events: int
    generated_at: str = Field(description="UTC, ISO 8601, to the second")
    problems: list[str]
    failures: list[str]
    verdict: str
    quota: Quota
    retry_after: RetryAfter
    throughput: Throughput
    unavailable: Unavailable
    latency: Latency
    keys: list[KeyRow]
    backoff: Backoff
    # issue 13, report part: the probe's log (null: no probe.json) and the questions the
    # run's traffic could not answer (null: not a scenario that is asked about)
    probe: Probe | None = None
    unanswered: list[Unanswered] | None = None
    figures: list[str] = Field(description="the figures drawn beside it, as <name>.png")

    def as_dict(self) -> dict:
        """The summary as JSON values, with the keys it was made with (none added)."""
        return self.model_dump(mode="json", exclude_unset=True)


def clean(value):
    """JSON-safe: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:  # a scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def make_summary(doc: dict) -> Summary:
    """A summary from what the stages computed; ValidationError names any field that is not
    what the model says (a bug in a stage, caught before the file is written)."""
    return Summary.model_validate(clean(doc))


def version_problem(doc) -> str | None:
    """Why a summary.json of another version (or of none) is not read as this one, or None."""
    if not isinstance(doc, dict):
        return "summary.json is corrupt (not a JSON object)"
    version = doc.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        return f"summary.json has no schema_version (found {version!r}): not a run summary"
    if version != SUMMARY_VERSION:
        return (f"summary.json is of schema version {version}, "
                f"{'older' if version < SUMMARY_VERSION else 'newer'} than the version this "
                f"tool reads ({SUMMARY_VERSION})")
    return None


# the names pydantic puts into an error's location for the member of a union that failed
_UNION_MEMBERS = {"int", "float", "str", "bool", "none", "list", "dict"}


def _where(loc: tuple) -> str:
    names = [str(x) for x in loc if not (isinstance(x, str) and (
        x in _UNION_MEMBERS or "[" in x or x.startswith(("function-", "model-"))))]
    return ".".join(names)


def _errors(exc: ValidationError, most: int = 3) -> str:
    errs, seen = [], set()
    for e in exc.errors():  # a union reports once per member: name each place once
        if _where(e["loc"]) not in seen:
            seen.add(_where(e["loc"]))
            errs.append(e)
    parts = [f"'{_where(e['loc'])}': {e['msg']}" for e in errs[:most]]
    more = f"; {len(errs) - most} more" if len(errs) > most else ""
    return "; ".join(parts) + more


def parse_summary(doc) -> tuple[Summary | None, str | None]:
    """A summary read from disk: the model, or None and why it cannot be used."""
    problem = version_problem(doc)
    if problem:
        return None, problem
    try:
        return Summary.model_validate(doc), None
    except ValidationError as exc:
        return None, f"summary.json is corrupt ({_errors(exc)})"


def kept_backoff(doc) -> tuple[Backoff | None, str | None]:
    """The backoff section of an earlier summary (it needed live traffic, so a rebuild keeps
    it) when it holds a tuning, or None; and a note when it could not be kept."""
    if not isinstance(doc, dict):
        return None, "the earlier summary.json is not a JSON object; its backoff results are lost"
    version, value = doc.get("schema_version"), doc.get("backoff")
    if value is None:
        return None, None
    if not isinstance(version, int) or not OLDEST_READABLE_BACKOFF <= version <= SUMMARY_VERSION:
        return None, (f"the earlier summary.json is of schema version {version!r}, which this "
                      "tool does not read: its backoff results are not kept")
    try:
        backoff = Backoff.model_validate(value)
    except ValidationError as exc:
        return None, f"the earlier summary.json's backoff is malformed ({_errors(exc, 1)}); not kept"
    return (backoff, None) if backoff.policies else (None, None)


def json_schema() -> dict:
    return Summary.model_json_schema()
