"""The profile options of shaping (`quota.queueing`) and of the concurrency cap
(`algorithm = "concurrency"`, `quota.concurrency_status`), and the rules that make a bad
combination a clear error naming the field. gateway/profile.py's QuotaConfig holds them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

# Bounds past which a setting is a typo rather than a policy: each held request or request in
# flight holds a connection and a coroutine, and no client waits ten minutes for an answer.
MOST_HELD = 10_000
MOST_DELAY_S = 600.0
MOST_IN_FLIGHT = 10_000


class QueueingConfig(BaseModel):
    """Shaping (nginx `limit_req burst=N` without `nodelay`): at most `size` requests are held
    until they conform to the token bucket; with `max_delay_s`, one that would wait longer is
    refused too. gateway/shaping.py states the exact rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    size: PositiveInt = Field(le=MOST_HELD)
    max_delay_s: PositiveFloat | None = Field(None, le=MOST_DELAY_S)


def check_shaping_and_concurrency(q: Any) -> None:
    """Raise ValueError, naming the field, for a QuotaConfig `q` these options cannot mean."""
    if q.queueing is not None:
        if q.algorithm != "token_bucket":
            raise ValueError("quota.queueing (shaping) is only for algorithm 'token_bucket', "
                             f"not {q.algorithm!r}")
        if q.counts_rejected:
            raise ValueError("quota.counts_rejected is not supported with quota.queueing: a "
                             "refused request takes no place in the queue (as at nginx)")
        if q.lockout_s is not None:
            raise ValueError("quota.lockout_s is not supported with quota.queueing: a shaper "
                             "holds the excess, and what a lockout would do to the requests it "
                             "holds is not defined here")
    if q.algorithm == "concurrency":
        if q.limit is None:
            raise ValueError("quota.limit (the most requests in flight at once) is required "
                             "for algorithm 'concurrency'")
        if q.limit > MOST_IN_FLIGHT:
            raise ValueError(f"quota.limit={q.limit} in flight at once is absurd for "
                             f"'concurrency' (at most {MOST_IN_FLIGHT})")
        if q.retry_after == "honest":
            raise ValueError("quota.retry_after='honest' has no meaning for 'concurrency' (no "
                             "clock says when a request in flight will end): use 'absent' or "
                             "'constant'")
        if q.counts_rejected:
            raise ValueError("quota.counts_rejected has no meaning for 'concurrency': a "
                             "refused request is never in flight")
        if q.lockout_s is not None:
            raise ValueError("quota.lockout_s is not supported for 'concurrency': a place frees "
                             "when a request ends, not on a clock")
        if q.headers or q.declares is not None:
            raise ValueError("quota.headers is not supported for 'concurrency': the families "
                             "sent here state a rate (a limit per window and a reset), and a "
                             "cap on requests in flight has neither")
    elif q.concurrency_status is not None:
        raise ValueError("quota.concurrency_status is only for algorithm 'concurrency', not "
                         f"{q.algorithm!r}")
