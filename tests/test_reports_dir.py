"""Where runs go when none is named ($PINAIVU_REPORTS_DIR, else reports/), and the session
guard that fails a test session which wrote into the checkout's reports/."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from contract.target import REPORTS_DIR_ENV, reports_dir
from .runs import ROOT, env_without_target


def test_the_setting_moves_the_default_and_only_the_default():
    assert reports_dir("reports", env={}) == Path("reports")
    assert reports_dir("reports", env={REPORTS_DIR_ENV: "  "}) == Path("reports")
    assert reports_dir(ROOT / "reports", env={REPORTS_DIR_ENV: "/srv/runs"}) == \
        Path("/srv/runs")


def test_the_session_runs_with_a_temporary_reports_folder():
    # conftest sets it, whatever the developer's own setting, and the tests' helpers keep it
    folder = Path(env_without_target()[REPORTS_DIR_ENV])
    assert folder.is_dir() and ROOT not in folder.parents and folder != ROOT / "reports"


def test_every_command_defaults_to_the_setting(tmp_path):
    runs = tmp_path / "elsewhere"
    env = env_without_target(**{REPORTS_DIR_ENV: str(runs)})
    proc = subprocess.run([sys.executable, "-m", "analysis", "report"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and f"{runs} does not exist" in proc.stderr
    code = ("from locustfiles.common.hooks import default_run_dir; "
            "print(default_run_dir('tight_loop'))")
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert Path(proc.stdout.strip()).parent == runs, proc.stderr
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--help"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "--reports-dir" in proc.stdout and REPORTS_DIR_ENV in proc.stdout


def test_the_runner_puts_an_unnamed_run_under_the_setting(tmp_path):
    runs = tmp_path / "elsewhere"
    proc = subprocess.run([sys.executable, "-m", "locustfiles.run", "tight_loop", "--users",
                           "1", "--duration", "2s"], cwd=ROOT, capture_output=True, text=True,
                          env=env_without_target(**{REPORTS_DIR_ENV: str(runs)}), timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    made = list(runs.iterdir())
    assert len(made) == 1 and made[0].name.endswith("-tight_loop"), made
    assert (made[0] / "run.json").is_file() and f"in {made[0]}" in proc.stdout


WRITES = """
from pathlib import Path

def test_writes_into_the_checkout():
    run = Path(__file__).resolve().parents[1] / "reports" / "20260101T000000Z-tight_loop"
    run.mkdir(parents=True)
    (run / "run.json").write_text("{}")
"""
CLEAN = """
def test_writes_nothing(tmp_path):
    (tmp_path / "x").write_text("x")
"""


@pytest.mark.parametrize("body, workers, code", [
    (WRITES, "0", 1), (WRITES, "2", 1), (CLEAN, "0", 0)],
    ids=["writes", "writes-under-xdist", "clean"])
def test_a_session_that_writes_into_reports_fails(tmp_path, body, workers, code):
    """The project's conftest, copied into a throwaway checkout whose reports/ a test fills."""
    tree = tmp_path / "checkout"
    (tree / "tests").mkdir(parents=True)
    shutil.copy(Path(__file__).with_name("conftest.py"), tree / "tests" / "conftest.py")
    (tree / "tests" / "test_inner.py").write_text(textwrap.dedent(body))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "-p", "no:randomly", "-n", workers, "tests"], cwd=tree,
                          env=env_without_target(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == code, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout
    if code:
        assert "the checkout's reports/ changed" in proc.stdout
        assert "created reports/ itself" in proc.stdout
        assert "created 20260101T000000Z-tight_loop (and 1 below it)" in proc.stdout
