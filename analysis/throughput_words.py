"""The throughput section's headline, in words made only from the figures
`load_levels.throughput` computed (a number we print is right or is not printed)."""

from __future__ import annotations


def _g(v: float) -> str:
    """Three significant figures, without an exponent for big numbers."""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _quota_words(tp: dict, quota: dict | None) -> str:
    q = quota or {}
    sustained = tp["sustained_per_s"]
    if sustained is None:
        return ""
    keys = q.get("keys") or 1
    how = (f"{q['rate_per_s']:g}/s per key × {keys} key{'s' if keys != 1 else ''}"
           if q.get("scope") == "per_key" else f"{q['rate_per_s']:g}/s shared by all keys"
           if q.get("scope") == "global" else f"{q['rate_per_s']:g}/s on the run's one key")
    return f" The fitted quota sustains {_g(sustained)} ok/s ({how})."


def describe_throughput(tp: dict, quota: dict | None = None) -> str:
    """The section's headline, from the figures `throughput` computed and nothing else."""
    overall, sustained, period = tp.get("overall"), tp["sustained_per_s"], tp["quota_period_s"]
    if not overall:
        return "No chat completion attempts."
    q = quota or {}
    burst = (f"the {_g(period)} s the bucket takes to refill its burst of {q.get('burst')}, "
             "so its goodput includes that burst" if not q.get("window_s") and period else
             f"the quota's {_g(period)} s window, so its goodput includes the burst each "
             "window allows" if period else "")
    words = _quota_words(tp, quota)
    if tp["by"] == "time":
        out = (f"One offered level (the scenario held its load steady), so no curve: "
               f"{overall['attempts']} attempts over {overall['duration_s']:.1f} s "
               f"({_g(overall['offered_per_s'])} offered/s) gave "
               f"{_g(overall['goodput_per_s'])} ok/s ({overall['ok']} accepted), error "
               f"fraction {overall['error_fraction']:.3f} ({overall['rate_limited']} × 429, "
               f"{overall['unavailable']} × 503).") + words
        if sustained and period and overall["goodput_per_s"] > 1.1 * sustained:
            out += (f" The run lasted {overall['duration_s'] / period:.2g} × {burst} and "
                    "reads above the sustained rate.")
        if tp["levels_shorter_than_period"]:
            out += (f" The time slices in the table are shorter than that {_g(period)} s: a "
                    "slice's goodput swings with the quota's bursts.")
        return out
    levels = tp["levels"]
    if not levels:
        return "No load level had enough attempts to say anything." + words
    sat = tp["saturation"]
    if tp["levels_shorter_than_period"]:
        best = max(levels, key=lambda r: r["goodput_per_s"])
        out = (f"Best level {best['level']}: {_g(best['offered_per_s'])} offered/s gave "
               f"{_g(best['goodput_per_s'])} ok/s.")
    elif sat is None:
        r = levels[0]
        out = (f"One load level with enough attempts ({r['level']}): {_g(r['offered_per_s'])} "
               f"offered/s gave {_g(r['goodput_per_s'])} ok/s.")
    elif sat["reached"]:
        out = (f"Goodput stops growing at about {_g(sat['offered_per_s'])} offered requests/s "
               f"({_g(sat['goodput_per_s'])} ok/s, level {sat['level']}).")
    else:
        out = (f"Goodput was highest at the highest offered load ({_g(sat['offered_per_s'])} "
               f"offered/s, {_g(sat['goodput_per_s'])} ok/s, level {sat['level']}): the run "
               "did not offer enough to find where it stops growing.")
    out += words
    if tp["levels_shorter_than_period"]:
        lo, hi = (f"{f(r['duration_s'] for r in levels):.2g}" for f in (min, max))
        what = "window" if q.get("window_s") else "refill time for a burst"
        out += (f" Its levels last {lo if lo == hi else f'{lo}–{hi}'} s, shorter than the "
                f"quota's {_g(period)} s {what}: a level's goodput includes the bursts the "
                "quota allows and is not a sustained rate, so no saturation point is read "
                "from them.")
    return out
