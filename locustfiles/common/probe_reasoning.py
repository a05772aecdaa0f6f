"""The probe's choice of the next step: the one that best separates the hypotheses left
(probe_rules says what each step rules out). Pure: no I/O, no clock, no Locust."""

from __future__ import annotations

import math

from .probe_hypotheses import FIXED_EPOCH, REFILLING, WINDOWS, Knowledge, _fmt, lockout_words


def next_step(k: Knowledge) -> str | None:
    """The step that best separates what is left; None when nothing left can be separated."""
    done = set(k.done)
    if "idle_burst" not in done:
        return "idle_burst"
    fam = k.families
    if fam == {"none"}:
        return None
    if "shaping" in fam and len(fam) <= 2 and "shaping_excess" not in done:
        return "shaping_excess"
    if k.tight_runs == 0 and not fam <= {"shaping", "none"}:
        return "tight"
    if fam == {"concurrency"}:
        if "concurrency_ramp" not in done:
            return "concurrency_ramp"
        return "scope_uneven" if k.scope is None and "scope_uneven" not in done else None
    if fam <= {"shaping"}:
        return "scope_uneven" if k.scope is None and "scope_uneven" not in done else None
    if k.scope is None and "scope_uneven" not in done:
        return "scope_uneven"
    if "polite" not in done:
        return "polite"
    if k.get("polite_in") == 0 and "reopen_gap" not in done:
        return "reopen_gap"
    if k.tight_runs == 1:
        return "tight"  # how much the reopened quota lets in
    if fam & WINDOWS and not k.split_tried:
        return "split"
    if k.get("split_kept_out") and len(fam & WINDOWS) > 1 and k.done.count("split") == 1:
        return "split"  # again, waiting as told: refusals extended a lockout the first time
    if fam == REFILLING and k.bursts == 1:
        return "idle_burst"  # again, after refill_idle_s: a bucket or a sliding counter
    if fam == {"sliding_counter"} and k.modifiers["counts_rejected"] is None and \
            k.tight_runs == 2:
        return "tight"  # keep asking through the stated wait
    if fam == {FIXED_EPOCH} and k.scope == "per_key" and k.finite("phase") is not None \
            and "clock_phase" not in done:
        return "clock_phase"  # do the other keys' windows begin where this key's do?
    if fam == {"token_bucket"} and "pace_under" not in done:
        return "pace_under"
    if fam == {"token_bucket"} and "pace_over" not in done:
        return "pace_over"
    return None


def verdict(k: Knowledge) -> str:
    """The probe's verdict in words: the family (or the families left) with what was
    measured of it, the modifiers answered, the scope."""
    fam = k.family
    if fam is None:
        return "not settled: still " + " or ".join(sorted(k.families))
    n, f = k.get("burst"), k.facts
    if fam == "none":
        return f"no limit seen: {n} requests admitted back to back"
    if fam == "concurrency":
        words = f"concurrency: at most {f['concurrency']:.0f} in flight" \
            if k.finite("concurrency") is not None else \
            f"concurrency: no cap seen up to {f['concurrency_above']:.0f} in flight" \
            if k.finite("concurrency_above") is not None else "concurrency cap"
    elif fam == "shaping":
        words = "shaping: " + ", ".join(_shaping(k)) if _shaping(k) else "shaping: a queue"
    elif fam == "token_bucket":
        words = "token_bucket: " + (", ".join(
            ([f"bursts of {n:.0f}"] if k.finite("burst") is not None else []) +
            ([f"about {_fmt(f['rate'], '/s')}"] if k.finite("rate") else [])) or "a bucket")
        low, high = f.get("rate_low"), f.get("rate_high")
        if low and high:
            words += f" (paced at {_fmt(low, '/s')} all admitted, at {_fmt(high, '/s')} not)"
    elif fam == "sliding_counter":
        # the second burst, after two idle periods, took the whole limit
        n = max(n or 0, f.get("refill_admitted") or 0)
        words = f"sliding_counter: about {n:.0f} per {_fmt(f.get('window'))}"
    else:
        w = f.get("window") or f.get("period1")
        # a lockout longer than the window was seen as the window's middle letting all in
        short = k.modifiers["lockout"] and bool(k.get("locked_split"))
        per = f"{n} per {'at most ' if short else ''}{_fmt(w / 2 if short else w)}"
        words = f"{fam}: {per}"
        if fam == "fixed_window":
            words += " (anchored at the first request or on the clock: the lockout hides which)"
        if fam == FIXED_EPOCH and math.isfinite(f.get("phase", math.nan)):
            words += f", windows starting {_fmt(f['phase'])} past each multiple of the window"
            if k.get("key_phases") == 1.0:
                words += " on this key, another phase on each other key"
    mods = []
    for m, v in k.modifiers.items():
        if fam in ("none", "concurrency", "shaping"):
            break
        if v is True and m == "lockout":
            mods.append(f"a lockout of {lockout_words(k)} after a refusal"
                        if k.finite("lockout_high") is not None else
                        f"a lockout of about {_fmt(f['lockout_s'])} after a refusal"
                        if k.finite("lockout_s") is not None else
                        "a lockout that refusals extend" if k.get("split_kept_out") else
                        "a lockout of a length not measured")
        elif v is True:
            mods.append("refused requests are counted")
        elif v is False:
            mods.append("no lockout" if m == "lockout" else "refusals not counted")
    if mods:
        words += "; " + ", ".join(mods)
    if k.scope in ("per_key", "global"):
        words += "; " + ("per key" if k.scope == "per_key" else "one quota for all keys")
    if k.finite("ra_short_high") is not None:  # a bracket: the gaps doubled
        low, high = f["ra_short_low"], f["ra_short_high"]
        words += "; Retry-After states " + (f"between {low:.3g} and {_fmt(high)}" if low > 0
                                            else f"up to {_fmt(high)}") +             " less than the real wait"
    return words


def _shaping(k: Knowledge) -> list[str]:
    """What was measured of a queue, and only that: a queue that refused nothing in the step
    may hold more than it was given (at least), one that refused is full (about)."""
    out, queue = [], k.finite("queue")
    if queue is not None:
        full = (k.finite("queue_refused") or 0) > 0
        out.append(f"a queue of {'about' if full else 'at least'} {queue:.0f}")
        if k.finite("max_delay") is not None:
            out[-1] += f" held up to {_fmt(k.facts['max_delay'])}"
    if k.finite("served") is not None:
        out.append(f"{k.facts['served']:.0f} served at once")
    return out
