"""`make report` after `make tune`: the rebuild keeps what only live traffic made (issue 10,
item 3). Everything else in the run folder is rebuilt from run.json and events/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ..runs import run_scenario

ROOT = Path(__file__).resolve().parents[2]


def analysis(*args):
    return subprocess.run([sys.executable, "-m", "analysis", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    """A short token-bucket tight loop, tuned with a brief live check."""
    run_dir = tmp_path_factory.mktemp("rebuild") / "run"
    run_scenario("tight_loop", run_dir, "--profile", "token-bucket", "--users", "1",
                 "--duration", "7s", "--gateway-set", "latency.ttft_ms=5",
                 "--gateway-set", "latency.per_token_ms=0")
    proc = analysis("tune", run_dir, "--logical", "2000", "--live-s", "5")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


def test_report_after_tune_keeps_backoff_and_its_live_check(tuned_run):
    tuned = json.loads((tuned_run / "summary.json").read_text())["backoff"]
    assert tuned["policies"] and tuned["live"]["checks"], tuned.get("live")
    for name in ("index.html", "backoff.png", "accepts.png"):
        (tuned_run / name).unlink()  # the derived files go; the rebuild makes them again
    proc = analysis("report", tuned_run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tuned_run / "summary.json").read_text())
    assert summary["backoff"] == tuned
    html = (tuned_run / "index.html").read_text()
    assert 'id="backoff"' in html and 'id="backoff-live"' in html
    assert tuned["recommended"]["policy"] in html
    assert (tuned_run / "backoff.png").is_file() and (tuned_run / "accepts.png").is_file()
    # A second rebuild keeps it too (it reads what the first one wrote).
    assert analysis("report", tuned_run).returncode == 0
    assert json.loads((tuned_run / "summary.json").read_text())["backoff"] == tuned


def test_unreadable_earlier_summary_is_said_not_silently_dropped(tuned_run, tmp_path):
    import shutil

    run_dir = tmp_path / "copy"
    shutil.copytree(tuned_run, run_dir)
    (run_dir / "summary.json").write_text("{ cut sho")
    proc = analysis("report", run_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["backoff"]["policies"] == []
    assert any("earlier summary.json could not be read" in p and "backoff" in p
               for p in summary["problems"])
