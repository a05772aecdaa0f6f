"""probe.json: written whole or not at all, read back checked, refused with a clear message
when it is not the shape the brief fixed."""

from __future__ import annotations

import copy
import json

import pytest

from analysis.load_levels import PROBE_PHASES
from contract.probe_log import (OLD_PHASES, PROBE_LOG, STEP_NAMES, ProbeLogError,
                                check_probe_log, read_probe_log, write_probe_log)

STEP = {"index": 0, "name": "idle_burst", "started_ts": 10.0, "ended_ts": 12.5,
        "requests": 8, "tried": "a burst", "learned": "6 admitted", "ruled_out": ["none"],
        "open": ["token_bucket"]}
DOC = {"schema_version": 1, "budget_s": 150.0, "request_cap": 3000, "started_ts": 10.0,
       "ended_ts": 30.0, "settled": True, "settled_after_s": 20.0,
       "verdict": "fixed_window/first_request: 6 per 3 s", "hypotheses": ["none"],
       "open": [], "steps": [STEP]}


def test_written_and_read_back_whole(tmp_path):
    path = write_probe_log(tmp_path, DOC)
    assert path == tmp_path / PROBE_LOG
    assert read_probe_log(tmp_path) == DOC
    assert [p.name for p in tmp_path.iterdir()] == [PROBE_LOG]  # no temporary file left


def test_a_run_without_a_probe_has_none(tmp_path):
    assert read_probe_log(tmp_path) is None


def test_a_killed_probe_keeps_the_steps_so_far(tmp_path):
    unfinished = DOC | {"ended_ts": None, "settled": False, "settled_after_s": None}
    write_probe_log(tmp_path, unfinished)
    assert read_probe_log(tmp_path)["steps"] == [STEP]


def test_a_half_written_file_is_named_with_its_problem(tmp_path):
    (tmp_path / PROBE_LOG).write_text(json.dumps(DOC)[:50])
    with pytest.raises(ProbeLogError, match=r"probe\.json is not JSON .*killed"):
        read_probe_log(tmp_path)


def _broken(change):
    doc = copy.deepcopy(DOC)
    change(doc)
    return doc


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("verdict"), "probe log has no 'verdict'"),
    (lambda d: d.update(settled="yes"), "'settled' is 'yes', not bool"),
    (lambda d: d.update(budget_s=float("nan")), "'budget_s' is nan"),
    (lambda d: d.update(request_cap=True), "'request_cap' is True, not int"),
    (lambda d: d.update(schema_version=2), "schema_version 2"),
    (lambda d: d.update(settled_after_s=None), "settled but gives no settled_after_s"),
    (lambda d: d["steps"][0].update(name="burst"), "'burst' is not a probe step"),
    (lambda d: d["steps"][0].update(index=3), "index is 3, not 0"),
    (lambda d: d["steps"][0].update(ruled_out=[1]), "'ruled_out' holds something"),
    (lambda d: d["steps"][0].pop("learned"), "step 0 has no 'learned'"),
    (lambda d: d.update(steps={}), "'steps' is {}, not list"),
])
def test_a_wrong_shape_is_refused_and_says_what_is_wrong(tmp_path, change, message):
    doc = _broken(change)
    with pytest.raises(ProbeLogError, match=message.replace("(", r"\(")):
        check_probe_log(doc)
    (tmp_path / PROBE_LOG).write_text(json.dumps(doc))
    with pytest.raises(ProbeLogError, match=str(tmp_path / PROBE_LOG)):
        read_probe_log(tmp_path)
    with pytest.raises(ProbeLogError):
        write_probe_log(tmp_path / "w", doc)  # refused before anything is written
    assert not (tmp_path / "w").exists()


def test_the_analysis_reads_every_step_as_a_probe_phase_not_a_load_level():
    assert set(STEP_NAMES) | set(OLD_PHASES) <= PROBE_PHASES
