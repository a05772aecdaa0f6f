"""Figures of a run. Each draw_* function draws on the `ax` it is handed, from data already
computed; `run_figures` lists them for canvas.draw_pngs, which makes, saves and closes them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from contract.events import CHAT
from .canvas import draw_pngs
from .evidence import COLOURS, MAX_POINTS, draw_retry_after, draw_throughput
from .phases import shade_phases
from .probe import draw_probe_timeline


GROUPS = ("ok", "rate_limited", "unavailable", "other")


def _group_masks(outcome: pd.Series) -> dict[str, np.ndarray]:
    """Each outcome group's rows. Compared as they are, not as text: on a categorical column
    that is a comparison of codes, where astype(str) builds a million strings."""
    masks = {name: (outcome == name).to_numpy(bool) for name in GROUPS[:-1]}
    masks["other"] = ~(masks["ok"] | masks["rate_limited"] | masks["unavailable"])
    return masks


def draw_status_timeline(ax, chat: pd.DataFrame) -> None:
    """Attempts per second, stacked by outcome (a spike's phases shaded behind)."""
    sent = chat["sent_ts"].to_numpy(float)
    shade_phases(ax, chat, float(sent.min()))
    sec = np.floor(sent - sent.min()).astype(int)
    groups = _group_masks(chat["outcome"])
    width = max(1, int(np.ceil((sec.max() + 1) / 600)))  # at most 600 bars
    bins = sec // width
    n = bins.max() + 1
    edges = np.arange(n + 1) * width
    bottom = np.zeros(n)
    for name in GROUPS:
        counts = np.bincount(bins[groups[name]], minlength=n) / width
        if counts.any():
            # One stacked step polygon per outcome: bars would be thousands of patches.
            ax.stairs(bottom + counts, edges, baseline=bottom, fill=True, color=COLOURS[name],
                      label=name.replace("_", " "))
            bottom = bottom + counts
    ax.set_xlabel("seconds since the first request")
    ax.set_ylabel("attempts per second")
    ax.set_title("Status over time")
    ax.legend(loc="upper right", fontsize=8)


def draw_accepts(ax, chat: pd.DataFrame, fit, window_marks: np.ndarray) -> None:
    """Cumulative accepts per key, with the fitted windows or bucket drawn on them."""
    t0 = chat["sent_ts"].min()
    shade_phases(ax, chat, float(t0))
    ok = chat[(chat["outcome"] == "ok").to_numpy(bool)]
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
    groups = _group_masks(chat["outcome"])
    latency = chat["latency_ms"].to_numpy(float)
    data, labels = [], []
    for name in GROUPS:
        v = latency[groups[name]]
        v = v[np.isfinite(v) & (v > 0)]
        if len(v):
            data.append(v[:: max(1, len(v) // MAX_POINTS)])
            labels.append(f"{name.replace('_', ' ')} ({len(v)})")
    if not data:
        ax.set_axis_off()
        return
    ax.boxplot(data, orientation="horizontal", showfliers=False, widths=0.6)
    ax.set_yticks(range(1, len(labels) + 1), labels)
    ax.set_xscale("log")
    ax.set_xlabel("latency from send (ms, log scale)")
    ax.set_title("Latency by outcome")


def run_figures(events: pd.DataFrame, fit, audit_points, throughput: dict,
                window_marks, probe: dict | None = None) -> dict[str, bytes]:
    """The run's figures (none without chat completions): name -> PNG bytes. `fit` is the
    quota fit, `window_marks` its fitted window starts, `audit_points` the Retry-After
    audit's per-429 brackets, `throughput` the summary's throughput section, `probe` its
    probe section (the probe's timeline is drawn when there is one)."""
    chat = events[events["endpoint"] == CHAT]
    if chat.empty:
        return {}
    steps = ([("probe_timeline", lambda ax: draw_probe_timeline(ax, chat, probe), (9, 4.6))]
             if probe and probe.get("steps") else [])
    return draw_pngs(steps + [
        ("status_timeline", lambda ax: draw_status_timeline(ax, chat), None),
        ("accepts", lambda ax: draw_accepts(ax, chat, fit, window_marks), None),
        ("retry_after", lambda ax: draw_retry_after(ax, audit_points), (8, 4.2)),
        ("throughput", lambda ax: draw_throughput(ax, throughput), (8, 4.2)),
        ("latency", lambda ax: draw_latency(ax, chat), None)])
