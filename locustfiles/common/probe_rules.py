"""The probe's rules: what each step's measurements rule out.

Pure (no I/O, no clock, no Locust): each step's measurements come in as a dict, `learn` rules
hypotheses out with explicit rules and says in words what it learned. In the order the steps
usually come:

- idle_burst (waves of concurrent requests after idle): no 429 and no slower admissions rules
  out every limiter ("none" up to the cap); admissions that grow slower are a queue (shaping);
- tight (a short sequential loop right after the burst): nearly all admitted means the 429s
  came from the requests being concurrent (a concurrency cap), or from a queue that was full
  (shaping, whose admissions are slow); admissions spread between refusals mean a quota that
  refills gradually (token bucket); a loop that kept asking past the stated wait and got
  nothing means refusals keep the quota closed (counts_rejected, or a lockout they extend);
- polite (wait exactly the stated Retry-After): refused means the stated wait is not enough
  (a lie, or a lockout it does not state); admitted after the tight loop got nothing past the
  stated wait confirms that refusals count;
- tight after the polite admission: a quota that reopens in full (most of the burst again) is
  a window; one request or two is a bucket or a sliding counter;
- split (half a window's admissions at its start, the rest at its middle, then keep asking):
  more than the other half admitted at the middle means the window is shorter than the
  period seen (the period held a lockout); at the next reopening the whole limit back means a
  fixed window, only the first half a sliding log; never let in again while asking means
  refusals extend a lockout; a first period shorter than the second means clock-aligned
  windows, whose phase is where they start;
- idle_burst again, after two periods idle, when a bucket and a sliding counter are left: the
  whole limit back is a sliding counter, a few requests' refill a bucket; then a tight loop
  through the stated wait says whether its refusals count (pace_under/pace_over check a
  bucket's rate);
- concurrency_ramp: the largest number in flight that is all admitted is the cap;
- shaping_excess: admissions held longer the later they came, and the queue's size;
- scope_uneven: another key admitted while this one is refused means a per-key quota.
"""

from __future__ import annotations

import math

from .probe_hypotheses import (FIXED_EPOCH, FIXED_FIRST, HELD_S, MOSTLY_ADMITTED, REFILLING,
                               WINDOWS, Knowledge, _fmt,
                               lockout_length)
from .probe_rules_parallel import PARALLEL_RULES


def learn(k: Knowledge, name: str, r: dict) -> tuple[str, list[str]]:
    """Fold one step's measurements into `k`: (what it learned, in words; what it ruled out)."""
    k.done.append(name)
    said, out = _RULES[name](k, r)
    return said, out + conclude(k)


def _idle_burst(k: Knowledge, r: dict) -> tuple[str, list[str]]:
    if k.get("burst") is not None:
        return _refill(k, r)
    n, refused = r["admitted"], r["refused"]
    k.facts.update(burst=n, ra1=r.get("ra_s", math.nan), t0=r["t0"],
                   burst_s=r.get("burst_s", 0.0), base_latency=r.get("fastest_s", math.nan),
                   slowest=r.get("slowest_s", 0.0) - r.get("fastest_s", 0.0))
    held = r.get("slowest_s", 0.0) - r.get("fastest_s", 0.0) > HELD_S
    out = []
    if held:
        out += k.keep_only({"shaping"} | ({"none"} if not refused else set()))
    else:
        out += k.rule_out(["shaping"])
    if refused:
        out += k.rule_out(["none"])
        said = (f"{n} admitted back to back, then {r.get('refused_status') or 429} (stated "
                f"wait {_fmt(r.get('ra_s'))})")
    elif not held:
        out += k.keep_only({"none"})
        said = f"{n} admitted, no refusal: no limit up to {n} requests"
    else:
        said = f"{n} admitted, no refusal"
    if held:
        said += f"; admissions held up to {_fmt(r['slowest_s'] - r['fastest_s'])} longer"
    return said, out


