"""The issue's live acceptance of `make tune`, shared by one test file per quota profile (so
that the two run side by side on separate test workers)."""

from __future__ import annotations

import json
import subprocess
import sys

from ..runs import ROOT, env_without_target, run_scenario


def tune_live(tmp_path, profile: str) -> dict:
    """A tight loop on the profile, then `python -m analysis tune` with its live check;
    returns summary.json's backoff section."""
    run_dir = tmp_path / "run"
    run_scenario("tight_loop", run_dir, "--profile", profile, "--users", "4",
                 "--duration", "12s")
    proc = subprocess.run([sys.executable, "-m", "analysis", "tune", str(run_dir),
                           "--logical", "2000", "--live-s", "40"],
                          env=env_without_target(), capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "live: recommended reaches" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    backoff = json.loads((run_dir / "summary.json").read_text())["backoff"]
    html = (run_dir / "index.html").read_text()
    assert 'id="backoff-live"' in html
    return backoff


def check_acceptance(backoff: dict) -> None:
    live = backoff["live"]
    rec, sdk = live["recommended"]["live"], live["sdk_default"]["live"]
    # the run really was live: every logical request of both clients was sent
    assert rec["logical"] == sdk["logical"] == live["logical_requests"] >= 90
    assert rec["attempts"] >= rec["logical"] * 0.9 and sdk["attempts"] >= sdk["logical"]
    assert rec["goodput_per_s"] >= 0.95 * rec["ideal_goodput_per_s"], rec
    assert rec["rejected_per_success"] <= 0.2, rec
    assert sdk["rejected_per_success"] > 0.2, sdk  # the SDK default does meet the quota
    assert rec["rejected_per_success"] <= 0.5 * sdk["rejected_per_success"], (rec, sdk)
    for name in ("recommended", "sdk_default"):
        side = live[name]
        sim, real = side["simulated"], side["live"]
        assert abs(sim["goodput_per_s"] - real["goodput_per_s"]) <= \
            0.1 * max(sim["goodput_per_s"], real["goodput_per_s"]), (name, sim, real)
        assert abs(sim["rejected_per_success"] - real["rejected_per_success"]) <= max(
            0.1 * max(sim["rejected_per_success"], real["rejected_per_success"]), 0.02), \
            (name, sim, real)
    assert all(live["checks"].values()), live["checks"]
