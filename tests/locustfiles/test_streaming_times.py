"""Streamed completions: the first token's arrival and the time between tokens are recorded,
and agree with the pace the reference gateway was configured with (issue 10, item 5).

The gateway's stream (gateway/app.py) sends a role-only chunk after `latency.ttft_ms`, then a
token every `latency.per_token_ms`: the first token arrives at ttft_ms + per_token_ms, the
next ones per_token_ms apart. Its headers go out at once, before the first chunk.
"""

import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.pipeline import build_report
from analysis.store import load_run
from analysis.streaming import streaming_latency

from ..runs import rows

ROOT = Path(__file__).resolve().parents[2]
TTFT_MS, PER_TOKEN_MS, TOKENS = 150.0, 40.0, 8
PACE = ["quota.limit=100000", f"latency.ttft_ms={TTFT_MS:g}",
        f"latency.per_token_ms={PER_TOKEN_MS:g}", f"latency.output_tokens={TOKENS}",
        "latency.jitter=0", "nodes.slots=100"]
# Measured on the client, a token can only be later than sent (scheduling, a loaded machine),
# never earlier: the lower bounds are tight; the medians get a few ms either way.
EARLY_MS, LATE_MS = 2.0, 15.0


def run_tight_loop(gateway_factory, run_dir: Path, users: str, run_time: str, *extra: str):
    """Locust's tight loop for `run_time` against a gateway paced as PACE."""
    gw = gateway_factory("default", PACE)
    env = dict(os.environ, PINAIVU_BASE_URL=gw.base_url, PINAIVU_API_KEY="pk-demo-alice-0001")
    cmd = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / "tight_loop.py"),
           "--headless", "-u", users, "-r", users, "-t", run_time, "--run-dir", str(run_dir),
           "--only-summary", *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_first_token_and_between_tokens_match_the_gateway(gateway_factory, tmp_path):
    run_dir = tmp_path / "run"
    proc = run_tight_loop(gateway_factory, run_dir, "2", "4s", "--stream")
    assert proc.returncode == 0, proc.stderr[-2000:]
    ok = [r for r in rows(run_dir) if r["endpoint"] == "/v1/chat/completions"
          and r["outcome"] == "ok"]
    assert len(ok) >= 4, proc.stderr[-2000:]
    first_expected = TTFT_MS + PER_TOKEN_MS
    last_expected = TTFT_MS + TOKENS * PER_TOKEN_MS
    assert all(r["chunks"] == TOKENS for r in ok)
    # A token is never seen before it was sent: the first at ttft + per_token, the last at
    # ttft + tokens * per_token (a late read can shorten a gap, never the whole span).
    assert all(r["first_token_ms"] >= first_expected - EARLY_MS for r in ok)
    assert all(r["first_token_ms"] + (TOKENS - 1) * r["tbt_mean_ms"] >= last_expected - EARLY_MS
               for r in ok)
    seen = {k: sorted(round(r[k], 1) for r in ok) for k in ("first_token_ms", "tbt_mean_ms")}
    # On a loaded machine a read can come late (later first tokens, several tokens in one
    # read, so shorter gaps): the request read most promptly is the one held to the gateway's
    # pace. (A CI run beside other load saw a median first token of 208.5 ms against 190.)
    assert seen["first_token_ms"][0] - first_expected <= LATE_MS, seen
    assert abs(seen["tbt_mean_ms"][-1] - PER_TOKEN_MS) <= LATE_MS, seen
    assert all(r["tbt_max_ms"] >= r["tbt_mean_ms"] for r in ok)
    # The whole stream lasts ttft + tokens * per_token: headers and the first token come
    # well before its end (the bug: ttfb_ms was a median 0.954 of the latency).
    total_expected = last_expected
    assert all(r["latency_ms"] >= total_expected - EARLY_MS for r in ok)
    assert statistics.median(r["ttfb_ms"] / r["latency_ms"] for r in ok) < 0.2
    assert statistics.median(r["first_token_ms"] / r["latency_ms"] for r in ok) < \
        (first_expected + LATE_MS) / total_expected

    summary, _, html = build_report(load_run(run_dir))
    latency = summary["latency"]
    assert latency["streamed"] == len(ok)
    # the summary's medians are the rows' own (computed here independently of the analysis)
    assert latency["ttft_ms"]["p50"] == pytest.approx(
        statistics.median(r["first_token_ms"] for r in ok), abs=0.05)
    assert latency["tbt_ms"]["p50"] == pytest.approx(
        statistics.median(r["tbt_mean_ms"] for r in ok), abs=0.05)
    assert f"time to first token p50 {latency['ttft_ms']['p50']} ms" in html
    assert f"time between tokens (mean per request) p50 {latency['tbt_ms']['p50']} ms" in html


def test_a_run_that_did_not_stream_records_no_tokens(gateway_factory, tmp_path):
    run_dir = tmp_path / "run"
    proc = run_tight_loop(gateway_factory, run_dir, "1", "2s")
    assert proc.returncode == 0, proc.stderr[-2000:]
    ok = [r for r in rows(run_dir) if r["outcome"] == "ok"
          and r["endpoint"] == "/v1/chat/completions"]
    assert ok and all(r["chunks"] == 0 and r["first_token_ms"] != r["first_token_ms"]
                      for r in ok)
    assert streaming_latency(load_run(run_dir).events) == {}
    summary, _, html = build_report(load_run(run_dir))
    assert "ttft_ms" not in summary["latency"] and "time to first token" not in html
