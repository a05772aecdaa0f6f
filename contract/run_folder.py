"""The run folder's layout: its file names, the run-id format and atomic JSON writes.

A run folder holds run.json (the manifest) and events/ (one Arrow file per process), written
during the run, Locust's own files under locust/, and what the analysis derives from them.
Every part of the harness names these files from here, so that the runner, the locustfiles,
the live check, the analysis and the demo agree on one layout.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from .events import SUFFIX
from .target import reports_dir

MANIFEST = "run.json"
EVENTS_DIR = "events"
LOCUST_DIR = "locust"
SUMMARY = "summary.json"
REPORT_PAGE = "index.html"
# The run-id: when the run started (UTC, to the second) and its scenario.
RUN_ID_TIME = "%Y%m%dT%H%M%SZ"
# The folder tune's live check writes beside the run it tunes.
LIVE_SUFFIX = "-tune-live"


def new_run_id(scenario: str, now: dt.datetime | None = None) -> str:
    """`20261201T103500Z-tight_loop`: sorts by start time, says what ran."""
    return f"{(now or dt.datetime.now(dt.UTC)).strftime(RUN_ID_TIME)}-{scenario}"


# --run-dir: the runner's and every locustfile's, with this one default.
RUN_DIR_HELP = ("run folder (default: a new <UTC time>-<scenario> folder under "
                "$PINAIVU_REPORTS_DIR, else under reports/ in the working directory)")


def default_run_dir(scenario: str) -> Path:
    """Where a run goes when no --run-dir is given: a new run-id under reports_dir()."""
    return reports_dir() / new_run_id(scenario)


def holds_run(folder: Path) -> bool:
    """Whether `folder` already holds a run (its manifest or its events)."""
    folder = Path(folder)
    return (folder / MANIFEST).exists() or (folder / EVENTS_DIR).exists()


def events_path(run_dir: Path, worker: str) -> Path:
    return Path(run_dir) / EVENTS_DIR / f"{worker}{SUFFIX}"


def events_files(run_dir: Path) -> list[Path]:
    folder = Path(run_dir) / EVENTS_DIR
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []


def write_json_atomic(path: Path, doc) -> None:
    """Write JSON so that a reader (or a crash) never sees half a file: a temporary file in
    the same folder, then one rename."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
