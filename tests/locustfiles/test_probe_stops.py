"""The probe stops at its budget, and on a fault of its own, with probe.json whole and saying
why (a fake user in a child process: importing Locust patches the process it runs in)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from contract.probe_log import read_probe_log

from ..runs import ROOT, env_without_target

SCRIPT = """
import argparse, math, sys, time
import locustfiles.probe as probe

class Refused:  # a 429 stating a wait longer than any budget
    status, outcome, retry_after_s, reset_s = 429, "rate_limited", 1e4, math.nan

class User:
    api_key = "pk-test"
    def chat(self, **_):
        if sys.argv[2] == "fault":
            raise RuntimeError("boom")
        time.sleep(0.001)
        return Refused()

if sys.argv[2] == "reasoning":  # a fault in the reasoning, as a None fact once was
    probe.verdict = lambda k: "%d" % math.isfinite(None)

opts = argparse.Namespace(budget_s=5.0, request_cap=3000, idle_s=0.0, burst_wave=4,
                          burst_max=5000 if sys.argv[2] == "burst-max" else 20)
try:
    probe.Probe(User(), opts, sys.argv[1]).run()
except (RuntimeError, TypeError) as exc:
    print("raised", exc)
"""


@pytest.mark.parametrize("how, why", [
    ("budget", "a wait of 10000.0 s is longer than the budget left"),
    ("fault", "the probe failed: RuntimeError: boom"),
    ("burst-max", "--burst-max 5000 is over --request-cap 3000"),
    ("reasoning", "the probe failed: TypeError: must be real number, not NoneType"),
])
def test_the_probe_stops_and_says_why(tmp_path, how, why):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), how], cwd=ROOT,
                          env=env_without_target(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = read_probe_log(tmp_path)
    assert doc["ended_ts"] is not None and not doc["settled"]
    assert doc["settled_after_s"] is None and why in doc["verdict"], doc["verdict"]
    # the probe's own accounting, not the wall clock: no step started after the budget
    assert all(s["started_ts"] <= doc["started_ts"] + doc["budget_s"] for s in doc["steps"])
    assert ("raised boom" in proc.stdout) is (how == "fault")
    last = proc.stdout.strip().splitlines()[-1 if how in ("budget", "burst-max") else -2]
    if how == "reasoning":  # the verdict says it has none, and why
        assert doc["verdict"].startswith("no verdict (TypeError"), doc["verdict"]
    assert last.startswith("probe: not settled (") and why in last
