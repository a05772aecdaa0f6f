"""rate-limiter-flexible (npm; its RateLimiterMemory) on a free loopback port: `points`
requests per key in a fixed window of `duration_s` that starts at the key's first request,
and, with `block_s` > 0, a lockout of `block_s` from the first refusal (later refusals do not
extend it). node/flexible.js is the server around it; the truth is in TRUTH.md."""

from __future__ import annotations

from . import _node
from ._process import Foreground, free_port

PACKAGE = "rate-limiter-flexible"


def version() -> str:
    return _node.installed_version(PACKAGE)


class RateLimiterFlexible(Foreground):
    def __init__(self, points: int = 3, duration_s: int = 2, block_s: int = 4,
                 port: int | None = None) -> None:
        super().__init__("rate-limiter-flexible")
        self.points, self.duration_s, self.block_s = points, duration_s, block_s
        self.port = port or free_port()
        self.spawn(_node.node_argv("flexible.js", self.port, points, duration_s, block_s),
                   self.port, "node.log")

    def truth(self) -> dict:
        return {"algorithm": "fixed_window", "limit": self.points,
                "window_s": float(self.duration_s),
                "rate_per_s": self.points / self.duration_s, "burst": self.points,
                "alignment": "first_request", "phase_s": None,
                # Refusals add to the count but never move the window's end (TRUTH.md).
                "counts_rejected": True,
                "lockout_s": float(self.block_s) if self.block_s > 0 else None,
                "lockout_extends": False, "queueing": None, "scope": "per_key",
                "unit": "requests", "retry_after": "ceil(msBeforeNext / 1000)",
                "declared": None}


def missing() -> str | None:
    """Why it cannot start here (node or the package not installed), or None."""
    return _node.missing(PACKAGE)
