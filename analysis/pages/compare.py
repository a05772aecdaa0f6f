"""Two runs side by side, from their summaries (the summary.json contract): quota fields,
Retry-After, throughput and latency, differing values marked, and the page that shows them.

Pure: summaries (validated, as dicts) and manifests in, rows and HTML out. Finding, reading
and (re)building the summaries is the pipeline's job (`python -m analysis compare`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from . import inline_images, render

QUOTA_FIELDS = ("algorithm", "scope", "limit", "window_s", "rate_per_s", "burst", "alignment",
                "agreement")
SECTIONS = ("runs", "quota", "retry-after", "throughput", "latency")
@dataclass
class Side:
    """One run as the page shows it."""
    name: str                 # the run folder's name
    summary: dict
    manifest: dict
    page: str | None = None   # its report page, relative to the comparison page
    notes: list[str] = field(default_factory=list)  # what was done to get its summary


def fmt(value) -> str:
    """A value as the page shows it; two values differ when these strings differ."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def when(manifest: dict) -> str:
    """The run's start as UTC date and time, or "unknown"."""
    start = manifest.get("start")
    try:
        t = dt.datetime.fromisoformat(start)
    except (TypeError, ValueError):
        return "unknown"
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC)
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def target_host(target) -> str:
    """host:port of a base URL, or the text itself when it is not a URL."""
    if not isinstance(target, str) or not target:
        return "unknown"
    return urlsplit(target).netloc or target


# The fit pins windows and rates to within 3% (the accuracy tests' bound): two runs whose
# fitted rates are 2 and 1.998 have the same quota, and the row is not marked.
FIT_PRECISION = {"window_s": 0.03, "rate_per_s": 0.03}


def _same(key: str, a, b) -> bool:
    tolerance = FIT_PRECISION.get(key)
    if tolerance and isinstance(a, (int, float)) and isinstance(b, (int, float)) \
            and math.isfinite(a) and math.isfinite(b):
        return abs(a - b) <= tolerance * max(abs(a), abs(b))
    return fmt(a) == fmt(b)


def _rows(pairs) -> list[dict]:
    out = []
    for key, label, a, b in pairs:
        out.append({"key": key, "label": label, "a": fmt(a), "b": fmt(b),
                    "differs": not _same(key, a, b)})
    return out


def quota_rows(a: dict, b: dict) -> list[dict]:
    qa, qb = a.get("quota") or {}, b.get("quota") or {}
    pairs = [(f, f, qa.get(f), qb.get(f)) for f in QUOTA_FIELDS]
    pairs.append(("description", "in words", qa.get("description"), qb.get("description")))
    return _rows(pairs)


def retry_after_rows(a: dict, b: dict) -> list[dict]:
    ra, rb = a.get("retry_after") or {}, b.get("retry_after") or {}

    def err(r, k):
        return (r.get("error_s") or {}).get(k)
    return _rows([("verdict", "verdict", ra.get("verdict"), rb.get("verdict")),
                  ("rejections", "429s", ra.get("rejections"), rb.get("rejections")),
                  ("with_header", "429s with Retry-After", ra.get("with_header"),
                   rb.get("with_header")),
                  ("too_early", "stated waits too short", ra.get("too_early"),
                   rb.get("too_early")),
                  ("over_1s_late", "stated waits over 1 s too long", ra.get("over_1s_late"),
                   rb.get("over_1s_late")),
                  ("error_p50", "stated − observed wait, median (s)", err(ra, "p50"),
                   err(rb, "p50"))])


