"""[project.scripts]: each of the harness's commands is installed beside the make targets and
answers --help (the same function `python -m <package>` runs)."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_every_package_with_a_command_has_a_script():
    assert {"pinaivu-gateway", "pinaivu-run", "pinaivu-analysis", "pinaivu-doctor"} <= set(
        SCRIPTS)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_is_installed_and_answers_help(name):
    path = Path(sys.executable).parent / name
    assert path.is_file(), f"{path} missing: run make install"
    proc = subprocess.run([str(path), "--help"], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage:" in proc.stdout.lower()
