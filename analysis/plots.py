"""Figures of a run. Each draw_* function draws on the `ax` it is handed, from data already
computed; `render_figures` makes the figures, saves them as PNG and closes them."""

from __future__ import annotations

import io
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .backoff_plot import draw_backoff  # noqa: E402
from .phase_plot import shade_phases  # noqa: E402
from .decisions import CHAT, Decisions  # noqa: E402
from .quota import QuotaFit, fitted_window_starts  # noqa: E402
from .plots_evidence import (COLOURS, MAX_POINTS, draw_retry_after,  # noqa: E402
                             draw_throughput)


def _outcome_group(outcome: pd.Series) -> pd.Series:
    o = outcome.astype(str)
    return o.where(o.isin(["ok", "rate_limited", "unavailable"]), "other")


def draw_status_timeline(ax, chat: pd.DataFrame) -> None:
    """Attempts per second, stacked by outcome (a spike's phases shaded behind)."""
    sent = chat["sent_ts"].to_numpy(float)
    shade_phases(ax, chat, float(sent.min()))
    sec = np.floor(sent - sent.min()).astype(int)
    groups = _outcome_group(chat["outcome"]).to_numpy()
    width = max(1, int(np.ceil((sec.max() + 1) / 600)))  # at most 600 bars
    bins = sec // width
    n = bins.max() + 1
    edges = np.arange(n + 1) * width
    bottom = np.zeros(n)
    for name in ("ok", "rate_limited", "unavailable", "other"):
        counts = np.bincount(bins[groups == name], minlength=n) / width
        if counts.any():
            # One stacked step polygon per outcome: bars would be thousands of patches.
            ax.stairs(bottom + counts, edges, baseline=bottom, fill=True, color=COLOURS[name],
                      label=name.replace("_", " "))
            bottom = bottom + counts
    ax.set_xlabel("seconds since the first request")
    ax.set_ylabel("attempts per second")
    ax.set_title("Status over time")
    ax.legend(loc="upper right", fontsize=8)


