"""Fixtures shared by every test: real servers on free loopback ports, stopped afterwards.

Tests write only under temporary folders: whatever falls back to the default run folder lands
in a temporary one ($PINAIVU_REPORTS_DIR, set here for the whole session), and the session
fails if anything under the checkout's reports/ was created, changed or removed meanwhile."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

import pytest

from contract.target import REPORTS_DIR_ENV
from gateway.launch import start_gateway

CHECKOUT_REPORTS = Path(__file__).resolve().parents[1] / "reports"


def listing(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under `folder` (itself included) -> (type, size, mtime): what changes when
    anything in it is written, added or removed."""
    out = {}
    for p in [folder, *folder.rglob("*")] if folder.exists() else []:
        try:
            st = p.lstat()
        except OSError:  # gone between listing and looking
            continue
        out[p.relative_to(folder).as_posix()] = (stat.S_IFMT(st.st_mode), st.st_size,
                                                 st.st_mtime_ns)
    return out


def changes(before: dict, after: dict) -> list[str]:
    """What differs, one line per entry of the folder itself (a run folder, index.html)."""
    by_top: dict[str, list[str]] = {}
    for k in sorted(before.keys() | after.keys()):
        if before.get(k) != after.get(k):
            how = "created" if k not in before else "removed" if k not in after else "changed"
            by_top.setdefault(k.split("/")[0], []).append(
                f"{how} {'reports/ itself' if k == '.' else k}")
    return [lines[0] if len(lines) == 1 else f"{lines[0]} (and {len(lines) - 1} below it)"
            for lines in by_top.values()]


def pytest_configure(config):
    if hasattr(config, "workerinput"):
        return  # an xdist worker: it inherits the controller's environment, and is watched
    # Not the developer's own PINAIVU_REPORTS_DIR either: that is where their runs live.
    config.pinaivu_reports_tmp = tempfile.mkdtemp(prefix="pinaivu-test-reports-")
    os.environ[REPORTS_DIR_ENV] = config.pinaivu_reports_tmp
    config.pinaivu_reports_before = listing(CHECKOUT_REPORTS)


def pytest_sessionfinish(session):
    config = session.config
    if not hasattr(config, "pinaivu_reports_before"):
        return
    found = changes(config.pinaivu_reports_before, listing(CHECKOUT_REPORTS))
    if not found:
        return
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
    report = config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"tests wrote into {CHECKOUT_REPORTS} (they may write only under temporary "
             f"folders; or a run of yours wrote there meanwhile):", *found[:20]]
    if len(found) > 20:
        lines.append(f"... and {len(found) - 20} more")
    if report is not None:
        report.ensure_newline()
        report.write_sep("!", "the checkout's reports/ changed", red=True)
        for line in lines:
            report.write_line(line, red=True)
    else:
        print("\n".join(lines))


def pytest_unconfigure(config):
    folder = getattr(config, "pinaivu_reports_tmp", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def require_program(name: str) -> str:
    """The path of a Debian program a test needs; skip without it, or fail in CI."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if path:
        return path
    reason = f"{name} is not installed (scripts/install-system-deps.sh installs it as root)"
    if os.environ.get("PINAIVU_REQUIRE_SYSTEM_DEPS") == "1":
        pytest.fail(f"{reason}; PINAIVU_REQUIRE_SYSTEM_DEPS=1 forbids skipping")
    pytest.skip(reason)


def _factory(folder):
    started = []

    def start(profile: str = "default", overrides: list[str] = ()):
        gw = start_gateway(profile, list(overrides),
                           log_path=folder / f"gateway-{len(started)}.log")
        started.append(gw)
        return gw

    return start, started


@pytest.fixture
def gateway_factory(tmp_path):
    """start(profile, overrides) -> RunningGateway; all are stopped when the test ends."""
    start, started = _factory(tmp_path)
    yield start
    for gw in started:
        gw.stop()


@pytest.fixture(scope="module")
def module_gateway_factory(tmp_path_factory):
    """The same, for servers a whole test module shares."""
    start, started = _factory(tmp_path_factory.mktemp("gateways"))
    yield start
    for gw in started:
        gw.stop()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    """Importing Locust in a test's own process monkey-patches threading, and a pytest-xdist
    worker so patched dies later of gevent's LoopExit on another file's test (a CI run lost a
    worker that way). Locust runs in child processes only: the test that imported it fails."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        pytest.fail(f"{item.nodeid} imported Locust (or patched gevent) in the test process; "
                    "run it in a child interpreter", pytrace=False)
