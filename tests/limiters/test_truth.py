"""The written truth stays the truth of what is installed: TRUTH.md names the version each
limiter really runs, and every `truth()` speaks DESIGN.md's vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import limiters
from limiters import express_rate_limit, haproxy, rate_limiter_flexible, varnish

from ..conftest import require_program
from .helpers import require_installed

TRUTH = (Path(limiters.__file__).parent / "TRUTH.md").read_text()
LOCK = json.loads((Path(limiters.__file__).parent / "node" / "package-lock.json").read_text())
# DESIGN.md's quota.* keys every truth() states (values may be null where they do not apply)
KEYS = {"algorithm", "limit", "window_s", "rate_per_s", "burst", "alignment",
        "counts_rejected", "lockout_s", "queueing", "scope", "unit", "declared"}
FAMILIES = {"fixed_window", "sliding_log", "sliding_counter", "token_bucket", "concurrency"}


def test_public_names():
    assert limiters.__all__ == ["ExpressRateLimit", "HAProxyConcurrency", "HAProxyQueue",
                                "HAProxyRate", "RateLimiterFlexible", "VarnishThrottle"]


@pytest.mark.parametrize("package", ["rate-limiter-flexible", "express-rate-limit", "express"])
def test_truth_names_the_pinned_npm_versions(package):
    pinned = LOCK["packages"][f"node_modules/{package}"]["version"]
    assert LOCK["packages"][""]["dependencies"][package] == pinned  # exact, not a range
    assert f"`{package}` {pinned}" in TRUTH


@pytest.mark.system
@pytest.mark.parametrize("module", [rate_limiter_flexible, express_rate_limit])
def test_installed_npm_version_is_the_pinned_one(module):
    require_installed(module.missing())
    assert module.version() == LOCK["packages"][f"node_modules/{module.PACKAGE}"]["version"]


@pytest.mark.system
def test_truth_names_the_installed_varnish_packages():
    require_installed(varnish.missing())
    for package, version in varnish.varnish_versions().items():
        assert f"`{package}` {version}" in TRUTH


@pytest.mark.system
def test_truth_names_the_installed_haproxy():
    require_program("haproxy")
    # the upstream release: the Debian revision (-1+deb12uN) is whatever the mirror holds
    upstream = haproxy.haproxy_version().split("-")[0]
    assert f"`haproxy` {upstream} " in TRUTH


def test_every_truth_speaks_the_design_vocabulary():
    # truth() reads only the constructor's parameters: no server is needed to check it.
    configs = [(haproxy.HAProxyRate, dict(limit=5, window_s=4, counts_rejected=True)),
               (haproxy.HAProxyConcurrency, dict(limit=2, delay_s=1.0)),
               (haproxy.HAProxyQueue, dict(limit=1, delay_s=1.0, queue_timeout_s=2.5)),
               (rate_limiter_flexible.RateLimiterFlexible,
                dict(points=3, duration_s=2, block_s=4)),
               (express_rate_limit.ExpressRateLimit, dict(limit=4, window_s=3,
                                                          headers="draft-8")),
               (varnish.VarnishThrottle, dict(limit=2, period_s=4.0, block_s=3.0))]
    truths = []
    for cls, params in configs:
        made = object.__new__(cls)
        made.__dict__.update(params)
        truths.append(made.truth())
        assert KEYS <= truths[-1].keys(), cls
        assert truths[-1]["algorithm"] in FAMILIES
        assert truths[-1]["scope"] in {"per_key", "global"}
    # three families besides the token bucket (nginx's and vsthrottle's), and the modifiers
    # nginx lacks
    assert {t["algorithm"] for t in truths} == {"sliding_counter", "concurrency", "fixed_window",
                                                "token_bucket"}
    assert any(t["lockout_s"] for t in truths) and any(t["queueing"] for t in truths)
