"""The written truth stays the truth of what is installed: TRUTH.md names the version each
limiter really runs, and every `truth()` speaks DESIGN.md's vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import limiters
from limiters import express_rate_limit, haproxy, rate_limiter_flexible

from ..conftest import require_program
from .helpers import require_npm

TRUTH = (Path(limiters.__file__).parent / "TRUTH.md").read_text()
LOCK = json.loads((Path(limiters.__file__).parent / "node" / "package-lock.json").read_text())
# DESIGN.md's quota.* keys every truth() states (values may be null where they do not apply)
KEYS = {"algorithm", "limit", "window_s", "rate_per_s", "burst", "alignment",
        "counts_rejected", "lockout_s", "queueing", "scope", "unit", "declared"}
FAMILIES = {"fixed_window", "sliding_log", "sliding_counter", "token_bucket", "concurrency"}


def test_public_names():
    assert limiters.__all__ == ["ExpressRateLimit", "HAProxyConcurrency", "HAProxyQueue", "HAProxyRate",
                                "RateLimiterFlexible"]


@pytest.mark.parametrize("package", ["rate-limiter-flexible", "express-rate-limit", "express"])
def test_truth_names_the_pinned_npm_versions(package):
    pinned = LOCK["packages"][f"node_modules/{package}"]["version"]
    assert LOCK["packages"][""]["dependencies"][package] == pinned  # exact, not a range
    assert f"`{package}` {pinned}" in TRUTH


@pytest.mark.system
@pytest.mark.parametrize("module", [rate_limiter_flexible, express_rate_limit])
def test_installed_npm_version_is_the_pinned_one(module):
    require_npm(module.missing())
    assert module.version() == LOCK["packages"][f"node_modules/{module.PACKAGE}"]["version"]


@pytest.mark.system
def test_truth_names_the_installed_haproxy():
    require_program("haproxy")
    assert f"`haproxy` {haproxy.haproxy_version()}" in TRUTH


def test_every_truth_speaks_the_design_vocabulary():
    # truth() reads only the constructor's parameters: no server is needed to check it.
    made = [object.__new__(cls) for cls in (haproxy.HAProxyRate, haproxy.HAProxyConcurrency,
                                            rate_limiter_flexible.RateLimiterFlexible,
                                            express_rate_limit.ExpressRateLimit)]
    for m, params in zip(made, [dict(limit=5, window_s=4), dict(limit=2, delay_s=1.0),
                                dict(points=3, duration_s=2, block_s=4),
                                dict(limit=4, window_s=3, headers="draft-8")]):
        m.__dict__.update(params)
        truth = m.truth()
        assert KEYS <= truth.keys(), type(m)
        assert truth["algorithm"] in FAMILIES
        assert truth["scope"] == "per_key"
    assert len({m.truth()["algorithm"] for m in made}) == 3  # three families besides nginx's
