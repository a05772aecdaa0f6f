"""Each limiter stops with everything it started, also when the code inside its `with` block
fails, and a limiter that cannot start says why and leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from limiters import ExpressRateLimit, HAProxyConcurrency, RateLimiterFlexible, \
    VarnishThrottle
from limiters import express_rate_limit, rate_limiter_flexible, varnish
from limiters.haproxy import _HAProxy

from ..conftest import require_program
from .helpers import require_installed


def _haproxy():
    require_program("haproxy")
    return HAProxyConcurrency(limit=1, delay_s=0.1)  # two processes: HAProxy and upstream


def _flexible():
    require_installed(rate_limiter_flexible.missing())
    return RateLimiterFlexible()


def _express():
    require_installed(express_rate_limit.missing())
    return ExpressRateLimit()


def _varnish():
    require_installed(varnish.missing())
    return VarnishThrottle()  # varnishd's manager and its child


@pytest.mark.system
@pytest.mark.parametrize("start", [_haproxy, _flexible, _express, _varnish],
                         ids=["haproxy", "rate-limiter-flexible", "express-rate-limit",
                              "varnish"])
def test_a_failing_block_still_stops_every_process(start):
    limiter = start()
    with pytest.raises(ZeroDivisionError), limiter:
        assert all(p.poll() is None for p in limiter.processes)
        1 / 0
    assert limiter.processes and all(p.poll() is not None for p in limiter.processes)
    assert not limiter.dir.exists()
    # nor what they forked (Varnish's worker child, say), named by their folder in argv
    assert [cmd for cmd in command_lines() if str(limiter.dir) in cmd] == []


def command_lines() -> list[str]:
    out = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            out.append(path.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:  # gone meanwhile
            pass
    return out


@pytest.mark.system
def test_a_rejected_config_is_reported_and_cleaned_up():
    require_program("haproxy")
    bad = _HAProxy("haproxy-bad")
    with pytest.raises(RuntimeError, match="haproxy rejected its config"):
        bad._start("frontend x\n    bind 127.0.0.1:1\n    no-such-keyword\n")
    assert not bad.dir.exists() and bad.processes == []


def test_an_unknown_header_family_is_refused_before_starting():
    with pytest.raises(ValueError, match="draft-6"):
        ExpressRateLimit(headers="draft-9")
