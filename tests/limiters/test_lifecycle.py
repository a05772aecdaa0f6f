"""Each limiter stops with everything it started, also when the code inside its `with` block
fails, and a limiter that cannot start says why and leaves nothing behind."""

from __future__ import annotations

import pytest

from limiters import ExpressRateLimit, HAProxyConcurrency, RateLimiterFlexible
from limiters import express_rate_limit, rate_limiter_flexible
from limiters.haproxy import _HAProxy

from ..conftest import require_program
from .helpers import require_npm


def _haproxy():
    require_program("haproxy")
    return HAProxyConcurrency(limit=1, delay_s=0.1)  # two processes: HAProxy and upstream


def _flexible():
    require_npm(rate_limiter_flexible.missing())
    return RateLimiterFlexible()


def _express():
    require_npm(express_rate_limit.missing())
    return ExpressRateLimit()


@pytest.mark.system
@pytest.mark.parametrize("start", [_haproxy, _flexible, _express],
                         ids=["haproxy", "rate-limiter-flexible", "express-rate-limit"])
def test_a_failing_block_still_stops_every_process(start):
    limiter = start()
    with pytest.raises(ZeroDivisionError), limiter:
        assert all(p.poll() is None for p in limiter.processes)
        1 / 0
    assert limiter.processes and all(p.poll() is not None for p in limiter.processes)
    assert not limiter.dir.exists()


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
