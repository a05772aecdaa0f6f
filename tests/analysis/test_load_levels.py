"""analysis/load_levels.throughput against figures worked out by hand from the events built
here (issue 10, item 1): a level's rate is its count over its span, where n attempts sent at
a steady rate r span n / r; slices too small to say anything are left out and listed."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

from analysis.load_levels import sustained_rate, throughput  # noqa: E402
from analysis.figures.evidence import draw_throughput  # noqa: E402

CHAT = "/v1/chat/completions"


def events(times, outcomes, phases=None) -> pd.DataFrame:
    n = len(times)
    status = {"ok": 200, "rate_limited": 429, "unavailable": 503}
    return pd.DataFrame({
        "endpoint": pd.Categorical([CHAT] * n), "key_id": pd.Categorical(["k"] * n),
        "phase": pd.Categorical(phases if phases is not None else [""] * n),
        "intended_ts": np.asarray(times, float), "sent_ts": np.asarray(times, float),
        "latency_ms": np.full(n, 1.0), "outcome": pd.Categorical(outcomes),
        "status": [status[o] for o in outcomes], "retry_after_s": np.full(n, np.nan)})


def tight_loop_with_a_last_millisecond():
    """100 attempts/s for 10 s, 2 of each 100 accepted, then 4 more within 0.6 ms, the first
    accepted: the shape that printed "1000 ok/s"."""
    times = [1000 + 0.01 * i for i in range(1000)] + [1010 + 0.0002 * i for i in range(4)]
    outcomes = ["ok" if i % 50 == 0 else "rate_limited" for i in range(1000)]
    outcomes += ["ok", "rate_limited", "rate_limited", "rate_limited"]
    return events(times, outcomes)


QUOTA = {"algorithm": "fixed_window", "scope": "per_key", "limit": 10, "window_s": 10.0,
         "rate_per_s": 1.0, "burst": 10, "keys": 2}


def test_tight_loop_is_one_level_and_its_last_millisecond_is_left_out():
    tp = throughput(tight_loop_with_a_last_millisecond(), QUOTA)
    assert tp["by"] == "time" and tp["offered_levels"] == 1
    assert tp["saturation"] is None and tp["knee"] is None  # one offered level: no curve
    # Ten whole slices of 1 s (0.99 s first to last, plus the 0.01 s gap): 100 and 2 ok each.
    assert [r["level"] for r in tp["levels"]] == [f"{i}.0-{i + 1}.0 s" for i in range(10)]
    for r in tp["levels"]:
        assert r["attempts"] == 100 and r["ok"] == 2
        assert r["duration_s"] == pytest.approx(1.0)
        assert r["offered_per_s"] == pytest.approx(100.0)
        assert r["goodput_per_s"] == pytest.approx(2.0)
        assert r["error_fraction"] == pytest.approx(0.98)
    assert [(r["attempts"], round(r["duration_s"], 6)) for r in tp["left_out"]] == \
        [(4, round(0.0006 + 0.0002, 6))]
    assert "fewer than 10" in tp["left_out"][0]["why"]
    whole = tp["overall"]
    span = 10.0006 + 10.0006 / 1003
    assert whole["attempts"] == 1004 and whole["ok"] == 21
    assert whole["duration_s"] == pytest.approx(span)
    assert whole["goodput_per_s"] == pytest.approx(21 / span)
    # 1/s per key, 2 keys; the fixed window is 10 s and each slice lasts 1 s.
    assert tp["sustained_per_s"] == 2.0 and tp["quota_period_s"] == 10.0
    assert tp["levels_shorter_than_period"] is True
    words = tp["headline"]
    assert "One offered level" in words and "no curve" in words
    assert f"{21 / span:.3g} ok/s" in words and "sustains 2 ok/s (1/s per key × 2 keys)" in words
    assert "1000" not in words and "1,250" not in words


def sweep():
    """Steps of 5 s at 2, 5 and 10/s, then a 20/s step cut after 5 attempts."""
    times, outcomes, phases = [], [], []
    start = 1000.0
    for rate, ok in ((2, 10), (5, 15), (10, 15), (20, 1)):
        n = 5 * rate if rate != 20 else 5
        times += [start + k / rate for k in range(n)]
        outcomes += ["ok"] * ok + ["rate_limited"] * (n - ok)
        phases += [f"rate-{rate}"] * n
        start += 5
    return events(times, outcomes, phases)


def test_sweep_levels_saturation_and_steps_shorter_than_the_window():
    tp = throughput(sweep(), QUOTA | {"keys": 1})
    assert tp["by"] == "phase" and tp["offered_levels"] == 3
    got = {r["level"]: (r["attempts"], r["duration_s"], r["offered_per_s"], r["goodput_per_s"])
           for r in tp["levels"]}
    assert got["rate-2"] == pytest.approx((10, 5.0, 2.0, 2.0))
    assert got["rate-5"] == pytest.approx((25, 5.0, 5.0, 3.0))
    assert got["rate-10"] == pytest.approx((50, 5.0, 10.0, 3.0))
    assert [(r["level"], r["attempts"]) for r in tp["left_out"]] == [("rate-20", 5)]
    assert [v for r in tp["levels"] for v in (r["start_s"], r["end_s"])] == \
        pytest.approx([0.0, 5.0, 5.0, 10.0, 10.0, 15.0])
    # Best goodput 3.0; the first level within 5% of it is rate-5, and more was offered.
    assert tp["saturation"] == pytest.approx({"level": "rate-5", "offered_per_s": 5.0,
                                              "goodput_per_s": 3.0, "reached": True})
    assert tp["knee"]["level"] == "rate-5"  # 10 of 25 refused
    assert tp["sustained_per_s"] == 1.0 and tp["levels_shorter_than_period"] is True
    words = tp["headline"]
    assert words.startswith("Best level rate-5: 5 offered/s gave 3 ok/s.")
    assert "sustains 1 ok/s" in words and "levels last 5 s, shorter than the quota's 10 s " \
        "window" in words and "stops growing" not in words
    # The same levels against a quota whose window they outlast: a saturation point.
    words = throughput(sweep(), QUOTA | {"keys": 1, "window_s": 2.0})["headline"]
    assert words.startswith("Goodput stops growing at about 5 offered requests/s (3 ok/s, "
                            "level rate-5).")


def test_sustained_rate_by_scope_and_family():
    assert sustained_rate(QUOTA) == (2.0, 10.0)
    assert sustained_rate(QUOTA | {"scope": "global"}) == (1.0, 10.0)
    assert sustained_rate(QUOTA | {"scope": "unknown"}) == (None, None)  # 2 keys: 1 or 2/s?
    assert sustained_rate(QUOTA | {"scope": "unknown", "keys": 1}) == (1.0, 10.0)
    bucket = {"algorithm": "token_bucket", "scope": "per_key", "rate_per_s": 2.0, "burst": 10,
              "window_s": None, "keys": 3}
    assert sustained_rate(bucket) == (6.0, 5.0)  # 10 tokens refill in 5 s
    assert sustained_rate({"algorithm": "none_observed", "scope": "unknown"}) == (None, None)


def test_one_offered_level_is_drawn_over_time_not_as_a_curve():
    tp = throughput(tight_loop_with_a_last_millisecond(), QUOTA)
    fig, ax = plt.subplots()
    try:
        draw_throughput(ax, tp)
        assert ax.get_xlabel() == "seconds since the first request"
        labels = ax.get_legend_handles_labels()[1]
        assert "fitted sustained rate: 2 ok/s" in labels
    finally:
        plt.close(fig)
    fig, ax = plt.subplots()
    try:
        draw_throughput(ax, throughput(sweep(), QUOTA))
        assert ax.get_xlabel() == "offered load (attempts/s)"
    finally:
        plt.close(fig)


@settings(max_examples=60, deadline=None)
@given(gaps=st.lists(st.floats(1e-4, 0.8), min_size=1, max_size=400),
       oks=st.lists(st.booleans(), min_size=400, max_size=400))
def test_every_attempt_is_in_one_kept_or_left_out_level(gaps, oks):
    times = 1000 + np.cumsum([0.0] + gaps[:-1])
    outcomes = ["ok" if o else "rate_limited" for o in oks[: len(times)]]
    tp = throughput(events(times, outcomes))
    kept, out = tp["levels"], tp["left_out"]
    assert sum(r["attempts"] for r in kept) + sum(r["attempts"] for r in out) == len(times)
    for r in kept:
        assert r["attempts"] >= 10 and r["duration_s"] >= 0.5
        # rates are counts over the span, whatever the order of the arithmetic
        assert r["goodput_per_s"] * r["duration_s"] == pytest.approx(r["ok"])
        assert r["offered_per_s"] * r["duration_s"] == pytest.approx(r["attempts"])
    assert tp["overall"]["ok"] == sum(outcomes[i] == "ok" for i in range(len(times)))


def test_sections_read_a_categorical_outcome_as_they_read_text():
    """load_run gives outcome, phase, key_id and endpoint as categoricals (with categories
    no row has): every section reads them as it reads plain text."""
    from analysis.load_levels import latency, per_key, unavailable

    rows = 60
    text = pd.DataFrame({
        "endpoint": "/v1/chat/completions", "phase": "", "key_id": ["a", "b"] * (rows // 2),
        "outcome": (["ok", "rate_limited", "unavailable", "timeout"] * rows)[:rows],
        "sent_ts": 1000.0 + np.arange(rows) / 10, "latency_ms": np.arange(rows) + 1.0,
        "retry_after_s": np.nan})
    text["intended_ts"] = text["sent_ts"]
    cat = text.copy()
    for col in ("endpoint", "phase", "key_id", "outcome"):
        cat[col] = pd.Categorical(text[col], categories=sorted(
            set(text[col])) + ["never_seen"])
    for section in (latency, per_key, unavailable):
        assert section(cat) == section(text), section.__name__
    assert set(latency(cat)["by_outcome"]) == {"ok", "rate_limited", "unavailable", "timeout"}
