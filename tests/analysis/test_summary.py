"""summary.json's model (analysis/summary.py): what it accepts, what it refuses, what it
says about another version, and the JSON Schema file generated from it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from analysis.summary import (SUMMARY_VERSION, json_schema, kept_backoff, make_summary,
                              parse_summary, version_problem)
from .summaries import summary

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "analysis" / "summary.schema.json"


def test_schema_file_is_what_the_model_generates():
    assert json.loads(SCHEMA.read_text()) == json_schema(), (
        "analysis/summary.schema.json is out of date: regenerate it with "
        "`.venv/bin/python -m analysis schema > analysis/summary.schema.json`")


def test_schema_file_and_templates_are_package_data():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["analysis"]
    assert "summary.schema.json" in data and "pages/templates/*.html" in data
    assert list((ROOT / "analysis").glob(data[0])), "the templates glob matches nothing"


def test_a_summary_round_trips_with_the_keys_it_was_made_with():
    doc = summary()
    doc["unavailable"]["per_second"] = {"start_ts": 1000.5, "counts": [0, 2, 1]}
    model = make_summary(doc)
    assert model.as_dict() == doc
    # a count stays a count (a float field would write 80 as 80.0, and the page would too)
    assert json.dumps(model.as_dict()["retry_after"]["error_s"]) == '{"count": 80, "p50": 0.1}'
    assert model.quota.limit == 20 and model.throughput.levels[0].goodput_per_s == 2.0


def test_numpy_and_nan_become_json_values():
    import numpy as np

    doc = summary()
    doc["quota"]["rate_reached_per_s"] = np.float64("nan")
    doc["events"] = np.int64(100)
    model = make_summary(doc)
    assert model.quota.rate_reached_per_s is None and model.events == 100
    assert "NaN" not in json.dumps(model.as_dict())


@pytest.mark.parametrize("path, value", [
    (("quota", "algorithm"), "magic"),
    (("quota", "limit"), "twenty"),
    (("retry_after", "verdict"), "fine"),
    (("throughput", "levels"), None),
    (("keys",), [{"attempts": 3}]),
])
def test_a_summary_of_the_wrong_shape_is_refused(path, value):
    doc = summary()
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError):
        make_summary(doc)
    got, problem = parse_summary(doc)
    assert got is None and problem.startswith("summary.json is corrupt (")
    assert f"'{'.'.join(path)}" in problem


def test_an_unknown_key_at_the_top_is_refused():
    assert parse_summary(summary(extra_thing=1))[0] is None


def test_other_versions_are_named_not_misread():
    assert version_problem(summary()) is None
    older = version_problem(summary(schema_version=SUMMARY_VERSION - 1))
    assert f"version {SUMMARY_VERSION - 1}, older than the version this tool reads" in older
    newer = version_problem(summary(schema_version=SUMMARY_VERSION + 1))
    assert "newer than the version this tool reads" in newer
    assert "no schema_version" in version_problem({"verdict": "x"})
    assert "not a JSON object" in version_problem([1, 2])
    # a version-1 summary (the dict of issues 1-10) is not read as a current one, even when
    # its keys happen to fit
    old = summary(schema_version=1)
    assert parse_summary(old) == (None, older.replace(str(SUMMARY_VERSION - 1), "1"))


def _tuned(version: int) -> dict:
    policy = {"policy": "retry_after jitter=0.1s", "goodput_per_s": 1.9, "success_ratio": 0.9,
              "attempts_per_success": 1.2, "rejected_per_success": 0.01, "p50_s": 0.2,
              "p99_s": None, "params": {"kind": "retry_after"}}
    return summary(schema_version=version, backoff={
        "recommended": policy, "policies": [policy], "note": "",
        "live": {"skipped": "no second key"}})


def test_a_rebuild_keeps_the_backoff_of_a_version_1_summary():
    backoff, note = kept_backoff(_tuned(1))
    assert note is None and backoff.recommended.policy == "retry_after jitter=0.1s"
    assert backoff.live == {"skipped": "no second key"}
    assert kept_backoff(summary()) == (None, None)  # not tuned: nothing to keep
    gone, note = kept_backoff(_tuned(99) | {"backoff": {"policies": "many"}})
    assert gone is None and "schema version 99" in note
    bad, note = kept_backoff(summary(backoff={"policies": "many"}))
    assert bad is None and "malformed" in note
