"""The one place a figure is made, saved as PNG and closed.

matplotlib is imported here, on the first figure, and not through pyplot: a command that
draws nothing (index, render) does not pay for it, and a figure made on an Agg canvas of its
own needs no figure manager to be closed (pyplot keeps every figure until plt.close).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable

DEFAULT_SIZE = (8, 3.6)  # inches, at DPI
DPI = 100

Plan = Iterable[tuple[str, Callable, tuple[float, float] | None]]


def draw_pngs(plan: Plan) -> dict[str, bytes]:
    """Each (name, draw, size) of `plan` drawn on an `ax` of its own figure, saved as PNG
    and closed; name -> PNG bytes. `draw(ax)` draws from data already computed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = {}
    for name, draw, size in plan:
        fig = Figure(figsize=size or DEFAULT_SIZE, dpi=DPI)
        FigureCanvasAgg(fig)
        try:
            draw(fig.add_subplot())
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
            out[name] = buf.getvalue()
        finally:
            fig.clear()
    return out
