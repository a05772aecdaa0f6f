"""Open-loop scheduler lateness (sent_ts - intended_ts) at 1,000 and 3,000 arrivals/s.

One Locust process, one open-loop user (sweep.py), constant arrivals against nginx answering
429 on loopback (so the target is never the bottleneck). Lateness is read from the recorded
events, per step. Goal: p99 at most 5 ms at 1,000 arrivals/s.

    python benchmarks/open_loop.py [--seconds 5] [--rates 1000,3000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from _targets import nginx_429, run_locust

GOAL_MS = 5.0


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--rates", default="1000,3000")
    args = p.parse_args()
    from contract.events_file import read_events

    tmp = Path(tempfile.mkdtemp(prefix="pinaivu-bench-"))
    rates = [r.strip() for r in args.rates.split(",")]
    try:
        with nginx_429() as ngx:
            run_dir = tmp / "sweep"
            total = int(len(rates) * args.seconds + 10)
            run_locust("sweep", ngx.url + "/v1", run_dir,
                       ["-u", "1", "-r", "1", "-t", f"{total}s", "--rates", args.rates,
                        "--step-s", str(args.seconds)])
            rows = []
            for f in (run_dir / "events").glob("*.arrows"):
                rows += read_events(f)[0].to_pylist()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nOpen loop, 1 process, constant arrivals, {args.seconds:g} s per rate, "
          "against nginx on loopback:")
    print(f"{'arrivals/s':>10}{'sent':>8}{'achieved/s':>12}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'max ms':>9}")
    ok = True
    for rate in rates:
        step = [r for r in rows if r["phase"] == f"rate={rate}"]
        late = sorted((r["sent_ts"] - r["intended_ts"]) * 1000 for r in step)
        span = max(r["sent_ts"] for r in step) - min(r["sent_ts"] for r in step)
        p99 = percentile(late, 0.99)
        print(f"{rate:>10}{len(step):>8}{len(step) / span:>12.0f}{percentile(late, 0.5):>9.2f}"
              f"{p99:>9.2f}{late[-1]:>9.2f}")
        if float(rate) == 1000:
            ok = p99 <= GOAL_MS
    print(f"goal: p99 lateness <= {GOAL_MS:g} ms at 1,000 arrivals/s: "
          f"{'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
