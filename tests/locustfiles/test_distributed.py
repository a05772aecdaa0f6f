"""Locust's distributed modes write every worker's rows, none lost or doubled."""

import json
import os
import subprocess
import sys
from pathlib import Path


from gateway.launch import free_port
from ..runs import locust_count, rows

ROOT = Path(__file__).resolve().parents[2]
KEYS = "pk-demo-alice-0001,pk-demo-bob-0002"


def base_cmd(run_dir, scenario="tight_loop"):
    return [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / f"{scenario}.py"),
            "--run-dir", str(run_dir)]


def check_complete(run_dir, expected_workers):
    assert len(list((run_dir / "events").glob("*.arrows"))) == expected_workers
    every = rows(run_dir)
    assert len(every) == locust_count(run_dir) > 100
    assert len({r["worker"] for r in every}) == expected_workers
    chat = [r for r in every if r["endpoint"] == "/v1/chat/completions"]
    assert len({r["logical_id"] for r in chat}) == len(chat)  # no row written twice
    assert json.loads((run_dir / "run.json").read_text())["complete"] is True


def test_processes_2(gateway_factory, tmp_path):
    gw = gateway_factory("default")
    run_dir = tmp_path / "run"
    env = dict(os.environ, PINAIVU_BASE_URL=gw.base_url, PINAIVU_API_KEYS=KEYS)
    proc = subprocess.run(base_cmd(run_dir) + [
        "--headless", "-u", "4", "-r", "4", "-t", "4s", "--processes", "2",
        "--json-file", str(run_dir / "locust" / "stats"), "--only-summary"],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    check_complete(run_dir, 2)


def test_master_and_two_workers_on_loopback(gateway_factory, tmp_path):
    gw = gateway_factory("default")
    run_dir = tmp_path / "run"
    port = free_port()
    env = dict(os.environ, PINAIVU_BASE_URL=gw.base_url, PINAIVU_API_KEYS=KEYS)
    # Workers on other machines write their events where --run-dir points on that machine;
    # here all three share one folder, as they would on a shared filesystem.
    workers = [subprocess.Popen(base_cmd(run_dir) + [
        "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(2)]
    try:
        master = subprocess.run(base_cmd(run_dir) + [
            "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
            "--expect-workers", "2", "--headless", "-u", "4", "-r", "4", "-t", "4s",
            "--json-file", str(run_dir / "locust" / "stats"), "--only-summary"],
            env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
        for w in workers:
            w.wait(timeout=30)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert master.returncode == 0, master.stderr[-2000:]
    check_complete(run_dir, 2)
