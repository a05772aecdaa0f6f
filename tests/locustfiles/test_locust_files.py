"""Locust's own files in a run folder agree with the events: its CSV is rewritten once a
second and never at the end (and its --json-file writer zeroes the per-request figures), so a
short or capped run's stats_stats.csv said 32 POST with 0 failures beside 496 POST with 452
failures in stats.json and the events."""

from __future__ import annotations

import csv
import json
import re

from ..runs import rows
from .test_runner import FAST, runner


def test_a_capped_runs_csv_and_json_hold_the_events_counts(tmp_path):
    run_dir = tmp_path / "run"
    # a tight quota so that most attempts are 429s, which Locust counts as failures
    proc = runner("tight_loop", run_dir, "--users", "3", "--duration", "10m", *FAST,
                  "--gateway-set", "quota.limit=5", locust_args=["--max-requests", "120"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = rows(run_dir)
    assert len(events) == 120
    expected = {}
    for r in events:
        n, failed = expected.get(r["endpoint"], (0, 0))
        expected[r["endpoint"]] = (n + 1, failed + (r["outcome"] != "ok"))
    assert expected["/v1/chat/completions"][1] > 0

    with open(run_dir / "locust" / "stats_stats.csv", newline="") as f:
        table = list(csv.DictReader(f))
    by_name = {r["Name"]: (int(r["Request Count"]), int(r["Failure Count"])) for r in table}
    assert by_name.pop("Aggregated") == (len(events), sum(f for _, f in expected.values()))
    assert by_name == expected

    failures = {}
    with open(run_dir / "locust" / "stats_failures.csv", newline="") as f:
        for r in csv.DictReader(f):
            outcome = re.search(r"'(\w+)'", r["Error"]).group(1)  # CatchResponseError('...')
            failures[(r["Name"], outcome)] = int(r["Occurrences"])
    by_outcome = {}
    for r in events:
        if r["outcome"] != "ok":
            key = (r["endpoint"], r["outcome"])
            by_outcome[key] = by_outcome.get(key, 0) + 1
    assert failures == by_outcome

    with open(run_dir / "locust" / "stats_stats_history.csv", newline="") as f:
        last = list(csv.DictReader(f))[-1]
    assert int(last["Total Request Count"]) == len(events)

    stats = json.loads((run_dir / "locust" / "stats.json").read_text())
    assert {e["name"]: (e["num_requests"], e["num_failures"]) for e in stats} == expected
