"""The modifiers (counts_rejected on every algorithm, lockout, clock-aligned windows with a
phase), each from its own profile, over real HTTP, against the definitions in
modifier_checks.py (written from each option's meaning, not from the gateway's code).

A loop of short runs and pauses chosen around each limiter's reopening is replayed over the
definition; meanwhile clients on other keys honour every stated wait, in milliseconds and in
whole seconds, and must be let in each time. Each test also shows that its check can fail:
the nearest other definition (not counting refusals, no lockout, the other kind of lockout,
phase 0) contradicts what the gateway did.
"""

from __future__ import annotations

import hashlib
import threading

import pytest

from limiters.haproxy import HAProxyRate as RealHAProxyRate

from ..conftest import require_program
from .helpers import ALICE, BOB, CAROL
from .modifier_checks import (Bucket, FixedAnchored, FixedEpoch, HAProxyRate, LimitsCounter,
                              Lockout, SlidingLog, each, gappy_loop, honouring_client,
                              run_all, timeline, violations)
from .test_quota_http import FAST

# (profile, overrides, definition, the same limiter not counting refusals, runs); a long run
# keeps a counting limiter closed until the loop stops for about a window, so runs are short
FIXED = ["quota.algorithm='fixed_window'", "quota.limit=3", "quota.window_s=1"]
COUNTS_REJECTED = [
    pytest.param("counts-rejected", FIXED + ["quota.alignment='first_request'"],
                 lambda: FixedAnchored(3, 1), None, each(40, [0.1, 0.3, 0.5, 0.7]),
                 id="fixed-first-request-3-per-1s"),
    pytest.param("counts-rejected", FIXED + ["quota.alignment='epoch'"],
                 lambda: FixedEpoch(3, 1), None, each(40, [0.1, 0.3, 0.5, 0.7]),
                 id="fixed-epoch-3-per-1s"),
    pytest.param("counts-rejected", ["quota.algorithm='sliding_log'", "quota.limit=3",
                                     "quota.window_s=1"],
                 lambda: SlidingLog(3, 1), lambda: SlidingLog(3, 1, counts=False),
                 each(2, [0.2, 0.45, 0.7, 0.3]), id="sliding-log-3-per-1s"),
    pytest.param("sliding-counter-counts-rejected", ["quota.limit=3", "quota.window_s=1"],
                 lambda: HAProxyRate(3, 1), lambda: HAProxyRate(3, 1, counts=False),
                 each(2, [0.35, 0.65, 0.95]), id="sliding-counter-haproxy-3-per-1s"),
    # the case: at 10/s, burst 2, a wait stated from before the refusal's own slot
    # kept a client that waited it out for ever
    pytest.param("counts-rejected", ["quota.rate_per_s=10.0", "quota.burst=2"],
                 lambda: Bucket(10, 2),
                 lambda: Bucket(10, 2, counts=False), each(2, [0.1, 0.25, 0.4, 0.15]),
                 id="token-bucket-10ps-burst-2"),
]


@pytest.mark.parametrize("profile, overrides, make, uncounted, runs", COUNTS_REJECTED)
def test_counts_rejected_matches_its_definition_and_its_wait_lets_the_client_in(
        gateway_factory, profile, overrides, make, uncounted, runs):
    gw = gateway_factory(profile, FAST + overrides)
    loop = run_all(gw, make, 3.0, runs)
    if uncounted is not None:
        # the check can fail: not counting refusals is not what the gateway did (on fixed
        # windows counting changes nothing, and the one definition serves both)
        assert violations(loop, uncounted)[0]


@pytest.mark.system
def test_the_counting_sliding_counter_definition_is_real_haproxys():
    """The definition the gateway is held to, held to HAProxy itself (limiters/haproxy.py:
    tracked before the deny rule, so refusals count), over the same kind of loop."""
    require_program("haproxy")
    with RealHAProxyRate(limit=3, window_s=1, counts_rejected=True) as real:
        obs = gappy_loop(real.base_url, ALICE, 3.0, each(2, [0.35, 0.65, 0.95]))
    assert {o.status for o in obs} == {200, 429}
    wrong, _ = violations(obs, lambda: HAProxyRate(3, 1), stated=False)
    assert not wrong, timeline(obs, wrong)
    # the check can fail: neither limits' counter (admissions only, windows on the clock) nor
    # HAProxy tracking after the deny rule (admissions only) is what it did
    assert violations(obs, lambda: LimitsCounter(3, 1), stated=False)[0]
    assert violations(obs, lambda: HAProxyRate(3, 1, counts=False), stated=False)[0]


