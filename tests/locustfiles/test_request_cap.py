"""--max-requests is a hard cap in every kind of scenario: the closed loop, open-loop arrivals
(each request in its own greenlet) and the backoff scenario, whose retries come from our
policy or from inside the real OpenAI SDK. A slot is taken before each send, so exactly the cap
is sent (the models look-up is one of them), every request is recorded, what was in flight
finishes, and the run ends by itself without an error printed: its run time is 10 minutes,
so a run that went on after the cap would meet the subprocess's timeout instead."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from contract.policies import SDK_MAX_RETRIES
from ..runs import ROOT, env_without_target, rows

KEYS = "pk-demo-alice-0001,pk-demo-bob-0002"
CAP = 40


def run_capped(gw, run_dir, scenario, users, locust_args=()):
    cmd = [sys.executable, "-m", "locustfiles.run", scenario, "--users", str(users),
           "--duration", "600s", "--run-dir", str(run_dir), "--",
           "--max-requests", str(CAP), *locust_args]
    env = env_without_target(PINAIVU_BASE_URL=gw.base_url, PINAIVU_API_KEYS=KEYS)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=150, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{CAP} requests sent (--max-requests): stopping the run" in proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    every = rows(run_dir)
    assert len(every) == CAP
    chat = [r for r in every if r["endpoint"] == "/v1/chat/completions"]
    assert len(chat) == httpx.get(gw.root_url + "/healthz").json()["chat_requests"]
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["complete"] is True and manifest["max_requests_per_process"] == CAP
    return chat


def test_a_closed_loop_stops_at_the_cap(gateway_factory, tmp_path):
    run_capped(gateway_factory("default"), tmp_path / "run", "tight_loop", 3)


def test_open_loop_arrivals_stop_at_the_cap(gateway_factory, tmp_path):
    # 100 arrivals/s for 60 s would be 6,000 requests; the cap lets 40 through
    run_capped(gateway_factory("default"), tmp_path / "run", "sweep", 2,
               ["--rates", "100", "--step-s", "60"])


def test_backoff_retries_and_the_sdk_stop_at_the_cap(gateway_factory, tmp_path):
    # a tight quota, so that both clients retry: our policy's retries and the SDK's own
    # (inside one create() call) each take a slot before they are sent. The retries start
    # about 2 s in (Retry-After); at 2 logical requests/s the cap is reached some 5 s in.
    gw = gateway_factory("default", ["quota.limit=3", "quota.window_s=2",
                                     "latency.ttft_ms=2", "latency.per_token_ms=0"])
    policies = [{"name": "paced", "policy": {"kind": "retry_after", "max_retries": 4,
                                             "jitter_s": 0.2}},
                {"name": "sdk", "client": "openai",
                 "policy": {"kind": "sdk_default", "max_retries": SDK_MAX_RETRIES}}]
    chat = run_capped(gw, tmp_path / "run", "backoff", 2,
                      ["--policies", json.dumps(policies), "--offered", "2",
                       "--logical", "400", "--seed", "1", "--deadline-s", "20"])
    assert {r["phase"] for r in chat} == {"paced", "sdk"}
    assert any(r["attempt"] > 1 for r in chat if r["phase"] == "sdk")
    assert any(r["attempt"] > 1 for r in chat if r["phase"] == "paced")
