"""The tight-loop scenario under real Locust against the reference gateway."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ..runs import answered, env_without_target, locust_count, rows

ROOT = Path(__file__).resolve().parents[2]
KEYS = "pk-demo-alice-0001,pk-demo-bob-0002"


def locust_cmd(run_dir, seconds="4s", users=3):
    return [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / "tight_loop.py"),
            "--headless", "-u", str(users), "-r", str(users), "-t", seconds,
            "--run-dir", str(run_dir), "--csv", str(run_dir / "locust" / "stats"),
            "--json-file", str(run_dir / "locust" / "stats"), "--only-summary"]


def test_rows_match_locust_count_and_no_key_leaks(gateway_factory, tmp_path):
    gw = gateway_factory("default")
    run_dir = tmp_path / "run"
    env = dict(os.environ, PINAIVU_BASE_URL=gw.base_url, PINAIVU_API_KEYS=KEYS)
    proc = subprocess.run(locust_cmd(run_dir), env=env, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    every = rows(run_dir)
    assert len(every) == locust_count(run_dir) > 100
    limited = [r for r in every if r["status"] == 429]
    assert limited and all(r["retry_after_s"] > 0 for r in limited)
    assert {r["outcome"] for r in answered(every)} == {"ok", "rate_limited"}
    assert all(r["request_id"].startswith("req_") for r in every if r["outcome"] == "ok"
               and r["endpoint"] == "/v1/chat/completions")
    assert len({r["key_id"] for r in every}) == 2
    # -t 4s is four seconds of load: the recorder's start-up wait (its file, pyarrow's first
    # conversion) does not come off it (the loop's clock is refreshed before Locust starts its timer).
    sent = [r["sent_ts"] for r in every]
    assert max(sent) - min(sent) > 3.5
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["complete"] is True and manifest["scenario"] == "tight_loop"
    for key in KEYS.split(","):
        assert key not in proc.stdout + proc.stderr
        for path in run_dir.rglob("*"):
            if path.is_file():
                assert key.encode() not in path.read_bytes(), path


def test_no_key_is_a_clear_error_before_any_load(tmp_path):
    env = env_without_target()
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
        while len(rows(run_dir)) < 200:
            assert time.monotonic() < deadline, "no events flushed"
            time.sleep(0.5)
        time.sleep(1.5)
    finally:
        killed_at = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    every = rows(run_dir)
    assert len(every) >= 200
    newest = max(r["sent_ts"] for r in every)
    # Rows are flushed every second: the newest readable row is from about the last second
    # before the kill (the margin is for a busy machine, not a speed goal).
    assert killed_at - newest < 3
    assert json.loads((run_dir / "run.json").read_text())["complete"] is False


def test_server_dying_mid_run_is_recorded_and_run_ends_cleanly(gateway_factory, tmp_path):
    gw = gateway_factory("default", ["quota.limit=3"])  # 429s well before the server dies
    run_dir = tmp_path / "run"
    env = dict(os.environ, PINAIVU_BASE_URL=gw.base_url, PINAIVU_API_KEYS=KEYS)
    proc = subprocess.Popen(locust_cmd(run_dir, seconds="6s"), env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # Kill it once the gateway has refused some (past its limit of 3), however slowly Locust
    # started on a busy machine; the run has seconds left to meet the dead server.
    deadline = time.monotonic() + 30
    while httpx.get(gw.root_url + "/healthz").json()["chat_requests"] <= 10:
        assert time.monotonic() < deadline and proc.poll() is None, "no load reached the gateway"
        time.sleep(0.1)
    gw.process.kill()
    _, err = proc.communicate(timeout=60)
    # it ends cleanly, failed, saying why (issue 10: a dead gateway gave exit code 0)
    assert proc.returncode == 1, err[-2000:]
    assert "Traceback" not in err
    assert "pinaivu: run failed: " in err and "transport_error" in err
    outcomes = {r["outcome"] for r in rows(run_dir)}
    assert "transport_error" in outcomes and "rate_limited" in outcomes
    assert json.loads((run_dir / "run.json").read_text())["complete"] is True
