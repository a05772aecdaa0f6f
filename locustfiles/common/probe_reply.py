"""One reply as the probe's steps see it: admitted, refused (a 429, or a 503 answered faster
than any admission), and the wait it stated."""

from __future__ import annotations

import math

# A 503 this fast, or within this share of the quickest admitted reply, was answered without
# routing: a limiter's refusal. A busy pool's comes after its routing delay (50 ms on the
# reference gateway, where an admission takes about 110 ms: faster than that, but not this
# fast). The same reading as analysis/quota/held.py's, which locustfiles cannot import.
FAST_503_S, FAST_503_SHARE = 0.01, 0.2


class Reply:
    __slots__ = ("status", "sent", "recv", "ra", "reset", "fast_refusal")

    def __init__(self, status: int, sent: float, recv: float, ra: float, reset: float) -> None:
        self.status, self.sent, self.recv, self.ra, self.reset = status, sent, recv, ra, reset
        self.fast_refusal = False  # a 503 answered faster than any admission (Prober marks)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        # nginx limit_req refuses with 503 by default, and a cap may be set to: answered at
        # once, it is a limiter's; a slow one is a busy pool's, after its routing delay
        return self.status == 429 or self.fast_refusal

    @property
    def latency(self) -> float:
        return self.recv - self.sent

    @property
    def wait(self) -> float:
        """The stated wait: Retry-After, else the declared reset; NaN when neither."""
        if math.isfinite(self.ra):
            return self.ra
        return self.reset if math.isfinite(self.reset) and self.reset > 0 else math.nan
