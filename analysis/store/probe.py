"""The adaptive probe's log, probe.json, read from a run folder (issue 13, report part).

The probe writes it beside run.json after every step (the layout is in the issue's brief;
contract/probe_log.py, the probe's own reader, keeps the same keys). It is read here, once,
and checked only as far as the report uses it: a file that cannot be used is never changed
or removed, and the report says why it left the probe's section out.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

PROBE_LOG = "probe.json"
PROBE_LOG_VERSION = 1
_STEP_TEXT = ("name", "tried", "learned")
_STEP_TIMES = ("started_ts", "ended_ts")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _strings(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _step_problem(i: int, step) -> str | None:
    if not isinstance(step, dict):
        return f"step {i + 1} is not an object"
    for k in _STEP_TEXT:
        if not isinstance(step.get(k), str):
            return f"step {i + 1} has no text '{k}'"
    for k in _STEP_TIMES:
        if not _number(step.get(k)):
            return f"step {i + 1} ('{step['name']}') has no time '{k}'"
    if "index" in step and not (isinstance(step["index"], int)
                                and not isinstance(step["index"], bool)):
        return f"step {i + 1} ('{step['name']}'): its index is not a whole number"
    if step.get("requests") is not None and not isinstance(step["requests"], int):
        return f"step {i + 1} ('{step['name']}'): its request count is not a whole number"
    for k in ("ruled_out", "open"):
        if not _strings(step.get(k, [])):
            return f"step {i + 1} ('{step['name']}'): '{k}' is not a list of names"
    return None


def probe_problem(doc) -> str | None:
    """Why `doc` is not a probe log the report can show, or None."""
    if not isinstance(doc, dict):
        return "not a JSON object"
    if doc.get("schema_version") != PROBE_LOG_VERSION:
        return (f"schema_version {doc.get('schema_version')!r}, where this tool reads "
                f"{PROBE_LOG_VERSION}")
    if not isinstance(doc.get("steps"), list):
        return "no list of steps"
    if not isinstance(doc.get("settled"), bool):
        return "'settled' is not true or false"
    if not isinstance(doc.get("verdict", ""), str):
        return "'verdict' is not text"
    for k in ("hypotheses", "open"):
        if not _strings(doc.get(k, [])):
            return f"'{k}' is not a list of names"
    if doc.get("request_cap") is not None and not isinstance(doc["request_cap"], int):
        return "'request_cap' is not a whole number"
    for k in ("budget_s", "settled_after_s", "started_ts", "ended_ts"):
        if doc.get(k) is not None and not _number(doc[k]):
            return f"'{k}' is not a number"
    for i, step in enumerate(doc["steps"]):
        problem = _step_problem(i, step)
        if problem:
            return problem
    return None


def read_probe(path: Path) -> tuple[dict | None, str | None]:
    """The run folder's probe.json: (the log, None); (None, None) when there is none (a run
    of another scenario, or of the old probe); (None, why) when it cannot be used."""
    f = Path(path) / PROBE_LOG
    if not f.is_file():
        return None, None
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        why = f"it is not valid JSON ({exc})"
    else:
        why = probe_problem(doc)
        if why is None:
            return doc, None
    return None, (f"{PROBE_LOG} cannot be used ({why}): the probe's steps are not shown; the "
                  "events are analysed as they are and the file is left as it is")
