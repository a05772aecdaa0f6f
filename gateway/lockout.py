"""A lockout after the first refusal, over any limiter.

When the quota refuses an identity, the identity is refused until lockout_s after that
refusal, whatever the quota says. Requests refused by the lockout never reach the quota, so
they use up nothing (counts_rejected or not); with `lockout_extends` each of them restarts
the lockout from its own arrival. The wait stated is until the identity is admitted: the
lockout's end, or the quota's own reopening if that is later (the quota sees nothing in
between, so its reopening stays where it was when it refused).
"""

from __future__ import annotations

from .decision import Decision
from .profile import QuotaConfig


class Lockout:
    def __init__(self, inner, cfg: QuotaConfig) -> None:
        self.inner = inner
        self.length = float(cfg.lockout_s)
        self.extends = cfg.lockout_extends
        self.locked: dict[str, tuple[float, float, int]] = {}  # ident -> (end, reopening, limit)

    def hit(self, ident: str, now: float) -> Decision:
        held = self.locked.get(ident)
        if held is not None:
            end, reopens, limit = held
            if now < end:
                if self.extends:
                    end = now + self.length
                    self.locked[ident] = (end, reopens, limit)
                return self._refused(end, reopens, limit, now)
            del self.locked[ident]
        decision = self.inner.hit(ident, now)
        if decision.allowed:
            return decision
        end, reopens = now + self.length, now + decision.retry_after_s
        self.locked[ident] = (end, reopens, decision.limit)
        return self._refused(end, reopens, decision.limit, now)

    @staticmethod
    def _refused(end: float, reopens: float, limit: int, now: float) -> Decision:
        wait = max(end, reopens) - now
        return Decision(False, limit, 0, wait, wait)