def refill_idle_s(k: Knowledge) -> float:
    """The idle before the second burst. With a refill rate seen: long enough for a bucket of
    the first burst's size to be full again, where a sliding counter still weighs the last
    window's requests. Without: two of the first burst's periods, after which a sliding
    counter has forgotten it whole while a bucket has refilled two requests' worth."""
    rate, n = k.finite("rate"), k.get("burst") or 1
    if rate:
        return 1.1 * n / rate
    return 2 * (k.first_wait() + (k.finite("burst_s") or 0.0))


def _refill(k: Knowledge, r: dict) -> tuple[str, list[str]]:
    """The second burst, after refill_idle_s: a bucket refilled as seen, or a sliding
    counter, which gives back either less than a full bucket (still weighing the last
    window) or, after two periods, more than a bucket refilling at the first wait's pace."""
    n, got, idle = k.get("burst"), r["admitted"], r.get("idle_s", 0.0)
    ra1, rate = k.first_wait(), k.finite("rate")
    # a bucket holds at most its burst: it cannot give more than that back
    bucket = min(n, 1 + idle * (rate or 1 / ra1))
    k.facts.update(last_ra=r.get("ra_s", math.nan), refill_admitted=got)
    counter = got <= min(0.75 * bucket, bucket - 2) if rate else \
        got >= 0.8 * n and got >= bucket + 1.5
    if counter:
        out = k.keep_only({"sliding_counter"})
        # two readings: the limit over the refill rate seen (which refusals that count
        # make too fast), and the first refusal's wait, which a counter anchored at the
        # burst states as about a window and a request's share of it (which a counter on
        # the clock shortens): the longer is the less wrong
        k.facts["window"] = max(n / rate if rate else 0.0,
                                (ra1 + (k.finite("burst_s") or 0.0)) / (1 + 1 / n))
        return (f"{got} admitted after {_fmt(idle)} idle, where a bucket refilling as seen "
                f"would give {bucket:.0f}: a sliding counter"), out
    out = k.keep_only({"token_bucket"})
    k.facts["rate"] = rate or 1 / ra1
    return (f"{got} admitted after {_fmt(idle)} idle, as a bucket refilling as seen would "
            f"({bucket:.0f}): a token bucket"), out


def _tight(k: Knowledge, r: dict) -> tuple[str, list[str]]:
    k.tight_runs += 1
    if k.tight_runs == 2:
        return _tight_after_reopen(k, r)
    if k.tight_runs == 3:
        return _kept_asking(k, r)
    sent, ok = r["sent"], r["admitted"]
    k.facts.update(tight_ok=ok, tight_span=r["span_s"])
    out, frac = [], ok / sent if sent else 0.0
    if sent and frac >= MOSTLY_ADMITTED and not _stated(k):
        slow = r.get("median_latency_s", 0.0) - k.get("base_latency") > HELD_S \
            if k.get("base_latency") is not None else False
        out += k.keep_only({"shaping"} if slow else {"concurrency"})
        what = "held, then admitted: a queue" if slow else \
            "admitted one at a time: the 429s came from requests in flight together"
        return f"{ok} of {sent} sequential requests {what}", out
    ra1 = k.get("ra1")
    stated = ra1 is not None and math.isfinite(ra1) and ra1 > 0.05
    if sent and frac >= MOSTLY_ADMITTED and stated:
        out += k.keep_only(REFILLING)
        k.facts["rate"] = ok / r["span_s"]
        return (f"{ok} of {sent} sequential requests admitted: a quota refilling at about "
                f"{_fmt(ok / r['span_s'], '/s')} or more"), out
    out += k.rule_out(["concurrency", "shaping"])
    runs = [len(x) for x in r.get("pattern", "").split("R") if x]
    if ok >= 2 and len(runs) >= 2 and max(runs) <= 2:
        out += k.keep_only(REFILLING)
        out += k.settle_modifier("counts_rejected", False)
        out += k.settle_modifier("lockout", False)
        k.facts["rate"] = ok / r["span_s"]
        return (f"{ok} of {sent} admitted, one or two at a time between refusals: the quota "
                f"refills gradually (about {_fmt(ok / r['span_s'], '/s')})"), out
    if runs and max(runs) >= 3:
        # the first reopening, which tells a window on the clock (sooner than a whole window
        # after the burst) from one anchored at the burst
        k.facts["period1"] = r.get("first_admitted_ts", math.nan) - k.get("t0")
        out += k.keep_only(WINDOWS)
        out += k.settle_modifier("counts_rejected", False)
        return (f"{ok} of {sent} admitted, {max(runs)} in a row once the stated wait was up: "
                "it reopens all at once, and asking did not keep it closed"), out
    pushed = r.get("pushed")
    # the stated wait itself grew: a wait that stays the same moves the reopening along
    # with the clock, and is a constant or a lockout that refusals extend
    if ok == 0 and pushed and pushed[2] > (r.get("push_threshold") or math.inf):
        k.facts.update(kept_out=1.0, push_per_refusal=pushed[0] / pushed[1])
        return (f"0 of {sent} admitted; each refusal moved the stated reopening later (by "
                f"{_fmt(pushed[0] / pushed[1])} each): refusals keep the quota closed"), out
    past = ra1 is not None and math.isfinite(ra1) and r["span_s"] > ra1 + 0.2
    k.facts["kept_out"] = 1.0 if (ok == 0 and past) else 0.0
    if ok == 0 and past:
        return (f"0 of {sent} admitted in {_fmt(r['span_s'])}, past the stated wait "
                f"{_fmt(ra1)}: asking keeps the quota closed"), out
    return f"{ok} of {sent} admitted in {_fmt(r['span_s'])}", out


