"""The probe against the reference gateway, through the runner, on short windows: it ends by
itself inside its budget (no step started after it), prints a line per step, writes a whole
and valid probe.json whose verdict names the truth, and every request it sent carries the name
of the step that sent it (the settle-time goal is the accuracy table's)."""

from __future__ import annotations

import json
import re

import pytest

from contract.probe_log import STEP_NAMES, read_probe_log

from ..runs import locust_count, rows, run_scenario

BUDGET_S = 40
# (id, profile, overrides, the longest window or lockout in s, what the verdict must say)
# A fixed window, a token bucket and a lockout are rows of the accuracy table
# (tests/test_probe_accuracy.py), which runs the probe on them and holds its steps and the
# report to the truth; here, the profiles whose report the table does not meet yet, where the
# probe's own verdict is the truth.
CASES = [
    ("counts-rejected", "counts-rejected", ["quota.rate_per_s=4", "quota.burst=4"], 1,
     ["token_bucket: bursts of 4", "refused requests are counted", "no lockout"]),
    ("concurrency", "concurrency", [], 0, ["concurrency: at most 2 in flight", "per key"]),
]


@pytest.mark.parametrize("profile, sets, longest_s, truth", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_the_probe_settles_on_the_truth_by_itself(tmp_path, profile, sets, longest_s, truth):
    run_dir = tmp_path / "run"
    args = ["--profile", profile, "--users", "1", "--duration", "auto"]
    for s in sets:
        args += ["--gateway-set", s]
    proc = run_scenario("probe", run_dir, *args,
                        locust_args=["--budget-s", str(BUDGET_S), "--idle-s", "0.5"])
    doc = read_probe_log(run_dir)  # checked: every key, type and step name
    # ended by itself within its budget by its own accounting: no step started after it
    assert doc["ended_ts"] is not None and doc["budget_s"] == BUDGET_S
    assert all(s["started_ts"] <= doc["started_ts"] + doc["budget_s"] for s in doc["steps"])
    assert doc["settled"], (doc["verdict"], doc["open"], proc.stdout[-3000:])
    for words in truth:
        assert words in doc["verdict"], (words, doc["verdict"])
    # the settle-time goal (3 x the longest window or lockout + 15 s) is the accuracy
    # table's (tests/test_probe_accuracy.py): a wall-clock bound here would flake under load
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("probe: ")]
    steps = doc["steps"]
    assert [re.match(r"probe: step (\d+) (\w+) ", ln).groups() for ln in lines[:-1]] == \
        [(str(s["index"]), s["name"]) for s in steps]
    assert lines[-1].startswith("probe: settled after") and doc["verdict"] in lines[-1]
    for s, line in zip(steps, lines):
        assert f"learned {s['learned']};" in line and f"tried {s['tried']};" in line
    chat = [r for r in rows(run_dir) if r["endpoint"] == "/v1/chat/completions"]
    assert len(chat) + 1 == locust_count(run_dir)  # and one GET /v1/models
    assert {r["phase"] for r in chat} == {s["name"] for s in steps} <= set(STEP_NAMES)
    assert sum(s["requests"] for s in steps) == len(chat)
    for s in steps:  # each step's requests fall inside it
        mine = [r["sent_ts"] for r in chat if r["phase"] == s["name"]]
        assert mine and all(
            any(t["started_ts"] <= x <= t["ended_ts"] for t in steps if t["name"] == s["name"])
            for x in mine)
    polite = [r for r in chat if r["phase"] == "polite" and r["attempt"] == 2]
    for second in polite:  # sent the stated wait after its 429 came back, not before
        first = next(r for r in chat if r["logical_id"] == second["logical_id"]
                     and r["attempt"] == 1)
        assert first["status"] == 429
        assert second["sent_ts"] - first["sent_ts"] - first["latency_ms"] / 1000 >= \
            first["retry_after_s"]
    assert polite or profile == "concurrency"
    assert json.loads((run_dir / "run.json").read_text())["complete"]
