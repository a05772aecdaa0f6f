"""`python -m analysis report` on real and broken run folders, and the page in Chromium."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from contract.events_file import ARROW_SCHEMA
from contract.events import COLUMN_NAMES
from ..runs import rows, run_scenario

from ..conftest import require_program

ROOT = Path(__file__).resolve().parents[2]


def analyse(*args):
    return subprocess.run([sys.executable, "-m", "analysis", "report", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.fixture(scope="module")
def tight_loop_run(tmp_path_factory):
    """A short tight loop on the default profile (20 per 10 s per key), 4 users on 3 keys."""
    run_dir = tmp_path_factory.mktemp("runs") / "tight"
    run_scenario("tight_loop", run_dir, "--users", "4", "--duration", "12s",
                 "--gateway-set", "latency.ttft_ms=5", "--gateway-set", "latency.per_token_ms=0")
    return run_dir


def test_report_writes_contract_and_page(tight_loop_run, tmp_path):
    run_dir = tmp_path / "copy"
    shutil.copytree(tight_loop_run, run_dir)
    proc = analyse(run_dir)
    assert proc.returncode == 0, proc.stderr
    assert f"report: {run_dir / 'index.html'}" in proc.stdout
    assert "20 requests per 10 s per key, fixed window, anchored at the first request" \
        in proc.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    q = summary["quota"]
    assert (q["algorithm"], q["scope"], q["limit"], q["window_s"], q["alignment"]) == \
        ("fixed_window", "per_key", 20, 10.0, "first_request")
    assert q["rate_per_s"] == 2.0 and q["burst"] == 20 and 0.99 <= q["agreement"] <= 1
    assert q["candidates"] and all("agreement" in c for c in q["candidates"])
    assert summary["retry_after"]["verdict"] == "honest"
    check_sections_against_the_events(summary, run_dir)
    html = (run_dir / "index.html").read_text()
    assert html.count("data:image/png;base64,") == 5
    check_unanswered(summary, run_dir)
    assert "src=\"http" not in html and "href=\"http" not in html  # opens offline
    # Everything but run.json and events/ is rebuilt from them.
    for name in ("summary.json", "index.html", "accepts.png"):
        (run_dir / name).unlink()
    assert analyse(run_dir).returncode == 0 and (run_dir / "index.html").is_file()


def check_unanswered(summary: dict, run_dir: Path) -> None:
    """Issue 13, item 6: the tight loop's page names the questions its traffic could not
    answer (it never rests, never waits as told) and that `make probe` would; not the scope,
    which its three keys answered."""
    from ..test_profiles_report import page_text

    text = page_text(run_dir)["unanswered"]
    asked = [q["question"] for q in summary["unanswered"]]
    assert asked == [
        "how much a key gets back after an idle period (its burst after idle)",
        "whether a client that waits what Retry-After says is let in",
        "whether a refused key is locked out for a while, or its window is longer"]
    for q in summary["unanswered"]:
        assert f"{q['question']}: {q['why']}." in text
    assert "make probe would ask them" in text
    assert "scope" not in text and "per key or shared" not in text
    assert "3 questions this run's traffic could not answer" in page_text(run_dir)["sureness"]


def check_sections_against_the_events(summary: dict, run_dir: Path) -> None:
    """load_levels' sections against the run's rows, counted here; and the per-key counts
    against the gateway's quota (20 per 10 s per key, opened by the key's first request)."""
    chat = [r for r in rows(run_dir) if r["endpoint"] == "/v1/chat/completions"]
    by_key: dict[str, Counter] = {}
    for r in chat:
        by_key.setdefault(r["key_id"], Counter())[r["outcome"]] += 1
    expected = {k: (sum(c.values()), c["ok"], c["rate_limited"], c["unavailable"],
                    sum(c.values()) - c["ok"] - c["rate_limited"] - c["unavailable"])
                for k, c in by_key.items()}
    assert {k["key_id"]: (k["attempts"], k["ok"], k["rate_limited"], k["unavailable"],
                          k["other_errors"]) for k in summary["keys"]} == expected
    # 12 s of a tight loop fill each key's first window, and reach at most a second one.
    assert len(by_key) == 3 and all(20 <= c["ok"] <= 40 for c in by_key.values()), by_key
    ok = sum(c["ok"] for c in by_key.values())
    # The load levels share out the run's attempts and successes (a level too thin to say
    # anything may be left out: at most 5% of the attempts).
    levels = summary["throughput"]["levels"]
    covered = sum(lv["attempts"] for lv in levels)
    assert 0.95 * len(chat) <= covered <= len(chat)
    ok_in_levels = sum(round(lv["goodput_per_s"] * lv["duration_s"]) for lv in levels)
    assert ok - (len(chat) - covered) <= ok_in_levels <= ok
    # The default profile's 32 slots never run out under 4 users: no 503.
    assert summary["unavailable"]["count"] == sum(c["unavailable"] for c in by_key.values()) == 0
    latency_ok = [r["latency_ms"] for r in chat if r["outcome"] == "ok"]
    lat = summary["latency"]["ok_from_sent_ms"]
    assert lat["count"] == len(latency_ok) == ok
    assert lat["p50"] == pytest.approx(statistics.median(latency_ok), abs=1e-3)
    assert lat["max"] == pytest.approx(max(latency_ok), abs=1e-3)
    assert summary["backoff"]["recommended"] is None and not summary["backoff"]["policies"]


def test_report_renders_in_chromium(tight_loop_run, tmp_path):
    chromium = require_program("chromium")
    run_dir = tmp_path / "copy"
    shutil.copytree(tight_loop_run, run_dir)
    assert analyse(run_dir).returncode == 0
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=3000"]
    url = (run_dir / "index.html").as_uri()
    dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True,
                         timeout=120).stdout
    for section in ("status", "quota", "retry-after", "throughput", "latency", "keys"):
        assert f'<section id="{section}">' in dom
    assert re.search(r'data-images-ok="5/5"', dom), "not every figure decoded"
    shot = run_dir / "screenshot.png"
    subprocess.run(flags + ["--window-size=1100,3000", f"--screenshot={shot}", url],
                   capture_output=True, timeout=120)
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000  # a blank page is a few kilobytes


def write_events(path: Path, rows: list[dict], schema=ARROW_SCHEMA) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([{c: r.get(c) for c in COLUMN_NAMES} for r in rows],
                                 schema=schema)
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_stream(f, schema) as w:
        w.write_table(table)


def test_missing_folder(tmp_path):
    proc = analyse(tmp_path / "nope")
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_folder_without_events(tmp_path):
    (tmp_path / "run").mkdir()
    proc = analyse(tmp_path / "run")
    assert proc.returncode == 2 and "no events files" in proc.stderr


def test_empty_run_gets_a_report_that_says_so(tmp_path):
    write_events(tmp_path / "run" / "events" / "w.arrows", [])
    proc = analyse(tmp_path / "run")
    assert proc.returncode == 1
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert "no events could be read" in summary["problems"]
    assert "run.json is missing; scenario and options unknown" in summary["problems"]
    assert summary["quota"]["algorithm"] == "unknown"


def test_run_of_only_errors(tmp_path):
    rows = [dict(run_id="r", worker="w", endpoint="/v1/chat/completions", sent_ts=1000.0 + i,
                 intended_ts=1000.0 + i, latency_ms=1.0, status=401, outcome="unauthorized",
                 key_id="k", phase="", attempt=1, user=0, response_bytes=10)
            for i in range(50)]
    write_events(tmp_path / "run" / "events" / "w.arrows", rows)
    proc = analyse(tmp_path / "run")
    # a run of nothing but 401s (a revoked key) failed: the page is written, the exit code is 1
    assert proc.returncode == 1, proc.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["failures"] and "50 unauthorized" in summary["failures"][0]
    assert 'id="failed"' in (tmp_path / "run" / "index.html").read_text()
    assert summary["quota"]["algorithm"] == "unknown"
    assert "no chat completion reached the quota" in summary["quota"]["note"]
    assert summary["retry_after"]["verdict"] == "insufficient_data"
    assert summary["keys"][0]["other_errors"] == 50


def test_cut_file_and_unknown_schema_give_a_partial_report(tight_loop_run, tmp_path):
    run_dir = tmp_path / "copy"
    shutil.copytree(tight_loop_run, run_dir)
    events = sorted((run_dir / "events").glob("*.arrows"))[0]
    data = events.read_bytes()
    events.write_bytes(data[: len(data) - 500])  # the process was killed mid-batch
    other = ARROW_SCHEMA.with_metadata({"pinaivu_schema_version": "99"})
    write_events(run_dir / "events" / "future.arrows", [], schema=other)
    (run_dir / "events" / "garbage.arrows").write_bytes(b"not arrow" * 50)
    proc = analyse(run_dir)
    assert proc.returncode == 0, proc.stderr
    problems = json.loads((run_dir / "summary.json").read_text())["problems"]
    assert any("cut short after" in p for p in problems)
    assert any("events schema version 99" in p for p in problems)
    assert any("garbage.arrows: not an events file" in p for p in problems)
    assert "What is missing or doubtful" in (run_dir / "index.html").read_text()
