"""The direction of dependencies (DESIGN.md, "Layout"): the import contracts in pyproject.toml
([tool.importlinter]) hold for every import in our packages, function-level ones included."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"]
    proc = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    # every contract was checked and kept, none skipped
    assert f"Contracts: {len(contracts)} kept, 0 broken." in proc.stdout, proc.stdout[-2000:]
    assert len(contracts) >= 7
