"""Throughput against error rate, latency by outcome, 503s, spike timing, the per-key table.

Pure functions over the events DataFrame. A load level is a `phase` (a sweep step, a spike
phase) when the run has phases, else a slice of time. Latency of a logical request counts from
its intended time (so a late open-loop send is not hidden); from the send time as well.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .decisions import CHAT
from .throughput_words import describe_throughput

SATURATION_GAIN = 0.05  # goodput growing by less than this share no longer counts as growth
KNEE_ERRORS = 0.05
# A level smaller than this says nothing: it is left out, and the page says so.
MIN_ATTEMPTS = 10
MIN_SPAN_S = 0.5
PERCENTILES = (50, 90, 99)
# Probe phases are a procedure, not load levels.
# The old probe's phases and the adaptive probe's steps (contract.probe_log.STEP_NAMES; the
# probe helper of issue 13 added these).
PROBE_PHASES = {"burst", "sustained", "split", "retry_after_wait", "retry_after_probe",
                "idle_burst", "polite", "reopen_gap", "pace_under", "pace_over", "clock_phase",
                "concurrency_ramp", "shaping_excess", "scope_uneven", "tight"}


def chat_attempts(events: pd.DataFrame) -> pd.DataFrame:
    return events[events["endpoint"] == CHAT]


def _levels(chat: pd.DataFrame, bins: int = 20) -> tuple[pd.Series, str]:
    """Each attempt's load level, and what the levels are: "phase" (offered levels the
    scenario named) or "time" (slices of one offered level)."""
    # the distinct phases first (a categorical's few values): text per row only when needed
    named = {str(v) for v in chat["phase"].unique()} - {""}
    if len(named) >= 2 and not named <= PROBE_PHASES:
        return chat["phase"].astype(str), "phase"
    t = chat["intended_ts"].to_numpy(float)
    span = float(t.max() - t.min())
    width = max(1.0, span / bins)
    index = np.floor((t - t.min()) / width).astype(int)
    return pd.Series(index, index=chat.index), "time"


def _span(t: np.ndarray) -> float:
    """From the first intended send to the last, plus one mean gap: n attempts at a steady
    rate r span n / r."""
    n = len(t)
    gap = float(t.max() - t.min()) / (n - 1) if n > 1 else 0.0
    return float(t.max() - t.min()) + gap


def _row(label: str, g: pd.DataFrame, t0: float) -> dict:
    t = g["intended_ts"].to_numpy(float)
    n, span = len(g), _span(t)
    outcome = g["outcome"]  # compared as it is: astype(str) would build a string per row
    ok = int((outcome == "ok").sum())
    limited = int((outcome == "rate_limited").sum())
    unavailable = int((outcome == "unavailable").sum())
    rate = 1 / span if span > 0 else np.nan
    start = float(t.min()) - t0
    return {"level": label, "start_ts": float(t.min()), "start_s": start,
            "end_s": start + span, "duration_s": span, "attempts": n, "ok": ok,
            "rate_limited": limited, "unavailable": unavailable,
            "offered_per_s": n * rate, "goodput_per_s": ok * rate,
            "rate_limited_per_s": limited * rate, "unavailable_per_s": unavailable * rate,
            "other_errors_per_s": (n - ok - limited - unavailable) * rate,
            "error_fraction": (n - ok) / n}


def _short_of(row: dict) -> str | None:
    """Why a level is too small to say anything, or None."""
    n = row["attempts"]
    if n < MIN_ATTEMPTS:
        return f"{n} attempt{'s' if n != 1 else ''}, fewer than {MIN_ATTEMPTS}"
    if row["duration_s"] < MIN_SPAN_S:
        return f"{row['duration_s']:.3g} s long, shorter than {MIN_SPAN_S:g} s"
    return None


def sustained_rate(quota: dict | None) -> tuple[float | None, float | None]:
    """The fitted quota's sustained ok/s over every key the run used (None when the quota or
    its scope is unknown), and the time it takes to show it: the window, or the time a
    token bucket needs to refill its burst."""
    q = quota or {}
    rate, scope, keys = q.get("rate_per_s"), q.get("scope"), int(q.get("keys") or 1)
    if scope == "unknown" and keys <= 1:
        scope = "global"  # one key: per key and shared are the same rate
    if not rate or scope not in ("per_key", "global"):
        return None, None
    total = rate * max(keys, 1) if scope == "per_key" else rate
    period = q.get("window_s") or ((q.get("burst") or 0) / rate or None)
    return float(total), (float(period) if period else None)


def throughput(events: pd.DataFrame, quota: dict | None = None) -> dict:
    """Per load level: offered attempts/s, goodput (ok/s), 429/s, 503/s, error fraction; the
    whole run's figures; the fitted quota's sustained rate to hold goodput against; and, when
    the scenario offered several levels, the saturation point, where goodput stops growing.

    Levels with too few attempts or too short a span are left out (listed in `left_out`): a
    final 1 ms slice with one success is not 1000 ok/s."""
    chat = chat_attempts(events)
    if chat.empty:
        return {"levels": [], "left_out": [], "saturation": None, "knee": None, "by": None,
                "offered_levels": 0, "overall": None, "sustained_per_s": None,
                "quota_period_s": None, "levels_shorter_than_period": False,
                "headline": "No chat completion attempts."}
    levels, by = _levels(chat)
    t0 = float(chat["intended_ts"].min())
    rows, left_out = [], []
    for key in pd.unique(levels):
        g = chat[(levels == key).to_numpy()]
        label = str(key)
        if by == "time":
            a = float(g["intended_ts"].min()) - t0
            label = f"{a:.1f}-{a + _span(g['intended_ts'].to_numpy(float)):.1f} s"
        row = _row(label, g, t0)
        why = _short_of(row)
        if why:
            left_out.append({"level": label, "attempts": row["attempts"],
                             "duration_s": row["duration_s"], "why": why})
        else:
            rows.append(row)
    sustained, period = sustained_rate(quota)
    several = by == "phase" and len(rows) >= 2
    tp = {"levels": rows, "left_out": left_out, "by": by,
          "offered_levels": len(rows) if by == "phase" else 1,
          "overall": _row("whole run", chat, t0), "sustained_per_s": sustained,
          "quota_period_s": period,
          "levels_shorter_than_period": bool(period and rows and any(
              r["duration_s"] < period for r in rows)),
          "saturation": saturation(rows) if several else None,
          "knee": next(({"level": r["level"], "offered_per_s": r["offered_per_s"],
                         "error_fraction": r["error_fraction"]}
                        for r in sorted(rows, key=lambda r: r["offered_per_s"])
                        if r["error_fraction"] > KNEE_ERRORS), None) if several else None}
    return tp | {"headline": describe_throughput(tp, quota)}


def saturation(rows: list[dict]) -> dict | None:
    """The lowest offered load past which more offered load buys (almost) no more goodput."""
    ordered = sorted(rows, key=lambda r: r["offered_per_s"])
    if len(ordered) < 2:
        return None
    best = max(r["goodput_per_s"] for r in ordered)
    for r in ordered:
        if r["goodput_per_s"] >= (1 - SATURATION_GAIN) * best:
            reached = any(o["offered_per_s"] > r["offered_per_s"] * 1.2 for o in ordered)
            return {"level": r["level"], "offered_per_s": r["offered_per_s"],
                    "goodput_per_s": r["goodput_per_s"], "reached": reached}
    return None


def percentiles(values: np.ndarray) -> dict:
    """p50, p90, p99, count, max and mean of the finite values (ms), rounded to the µs."""
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return {"count": 0}
    out = {f"p{p}": round(float(np.percentile(values, p)), 3) for p in PERCENTILES}
    out.update(count=int(len(values)), max=round(float(values.max()), 3),
               mean=round(float(values.mean()), 3))
    return out


def text_masks(col: pd.Series) -> dict[str, np.ndarray]:
    """Each distinct value's rows, keyed by the value as text (a missing value names no
    group), without a string per row: a categorical column is compared by its codes."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()
        return {str(col.cat.categories[c]): codes == c for c in np.unique(codes) if c >= 0}
    return {str(v): (col == v).to_numpy(bool) for v in col.dropna().unique()}


