"""The fit's modifiers (issue 13) on synthetic decisions: a lockout (extended by refusals or
not), HAProxy's counting sliding counter, epoch windows with a phase (one for all keys, or one
per key), and what a run cannot tell apart.

The decisions come from tests/gateway/modifier_checks.py's definitions (written from the
documented meaning, not from the gateway's nor the fit's code), fed a schedule the way a
client on loopback would send it: admissions take 5 ms, refusals 2 ms, decided 1 ms after the
send, 8 ms between requests; every 429 states the definition's exact wait."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings, strategies as st

from analysis.decisions import decide
from analysis.quota import Stream, fit_quota, describe
from analysis.quota import families
from ..gateway.modifier_checks import (FixedAnchored, FixedEpoch, HAProxyRate, Bucket,
                                       Lockout, _reopening)

START = 1_700_000_000.25


def synthetic(make, plan, keys=("k1",), stagger=0.0, start=START):
    """One stream per key: `plan` is a list of ("loop", seconds), ("send", n requests back
    to back) and ("pause", seconds); key n starts `stagger` * n seconds after the first."""
    rows = []
    for n, key in enumerate(keys):
        d, t = make(key), start + n * stagger
        for step, x in plan:
            if step == "pause":
                t += x
                continue
            stop, sent = (t + x if step == "loop" else math.inf), 0
            while (t < stop) if step == "loop" else (sent < x):
                decided = t + 0.001
                ok = d.admits(decided)
                d.record(decided, ok)
                wait = math.nan if ok else _reopening(copy.deepcopy(d), decided) - decided
                latency = 5.0 if ok else 2.0
                rows.append(dict(endpoint="/v1/chat/completions", key_id=key, sent_ts=t,
                                 status=200 if ok else 429, latency_ms=latency,
                                 ttfb_ms=latency, retry_after_s=wait))
                t += latency / 1000 + 0.008
                sent += 1
    return pd.DataFrame(rows).sort_values("sent_ts", kind="stable").reset_index(drop=True)


def test_a_lockout_is_fitted_as_a_lockout_not_a_longer_window():
    """4 per 1 s from the first request, then 3 s locked out from the first refusal. Four
    sent, a pause longer than the window but shorter than the lockout, four more (all let in:
    no refusal came before), then a tight loop: refused for 3 s after each first refusal,
    with a pause across one lockout's end (which moves the cycle: a window on the clock with
    the cycle's period and phase explains the loop alone, not that). A window of 4 per 3 s
    explains the loop alone; only the lockout explains the first pause."""
    df = synthetic(lambda k: Lockout(FixedAnchored(4, 1.0), 3.0, False),
                   [("send", 4), ("pause", 1.2), ("send", 4), ("loop", 5.7), ("pause", 0.8),
                    ("loop", 6.0)])
    fit = fit_quota(decide(df))
    assert (fit.algorithm, fit.alignment, fit.limit) == ("fixed_window", "first_request", 4)
    assert fit.window_s == pytest.approx(1.0, rel=0.03)
    assert fit.lockout_s == pytest.approx(3.0, rel=0.03) and fit.lockout_extends is False
    assert fit.agreement == 1.0
    assert "locked out for 3 s" in describe(fit)


def test_a_lockout_that_refusals_restart_is_told_from_one_they_do_not():
    """4 per 1 s with a 1.5 s lockout that every refusal restarts. Rounds: five sent
    (the fifth refused), single requests during the lockout, each refused (each restarts it),
    the last of them further out each round, then five more 1.6 s after the last single
    (rounds without singles put two rounds inside any window longer than the lockout). A
    plain lockout would have to outlast the last single of each round (3.6 s in the third) and
    end before the next round of the first (3.6 s after its refusal, less the requests' time);
    a window anchored at each round's first admission would have to be longer than 3.6 s and
    shorter than 3.6 s: no length does both."""
    plan = []
    for gaps in ([1.0, 1.0], [], [0.7] * 4, [], [1.2] * 3, [], [0.5] * 6, []):
        plan.append(("send", 5))
        for g in gaps:
            plan += [("pause", g), ("send", 1)]
        plan.append(("pause", 1.6))
    df = synthetic(lambda k: Lockout(FixedAnchored(4, 1.0), 1.5, True), plan)
    fit = fit_quota(decide(df))
    assert (fit.algorithm, fit.limit) == ("fixed_window", 4), fit.candidates[:3]
    assert fit.lockout_s == pytest.approx(1.5, rel=0.03) and fit.lockout_extends is True
    assert fit.agreement == 1.0
    assert "every refusal during it restarts it" in describe(fit)


@pytest.mark.parametrize("counts", [True, False], ids=["track-then-deny", "deny-then-track"])
def test_haproxys_counter_is_fitted_with_its_periods_and_what_it_counts(counts):
    """HAProxy's http_req_rate of 5 per 2 s (periods from the key's first request), every
    request counted (track, then deny) or only the admitted ones (deny, then track): loops
    and pauses of different lengths, pairs of requests inside a period; the counting one
    keeps a loop out for as long as it lasts, the other lets it in as the count decays."""
    plan = [("loop", 1.0), ("pause", 4.1), ("loop", 0.5), ("pause", 1.9), ("send", 2),
            ("pause", 1.4), ("send", 2), ("pause", 0.3), ("loop", 3.0), ("pause", 4.5),
            ("send", 8)]
    df = synthetic(lambda k: HAProxyRate(5, 2.0, counts=counts), plan)
    fit = fit_quota(decide(df))
    assert fit.algorithm == "sliding_counter", fit.candidates[:3]
    assert (fit.alignment, fit.counts_rejected) == ("first_request", counts), fit.candidates[:3]
    assert fit.limit == 5 and fit.window_s == pytest.approx(2.0, rel=0.03)
    assert fit.agreement == 1.0
    assert ("rejected requests count too" in describe(fit)) == counts


def test_epoch_windows_with_one_phase_for_every_key():
    """3 per 1 s in windows starting 0.35 s past each whole second, three keys starting a
    third of a second apart: the keys reopen together, at the phase."""
    df = synthetic(lambda k: FixedEpoch(3, 1.0, phase=0.35), [("loop", 3.2)],
                   keys=("k1", "k2", "k3"), stagger=0.33)
    fit = fit_quota(decide(df))
    assert (fit.algorithm, fit.alignment, fit.limit) == ("fixed_window", "epoch", 3)
    assert fit.window_s == pytest.approx(1.0, rel=0.03)
    assert fit.phase_s == pytest.approx(0.35, abs=0.15)
    assert "with a phase of 0.3" in describe(fit)


def test_a_phase_is_read_inside_every_keys_reopening():
    """The first 7.5 s of a 12 s tight loop (4 users, 3 keys; kept from a `make test` run that
    failed) against 10 per 10 s on the clock with a phase of 3.5 s: each key reopened once,
    two in gaps of about 2 ms, one where a refusal and an admission were sent in the same
    tenth of a millisecond. The average of the gaps' midpoints, 3.4992 s, put that refusal in
    the new window, so the truth missed one decision and a window of 6.3 s anchored at the
    first request (which met each key's reopening exactly) was reported. A phase inside every
    gap reproduces all of them."""
    from pathlib import Path

    events = pd.read_parquet(Path(__file__).parent / "data" /
                             "epoch-phase-one-reopening-each.parquet")
    fit = fit_quota(decide(events))
    assert (fit.algorithm, fit.alignment, fit.limit, fit.window_s) == \
        ("fixed_window", "epoch", 10, 10.0), describe(fit)
    assert fit.phase_s == pytest.approx(3.5, abs=0.002) and fit.agreement == 1.0


def test_the_phase_inside_every_gap_is_their_common_part():
    """Gaps (midpoint +- half-width) on a 10 s circle: the phase is the middle of the part
    they all cover, across the circle's wrap too; none when they share none."""
    from analysis.quota.phases import within_all

    assert within_all(np.array([3.4989, 3.4999, 3.4988]), np.array([0.0011, 0.0, 0.0012]),
                      10.0, 3.4992) == pytest.approx(3.4999, abs=1e-9)
    assert within_all(np.array([9.99, 0.02]), np.array([0.02, 0.02]), 10.0, 0.0) == \
        pytest.approx(0.005, abs=1e-9)
    assert within_all(np.array([3.0, 3.5]), np.array([0.1, 0.1]), 10.0, 3.2) is None


def test_epoch_windows_with_each_keys_own_phase():
    """3 per 1 s in windows whose phase differs per key (as a hash of the key gives): one
    phase for all cannot explain it, nor can windows anchored at each key's first request
    (all keys start together); phase_s maps each key to its own phase."""
    phase = {"k1": 0.2, "k2": 0.55, "k3": 0.8}
    df = synthetic(lambda k: FixedEpoch(3, 1.0, phase=phase[k]), [("loop", 3.2)],
                   keys=tuple(phase))
    fit = fit_quota(decide(df))
    assert (fit.algorithm, fit.alignment, fit.limit) == ("fixed_window", "epoch", 3)
    assert fit.window_s == pytest.approx(1.0, rel=0.03)
    assert isinstance(fit.phase_s, dict) and set(fit.phase_s) == set(phase)
    for key, truth in phase.items():
        assert fit.phase_s[key] == pytest.approx(truth, abs=0.15)
    assert "each key's own phase" in describe(fit)


@pytest.mark.parametrize("make, counted", [
    (lambda k: Bucket(2.0, 5, counts=True), "refusals counted"),
    (lambda k: Lockout(FixedAnchored(5, 2.0), 20.0, False), "lockout")],
    ids=["counting-bucket", "lockout-longer-than-the-run"])
def test_a_loop_locked_to_the_end_names_what_it_cannot_tell_apart(make, counted):
    """A tight loop that is refused from the first refusal to the end of the run: a window
    longer than the run, refusals that count, and a lockout all do that, so the fit names no
    model: it says so, lists them with the steps that separate them, and says `make probe`."""
    fit = fit_quota(decide(synthetic(make, [("loop", 4.0)])))
    assert fit.algorithm == "unknown" and fit.limit == 5
    assert fit.window_s is None and fit.lockout_s is None
    named = [m for e in fit.indistinguishable for m in e["models"]]
    assert any(counted in m for m in named), named
    assert any("lockout" in m for m in named) and any("refusals counted" in m for m in named)
    assert {e["experiment"] for e in fit.indistinguishable} <= {
        "idle_burst", "polite", "reopen_gap", "pace_under", "pace_over", "split",
        "clock_phase", "concurrency_ramp", "shaping_excess", "scope_uneven", "tight"}
    assert "make probe" in fit.note and "did not reopen" in fit.note


def test_a_settled_fit_lists_nothing_it_cannot_tell_apart_across_families():
    """A run that separates the models (the lockout run above) leaves only the quota's window
    under the lockout open, at most: the families, alignments and counting are settled."""
    df = synthetic(lambda k: Lockout(FixedAnchored(4, 1.0), 3.0, False),
                   [("send", 4), ("pause", 1.2), ("send", 4), ("loop", 5.7), ("pause", 0.8),
                    ("loop", 6.0)])
    fit = fit_quota(decide(df))
    for e in fit.indistinguishable:
        assert e["models"][0].startswith("fixed window 4 per 1 s then a 3 s lockout"), e
        assert "lockout" in e["models"][1], e


# --- the online limiters (the simulator's) against the replays (the fit's) -----------------

TICK = 1 / 64
WINDOWS = st.sampled_from([0.5, 1.0, 2.0])
MODIFIED = st.one_of(
    st.tuples(st.just("fixed_window"), st.fixed_dictionaries(
        {"limit": st.integers(1, 4), "window_s": WINDOWS,
         "alignment": st.just("epoch"), "phase_s": st.sampled_from([0.25, 0.375, 0.8125])})),
    st.tuples(st.just("sliding_counter"), st.fixed_dictionaries(
        {"limit": st.integers(1, 5), "window_s": WINDOWS, "alignment": st.just("first_request")},
        optional={"counts_rejected": st.just(True)})),
    st.tuples(st.sampled_from(["fixed_window", "sliding_log"]), st.fixed_dictionaries(
        {"limit": st.integers(1, 4), "window_s": WINDOWS,
         "lockout_s": st.sampled_from([0.5, 1.0, 3.0]), "lockout_extends": st.booleans()},
        optional={"alignment": st.sampled_from(["first_request", "epoch"])})),
    st.tuples(st.just("token_bucket"), st.fixed_dictionaries(
        {"rate_per_s": st.sampled_from([1, 2, 4]), "burst": st.integers(1, 4),
         "lockout_s": st.sampled_from([0.5, 1.0, 3.0]), "lockout_extends": st.booleans()})),
)
ARRIVALS = st.tuples(st.integers(0, 64_000),
                     st.lists(st.integers(0, 40), min_size=1, max_size=80))


@settings(max_examples=200, deadline=None)
@given(model=MODIFIED, arrivals=ARRIVALS)
# found by Hypothesis on 2026-12-02: three at one instant, whose replies came back at that
# instant too; the replay let the third's refusal move the bucket past the second admission
@example(model=("token_bucket", {"rate_per_s": 1, "burst": 2, "lockout_s": 0.5,
                                 "lockout_extends": False}), arrivals=(0, [0, 0, 0]))
def test_each_modifier_online_admits_what_its_replay_admits(model, arrivals):
    algorithm, params = model
    start, gaps = arrivals
    t = (start + np.cumsum(gaps)) * TICK
    limiter = families.online(algorithm, params)
    admitted, refusals = [], []
    for ti in t.tolist():
        ok, wait = limiter.admit(ti, ti)
        admitted.append(ok)
        if not ok:
            refusals.append((copy.deepcopy(limiter), ti, wait))
    admitted = np.array(admitted)
    s = Stream(t=t, t_late=t, slack=0.0, passed=admitted, rejected=~admitted,
               scored=np.ones(len(t), bool), ok=admitted.copy(), end=t.copy(),
               retry_after=np.full(len(t), np.nan))
    assert families.replay(algorithm, params, s, t, t).tolist() == admitted.tolist()
    for after, ti, wait in refusals:  # the wait it states is exact
        assert wait >= 0
        assert copy.deepcopy(after).admit(ti + wait + 1e-6, ti + wait + 1e-6)[0], wait
        if wait > 1e-3:
            assert not copy.deepcopy(after).admit(ti + wait - 1e-3, ti)[0], wait
    if refusals:  # and the audit's reopening after each 429 is that wait
        got = families.reopens(algorithm, params, s, np.flatnonzero(~admitted))
        stated = np.array([ti + wait for _, ti, wait in refusals])
        assert np.allclose(np.maximum(got, t[~admitted]), stated, atol=1e-9), (got, stated)


def test_the_summary_fields_give_back_the_modifiers():
    from analysis.quota import QuotaFit
    for algorithm, params in [
            ("fixed_window", {"limit": 3, "window_s": 1.0, "alignment": "epoch",
                              "phase_s": 0.25}),
            ("fixed_window", {"limit": 3, "window_s": 1.0, "alignment": "first_request",
                              "lockout_s": 3.0, "lockout_extends": True}),
            ("sliding_counter", {"limit": 5, "window_s": 4.0, "alignment": "first_request",
                                 "counts_rejected": True}),
            ("token_bucket", {"rate_per_s": 2.0, "burst": 5, "lockout_s": 4.0,
                              "lockout_extends": False})]:
        fit = QuotaFit(algorithm, "per_key")
        for k, v in families.fields(algorithm, params).items():
            setattr(fit, k, v)
        assert families.params_of(fit) == params


def test_the_simulator_meets_the_fitted_lockout_and_phase():
    """tune's server model carries the modifiers, so the backoff simulation meets the lockout
    and the phase the fit found (before, it met the bare window: a client retrying after the
    window was let in where the gateway keeps it out)."""
    from analysis.quota.lockout import Online as LockoutOnline
    from analysis.simulate import ServerModel, online_limiter

    locked = online_limiter(ServerModel("fixed_window", limit=2, window_s=1.0,
                                        alignment="first_request", lockout_s=3.0,
                                        lockout_extends=False))
    assert isinstance(locked, LockoutOnline)
    assert [locked.admit(t)[0] for t in (0.0, 0.1, 0.2, 1.5, 3.1, 3.3)] == \
        [True, True, False, False, False, True]
    shifted = online_limiter(ServerModel("fixed_window", limit=1, window_s=1.0,
                                         alignment="epoch", phase_s=0.5))
    assert [shifted.admit(t)[0] for t in (0.4, 0.45, 0.55, 0.6)] == [True, False, True, False]


def test_a_shaper_tied_with_a_plain_bucket_points_at_the_shaping_step():
    """A shaped bucket and a plain one of burst + queue make the same admissions; only the
    latency of admitted requests under excess tells them apart (not an idle burst)."""
    from analysis.quota import indistinguishable
    from analysis.quota.score import Candidate

    shaped = Candidate("shaping", {"rate_per_s": 2.0, "burst": 1, "queue_size": 2}, 1.0, 1.0, 1.0)
    plain = Candidate("token_bucket", {"rate_per_s": 2.0, "burst": 3}, 1.0, 1.0, 0.999)
    found = indistinguishable.find(shaped, [shaped, plain], 1e-4)
    assert [e["experiment"] for e in found] == ["shaping_excess"]