def draw_accepts(ax, chat: pd.DataFrame, fit: QuotaFit, window_marks: np.ndarray) -> None:
    """Cumulative accepts per key, with the fitted windows or bucket drawn on them."""
    t0 = chat["sent_ts"].min()
    shade_phases(ax, chat, float(t0))
    ok = chat[chat["outcome"].astype(str) == "ok"]
    for key, g in ok.groupby("key_id", observed=True, sort=True):
        t = np.sort(g["sent_ts"].to_numpy(float))
        step = max(1, len(t) // MAX_POINTS)
        ax.step(t[::step] - t0, np.arange(1, len(t) + 1)[::step], where="post",
                label=f"key {key}")
    for m in window_marks:
        ax.axvline(m - t0, color="#999", lw=0.7, ls="--")
    if len(ok):
        if fit.algorithm == "token_bucket" and fit.rate_per_s:
            first = ok.groupby("key_id", observed=True)["sent_ts"].min().min() - t0
            x = np.linspace(first, chat["sent_ts"].max() - t0, 50)
            ax.plot(x, fit.burst + fit.rate_per_s * (x - first), color="#555", ls="--",
                    label=f"bucket bound: {fit.burst} + {fit.rate_per_s:g}/s")
    ax.set_xlabel("seconds since the first request")
    ax.set_ylabel("accepted requests (cumulative)")
    ax.set_title("Accepts over time" + (" with fitted windows" if fit.algorithm ==
                                         "fixed_window" else ""))
    ax.legend(loc="upper left", fontsize=8)


def draw_latency(ax, chat: pd.DataFrame) -> None:
    """Latency distribution per outcome (log scale)."""
    groups = _outcome_group(chat["outcome"])
    data, labels = [], []
    for name in ("ok", "rate_limited", "unavailable", "other"):
        v = chat.loc[groups == name, "latency_ms"].to_numpy(float)
        v = v[np.isfinite(v) & (v > 0)]
        if len(v):
            data.append(v[:: max(1, len(v) // MAX_POINTS)])
            labels.append(f"{name.replace('_', ' ')} ({len(v)})")
    if not data:
        ax.set_axis_off()
        return
    ax.boxplot(data, vert=False, showfliers=False, widths=0.6)
    ax.set_yticks(range(1, len(labels) + 1), labels)
    ax.set_xscale("log")
    ax.set_xlabel("latency from send (ms, log scale)")
    ax.set_title("Latency by outcome")


def render_figures(events: pd.DataFrame, fit: QuotaFit, audit_points,
                   throughput: dict, decisions: Decisions) -> dict[str, bytes]:
    """Draw every figure and close it; return name -> PNG bytes."""
    chat = events[events["endpoint"] == CHAT]
    figures = {}
    if chat.empty:
        return figures
    plan = [("status_timeline", lambda ax: draw_status_timeline(ax, chat)),
            ("accepts", lambda ax: draw_accepts(ax, chat, fit,
                                                fitted_window_starts(fit, decisions))),
            ("retry_after", lambda ax: draw_retry_after(ax, audit_points), (8, 4.2)),
            ("throughput", lambda ax: draw_throughput(ax, throughput), (8, 4.2)),
            ("latency", lambda ax: draw_latency(ax, chat))]
    for name, draw, *size in plan:
        figures[name] = _png(draw, *size)
    return figures


def _png(draw, size=(8, 3.6)) -> bytes:
    """The one place a figure is made, saved as PNG and closed."""
    fig, ax = plt.subplots(figsize=size, dpi=100)
    try:
        draw(ax)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    return buf.getvalue()


def render_backoff(backoff: dict) -> bytes:
    return _png(lambda ax: draw_backoff(ax, backoff), size=(8, 3.8))


# --- two runs on one figure (python -m analysis compare), drawn from their summaries ----------

RUN_COLOURS = ("#1565c0", "#ef6c00")


def _level_steps(levels: list[dict], key) -> tuple[list[float], list[float]]:
    """Each load level as a flat segment over its own time span, from the run's start."""
    rows = sorted((r for r in levels if r.get("start_ts") is not None),
                  key=lambda r: r["start_ts"])
    if not rows:
        return [], []
    t0 = rows[0]["start_ts"]
    x: list[float] = []
    y: list[float] = []
    for r in rows:
        v = key(r)
        x += [r["start_ts"] - t0, r["start_ts"] - t0 + r["duration_s"]]
        y += [v, v]
    return x, y


def draw_goodput_over_time(ax, runs: list[tuple[str, list[dict]]]) -> None:
    """Goodput (ok/s) of each run per load level, against seconds since its first request."""
    for (label, levels), colour in zip(runs, RUN_COLOURS):
        x, y = _level_steps(levels, lambda r: r["goodput_per_s"])
        if x:
            ax.plot(x, y, color=colour, label=label)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("seconds since the run's first request")
    ax.set_ylabel("goodput (ok/s)")
    ax.set_title("Goodput over time")
    ax.legend(loc="upper right", fontsize=8)


def draw_refused_over_time(ax, runs: list[tuple[str, list[dict]]]) -> None:
    """Share of attempts refused with 429 (solid) and 503 (dashed) per load level."""
    for (label, levels), colour in zip(runs, RUN_COLOURS):
        x, y = _level_steps(levels, lambda r: r["rate_limited_per_s"] / r["offered_per_s"]
                            if r["offered_per_s"] else 0.0)
        if x:
            ax.plot(x, y, color=colour, label=f"{label}: 429")
        x, y = _level_steps(levels, lambda r: r["unavailable_per_s"] / r["offered_per_s"]
                            if r["offered_per_s"] else 0.0)
        if any(y):
            ax.plot(x, y, color=colour, ls="--", label=f"{label}: 503")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("seconds since the run's first request")
    ax.set_ylabel("share of attempts")
    ax.set_title("Refused (429) and unavailable (503) over time")
    ax.legend(loc="lower right", fontsize=8)


def draw_offered_goodput(ax, runs: list[tuple[str, list[dict]]]) -> None:
    """Goodput against offered load, one line per run."""
    top = 0.0
    for (label, levels), colour in zip(runs, RUN_COLOURS):
        rows = sorted(levels, key=lambda r: r["offered_per_s"])
        x = [r["offered_per_s"] for r in rows]
        if x:
            ax.plot(x, [r["goodput_per_s"] for r in rows], "o-", color=colour, label=label)
            top = max(top, max(x))
    ax.plot([0, top], [0, top], ":", color="#999", label="offered")
    ax.set_xlabel("offered load (attempts/s)")
    ax.set_ylabel("goodput (ok/s)")
    ax.set_title("Goodput against offered load")
    ax.legend(loc="upper left", fontsize=8)


def draw_latency_percentiles(ax, runs: list[tuple[str, list[tuple[str, dict]]]]) -> None:
    """p50/p90/p99 of each latency group, the runs' bars side by side (log scale)."""
    groups = [name for name, _ in runs[0][1]]
    stats = ("p50", "p90", "p99")
    height = 0.8 / len(runs)
    labels = [f"{g} {p}" for g in groups for p in stats]
    for i, ((label, rows), colour) in enumerate(zip(runs, RUN_COLOURS)):
        values = [(d or {}).get(p) for _, d in rows for p in stats]
        y = [j + (i - (len(runs) - 1) / 2) * height for j in range(len(labels))]
        ax.barh(y, [v if v else np.nan for v in values], height=height, color=colour,
                label=label)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_title("Latency percentiles")
    ax.legend(loc="lower right", fontsize=8)


def render_comparison(levels: list[tuple[str, list[dict]]], offered_curve: bool,
                      latency: list[tuple[str, list[tuple[str, dict]]]]) -> dict[str, bytes]:
    figures = {"goodput_over_time": _png(lambda ax: draw_goodput_over_time(ax, levels)),
               "refused_over_time": _png(lambda ax: draw_refused_over_time(ax, levels))}
    if offered_curve:
        figures["offered_goodput"] = _png(lambda ax: draw_offered_goodput(ax, levels))
    rows = len(latency[0][1]) * 3 if latency and latency[0][1] else 0
    if rows:
        figures["latency"] = _png(lambda ax: draw_latency_percentiles(ax, latency),
                                  size=(8, 1.2 + 0.35 * rows))
    return figures
