"""Tight-loop requests/s with and without the recorder, against the same loopback server.

One Locust process, the same users and the same target (nginx answering 429 with Retry-After
and rate-limit headers, so the recorder parses every header it would in a real run), rounds
alternating with and without the recorder. Goal: ratio (with / without) at least 0.95.
Also printed: the process's CPU time per request over the load (every thread), which a busy
machine disturbs far less than the rate: their difference is the recorder's cost an attempt.

    python benchmarks/recorder_overhead.py [--rounds 5] [--seconds 6] [--users 8]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from _targets import nginx_429, run_locust

GOAL = 0.95


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=int, default=6)
    p.add_argument("--users", type=int, default=8)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pinaivu-bench-"))
    rates: dict[str, list[float]] = {"with recorder": [], "without recorder": []}
    cpu_us: dict[str, list[float]] = {label: [] for label in rates}
    rows_seen = 0
    try:
        with nginx_429() as ngx:
            for rnd in range(args.rounds):
                for label in rates:
                    run_dir = tmp / f"{rnd}-{label.replace(' ', '-')}"
                    extra = [] if label == "with recorder" else ["--no-record"]
                    r = run_locust("tight_loop", ngx.url + "/v1", run_dir,
                                   ["-u", str(args.users), "-r", str(args.users),
                                    "-t", f"{args.seconds}s", *extra], cpu=True)
                    rates[label].append(r["requests"] / r["seconds"])
                    cpu_us[label].append(r["cpu_s"] / r["cpu_requests"] * 1e6)
                    if label == "with recorder":
                        from contract.events_file import read_events
                        rows_seen = sum(read_events(f)[0].num_rows
                                        for f in (run_dir / "events").glob("*.arrows"))
                        if rows_seen != r["requests"]:
                            print(f"rows {rows_seen} != requests {r['requests']}",
                                  file=sys.stderr)
                            return 1
                    print(f"round {rnd + 1} {label:<17} {rates[label][-1]:8.0f} req/s "
                          f"{cpu_us[label][-1]:6.1f} CPU us/req", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with_r = statistics.median(rates["with recorder"])
    without = statistics.median(rates["without recorder"])
    ratio = with_r / without
    print(f"\nLocust tight loop, 1 process, {args.users} users, {args.rounds} rounds of "
          f"{args.seconds} s against nginx (429 + headers), median:")
    print(f"  without recorder {without:8.0f} req/s")
    print(f"  with recorder    {with_r:8.0f} req/s  (every attempt a row; last round "
          f"{rows_seen} rows)")
    print(f"  ratio {ratio:.3f}  goal >= {GOAL}: {'met' if ratio >= GOAL else 'NOT met'}")
    # each round's two runs are seconds apart, so what else the machine runs weighs on both
    paired = statistics.median(w / wo for w, wo in zip(rates["with recorder"],
                                                       rates["without recorder"]))
    print(f"  median of the rounds' own ratios {paired:.3f}")
    cpu_with = statistics.median(cpu_us["with recorder"])
    cpu_without = statistics.median(cpu_us["without recorder"])
    print(f"  CPU per request over the load: without {cpu_without:.1f} us, with "
          f"{cpu_with:.1f} us: the recorder's cost {cpu_with - cpu_without:.1f} us an "
          f"attempt (CPU ratio {cpu_without / cpu_with:.3f})")
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
