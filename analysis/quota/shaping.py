"""Shaping: a token bucket (rate r, bucket b) whose excess requests are held and answered late
instead of refused; only beyond its queue (more than `size` held at once, or a wait over
`max_delay_s`) is a request refused, at once.

What a run shows of it is the latency of the admitted requests: an admitted request's time to
its first byte, above the quickest the run saw (the generation alone), is how long it was
held. Held requests are let in on the bucket's schedule, one every 1/r once the bucket is
empty, so each hold follows from the arrivals before it. The replay therefore reproduces an
admitted request only when the model holds it as long as it was held (within
hold_tolerance): a plain bucket would have refused it, a concurrency cap let it in at once.

The summary calls it a token bucket (`ALGORITHM`) with `queueing` set. The queue's size and
longest wait are known only when it overflowed (429s while requests were held); otherwise
they are reported as not reached, with the most held at once and the longest hold as lower
bounds.
"""

from __future__ import annotations

import math

import numpy as np

from . import shape as shapes
from ..stream import Stream, before

NAME = "shaping"
ALGORITHM = "token_bucket"  # what summary.json's quota.algorithm says; `queueing` says the rest
PENALTY = 0.002
HOLDS = True  # its replay judges how long an admission was held (score.reproduced)
HELD_MIN = 3  # held admissions before shaping is worth trying
HELD_SHARE = 0.2  # ... and this share of the admissions after each stream's first
EXPLAINED = 0.9  # share of the holds a bucket must explain before they count against others
RELEASE_NOISE_S = 0.03  # a release's time is read through the generation's jitter


def generation_s(streams: list[Stream]) -> float | None:
    """The quickest admitted reply's time to first byte, from the decision time: the run's
    generation (and network) time with no hold in it."""
    quickest = [float(np.min(s.first_byte[s.ok] - s.t[s.ok])) for s in streams
                if s.first_byte is not None and s.ok.any()]
    return max(0.0, min(quickest)) if quickest else None


def held_s(s: Stream, generation: float) -> np.ndarray:
    """How long each admitted request was held before its answer (NaN for the others)."""
    if s.first_byte is None:
        return np.full(len(s.t), np.nan)
    return np.where(s.ok, np.maximum(0.0, s.first_byte - s.t - generation), np.nan)


def held_over_s(generation: float) -> float:
    """A hold longer than this is not the generation's own jitter (10% on the reference
    gateway) nor a loaded machine's stall of a few tens of ms."""
    return max(0.1, 0.5 * generation)


def hold_tolerance(rate_per_s: float) -> float:
    """How far an observed hold may be from the model's: timing noise, well under one
    token's interval for the rates a tight loop can measure."""
    return max(0.08, 0.25 / rate_per_s)


def is_held(streams: list[Stream], generation: float | None) -> bool:
    """Enough admitted requests were held (answered late, not refused) to try shaping."""
    if generation is None:
        return False
    held = later = 0
    for s in streams:
        h = held_s(s, generation)[s.ok]
        held += int((h > held_over_s(generation)).sum())
        later += max(0, len(h) - 1)
    return held >= HELD_MIN and held >= HELD_SHARE * later


def mark_held(readings: list[list[Stream]]) -> None:
    """Set every stream's `held` (admissions held before their answer) when a shaped bucket
    explains the holds in one of `readings` (the same run's streams per key, for all keys,
    ...), else leave them None: the other families are then judged on decisions alone. A
    hold is the request's, whatever the scope that explains it; holds no bucket explains
    (generations of varying length, a stalled server) are no evidence against a family that
    answers at once."""
    everyone = [s for streams in readings for s in streams]
    for s in everyone:
        s.held = None
    generation = generation_s(everyone)
    if not any(_explained(streams, generation) for streams in readings):
        return
    for s in everyone:
        s.held = held_s(s, generation) > held_over_s(generation)


