"""What a run's decisions look like (clumps of accepts, their spacing, the long-run admitted
rate, stated Retry-After), and the limits and windows read off it that the window families
propose from."""

from __future__ import annotations

import math

import numpy as np

from ..stream import Stream, runs

# A candidate window must be this many times the decision timing slack (see windows below).
MIN_WINDOW_SLACKS = 10


def nice(values, rel: float = 0.03) -> set[float]:
    """Each value, and the round numbers within `rel` of it (windows are usually whole)."""
    out = set()
    for v in values:
        if not (v and math.isfinite(v) and v > 0):
            continue
        out.add(round(v, 6))
        for step in (1.0, 0.5, 0.1):
            r = round(v / step) * step
            if r > 0 and abs(r - v) <= rel * v:
                out.add(round(r, 6))
    return out


def whole_near(values, rel: float = 0.3) -> set[float]:
    """Whole and half seconds within `rel` of each estimate: estimates read off a short run
    are a few percent off, and real windows are almost always whole seconds."""
    out = set()
    for v in values:
        if not (v and math.isfinite(v) and v > 0):
            continue
        for step in (1.0, 0.5):
            lo, hi = math.ceil(v * (1 - rel) / step), math.floor(v * (1 + rel) / step)
            out |= {round(k * step, 6) for k in range(max(lo, 1), hi + 1)}
    return out


def is_round(v: float) -> bool:
    """Whole or half seconds, or a rate of at most two significant digits."""
    if abs(v * 2 - round(v * 2)) < 1e-9:
        return True
    digits = f"{v:.2g}"
    return abs(float(digits) - v) < 1e-9


def observed_shape(streams: list[Stream]) -> dict:
    first_sizes, rest_sizes, spacings, rates, gaps, stated = [], [], [], [], [], []
    first_durations, reopen_spans, first_reopens, full_reopens = [], [], [], []
    stated_rates, step_rates = [], []
    for s in streams:
        starts, ends, sizes = runs(s)
        if len(sizes) == 0:
            continue
        # The first clump: the admissions decided before the client could know of any
        # refusal (its earliest reply). Requests sent together, as the probe's bursts are,
        # reach the server in an order the send times do not keep, so a refusal may sort
        # among them and cut the first run of admissions short (a bucket of 5 read as 2).
        first = int(sizes[0])
        if s.rejected.any():
            told = float(np.min(s.end[s.rejected]))
            first = max(first, int((s.passed & (s.t < told)).sum()))
        first_sizes.append(first)
        first_durations.append(float(ends[0] - starts[0]))
        rest_sizes += [int(x) for x in sizes[1:]]
        big = starts[sizes >= 2]
        if len(big) >= 2:
            spacings += list(np.diff(big))
        admitted = s.t[s.passed]
        later = admitted[int(sizes[0]):]
        if len(later) >= 2 and later[-1] > ends[0]:
            rates.append(len(later) / (later[-1] - ends[0]))
            gaps += list(np.diff(later))
        ra = s.retry_after[s.rejected]
        stated += list(ra[np.isfinite(ra)])
        # The first 429 after a run of accepts says when the quota reopens; for a window
        # anchored at that run's start, reopening minus start is the window.
        order = s.passed | s.rejected
        t_all, rej_all, ra_all = s.t[order], s.rejected[order], s.retry_after[order]
        stated_rates += _stated_rates(t_all, rej_all, ra_all)
        step_rates += _stated_step_rates(t_all, rej_all, ra_all)
        after = np.searchsorted(t_all, ends, "right")
        for n, (start, i) in enumerate(zip(starts, after)):
            if i < len(t_all) and rej_all[i] and np.isfinite(ra_all[i]):
                reopen_spans.append(t_all[i] + ra_all[i] - start)
                if n == 0:
                    first_reopens.append(reopen_spans[-1])
                elif sizes[n] >= sizes[0]:
                    # a later clump as full as the first began when the quota reopened: for a
                    # clock window, at a window's start (the first clump may begin mid-window)
                    full_reopens.append(reopen_spans[-1])
    return {"first": first_sizes, "rest": rest_sizes, "spacing": spacings, "rate": rates,
            "gaps": gaps, "stated": stated, "first_duration": first_durations,
            "reopen_span": reopen_spans, "first_reopen": first_reopens,
            "full_reopen": full_reopens, "stated_rate": stated_rates,
            "stated_step_rate": step_rates}


