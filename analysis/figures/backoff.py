"""The backoff figure: every retry policy setting simulated, goodput against what it wasted."""

from __future__ import annotations

from .canvas import draw_pngs

BACKOFF_X_CLIP = 20  # 429s per success: more (no success at all included) is drawn at 20


def draw_backoff(ax, backoff: dict) -> None:
    """Goodput against 429s per success, one point per policy setting simulated (against
    attempts per success when the run reached no quota: then only 503s cost anything)."""
    pol = backoff["policies"]
    kinds = sorted({p["params"]["kind"] for p in pol})
    capacity = bool(backoff.get("capacity_only"))
    key = "attempts_per_success" if capacity else "rejected_per_success"

    def x(p):
        return min(p[key], BACKOFF_X_CLIP)
    for kind in kinds:
        pts = [p for p in pol if p["params"]["kind"] == kind]
        # unclipped: the best settings sit on the axes' edge (no 429 at all)
        ax.scatter([x(p) for p in pts], [p["goodput_per_s"] for p in pts], s=14, alpha=0.7,
                   label=kind, clip_on=False)
    best = backoff.get("recommended")
    if best:
        ax.scatter([x(best)], [best["goodput_per_s"]], s=120, facecolors="none",
                   edgecolors="black", label="recommended", clip_on=False)
    live = backoff.get("live") or {}
    for name, marker in (("recommended", "*"), ("sdk_default", "X")):
        if isinstance(live.get(name), dict):
            real = live[name]["live"]
            ax.scatter([x(real)], [real["goodput_per_s"]], s=110, marker=marker,
                       color="black", label=f"{name.replace('_', ' ')}, live", clip_on=False)
    ax.axhline(backoff["ideal_goodput_per_s"], color="#999", ls=":", label="ideal goodput")
    if capacity:
        ax.set_xlim(1, max([x(p) for p in pol] + [1.5]) * 1.05)
        ax.set_xlabel(f"attempts per success (no quota reached; {BACKOFF_X_CLIP} or more "
                      f"drawn at {BACKOFF_X_CLIP})")
        ax.set_title("Retry policies against 503s: goodput against attempts sent")
    else:
        limit = backoff["limits"]["max_429_per_success"]
        ax.axvline(limit, color="#c62828", ls="--", lw=0.8,
                   label=f"limit: {limit:g} 429s/success")
        ax.set_xscale("symlog", linthresh=0.1)
        # a count per success is never negative: symlog would otherwise mirror the axis
        ax.set_xlim(0, BACKOFF_X_CLIP * 1.3)
        ax.set_xlabel(f"429s per success (symlog; {BACKOFF_X_CLIP} or more drawn at "
                      f"{BACKOFF_X_CLIP})")
        ax.set_title("Retry policies: goodput against wasted 429s")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("goodput (ok/s)")
    # beside the axes, not on them: every corner of the plane holds points for some run
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)


def backoff_figure(backoff: dict) -> dict[str, bytes]:
    """{"backoff": PNG} for a tuning's summary section."""
    return draw_pngs([("backoff", lambda ax: draw_backoff(ax, backoff), (8, 3.8))])
