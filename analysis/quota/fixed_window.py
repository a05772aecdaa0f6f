"""Fixed window: at most `limit` per window of `window_s`, the windows either on the clock
(`alignment="epoch"`: they begin at `phase_s` + k * window_s since the Unix epoch) or anchored
at the first request after the last window ended (`"first_request"`).

An epoch window's `phase_s` is one number for every key, or `"per_key"`: each key's own phase,
read off its reopenings (phases.py), as when a gateway derives it from a hash of the key."""

from __future__ import annotations

import math

import numpy as np

from . import phases, shape as shapes
from ..stream import Stream, passed_before, remembered, since

NAME = "fixed_window"
PENALTY = 0.0


def propose(streams: list[Stream], shape: dict) -> list[dict]:
    out = []
    grid = shapes.window_grid(streams, shape)
    shifted = phases.propose(streams, sorted({p["window_s"] for p in grid}))
    for base in grid:
        out += [base | {"alignment": "first_request"}, base | {"alignment": "epoch"}]
        out += [base | {"alignment": "epoch", "phase_s": ph}
                for ph in shifted.get(base["window_s"], [])]
    return out


def phase_of(p: dict, s: Stream) -> float:
    """The epoch windows' phase for stream `s` (0 for none; a key's own for "per_key")."""
    ph = p.get("phase_s") or 0.0
    return phases.own(s, p["window_s"]) if ph == "per_key" else float(ph)


def replay(p: dict, s: Stream, t: np.ndarray, h: np.ndarray) -> np.ndarray:
    if p.get("alignment") == "epoch":
        return _epoch(s, t, h, p["limit"], p["window_s"], phase_of(p, s))
    return _first_request(s, t, h, p["limit"], p["window_s"])


def _epoch(s, t, h, limit, window_s, phase=0.0):
    fullest = remembered(s, (NAME, "fullest", window_s, phase), t, h,
                         lambda: _fullest(h[s.passed] - phase, window_s))
    if fullest > limit:  # some admissions are read in the next window: limit by limit
        return _epoch_counts(s, t, h, limit, window_s, phase) < limit
    # no window holds more than any limit tried here: the counts are every limit's
    return remembered(s, (NAME, "epoch", window_s, phase), t, h,
                      lambda: _epoch_counts(s, t, h, math.inf, window_s, phase)) < limit


def _fullest(h: np.ndarray, window_s: float) -> int:
    return int(np.unique(np.floor(h / window_s), return_counts=True)[1].max()) if len(h) else 0


def _epoch_counts(s, t, h, limit, window_s, phase=0.0):
    # on the clock shifted by the phase, the windows begin at multiples of the window
    start = np.floor((t - phase) / window_s) * window_s + phase
    admitted = epoch_admissions(h[s.passed] - phase, s.end[s.passed] - phase, limit,
                                window_s) + phase
    return since(passed_before(s), admitted, start)


def _first_request(s, t, h, limit, window_s):
    starts_arr, admitted = anchored_window_starts(s, h, limit, window_s)
    if not len(starts_arr):
        return np.ones(len(t), bool)
    idx = np.maximum(np.searchsorted(starts_arr, t, "right") - 1, 0)
    start = starts_arr[idx]
    inside = (t >= start) & (t < start + window_s)
    return ~inside | (since(passed_before(s), admitted, start) < limit)


def epoch_admissions(h: np.ndarray, end: np.ndarray, limit: int, window_s: float) -> np.ndarray:
    """Sorted admission times for clock-aligned windows, each read where it can have been.

    A window that already holds `limit` admissions has no room for another: one read there
    was decided in the next window, if its reply came after that window began (a stalled
    server decides late; the reply's arrival bounds when). Left where it was read, it would
    make the next window look a whole admission short and every refusal there look wrong.
    """
    order = np.argsort(h, kind="stable")
    out = h[order].copy()
    if len(out) == 0 or np.unique(np.floor(out / window_s), return_counts=True)[1].max() <= limit:
        return out  # no window holds more than it can: nothing was read early
    counts: dict[int, int] = {}
    times = out.tolist()  # Python floats: the same arithmetic, faster per step
    for i, e in enumerate(end[order].tolist()):
        w = math.floor(times[i] / window_s)
        if counts.get(w, 0) >= limit and (w + 1) * window_s <= e:
            w += 1
            times[i] = w * window_s
        counts[w] = counts.get(w, 0) + 1
    return np.sort(np.array(times, dtype=float))


def _window_anchors(admitted: np.ndarray, limit: int, window_s: float,
                    slack: float) -> np.ndarray:
    """Positions in the sorted `admitted` of the admissions that begin a window: the first
    admission after the last window ended.

    A tight loop re-hits just as a window ends, so an admission can read a hair (up to
    `slack`) before the end; if the window is already full it can only be the next one's first.
    """
    anchors = []
    current, count = -math.inf, 0
    for i, a in enumerate(admitted.tolist()):  # Python floats: the same sums, faster
        if a >= current + window_s or (count >= limit and a >= current + window_s - slack):
            current, count = a, 0
            anchors.append(i)
        count += 1
    return np.asarray(anchors, dtype=int)


