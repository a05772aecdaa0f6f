"""locustfiles/backoff.py: live logical requests obey their policy, the real OpenAI SDK's
attempts are all recorded, and a bad --policies stops the run before any load."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict

import httpx
import pytest

from contract.policies import SDK_MAX_RETRIES
from ..runs import ROOT, env_without_target, locust_count, rows, run_scenario

KEYS = "pk-demo-alice-0001,pk-demo-bob-0002"
# Tight enough that a burst of arrivals meets 429s, quick enough for a test.
QUOTA = ["quota.limit=3", "quota.window_s=2", "latency.ttft_ms=2", "latency.per_token_ms=0"]
PACED = {"kind": "retry_after", "max_retries": 4, "jitter_s": 0.2}
SDK = {"kind": "sdk_default", "max_retries": SDK_MAX_RETRIES}


@pytest.fixture(scope="module")
def live_run(module_gateway_factory, tmp_path_factory):
    gw = module_gateway_factory("default", QUOTA)
    run_dir = tmp_path_factory.mktemp("backoff") / "run"
    policies = [{"name": "paced", "policy": PACED},
                {"name": "sdk", "client": "openai", "policy": SDK}]
    run_scenario("backoff", run_dir, "--users", "2", "--duration", "60s",
                 locust_args=["--policies", json.dumps(policies), "--offered", "4",
                              "--logical", "24", "--seed", "3", "--deadline-s", "20"],
                 env=env_without_target(PINAIVU_BASE_URL=gw.base_url,
                                        PINAIVU_API_KEYS=KEYS))
    received = httpx.get(gw.root_url + "/healthz").json()["chat_requests"]
    return run_dir, received


def by_logical(run_dir, phase):
    out = defaultdict(list)
    for r in rows(run_dir):
        if r["phase"] == phase and r["endpoint"] == "/v1/chat/completions":
            out[r["logical_id"]].append(r)
    return {k: sorted(v, key=lambda r: r["attempt"]) for k, v in out.items()}


def test_every_attempt_is_recorded_once(live_run):
    run_dir, received = live_run
    every = [r for r in rows(run_dir) if r["endpoint"] == "/v1/chat/completions"]
    # the gateway's own count of chat requests, the SDK's retries included
    assert len(every) == received
    assert len(rows(run_dir)) == locust_count(run_dir)
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["logical_requests.paced"] == manifest["logical_requests.sdk"] == 24
    assert manifest["complete"] is True


def test_harness_policy_waits_what_the_429_said(live_run):
    logical = by_logical(live_run[0], "paced")
    assert len(logical) == 24
    retried = 0
    for attempts in logical.values():
        assert [a["attempt"] for a in attempts] == list(range(1, len(attempts) + 1))
        assert len(attempts) <= 1 + PACED["max_retries"]
        assert all(a["status"] == 429 for a in attempts[:-1])  # only 429s were retried
        for before, after in zip(attempts, attempts[1:]):
            retried += 1
            answered = before["sent_ts"] + before["latency_ms"] / 1000
            waited = after["sent_ts"] - answered
            # Retry-After as a floor, plus at most the policy's jitter (and scheduling slack)
            assert waited >= before["retry_after_s"] - 0.005
            assert waited <= before["retry_after_s"] + PACED["jitter_s"] + 0.25
            assert after["intended_ts"] >= answered + before["retry_after_s"] - 0.005
    assert retried > 5  # the schedule did meet the quota


def test_real_sdk_retries_by_its_own_rules(live_run):
    logical = by_logical(live_run[0], "sdk")
    assert len(logical) == 24
    counts = [len(a) for a in logical.values()]
    assert max(counts) <= 1 + SDK_MAX_RETRIES and max(counts) > 1
    for attempts in logical.values():
        assert [a["attempt"] for a in attempts] == list(range(1, len(attempts) + 1))
        # the arrival time is on the first attempt: latency counts from the schedule
        assert attempts[0]["intended_ts"] <= attempts[0]["sent_ts"] + 0.01
        for before, after in zip(attempts, attempts[1:]):
            assert before["status"] == 429
            waited = after["sent_ts"] - (before["sent_ts"] + before["latency_ms"] / 1000)
            # The SDK honours retry-after-ms (the default profile sends it) as it stands.
            assert waited >= before["retry_after_s"] - 0.01
            assert waited <= before["retry_after_s"] + 0.3
        last = attempts[-1]
        assert last["status"] in (200, 429)
        if last["status"] == 200:
            assert last["request_id"].startswith("req_")


@pytest.mark.parametrize("policies, message", [
    ("not json", "--policies is not JSON"),
    ("[]", "non-empty JSON list"),
    ('[{"name": "x"}]', "needs a 'policy' object"),
    ('[{"policy": {"kind": "shout"}}]', "unknown policy kind 'shout'"),
    ('[{"policy": {"kind": "none", "colour": 1}}]', "colour"),
    ('[{"client": "curl", "policy": {"kind": "none"}}]', "client 'curl'"),
])
def test_bad_policies_stop_before_any_load(module_gateway_factory, tmp_path, policies,
                                           message):
    gw = module_gateway_factory("default", QUOTA)
    before = httpx.get(gw.root_url + "/healthz").json()["chat_requests"]
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / "backoff.py"),
         "--headless", "-u", "1", "-r", "1", "-t", "10s", "--run-dir", str(tmp_path / "r"),
         "--policies", policies],
        env=env_without_target(PINAIVU_BASE_URL=gw.base_url, PINAIVU_API_KEYS=KEYS),
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert httpx.get(gw.root_url + "/healthz").json()["chat_requests"] == before
