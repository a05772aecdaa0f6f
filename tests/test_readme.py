"""What the README names exists: every `package.module.function` it mentions is defined
there, every repository path it names is in the repository, and nothing it points to lies
outside the repository (a fresh clone has nothing beside it)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PACKAGES = ("contract", "analysis", "locustfiles", "gateway", "doctor")


def _defined(module_file: Path) -> set[str]:
    tree = ast.parse(module_file.read_text())
    return {n.name for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))}


def test_every_function_the_readme_names_exists():
    names = set(re.findall(r"`((?:%s)(?:\.\w+)+)(?:\([^`]*\))?`" % "|".join(PACKAGES), README))
    assert "contract.events_file.read_events" in names
    missing = []
    for dotted in names:
        parts = dotted.split(".")
        for split in range(len(parts), 0, -1):  # the longest prefix that is a module
            module = ROOT.joinpath(*parts[:split])
            if module.with_suffix(".py").is_file() or (module / "__init__.py").is_file():
                break
        rest = parts[split:]
        if not rest:
            continue  # a module named as such
        path = module.with_suffix(".py") if module.with_suffix(".py").is_file() \
            else module / "__init__.py"
        if len(rest) != 1 or rest[0] not in _defined(path):
            missing.append(dotted)
    assert not missing, missing


def test_the_readme_points_only_inside_the_repository():
    assert "../" not in README
    for link in re.findall(r"\]\(([^)]+)\)", README):
        if not link.startswith(("http://", "https://", "#")):
            assert (ROOT / link).exists(), link
    paths = set(re.findall(r"`((?:%s|tests|benchmarks|docs|scripts)/[\w./-]*)`"
                           % "|".join(PACKAGES), README))
    assert "locustfiles/locust_help.py" in paths
    missing = [p for p in paths if not list(ROOT.glob(p.rstrip("/")))]
    assert not missing, missing


def _profile_table_rows() -> list[str]:
    section = README.split("### Profiles", 1)[1]
    rows = re.findall(r"^\| `([\w-]+)` \|", section.split("\n### ", 1)[0], re.M)
    return rows


def test_the_profile_table_lists_every_profile_and_only_profiles():
    rows = _profile_table_rows()
    assert "default" in rows
    on_disk = sorted(p.stem for p in (ROOT / "gateway" / "profiles").glob("*.toml"))
    assert sorted(set(rows)) == on_disk, {"not in the table": sorted(set(on_disk) - set(rows)),
                                          "not a profile": sorted(set(rows) - set(on_disk))}
    assert len(rows) == len(set(rows)), "a profile is listed twice"