def _stated(k: Knowledge) -> bool:
    ra1 = k.get("ra1")
    return ra1 is not None and math.isfinite(ra1) and ra1 > 0.05


def _tight_after_reopen(k: Knowledge, r: dict) -> tuple[str, list[str]]:
    n = k.get("burst") or 0
    got = r["admitted"] + 1  # the polite request opened it
    k.facts.update(reopened=got, last_ra=r.get("ra_s", math.nan),
                   second_tight_end=r.get("refused_ts", math.nan))
    if got >= max(2, 0.6 * n):
        out = k.keep_only(WINDOWS)
        return f"{got} admitted once it reopened (the burst was {n}): it reopens in full", out
    if got <= max(2, 0.3 * n):
        out = k.keep_only(REFILLING)
        return f"only {got} admitted once it reopened (the burst was {n}): it refills", out
    return f"{got} admitted once it reopened (the burst was {n})", []


def _kept_asking(k: Knowledge, r: dict) -> tuple[str, list[str]]:
    """A loop through the stated wait: let in when the wait is up, or kept out by asking."""
    if r["admitted"]:
        out = k.settle_modifier("counts_rejected", False) + k.settle_modifier("lockout", False)
        return (f"kept asking through the stated wait ({_fmt(k.get('last_ra'))}) and was let "
                "in when it was up: refusals are not counted"), out
    k.facts["kept_out"] = 1.0
    return (f"kept asking through the stated wait ({_fmt(k.get('last_ra'))}), {r['sent']} "
            "times, and was never let in: refusals keep it closed"), []


def conclude(k: Knowledge) -> list[str]:
    """Modifier answers that follow from facts gathered by several steps."""
    if not (k.get("kept_out") and k.get("polite_in")):
        return []
    if k.families <= REFILLING | {"sliding_log"}:
        # kept out while asking, let in after waiting: each refusal used up quota
        if k.finite("push_per_refusal"):
            k.facts["rate"] = 1 / k.facts["push_per_refusal"]  # a refusal takes one slot
        return k.settle_modifier("counts_rejected", True) + k.settle_modifier("lockout", False)
    return []


def _polite(k: Knowledge, r: dict) -> tuple[str, list[str]]:
    wait, came_in = r.get("wait_s", math.nan), r.get("admitted")
    if came_in is None:
        k.facts["polite_in"] = 0.0
        return "no 429 stated a wait to honour", []
    k.facts.update(polite_in=1.0 if came_in else 0.0, polite_wait=wait,
                   polite_ra=r.get("ra_s", math.nan), polite_refused=0.0 if came_in else 1.0)
    if came_in:
        k.facts["reopen_ts"] = r["sent_ts"]
        if k.finite("period1") is None:
            k.facts["period1"] = r["sent_ts"] - k.get("t0")
    out = []
    if not came_in:
        return (f"waited the stated {_fmt(wait)} and was refused again: the stated wait is "
                "not enough"), out
    said = f"waited the stated {_fmt(wait)} and was admitted"
    if k.get("kept_out"):
        said += ", where a client that kept asking was not"
    return said, out


