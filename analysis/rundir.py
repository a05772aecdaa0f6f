"""The one module that reads and writes run folders.

A run folder holds run.json and events/ (written by the harness during the run) and
everything `python -m analysis report` derives from them, which can be deleted and rebuilt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa

from .events_file import SUFFIX, read_events


ANALYSED = ("worker", "phase", "logical_id", "attempt", "key_id", "endpoint", "intended_ts",
            "sent_ts", "latency_ms", "ttfb_ms", "status", "outcome", "retry_after_s")


class RunError(Exception):
    """A run folder that cannot be analysed at all; the message says why and what to do."""


@dataclass
class Run:
    path: Path
    manifest: dict
    events: pd.DataFrame
    problems: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.manifest.get("run_id") or self.path.name


def newest_run(reports: Path) -> Path:
    """The most recent run folder under `reports` (by run.json or events/ modification)."""
    if not reports.is_dir():
        raise RunError(f"{reports} does not exist: run a scenario first (make tight-loop)")
    runs = [p for p in reports.iterdir() if p.is_dir() and
            ((p / "run.json").is_file() or (p / "events").is_dir())]
    if not runs:
        raise RunError(f"no run folders in {reports}: run a scenario first (make tight-loop)")
    return max(runs, key=lambda p: max((p / n).stat().st_mtime for n in ("run.json", "events")
                                       if (p / n).exists()))


def load_run(path: Path, progress: Callable[[str], None] | None = None) -> Run:
    """Read run.json and every events file; problems that still leave something to analyse
    (a cut file, another schema version, a missing manifest) are listed, not raised."""
    path = Path(path)
    if not path.exists():
        raise RunError(f"run folder {path} does not exist")
    if not path.is_dir():
        raise RunError(f"{path} is not a run folder (it is a file)")
    problems: list[str] = []
    manifest: dict = {}
    manifest_path = path / "run.json"
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            problems.append(f"run.json is not valid JSON ({exc}); scenario and options unknown")
    else:
        problems.append("run.json is missing; scenario and options unknown")
    if manifest and not manifest.get("complete", False):
        problems.append("the run did not finish (run.json says complete: false): its last "
                        "second may be missing")
    files = sorted((path / "events").glob(f"*{SUFFIX}")) if (path / "events").is_dir() else []
    if not files:
        raise RunError(f"{path} has no events files (events/*{SUFFIX}): nothing to analyse")
    tables = []
    for i, f in enumerate(files, 1):
        if progress:
            progress(f"reading events {i}/{len(files)}: {f.name}")
        table, problem = read_events(f)
        if problem:
            problems.append(problem)
        tables.append(table)
    table = pa.concat_tables(tables).select(list(ANALYSED))
    # Only the columns the analysis reads become pandas columns; request ids, raw header text
    # and error strings stay in the events files (a 5M-event run is several GB as objects).
    events = table.to_pandas()
    for col in ("phase", "outcome", "key_id", "endpoint"):
        events[col] = events[col].astype("category")
    # A closed-loop request is intended when it is sent.
    events["intended_ts"] = events["intended_ts"].fillna(events["sent_ts"])
    if len(events) == 0:
        problems.append("no events could be read")
    return Run(path, manifest, events, problems)


def write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_summary(run: Run, summary: dict) -> Path:
    out = run.path / "summary.json"
    write_text(out, json.dumps(summary, indent=2, allow_nan=False, default=str) + "\n")
    return out


def write_report(run: Run, summary: dict, figures: dict[str, bytes], html: str) -> Path:
    """summary.json, the figures as PNG, and index.html; returns the path of index.html."""
    write_summary(run, summary)
    for name, png in figures.items():
        (run.path / f"{name}.png").write_bytes(png)
    out = run.path / "index.html"
    write_text(out, html)
    return out