# Runs that start after the window has reopened but before the lockout ends, and one after a
# non-extending lockout would have ended but before an extended one does.
@pytest.mark.parametrize("profile, length, extends, runs", [
    ("lockout", 1.5, False, [(0.3, 0.8), (0.3, 0.25)]),
    ("lockout-extends", 1.2, True, [(0.3, 1.0), (0.1, 1.2)]),
])
def test_lockout_matches_its_definition_and_its_wait_lets_the_client_in(
        gateway_factory, profile, length, extends, runs):
    gw = gateway_factory(profile, FAST + ["quota.limit=3", "quota.window_s=1",
                                          f"quota.lockout_s={length}"])
    loop = run_all(gw, lambda: Lockout(FixedAnchored(3, 1), length, extends), 3.0, runs,
                   honoured=(2, 2))
    # the check can fail: neither the window alone nor the other kind of lockout is what the
    # gateway did
    assert violations(loop, lambda: FixedAnchored(3, 1))[0]
    assert violations(loop, lambda: Lockout(FixedAnchored(3, 1), length, not extends))[0]


def key_phase(key, window_s):
    """The documented phase: SHA-256 of the key's UTF-8 bytes, as a big-endian integer, modulo
    the window in milliseconds."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % (window_s * 1000) / 1000


@pytest.mark.parametrize("profile, phases", [
    ("epoch-phase", {ALICE: 0.7, BOB: 0.7}),
    ("epoch-key-phase", {ALICE: key_phase(ALICE, 2), BOB: key_phase(BOB, 2)}),
])
def test_epoch_phase_matches_its_definition(gateway_factory, profile, phases):
    sets = ["quota.limit=3", "quota.window_s=2"]
    if profile == "epoch-phase":
        sets.append("quota.phase_s=0.7")
    gw = gateway_factory(profile, FAST + sets)
    loops = {}

    def run(key):
        loops[key] = gappy_loop(gw.base_url, key, 3.0, each(40, [0.2, 0.5, 0.35]))

    threads = [threading.Thread(target=run, args=(k,)) for k in phases]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    unphased = []
    for key, phase in phases.items():
        obs = loops[key]
        assert {o.status for o in obs} == {200, 429}
        wrong, dishonest = violations(obs, lambda: FixedEpoch(3, 2, phase))
        assert not wrong, timeline(obs, wrong)
        assert not dishonest, timeline(obs, dishonest)
        # The check can fail: windows half a window off are not what the gateway ran...
        assert violations(obs, lambda: FixedEpoch(3, 2, (phase + 1.0) % 2))[0]
        unphased.append(violations(obs, lambda: FixedEpoch(3, 2, 0.0))[0])
    # ...nor windows on plain multiples of 2 s. A phase near 0 (BOB's key hash gives 1.681 s,
    # 0.32 s before a multiple) may leave one key's 3 s run without a decision between the two
    # boundaries (a run failed so), so this holds over the keys together.
    assert any(unphased)


# The lockout over the limiters the `limits` library runs on its own clock (the fixed window
# anchored at the first request is the tests above); over the gateway's own, on `now`,
# test_modifiers_unit.py holds it to the stated waits on a clock the test controls.
@pytest.mark.parametrize("overrides, quota", [
    (["quota.algorithm='sliding_log'", "quota.counts_rejected=true"],
     lambda: SlidingLog(3, 1)),
    (["quota.algorithm='sliding_counter'"], lambda: LimitsCounter(3, 1)),
], ids=["sliding-log-counting", "sliding-counter"])
def test_lockout_on_other_algorithms_lets_in_a_client_that_waits(gateway_factory, overrides,
                                                                  quota):
    """The lockout over the other algorithms: clients honouring every wait are let in, and
    what they saw is the lockout's definition over the algorithm's."""
    gw = gateway_factory("lockout", FAST + ["quota.limit=3", "quota.window_s=1",
                                            "quota.lockout_s=0.6"] + overrides)
    results = {}

    def run(key, unit):
        results[unit] = honouring_client(gw.base_url, key, unit, 2)

    threads = [threading.Thread(target=run, args=a) for a in ((BOB, "ms"), (CAROL, "s"))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    for unit, (obs, after_wait) in results.items():
        assert after_wait == [200, 200], (unit, timeline(obs, []))
        wrong, dishonest = violations(obs, lambda: Lockout(quota(), 0.6, False))
        assert not wrong, f"{unit}: decisions " + timeline(obs, wrong)
        assert not dishonest, f"{unit}: Retry-After " + timeline(obs, dishonest)
        # every refusal said at least the lockout
        assert all(o.retry_after_ms >= 600 for o in obs if o.status == 429)