def throughput_totals(summary: dict) -> dict:
    """Whole-run figures from the per-level throughput rows."""
    tp = summary.get("throughput") or {}
    levels = tp.get("levels") or []
    duration = sum(r["duration_s"] for r in levels)
    attempts = sum(r["attempts"] for r in levels)

    def total(key):
        return sum(r[key] * r["duration_s"] for r in levels)
    sat = tp.get("saturation")
    return {
        "levels": f"{len(levels)} ({'phases' if tp.get('by') == 'phase' else 'time slices'})"
        if levels else "none",
        "attempts": attempts,
        "offered_per_s": attempts / duration if duration else None,
        "goodput_per_s": total("goodput_per_s") / duration if duration else None,
        "peak_goodput_per_s": max((r["goodput_per_s"] for r in levels), default=None),
        "share_429": total("rate_limited_per_s") / attempts if attempts else None,
        "share_503": total("unavailable_per_s") / attempts if attempts else None,
        "saturation": f"{sat['goodput_per_s']:.3g} ok/s at {sat['offered_per_s']:.3g} offered/s"
        if sat else None,
    }


def throughput_rows(a: dict, b: dict) -> list[dict]:
    ta, tb = throughput_totals(a), throughput_totals(b)
    labels = {"levels": "load levels", "attempts": "attempts", "offered_per_s": "offered/s",
              "goodput_per_s": "goodput (ok/s)", "peak_goodput_per_s": "best level's goodput",
              "share_429": "share refused (429)", "share_503": "share unavailable (503)",
              "saturation": "goodput stops growing at"}
    return _rows([(k, label, ta[k], tb[k]) for k, label in labels.items()])


def latency_groups(summary: dict) -> dict[str, dict]:
    lat = summary.get("latency") or {}
    by = lat.get("by_outcome") or {}
    return {"ok, from intended send": lat.get("ok_from_intended_ms") or {},
            "ok, from send": lat.get("ok_from_sent_ms") or {},
            "429": by.get("rate_limited") or {}, "503": by.get("unavailable") or {}}


def latency_rows(a: dict, b: dict) -> list[dict]:
    """Percentiles (ms) of each group either run has, with B's as a multiple of A's."""
    ga, gb = latency_groups(a), latency_groups(b)
    rows = []
    for group in ga:
        da, db = ga[group], gb[group]
        if not (da.get("count") or db.get("count")):
            continue
        for p in ("count", "p50", "p90", "p99", "max"):
            va, vb = da.get(p), db.get(p)
            ratio = vb / va if p != "count" and va and vb is not None else None
            rows.append({"label": f"{group} {p}", "a": fmt(va), "b": fmt(vb),
                         "ratio": f"× {ratio:.3g}" if ratio is not None else ""})
    return rows


def run_length_s(manifest: dict) -> float | None:
    """Seconds from the run's start to its end, as run.json records them."""
    try:
        start = dt.datetime.fromisoformat(manifest["start"])
        end = dt.datetime.fromisoformat(manifest["end"])
    except (KeyError, TypeError, ValueError):
        return None
    length = (end - start).total_seconds()
    return length if length >= 0 else None


def planned_s(manifest: dict) -> float | None:
    """The run time Locust was given (-t), in seconds, or None."""
    o = manifest.get("options")
    t = o.get("run_time") if isinstance(o, dict) else None
    return float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else None


def users(manifest: dict) -> str:
    """The load a run offered, in its scenario's terms: users, their spike, or arrivals."""
    o = manifest.get("options") or {}
    if not isinstance(o, dict):
        return "unknown"
    sc = manifest.get("scenario")
    if sc == "spike" and {"baseline_users", "spike_users"} <= o.keys():
        return f"{o['baseline_users']} → {o['spike_users']} → {o['baseline_users']} (spike)"
    if sc == "spike_open" and {"baseline_rate", "spike_rate"} <= o.keys():
        return (f"open loop: {o['baseline_rate']:g} → {o['spike_rate']:g} → "
                f"{o['baseline_rate']:g} arrivals/s")
    if sc == "sweep" and "rates" in o:
        step = o.get("step_s")
        return (f"open loop: {o['rates']} arrivals/s"
                + (f", {step:g} s steps" if isinstance(step, (int, float)) else ""))
    return str(o["num_users"]) if o.get("num_users") is not None else "unknown"


# Two runs last "the same" within a second or 5%: start-up and shutdown vary that much.
LENGTH_TOLERANCE = (1.0, 0.05)


