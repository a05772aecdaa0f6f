"""The figures that show the evidence behind a section's headline: the Retry-After brackets
as the audit judged them, and goodput against the fitted quota's sustained rate. Each draws
on the `ax` it is handed from data already computed (run.run_figures lists them)."""

from __future__ import annotations

import numpy as np
import pandas as pd

COLOURS = {"ok": "#2e7d32", "rate_limited": "#f9a825", "unavailable": "#c62828",
           "other": "#6d6d6d"}
MAX_POINTS = 20_000  # per series: more only slows the drawing
# Places within one pixel of the 800 x 420 figure (the axes are smaller still) land on the
# same pixels: each is drawn once, as dark as the points on it would make it. A 429's
# bracket is much like its neighbours': a million of them hold a few thousand places.
GRID = (800, 420)
ALPHA = 0.6


def distinct_places(columns: list[np.ndarray], hi: float) -> tuple[np.ndarray, np.ndarray]:
    """(indices, counts): the first row at each distinct place on the (0..hi) plane, to
    GRID's resolution (the last column is y, the others x), in row order, and how many rows
    are there."""
    key = np.zeros(len(columns[0]), np.int64)
    for i, v in enumerate(columns):
        cells = GRID[1] if i == len(columns) - 1 else GRID[0]
        v = np.clip(np.nan_to_num(v / hi, nan=-1.0), -1.0, 2.0)
        key = key * (3 * cells + 2) + np.round((v + 1) * cells).astype(np.int64)
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    order = np.argsort(first)
    return first[order], counts[order]


def _stacked(colour: str, counts: np.ndarray, share: float) -> np.ndarray:
    """RGBA per place: `counts * share` points of ALPHA drawn on one another (share: the
    part of the points a figure of MAX_POINTS would draw)."""
    from matplotlib.colors import to_rgba

    rgba = np.tile(to_rgba(colour), (len(counts), 1))
    rgba[:, 3] = 1 - (1 - ALPHA) ** np.maximum(1.0, counts * share)
    return rgba


def draw_retry_after(ax, points: pd.DataFrame | None) -> None:
    """Each 429's stated Retry-After against the interval in which the quota reopened after
    it (last refusal .. first admission), coloured as the audit judged it: a stated wait is
    honest where its interval touches the band between "stated = needed" and 1 s more."""
    from matplotlib.collections import LineCollection

    if points is None or points.empty:
        ax.text(0.5, 0.5, "no 429 with Retry-After followed by an admission", ha="center",
                va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    stated, lo, up = (points[c].to_numpy(float) for c in ("stated", "wait_min", "wait_max"))
    early, late = points["early"].to_numpy(bool), points["late"].to_numpy(bool)
    hi = float(max(np.nanmax(up), np.nanmax(stated), 1)) * 1.05
    ys = np.array([0, hi])
    ax.fill_betweenx(ys, ys - 1, ys, color="#2e7d32", alpha=0.12,
                     label="honest: stated wait up to 1 s past the reopening")
    ax.plot(ys, ys, color="#2e7d32", lw=1)
    kinds = (("checked: long enough", ~early & ~late, "#1565c0"),
             ("early: refused after the stated wait", early, "#c62828"),
             ("over 1 s late", late, "#ef6c00"))
    for label, mask, colour in kinds:
        rows = np.flatnonzero(mask)
        if not len(rows):
            continue
        share = min(1.0, MAX_POINTS / len(rows))
        bars, n_bars = distinct_places([lo[rows], up[rows], stated[rows]], hi)
        dots, n_dots = distinct_places([up[rows], stated[rows]], hi)
        bars, dots = rows[bars], rows[dots]
        # a point where the interval is narrower than a pixel, a bar where it is not; the
        # bars as hlines draws them, from plain arrays (hlines goes through masked ones)
        ax.add_collection(LineCollection(
            np.stack([np.c_[lo[bars], stated[bars]], np.c_[up[bars], stated[bars]]], axis=1),
            colors=_stacked(colour, n_bars, share), linewidths=1), autolim=False)
        ax.scatter(up[dots], stated[dots], s=5, c=_stacked(colour, n_dots, share),
                   label=f"{label} ({len(rows)})")
    ax.set_xlim(0, hi)
    ax.set_ylim(0, hi)
    ax.set_xlabel("observed: when the quota reopened after the 429 (s, last refusal .. "
                  "first admission)", fontsize=8)
    ax.set_ylabel("stated Retry-After (s)")
    ax.set_title("Stated Retry-After against when the quota reopened")
    ax.legend(loc="upper center", fontsize=7, bbox_to_anchor=(0.5, -0.2), ncol=2,
              frameon=False)


def draw_throughput(ax, tp: dict) -> None:
    """Goodput and error fraction against offered load when the scenario offered several
    levels; with one offered level, goodput per time slice over time (no curve to draw).
    Either way against the fitted quota's sustained rate."""
    levels, sustained = tp.get("levels") or [], tp.get("sustained_per_s")
    if not levels:
        ax.text(0.5, 0.5, "no load level with enough attempts", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return
    ax2 = ax.twinx()
    if tp.get("by") == "phase" and len(levels) >= 2:
        rows = sorted(levels, key=lambda r: r["offered_per_s"])
        x = [r["offered_per_s"] for r in rows]
        ax.plot(x, [r["goodput_per_s"] for r in rows], "o-", color=COLOURS["ok"],
                label="goodput (ok/s)")
        ax.plot(x, x, ":", color="#999", label="offered")
        ax2.plot(x, [r["error_fraction"] for r in rows], "s--", color=COLOURS["unavailable"],
                 label="error fraction")
        ax.set_xlabel("offered load (attempts/s)")
        ax.set_title("Throughput against error rate")
    else:
        rows = sorted(levels, key=lambda r: r["start_s"])
        edges = [r["start_s"] for r in rows]
        for r in rows:
            ax.plot([r["start_s"], r["end_s"]], [r["goodput_per_s"]] * 2, color=COLOURS["ok"],
                    lw=2, label="goodput (ok/s) per time slice" if r is rows[0] else None)
            ax2.plot([r["start_s"], r["end_s"]], [r["error_fraction"]] * 2, "--",
                     color=COLOURS["unavailable"], lw=1,
                     label="error fraction" if r is rows[0] else None)
        overall = tp.get("overall") or {}
        if overall.get("goodput_per_s") is not None:
            ax.axhline(overall["goodput_per_s"], color=COLOURS["ok"], ls=":", lw=1,
                       label=f"whole run: {overall['goodput_per_s']:.3g} ok/s")
        ax.set_xlim(left=min(edges))
        ax.set_xlabel("seconds since the first request")
        ax.set_title("One offered level: goodput over time")
    if sustained:
        ax.axhline(sustained, color="#555", ls="--", lw=1,
                   label=f"fitted sustained rate: {sustained:.3g} ok/s")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("requests/s")
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("error fraction")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    # Below the axes: inside, it covers the very points it labels.
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper center", fontsize=7,
              bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
