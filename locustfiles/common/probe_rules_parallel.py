"""What the probe's parallel and paced steps rule out (probe_steps_parallel sends them):
pacing under and over a bucket's rate, the concurrency ramp, the burst into a queue, the
scope check. Pure: no I/O, no clock, no Locust."""

from __future__ import annotations

import math

from .probe_hypotheses import Knowledge, _fmt


def _pace(k: Knowledge, r: dict, under: bool) -> tuple[str, list[str]]:
    """Pacing from an empty bucket: all admitted just under the rate seen, some refused just
    over it, bracket the rate (the verdict gives the bracket)."""
    sent, ok, rate = r["sent"], r["admitted"], r["rate_per_s"]
    said = f"paced at {_fmt(rate, '/s')}: {ok} of {sent} admitted"
    if not sent:
        return said, []
    if under and ok == sent:
        k.facts["rate_low"] = rate
        return said + f": the rate is at least {_fmt(rate, '/s')}", []
    if not under and ok < sent:
        k.facts["rate_high"] = rate
        return said + f": the rate is below {_fmt(rate, '/s')}", []
    return said, []


def _concurrency_ramp(k: Knowledge, r: dict) -> tuple[str, list[str]]:
    cap = r.get("cap")
    if cap is None:  # every level was admitted whole: the cap, if any, is above the last
        k.facts.update(concurrency=math.nan, concurrency_above=r.get("most", math.nan))
        top = r.get("most", "the most")
        return f"{r['levels']}: all {top} in flight admitted: no cap up to {top}", []
    k.facts["concurrency"] = cap
    return (f"{r['levels']}: at most {cap} in flight at once are admitted"), []


def _shaping_excess(k: Knowledge, r: dict) -> tuple[str, list[str]]:
    k.facts.update(queue=r.get("queued", math.nan), max_delay=r.get("max_delay_s", math.nan),
                   served=r.get("served", math.nan), queue_refused=r.get("refused", math.nan))
    out = []
    if r.get("queued", 0) >= 1:
        out += k.keep_only({"shaping"})
    return (f"{r['sent']} at once: {r.get('served')} served at once, {r.get('queued')} held "
            f"(up to {_fmt(r.get('max_delay_s'))}), {r.get('refused')} refused"), out


def _scope_uneven(k: Knowledge, r: dict) -> tuple[str, list[str]]:
    if not r.get("this_refused"):
        return "this key was not refused at that moment: no answer", []
    other_ok, others = r["others_admitted"], r["others"]
    if not others:  # no other key answered: nothing to compare this one with
        return "this key refused, but no other key's request was answered: no answer", []
    if other_ok == others:
        k.scope = "per_key"
        return f"this key refused, {other_ok} of {others} other keys admitted: per key", \
            ["scope/global"]
    if other_ok == 0:
        k.scope = "global"
        return f"this key refused and so were all {others} others: one quota for all keys", \
            ["scope/per_key"]
    return f"{other_ok} of {others} other keys admitted: no clear answer", []


# Keys whose windows begin this far apart (on the circle of the window) have phases of
# their own; the fit's tolerance for one phase is the same (analysis.quota.phases).
SAME_PHASE_S = 0.15


def _clock_phase(k: Knowledge, r: dict) -> tuple[str, list[str]]:
    w, own, found = k.finite("window"), k.finite("phase"), r.get("boundaries") or []
    if not w or own is None or not found:
        return "no other key's reopening was found: the phase of its windows is not known", []
    w = round(w, 1) or w  # windows on the clock are whole tenths of a second (split's rule)
    phases = [b % w for b in found]
    apart = max(min(abs(ph - own) % w, w - abs(ph - own) % w) for ph in phases)
    k.facts["key_phases"] = 1.0 if apart > SAME_PHASE_S else 0.0
    seen = ", ".join(_fmt(ph) for ph in phases)
    if apart > SAME_PHASE_S:
        return (f"{len(found)} other keys' windows start {seen} past each multiple of the "
                f"window, this key's {_fmt(own)}: each key has its own phase"), []
    return (f"{len(found)} other keys' windows start {seen} past each multiple, as this "
            "key's do: one phase for all keys"), []


PARALLEL_RULES = {"clock_phase": _clock_phase, "pace_under": lambda k, r: _pace(k, r, True),
                  "pace_over": lambda k, r: _pace(k, r, False),
                  "concurrency_ramp": _concurrency_ramp, "shaping_excess": _shaping_excess,
                  "scope_uneven": _scope_uneven}
