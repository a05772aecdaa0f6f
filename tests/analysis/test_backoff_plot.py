"""The backoff figure: an axis that cannot go below zero 429s, and a legend that hides no
point (issue 10, item 6)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from analysis.figures.backoff import draw_backoff  # noqa: E402


def _policy(kind: str, rejected: float, goodput: float) -> dict:
    return {"policy": f"{kind} {rejected:g} {goodput:g}", "params": {"kind": kind},
            "rejected_per_success": rejected, "goodput_per_s": goodput,
            "attempts_per_success": 1 + rejected}


def _spread_backoff() -> dict:
    """Points over the whole plane the figure spans, so that a legend anywhere inside the
    axes would sit on one of them."""
    kinds = ("none", "full_jitter", "retry_after")
    pol = [_policy(kinds[(i + j) % 3], r, g)
           for i, r in enumerate([0, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30])
           for j, g in enumerate(np.linspace(0, 2.2, 12))]
    best = pol[5]
    return {"policies": pol, "recommended": best, "ideal_goodput_per_s": 2.0,
            "limits": {"max_429_per_success": 0.2},
            "live": {"recommended": {"live": _policy("live", 0.03, 1.9)},
                     "sdk_default": {"live": _policy("live", 1.5, 2.0)}}}


@pytest.fixture
def drawn():
    fig, ax = plt.subplots(figsize=(8, 3.8), dpi=100)
    draw_backoff(ax, _spread_backoff())
    fig.tight_layout()
    fig.canvas.draw()
    yield fig, ax
    plt.close(fig)


def test_the_429_axis_has_no_negative_side(drawn):
    _, ax = drawn
    lo, hi = ax.get_xlim()
    assert lo >= 0
    assert hi >= 20  # the clipped points (20 or more 429s per success) stay on the axes


def test_the_legend_covers_no_point(drawn):
    fig, ax = drawn
    legend = ax.get_legend()
    assert legend is not None
    box = legend.get_window_extent(fig.canvas.get_renderer())
    points = np.concatenate([c.get_offset_transform().transform(c.get_offsets())
                             for c in ax.collections if len(c.get_offsets())])
    assert len(points) >= 144
    # half a marker's width of margin: a point whose marker touches the box is covered too
    margin = 5.0
    inside = ((points[:, 0] >= box.x0 - margin) & (points[:, 0] <= box.x1 + margin)
              & (points[:, 1] >= box.y0 - margin) & (points[:, 1] <= box.y1 + margin))
    assert not inside.any(), points[inside]
    # and the legend is drawn inside the saved figure, not cut off at its edge
    fig_box = fig.bbox
    assert box.x1 <= fig_box.x1 + 1 and box.y0 >= fig_box.y0 - 1
