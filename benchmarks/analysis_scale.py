"""Time and peak memory of `python -m analysis report` on synthetic runs of 100k, 1M and 5M
events, measured in one run. Goals: 1M events in at most 20 s with at most 1.5 GB peak;
5M costs no more than 6 times 1M.

The synthetic run is a tight loop of three keys against a fixed window of 20 per 10 s per key
(epoch-aligned), 1% of admitted requests answered 503, written as two workers' events files.

    python benchmarks/analysis_scale.py [--sizes 100000,1000000,5000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from analysis.events_file import ARROW_SCHEMA  # noqa: E402

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
            # not streamed: no token times
            "first_token_ms": np.full(m, np.nan), "tbt_mean_ms": np.full(m, np.nan),
            "tbt_max_ms": np.full(m, np.nan), "chunks": np.zeros(m, np.int64),
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


def measure(folder: Path) -> tuple[float, float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", MEASURE, str(folder)], capture_output=True,
                          text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"report failed on {folder}:\n{proc.stderr[-2000:]}")
    peak_kb = int(proc.stderr.rsplit("PEAK_KB", 1)[1].split()[0])
    return elapsed, peak_kb / 1024, proc.stdout.splitlines()[0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100000,1000000,5000000")
    p.add_argument("--keep", help="keep the synthetic runs in this folder")
    args = p.parse_args()
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pinaivu-scale-"))
    results = {}
    try:
        for n in (int(x) for x in args.sizes.split(",")):
            folder = base / f"run-{n}"
            if not folder.exists():
                t = time.perf_counter()
                make_run(folder, n)
                print(f"built {n:,} events in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            results[n] = measure(folder)
            print(f"report on {n:,} events: {results[n][0]:.1f} s, peak {results[n][1]:.0f} MB"
                  f" -> {results[n][2]}", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(f"\n{'events':>10}{'seconds':>10}{'peak MB':>10}{'s / 1M':>10}")
    for n, (secs, mb, _) in results.items():
        print(f"{n:>10,}{secs:>10.1f}{mb:>10.0f}{secs / (n / 1e6):>10.1f}")
    ok = True
    if 1_000_000 in results:
        secs, mb, _ = results[1_000_000]
        goal = secs <= 20 and mb <= 1536
        ok &= goal
        print(f"goal 1M: <= 20 s and <= 1,536 MB: {'met' if goal else 'NOT met'} "
              f"({secs:.1f} s, {mb:.0f} MB)")
        if 5_000_000 in results:
            ratio = results[5_000_000][0] / secs
            ok &= ratio <= 6
            print(f"goal 5M <= 6 x 1M: {'met' if ratio <= 6 else 'NOT met'} ({ratio:.2f} x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
