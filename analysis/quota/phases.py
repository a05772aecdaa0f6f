"""Where clock-aligned windows begin: the phase of epoch windows (window k covers
[phase + k*W, phase + (k+1)*W) seconds since the Unix epoch), read off a stream's reopenings.

A quota that reopens between a refusal and the admission after it began a window there: the
boundary lies in (that refusal, that admission], so its midpoint, modulo W, reads the phase to
within half the gap (a tight loop: a request's time). Phases are circular (0 and W are the
same), so they are averaged on the circle.
"""

from __future__ import annotations

import math

import numpy as np

from ..stream import Stream, remembered

# Keys whose phases are this close (seconds, on the circle) share one phase; a phase this close
# to 0 is the plain epoch window's, which is tried anyway.
SAME_PHASE_S = 0.15


def boundaries(s: Stream) -> tuple[np.ndarray, np.ndarray]:
    """(midpoint, half-width) of each refusal-to-admission gap of `s`: where windows began."""
    def compute():
        order = s.passed | s.rejected
        t, rej = s.t[order], s.rejected[order]
        i = np.flatnonzero(rej[:-1] & ~rej[1:])  # a refusal, then an admission
        return (t[i] + t[i + 1]) / 2, (t[i + 1] - t[i]) / 2
    return remembered(s, ("phases",), s.t, s.t, compute)


def circular_mean(x: np.ndarray, w: float, weights: np.ndarray | None = None) -> float:
    angle = 2 * math.pi * (np.asarray(x, float) % w) / w
    weights = np.ones(len(angle)) if weights is None else weights
    a = math.atan2(float(np.sum(weights * np.sin(angle))), float(np.sum(weights * np.cos(angle))))
    return (a / (2 * math.pi) * w) % w


def distance(a: float, b: float, w: float) -> float:
    d = abs(a - b) % w
    return min(d, w - d)


def within_all(mid: np.ndarray, half: np.ndarray, w: float, around: float) -> float | None:
    """The middle of the part of the circle that every gap (mid +- half) covers, reading each
    gap's position from `around` (a phase near them all); None when they share none. A
    phase there puts every reopening the run saw on the right side of its boundary, which an
    average of the gaps' midpoints need not (one narrow gap beside wider ones)."""
    off = (np.asarray(mid, float) - around + w / 2) % w - w / 2
    lo, hi = float(np.max(off - half)), float(np.min(off + half))
    return (around + (lo + hi) / 2) % w if lo <= hi else None


def own(s: Stream, w: float) -> float:
    """The stream's own phase for windows of `w` (0 when it never reopened): within every
    gap when they share a part, else their average, the narrowest gaps (which read it best)
    weighted by 1 / their width."""
    def compute():
        mid, half = boundaries(s)
        if not len(mid):
            return 0.0
        mean = circular_mean(mid, w, 1 / np.maximum(half, 1e-4))
        inside = within_all(mid, half, w, mean)
        return round(mean if inside is None else inside, 4)
    return remembered(s, ("own phase", w), s.t, s.t, compute)


def propose(streams: list[Stream], windows: list[float]) -> dict[float, list]:
    """Per window: the phases to try beside 0: the keys' common phase when they agree, or
    "per_key" when they do not (as when a gateway hashes the key into the phase)."""
    out: dict[float, list] = {}
    seen = [s for s in streams if len(boundaries(s)[0])]
    if not seen:
        return out
    for w in windows:
        each = [own(s, w) for s in seen]
        common = circular_mean(np.array(each), w)
        inside = within_all(*map(np.concatenate, zip(*map(boundaries, seen))), w, common)
        common = common if inside is None else inside
        if all(distance(p, common, w) <= SAME_PHASE_S for p in each):
            if distance(common, 0.0, w) > SAME_PHASE_S / 3:
                out[w] = [round(common, 4)]
        else:
            out[w] = ["per_key"]
    return out


def by_key(keyed: list[tuple[str, Stream]], w: float) -> dict[str, float]:
    """Each key's phase (for summary.json when the keys differ)."""
    return {key: float(own(s, w)) for key, s in keyed}
