"""What the analysis writes into a run folder, and reads back: summary.json (through the
model in analysis/summary.py), the figures as PNG, and the report page."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from contract.run_folder import REPORT_PAGE, SUMMARY, events_files, write_json_atomic, \
    write_text_atomic
from ..summary import Backoff, Summary, kept_backoff, parse_summary


@dataclass
class SummaryRead:
    """summary.json as read: the model when it is usable (else None and the problem), and
    whether it is older than the events (then it may not describe them)."""
    summary: Summary | None
    problem: str | None
    stale: bool = False


def _load_json(path: Path):
    """The file's JSON; OSError, ValueError (bad JSON, bad UTF-8) propagate."""
    return json.loads(path.read_text(encoding="utf-8"))


def read_summary(path: Path) -> SummaryRead:
    """summary.json if it can be read and is a summary of this version; the caller decides
    what a stale one (older than the events) is good for."""
    out = Path(path) / SUMMARY
    if not out.is_file():
        return SummaryRead(None, f"no {SUMMARY}")
    try:
        doc = _load_json(out)
        newest_events = max((f.stat().st_mtime for f in events_files(Path(path))), default=0)
        stale = out.stat().st_mtime < newest_events
    except (OSError, ValueError) as exc:
        return SummaryRead(None, f"{SUMMARY} is corrupt ({exc})")
    summary, problem = parse_summary(doc)
    return SummaryRead(summary, problem, stale)


def current_summary(path: Path) -> tuple[Summary | None, str | None]:
    """summary.json when it is usable and describes the events as they are, else None and
    why (what `compare` and the runs index use)."""
    got = read_summary(path)
    if got.summary is not None and got.stale:
        return None, f"{SUMMARY} is older than the events"
    return got.summary, got.problem


def kept_results(path: Path) -> tuple[dict[str, Backoff], list[str]]:
    """What a rebuild must carry over from the summary.json already in `path`: the results
    that needed live traffic, and notes on any that could not be carried over."""
    out = Path(path) / SUMMARY
    if not out.is_file():
        return {}, []
    try:
        doc = _load_json(out)
    except (OSError, ValueError) as exc:
        return {}, [f"the earlier {SUMMARY} could not be read ({exc}); results it held that "
                    "need live traffic (backoff) are lost"]
    backoff, note = kept_backoff(doc)
    return ({"backoff": backoff} if backoff else {}), ([note] if note else [])


def write_summary(run_dir: Path, summary: Summary) -> Path:
    out = Path(run_dir) / SUMMARY
    # validated on the way in, so nothing in it is NaN: the file is strict JSON
    write_json_atomic(out, summary.as_dict())
    return out


def write_report(run_dir: Path, summary: Summary, figures: dict[str, bytes],
                 html: str) -> Path:
    """summary.json, the figures as PNG, and index.html; returns the path of index.html."""
    write_summary(run_dir, summary)
    for name, png in figures.items():
        (Path(run_dir) / f"{name}.png").write_bytes(png)
    return write_page(Path(run_dir) / REPORT_PAGE, html)


def read_figures(run_dir: Path, names: list[str]) -> tuple[dict[str, bytes], list[str]]:
    """The named figures' PNGs in a run folder, and the names of those that are missing."""
    found, missing = {}, []
    for name in names:
        try:
            found[name] = (Path(run_dir) / f"{name}.png").read_bytes()
        except OSError:
            missing.append(name)
    return found, missing


def write_page(out: Path, html: str) -> Path:
    """A page: a run's report, or one outside any run folder (a comparison)."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(Path(out), html)
    return Path(out)
