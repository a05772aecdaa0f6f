"""The reports folder: every run in it, its index page, the comparison pages beside them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contract.run_folder import EVENTS_DIR, MANIFEST, REPORT_PAGE, SUMMARY, write_text_atomic
from ..summary import Summary
from .runs import read_manifest
from .summaries import current_summary

INDEX_MARK = '<meta name="generator" content="pinaivu-runs-index">'
COMPARE_PREFIX = "compare-"


@dataclass
class RunListing:
    """What the runs index shows of one folder under reports/, read without ever raising."""
    name: str
    path: Path
    manifest: dict
    manifest_problem: str | None
    summary: Summary | None
    summary_problem: str | None
    has_page: bool
    mtime: float


def compare_page_name(a: Path, b: Path) -> str:
    return f"{COMPARE_PREFIX}{Path(a).name}-vs-{Path(b).name}.html"


def list_runs(reports: Path) -> tuple[list[RunListing], list[str]]:
    """Every run folder under `reports` and the comparison pages beside them, by name.
    A folder that cannot be read is still listed, with what went wrong."""
    runs: list[RunListing] = []
    pages: list[str] = []
    try:
        entries = sorted(Path(reports).iterdir())
    except OSError:
        return [], []
    own = (MANIFEST, EVENTS_DIR, SUMMARY)
    for p in entries:
        try:
            if p.is_file() and p.name.startswith(COMPARE_PREFIX) and p.suffix == ".html":
                pages.append(p.name)
                continue
            if not (p.is_dir() and any((p / n).exists() for n in own)):
                continue
            manifest, manifest_problem = read_manifest(p)
            summary, summary_problem = current_summary(p)
            has_page = (p / REPORT_PAGE).is_file()
            mtime = max([(p / n).stat().st_mtime for n in own if (p / n).exists()]
                        or [p.stat().st_mtime])
        except OSError as exc:
            runs.append(RunListing(p.name, p, {}, f"cannot be read ({exc})", None, None, False,
                                   0.0))
            continue
        runs.append(RunListing(p.name, p, manifest, manifest_problem, summary,
                               summary_problem, has_page, mtime))
    return runs, pages


def may_write_runs_index(reports: Path) -> bool:
    """True unless reports/index.html exists and is someone else's page."""
    out = Path(reports) / REPORT_PAGE
    if not out.exists():
        return True
    try:
        with out.open(encoding="utf-8", errors="replace") as f:
            return INDEX_MARK in f.read(4096)
    except OSError:
        return False


def write_runs_index(reports: Path, html: str) -> Path | None:
    """reports/index.html; None (nothing written) when an index.html not ours is there."""
    if not may_write_runs_index(reports):
        return None
    out = Path(reports) / REPORT_PAGE
    write_text_atomic(out, html)
    return out
