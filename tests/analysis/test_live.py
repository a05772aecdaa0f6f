"""The live check's arithmetic: a backoff run's rows read as the simulator's figures."""

import math

import pandas as pd
import pytest

from analysis.simulate import Policy, ServerModel, poisson_arrivals, simulate
from analysis.live import LiveError, agree, compare, live_figures, plan

CHAT = "/v1/chat/completions"


def attempt(logical, n, intended, sent, status, phase="p", latency_ms=100.0):
    return {"phase": phase, "endpoint": CHAT, "logical_id": logical, "attempt": n,
            "intended_ts": intended, "sent_ts": sent, "latency_ms": latency_ms,
            "status": status, "outcome": {200: "ok", 429: "rate_limited"}[status]}


def test_live_figures_count_from_the_schedule():
    rows = [attempt("a", 1, 0.0, 0.0, 200),
            attempt("b", 1, 1.0, 1.0, 429, latency_ms=2), attempt("b", 2, 2.0, 2.5, 200),
            attempt("c", 1, 2.0, 2.0, 429, latency_ms=2), attempt("c", 2, 3.0, 3.0, 429),
            attempt("d", 1, 10.0, 10.0, 200), attempt("x", 1, 0.0, 0.0, 200, phase="other")]
    f = live_figures(pd.DataFrame(rows), "p", offered_per_s=0.4, logical=5, deadline_s=30,
                     sustained_rate=2.0)
    assert (f["attempts"], f["rejected"], f["successes"]) == (6, 3, 3)
    assert f["rejected_per_success"] == 1.0 and f["attempts_per_success"] == 2.0
    assert f["success_ratio"] == 3 / 5  # the schedule's five, not the four that were sent
    # b finished 1.6 s after its arrival (sent 2.5 s, 0.1 s to answer): the latency counts
    # from the schedule, the retry's wait included
    assert math.isclose(f["p99_s"], 1.6)
    # steady window: 10%..90% of the arrival span 0..10 s: completions at 2.6 s only
    assert math.isclose(f["goodput_per_s"], 1 / 8)
    assert f["ideal_goodput_per_s"] == 0.4


def test_a_deadline_miss_is_not_a_success():
    rows = [attempt("a", 1, 0.0, 40.0, 200)]
    f = live_figures(pd.DataFrame(rows), "p", 1.0, 1, deadline_s=30, sustained_rate=1)
    assert f["successes"] == 0 and math.isinf(f["rejected_per_success"])


def test_agreement_is_relative_with_a_floor_near_zero():
    assert agree(2.0, 1.85) and not agree(2.0, 1.75)
    assert agree(0.0, 0.02, absolute=0.02) and not agree(0.0, 0.05, absolute=0.02)
    assert agree(math.inf, math.inf) and not agree(math.inf, 1.0)


def test_compare_replays_the_same_arrivals():
    server = ServerModel("token_bucket", rate_per_s=2.0, burst=4, retry_after="exact")
    live = {"goodput_per_s": 1.0, "rejected_per_success": 0.0}
    policy = Policy("full_jitter", 3, base_s=0.5, cap_s=4)  # jittered: the replays differ
    out = compare(live, policy, server, 3.0, 60, seed=5, deadline_s=30, replays=4)
    # By hand: four simulations of the live run's own arrivals (seed 5), their draws seeded
    # 5..8; the figure is their mean, the range their extremes.
    arrivals = poisson_arrivals(3.0, 60, 5)
    draws = [simulate(policy, server, 3.0, deadline_s=30, seed=5 + k, arrivals=arrivals)
             for k in range(4)]
    for key in ("rejected_per_success", "goodput_per_s"):
        values = [getattr(d, key) for d in draws]
        assert out["simulated"][key] == pytest.approx(sum(values) / 4)
        assert out["simulated_range"][key] == pytest.approx([min(values), max(values)])
    assert max(d.rejected for d in draws) > min(d.rejected for d in draws)  # draws differ
    assert out["simulated"]["logical"] == 60 and not out["rejected_agrees"]


def test_plan_refuses_an_unknown_target():
    try:
        plan({}, "per_key", {})
    except LiveError as exc:
        assert "PINAIVU_BASE_URL" in str(exc)
    else:
        raise AssertionError("no LiveError")
    where = plan({"reference_gateway": {"profile": "busy", "set": ["a.b=1"]}}, "global", {})
    assert where["profile"] == "busy" and where["together"] is False
    where = plan({}, "per_key", {"PINAIVU_BASE_URL": "http://127.0.0.1:9/v1",
                                 "PINAIVU_API_KEYS": "k1,k2"})
    assert where["keys"] == ["k1", "k2"] and where["together"] is True