def _stated_rates(t: np.ndarray, rejected: np.ndarray, ra: np.ndarray) -> list[float]:
    """Admissions per second of stated reopening: between two refusals with k admissions
    between them, k over how far the reopening they state moved. A bucket's moves one
    interval per admission, a window's one window per limit; unlike the admitted rate, it
    does not depend on when the client came back (a probe's paced and burst steps read a
    bucket of 4/s as 4.4/s)."""
    stated = rejected & np.isfinite(ra)
    if stated.sum() < 2:
        return []
    admitted_before = np.cumsum(~rejected)[stated]
    reopen = (t + ra)[stated]
    k, moved = np.diff(admitted_before), np.diff(reopen)
    ok = (k >= 1) & (moved > 0)
    return [float(x) for x in k[ok] / moved[ok]]


def _stated_step_rates(t: np.ndarray, rejected: np.ndarray, ra: np.ndarray) -> list[float]:
    """As _stated_rates, counting every attempt between the refusals, refused ones too: a
    limiter that counts refusals moves its stated reopening one step per attempt (back to
    back refusals of a bucket of 2/s state waits 0.5 s apart)."""
    stated = rejected & np.isfinite(ra)
    if stated.sum() < 2:
        return []
    k = np.diff(np.flatnonzero(stated)).astype(float)
    moved = np.diff((t + ra)[stated])
    ok = moved > 0
    return [float(x) for x in k[ok] / moved[ok]]


def limits(shape: dict) -> list[int]:
    """Candidate limits: the first clump, the later clumps' typical and largest, each +-1."""
    out = {max(shape["first"])}
    if shape["rest"]:
        rest = np.asarray(shape["rest"])
        out |= {int(np.median(rest)), int(rest.max()), int(np.bincount(rest).argmax())}
    out |= {x + d for x in list(out) for d in (-1, 1)}
    return sorted(x for x in out if x >= 1)


def rate(shape: dict) -> float | None:
    """The long-run admitted rate after the first clump (median over streams)."""
    return float(np.median(shape["rate"])) if shape["rate"] else None


def windows(streams: list[Stream], shape: dict) -> list[float]:
    """Candidate windows: the clumps' spacing, limit / rate, the stated reopenings, and the
    whole and half seconds near them."""
    out = set()
    if shape["spacing"]:
        out |= nice([float(np.median(shape["spacing"]))])
    r = rate(shape)
    if r:
        out |= nice([lim / r for lim in limits(shape)])
    if shape["gaps"]:
        # The steady pace after the first clump: the long-run rate above also counts the wait
        # for the first window to refill, which a short run weighs heavily (a sliding
        # counter of 10 per 5 s read as 1.35/s, not 2/s, in a 12 s loop, and window 5 was
        # never tried).
        gap = float(np.median(shape["gaps"]))
        out |= nice([lim * gap for lim in limits(shape) if gap > 0])
    if shape["reopen_span"]:
        spans = np.asarray(shape["reopen_span"])
        out |= nice([float(np.median(spans)), float(spans.min())])
    # The first clump's reopening, stated after a full quota: for the window families, the
    # window itself (the later ones, after one admission each, say only when the next comes).
    out |= nice([float(np.median(shape["first_reopen"]))] if shape["first_reopen"] else [])
    out |= nice([stated_window(shape)] if shape["full_reopen"] else [])
    out |= whole_near(list(out))
    # A window within ten times the timing slack is timing noise, not a quota: a sliding
    # log of 1 per 1.2 ms "counting rejects" once beat the true token bucket on a loaded
    # machine by reading which requests happened to follow a slow reply.
    shortest = MIN_WINDOW_SLACKS * max(s.slack for s in streams)
    return sorted(w for w in out if w >= shortest)


def stated_window(shape: dict) -> float | None:
    """The window the stated waits say: after a later clump as full as the first (a clock
    window's first clump may have begun mid-window), or after any clump."""
    spans = shape["full_reopen"] or shape["reopen_span"]
    return float(np.median(spans)) if spans else None


def window_grid(streams: list[Stream], shape: dict) -> list[dict]:
    """Every (limit, window) pair the window families try, in limit then window order."""
    if "grid" not in shape:  # three families ask for it
        ws = windows(streams, shape)
        shape["grid"] = [{"limit": int(lim), "window_s": float(w)}
                         for lim in limits(shape) for w in ws]
    return [dict(p) for p in shape["grid"]]