def anchored_window_starts(s: Stream, h: np.ndarray, limit: int,
                           window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(window starts, sorted admission times) for windows anchored at the first request, the
    admissions read at `h` and each anchor moved forward to what the refusals prove.

    A refusal at r proves its window was still open then: it began after r - window_s. The
    anchor was decided somewhere between its send and what its reply allows (`t_latest`),
    which on a loaded machine can be far past the cap on ordinary late readings (a key's
    first request met the gateway 115 ms after it was sent, its reply 189 ms): read early,
    the window ends early and every refusal before the true reopening looks wrong, which a
    longer window explains better. So the anchor is read as late as the refusals in its
    window need, never past its reply nor past the window's next admission (which the server
    decided after it). Refusals only move a window later: an admission the model refuses is
    not excused by this.
    """
    admitted, latest, refused = remembered(s, (NAME, "anchored"), h, h,
                                           lambda: _anchoring(s, h))
    anchors = _window_anchors(admitted, limit, window_s, s.slack)
    if not len(anchors):
        return np.array([], float), admitted.copy()
    admitted = admitted.copy()
    starts = admitted[anchors].copy()
    for k, i in enumerate(anchors):
        nxt = admitted[anchors[k + 1]] if k + 1 < len(anchors) else math.inf
        last = np.searchsorted(refused, nxt, "left") - 1
        if last < 0 or refused[last] < starts[k]:
            continue
        bound = latest[i]
        if i + 1 < len(admitted) and (k + 1 == len(anchors) or i + 1 < anchors[k + 1]):
            bound = min(bound, admitted[i + 1])
        # a microsecond past: epoch-second floats resolve ~0.2 µs
        moved = min(max(starts[k], refused[last] - window_s + 1e-6), bound)
        if moved > starts[k]:
            starts[k] = admitted[i] = moved
    return starts, admitted


def _anchoring(s: Stream, h: np.ndarray):
    """(admissions read at `h` in time order, the latest each can have been decided, the
    refusals' times sorted): what every limit and window's anchors are read from."""
    order = np.argsort(h[s.passed], kind="stable")
    latest = (s.t_latest if s.t_latest is not None else s.t_late)[s.passed][order]
    return h[s.passed][order], latest, np.sort(s.t[s.rejected])


def reopens(p: dict, s: Stream, rej: np.ndarray) -> np.ndarray:
    t, w = s.t[rej], p["window_s"]
    if p.get("alignment") == "epoch":
        ph = phase_of(p, s)
        return (np.floor((t - ph) / w) + 1) * w + ph
    starts = anchored_window_starts(s, s.t, p["limit"], w)[0]
    if not len(starts):
        starts = np.array([np.nan])
    return starts[np.maximum(np.searchsorted(starts, t, "right") - 1, 0)] + w


class Online:
    """One key's limiter: a "per_key" phase is that of a key the run did not see, taken as 0."""

    __slots__ = ("limit", "window_s", "epoch", "phase", "start", "count")

    def __init__(self, p: dict) -> None:
        self.limit, self.window_s = p["limit"], p["window_s"]
        self.epoch = p.get("alignment") == "epoch"
        ph = p.get("phase_s") or 0.0
        self.phase = 0.0 if ph == "per_key" else float(ph)
        self.start, self.count = -math.inf, 0

    def admit(self, t: float, end: float = math.inf) -> tuple[bool, float]:
        w = self.window_s
        if self.epoch:
            k = math.floor((t - self.phase) / w) * w + self.phase
            if k != self.start:
                self.start, self.count = k, 0
        elif t >= self.start + w:
            self.start, self.count = t, 0
        if self.count < self.limit:
            self.count += 1
            return True, 0.0
        return False, self.start + w - t


def online(p: dict) -> Online:
    return Online(p)


def fields(p: dict) -> dict:
    # counts_rejected: a refusal in a full fixed window cannot move its end, so counting it
    # changes no decision; the fit reports the plain reading
    epoch = p.get("alignment") == "epoch"
    ph = p.get("phase_s") or 0.0
    return {"counts_rejected": False, "limit": p["limit"], "window_s": p["window_s"],
            "rate_per_s": p["limit"] / p["window_s"], "burst": p["limit"],
            "alignment": p.get("alignment"),
            "phase_s": (None if ph == "per_key" else float(ph)) if epoch else None}


def from_fields(q) -> dict:
    out = {"limit": q.limit, "window_s": q.window_s, "alignment": q.alignment}
    ph = getattr(q, "phase_s", None)
    if q.alignment == "epoch" and (isinstance(ph, dict) or ph):
        out["phase_s"] = "per_key" if isinstance(ph, dict) else float(ph)
    return out


def short(p: dict) -> str:
    return f"{p['limit']} per {p['window_s']:g} s"


def describe(p: dict, scope: str) -> str:
    where = {"epoch": ", aligned to the clock", "first_request":
             ", anchored at the first request"}.get(p.get("alignment") or "", "")
    ph = p.get("phase_s")
    if p.get("alignment") == "epoch" and ph == "per_key":
        where += " with each key's own phase (windows start at a phase of its own + k × "\
            f"{p['window_s']:g} s since the epoch)"
    elif p.get("alignment") == "epoch" and ph:
        where += f" with a phase of {float(ph):.2f} s (windows start at {float(ph):.2f} s + "\
            f"k × {p['window_s']:g} s since the epoch)"
    return f"{p['limit']} requests per {p['window_s']:g} s{scope}, fixed window{where}"
