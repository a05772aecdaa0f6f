"""The adaptive probe's log, probe.json, read from a run folder (issue 13, report part).

The probe writes it beside run.json after every step. It is read here, once, and held to the
probe's own check (contract/probe_log.py: every key, type and step name) and to a time span
the page can draw: a file that cannot be used is never changed or removed, and the report
says why it left the probe's section out.
"""

from __future__ import annotations

import json
from pathlib import Path

from contract.probe_log import PROBE_LOG, ProbeLogError, check_probe_log


def probe_problem(doc) -> str | None:
    """Why `doc` is not a probe log the report can show, or None: the probe's own check
    (contract/probe_log.py), and every step inside the probe's time."""
    try:
        check_probe_log(doc)
    except ProbeLogError as exc:
        return str(exc)
    # steps outside the probe's own span (an edited or corrupt file) would draw nonsense
    start, end = doc["started_ts"], doc["ended_ts"]
    last = end if end is not None else start + doc["budget_s"]
    if end is not None and not start <= end <= start + 2 * doc["budget_s"] + 60:
        return f"ended_ts {end!r} is not within the probe's budget of its start"
    for step in doc["steps"]:
        if not start - 1 <= step["started_ts"] <= step["ended_ts"] <= last + 60:
            return (f"step {step['index']} ('{step['name']}') does not lie inside the probe's "
                    "run")
    return None


def read_probe(path: Path) -> tuple[dict | None, str | None]:
    """The run folder's probe.json: (the log, None); (None, None) when there is none (a run
    of another scenario, or of the old probe); (None, why) when it cannot be used."""
    f = Path(path) / PROBE_LOG
    if not f.is_file():
        return None, None
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        why = f"it is not valid JSON ({exc})"
    else:
        why = probe_problem(doc)
        if why is None:
            return doc, None
    return None, (f"{PROBE_LOG} cannot be used ({why}): the probe's steps are not shown; the "
                  "events are analysed as they are and the file is left as it is")
