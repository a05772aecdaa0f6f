"""The gateway's per-key (or global) request quota.

Every limiter answers `hit(ident, now)` with a `Decision` that carries the exact time until the
identity would be admitted again. That figure is what makes an honest `Retry-After` possible:
it is rounded up to whole seconds, so the header is never earlier than the real reopening and
never more than one second later.

The fixed window anchored at the first request, the sliding log and the sliding window counter
are the `limits` library's (in-memory storage, which reads the wall clock itself); the token
bucket (GCRA) is written here, small, on `now`, and so are, in windows.py, the fixed window
aligned to the epoch (with its phase) and the sliding counter that counts refusals (HAProxy's).
A lockout (lockout.py) wraps any of them. `Decision` lives in decision.py.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.storage.memory import Entry
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)

from .decision import Decision
from .lockout import Lockout
from .profile import QuotaConfig
from .windows import PAST, FixedWindowEpoch, HAProxyCounter


class Unlimited:
    def hit(self, ident: str, now: float) -> Decision:
        return Decision(True, 0, 0, 0.0, 0.0)


class _LimitsLimiter:
    """Shared plumbing for the three `limits` strategies."""

    strategy: type

    def __init__(self, cfg: QuotaConfig) -> None:
        self.item = RateLimitItemPerSecond(cfg.limit, cfg.window_s)
        self.storage = MemoryStorage()
        self.limiter = self.strategy(self.storage)
        self.window = float(cfg.window_s)
        self.counts_rejected = cfg.counts_rejected

    def hit(self, ident: str, now: float) -> Decision:
        allowed = self.limiter.hit(self.item, ident)
        if not allowed and self.counts_rejected:
            self._count_refusal(ident)
        reset_at, remaining = self.limiter.get_window_stats(self.item, ident)
        reopen = 0.0 if allowed else max(0.0, self._reopening_at(ident, reset_at) - now)
        return Decision(allowed, self.item.amount, max(0, remaining),
                        max(0.0, reset_at - now), reopen)

    def _reopening_at(self, ident: str, reset_at: float) -> float:
        return reset_at

    def _count_refusal(self, ident: str) -> None:
        pass


class FixedWindowFirstRequest(_LimitsLimiter):
    # limits' fixed window starts when the first hit creates the counter and expires window_s
    # later: anchored at the first request. Its reset time is the exact reopening.
    strategy = FixedWindowRateLimiter


class SlidingLog(_LimitsLimiter):
    # limits' moving window keeps one entry per admitted request; a request is admitted when the
    # limit-th newest entry is older than the window, so the reopening is that entry + window,
    # which is the reset time get_window_stats reports.
    strategy = MovingWindowRateLimiter

    def _count_refusal(self, ident: str) -> None:
        # Record the rejected attempt as an entry too: the log then only drains when the client
        # stops sending for a whole window.
        key = self.item.key_for(ident)
        # Under the storage's lock: its expiry timer thread slices this list and assigns it
        # back under the same lock, and an insert between the two would be lost.
        with self.storage.locks[key]:
            self.storage.events.setdefault(key, [])[:0] = [Entry(self.item.get_expiry())]

    def _reopening_at(self, ident: str, reset_at: float) -> float:
        # Entries are newest first; with rejections counted there can be more than `limit` in
        # the window, so the reset time (oldest entry + window) is not the reopening then.
        # limits refuses while the limit-th newest entry is at or after now - window, so the
        # first admitting moment is just past that entry + window (PAST, as in windows.py).
        key = self.item.key_for(ident)
        with self.storage.locks[key]:
            events = list(self.storage.events.get(key, []))
        if len(events) < self.item.amount:
            return reset_at + PAST
        return events[self.item.amount - 1].atime + self.window + PAST


class SlidingCounter(_LimitsLimiter):
    # limits admits while floor(prev * (W - e) / W + cur) < limit, where e is the time into the
    # current epoch-aligned window. Its own reset estimate is approximate, so the reopening is
    # solved from that inequality here.
    strategy = SlidingWindowCounterRateLimiter

    def _reopening_at(self, ident: str, reset_at: float) -> float:
        now = time.time()  # the clock limits itself read for the figures below
        prev, _, cur, cur_ttl = self.storage.get_sliding_window(
            self.item.key_for(ident), self.item.get_expiry())
        elapsed = 2 * self.window - cur_ttl  # cur_ttl counts the current window plus one more
        # limits refuses while the estimate is at or above the limit: the wait goes just past
        # the moment it falls below (PAST, as in windows.py).
        return now + sliding_counter_reopening(prev, cur, elapsed, self.window,
                                               self.item.amount) + PAST


def sliding_counter_reopening(prev: int, cur: int, elapsed: float, window: float,
                              limit: int) -> float:
    """Seconds until prev*(W-e)/W + cur < limit first holds (no admissions in between)."""
    to_end = window - elapsed
    if cur < limit:
        # Within this window, as the previous window's weight decays.
        return max(0.0, to_end - (limit - cur) * window / prev) if prev else 0.0
    # Next window: the current count becomes the previous one and decays from 1 to 0.
    return to_end + max(0.0, window * (1 - limit / cur))


class TokenBucket:
    """GCRA: one token every 1/rate seconds, up to `burst` back to back from full."""

    def __init__(self, cfg: QuotaConfig) -> None:
        self.interval = 1.0 / cfg.rate_per_s
        self.burst = cfg.burst
        self.tolerance = (cfg.burst - 1) * self.interval
        self.counts_rejected = cfg.counts_rejected
        self.tat: dict[str, float] = {}  # theoretical arrival time of the next request

    def hit(self, ident: str, now: float) -> Decision:
        tat = max(self.tat.get(ident, now), now)
        # A whisker of slack so that a client arriving exactly on time is not refused by
        # floating-point noise.
        if tat - now > self.tolerance + 1e-9:
            if self.counts_rejected:
                # The refusal takes its slot, and the wait is stated from the bucket it
                # leaves: the next request conforms once tat - t <= tolerance again.
                tat += self.interval
                self.tat[ident] = tat
            return Decision(False, self.burst, 0, tat - now, tat - self.tolerance - now)
        new_tat = tat + self.interval
        self.tat[ident] = new_tat
        remaining = max(0, math.floor((now + self.tolerance - new_tat) / self.interval + 1e-9) + 1)
        return Decision(True, self.burst, remaining, new_tat - now, 0.0)


def make_limiter(cfg: QuotaConfig):
    limiter = _quota_limiter(cfg)
    return Lockout(limiter, cfg) if cfg.lockout_s is not None else limiter


def _quota_limiter(cfg: QuotaConfig):
    if cfg.algorithm == "none":
        return Unlimited()
    if cfg.algorithm == "token_bucket":
        return TokenBucket(cfg)
    if cfg.algorithm == "fixed_window":
        return FixedWindowEpoch(cfg) if cfg.alignment == "epoch" else FixedWindowFirstRequest(cfg)
    if cfg.algorithm == "sliding_log":
        return SlidingLog(cfg)
    # limits' sliding counter never counts a refusal; HAProxy's counts every request
    return HAProxyCounter(cfg) if cfg.counts_rejected else SlidingCounter(cfg)
