"""`python -m analysis compare` on two real runs of different quotas, `python -m analysis
index`, and the pages in Chromium; bad inputs get a message and a non-zero exit."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.pages.compare import quota_rows
from analysis.summary import SUMMARY_VERSION, parse_summary
from .summaries import summary
from ..conftest import require_program
from ..runs import run_scenario

ROOT = Path(__file__).resolve().parents[2]
A = "20260101T000000Z-tight_loop"   # default profile: fixed window, 20 per 10 s per key
B = "20260101T000100Z-tight_loop"   # token-bucket profile: 2/s, bursts of 10 per key
FAST = ("--gateway-set", "latency.ttft_ms=5", "--gateway-set", "latency.per_token_ms=0")


def analysis(*args):
    return subprocess.run([sys.executable, "-m", "analysis", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two short tight loops, each against its own reference gateway, made once."""
    runs = tmp_path_factory.mktemp("raw")
    run_scenario("tight_loop", runs / A, "--users", "4", "--duration", "12s", *FAST)
    run_scenario("tight_loop", runs / B, "--profile", "token-bucket", "--users", "4",
                 "--duration", "10s", *FAST)
    return runs / A, runs / B


@pytest.fixture(scope="module")
def compared(two_runs, tmp_path_factory):
    """reports/ with A analysed by `report` and B not, then `compare` with no run named."""
    reports = tmp_path_factory.mktemp("cmp") / "reports"
    for run in two_runs:
        shutil.copytree(run, reports / run.name)
    report = analysis("report", reports / A)
    assert report.returncode == 0, report.stderr
    index_after_report = (reports / "index.html").read_text()
    summary_a_mtime = (reports / A / "summary.json").stat().st_mtime_ns
    proc = analysis("compare", "--reports", reports)
    return {"reports": reports, "proc": proc, "index_after_report": index_after_report,
            "summary_a_mtime": summary_a_mtime}


