"""`make demo`'s script, as a new user meets it: every wall, a spike, a sweep and a tight loop
with their reports, backoff tuned and checked live, a one-paragraph summary, a report that
opens in Chromium with every section, no process left behind; then a second demo on another
profile and a comparison of the two showing their different quotas. Everything is written
under a temporary folder (--reports-dir), never the checkout's reports/, and nothing here runs
`make` (which could reinstall the package) except as a dry run that shows its commands."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import require_program

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("status", "quota", "retry-after", "throughput", "latency", "keys", "backoff",
            "backoff-live")


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def demo(profile: str, folder: Path) -> tuple[subprocess.CompletedProcess, dict[str, Path]]:
    """The demo's script as `make demo` runs it, with this venv's Python, its run folders
    under `folder`; run from `folder` too, so that a path left relative lands there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINAIVU_")}
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--profile",
                           profile, "--reports-dir", str(folder)], cwd=folder,
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    reports = {m.group(1): Path(m.group(2)) for m in
               re.finditer(r"^(\w+) report: +(\S+index\.html)$", proc.stdout, re.M)}
    assert set(reports) == {"spike", "sweep", "tight_loop"}, proc.stdout
    assert all(p.parent.parent == folder for p in reports.values()), reports
    return proc, reports


def gateway_ports(proc, reports) -> set[int]:
    """Every gateway the demo started: the walk's, and each run's (the live check's too)."""
    ports = {int(p) for p in re.findall(r"http://127\.0\.0\.1:(\d+)/v1", proc.stdout)}
    for page in reports.values():
        for manifest in page.parent.parent.glob(page.parent.name + "*/run.json"):
            target = json.loads(manifest.read_text())["target"]
            ports.add(int(re.search(r":(\d+)/v1", target).group(1)))
    return ports


def leftover_processes(marker: str) -> list[str]:
    """Processes whose command line names one of the demo's run folders."""
    out = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in text:
            out.append(text)
    return out


@pytest.fixture(scope="module")
def reports_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("reports").resolve()


@pytest.fixture(scope="module")
def default_demo(reports_folder):
    return demo("default", reports_folder)


def test_demo_end_to_end(default_demo):
    proc, reports = default_demo
    for wall in ("200 completion", "401 revoked key", "403 key scoped", "404 model",
                 "422 temperature 5", "429 quota reached"):
        assert wall in proc.stdout
    summary = proc.stdout.split("] done.")[1]
    paragraph = summary.strip().split("\n\n")[0]
    assert "\n" not in paragraph  # one paragraph
    found = re.search(r"found 20 requests per ([0-9.]+) s per key, fixed window, anchored at "
                      r"the first request", paragraph)
    assert found, paragraph
    assert "In the spike" in paragraph and "The sweep" in paragraph
    assert "Ship clients that use" in paragraph and "Sent live" in paragraph
    tl = json.loads((reports["tight_loop"].parent / "summary.json").read_text())
    # The fit's promise is the accuracy table's (window within 3%); a 12 s tight loop sees
    # one reopening per key, read from sends whose first one the gateway may have met late.
    quota = tl["quota"]
    assert (quota["algorithm"], quota["alignment"], quota["limit"], quota["scope"]) == \
        ("fixed_window", "first_request", 20, "per_key")
    assert abs(quota["window_s"] - 10) <= 0.3 and float(found.group(1)) == \
        pytest.approx(quota["window_s"], abs=1e-3)
    assert tl["backoff"]["recommended"] and tl["backoff"]["live"]["checks"]
    for page in reports.values():
        assert page.is_file() and (page.parent / "summary.json").is_file()
    index = Path(re.search(r"runs index: (\S+)", proc.stdout).group(1))
    assert index == reports["tight_loop"].parent.parent / "index.html"
    listing = index.read_text()
    assert all(p.parent.name in listing for p in reports.values())
    ports = gateway_ports(proc, reports)
    assert len(ports) == 5  # walk, spike, sweep, tight loop, live check
    assert not any(listening(p) for p in ports)
    stamp = reports["tight_loop"].parent.name.split("-demo-")[0]
    assert leftover_processes(f"{stamp}-demo-") == []


def test_demo_report_opens_in_chromium(default_demo, tmp_path):
    chromium = require_program("chromium")
    page = default_demo[1]["tight_loop"]
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000",
         "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    for section in SECTIONS:
        assert f'id="{section}"' in dom, section
    images = re.search(r'data-images-ok="(\d+)/(\d+)"', dom)
    assert images and images.group(1) == images.group(2) and int(images.group(2)) >= 6


def make_commands(*args: str) -> list[str]:
    """What `make` would run for a target, without running it (a dry run never reinstalls)."""
    proc = subprocess.run(["make", "--dry-run", "--no-print-directory", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_make_targets_run_what_the_tests_run():
    """The tests below run the demo and compare with this venv's Python directly; the make
    targets run the very same commands."""
    assert ".venv/bin/python scripts/demo.py --profile liar" in make_commands("demo",
                                                                             "PROFILE=liar")
    assert ".venv/bin/python -m analysis compare /a /b --out /c.html" in make_commands(
        "compare", "A=/a", "B=/b", "ARGS=--out /c.html")
    assert ".venv/bin/python -m analysis render /r" in make_commands("render", "RUN=/r")


def test_compare_two_demos_on_different_profiles(default_demo, reports_folder, tmp_path):
    _, bucket = demo("token-bucket", reports_folder)
    a, b = default_demo[1]["tight_loop"].parent, bucket["tight_loop"].parent
    out = tmp_path / "compare.html"
    proc = subprocess.run([sys.executable, "-m", "analysis", "compare", str(a), str(b),
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={k: v for k, v in os.environ.items()
                                            if not k.startswith("PINAIVU_")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "fixed window" in proc.stdout and "Token bucket" in proc.stdout
    html = out.read_text()
    assert "fixed_window" in html and "token_bucket" in html
    for field in ("algorithm", "limit"):
        assert re.search(rf'data-field="{field}" data-differs="true"', html), field
