"""`python -m analysis render RUN`: the page again from summary.json and the figures beside
it, with the events gone; and what it does with a summary it cannot use (nothing written)."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.summary import SUMMARY_VERSION

from .summaries import summary
from .test_report import write_events

ROOT = Path(__file__).resolve().parents[2]
LIMIT, WINDOW = 5, 2.0  # a fixed window of 5 per 2 s, on the clock


def analysis(*args):
    return subprocess.run([sys.executable, "-m", "analysis", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def tight_loop_rows(n: int = 400, rate: float = 20.0) -> list[dict]:
    """One key in a tight loop against LIMIT per WINDOW, refusals saying when it reopens."""
    out, used = [], {}
    for i in range(n):
        sent = 1_800_000_000.0 + i / rate
        window = math.floor(sent / WINDOW)
        ok = used.get(window, 0) < LIMIT
        used[window] = used.get(window, 0) + 1
        out.append(dict(run_id="r", worker="w", user=0, scenario="tight_loop", phase="",
                        logical_id=f"{i:08x}", attempt=1, key_id="k1", endpoint=CHAT,
                        intended_ts=sent, sent_ts=sent, latency_ms=20.0 if ok else 2.0,
                        ttfb_ms=20.0 if ok else 2.0, status=200 if ok else 429,
                        outcome="ok" if ok else "rate_limited",
                        retry_after_s=None if ok else math.ceil((window + 1) * WINDOW - sent),
                        response_bytes=100))
    return out


CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """A run folder analysed by `report`: its page, and the folder to copy."""
    run = tmp_path_factory.mktemp("reports") / "run"
    write_events(run / "events" / "w.arrows", tight_loop_rows())
    (run / "run.json").write_text(json.dumps({"run_id": "run", "scenario": "tight_loop",
                                              "target": "http://127.0.0.1:1/v1",
                                              "complete": True}))
    proc = analysis("report", run)
    assert proc.returncode == 0, proc.stderr
    return run


def _copy(reported: Path, tmp_path: Path) -> Path:
    run = tmp_path / "reports" / "run"
    shutil.copytree(reported, run)
    (run / "index.html").unlink()
    shutil.rmtree(run / "events")  # render needs none of them
    return run


def _headlines(html: str) -> dict[str, str]:
    return {k: re.search(rf'id="{k}"[^>]*>(.*?)</(div|p)>', html, re.S).group(1)
            for k in ("verdict", "quota-headline", "retry-after-headline",
                      "throughput-headline")}


def test_render_rebuilds_the_page_from_summary_json_alone(reported, tmp_path):
    page = (reported / "index.html").read_text()
    run = _copy(reported, tmp_path)
    proc = analysis("render", run)
    assert proc.returncode == 0, proc.stderr
    assert f"report: {run / 'index.html'}" in proc.stdout
    html = (run / "index.html").read_text()
    heads = _headlines(html)
    assert heads == _headlines(page)
    assert "5 requests per 2 s" in heads["verdict"] and "honest" in heads["verdict"]
    # the same summary and the same PNGs: the very page `report` wrote
    assert html == page and html.count("data:image/png;base64,") == 5
    assert (run.parent / "index.html").is_file()  # the runs index is refreshed too


def test_a_missing_figure_is_said_to_be_missing(reported, tmp_path):
    run = _copy(reported, tmp_path)
    (run / "accepts.png").unlink()
    proc = analysis("render", run)
    assert proc.returncode == 0, proc.stderr
    assert "accepts.png is missing" in proc.stderr
    html = (run / "index.html").read_text()
    assert html.count("data:image/png;base64,") == 4
    assert 'data-missing="accepts"' in html and "accepts.png is missing" in html


def _nothing_written(run: Path, before: dict) -> None:
    after = {p.name: p.stat().st_mtime_ns for p in run.parent.rglob("*")}
    assert after == before and not (run / "index.html").exists()


@pytest.mark.parametrize("content, says", [
    (None, "no summary.json"),
    ('{"schema_version": 2, "quo', "summary.json is corrupt"),
    (json.dumps(summary(schema_version=1)),
     f"schema version 1, older than the version this tool reads ({SUMMARY_VERSION})"),
    (json.dumps(summary(quota={"algorithm": "magic"})), "summary.json is corrupt ('quota."),
    (json.dumps(["not", "a", "summary"]), "summary.json is corrupt (not a JSON object)"),
])
def test_render_refuses_a_summary_it_cannot_use(reported, tmp_path, content, says):
    run = _copy(reported, tmp_path)
    (run / "summary.json").unlink()
    if content is not None:
        (run / "summary.json").write_text(content)
    before = {p.name: p.stat().st_mtime_ns for p in run.parent.rglob("*")}
    proc = analysis("render", run)
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr and "nothing to render" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    _nothing_written(run, before)


def test_render_of_a_folder_that_does_not_exist(tmp_path):
    proc = analysis("render", tmp_path / "nope")
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    assert not list(tmp_path.iterdir())
