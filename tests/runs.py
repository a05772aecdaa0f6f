"""Reading what a test's run left behind, and starting runs, the same way in every test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa

from contract.events_file import read_events
from contract.target import REPORTS_DIR_ENV

ROOT = Path(__file__).resolve().parents[1]


def rows(run_dir: Path) -> list[dict]:
    """Every event row of a run, all workers."""
    tables = [read_events(f)[0] for f in sorted((Path(run_dir) / "events").glob("*.arrows"))]
    return pa.concat_tables(tables).to_pylist() if tables else []


def answered(every: list[dict]) -> list[dict]:
    """The rows of attempts the target answered or failed: without the attempts Locust
    cancelled when the run stopped (recorded too, as transport errors whose error says
    "cancelled:"; the harness stopping, not the target misbehaving), of which there is at most
    one per user (CI runs met them in tests that assumed none)."""
    cancelled = [(r["worker"], r["user"]) for r in every if r["error"].startswith("cancelled:")]
    assert len(cancelled) == len(set(cancelled)), "more than one cancelled attempt per user"
    return [r for r in every if not r["error"].startswith("cancelled:")]


def locust_count(run_dir: Path) -> int:
    """Locust's final request count. Its CSV is rewritten once a second and not at shutdown,
    so it lags; the JSON file (--json-file <run>/locust/stats) holds the final figures."""
    stats = json.loads((Path(run_dir) / "locust" / "stats.json").read_text())
    return sum(e["num_requests"] for e in stats)


def env_without_target(**extra: str) -> dict[str, str]:
    """The environment minus any PINAIVU_* setting of the developer's, plus `extra`; the
    session's temporary reports folder (conftest) stays."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PINAIVU_") or k == REPORTS_DIR_ENV}
    return env | extra


def run_scenario(scenario: str, run_dir: Path, *runner_args: str, locust_args=(), env=None,
                 timeout: float = 180) -> subprocess.CompletedProcess:
    """`python -m locustfiles.run` (the make targets' runner); fails the test on error."""
    cmd = [sys.executable, "-m", "locustfiles.run", scenario, *runner_args,
           "--run-dir", str(run_dir)]
    if locust_args:
        cmd += ["--", *locust_args]
    proc = subprocess.run(cmd, env=env or env_without_target(), capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc
