"""express-rate-limit (npm; its own MemoryStore) on an express app on a free loopback port:
`limit` requests per key in a fixed window of `window_s` that starts at the key's first
request (and, after it ends, at the next request), with Retry-After on a 429 and the IETF
draft headers it writes itself (`headers`: draft-6, draft-7 or draft-8).
node/express_rate_limit.js is the app; the truth is in TRUTH.md."""

from __future__ import annotations

from . import _node
from ._process import Foreground, free_port

PACKAGE = "express-rate-limit"
HEADER_FAMILIES = ("draft-6", "draft-7", "draft-8")


def version() -> str:
    return _node.installed_version(PACKAGE)


class ExpressRateLimit(Foreground):
    def __init__(self, limit: int = 4, window_s: int = 3, headers: str = "draft-8",
                 port: int | None = None) -> None:
        if headers not in HEADER_FAMILIES:
            raise ValueError(f"headers must be one of {HEADER_FAMILIES}, not {headers!r}")
        super().__init__("express-rate-limit")
        self.limit, self.window_s, self.headers = limit, window_s, headers
        self.port = port or free_port()
        self.spawn(_node.node_argv("express_rate_limit.js", self.port, limit,
                                   window_s * 1000, headers), self.port, "node.log")

    def truth(self) -> dict:
        return {"algorithm": "fixed_window", "limit": self.limit,
                "window_s": float(self.window_s), "rate_per_s": self.limit / self.window_s,
                "burst": self.limit, "alignment": "first_request", "phase_s": None,
                "counts_rejected": True, "lockout_s": None, "queueing": None,
                "scope": "per_key", "unit": "requests",
                "retry_after": "ceil(seconds to the window's end)",
                "declared": {"limit": self.limit, "window_s": float(self.window_s),
                             "header_family": self.headers}}


def missing() -> str | None:
    """Why it cannot start here (node or the package not installed), or None."""
    return _node.missing(PACKAGE)
