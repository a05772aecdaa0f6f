"""contract/ is the ground floor: its public names are the ones contract/__init__.py lists,
each module defines exactly those (besides private and imported names), and it imports nothing
of ours and nothing beyond the standard library and pyarrow."""

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import contract

ROOT = Path(__file__).resolve().parents[2]
OURS = {"analysis", "locustfiles", "doctor", "gateway", "scripts", "benchmarks", "tests"}


def defined_names(module) -> set[str]:
    """Top-level names a module defines itself (functions, classes, constants)."""
    tree = ast.parse(Path(module.__file__).read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_")}


def test_every_module_is_listed():
    modules = {f"contract.{p.stem}" for p in (ROOT / "contract").glob("*.py")
               if p.stem != "__init__"}
    assert set(contract.PUBLIC) == modules


@pytest.mark.parametrize("name", sorted(contract.PUBLIC))
def test_public_names_are_exactly_the_listed_ones(name):
    module = importlib.import_module(name)
    listed = set(contract.PUBLIC[name])
    assert all(hasattr(module, n) for n in listed), listed - set(dir(module))
    assert defined_names(module) == listed


def test_imports_nothing_of_ours_and_only_stdlib_and_pyarrow():
    code = ("import sys, json; before = set(sys.modules); import contract; "
            + "; ".join(f"import {m}" for m in contract.PUBLIC)
            + "; print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    loaded = set(json.loads(out))
    assert not loaded & OURS
    # pyarrow brings numpy and Cython's runtime with it; nothing else may come in
    allowed = {"contract", "pyarrow", "numpy", "cython_runtime"}
    extra = {m for m in loaded - allowed - set(sys.stdlib_module_names)
             if not m.startswith("_")}
    assert not extra


def test_no_module_imports_outside_the_package():
    for path in (ROOT / "contract").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert node.module.split(".")[0] not in OURS, (path.name, node.module)
            elif isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] not in OURS for a in node.names), path.name
