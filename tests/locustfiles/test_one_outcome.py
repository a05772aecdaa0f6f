"""One attempt, one outcome, whichever client made it (issue 11): the plain user (recording or
not), the OpenAI SDK's transport and a request event whose context does not say (the
recorder's row and the run's count) give the same outcome for the same situation, by
contract.events.attempt_outcome. The paths run in a child interpreter (outcome_paths.py):
they import Locust, which patches the process."""

import json
import subprocess
import sys

from ..runs import ROOT


def test_every_path_gives_the_same_outcome():
    proc = subprocess.run([sys.executable, "-m", "tests.locustfiles.outcome_paths"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.splitlines()[-1])
    assert len(results) >= 13
    wrong = {r["situation"]: r["got"] for r in results
             if set(r["got"].values()) != {r["expected"]}}
    assert not wrong, wrong