def _reopen_gap(k: Knowledge, r: dict) -> tuple[str, list[str]]:
    k.facts["polite_in"] = 1.0 if r.get("reopened_after_s") is not None else 0.0
    gap = r.get("reopened_after_s")
    if gap is None:
        return f"no single request was admitted within {_fmt(r.get('tried_up_to_s'))}", []
    low = r.get("last_refused_s") or 0.0
    # the doubling search brackets the reopening: refused after `low`, admitted after `gap`
    k.facts.update(reopen_ts=r["sent_ts"], polite_wait=gap, reopen_low=low, reopen_high=gap)
    if k.finite("period1") is None:
        k.facts["period1"] = r["sent_ts"] - k.get("t0")
    said = f"reopened between {_fmt(r.get('last_refused_s'))} and {_fmt(gap)} after a refusal"
    stated = r.get("stated_s")
    if stated is not None and math.isfinite(stated) and gap > stated + 0.5:
        k.facts.update(ra_short_low=max(low - stated, 0.0), ra_short_high=gap - stated)
        said += f", later than the {_fmt(stated)} it stated: its Retry-After is optimistic"
    return said, []


def _split(k: Knowledge, r: dict) -> tuple[str, list[str]]:
    again = k.split_tried
    k.split_tried = True
    n, half = k.get("burst") or 0, r.get("half", 0)
    out, words = [], []
    p1, p2 = (None, None) if again else (k.get("period1"),
                                          r.get("window_s") or r.get("period_s"))
    if p2:
        k.facts["window"] = p2
    mid = r.get("middle_admitted")
    locked = mid is not None and mid >= max(half + 2, 0.8 * n)
    # anchored at the first request, the first period is a window to the millisecond; on
    # the clock, it ends at the first boundary after the burst (a lockout hides both)
    if p1 and p2 and not locked and p1 < p2 - max(0.15, 0.02 * p2):
        out += k.keep_only({FIXED_EPOCH})
        k.facts["phase"] = r.get("phase_s", math.nan)
        words.append(f"the first period ({_fmt(p1)}) was shorter than the next ({_fmt(p2)}): "
                     f"windows on the clock, phase {_fmt(r.get('phase_s'))}")
    elif p1 and p2 and not locked:
        out += k.rule_out([FIXED_EPOCH])
    if locked:
        out += k.settle_modifier("lockout", True)
        out += k.keep_only({FIXED_FIRST, FIXED_EPOCH})
        k.facts["locked_split"] = 1.0
        words.append(f"{mid} admitted in the middle of the period: the window is shorter than "
                     "the period, which held a lockout" + lockout_length(k))
        return "; ".join(words), out
    if mid is not None:
        words.append(f"{half} at its start, {mid} more in its middle")
    back = r.get("reopen_admitted")
    if back is None:
        if r.get("kept_out"):
            k.facts["split_kept_out"] = 1.0
            out += k.settle_modifier("lockout", True)
            words.append("kept asking past the stated wait and was never let back in: "
                         "refusals extend a lockout")
        return "; ".join(words) or "nothing", out
    out += k.settle_modifier("lockout", False)
    if back >= half + 2 or back >= 0.8 * n:
        out += k.rule_out(["sliding_log"])
        words.append(f"{back} back at once at the next reopening: a fixed window")
    elif back <= half + 1:
        out += k.keep_only({"sliding_log"})
        words.append(f"only {back} back at the next reopening (the first part's): a sliding log")
    if k.families <= WINDOWS and k.modifiers["counts_rejected"] is None and back:
        out += k.settle_modifier("counts_rejected", False)
    return "; ".join(words), out


_RULES = {"idle_burst": _idle_burst, "tight": _tight, "polite": _polite,
          "reopen_gap": _reopen_gap, "split": _split,
          **PARALLEL_RULES}
