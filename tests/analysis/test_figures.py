"""figures/: one place makes, saves and closes figures; the Retry-After figure draws each
distinct place once, as dark as its points; commands that draw nothing import no matplotlib."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.figures import draw_pngs
from analysis.figures.evidence import ALPHA, GRID, distinct_places, draw_retry_after

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


def test_draw_pngs_hands_each_draw_an_ax_and_returns_pngs():
    seen = []
    out = draw_pngs([("a", lambda ax: seen.append(ax.plot([0, 1], [0, 1])), None),
                     ("b", lambda ax: seen.append(ax.set_title("b")), (4, 2))])
    assert list(out) == ["a", "b"] and all(v.startswith(PNG) for v in out.values())
    assert len(seen) == 2


def test_distinct_places_merge_within_a_pixel_and_keep_the_rest():
    hi = 10.0
    px = hi / GRID[0]
    x = np.array([1.0, 1.0 + px / 10, 1.0 + 3 * px, 5.0, 1.0, np.nan])
    y = np.array([2.0, 2.0, 2.0, 2.0, 2.0 + 3 * hi / GRID[1], 2.0])
    rows, counts = distinct_places([x, y], hi)
    # the first two share a place; the third is 3 px to the right, the fifth 3 px above
    assert rows.tolist() == [0, 2, 3, 4, 5] and counts.tolist() == [2, 1, 1, 1, 1]


def _brackets(n: int, copies: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    stated = np.repeat(rng.integers(1, 10, n).astype(float), copies)
    lo = stated - np.repeat(rng.uniform(0.1, 0.9, n), copies)
    return pd.DataFrame({"stated": stated, "wait_min": lo, "wait_max": lo + 0.05,
                         "early": False, "late": False})


def test_the_retry_after_figure_draws_each_place_once_and_counts_every_429():
    draws = {}

    def draw(ax):
        draw_retry_after(ax, _brackets(300, 1000))  # 300,000 429s at 300 places
        draws["segments"] = sum(len(c.get_segments()) for c in ax.collections
                                if hasattr(c, "get_segments"))
        draws["dots"] = sum(len(c.get_offsets()) for c in ax.collections
                            if c.get_label().startswith("checked"))
        draws["labels"] = ax.get_legend_handles_labels()[1]
        draws["alpha"] = [c.get_facecolors()[:, 3] for c in ax.collections
                          if c.get_label().startswith("checked")][0]
    draw_pngs([("retry_after", draw, None)])
    assert draws["segments"] <= 300 and draws["dots"] <= 300
    assert "checked: long enough (300000)" in draws["labels"]
    # a place holding many 429s is as dark as many dots of ALPHA on one another
    assert draws["alpha"].min() > ALPHA


def test_commands_that_draw_nothing_import_neither_matplotlib_nor_pandas(tmp_path):
    (tmp_path / "reports").mkdir()
    code = ("import sys; from analysis.cli import main; code = main(['index', sys.argv[1]]); "
            "print(sorted(m for m in ('matplotlib', 'pandas') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "reports")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("[]"), proc.stdout