def latency(events: pd.DataFrame) -> dict:
    chat = chat_attempts(events)
    outcome = chat["outcome"]
    sent_ms = chat["latency_ms"].to_numpy(float)
    intended_ms = sent_ms + (chat["sent_ts"] - chat["intended_ts"]).to_numpy(float) * 1000
    ok = (outcome == "ok").to_numpy()
    return {
        "ok_from_intended_ms": percentiles(intended_ms[ok]),
        "ok_from_sent_ms": percentiles(sent_ms[ok]),
        "send_lateness_ms": percentiles(((chat["sent_ts"] - chat["intended_ts"]) * 1000
                                          ).to_numpy(float)),
        "by_outcome": {o: percentiles(sent_ms[rows])
                       for o, rows in sorted(text_masks(outcome).items())},
        "spike": spike_timing(chat),
    }


def unavailable(events: pd.DataFrame) -> dict:
    chat = chat_attempts(events)
    u = chat[(chat["outcome"] == "unavailable").to_numpy(bool)]
    span = float(chat["sent_ts"].max() - chat["sent_ts"].min()) if len(chat) > 1 else 0.0
    out = {"count": int(len(u)), "share": float(len(u) / len(chat)) if len(chat) else 0.0,
           "rate_per_s": float(len(u) / span) if span else 0.0,
           "latency_ms": percentiles(u["latency_ms"].to_numpy(float)),
           "with_retry_after": int(u["retry_after_s"].notna().sum())}
    if len(u):
        t0 = float(chat["sent_ts"].min())
        seconds = np.floor(u["sent_ts"].to_numpy(float) - t0).astype(int)
        counts = np.bincount(seconds)
        out["per_second"] = {"start_ts": t0, "counts": counts.tolist()}
    return out


