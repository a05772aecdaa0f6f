"""summary.json's `quota` section, with what the headers declare (`quota.declared`), and the
parts every section shares; analysis/summary.py holds the rest of the model."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.ratelimit_families import FAMILIES

# int | float keeps a count a count: a plain float would write 20 as 20.0 (and the page too)
Number = int | float | None


class Section(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)


class DeclaredRemaining(Section):
    """The declared remaining count held against what happened (analysis/declared.py): each
    429 is set against the response of its quota stream (its key's; everyone's under a global
    quota) last received before the 429 was sent that declared a remaining count R; R larger
    than the requests that can have passed the quota in between (sent before the 429 was
    answered, answered after that response was sent) contradicts the header. Not checked (0,
    null) when the run has several keys and no scope was fitted, since whose count a header
    gives is then unknown."""
    checked: int = Field(0, description="429s sent after a response of their stream that "
                                        "declared a remaining count")
    contradicted: int = Field(0, description="of those, the ones that response said had a "
                                             "request left (R > the requests passed since)")
    consistent: bool | None = Field(None, description="contradicted == 0; null when none was "
                                                      "checked")


class DeclaredPolicy(Section):
    limit: Number
    window_s: Number = None
    responses: int


class Declared(Section):
    """What the chat responses' rate-limit headers declared, held against the fitted quota."""
    header_family: Literal[FAMILIES] = Field(  # type: ignore[valid-type]
        description="the family most chat responses carried (ties: contract's precedence)")
    limit: Number = Field(description="the limit those responses declared most often")
    window_s: Number = Field(None, description="the window they declared most often; null "
                                               "when the family has none (OpenAI, Anthropic, "
                                               "GitHub) or the policy gave none")
    remaining: DeclaredRemaining
    agrees: bool | None = Field(description=(
        "the declared policy is the fitted quota: limit within 1 of the fitted limit (a token "
        "bucket: of its burst) and window within 3% of the fitted window (a token bucket: of "
        "burst / rate, the time to refill it) or of it rounded up to the whole second; a "
        "family without a window on its limit alone. false as well when the responses "
        "declared more than one policy (see policies). null when no quota was fitted "
        "(none_observed, unknown) or its family has no limit per window (concurrency). The "
        "remaining count is judged apart, in `remaining`"))
    responses: int = Field(0, description="chat responses with a readable declared limit")
    families: dict[str, int] = Field(default_factory=dict, description="responses per family")
    policies: list[DeclaredPolicy] = Field(default_factory=list, description=(
        "every distinct (limit, window) the chosen family declared, most common first"))
    headline: str = Field("", description="the above in words, as the page and verdict say it")


# --- shaping (issue 13, shaping helper)
class Queueing(Section):
    """Excess requests held and answered late instead of refused (analysis/quota/shaping.py)."""
    size: int | None = Field(None, description=(
        "the most requests held at once, a request beyond them refused; null when the queue "
        "never overflowed in the run (see reached) or its bound is a wait (max_delay_s)"))
    max_delay_s: Number = Field(None, description=(
        "the longest a request is held, one that would wait longer refused; null when not "
        "reached or the bound is the size"))
    reached: bool = Field(False, description="the queue overflowed (429s while requests were "
                                             "held), so its bound was measured")
    held_most: int | None = Field(None, description="the most requests seen held at once "
                                                    "(a lower bound on size when not reached)")
    longest_wait_s: Number = Field(None, description="the longest hold seen (a lower bound on "
                                                     "max_delay_s when not reached)")
# --- end shaping


class Indistinguishable(Section):
    """Two models this run cannot tell apart (fit-modifiers, issue 13)."""
    models: list[str] = Field(description="the fitted model first, then its rival, in words")
    experiment: Literal["idle_burst", "polite", "reopen_gap", "pace_under", "pace_over",
                        "split", "clock_phase", "concurrency_ramp", "shaping_excess",
                        "scope_uneven", "tight"] = Field(description=(
                            "the adaptive probe's step that tells them apart"))


class Quota(Section):
    algorithm: Literal["fixed_window", "sliding_log", "sliding_counter", "token_bucket",
                       "concurrency", "none_observed", "unknown"]
    scope: Literal["per_key", "global", "unknown"]
    limit: int | None = Field(None, description="admitted per window; bucket size; C")
    window_s: Number = None
    rate_per_s: Number = Field(None, description="sustained admitted rate")
    burst: int | None = None
    alignment: Literal["epoch", "first_request"] | None = None
    counts_rejected: bool = False
    agreement: Number = Field(None, description="share of decisions the model reproduces")
    decisions: int = 0
    keys: int = 0
    rate_reached_per_s: Number = None
    burst_observed: int | None = None
    candidates: list[dict[str, Any]] = Field(default_factory=list)
    note: str = ""
    description: str
    # --- shaping (issue 13, shaping helper)
    queueing: Queueing | None = Field(None, description=(
        "set when excess requests were held instead of refused (the algorithm is then the "
        "bucket that lets them in); null otherwise"))
    in_flight_most: dict[str, int] | None = Field(None, description=(
        "no quota observed: the most admitted requests seen in flight at once, per_key and "
        "global (a concurrency cap, if any, is at least that)"))
    refusal_status: int = Field(429, description=(
        "the status the limiter refuses with: 429, or 503 when fast 503s (answered at once, "
        "not after a node pool's routing) were what the fitted model refuses"))
    # --- end shaping
    # --- fit-modifiers (issue 13) ---
    phase_s: float | dict[str, float] | None = Field(None, description=(
        "epoch windows: window k starts at phase_s + k * window_s seconds since the Unix epoch "
        "(0 for windows on the clock's multiples); when each key has its own phase (as when a "
        "gateway derives it from a hash of the key), a map of each key's fingerprint "
        "(key_id) to its phase, and the description says so; null for other families"))
    lockout_s: Number = Field(None, description=(
        "how long a key stays refused after the quota's refusal, whatever it sends; null when "
        "no lockout was fitted"))
    lockout_extends: bool | None = Field(None, description=(
        "whether each refusal during the lockout restarts it; null without a lockout"))
    indistinguishable: list[Indistinguishable] = Field(default_factory=list, description=(
        "models that explain this run as well as the fitted one (weighted agreement within "
        "the fit's tie), each beside the fitted one, with the probe step that separates them; "
        "when the quota never reopened (algorithm unknown) the first model is the best of "
        "those that tie"))
    window_range_s: list[float] | None = Field(None, description=(
        "[shortest, longest] window of the fitted family, limit and alignment that explain "
        "the run alike when no stated reopening picks one (a lying Retry-After, a reopening "
        "only bracketed): window_s is then the longest, which a client pacing by it stays "
        "within whichever is true, and the description gives the range; null when the window "
        "is measured"))
    # --- end fit-modifiers ---
    declared: Declared | None = Field(None, description=(
        "what the rate-limit headers declared (analysis/declared.py); null when no chat "
        "response carried a readable policy, as in events recorded before the columns"))
