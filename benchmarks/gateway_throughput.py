"""Requests/s one gateway process serves on its 200 and 429 paths, beside nginx serving a
static response, all on loopback and measured in the same run with the same load generator.

The load generator is wrk (C, one thread), so it costs one core and the server gets the other.
Rounds interleave the three targets so that a noisy neighbour hits them alike; the median of
the rounds is reported. Goal: at least 2,500 requests/s on the 429 path.

    python benchmarks/gateway_throughput.py [--seconds 4] [--rounds 3] [--connections 32]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gateway.launch import start_gateway  # noqa: E402
from gateway.nginx import Nginx  # noqa: E402

KEY = "pk-demo-alice-0001"
BODY = json.dumps({"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}]})
GOAL_429 = 2500


def wrk(url: str, seconds: float, connections: int, script: Path) -> tuple[float, int, int]:
    """(requests/s, requests, non-2xx) from one wrk run."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script),
                          url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, total, int(non2xx.group(1)) if non2xx else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: run scripts/install-system-deps.sh as root", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="pinaivu-bench-"))
    script = tmp / "post.lua"
    script.write_text(f'wrk.method = "POST"\nwrk.body = {json.dumps(BODY)}\n'
                      'wrk.headers["Content-Type"] = "application/json"\n'
                      f'wrk.headers["Authorization"] = "Bearer {KEY}"\n')
    # The static reply is the size of a gateway 429 body, so both move the same bytes.
    static = json.dumps({"error": {"message": "x" * 110, "type": "rate_limit_error",
                                   "param": None, "code": "rate_limit_exceeded"}})
    fast = ["latency.ttft_ms=0", "latency.per_token_ms=0", "latency.jitter=0",
            "nodes.slots=100000"]
    targets = {
        "nginx static": Nginx("server { listen 127.0.0.1:{port}; location / { "
                              "default_type application/json; return 200 '" + static +
                              "'; } }"),
        "gateway 200 path": start_gateway("default", fast + ["quota.algorithm='none'"]),
        "gateway 429 path": start_gateway("default", fast + ["quota.limit=1",
                                                             "quota.window_s=86400"]),
    }
    urls = {"nginx static": targets["nginx static"].url + "/v1/chat/completions",
            "gateway 200 path": targets["gateway 200 path"].base_url + "/chat/completions",
            "gateway 429 path": targets["gateway 429 path"].base_url + "/chat/completions"}
    results: dict[str, list[float]] = {name: [] for name in targets}
    try:
        for name, url in urls.items():  # warm-up, not counted
            wrk(url, 1, args.connections, script)
        for rnd in range(args.rounds):
            for name, url in urls.items():
                rps, total, non2xx = wrk(url, args.seconds, args.connections, script)
                expect_errors = name == "gateway 429 path"
                if expect_errors and non2xx < total - 1 or not expect_errors and non2xx:
                    print(f"{name}: unexpected statuses ({non2xx} of {total} not 2xx)",
                          file=sys.stderr)
                    return 1
                results[name].append(rps)
                print(f"round {rnd + 1} {name:<18} {rps:9.0f} req/s", file=sys.stderr)
    finally:
        for t in targets.values():
            t.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    med = {name: statistics.median(v) for name, v in results.items()}
    base = med["nginx static"]
    print(f"\nwrk -t1 -c{args.connections}, {args.rounds} rounds of {args.seconds:g} s, median:")
    print(f"{'target':<20}{'req/s':>10}{'vs nginx':>10}")
    for name, v in med.items():
        print(f"{name:<20}{v:>10.0f}{v / base:>10.3f}")
    ok = med["gateway 429 path"] >= GOAL_429
    print(f"goal: 429 path >= {GOAL_429} req/s from one process: "
          f"{'met' if ok else 'NOT met'} ({med['gateway 429 path']:.0f})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
