"""Time and peak memory of `python -m analysis report` on synthetic runs of 100k, 1M and 5M
events, measured in one run. Goals (issue 11): 1M events to a full report in at most 5 s and
1 GB peak; 5M in at most 5 times the 1M time and 2 GB.

The synthetic run is a tight loop of three keys against a fixed window of 20 per 10 s per key
(epoch-aligned), 1% of admitted requests answered 503, written as two workers' events files.

    python benchmarks/analysis_scale.py [--sizes 100000,1000000,5000000] [--keep DIR]
        [--baseline OTHER_CHECKOUT] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from contract.events_file import ARROW_SCHEMA  # noqa: E402

RATE = 1000.0  # attempts per second across the run
KEYS = np.array(["k1aaaaaa", "k2bbbbbb", "k3cccccc"])
LIMIT, WINDOW = 20, 10.0
CHUNK = 500_000


def make_run(folder: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    (folder / "events").mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({
        "run_id": folder.name, "scenario": "tight_loop", "target": "synthetic",
        "complete": True}))
    t0 = 1_800_000_000.0
    counts: dict[tuple[int, int], int] = {}
    writers = [pa.ipc.new_stream(pa.OSFile(str(folder / "events" / f"w{i}.arrows"), "wb"),
                                 ARROW_SCHEMA) for i in range(2)]
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        i = np.arange(start, start + m)
        sent = t0 + i / RATE + rng.uniform(0, 0.0005, m)
        key = i % len(KEYS)
        win = np.floor(sent / WINDOW).astype(np.int64)
        # admitted while fewer than LIMIT in this key's window so far (across chunks too)
        pair = key * 10**12 + win
        uniq, first_idx, inverse = np.unique(pair, return_index=True, return_inverse=True)
        rank = np.empty(m, np.int64)
        srt = np.argsort(pair, kind="stable")
        grp_start = np.r_[0, np.flatnonzero(np.diff(pair[srt])) + 1]
        sizes = np.diff(np.r_[grp_start, m])
        rank[srt] = np.arange(m) - np.repeat(grp_start, sizes)
        base = np.array([counts.get((int(p // 10**12), int(p % 10**12)), 0) for p in uniq])
        admitted = base[inverse] + rank < LIMIT
        for p, size in zip(uniq, np.bincount(inverse)):
            k = (int(p // 10**12), int(p % 10**12))
            counts[k] = counts.get(k, 0) + int(size)
        status = np.where(admitted, 200, 429)
        busy = admitted & (rng.random(m) < 0.01)
        status[busy] = 503
        outcome = np.select([status == 200, status == 429], ["ok", "rate_limited"],
                            "unavailable")
        latency = np.where(status == 200, 100 + rng.gamma(4, 5, m),
                           np.where(status == 429, 1 + rng.gamma(2, 0.5, m),
                                    50 + rng.gamma(2, 5, m)))
        ra = np.where(status == 429, np.ceil((win + 1) * WINDOW - sent), np.nan)
        cols = {
            "run_id": np.full(m, folder.name), "worker": np.where(i % 2, "w1", "w0"),
            "user": i % 8, "scenario": np.full(m, "tight_loop"), "phase": np.full(m, ""),
            "logical_id": np.char.mod("%016x", i), "attempt": np.ones(m, np.int64),
            "key_id": KEYS[key], "model": np.full(m, "llama3.2:1b"),
            "endpoint": np.full(m, "/v1/chat/completions"), "intended_ts": sent,
            "sent_ts": sent, "latency_ms": latency, "ttfb_ms": latency, "status": status,
            "outcome": outcome, "retry_after_s": ra,
            "retry_after_raw": np.where(status == 429, np.char.mod("%d", np.nan_to_num(ra)), ""),
            "ratelimit_limit": np.full(m, float(LIMIT)), "ratelimit_remaining": np.zeros(m),
            "ratelimit_reset_s": np.nan_to_num(ra), "request_id": np.where(
                status == 200, np.char.add("req_", np.char.mod("%032x", i)), ""),
            "response_bytes": np.where(status == 200, 414, 180), "error": np.full(m, ""),
            # not streamed: schema 2's streaming columns empty, as the recorder writes them
            "first_token_ms": np.full(m, np.nan), "tbt_mean_ms": np.full(m, np.nan),
            "tbt_max_ms": np.full(m, np.nan), "chunks": np.zeros(m, np.int64),
            # schema 3: the policy declared (as the recorder reads draft-06's headers)
            "ratelimit_window_s": np.full(m, float(WINDOW)),
            "ratelimit_family": np.full(m, "ietf-06"), "ratelimit_raw": np.full(m, ""),
        }
        table = pa.table({n: pa.array(cols[n], type=ARROW_SCHEMA.field(n).type)
                          for n in ARROW_SCHEMA.names}, schema=ARROW_SCHEMA)
        for w, writer in enumerate(writers):
            writer.write_table(table.filter(pa.array(cols["worker"] == f"w{w}")))
    for writer in writers:
        writer.close()


MEASURE = ("import resource, sys; from analysis.__main__ import main; "
           "code = main(['report', sys.argv[1]]); "
           "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr);"
           " sys.exit(code)")
GOAL_1M_S, GOAL_1M_MB = 5.0, 1024
GOAL_5M_RATIO, GOAL_5M_MB = 5.0, 2048


def measure(folder: Path, code_root: Path = ROOT) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak MB, headline) of one `analysis report` in a fresh process, run
    with the analysis code of `code_root` (this checkout, or a baseline's)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", MEASURE, str(folder)], capture_output=True,
                          text=True, cwd=code_root,
                          env={**os.environ, "PYTHONPATH": str(code_root)})
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"report failed on {folder}:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak_kb = int(proc.stderr.rsplit("PEAK_KB", 1)[1].split()[0])
    return elapsed, cpu, peak_kb / 1024, proc.stdout.splitlines()[0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100000,1000000,5000000")
    p.add_argument("--keep", help="keep the synthetic runs in this folder")
    p.add_argument("--baseline", type=Path,
                   help="another checkout (e.g. `git worktree add /tmp/old <rev>`): each "
                        "report runs with its code too, interleaved, and the ratios print")
    p.add_argument("--rounds", type=int, default=1, help="runs per size and side (median)")
    args = p.parse_args()
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pinaivu-scale-"))
    sides = [("this", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    results: dict[tuple[str, int], tuple[float, float, float]] = {}
    try:
        for n in (int(x) for x in args.sizes.split(",")):
            folder = base / f"run-{n}"
            if not folder.exists():
                t = time.perf_counter()
                make_run(folder, n)
                print(f"built {n:,} events in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            runs: dict[str, list] = {name: [] for name, _ in sides}
            for _ in range(args.rounds):
                for name, code_root in sides:  # interleaved: the machine's noise hits both
                    wall, cpu, mb, headline = measure(folder, code_root)
                    runs[name].append((wall, cpu, mb))
                    print(f"{name}: report on {n:,} events: {wall:.1f} s ({cpu:.1f} s CPU), "
                          f"peak {mb:.0f} MB -> {headline}", file=sys.stderr)
            for name, got in runs.items():
                results[(name, n)] = tuple(statistics.median(x) for x in zip(*got))
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(f"\n{'side':>9}{'events':>11}{'wall s':>9}{'CPU s':>8}{'peak MB':>9}{'s / 1M':>8}")
    for (name, n), (wall, cpu, mb) in results.items():
        print(f"{name:>9}{n:>11,}{wall:>9.1f}{cpu:>8.1f}{mb:>9.0f}{wall / (n / 1e6):>8.1f}")
    if args.baseline:
        for (name, n), (wall, cpu, mb) in results.items():
            if name == "this":
                old = results[("baseline", n)]
                print(f"{n:>11,} events: this / baseline = {wall / old[0]:.2f} wall, "
                      f"{cpu / old[1]:.2f} CPU, {mb / old[2]:.2f} memory")
    ok = True
    if ("this", 1_000_000) in results:
        secs, _, mb = results[("this", 1_000_000)]
        goal = secs <= GOAL_1M_S and mb <= GOAL_1M_MB
        ok &= goal
        print(f"goal 1M: <= {GOAL_1M_S:g} s and <= {GOAL_1M_MB:,} MB: "
              f"{'met' if goal else 'NOT met'} ({secs:.1f} s, {mb:.0f} MB)")
        if ("this", 5_000_000) in results:
            secs5, _, mb5 = results[("this", 5_000_000)]
            ratio = secs5 / secs
            goal = ratio <= GOAL_5M_RATIO and mb5 <= GOAL_5M_MB
            ok &= goal
            print(f"goal 5M: <= {GOAL_5M_RATIO:g} x 1M and <= {GOAL_5M_MB:,} MB: "
                  f"{'met' if goal else 'NOT met'} ({ratio:.2f} x, {mb5:.0f} MB)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