def test_compare_shows_both_quotas_side_by_side(compared):
    reports, proc = compared["reports"], compared["proc"]
    assert proc.returncode == 0, proc.stderr
    out = reports / f"compare-{A}-vs-{B}.html"
    assert f"compare: {out}" in proc.stdout
    assert "Traceback" not in proc.stderr
    # A's summary.json was current and used as it was; B had none, so it was analysed.
    assert (reports / A / "summary.json").stat().st_mtime_ns == compared["summary_a_mtime"]
    assert (reports / B / "summary.json").is_file() and (reports / B / "index.html").is_file()
    assert not (reports / A / out.name).exists()  # the page is not inside a run folder
    html = out.read_text()

    def row(field):
        m = re.search(rf'<tr( class="differs")? data-field="{field}" data-differs="(\w+)">'
                      r'\s*<td>[^<]*</td><td class="num">([^<]*)</td><td class="num">([^<]*)',
                      html)
        assert m, f"no {field} row"
        return m.group(2) == "true", bool(m.group(1)), m.group(3), m.group(4)

    assert row("algorithm") == (True, True, "fixed_window", "token_bucket")
    assert row("limit") == (True, True, "20", "10")
    assert row("window_s") == (True, True, "10", "—")
    assert row("alignment") == (True, True, "first_request", "—")
    assert row("scope") == (False, False, "per_key", "per_key")
    # 20 per 10 s and 2/s: the same rate, to the fit's precision (a busy machine may read
    # the bucket as 1.998/s)
    differs, marked, rate_a, rate_b = row("rate_per_s")
    assert (differs, marked, rate_a) == (False, False, "2")
    assert abs(float(rate_b) - 2) <= 0.06
    assert row("burst")[:2] == (True, True) and row("burst")[2:] == ("20", "10")
    differs, marked, agree_a, agree_b = row("agreement")
    assert differs == marked and float(agree_a) > 0.98 and float(agree_b) > 0.98
    assert "20 requests per 10 s per key, fixed window" in html
    assert "Token bucket: 2 requests/s sustained, bursts of 10 per key" in html
    assert html.count("tight_loop</td>") >= 2 and html.count("http://127.0.0.1:") >= 2
    assert len(re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</td>", html)) == 2
    assert 'data-field="verdict"' in html and 'data-field="error_p50"' in html
    assert "ok, from intended send p99" in html and "429 p50" in html
    assert html.count("data:image/png;base64,") == 3  # goodput, 429 share, latency
    assert 'src="http' not in html and 'href="http' not in html  # opens offline
    assert f'href="{A}/index.html"' in html and f'href="{B}/index.html"' in html
    # a 12 s run beside a 10 s one, both of four users on three keys: the page says so
    lengths = re.search(r'data-field="duration_s" data-differs="true"><td>[^<]*</td>'
                        r'<td>([0-9.]+) s \(12 s planned\)</td>'
                        r'<td>([0-9.]+) s \(10 s planned\)</td>', html)
    assert lengths and float(lengths.group(1)) >= 12 and float(lengths.group(2)) >= 10
    assert re.search(r'data-field="users" data-differs="false"><td>users</td><td>4</td>', html)
    assert 'id="unlike-runs"' in html


def test_compare_renders_in_chromium(compared, tmp_path):
    chromium = require_program("chromium")
    assert compared["proc"].returncode == 0, compared["proc"].stderr
    page = compared["reports"] / f"compare-{A}-vs-{B}.html"
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=3000"]
    dom = subprocess.run(flags + ["--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    for section in ("runs", "quota", "retry-after", "throughput", "latency"):
        assert f'<section id="{section}" data-section="{section}">' in dom
    assert 'data-sections="5"' in dom
    assert re.search(r'data-images-ok="3/3"', dom), "not every figure decoded"
    shot = tmp_path / "compare.png"
    subprocess.run(flags + ["--window-size=1100,3000", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000  # a blank page is a few kilobytes


def _run_rows(html: str) -> dict[str, str]:
    """run name -> its row of reports/index.html"""
    return {m.group(1): m.group(0) for m in
            re.finditer(r'<tr class="run" data-run="([^"]+)".*?</tr>', html, re.S)}


def test_runs_index_after_report_and_compare(compared):
    # `report` wrote reports/index.html: A analysed, B not yet.
    rows = _run_rows(compared["index_after_report"])
    assert set(rows) == {A, B}
    assert "20 requests per 10 s per key" in rows[A] and f'href="{A}/index.html"' in rows[A]
    assert 'data-status="not analysed yet"' in rows[B]
    assert f"make report RUN=reports/{B}" in rows[B]
    # `compare` refreshed it: both analysed, the comparison linked from both.
    html = (compared["reports"] / "index.html").read_text()
    rows = _run_rows(html)
    assert "fixed window" in rows[A] and "Token bucket" in rows[B]
    page = f"compare-{A}-vs-{B}.html"
    for name, other in ((A, B), (B, A)):
        row = rows[name]
        assert 'data-status="analysed"' in row and "<td>tight_loop</td>" in row
        assert re.search(r"<td title=\"http://127\.0\.0\.1:\d+/v1\">127\.0\.0\.1:\d+</td>", row)
        assert re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</td>", row)
        assert f'href="{name}/index.html"' in row and f'href="{page}">vs {other}<' in row
    assert list(rows) == [B, A]  # newest first
    assert 'data-compares="1"' in html


def test_runs_index_lists_unanalysed_corrupt_and_weird_folders(two_runs, tmp_path):
    reports = tmp_path / "runs"  # not called reports/: the hint names the folder in full
    shutil.copytree(two_runs[0], reports / "fresh")  # never analysed
    shutil.copytree(two_runs[1], reports / "broken-manifest")
    (reports / "broken-manifest" / "run.json").write_text('{"scenario": "tight_lo')
    (reports / "list-manifest").mkdir()
    (reports / "list-manifest" / "run.json").write_text("[1, 2]")
    (reports / "bad-summary" / "events").mkdir(parents=True)
    (reports / "bad-summary" / "summary.json").write_text('{"verdict": ')
    (reports / "odd-summary").mkdir()
    (reports / "odd-summary" / "summary.json").write_text(
        json.dumps({"verdict": 7, "target": ["x"], "scenario": None, "events": "many"}))
    (reports / "old-summary").mkdir()  # summary.json of version 1, before it was typed
    (reports / "old-summary" / "summary.json").write_text(
        json.dumps(summary(schema_version=1, verdict="an old verdict")))
    (reports / "empty-dir").mkdir()
    (reports / "notes.txt").write_text("not a run")
    (reports / "dangling").symlink_to(tmp_path / "nowhere")
    (reports / "compare-x.html.tmp").write_text("half written")
    proc = analysis("index", reports)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"runs index: {reports / 'index.html'}"
    rows = _run_rows((reports / "index.html").read_text())
    assert set(rows) == {"fresh", "broken-manifest", "list-manifest", "bad-summary",
                         "odd-summary", "old-summary"}
    assert 'data-status="not analysed yet"' in rows["fresh"]
    assert f"make report RUN={reports / 'fresh'}" in rows["fresh"]
    assert "<td>tight_loop</td>" in rows["fresh"] and "127.0.0.1:" in rows["fresh"]
    assert "run.json is not valid JSON" in rows["broken-manifest"]
    assert "<td>unknown</td>" in rows["broken-manifest"]
    assert "run.json is not a JSON object" in rows["list-manifest"]
    assert "summary.json is corrupt" in rows["bad-summary"]
    assert "summary.json has no schema_version" in rows["odd-summary"]
    # an older summary is said to be older, and its verdict is not shown as if current
    assert "schema version 1, older than the version this tool reads" in rows["old-summary"]
    assert 'data-status="not analysed yet"' in rows["old-summary"]
    assert "an old verdict" not in rows["old-summary"]


def test_index_leaves_a_foreign_index_alone(tmp_path):
    (tmp_path / "index.html").write_text("<html>my own page</html>")
    proc = analysis("index", tmp_path)
    assert proc.returncode == 1 and "left alone" in proc.stderr
    assert (tmp_path / "index.html").read_text() == "<html>my own page</html>"


# --- bad inputs -------------------------------------------------------------------------

@pytest.fixture
def analysed(compared, tmp_path):
    """Copies of the two analysed runs (summary.json current) in a fresh reports folder."""
    assert compared["proc"].returncode == 0, compared["proc"].stderr
    reports = tmp_path / "reports"
    for name in (A, B):
        shutil.copytree(compared["reports"] / name, reports / name)
    return reports


def test_missing_run_folder(analysed):
    proc = analysis("compare", analysed / "nope", analysed / B)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"run folder {analysed / 'nope'} does not exist" in proc.stderr


def test_folder_without_events(analysed):
    (analysed / "empty").mkdir()
    proc = analysis("compare", analysed / A, analysed / "empty")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "has no events files" in proc.stderr


def test_too_few_runs_for_the_default(tmp_path, two_runs):
    shutil.copytree(two_runs[0], tmp_path / "reports" / A)
    proc = analysis("compare", "--reports", tmp_path / "reports")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "holds 1 run folder(s) and no two of one scenario (tight_loop: 1)" in proc.stderr


def test_same_run_twice_is_allowed_with_a_warning(analysed, tmp_path):
    out = tmp_path / "out" / "self.html"
    proc = analysis("compare", analysed / A, analysed / A, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "warning: comparing" in proc.stderr and "with itself" in proc.stderr
    assert f"compare: {out}" in proc.stdout
    html = out.read_text()
    assert 'id="same-run"' in html and 'class="differs"' not in html


def test_corrupt_summary_is_rebuilt_from_the_events(analysed):
    (analysed / A / "summary.json").write_text('{"schema_version": 1, "quo')
    proc = analysis("compare", analysed / A, analysed / B)
    assert proc.returncode == 0, proc.stderr
    assert "summary.json is corrupt" in proc.stderr and "rebuilding it from the events" \
        in proc.stderr
    assert json.loads((analysed / A / "summary.json").read_text())["quota"]["algorithm"] \
        == "fixed_window"
    html = (analysed / f"compare-{A}-vs-{B}.html").read_text()
    assert "rebuilt from the events" in html


def test_an_older_summary_is_said_to_be_older_and_rebuilt(analysed):
    old = json.loads((analysed / A / "summary.json").read_text())
    old["schema_version"] = 1
    old["verdict"] = "an old verdict"
    (analysed / A / "summary.json").write_text(json.dumps(old))
    proc = analysis("compare", analysed / A, analysed / B)
    assert proc.returncode == 0, proc.stderr
    assert "schema version 1, older than the version this tool reads" in proc.stderr
    assert "rebuilding it from the events" in proc.stderr
    assert "an old verdict" not in proc.stdout
    assert json.loads((analysed / A / "summary.json").read_text())["schema_version"] \
        == SUMMARY_VERSION


# --- the pure parts -----------------------------------------------------------------------

def test_summary_problem_names_what_is_wrong():
    def problem(doc):
        return parse_summary(doc)[1]
    assert problem(summary()) is None
    assert "schema version 0" in problem(summary(schema_version=0))
    assert "'quota'" in problem(summary(quota=None))
    assert "throughput.levels" in problem(summary(throughput={}))


def test_quota_rows_compare_what_the_page_shows():
    a = {"quota": {"algorithm": "fixed_window", "limit": 20, "agreement": 0.99991}}
    b = {"quota": {"algorithm": "fixed_window", "limit": 20.0, "agreement": 0.99992}}
    rows = {r["key"]: r for r in quota_rows(a, b)}
    assert not rows["algorithm"]["differs"] and not rows["agreement"]["differs"]
    assert rows["window_s"]["a"] == "—" and not rows["window_s"]["differs"]
    assert rows["limit"]["b"] == "20" and not rows["limit"]["differs"]


def test_rates_and_windows_differ_only_beyond_the_fit_precision():
    a = {"quota": {"rate_per_s": 2.0, "window_s": 10.0, "limit": 20}}
    b = {"quota": {"rate_per_s": 1.998, "window_s": 10.4, "limit": 21}}
    rows = {r["key"]: r for r in quota_rows(a, b)}
    assert (rows["rate_per_s"]["a"], rows["rate_per_s"]["b"]) == ("2", "1.998")
    assert not rows["rate_per_s"]["differs"]  # within 3%
    assert rows["window_s"]["differs"] and rows["limit"]["differs"]  # 4%, and a count


def _runs(reports: Path, plan: list[tuple[str, str]]) -> dict[str, Path]:
    """Run folders named and of the scenarios given, oldest first."""
    import os

    made = {}
    for i, (name, scenario) in enumerate(plan):
        folder = reports / name
        (folder / "events").mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({"scenario": scenario}))
        for p in (folder / "run.json", folder / "events"):
            os.utime(p, (1000 + i, 1000 + i))
        made[name] = folder
    return made


def test_default_pair_is_two_runs_of_one_scenario(tmp_path):
    """After two demos the newest runs are a tight loop and a sweep (and tune's live-check
    runs): the default pairs the two tight loops."""
    import os

    from analysis.store import RunError, comparable_runs
    reports = tmp_path / "reports"
    made = _runs(reports, [("1-tight", "tight_loop"), ("1-sweep", "sweep"),
                           ("2-sweep", "sweep"), ("2-tight", "tight_loop"),
                           ("2-tight-tune-live", "backoff")])
    assert comparable_runs(reports) == (made["1-tight"], made["2-tight"], None)
    assert comparable_runs(reports, made["1-sweep"]) == (made["1-sweep"], made["2-sweep"],
                                                         None)
    (made["1-tight"] / "run.json").write_text(json.dumps({"scenario": "probe"}))
    os.utime(made["1-tight"] / "run.json", (1000, 1000))
    # report and tune without a run name take the user's newest run, not tune's live check
    from analysis.store import newest_run
    assert newest_run(reports) == made["2-tight"]
    # no other tight loop: never a sweep beside it, but the newest two runs of one scenario,
    # saying why the newest run was passed over
    a, b, note = comparable_runs(reports)
    assert (a, b) == (made["1-sweep"], made["2-sweep"])
    assert "2-tight (tight_loop), has no other run of its scenario" in note
    with pytest.raises(RunError, match="no other run of 2-tight's scenario \\(tight_loop\\)"):
        comparable_runs(reports, made["2-tight"])


def test_no_two_runs_of_one_scenario_is_an_error_not_a_mixed_pair(tmp_path):
    """The issue's case: a sweep and a probe, and `make compare` paired them."""
    from analysis.store import RunError, comparable_runs
    reports = tmp_path / "reports"
    made = _runs(reports, [("sweep", "sweep"), ("probe", "probe")])
    from .test_report import write_events
    write_events(made["probe"] / "events" / "w.arrows", [])
    with pytest.raises(RunError, match=r"no two of one scenario \(sweep: 1, probe: 1\)"):
        comparable_runs(reports)
    proc = analysis("compare", "--reports", reports)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "comparing needs two runs of one scenario" in proc.stderr
    assert not list(reports.glob("compare-*.html"))
    proc = analysis("compare", made["probe"], "--reports", reports)
    assert proc.returncode == 2 and "no other run of probe's scenario (probe)" in proc.stderr
