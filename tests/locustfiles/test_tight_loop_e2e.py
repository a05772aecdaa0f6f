"""The tight-loop scenario under real Locust against the reference gateway."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa

from analysis.events_file import read_events

ROOT = Path(__file__).resolve().parents[2]
KEYS = "pk-demo-alice-0001,pk-demo-bob-0002"


def locust_cmd(run_dir, seconds="4s", users=3):
    return [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / "tight_loop.py"),
            "--headless", "-u", str(users), "-r", str(users), "-t", seconds,
            "--run-dir", str(run_dir), "--csv", str(run_dir / "locust" / "stats"),
            "--json-file", str(run_dir / "locust" / "stats"), "--only-summary"]


def events(run_dir):
    tables = [read_events(f)[0] for f in sorted((run_dir / "events").glob("*.arrows"))]
    return pa.concat_tables(tables).to_pylist() if tables else []


def test_rows_match_locust_count_and_no_key_leaks(gateway_factory, tmp_path):
    gw = gateway_factory("default")
    run_dir = tmp_path / "run"
    env = dict(os.environ, PINAIVU_BASE_URL=gw.base_url, PINAIVU_API_KEYS=KEYS)
    proc = subprocess.run(locust_cmd(run_dir), env=env, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = events(run_dir)
    # Locust's final count: its CSV is rewritten once a second and not at shutdown, so it lags;
    # the JSON file is written from the final statistics.
    counted = sum(e["num_requests"] for e in json.loads(
        (run_dir / "locust" / "stats.json").read_text()))
    assert len(rows) == counted > 100
    limited = [r for r in rows if r["status"] == 429]
    assert limited and all(r["retry_after_s"] > 0 for r in limited)
    assert {r["outcome"] for r in rows} == {"ok", "rate_limited"}
    assert all(r["request_id"].startswith("req_") for r in rows if r["outcome"] == "ok"
               and r["endpoint"] == "/v1/chat/completions")
    assert len({r["key_id"] for r in rows}) == 2
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["complete"] is True and manifest["scenario"] == "tight_loop"
    for key in KEYS.split(","):
        assert key not in proc.stdout + proc.stderr
        for path in run_dir.rglob("*"):
            if path.is_file():
                assert key.encode() not in path.read_bytes(), path


def test_no_key_is_a_clear_error_before_any_load(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINAIVU_")}
    proc = subprocess.run(locust_cmd(tmp_path / "run"), env=env, capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert "no API key: set PINAIVU_API_KEY" in proc.stderr


def test_remote_target_is_refused_without_opt_in(tmp_path):
    env = dict(os.environ, PINAIVU_BASE_URL="https://api.openai.com/v1",
               PINAIVU_API_KEY="pk-whatever-123")
    proc = subprocess.run(locust_cmd(tmp_path / "run"), env=env, capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2 and "not a loopback address" in proc.stderr


def test_sigkill_leaves_readable_events_and_incomplete_manifest(gateway_factory, tmp_path):
    gw = gateway_factory("default")
    run_dir = tmp_path / "run"
    env = dict(os.environ, PINAIVU_BASE_URL=gw.base_url, PINAIVU_API_KEYS=KEYS)
    proc = subprocess.Popen(locust_cmd(run_dir, seconds="60s"), env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not events(run_dir) or len(events(run_dir)) < 200:
            assert time.monotonic() < deadline, "no events flushed"
            time.sleep(0.5)
        time.sleep(1.5)
    finally:
        killed_at = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    rows = events(run_dir)
    assert len(rows) >= 200
    newest = max(r["sent_ts"] for r in rows)
    # Rows are flushed every second: the newest readable row is from about the last second
    # before the kill (the margin is for a busy machine, not a speed goal).
    assert killed_at - newest < 3
    assert json.loads((run_dir / "run.json").read_text())["complete"] is False


def test_server_dying_mid_run_is_recorded_and_run_ends_cleanly(gateway_factory, tmp_path):
    gw = gateway_factory("default", ["quota.limit=3"])  # 429s well before the server dies
    run_dir = tmp_path / "run"
    env = dict(os.environ, PINAIVU_BASE_URL=gw.base_url, PINAIVU_API_KEYS=KEYS)
    proc = subprocess.Popen(locust_cmd(run_dir, seconds="5s"), env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    gw.process.kill()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    outcomes = {r["outcome"] for r in events(run_dir)}
    assert "transport_error" in outcomes and "rate_limited" in outcomes
    assert json.loads((run_dir / "run.json").read_text())["complete"] is True
