"""Shaping: a token bucket whose excess requests are held and answered late, not refused.

The rule (rate r, bucket b, queue of N, optional longest wait D; I = 1/r, tau = (b-1)*I):
each identity (the key under `per_key` scope, one for all keys under `global`) has a
theoretical arrival time TAT, as in the plain token bucket (GCRA). A request arriving at t
must wait

    w = max(0, TAT - tau - t)

before it conforms to the bucket.
  - w = 0: answered at once (it conforms);
  - 0 < w <= N*I, and w <= D if D is given: held for w (asyncio sleep, no 429), then answered;
  - otherwise: refused at once with 429, and the refusal changes nothing.
A request that is let in (at once or held) moves TAT to max(TAT, t) + I at its arrival, so
that a request arriving while others are held already counts them: the queue is the
identity's, and its place in it is taken when it arrives.

`w <= N*I` is the same as "fewer than N requests of this identity are being held at t": the
held ones conform at TAT - tau - I, TAT - tau - 2I, ..., so ceil(w/I) - 1 of them are still
waiting. With b = 1 this is nginx `limit_req rate=r burst=N` without `nodelay`
(src/http/modules/ngx_http_limit_req_module.c, ngx_http_limit_req_lookup: excess = the
node's excess - rate * elapsed + 1 request, floored at 0; refused (NGX_BUSY) when
excess > burst, and then the node is left as it was; otherwise delayed by excess / rate).
nginx's `burst=N delay=d` is b = d + 1 with a queue of N - d.

Retry-After on a refusal is the time until a request would be let in (held or not):
TAT - tau - min(N*I, D) - t, which app.py rounds up as for every other limiter.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from .profile import QuotaConfig
from .quota import Decision


@dataclass(slots=True, frozen=True)
class Held(Decision):
    """Let in, after `delay_s` in the queue; the other figures are as of its answer."""

    delay_s: float = 0.0


class ShapedTokenBucket:
    def __init__(self, cfg: QuotaConfig) -> None:
        self.interval = 1.0 / cfg.rate_per_s
        self.burst = cfg.burst
        self.tolerance = (cfg.burst - 1) * self.interval
        longest = cfg.queueing.size * self.interval
        if cfg.queueing.max_delay_s is not None:
            longest = min(longest, cfg.queueing.max_delay_s)
        self.longest_wait = longest
        self.tat: dict[str, float] = {}
        # Ground truth for /healthz: requests being held now, and the most of one identity
        # ever held at once.
        self.held: dict[str, int] = {}
        self.most_held = 0

    def hit(self, ident: str, now: float) -> Decision:
        tat = max(self.tat.get(ident, now), now)
        wait = max(0.0, tat - self.tolerance - now)
        # A whisker of slack so that floating-point noise does not refuse a request that
        # arrives exactly when the queue has room.
        if wait > self.longest_wait + 1e-9:
            return Decision(allowed=False, limit=self.burst, remaining=0, reset_s=tat - now,
                            retry_after_s=wait - self.longest_wait)
        new_tat = tat + self.interval
        self.tat[ident] = new_tat
        answered = now + wait
        remaining = max(0, math.floor((answered + self.tolerance - new_tat) / self.interval
                                      + 1e-9) + 1)
        return Held(allowed=True, limit=self.burst, remaining=remaining,
                    reset_s=new_tat - answered, retry_after_s=0.0, delay_s=wait)

    async def hold(self, ident: str, delay_s: float) -> None:
        self.held[ident] = self.held.get(ident, 0) + 1
        self.most_held = max(self.most_held, self.held[ident])
        try:
            await asyncio.sleep(delay_s)
        finally:
            # A client that leaves while held keeps its place: its request was let in.
            self.held[ident] -= 1
            if not self.held[ident]:
                del self.held[ident]

    def counters(self) -> dict[str, int]:
        return {"held": sum(self.held.values()), "most_held": self.most_held}
