"""Two runs on one figure (python -m analysis compare), drawn from their summaries."""

from __future__ import annotations

import numpy as np

from .canvas import draw_pngs


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


def comparison_figures(levels: list[tuple[str, list[dict]]], offered_curve: bool,
                       latency: list[tuple[str, list[tuple[str, dict]]]]) -> dict[str, bytes]:
    """The comparison page's figures from the two summaries' throughput levels and latency
    groups (pages.compare.figure_data)."""
    plan = [("goodput_over_time", lambda ax: draw_goodput_over_time(ax, levels), None),
            ("refused_over_time", lambda ax: draw_refused_over_time(ax, levels), None)]
    if offered_curve:
        plan.append(("offered_goodput", lambda ax: draw_offered_goodput(ax, levels), None))
    rows = len(latency[0][1]) * 3 if latency and latency[0][1] else 0
    if rows:
        plan.append(("latency", lambda ax: draw_latency_percentiles(ax, latency),
                     (8, 1.2 + 0.35 * rows)))
    return draw_pngs(plan)
