"""Modules stay small (DESIGN.md, "Conventions": under about 300 lines): a module that grows
past the bound below is a sign it holds two things, and the next family or header would make
it worse."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("contract", "analysis", "locustfiles", "doctor", "gateway", "limiters")
MOST_LINES = 320  # "about 300"


def test_no_module_is_over_about_300_lines():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines())
             for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    assert len(sizes) > 50  # the packages were found
    assert not {p: n for p, n in sizes.items() if n > MOST_LINES}
