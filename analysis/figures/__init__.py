"""The figures: draw_* functions draw on the `ax` they are handed from data already computed;
canvas.draw_pngs is the one function that makes figures, saves them and closes them.
matplotlib is imported only when a figure is drawn."""

from .backoff import backoff_figure
from .canvas import draw_pngs
from .compare import comparison_figures
from .run import run_figures

__all__ = ["backoff_figure", "comparison_figures", "draw_pngs", "run_figures"]
