"""What a limiter answers for one request (its own module so that the limiters in quota.py,
windows.py and lockout.py share it without importing each other in a circle)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: float  # until the window restarts, or the bucket is full again
    retry_after_s: float  # until this identity is admitted again; 0 when allowed
