"""Which limiter decides a request, and what admitting it takes beyond the decision.

The rate families are gateway/quota.py's (`make_limiter` there); shaping, a token bucket with
`quota.queueing`, is gateway/shaping.py's; the concurrency cap is gateway/concurrency.py's.
`Admission.admit` decides, holds a shaped request until it conforms, and has a place in
flight freed when the gateway is done with the request; app.py then answers.
"""

from __future__ import annotations

from functools import partial

from . import quota
from .concurrency import ConcurrencyCap, at_end
from .profile import QuotaConfig
from .quota import Decision
from .shaping import Held, ShapedTokenBucket


def make_limiter(cfg: QuotaConfig):
    if cfg.algorithm == "concurrency":
        return ConcurrencyCap(cfg)
    if cfg.queueing is not None:
        return ShapedTokenBucket(cfg)
    return quota.make_limiter(cfg)


class Admission:
    def __init__(self, cfg: QuotaConfig) -> None:
        self.limiter = make_limiter(cfg)

    async def admit(self, ident: str, now: float, scope: dict) -> tuple[Decision, float]:
        """The decision, and the time it is answered at: later than `now` when held."""
        releases = at_end(scope) if isinstance(self.limiter, ConcurrencyCap) else None
        decision = self.limiter.hit(ident, now)
        if releases is not None and decision.allowed:
            releases.append(partial(self.limiter.release, ident))
        if isinstance(decision, Held) and decision.delay_s > 0:
            await self.limiter.hold(ident, decision.delay_s)
            now += decision.delay_s  # the instant the decision's figures are given for
        return decision, now

    def counters(self) -> dict[str, int]:
        """Requests held and in flight now, and the most of one identity ever at once."""
        out = {"held": 0, "most_held": 0, "in_flight": 0, "most_in_flight": 0}
        if isinstance(self.limiter, (ConcurrencyCap, ShapedTokenBucket)):
            out.update(self.limiter.counters())
        return out
