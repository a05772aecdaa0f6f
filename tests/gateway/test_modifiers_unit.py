"""The modifiers (counts_rejected, lockout, epoch phase) on a clock the test controls: a client
that waits exactly the stated wait is let in, and nothing earlier is; bad settings are named."""

from __future__ import annotations

import hashlib
import math

import pytest
from hypothesis import given, settings, strategies as st

from gateway.profile import ProfileError, QuotaConfig, load_profile
from gateway.quota import TokenBucket, make_limiter
from gateway.windows import FixedWindowEpoch, HAProxyCounter, key_phase_s


def honours(limiter, ident: str, t: float, cycles: int) -> list[float]:
    """Send until refused, wait exactly the stated time, expect admission; `cycles` times.
    Returns the waits stated."""
    waits = []
    for _ in range(cycles):
        d = limiter.hit(ident, t)
        while d.allowed:
            t += 0.001
            d = limiter.hit(ident, t)
        waits.append(d.retry_after_s)
        t += d.retry_after_s
        assert limiter.hit(ident, t).allowed, (t, waits)
    return waits


def test_counting_bucket_lets_in_a_client_that_waits_the_stated_time():
    # issue 12: at 10/s, burst 2, the old wait (0.08, 0.1, 0.1 ...) was refused forever
    tb = TokenBucket(QuotaConfig(algorithm="token_bucket", rate_per_s=10.0, burst=2,
                                 counts_rejected=True))
    for wait in honours(tb, "k", 1000.0, 5):
        assert wait > 0.1 - 1e-9


def test_counting_bucket_wait_is_not_early():
    tb = TokenBucket(QuotaConfig(algorithm="token_bucket", rate_per_s=10.0, burst=2,
                                 counts_rejected=True))
    tb.hit("k", 0.0), tb.hit("k", 0.0)
    wait = tb.hit("k", 0.0).retry_after_s
    assert wait == pytest.approx(0.2)  # the refusal took the slot at 0.1
    assert not tb.hit("k", wait - 0.001).allowed


def haproxy_rule(attempts: list[float], t: float, limit: int, w: float) -> bool:
    """HAProxy's rule, re-derived from scratch: every attempt before t (and t itself) counted."""
    start, prev, cur = None, 0, 0
    for a in attempts + [t]:
        if start is None or a - start >= 2 * w:
            start, prev, cur = a, 0, 0
        elif a - start >= w:
            start, prev, cur = start + w, cur, 0
        cur += 1
    return math.floor(prev * (start + w - t) / w + cur) <= limit


@settings(max_examples=200, deadline=None)
@given(limit=st.integers(1, 6), gaps=st.lists(st.integers(0, 300), min_size=1, max_size=40))
def test_haproxy_counter_matches_the_rule_and_states_its_reopening(limit, gaps):
    w = 2.0
    lim = HAProxyCounter(QuotaConfig(algorithm="sliding_counter", limit=limit, window_s=2,
                                     counts_rejected=True))
    attempts: list[float] = []
    t = 500.0
    for g in gaps:
        t += g / 100
        d = lim.hit("k", t)
        assert d.allowed == haproxy_rule(attempts, t, limit, w)
        attempts.append(t)
        if not d.allowed:
            assert haproxy_rule(attempts, t + d.retry_after_s, limit, w)
            assert d.retry_after_s < 2e-3 or not haproxy_rule(attempts, t + d.retry_after_s
                                                               - 1e-3, limit, w)


def test_haproxy_counter_lets_in_a_client_that_waits_the_stated_time():
    lim = HAProxyCounter(QuotaConfig(algorithm="sliding_counter", limit=3, window_s=1,
                                     counts_rejected=True))
    honours(lim, "k", 100.0, 6)


def test_epoch_phase_fixed_and_from_the_key_hash():
    fixed = FixedWindowEpoch(QuotaConfig(algorithm="fixed_window", alignment="epoch", limit=2,
                                         window_s=10, phase_s=3.5))
    assert [fixed.hit("k", t).allowed for t in (13.4, 13.45, 13.49)] == [True, True, False]
    assert fixed.hit("k", 13.5).allowed  # a window starts at 3.5 + 10
    d = [fixed.hit("k", 13.6) for _ in range(2)][-1]
    assert not d.allowed and d.retry_after_s == pytest.approx(23.5 - 13.6)
    key = "pk-demo-alice-0001"
    phase = int(hashlib.sha256(key.encode()).hexdigest(), 16) % 10_000 / 1000
    assert key_phase_s(key, 10) == phase == 9.335
    hashed = FixedWindowEpoch(QuotaConfig(algorithm="fixed_window", alignment="epoch", limit=1,
                                          window_s=10, phase_s="key_hash"))
    assert hashed.hit(key, 1000 + phase - 0.01).allowed
    assert not hashed.hit(key, 1000 + phase - 0.005).allowed
    assert hashed.hit(key, 1000 + phase).allowed


def lockout_cfg(**kw):
    return QuotaConfig(algorithm="token_bucket", rate_per_s=10.0, burst=2, lockout_s=1.0, **kw)


def test_lockout_refuses_for_lockout_s_after_the_first_refusal():
    lim = make_limiter(lockout_cfg())
    assert lim.hit("k", 0).allowed and lim.hit("k", 0).allowed
    first = lim.hit("k", 0.0)
    assert not first.allowed and first.retry_after_s == pytest.approx(1.0)
    # the bucket would admit at 0.1; the lockout says no, and counts nothing
    assert [lim.hit("k", t).allowed for t in (0.1, 0.5, 0.99)] == [False] * 3
    assert lim.hit("k", 0.5).retry_after_s == pytest.approx(0.5)
    assert lim.hit("k", 1.0).allowed and lim.hit("other", 0.5).allowed


