"""A spike's phases (baseline, spike, recovery) shaded behind a time-series figure."""

from __future__ import annotations

import pandas as pd

SPIKE_PHASES = {"baseline": "#90caf9", "spike": "#ef9a9a", "recovery": "#a5d6a7"}


def phase_spans(chat: pd.DataFrame, t0: float) -> list[tuple[str, float, float]]:
    """(phase, start, end) in seconds from t0 for a spike's phases, in the order they ran:
    each from its first send to the next phase's first send (the last: to its last send)."""
    if "phase" not in chat:
        return []
    # compared as they are: astype(str) on a categorical column builds a string per row
    sent = chat["sent_ts"].to_numpy(float)
    rows = {name: (chat["phase"] == name).to_numpy(bool) for name in SPIKE_PHASES}
    firsts = sorted((float(sent[rows[name]].min()), name) for name in SPIKE_PHASES
                    if rows[name].any())
    spans = []
    for i, (start, name) in enumerate(firsts):
        end = (firsts[i + 1][0] if i + 1 < len(firsts) else float(sent[rows[name]].max()))
        spans.append((name, start - t0, end - t0))
    return spans


def shade_phases(ax, chat: pd.DataFrame, t0: float) -> None:
    """A spike's phases as shaded bands behind the data, named in the figure's legend (a
    name written on the axes would sit under the legend or on the data)."""
    for name, start, end in phase_spans(chat, t0):
        ax.axvspan(start, end, color=SPIKE_PHASES[name], alpha=0.25, lw=0, zorder=0,
                   label=f"{name} phase")
