"""Run folders: finding them under reports/, reading run.json and the events.

A run folder holds run.json and events/ (written by the harness during the run) and
everything `python -m analysis report` derives from them, which can be deleted and rebuilt,
except what needed live traffic (`tune`'s results), which a rebuild carries over. Its file
names come from contract.run_folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from contract.events import SUFFIX
from contract.run_folder import EVENTS_DIR, MANIFEST, events_files
from .probe import read_probe

if TYPE_CHECKING:
    import pandas as pd


ANALYSED = ("worker", "phase", "logical_id", "attempt", "key_id", "endpoint", "intended_ts",
            "sent_ts", "latency_ms", "ttfb_ms", "status", "outcome", "retry_after_s",
            "first_token_ms", "tbt_mean_ms", "tbt_max_ms", "ratelimit_limit",
            "ratelimit_window_s", "ratelimit_remaining", "ratelimit_family",
            "ratelimit_reset_s")
CATEGORIES = ("phase", "outcome", "key_id", "endpoint", "ratelimit_family")


class RunError(Exception):
    """A run folder that cannot be analysed at all; the message says why and what to do."""


@dataclass
class Run:
    path: Path
    manifest: dict
    events: pd.DataFrame
    problems: list[str] = field(default_factory=list)
    probe: dict | None = None  # probe.json, when the adaptive probe left a usable one

    @property
    def run_id(self) -> str:
        return self.manifest.get("run_id") or self.path.name


def _is_run_folder(p: Path) -> bool:
    try:
        return p.is_dir() and ((p / MANIFEST).is_file() or (p / EVENTS_DIR).is_dir())
    except OSError:
        return False


def _run_mtime(p: Path) -> float:
    return max((p / n).stat().st_mtime for n in (MANIFEST, EVENTS_DIR) if (p / n).exists())


def user_runs(reports: Path) -> list[tuple[Path, str | None]]:
    """The run folders under `reports`, oldest first (by run.json or events/ modification),
    with their scenario; the live-check runs `tune` makes (scenario backoff) are left out, so
    that `report`, `tune` and `compare` without a run name never pick one of those."""
    if not reports.is_dir():
        raise RunError(f"{reports} does not exist: run a scenario first (make tight-loop)")
    folders = sorted((p for p in reports.iterdir() if _is_run_folder(p)), key=_run_mtime)
    runs = [(p, read_manifest(p)[0].get("scenario")) for p in folders]  # run.json once each
    runs = [(p, sc) for p, sc in runs if sc != "backoff"]
    if not runs:
        raise RunError(f"no run folders in {reports}: run a scenario first (make tight-loop)")
    return runs


def comparable_runs(reports: Path, first: Path | None = None
                    ) -> tuple[Path, Path, str | None]:
    """The two runs `compare` takes by default, always of one scenario (a sweep beside a probe
    compares nothing): `first` and the newest other run of its scenario; without `first`,
    the newest run and the one before it of its scenario, else the newest two of any one
    scenario, with a note saying why the newest run was passed over. RunError when no two
    runs share a scenario."""
    listed = user_runs(reports)
    scenario = dict(listed)
    if first is not None:
        first = Path(first)
        sc = scenario[first] if first in scenario else read_manifest(first)[0].get("scenario")
        alike = [p for p, s in listed if s == sc and sc and p.resolve() != first.resolve()]
        if not alike:
            raise RunError(f"no other run of {first.name}'s scenario ({sc or 'unknown'}) "
                           f"in {reports}: run it again, or name both runs (A= and B=)")
        return first, alike[-1], None
    by_scenario: dict[str, list[Path]] = {}
    for p, sc in listed:
        if sc:  # a run of unknown scenario is like no other
            by_scenario.setdefault(sc, []).append(p)
    pairs = [runs[-2:] for runs in by_scenario.values() if len(runs) >= 2]
    if not pairs:
        counts = ", ".join(f"{sc}: {len(r)}" for sc, r in by_scenario.items()) or "none known"
        raise RunError(f"{reports} holds {len(listed)} run folder(s) and no two of one "
                       f"scenario ({counts}): comparing needs two runs of one scenario; run "
                       "one again, or name the runs (A= and B=)")
    order = {p: i for i, (p, _) in enumerate(listed)}
    older, newer = max(pairs, key=lambda pair: order[pair[1]])
    newest, newest_sc = listed[-1]
    note = None if newer == newest else (
        f"the newest run, {newest.name} ({newest_sc or 'unknown scenario'}), has no other run "
        f"of its scenario: comparing the newest two {scenario[newer]} runs instead")
    return older, newer, note


def compared_runs(given: list[Path], reports: Path) -> tuple[Path, Path, str | None]:
    """The two runs `compare` compares: the two given; one given and the newest other run of
    its scenario; none given, comparable_runs' default pair. And why, when it passed over
    the newest run."""
    if len(given) > 2:
        raise RunError("compare takes two runs (or one, compared with the newest other run "
                       "of its scenario, or none: the newest two runs of one scenario)")
    if len(given) == 2:
        return given[0], given[1], None
    if len(given) == 1:
        check_run_folder(given[0])
    return comparable_runs(reports, *given)


def newest_run(reports: Path) -> Path:
    """The most recent run folder under `reports`."""
    return user_runs(reports)[-1][0]


def check_run_folder(path: Path) -> None:
    """Raise RunError unless `path` is a folder with events files."""
    path = Path(path)
    if not path.exists():
        raise RunError(f"run folder {path} does not exist")
    if not path.is_dir():
        raise RunError(f"{path} is not a run folder (it is a file)")
    if not events_files(path):
        raise RunError(f"{path} has no events files (events/*{SUFFIX}): nothing to analyse")


def read_manifest(path: Path) -> tuple[dict, str | None]:
    """run.json, or {} and why it could not be read."""
    manifest_path = Path(path) / MANIFEST
    if not manifest_path.is_file():
        return {}, "run.json is missing; scenario and options unknown"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        return {}, f"run.json is not valid JSON ({exc}); scenario and options unknown"
    if not isinstance(manifest, dict):
        return {}, "run.json is not a JSON object; scenario and options unknown"
    return manifest, None


def load_run(path: Path, progress: Callable[[str], None] | None = None) -> Run:
    """Read run.json and every events file; problems that still leave something to analyse
    (a cut file, another schema version, a missing manifest) are listed, not raised."""
    # pyarrow and pandas here, not at the top: listing runs (the runs index) needs neither
    import pyarrow as pa
    import pyarrow.compute as pc

    from contract.events_file import read_events

    path = Path(path)
    check_run_folder(path)
    problems: list[str] = []
    manifest, problem = read_manifest(path)
    if problem:
        problems.append(problem)
    if manifest and not manifest.get("complete", False):
        problems.append("the run did not finish (run.json says complete: false): its last "
                        "second may be missing")
    files = events_files(path)
    tables = []
    for i, f in enumerate(files, 1):
        if progress:
            progress(f"reading events {i}/{len(files)}: {f.name}")
        table, problem = read_events(f, ANALYSED)
        if problem:
            problems.append(problem)
        tables.append(table)
    table = pa.concat_tables(tables)
    del tables
    # The few-valued columns are dictionary-encoded by Arrow and arrive as categoricals: a
    # pandas string column per row first, then astype("category"), costs twice as much.
    for col in CATEGORIES:
        i = table.schema.get_field_index(col)
        table = table.set_column(i, col, pc.dictionary_encode(table.column(col)))
    # Only the columns the analysis reads become pandas columns; request ids, raw header text
    # and error strings stay in the events files (a 5M-event run is several GB as objects).
    # (self_destruct: each Arrow column is freed once converted, instead of both held at once)
    events = table.to_pandas(self_destruct=True, split_blocks=True)
    del table
    for col in CATEGORIES:  # in sorted order, as astype("category") had them (groupby's)
        events[col] = events[col].cat.reorder_categories(sorted(events[col].cat.categories))
    # A closed-loop request is intended when it is sent.
    events["intended_ts"] = events["intended_ts"].fillna(events["sent_ts"])
    if len(events) == 0:
        problems.append("no events could be read")
    probe, problem = read_probe(path)
    if problem:
        problems.append(problem)
    return Run(path, manifest, events, problems, probe)
