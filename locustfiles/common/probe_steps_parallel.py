"""The probe's steps that send requests together or on a schedule: pacing, the concurrency
ramp, the burst into a queue, the scope check. Their measurements go to probe_rules_parallel.
"""

from __future__ import annotations

import math
import time

import gevent

from .probe_hypotheses import HELD_S, Knowledge
from .probe_steps import LOOP_GAP_S, POLITE_MARGIN_S, Prober, Reply


def pace(p: Prober, k: Knowledge, name: str, factor: float) -> dict:
    rate = factor * (k.get("rate") or 1.0)
    span = min(max(2.0, 6 / rate), 5.0)
    # from an empty bucket, at the moment it refills one token: the first request takes it,
    # then one every 1/rate. The bucket is empty when the last request sent was refused (the
    # step before ended so); else it is taken until refused. Where refusals count, each one
    # sent to empty it costs a token's time, so none is sent when none is needed.
    reopens = p.stated_reopening()
    if reopens is None:
        emptied = p.until_refused(name, int(k.get("burst") or 1) + 3)
        if emptied and emptied[-1].refused:
            reopens = p.stated_reopening() or emptied[-1].recv + 1 / rate
    if reopens is not None:
        p.sleep_until(reopens + POLITE_MARGIN_S)
    start, gs, i = time.time() + (0.0 if reopens is not None else 1 / rate), [], 0
    while i / rate < span:
        p.sleep_until(start + i / rate)
        gs.append(gevent.spawn(p.send, name))
        i += 1
    replies = joined(gs)
    return {"sent": len(replies), "admitted": sum(r.ok for r in replies), "rate_per_s": rate}


def concurrency_ramp(p: Prober, k: Knowledge) -> dict:
    levels, caps, most = [], [], 0
    for n in (1, 2, 3, 4, 6, 8, 12, 16):
        most = n
        got = p.together("concurrency_ramp", n)
        ok = sum(r.ok for r in got)
        levels.append(f"{n}->{ok}")
        if ok < n:
            caps.append(ok)
            if len(caps) == 2:
                break
    return {"levels": ", ".join(levels), "cap": max(caps) if caps else None, "most": most}


def excess(wave: int, most: int) -> int:
    """The burst into a queue: twice a wave, within --burst-max."""
    return min(2 * wave, most)


def shaping_excess(p: Prober, k: Knowledge, n: int) -> dict:
    """n at once (the caller keeps it within --burst-max) after the queue drained."""
    held = (k.get("slowest") or 2.0) + 1.0  # the burst's longest hold
    gevent.sleep(min(held, max(0.0, p.left())))  # the queue drains, the bucket refills
    got = p.together("shaping_excess", n)
    base = min((r.latency for r in got if r.ok), default=0.0)
    ok = [r for r in got if r.ok]
    queued = [r for r in ok if r.latency - base > HELD_S]
    return {"sent": len(got), "served": len(ok) - len(queued), "queued": len(queued),
            "refused": sum(r.refused for r in got),
            "max_delay_s": max((r.latency - base for r in ok), default=0.0)}


def scope_uneven(p: Prober, k: Knowledge) -> dict:
    """This key over its limit, then one request on every other key at once."""
    this_refused = False
    if k.family in ("concurrency", "shaping"):
        # over a cap or a queue only while requests are in flight together
        over = int(k.get("concurrency") or 1) + 1 if k.family == "concurrency" else \
            int(k.get("burst") or 1) + int(k.get("queue") or 0) + 2
        mine = [gevent.spawn(p.send, "scope_uneven") for _ in range(over)]
        gevent.sleep(0.02)
        others = _others(p)
        this_refused = any(r.refused for r in joined(mine))
    else:
        for _ in range(3 * int(k.get("burst") or 1) + 5):
            if p.next("scope_uneven").refused:
                this_refused = True
                break
        others = _others(p)
    base = k.finite("base_latency") or 0.0
    # behind a queue, an admission held as long as this key's is the same queue's
    served = [r for r in others if r.ok and (k.family != "shaping" or
                                             r.latency - base <= HELD_S)]
    return {"this_refused": this_refused, "others": len(others), "others_admitted": len(served)}


# How long before another key's stated reopening its loop starts, and how long after it the
# loop gives up: the boundary is found to within a loop's gap.
EARLY_S = 0.25
LATE_S = 1.0


def clock_phase(p: Prober, k: Knowledge) -> dict:
    """Every other key at once: to its limit, then requests every LOOP_GAP_S from just
    before its stated reopening until one is admitted; each key's boundary (the middle of
    its last refusal and that admission), where its windows begin."""
    return {"boundaries": [b for b in joined([gevent.spawn(_boundary, p, key, k)
                                              for key in p.others]) if b is not None]}


def _boundary(p: Prober, key: str, k: Knowledge) -> float | None:
    last = None
    for _ in range(int(k.get("burst") or 1) + 3):
        r = p.send("clock_phase", key=key)
        if r.refused:
            last = r
            break
    if last is None or math.isnan(last.wait):  # not refused, or no stated wait to aim at
        return None
    wait = last.wait
    p.sleep_until(last.recv + wait - EARLY_S)
    end = last.recv + wait + LATE_S
    while time.time() < end:
        r = p.send("clock_phase", key=key)
        if r.ok:
            return (last.sent + r.sent) / 2
        if r.refused:
            last = r
        gevent.sleep(LOOP_GAP_S)
    return None


def _others(p: Prober) -> list[Reply]:
    return joined([gevent.spawn(p.send, "scope_uneven", key=key) for key in p.others])


def joined(gs: list) -> list[Reply]:
    """The replies of sends spawned together; a send that failed (the budget's end, the cap,
    a fault) ends the step with it, as Prober.together does: a reply dropped silently would
    read as fewer sent."""
    gevent.joinall(gs)
    for g in gs:
        if g.exception is not None:
            raise g.exception
    return [g.value for g in gs]
