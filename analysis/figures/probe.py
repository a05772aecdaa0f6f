"""The adaptive probe's steps on one timeline (issue 13, item 5): every chat attempt at its
send time, in a row by what came back, with each step's span shaded and labelled."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .evidence import COLOURS

LANES = ("other", "unavailable", "rate_limited", "ok")
PIXELS = 1600  # sends closer than this part of the run land on one marker: drawn once
SHADES = ("#e3f2fd", "#f3e5f5")


def _lanes(outcome: pd.Series) -> dict[str, np.ndarray]:
    masks = {name: (outcome == name).to_numpy(bool) for name in LANES[1:]}
    masks["other"] = ~(masks["ok"] | masks["rate_limited"] | masks["unavailable"])
    return masks


def draw_probe_timeline(ax, chat: pd.DataFrame, probe: dict) -> None:
    """`chat`: the chat attempts; `probe`: summary.json's probe section (its steps' spans are
    seconds since the probe's start, `started_ts`)."""
    t = chat["sent_ts"].to_numpy(float) - float(probe["started_ts"])
    steps = probe["steps"]
    ends = [s["end_s"] for s in steps] + ([float(t.max())] if len(t) else [])
    hi = max(ends + [1.0])
    for i, s in enumerate(steps):
        ax.axvspan(s["start_s"], s["end_s"], color=SHADES[i % 2], lw=0, zorder=0)
        ax.text((s["start_s"] + s["end_s"]) / 2, len(LANES) + 2.3,
                f"{s['index']} {s['name']}", rotation=90, ha="center", va="top", fontsize=7,
                color="#333", clip_on=True)
    for y, name in enumerate(LANES):
        x = t[_lanes(chat["outcome"])[name]]
        if not len(x):
            continue
        x = np.unique(np.round(x / hi * PIXELS)) * hi / PIXELS
        ax.scatter(x, np.full(len(x), y), s=150, marker="|", linewidths=1.5,
                   color=COLOURS[name], zorder=2)
    ax.set_yticks(range(len(LANES)), [n.replace("_", " ") for n in LANES])
    ax.set_ylim(-0.6, len(LANES) + 2.4)  # the steps' names above the rows
    ax.set_xlim(min([0.0] + [s["start_s"] for s in steps]), hi * 1.01)
    ax.set_xlabel("seconds since the probe started")
    ax.set_title("The probe's steps: what was sent and what came back")
