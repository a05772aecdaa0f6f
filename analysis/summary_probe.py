"""summary.json's parts from issue 13's report part: the polite client's answer
(`retry_after.polite`), the adaptive probe's steps (`probe`) and the questions a run's
traffic could not answer (`unanswered`); analysis/summary.py holds the rest of the model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .summary_quota import Number, Section


class Polite(Section):
    """"If I wait what it says, am I let in?", counted from the probe's polite steps
    (analysis/polite.py); the old probe's timed retries at f >= 1 answer it in part."""
    source: Literal["polite", "retry_after_probe"] | None = Field(description=(
        "where the answer comes from: the polite steps, the old probe's retries at f x RA "
        "(f >= 1: a partial answer), or null when the run did not ask"))
    asked: int = Field(0, description="retries sent at least the stated wait after their 429")
    let_in: int | None = Field(None, description="of those, the ones admitted (2xx)")
    refused: int | None = Field(None, description="of those, the ones refused again (429)")
    other: int | None = None
    sent_early: int | None = Field(None, description="polite retries sent before the wait "
                                                     "ran out: not counted")
    no_stated_wait: int | None = None
    on_reset: int | None = Field(None, description="asked on a declared reset, as the 429 "
                                                   "carried no Retry-After")
    not_let_in: int | None = None
    stated_s: dict[str, Number] = Field(default_factory=dict)
    restated_p50_s: Number = Field(None, description="median wait stated by the refused "
                                                     "retries")
    headline: str


class ProbeStep(Section):
    """One step as the probe logged it, with what its events say came back."""
    index: int
    name: str
    start_s: Number = Field(description="seconds since the probe started")
    end_s: Number
    requests: int | None = Field(None, description="requests the probe says it sent")
    sent: int = Field(description="attempts recorded with this step's phase in its span")
    ok: int = 0
    rate_limited: int = 0
    other: int = 0
    tried: str
    learned: str
    ruled_out: list[str] = Field(default_factory=list)
    open: list[str] = Field(default_factory=list)


class Probe(Section):
    """The adaptive probe's log (probe.json), as the report shows it."""
    settled: bool
    settled_after_s: Number = None
    budget_s: Number = None
    request_cap: int | None = None
    started_ts: Number = Field(None, description="the probe's start, epoch seconds: the "
                                                 "steps' clock")
    verdict: str = ""
    hypotheses: list[str] = Field(default_factory=list)
    open: list[str] = Field(default_factory=list)
    steps: list[ProbeStep]


class Unanswered(Section):
    """A question a run's traffic could not answer, and why (analysis/unanswered.py)."""
    question: str
    why: str
