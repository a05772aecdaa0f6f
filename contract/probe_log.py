"""probe.json: what the adaptive probe tried, step by step, and what it concluded.

Written into the run folder (next to run.json) after every step, atomically, so that a probe
that is killed keeps the steps it finished. The report reads it back with `read_probe_log`,
which refuses a file that is not this shape with a message naming the file and what is wrong
(a half-written or hand-edited file must not turn into a wrong timeline).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .run_folder import write_json_atomic

PROBE_LOG = "probe.json"
SCHEMA_VERSION = 1
# The adaptive probe's step names: each is also the `phase` of the events the step sent.
STEP_NAMES = ("idle_burst", "polite", "reopen_gap", "pace_under", "pace_over", "split",
              "clock_phase", "concurrency_ramp", "shaping_excess", "scope_uneven", "tight")
# The fixed probe's phases (before issue 13), still read by the analysis.
OLD_PHASES = ("burst", "sustained", "split", "retry_after_wait", "retry_after_probe")

_TOP = {"schema_version": int, "budget_s": float, "request_cap": int, "started_ts": float,
        "ended_ts": (float, type(None)), "settled": bool,
        "settled_after_s": (float, type(None)), "verdict": str, "hypotheses": list,
        "open": list, "steps": list}
_STEP = {"index": int, "name": str, "started_ts": float, "ended_ts": float, "requests": int,
         "tried": str, "learned": str, "ruled_out": list, "open": list}


class ProbeLogError(ValueError):
    """probe.json is missing a key, holds a wrong type, or is not JSON."""


def _is(value, kind) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool):
        return bool in kinds
    if float in kinds and isinstance(value, int):
        return True
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, kinds)


def _check_fields(doc, spec: dict, where: str) -> None:
    if not isinstance(doc, dict):
        raise ProbeLogError(f"{where} is not an object")
    for key, kind in spec.items():
        if key not in doc:
            raise ProbeLogError(f"{where} has no {key!r}")
        if not _is(doc[key], kind):
            raise ProbeLogError(f"{where}: {key!r} is {doc[key]!r}, not "
                                f"{'/'.join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))}")


def _strings(items, where: str) -> None:
    if not all(isinstance(s, str) for s in items):
        raise ProbeLogError(f"{where} holds something that is not a string")


def check_probe_log(doc) -> dict:
    """The document itself when it is a valid probe log; ProbeLogError saying what is wrong."""
    _check_fields(doc, _TOP, "probe log")
    if doc["schema_version"] != SCHEMA_VERSION:
        raise ProbeLogError(f"probe log schema_version {doc['schema_version']}, this harness "
                            f"reads {SCHEMA_VERSION}")
    _strings(doc["hypotheses"], "probe log 'hypotheses'")
    _strings(doc["open"], "probe log 'open'")
    if doc["settled"] and doc["settled_after_s"] is None:
        raise ProbeLogError("probe log says settled but gives no settled_after_s")
    for i, step in enumerate(doc["steps"]):
        where = f"probe log step {i}"
        _check_fields(step, _STEP, where)
        if step["name"] not in STEP_NAMES:
            raise ProbeLogError(f"{where}: {step['name']!r} is not a probe step "
                                f"({', '.join(STEP_NAMES)})")
        if step["index"] != i:
            raise ProbeLogError(f"{where}: index is {step['index']}, not {i}")
        _strings(step["ruled_out"], f"{where} 'ruled_out'")
        _strings(step["open"], f"{where} 'open'")
    return doc


def write_probe_log(run_dir: Path, doc: dict) -> Path:
    """Check `doc` and write it as run_dir/probe.json in one rename; the path."""
    check_probe_log(doc)
    path = Path(run_dir) / PROBE_LOG
    write_json_atomic(path, doc)
    return path


def read_probe_log(run_dir: Path) -> dict | None:
    """run_dir/probe.json checked, or None when the run has none (not a probe run)."""
    path = Path(run_dir) / PROBE_LOG
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ProbeLogError(f"{path} is not JSON ({exc}): the probe may have been killed "
                            "while writing it, or it was edited") from None
    try:
        return check_probe_log(doc)
    except ProbeLogError as exc:
        raise ProbeLogError(f"{path}: {exc}") from None
