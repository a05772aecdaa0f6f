"""Shared by the Locust benchmarks: a fast loopback target and a Locust run against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.nginx import Nginx  # noqa: E402

KEY = "pk-bench-key-0001"
BODY_429 = json.dumps({"error": {"message": "Rate limit reached", "type": "rate_limit_error",
                                 "code": "rate_limit_exceeded"}})


def nginx_429() -> Nginx:
    """nginx answering every request with a 429 carrying Retry-After and OpenAI's rate-limit
    headers: the recorder parses all of them, and nginx is never the bottleneck."""
    return Nginx("server { listen 127.0.0.1:{port}; location / { "
                 "default_type application/json; "
                 "add_header Retry-After 7 always; add_header retry-after-ms 6500 always; "
                 "add_header x-ratelimit-limit-requests 20 always; "
                 "add_header x-ratelimit-remaining-requests 0 always; "
                 "add_header x-ratelimit-reset-requests 6.5s always; "
                 f"return 429 '{BODY_429}'; }} }}")


# A second locustfile for the benchmarks (listeners only, no users): the process's CPU time
# from the load's start to its stop, every thread included, so that a run's cost per request
# can be told apart from what the rest of a shared machine takes from it.
CPU_SPY = """
import json, os, time
from locust import events

_start = []


@events.test_start.add_listener
def _cpu_at_start(**_):
    _start.append(time.process_time())


@events.test_stop.add_listener
def _cpu_at_stop(environment, **_):
    with open(os.environ["PINAIVU_BENCH_CPU_FILE"], "w") as f:
        json.dump({"cpu_s": time.process_time() - _start[0],
                   "requests": environment.stats.total.num_requests}, f)
"""


def run_locust(scenario: str, base_url: str, run_dir: Path, args: list[str], *,
               cpu: bool = False) -> dict:
    """Run a scenario headless; return Locust's final statistics (its JSON file) and, with
    `cpu`, the CPU seconds the load took (`cpu_s`, over `cpu_requests` requests)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PINAIVU_BASE_URL=base_url, PINAIVU_API_KEY=KEY)
    files = str(ROOT / "locustfiles" / f"{scenario}.py")
    if cpu:
        spy = run_dir / "cpu_spy.py"
        spy.write_text(CPU_SPY)
        files += f",{spy}"
        env["PINAIVU_BENCH_CPU_FILE"] = str(run_dir / "cpu.json")
    cmd = [sys.executable, "-m", "locust", "-f", files,
           "--headless", "--run-dir", str(run_dir), "--model", "bench-model",
           "--json-file", str(run_dir / "stats"), "--only-summary", "--loglevel", "ERROR",
           *args]
    subprocess.run(cmd, env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    stats = json.loads((run_dir / "stats.json").read_text())
    out = {"requests": sum(e["num_requests"] for e in stats),
           "seconds": max(e["last_request_timestamp"] for e in stats)
           - min(e["start_time"] for e in stats)}
    if cpu:
        spent = json.loads((run_dir / "cpu.json").read_text())
        out.update(cpu_s=spent["cpu_s"], cpu_requests=spent["requests"])
    return out
