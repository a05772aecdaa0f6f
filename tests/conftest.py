"""Fixtures shared by every test: real servers on free loopback ports, stopped afterwards."""

from __future__ import annotations

import os
import shutil

import pytest

from gateway.launch import start_gateway


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
