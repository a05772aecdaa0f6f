"""How long the tuner takes: every policy setting in the grid, each over 10,000 logical
requests, against a fixed window and a token bucket. Goal: a grid of at least 200 settings
in at most 60 s.

    python benchmarks/tune_speed.py [--logical 10000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from analysis.simulate import ServerModel, policy_grid  # noqa: E402
from analysis.tune import tune  # noqa: E402

SERVERS = {
    "fixed window 20/10 s": ServerModel("fixed_window", limit=20, window_s=10,
                                        alignment="first_request", retry_after="exact"),
    "token bucket 2/s burst 10": ServerModel("token_bucket", rate_per_s=2.0, burst=10),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--logical", type=int, default=10_000)
    args = p.parse_args()
    grid = policy_grid()
    ok = len(grid) >= 200
    print(f"{'quota':<28}{'settings':>9}{'seconds':>9}  recommended")
    for name, server in SERVERS.items():
        start = time.perf_counter()
        result = tune(server, 1.2 * server.sustained_rate, logical=args.logical, grid=grid)
        secs = time.perf_counter() - start
        ok &= secs <= 60
        best = result["recommended"]
        print(f"{name:<28}{len(grid):>9}{secs:>9.1f}  {best['policy'] if best else '-'}")
    print(f"goal: >= 200 settings x {args.logical:,} logical requests in <= 60 s: "
          f"{'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