def _explained(streams: list[Stream], generation: float | None) -> bool:
    if not is_held(streams, generation):
        return False
    held = [held_s(s, generation) > held_over_s(generation) for s in streams]
    total = sum(int(h.sum()) for h in held)
    for p in propose(streams, {}):
        tol = hold_tolerance(p["rate_per_s"])
        right = sum(int((np.abs(waits(p, s, s.t, s.t) - held_s(s, generation)) <= tol)[h].sum())
                    for s, h in zip(streams, held))
        if right >= EXPLAINED * total:
            return True
    return False


def _queue_seen(s: Stream, hold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(for each admitted request, the requests held at its arrival, itself included when it
    was held; for each refusal, the requests held at its arrival)."""
    release = np.where(s.ok, s.t + np.nan_to_num(hold), s.t)
    # held at t[i]: admissions before it whose release is later (an admission after it is
    # released no sooner than it arrives), by more than a release's timing noise
    out = before(s.passed) - np.searchsorted(np.sort(release[s.passed]), s.t + RELEASE_NOISE_S,
                                             "left")
    held_at = np.maximum(0, out)
    self_held = s.ok & (np.nan_to_num(hold) > 0)
    return (held_at + self_held)[s.passed], held_at[s.rejected]


def propose(streams: list[Stream], shape: dict) -> list[dict]:
    generation = generation_s(streams)
    if not is_held(streams, generation):
        return []
    over = held_over_s(generation)
    spacing, unheld, held_most, longest, overflow_at = [], [], 0, 0.0, []
    for s in streams:
        hold = held_s(s, generation)
        h_ok, t_ok = hold[s.ok], s.t[s.ok]
        held = h_ok > over
        if not s.ok.any():
            continue
        release = t_ok + h_ok
        both = held[1:] & held[:-1]
        spacing += list(np.diff(release)[both])
        unheld.append(int(np.argmax(held)) if held.any() else len(held))
        seen, refused = _queue_seen(s, np.where(hold > over, hold, 0.0))
        held_most = max(held_most, int(seen.max()) if len(seen) else 0)
        longest = max(longest, float(h_ok.max()))
        overflow_at += [int(x) for x in refused if x >= 1]
    if not spacing:
        return []
    interval = float(np.median(spacing))
    rates = shapes.nice([1 / interval], rel=0.05) if interval > 0 else set()
    first = max(unheld)
    queues: list[dict] = [{"size": None, "max_delay_s": None}]
    if overflow_at:  # the queue was full at those 429s: its size, or its longest wait
        sizes = {held_most, int(np.median(overflow_at))}
        sizes |= {n + d for n in list(sizes) for d in (-1, 1)}
        queues = [{"size": n, "max_delay_s": None} for n in sorted(sizes) if n >= 1]
        queues += [{"size": None, "max_delay_s": d} for d in sorted(shapes.nice([longest]))]
    out = []
    for r in sorted(rates):
        refill = int(round(r * generation * first))
        for b in range(max(1, first - refill - 1), first + 2):
            for q in queues:
                out.append({"rate_per_s": float(r), "burst": b, **q,
                            "held_most": held_most, "longest_wait_s": round(longest, 3),
                            "generation_s": round(generation, 4)})
    return out


def longest_wait_s(p: dict) -> float:
    """The longest a request is held before the model refuses it (inf: never refused)."""
    size = p["size"] * (1 / p["rate_per_s"]) if p.get("size") else math.inf
    return min(size, p.get("max_delay_s") or math.inf)


def waits(p: dict, s: Stream, t: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The model's wait for each event at t[i], behind the admissions before it (read at h):
    each admitted arrival moves the bucket's schedule on by one interval."""
    interval = 1 / p["rate_per_s"]
    tolerance = (p["burst"] - 1) * interval
    a = np.sort(h[s.passed], kind="stable")
    if not len(a):
        return np.zeros(len(t))
    j = np.arange(len(a))
    # the schedule after each admission: (j + 1) intervals past the latest restart
    after = (j + 1) * interval + np.maximum.accumulate(a - j * interval)
    k = before(s.passed)
    ahead = np.where(k > 0, after[np.maximum(k - 1, 0)], -np.inf)
    return np.maximum(0.0, ahead - tolerance - t)


def replay(p: dict, s: Stream, t: np.ndarray, h: np.ndarray) -> np.ndarray:
    w = waits(p, s, t, h)
    admitted = w <= longest_wait_s(p) + 1e-9
    generation = p.get("generation_s")
    if generation is None or s.first_byte is None:
        return admitted
    held_right = np.abs(w - held_s(s, generation)) <= hold_tolerance(p["rate_per_s"])
    return admitted & (~s.ok | held_right)


def reopens(p: dict, s: Stream, rej: np.ndarray) -> np.ndarray:
    # let in again (held) once the wait is down to the longest the queue holds
    w = waits(p, s, s.t, s.t)[rej]
    return s.t[rej] + w - longest_wait_s(p)


class Online:
    """A request the bucket has no token for is let in (held) while its wait is within the
    queue's longest; the simulator sees it as admitted."""

    __slots__ = ("interval", "tolerance", "longest", "tat")

    def __init__(self, p: dict) -> None:
        self.interval = 1 / p["rate_per_s"]
        self.tolerance = (p["burst"] - 1) * self.interval
        self.longest = longest_wait_s(p)
        self.tat = -math.inf

    def admit(self, t: float, end: float = math.inf) -> tuple[bool, float]:
        tat = max(self.tat, t)
        wait = max(0.0, tat - self.tolerance - t)
        if wait > self.longest + 1e-9:
            return False, wait - self.longest
        self.tat = tat + self.interval
        return True, 0.0


def online(p: dict) -> Online:
    return Online(p)


def queueing(p: dict) -> dict:
    """summary.json's quota.queueing: size and max_delay_s when the queue overflowed (else
    null, with `reached` false), and what the run saw of it either way."""
    return {"size": p.get("size"), "max_delay_s": p.get("max_delay_s"),
            "reached": bool(p.get("size") or p.get("max_delay_s")),
            "held_most": p.get("held_most"), "longest_wait_s": p.get("longest_wait_s")}


def fields(p: dict) -> dict:
    return {"counts_rejected": False, "limit": p["burst"], "burst": p["burst"],
            "rate_per_s": p["rate_per_s"], "queueing": queueing(p)}


def from_fields(q) -> dict:
    seen = getattr(q, "queueing", None) or {}
    return {"rate_per_s": q.rate_per_s, "burst": q.burst, "size": seen.get("size"),
            "max_delay_s": seen.get("max_delay_s"), "held_most": seen.get("held_most"),
            "longest_wait_s": seen.get("longest_wait_s")}


def short(p: dict) -> str:
    queue = f"queue {p['size']}" if p.get("size") else \
        f"held up to {p['max_delay_s']:g} s" if p.get("max_delay_s") else "queue not reached"
    return f"{p['rate_per_s']:g}/s burst {p['burst']}, {queue}"


def describe(p: dict, scope: str) -> str:
    head = (f"token bucket with shaping: {p['rate_per_s']:g} requests/s sustained, bursts of "
            f"{p['burst']}{scope}; excess requests are held and answered late, not refused")
    if p.get("size"):
        return f"{head}, up to {p['size']} at once (a request beyond them is refused)"
    if p.get("max_delay_s"):
        return (f"{head}, for up to {p['max_delay_s']:g} s (a request that would wait "
                "longer is refused)")
    return (f"{head}; the queue never overflowed (no 429), so its size and longest wait were "
            f"not reached: at least {p.get('held_most')} held at once and "
            f"{p.get('longest_wait_s'):.2f} s waited were seen; a loop with more requests "
            "in flight per key, or `make probe`, would find them")