def spike_timing(chat: pd.DataFrame) -> dict | None:
    """From the spike's start to its first 429/503, and from its end to recovery: the first
    second after which no second has more than 5% errors."""
    phase = chat["phase"]
    if not (phase == "spike").any():
        return None
    spike_start = float(chat.loc[phase == "spike", "intended_ts"].min())
    bad = chat["outcome"].isin(["rate_limited", "unavailable"])
    after = chat[(chat["intended_ts"] >= spike_start) & bad]
    out = {"first_error_after_s": round(float(after["intended_ts"].min() - spike_start), 3)
           if len(after) else None, "recovered_after_s": None}
    if (phase == "recovery").any():
        rec = chat[phase == "recovery"]
        rec_start = float(rec["intended_ts"].min())
        sec = np.floor(rec["intended_ts"].to_numpy(float) - rec_start).astype(int)
        errs = rec["outcome"].isin(["rate_limited", "unavailable"]).to_numpy()
        frac = np.bincount(sec, weights=errs) / np.maximum(np.bincount(sec), 1)
        clean = frac <= KNEE_ERRORS
        # the first second from which every later second is clean
        tail = np.flatnonzero(~clean)
        first_clean = 0 if len(tail) == 0 else int(tail[-1]) + 1
        if first_clean < len(frac):
            out["recovered_after_s"] = float(first_clean)
        else:
            out["note"] = "errors went on to the end of the recovery phase"
    return out


def per_key(events: pd.DataFrame) -> list[dict]:
    chat = chat_attempts(events)
    rows = []
    for key, g in chat.groupby("key_id", observed=True, sort=True):
        outcome = g["outcome"]
        span = float(g["sent_ts"].max() - g["sent_ts"].min()) or 1.0
        ra = g["retry_after_s"].to_numpy(float)
        rows.append({"key_id": str(key), "attempts": int(len(g)),
                     "ok": int((outcome == "ok").sum()),
                     "rate_limited": int((outcome == "rate_limited").sum()),
                     "unavailable": int((outcome == "unavailable").sum()),
                     "other_errors": int((~outcome.isin(["ok", "rate_limited",
                                                         "unavailable"])).sum()),
                     "goodput_per_s": round(float((outcome == "ok").sum() / span), 3),
                     "median_retry_after_s": round(float(np.nanmedian(ra)), 3)
                     if np.isfinite(ra).any() else None})
    return rows
