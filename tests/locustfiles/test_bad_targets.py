"""The recorder under a target that misbehaves: every attempt is a row with the right outcome,
and the run ends cleanly, failed (exit code 1, saying why: analysis.run_health's rule)."""

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.launch import free_port
from ..runs import locust_count, rows

ROOT = Path(__file__).resolve().parents[2]
BADSERVER = Path(__file__).with_name("badserver.py")


def run_locust(base_url, run_dir, *extra, seconds="3s"):
    env = dict(os.environ, PINAIVU_BASE_URL=base_url, PINAIVU_API_KEY="pk-test-key-123456")
    cmd = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / "tight_loop.py"),
           "--headless", "-u", "1", "-r", "1", "-t", seconds, "--run-dir", str(run_dir),
           "--json-file", str(run_dir / "locust" / "stats"), "--only-summary", *extra]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    every = rows(run_dir)
    # An attempt Locust cancels at shutdown is recorded too (a transport error saying so); it
    # is the harness stopping, not the target misbehaving.
    target = [r for r in every if not r["error"].startswith("cancelled:")
              and r["endpoint"] == "/v1/chat/completions"]
    return proc, target, len(every), locust_count(run_dir)


@pytest.fixture
def bad_server():
    procs = []

    def start(mode):
        port = free_port()
        p = subprocess.Popen([sys.executable, str(BADSERVER), str(port), mode],
                             stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        procs.append(p)
        return f"http://127.0.0.1:{port}/v1"

    yield start
    for p in procs:
        p.kill()
        p.wait()


@pytest.mark.parametrize("mode, extra, outcome, error_part", [
    ("not_json", [], "bad_response", ""),
    ("no_request_id", [], "bad_response", ""),
    ("reset_mid_body", [], "transport_error", "Error"),
    ("slow", ["--timeout", "0.5"], "timeout", "timed out"),
    ("sse_cut", ["--stream"], "transport_error", "before data: [DONE]"),
])
def test_misbehaving_target(bad_server, tmp_path, mode, extra, outcome, error_part):
    proc, rows, n_rows, counted = run_locust(bad_server(mode), tmp_path / "run", *extra)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "pinaivu: run failed: " in proc.stderr and outcome in proc.stderr
    assert "Traceback" not in proc.stderr
    assert n_rows == counted and rows
    assert {r["outcome"] for r in rows} == {outcome}, {r["error"] for r in rows}
    assert all(error_part in r["error"] for r in rows)
    assert not any(r["request_id"] for r in rows if r["outcome"] != "ok")


def test_malformed_rate_limit_headers_become_nan_with_raw_text(bad_server, tmp_path):
    proc, rows, n_rows, counted = run_locust(bad_server("bad_headers"), tmp_path / "run")
    assert proc.returncode == 0 and n_rows == counted  # 429s are data: the run did not fail
    assert {r["outcome"] for r in rows} == {"rate_limited"}
    assert all(math.isnan(r["retry_after_s"]) and r["retry_after_raw"] == "soon-ish"
               and math.isnan(r["ratelimit_limit"]) and math.isnan(r["ratelimit_reset_s"])
               for r in rows)


def test_connection_refused_is_recorded_and_fail_ratio_sets_exit_code(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    proc, rows, n_rows, counted = run_locust(dead, tmp_path / "run", seconds="2s")
    assert proc.returncode == 1 and n_rows == counted > 0
    assert "failed for reasons other than 429 and 503" in proc.stderr
    assert {r["outcome"] for r in rows} == {"transport_error"}
    assert all(r["status"] == 0 and "Refused" in r["error"] for r in rows)
    proc, *_ = run_locust(dead, tmp_path / "run2", "--fail-ratio", "1", seconds="2s")
    assert proc.returncode == 0  # every attempt failed, none more than the ratio allows