def shape_rows(a: dict, b: dict) -> list[dict]:
    """How long each run lasted and what load it offered: whole-run counts and rates of two
    runs that differ here are not like for like."""
    la, lb = run_length_s(a), run_length_s(b)
    pa, pb = planned_s(a), planned_s(b)
    ka, kb = len(a.get("key_ids") or []), len(b.get("key_ids") or [])

    def length(actual, planned) -> str:
        text = f"{actual:.1f} s" if actual is not None else "unknown"
        return text + (f" ({planned:g} s planned)" if planned is not None else "")
    rows = [{"key": "duration_s", "label": "duration (start to end)",
             "a": length(la, pa), "b": length(lb, pb),
             "differs": (pa != pb and None not in (pa, pb)) or (
                 None not in (la, lb) and abs(la - lb) > max(
                     LENGTH_TOLERANCE[0], LENGTH_TOLERANCE[1] * max(la, lb)))},
            {"key": "users", "label": "users", "a": users(a), "b": users(b),
             "differs": users(a) != users(b)},
            {"key": "keys", "label": "keys", "a": fmt(ka or None), "b": fmt(kb or None),
             "differs": ka != kb}]
    return rows


def unlike(rows: list[dict]) -> str | None:
    """The sentence that warns when the runs differ in length or load."""
    diff = [r for r in rows if r["differs"]]
    if not diff:
        return None
    parts = " and ".join(f"{r['label'].split(' (')[0]} ({r['a']} against {r['b']})"
                         for r in diff)
    return (f"The runs differ in {parts}: counts and rates below are not like for like, "
            "and a difference in goodput may come from that alone.")


def comparison(a: Side, b: Side, same: bool = False) -> dict:
    """Everything the page shows, as template data; `same`: both sides are one run folder."""
    def run(s: Side) -> dict:
        return {"name": s.name, "page": s.page, "notes": s.notes,
                "verdict": s.summary.get("verdict") or "—",
                "scenario": s.summary.get("scenario") or s.manifest.get("scenario") or "unknown",
                "target": s.summary.get("target") or s.manifest.get("target") or "unknown",
                "host": target_host(s.summary.get("target") or s.manifest.get("target")),
                "date": when(s.manifest), "events": s.summary.get("events"),
                "problems": s.summary.get("problems") or []}
    shape = shape_rows(a.manifest, b.manifest)
    return {"a": run(a), "b": run(b), "same": same, "shape": shape, "unlike": unlike(shape),
            "quota": quota_rows(a.summary, b.summary),
            "retry_after": retry_after_rows(a.summary, b.summary),
            "throughput": throughput_rows(a.summary, b.summary),
            "latency": latency_rows(a.summary, b.summary)}


def _by_phase(summary: dict) -> bool:
    tp = summary.get("throughput") or {}
    return tp.get("by") == "phase" and len(tp.get("levels") or []) >= 2


def figure_data(a: Side, b: Side) -> tuple[list, bool, list]:
    """What figures.comparison_figures draws: each run's load levels, whether to draw
    goodput against offered load, and the latency groups either run has."""
    labels = (f"A {a.name}"[:48], f"B {b.name}"[:48])
    levels = [(labels[0], a.summary["throughput"]["levels"]),
              (labels[1], b.summary["throughput"]["levels"])]
    ga, gb = latency_groups(a.summary), latency_groups(b.summary)
    groups = [g for g in ga if g != "ok, from send" and (ga[g].get("count")
                                                          or gb[g].get("count"))]
    latency = [(labels[0], [(g, ga[g]) for g in groups]),
               (labels[1], [(g, gb[g]) for g in groups])]
    return levels, _by_phase(a.summary) or _by_phase(b.summary), latency


def render_compare(a: Side, b: Side, figs: dict[str, bytes], generated: str,
                   same: bool = False) -> str:
    return render("compare.html", c=comparison(a, b, same), img=inline_images(figs),
                  sections=SECTIONS, generated=generated)
