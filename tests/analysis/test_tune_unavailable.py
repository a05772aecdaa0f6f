"""`tune` on a run that reached no quota but met 503s (the busy profile): it simulates what
retries do to the 503s and says how much goodput they win, instead of "nothing to tune"
(issue 10, item 6; README: tuning is "against the run's fitted quota and its Retry-After
and 503 behaviour")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.simulate import Policy, ServerModel, ideal_goodput, simulate
from analysis.tune import tune
from .test_report import write_events

ROOT = Path(__file__).resolve().parents[2]
P503 = 0.19
CAPACITY = ServerModel("none_observed", p_unavailable=P503, unavailable_retry_after_s=1.0,
                       latency_ok_s=0.3, latency_unavailable_s=0.12)


def test_a_503_is_not_a_lost_request_for_the_ideal():
    """A perfect client retries every 503: with no quota it gets every request through."""
    assert ideal_goodput(10.0, float("inf"), P503) == 10.0
    # with a quota, the 503'd attempts have used their share of it (the gateway counts them)
    assert ideal_goodput(10.0, 4.0, 0.25) == pytest.approx(3.0)
    assert ideal_goodput(2.0, 4.0, 0.25) == 2.0


def test_simulated_503s_follow_their_rate():
    """Independent draws at 19%: a client that never retries succeeds 81% of the time; the
    SDK default's two retries leave 0.19 ** 3 of requests failed."""
    none = simulate(Policy("none"), CAPACITY, 10.0, logical=6000, seed=2)
    sdk = simulate(Policy("sdk_default"), CAPACITY, 10.0, logical=6000, seed=2)
    assert none.success_ratio == pytest.approx(1 - P503, abs=0.015)
    assert sdk.success_ratio == pytest.approx(1 - P503 ** 3, abs=0.004)
    assert none.goodput_per_s == pytest.approx((1 - P503) * none.ideal_goodput_per_s, rel=0.03)
    assert sdk.goodput_per_s == pytest.approx(sdk.ideal_goodput_per_s, rel=0.03)


def test_an_outage_replayed_second_by_second_defeats_short_retries():
    """Every attempt 503 for 10 s in every 40 s: a request that arrives in the outage gets
    through only if its retries outlast it. Not retrying loses the quarter that arrive in
    it; the SDK default (two retries a stated second apart) rescues only those arriving in
    its last two seconds or so; waiting out stated times twelve times rescues them all."""
    outage = ServerModel("none_observed", p_unavailable=0.25, unavailable_retry_after_s=1.0,
                         unavailable_by_second=[1.0] * 10 + [0.0] * 30, latency_ok_s=0.3,
                         latency_unavailable_s=0.12)
    runs = {name: simulate(policy, outage, 5.0, logical=4000, seed=4) for name, policy in
            (("none", Policy("none")), ("sdk", Policy("sdk_default")),
             ("patient", Policy("retry_after", 12, jitter_s=0.1)))}
    assert runs["none"].success_ratio == pytest.approx(0.75, abs=0.02)
    assert runs["sdk"].success_ratio == pytest.approx(0.75 + 2.24 / 40, abs=0.02)
    assert runs["patient"].success_ratio >= 0.995
    # scattered at the same mean rate, the SDK's two retries would have rescued nearly all
    scattered = simulate(Policy("sdk_default"), ServerModel(
        "none_observed", p_unavailable=0.25, unavailable_retry_after_s=1.0), 5.0,
        logical=4000, seed=4)
    assert scattered.success_ratio == pytest.approx(1 - 0.25 ** 3, abs=0.01)


def test_tune_against_503s_alone_recommends_retries_and_says_what_they_win():
    out = tune(CAPACITY, 10.0, logical=2000)
    assert out["capacity_only"] and out["recommended"]
    assert not any(p["params"]["pacer_fraction"] for p in out["policies"])  # no rate to pace
    best, none = out["recommended"], out["no_retry"]
    assert best["params"]["kind"] != "none" and best["success_ratio"] >= 0.99
    assert none["success_ratio"] == pytest.approx(1 - P503, abs=0.03)
    gain = best["goodput_per_s"] - none["goodput_per_s"]
    assert gain == pytest.approx(P503 * out["ideal_goodput_per_s"], rel=0.25)
    assert out["retry_gain"]["recommended"].startswith(f"wins {gain:.3g} ok/s")
    assert "19.0% of the attempts" in out["unavailable_note"]
    assert "inf" not in "".join(out["code"].values())


def _busy_run(path: Path) -> list[dict]:
    """Four closed-loop users for 30 s, no 429, 19 in 100 attempts a 503 with Retry-After 1."""
    rows, t = [], {u: 1000.0 for u in range(4)}
    for i in range(1600):
        user = i % 4
        unavailable = (i * 37) % 100 < 19
        latency = 120.0 if unavailable else 300.0
        rows.append(dict(run_id="r", worker="w", endpoint="/v1/chat/completions",
                         sent_ts=t[user], intended_ts=t[user], latency_ms=latency,
                         status=503 if unavailable else 200,
                         outcome="unavailable" if unavailable else "ok", key_id=f"k{user % 3}",
                         phase="", attempt=1, user=user, response_bytes=10,
                         retry_after_s=1.0 if unavailable else None,
                         request_id=None if unavailable else f"req_{i}"))
        t[user] += latency / 1000 + 0.001
    write_events(path / "events" / "w.arrows", rows)
    return rows


def test_make_tune_on_a_run_of_only_503s(tmp_path):
    rows = _busy_run(tmp_path / "run")
    proc = subprocess.run([sys.executable, "-m", "analysis", "tune", str(tmp_path / "run"),
                           "--logical", "2000", "--live-s", "0"], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "nothing to tune" not in proc.stderr
    assert "503s: the recommended policy wins" in proc.stdout
    assert "over not retrying" in proc.stdout and "second by second" in proc.stdout
    backoff = json.loads((tmp_path / "run" / "summary.json").read_text())["backoff"]
    assert backoff["capacity_only"] and backoff["recommended"]
    assert backoff["server"]["p_unavailable"] == pytest.approx(0.19, abs=0.01)
    assert backoff["server"]["unavailable_retry_after_s"] == 1.0
    # simulated at the load the run offered: its attempts per second
    sent = [r["sent_ts"] for r in rows]
    assert backoff["offered_per_s"] == pytest.approx(len(sent) / (max(sent) - min(sent)),
                                                     rel=0.01)
    html = (tmp_path / "run" / "index.html").read_text()
    assert 'id="backoff-503"' in html and "no quota was reached" in html
    assert "quota-limited ideal" not in html
