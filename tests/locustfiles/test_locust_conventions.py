"""The scenarios follow Locust's conventions: `locust -f <scenario> --help` lists their options,
and Locust's host (--host, the web UI's Host field) is where the load goes, within the
loopback rule."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway.launch import free_port
from ..runs import ROOT, answered, env_without_target, rows

LOCUSTFILES = ROOT / "locustfiles"
KEY = "pk-demo-alice-0001"


@pytest.mark.parametrize("command", [
    [sys.executable, "-m", "locust"],
    [str(Path(sys.executable).with_name("locust"))],  # the console script a user types
])
@pytest.mark.parametrize("scenario, options", [
    ("probe", ["--run-dir", "--allow-remote-target", "--max-requests", "--stream",
               "--fail-ratio", "--idle-s", "--burst-max", "--burst-wave", "--budget-s",
               "--request-cap"]),
    ("sweep", ["--run-dir", "--rates", "--step-s", "--arrivals", "--max-in-flight"]),
])
def test_help_lists_the_harness_and_scenario_options(command, scenario, options):
    proc = subprocess.run([*command, "-f", str(LOCUSTFILES / f"{scenario}.py"), "--help"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env=env_without_target())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--headless" in proc.stdout  # Locust's own help
    missing = [o for o in options if f"  {o}" not in proc.stdout]
    assert not missing, f"not in --help: {missing} (is the hook installed? make install)"


def test_the_help_hook_imports_only_our_locustfiles_and_only_for_help():
    from locustfiles.locust_help import help_locustfiles

    probe = str(LOCUSTFILES / "probe.py")
    py = [sys.executable, "-m", "locust"]
    assert help_locustfiles([*py, "-f", probe, "--help"], []) == ["locustfiles.probe"]
    assert help_locustfiles(["python"], ["/venv/bin/locust", f"--locustfile={probe}", "-h"]) \
        == ["locustfiles.probe"]
    assert help_locustfiles([*py, "-f", f"{probe},{LOCUSTFILES / 'sweep.py'}", "-h"], []) \
        == ["locustfiles.probe", "locustfiles.sweep"]
    assert help_locustfiles([*py, "-f", probe, "--headless"], []) == []  # a run, not help
    assert help_locustfiles([*py, "-f", "/elsewhere/probe.py", "--help"], []) == []
    assert help_locustfiles(["python", "-m", "pytest", "--help"], ["pytest"]) == []


def locust(run_dir, *args):
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILES / "tight_loop.py"),
            "--run-dir", str(run_dir), *args]


def dead_target() -> dict:
    """PINAIVU_BASE_URL pointing where nothing listens: traffic that goes there is lost."""
    return env_without_target(PINAIVU_BASE_URL=f"http://127.0.0.1:{free_port()}/v1",
                              PINAIVU_API_KEY=KEY)


def chat_requests(gw) -> int:
    return httpx.get(gw.root_url + "/healthz").json()["chat_requests"]


@pytest.mark.parametrize("host_suffix", ["", "/v1"])
def test_the_host_option_is_the_target(gateway_factory, tmp_path, host_suffix):
    gw = gateway_factory("default", ["latency.ttft_ms=5", "latency.per_token_ms=0"])
    env = dead_target()
    run_dir = tmp_path / "run"
    proc = subprocess.run(locust(run_dir, "--headless", "-u", "1", "-t", "2s",
                                 "-H", gw.root_url + host_suffix),
                          env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    chat = [r for r in rows(run_dir) if r["endpoint"] == "/v1/chat/completions"]
    done = answered(chat)
    assert done and {r["outcome"] for r in done} <= {"ok", "rate_limited"}
    # an attempt cancelled at shutdown may or may not have reached the gateway
    assert len(done) <= chat_requests(gw) <= len(chat)
    assert json.loads((run_dir / "run.json").read_text())["target"] == gw.base_url


def test_a_remote_host_still_needs_allow_remote_target(tmp_path):
    env = dead_target()
    proc = subprocess.run(locust(tmp_path / "run", "--headless", "-u", "1", "-t", "2s",
                                 "-H", "http://example.com"),
                          env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2
    assert "example.com is not a loopback address" in proc.stderr
    assert not (tmp_path / "run").exists()


def _wait_for(check, what, limit_s=90.0):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}")


def test_the_web_uis_host_field_is_the_target(gateway_factory, tmp_path):
    gw = gateway_factory("default", ["latency.ttft_ms=5", "latency.per_token_ms=0"])
    env = dead_target()
    port = free_port()
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(locust(run_dir, "--web-host", "127.0.0.1", "--web-port", str(port)),
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)
    ui = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: httpx.get(ui + "/").status_code == 200, "the web UI")
        # a remote host typed into the field: refused, nothing sent anywhere
        r = httpx.post(ui + "/swarm", data={"user_count": 1, "spawn_rate": 1,
                                            "host": "http://example.com"})
        assert r.status_code == 200
        _wait_for(lambda: httpx.get(ui + "/stats/requests").json()["state"] == "stopped",
                  "the refused swarm to stop")
        assert httpx.get(ui + "/stats/requests").json()["total_fail_per_sec"] == 0
        assert sum(s["num_requests"] for s in
                   httpx.get(ui + "/stats/requests").json()["stats"]) == 0
        # the gateway typed into the field: the load goes there
        r = httpx.post(ui + "/swarm", data={"user_count": 1, "spawn_rate": 1,
                                            "host": gw.root_url})
        assert r.status_code == 200 and r.json()["success"], r.text
        _wait_for(lambda: chat_requests(gw) >= 5, "requests at the gateway")
        httpx.get(ui + "/stop")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    assert "example.com is not a loopback address" in err
    chat = [r for r in rows(run_dir) if r["endpoint"] == "/v1/chat/completions"]
    assert len(chat) == chat_requests(gw)  # every request went to the gateway
    assert json.loads((run_dir / "run.json").read_text())["target"] == gw.base_url