def test_extending_lockout_restarts_from_each_refusal():
    lim = make_limiter(lockout_cfg(lockout_extends=True))
    lim.hit("k", 0), lim.hit("k", 0), lim.hit("k", 0)
    d = lim.hit("k", 0.9)
    assert not d.allowed and d.retry_after_s == pytest.approx(1.0)
    assert not lim.hit("k", 1.5).allowed  # the first lockout would have ended at 1.0
    assert lim.hit("k", 2.5).allowed


def test_lockout_wait_is_the_quota_reopening_when_that_is_later():
    lim = make_limiter(QuotaConfig(algorithm="fixed_window", alignment="epoch", limit=1,
                                   window_s=10, lockout_s=2.0))
    assert lim.hit("k", 100.0).allowed
    d = lim.hit("k", 101.0)
    assert not d.allowed and d.retry_after_s == pytest.approx(9.0)  # the window, not 2 s
    assert not lim.hit("k", 104.0).allowed  # lockout over, window still closed: a new lockout
    assert lim.hit("k", 110.0).allowed


@pytest.mark.parametrize("extends", [False, True])
@pytest.mark.parametrize("quota", [
    dict(algorithm="token_bucket", rate_per_s=10.0, burst=2, counts_rejected=True),
    dict(algorithm="token_bucket", rate_per_s=10.0, burst=2),
    dict(algorithm="fixed_window", alignment="epoch", limit=3, window_s=1, phase_s=0.25),
    dict(algorithm="sliding_counter", limit=3, window_s=1, counts_rejected=True),
])
def test_lockout_wait_is_honoured(quota, extends):
    lim = make_limiter(QuotaConfig(lockout_s=0.7, lockout_extends=extends, **quota))
    for wait in honours(lim, "k", 100.0, 4):
        assert wait >= 0.7 - 1e-9


BAD = [
    (["quota.algorithm='fixed_window'", "quota.alignment='epoch'", "quota.phase_s=10"],
     "quota.phase_s must be in [0, window_s=10)"),
    (["quota.algorithm='fixed_window'", "quota.alignment='epoch'", "quota.phase_s=-1"],
     "quota.phase_s"),
    (["quota.phase_s=2"], "quota.phase_s applies only to algorithm 'fixed_window' with "
     "alignment 'epoch'"),
    (["quota.algorithm='fixed_window'", "quota.alignment='epoch'", "quota.scope='global'",
      "quota.phase_s='key_hash'"], "quota.phase_s = 'key_hash' needs scope 'per_key'"),
    (["quota.phase_s='sha1'"], "quota.phase_s must be a number of seconds >= 0 or 'key_hash'"),
    (["quota.lockout_s=-1"], "quota.lockout_s"),
    (["quota.lockout_s=0"], "quota.lockout_s"),
    (["quota.algorithm='none'", "quota.lockout_s=5"], "quota.lockout_s needs a quota that "
     "refuses"),
    (["quota.lockout_extends=true"], "quota.lockout_extends needs quota.lockout_s"),
    (["quota.count_rejected=true"], "quota.count_rejected is now called quota.counts_rejected"),
]


@pytest.mark.parametrize("overrides, message", BAD)
def test_bad_modifier_settings_name_the_field(overrides, message):
    with pytest.raises(ProfileError) as err:
        load_profile("default", overrides)
    assert message in str(err.value)


def test_a_phase_without_a_window_names_the_missing_window(tmp_path):
    # not a TypeError from comparing the phase with a window that is not there
    path = tmp_path / "no-window.toml"
    path.write_text('[quota]\nalgorithm = "fixed_window"\nalignment = "epoch"\nlimit = 3\n'
                    'phase_s = 1\n[[keys]]\nname = "a"\nkey = "pk-test-0000001"\n')
    with pytest.raises(ProfileError, match="quota.window_s is required"):
        load_profile(str(path))


def test_a_slow_admission_that_opens_a_window_does_not_shift_the_definition():
    """A run that once failed (the full suite, 2026-12-01): limit 3 per 1 s, anchored. The
    first admission of the second window was received 0.7 ms before the first window's end as
    the receive times reckon it; the definition fed receive times kept it in the full first
    window, shifted every later window, and called the gateway's honest 991 ms a lie."""
    from .modifier_checks import FixedAnchored, violations
    from .test_quota_http import Obs

    def obs(sent, recv, status, ra=None, ra_ms=None):
        return Obs("bob", sent, recv, status, ra, ra_ms)

    run = [obs(0.0300, 0.0350, 200), obs(0.0360, 0.0370, 200), obs(0.0380, 0.0390, 200),
           obs(0.0542, 0.0560, 429, 1.0, 979.0),
           # the honouring client comes back after 979 ms: a new window opens at ~1.0335
           obs(1.0328, 1.0345, 200), obs(1.0420, 1.0430, 200), obs(1.0435, 1.0440, 200),
           obs(1.0494, 1.0534, 429, 1.0, 991.0)]
    wrong, dishonest = violations(run, lambda: FixedAnchored(3, 1))
    assert not wrong and not dishonest, (wrong, dishonest)
    # The check can still fail: a wait 50 ms short of the window's end is caught.
    run[-1] = obs(1.0494, 1.0534, 429, 1.0, 930.0)
    assert violations(run, lambda: FixedAnchored(3, 1))[1]
