"""The window limiters written here, small, on `now`: the fixed window aligned to the clock
(with a phase) and the sliding counter that counts every request, HAProxy's.

Epoch windows: window k of an identity covers [phase + k*W, phase + (k+1)*W) seconds since
the Unix epoch. With `phase_s = "key_hash"` the phase is `key_phase_s(key, W)`: the SHA-256
digest of the key's UTF-8 bytes read as a big-endian integer, modulo W*1000, in milliseconds.

HAProxy's `http_req_rate(W)` (a stick-table freq_ctr; read from haproxy's
include/haproxy/freq_ctr.h, update_freq_ctr_period and read_freq_ctr_period, and
src/freq_ctr.c, update_freq_ctr_period_slow and _freq_ctr_total_from_values, at commit
50872daa of 2026-08):
- a key's state is (period start, previous period's count, current period's count); its first
  request starts its first period;
- each request, admitted or not, is counted before the decision: within W of the period start
  it adds to the current count; otherwise the period start moves on by exactly W and the
  current count becomes the previous one, unless the request is 2W or more after the old
  start, when the previous count is zeroed and the period restarts at the request;
- the estimate is floor(previous * (start + W - now) / W + current), the request itself
  included; the request is refused when it is above the limit (`gt`, as the `deny` rule of
  limiters/haproxy.py). HAProxy ticks in whole milliseconds (and keeps period starts on
  even ones); this runs on float seconds.
HAProxy's 429 states no wait. Its next_event_delay_period() (src/listener.c paces new
connections and sessions with it, src/flt_bwlim.c bandwidth; no stick-table deny uses it)
estimates one as (total - limit*W) / limit, the excess spread at the limit's rate, which is
not when the estimate next admits; freq_ctr_remain_period() is the room left, limit minus the
estimate; swrate_* are per-event averages, another thing. The wait stated here is the exact
reopening of the rule above (haproxy_reopening).
"""

from __future__ import annotations

import hashlib
import math

from .decision import Decision
from .profile import QuotaConfig

# The refusal rules below are strict inequalities: the first admitting moment is just after
# the boundary, so the stated wait goes a microsecond past it.
PAST = 1e-6


def key_phase_s(key: str, window_s: int) -> float:
    digest = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest(), "big")
    return (digest % (window_s * 1000)) / 1000


class FixedWindowEpoch:
    """Windows on phase_s + k*window_s since the Unix epoch."""

    def __init__(self, cfg: QuotaConfig) -> None:
        self.limit = cfg.limit
        self.window = float(cfg.window_s)
        self.by_key = cfg.phase_s == "key_hash"
        self.phase = 0.0 if self.by_key else float(cfg.phase_s)
        self.state: dict[str, tuple[int, int, float]] = {}  # ident -> (window, count, phase)

    def hit(self, ident: str, now: float) -> Decision:
        held = self.state.get(ident)
        phase = held[2] if held else (key_phase_s(ident, int(self.window)) if self.by_key
                                      else self.phase)
        index = math.floor((now - phase) / self.window)
        count = held[1] if held and held[0] == index else 0
        reset = phase + (index + 1) * self.window - now
        allowed = count < self.limit
        count += 1  # refusals too: they never move the window's end
        self.state[ident] = (index, count, phase)
        return Decision(allowed, self.limit, max(0, self.limit - count), reset,
                        0.0 if allowed else reset)


class HAProxyCounter:
    """sliding_counter with counts_rejected: HAProxy's estimate (module docstring)."""

    def __init__(self, cfg: QuotaConfig) -> None:
        self.limit = cfg.limit
        self.window = float(cfg.window_s)
        self.state: dict[str, tuple[float, int, int]] = {}  # ident -> (start, previous, current)

    def hit(self, ident: str, now: float) -> Decision:
        w = self.window
        start, prev, cur = self.state.get(ident, (-math.inf, 0, 0))
        if now - start >= 2 * w:
            start, prev, cur = now, 0, 0
        elif now - start >= w:
            start, prev, cur = start + w, cur, 0
        cur += 1
        self.state[ident] = (start, prev, cur)
        left = start + w - now
        estimate = math.floor(prev * left / w + cur)
        if estimate <= self.limit:
            return Decision(True, self.limit, self.limit - estimate, left, 0.0)
        wait = haproxy_reopening(prev, cur, left, w, self.limit)
        return Decision(False, self.limit, 0, left, wait)


def haproxy_reopening(prev: int, cur: int, left: float, window: float, limit: int) -> float:
    """Seconds until a request is admitted, nothing being sent in between, from the state after
    the refusal was counted. That request is counted first, so it is admitted when
    prev * left' / W + cur < limit in this period, or cur * left' / W < limit in the next one
    (cur has become the previous count), left' being what is left of the period then."""
    if cur < limit and prev:
        return max(0.0, left - (limit - cur) * window / prev) + PAST
    return left + window - limit * window / cur + PAST
