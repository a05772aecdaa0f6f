"""`python -m analysis tune`: a recommendation from a real run, working client code, and
clear messages when there is nothing to tune."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from analysis.simulate import Policy, ServerModel
from analysis.tune import client_code
from ..runs import run_scenario

ROOT = Path(__file__).resolve().parents[2]


def run_cmd(*args, env=None):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def bucket_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("tune") / "run"
    run_scenario("tight_loop", run_dir, "--profile", "token-bucket", "--users", "1",
                 "--duration", "7s", "--gateway-set", "latency.ttft_ms=5",
                 "--gateway-set", "latency.per_token_ms=0")
    return run_dir


def test_tune_recommends_within_limits_and_writes_backoff(bucket_run, tmp_path):
    run_dir = tmp_path / "copy"
    shutil.copytree(bucket_run, run_dir)
    proc = run_cmd("-m", "analysis", "tune", run_dir, "--logical", "2000", "--live-s", "0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "recommended, simulated:" in proc.stdout
    assert "OpenAI SDK default, simulated:" in proc.stdout
    backoff = json.loads((run_dir / "summary.json").read_text())["backoff"]
    best, sdk = backoff["recommended"], backoff["sdk_default"]
    assert best["rejected_per_success"] <= 0.2
    assert best["goodput_per_s"] >= 0.9 * backoff["ideal_goodput_per_s"]
    assert best["rejected_per_success"] <= sdk["rejected_per_success"] / 2
    assert backoff["server"]["algorithm"] == "token_bucket"
    assert len(backoff["policies"]) >= 200
    assert set(backoff["code"]) == {"openai", "tenacity", "httpx"}
    html = (run_dir / "index.html").read_text()
    assert 'id="backoff"' in html and "OpenAI Python SDK" in html


@pytest.mark.parametrize("policy", [Policy("retry_after", 3, jitter_s=0.2, pacer_fraction=0.9),
                                    Policy("decorrelated", 4, 0.5, 8),
                                    Policy("equal_jitter", 3, 0.5, 8),
                                    Policy("full_jitter", 5, 1, 16)], ids=lambda p: p.kind)
def test_generated_code_compiles_and_the_httpx_version_works(gateway_factory, policy):
    server = ServerModel("token_bucket", rate_per_s=5.0, burst=2)
    code = client_code(policy.__dict__, server)
    for name, text in code.items():
        compile(text, f"<{name}>", "exec")
    gw = gateway_factory("default", ["quota.algorithm='token_bucket'", "quota.rate_per_s=5.0",
                                     "quota.burst=2", "latency.ttft_ms=1",
                                     "latency.per_token_ms=0"])
    namespace: dict = {}
    os.environ["PINAIVU_BASE_URL"], os.environ["PINAIVU_API_KEY"] = gw.base_url, \
        "pk-demo-alice-0001"
    try:
        exec(code["httpx"], namespace)
        body = {"model": "llama3.2:1b", "messages": [{"role": "user", "content": "hi"}]}
        with httpx.Client(timeout=10) as client:
            # Four back to back on a burst of 2: the policy must wait its way through.
            replies = [namespace["create"](client, body) for _ in range(4)]
    finally:
        del os.environ["PINAIVU_BASE_URL"], os.environ["PINAIVU_API_KEY"]
    assert all(r["request_id"].startswith("req_") for r in replies)


def test_nothing_to_tune_is_explained(tmp_path):
    from tests.analysis.test_report import write_events

    rows = [dict(run_id="r", worker="w", endpoint="/v1/chat/completions", sent_ts=1000.0 + i,
                 intended_ts=1000.0 + i, latency_ms=5.0, status=200, outcome="ok", key_id="k",
                 phase="", attempt=1, user=0, response_bytes=10, request_id=f"req_{i}")
            for i in range(30)]
    write_events(tmp_path / "run" / "events" / "w.arrows", rows)
    proc = run_cmd("-m", "analysis", "tune", tmp_path / "run")
    assert proc.returncode == 2
    assert "nothing to tune: no 429 and no 503 in this run" in proc.stderr
    proc = run_cmd("-m", "analysis", "tune", tmp_path / "missing")
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_no_fitted_quota_is_explained(tmp_path):
    """Five admissions, then 429s without Retry-After for 20 s: the quota never reopened,
    so there is no window to tune against, and tune says so instead of guessing."""
    from tests.analysis.test_report import write_events

    rows = [dict(run_id="r", worker="w", endpoint="/v1/chat/completions",
                 sent_ts=1000.0 + i * 0.1, intended_ts=1000.0 + i * 0.1, latency_ms=5.0,
                 status=200 if i < 5 else 429, outcome="ok" if i < 5 else "rate_limited",
                 key_id="k", phase="", attempt=1, user=0, response_bytes=10,
                 request_id=f"req_{i}" if i < 5 else "")
            for i in range(200)]
    write_events(tmp_path / "run" / "events" / "w.arrows", rows)
    proc = run_cmd("-m", "analysis", "tune", tmp_path / "run")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "nothing to tune: the quota was not identified" in proc.stderr
    assert "did not reopen" in proc.stderr and "Traceback" not in proc.stderr


def test_live_check_needs_a_known_loopback_target(bucket_run, tmp_path):
    """A run that does not say which reference gateway it met, with no PINAIVU_BASE_URL:
    the simulation still answers and the live check says why it did not run."""
    run_dir = tmp_path / "copy"
    shutil.copytree(bucket_run, run_dir)
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["reference_gateway"]["profile"] == "token-bucket"
    del manifest["reference_gateway"]
    (run_dir / "run.json").write_text(json.dumps(manifest))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINAIVU_")}
    proc = run_cmd("-m", "analysis", "tune", run_dir, "--logical", "300", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "live check skipped: run.json does not name the reference gateway" in proc.stderr
    backoff = json.loads((run_dir / "summary.json").read_text())["backoff"]
    assert "PINAIVU_BASE_URL" in backoff["live"]["skipped"]
    assert "Not checked live" in (run_dir / "index.html").read_text()
