"""The runs index (reports/index.html): `python -m analysis index`, and its refresh after a
command writes into a run folder or beside it. The pipeline's (its
commands call these), moved here to keep pipeline.py small."""

from __future__ import annotations

from pathlib import Path

from . import store
from .console import Console, stamp


def refresh_index(reports: Path, console: Console) -> None:
    """After writing into a run folder or beside it: the runs index must not go stale, but
    failing to refresh it must not fail the command that did the real work."""
    try:
        out = write_index(reports)
    except Exception as exc:  # noqa: BLE001 - a note, not a failure
        console.note(f"could not refresh {reports / 'index.html'}: {exc}")
        return
    if out is not None:
        console.out(f"runs index: {out}")


def write_index(reports: Path) -> Path | None:
    """Regenerate reports/index.html; None when an index.html not ours is in the way."""
    from .pages.runs_index import render_runs_index

    runs, pages = store.list_runs(reports)
    return store.write_runs_index(reports, render_runs_index(runs, pages, reports.name,
                                                             stamp()))


def index(reports: Path, console: Console) -> int:
    if not reports.is_dir():
        console.error(f"{reports} does not exist: run a scenario first (make tight-loop)")
        return 2
    out = write_index(reports)
    if out is None:
        console.error(f"{reports / 'index.html'} exists and was not written by this tool; "
                      "left alone")
        return 1
    console.out(f"runs index: {out}")
    return 0
