"""The spike: its time-series figures shade the baseline, spike and recovery phases, and
the default spike's baseline stays under the default profile's quota (issue 10, item 6)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analysis.figures.run import draw_accepts, draw_status_timeline  # noqa: E402
from analysis.quota import QuotaFit  # noqa: E402
from ..runs import rows, run_scenario  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PLAN = [("baseline", 0.0, 10.0), ("spike", 10.0, 20.0), ("recovery", 20.0, 40.0)]


def _spike_events() -> pd.DataFrame:
    t = np.arange(0, 40, 0.25)
    phase = np.select([t < 10, t < 20], ["baseline", "spike"], "recovery")
    outcome = np.where((t >= 12) & (t < 22), "rate_limited", "ok")
    return pd.DataFrame({"sent_ts": 5000.0 + t, "phase": pd.Categorical(phase),
                         "outcome": pd.Categorical(outcome), "key_id": "k",
                         "latency_ms": 5.0})


def _spans(ax) -> dict[str, tuple[float, float]]:
    out = {}
    for patch in ax.patches:
        label = patch.get_label()
        if label.endswith(" phase"):
            x0, x1 = sorted(patch.get_path().transformed(patch.get_patch_transform())
                            .get_extents().intervalx)
            out[label.removesuffix(" phase")] = (x0, x1)
    return out


@pytest.mark.parametrize("draw", [
    draw_status_timeline,
    lambda ax, chat: draw_accepts(ax, chat, QuotaFit("none_observed", "unknown"), []),
], ids=["status", "accepts"])
def test_spike_figures_shade_each_phase(draw):
    fig, ax = plt.subplots()
    try:
        draw(ax, _spike_events())
        spans = _spans(ax)
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
    finally:
        plt.close(fig)
    assert list(spans) == [name for name, _, _ in PLAN]
    for name, start, end in PLAN:
        # each band from the phase's first send to the next one's (the last: its last send)
        assert spans[name][0] == pytest.approx(start)
        assert spans[name][1] == pytest.approx(end if name != "recovery" else 39.75)
        assert f"{name} phase" in legend


def test_runs_without_spike_phases_are_not_shaded():
    chat = _spike_events().assign(phase=pd.Categorical([""] * 160))
    fig, ax = plt.subplots()
    try:
        draw_status_timeline(ax, chat)
        assert _spans(ax) == {}
    finally:
        plt.close(fig)


def _make_default(name: str) -> str:
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.replace(" ", "").startswith(f"{name}?="):
            return line.split("?=", 1)[1].strip()
    raise AssertionError(f"no {name} ?= in the Makefile")


@pytest.mark.parametrize("scenario, option", [("spike", "--baseline-users"),
                                              ("spike_open", "--baseline-rate")])
def test_default_baseline_is_under_the_default_quota(tmp_path, scenario, option):
    """`make spike` (and OPEN=1) with its defaults against the default profile: the baseline
    phase offers each key less than the quota's rate and meets no 429. The spike and the
    recovery are cut to a second each; the baseline keeps its default length."""
    quota = tomllib.loads((ROOT / "gateway/profiles/default.toml").read_text())["quota"]
    per_key_rate = quota["limit"] / quota["window_s"]
    run_scenario(scenario, tmp_path / "run", "--users", "1", "--duration", "14s",
                 locust_args=[option, _make_default("BASELINE"),
                              option.replace("baseline", "spike"), _make_default("SPIKE"),
                              "--spike-s", "1", "--recovery-s", "1"])
    base = [r for r in rows(tmp_path / "run")
            if r["phase"] == "baseline" and r["endpoint"] == "/v1/chat/completions"]
    assert len(base) >= 5  # the baseline ran
    baseline_s = 10.0  # spike_plan's default --baseline-s
    per_key: dict[str, int] = {}
    for r in base:
        per_key[r["key_id"]] = per_key.get(r["key_id"], 0) + 1
    assert max(per_key.values()) / baseline_s < per_key_rate, per_key
    assert not [r for r in base if r["status"] == 429]
