"""`python -m locustfiles.run`, the runner of every make load target: every setting is checked
before anything starts, a run that failed says so (terminal, exit code, the report's page),
Ctrl-C stops it cleanly, and nothing it started outlives it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.launch import free_port
from ..runs import ROOT, answered, env_without_target, rows

RUNNER = [sys.executable, "-m", "locustfiles.run"]
FAST = ["--gateway-set", "latency.ttft_ms=5", "--gateway-set", "latency.per_token_ms=0"]


def runner(scenario, run_dir, *args, locust_args=(), env=None, timeout=180):
    cmd = [*RUNNER, scenario, "--run-dir", str(run_dir), *args]
    if locust_args:
        cmd += ["--", *locust_args]
    return subprocess.run(cmd, env=env or env_without_target(), capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def report(run_dir):
    return subprocess.run([sys.executable, "-m", "analysis", "report", str(run_dir)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.mark.parametrize("scenario, args, locust_args, message", [
    ("tight_loop", ["--duration", "0s"], [], "a run must last more than 0 s"),
    ("tight_loop", ["--duration", "9999h"], [], "over the 24 h maximum of one run"),
    ("tight_loop", ["--duration", "abc"], [], "'abc' is not a duration"),
    ("tight_loop", ["--users", "0"], [], "argument --users: must be >= 1, not 0"),
    ("tight_loop", ["--spawn-rate", "0"], [], "argument --spawn-rate: must be > 0, not 0"),
    ("tight_loop", ["--profile", "nope"], [], "unknown profile 'nope'"),
    ("tight_loop", ["--gateway-set", "quota.limit=-3"], [], "--profile default"),
    ("tight_loop", [], ["--timeout", "0"], "argument --timeout: must be > 0, not 0"),
    ("tight_loop", [], ["--max-requests", "0"], "argument --max-requests: must be >= 1"),
    ("tight_loop", [], ["--fail-ratio", "2"], "argument --fail-ratio: must be between 0 and 1"),
    ("tight_loop", [], ["-t", "0s"], "--run-time 0 s"),
    ("tight_loop", [], ["--no-such-option"], "unrecognized arguments: --no-such-option"),
    ("sweep", ["--duration", "auto"], ["--rates", "2,abc"], "argument --rates: 'abc' is not"),
    ("sweep", ["--duration", "auto"], ["--step-s", "0"], "argument --step-s: must be > 0"),
    ("sweep", ["--duration", "auto"], ["--rates", "0,0"], "no rate above 0"),
    ("sweep", ["--duration", "auto"], ["--rates", "1", "--step-s", "90000"],
     "must be at most 86400 s"),
    ("spike", ["--duration", "auto"], ["--spike-users", "0"], "--spike-users: must be >= 1"),
    ("spike_open", ["--duration", "auto"], ["--spike-s", "-1"], "--spike-s: must be > 0"),
    ("tight_loop", ["--duration", "auto"], [], "tight_loop has no plan of its own"),
    ("probe", ["--duration", "10m"], ["--burst-wave", "0"], "--burst-wave: must be >= 1"),
    ("probe", ["--duration", "auto"], ["--budget-s", "0"], "--budget-s: must be > 0, not 0"),
    ("probe", ["--duration", "auto"], ["--budget-s", "1e6"],
     "--budget-s: must be between 5 and 3600 s"),
    ("probe", ["--duration", "auto"], ["--request-cap", "3"],
     "--request-cap: must be between 10 and 100000"),
    ("backoff", ["--duration", "1m"], ["--offered", "nan"], "--offered: must be > 0, not nan"),
    ("no_such_scenario", [], [], "no scenario 'no_such_scenario'"),
])
def test_a_bad_setting_stops_before_a_gateway_or_a_run_folder(tmp_path, scenario, args,
                                                               locust_args, message):
    run_dir = tmp_path / "run"
    proc = runner(scenario, run_dir, *args, locust_args=locust_args, timeout=90)
    assert proc.returncode == 2, (proc.stdout[-2000:], proc.stderr[-2000:])
    assert message in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "reference gateway" not in proc.stdout  # none was started
    assert not run_dir.exists()


def test_an_existing_run_folder_is_not_mixed_into(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "events").mkdir(parents=True)
    proc = runner("tight_loop", run_dir, "--duration", "5s", timeout=90)
    assert proc.returncode == 2 and "already holds a run" in proc.stderr
    assert list((run_dir / "events").iterdir()) == []


def outcome_counts(run_dir) -> dict:
    counts: dict = {}
    for r in rows(run_dir):
        by = counts.setdefault(r["endpoint"], {})
        by[r["outcome"]] = by.get(r["outcome"], 0) + 1
    return counts


def table_counts(stdout: str) -> dict:
    """The runner's outcome table read back: endpoint -> outcome -> count."""
    lines = stdout.split("(counted from its events)\n", 1)[1].splitlines()
    header = lines[0].split()
    out = {}
    for line in lines[1:]:
        cells = line.split()
        if not cells or not cells[0].startswith("/v1/"):
            break
        values = [int(c.replace(",", "")) for c in cells[1:]]
        assert values[0] == sum(values[1:])  # attempts is the sum of the outcomes
        out[cells[0]] = {o: n for o, n in zip(header[2:], values[1:]) if n}
    return out


def test_a_revoked_key_fails_the_run_on_the_terminal_and_on_the_page(tmp_path):
    run_dir = tmp_path / "run"
    proc = runner("tight_loop", run_dir, "--users", "1", "--duration", "3s", *FAST,
                  env=env_without_target(PINAIVU_API_KEY="pk-revoked-0000"))
    assert proc.returncode == 1, proc.stderr[-2000:]
    counts = outcome_counts(run_dir)
    # An attempt Locust cancels at shutdown is recorded too, as a transport error that says
    # so (the harness stopping, not the target answering): every other attempt was a 401.
    # (A CI run once met one: tests/locustfiles/test_bad_targets.py allows for it the same way.)
    done = answered([r for r in rows(run_dir) if r["endpoint"] == "/v1/chat/completions"])
    assert done and {r["outcome"] for r in done} == {"unauthorized"}
    chat = counts["/v1/chat/completions"]
    assert set(chat) <= {"unauthorized", "transport_error"}
    assert table_counts(proc.stdout) == counts
    # The reason names every failed attempt, the cancelled one too when there was one (a CI
    # run printed "(5,219 unauthorized, 1 transport_error)").
    failed: dict[str, int] = {}
    for by in counts.values():  # every endpoint (the run's first GET /v1/models is a 401 too)
        for o, n in by.items():
            failed[o] = failed.get(o, 0) + n
    detail = ", ".join(f"{n:,} {o}" for o, n in sorted(failed.items(), key=lambda kv: -kv[1]))
    assert "run: FAILED: " in proc.stderr
    assert f"({detail}), over the failure ratio 0.05" in proc.stderr, proc.stderr[-1000:]
    assert f"run: next: make report RUN={run_dir}" in proc.stdout
    page = report(run_dir)
    assert page.returncode == 1, page.stderr[-2000:]
    assert "analysis: this run FAILED:" in page.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert len(summary["failures"]) == 1 and "unauthorized" in summary["failures"][0]
    html = (run_dir / "index.html").read_text()
    assert '<div class="failed" id="failed"' in html
    assert html.index('id="failed"') < html.index('id="verdict"')  # at the top


def test_a_target_that_refuses_connections_fails_the_run(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    proc = runner("tight_loop", tmp_path / "run", "--users", "1", "--duration", "2s",
                  env=env_without_target(PINAIVU_BASE_URL=dead, PINAIVU_API_KEY="pk-x-1234"))
    assert proc.returncode == 1
    failed = [ln for ln in proc.stderr.splitlines() if ln.startswith("run: FAILED: ")]
    assert len(failed) == 1 and "transport_error" in failed[0] and \
        "over the failure ratio 0.05" in failed[0]


def test_a_healthy_run_says_ok_and_its_table_is_the_events(tmp_path):
    run_dir = tmp_path / "run"
    proc = runner("tight_loop", run_dir, "--users", "2", "--duration", "3s", *FAST)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "run: ok" in proc.stdout and "FAILED" not in proc.stderr
    counts = outcome_counts(run_dir)
    assert table_counts(proc.stdout) == counts
    assert counts["/v1/chat/completions"]["rate_limited"] > 0  # 429s are data, not failures


# --- stopping --------------------------------------------------------------------------------

def _alive(pid: int, cmdline: bytes) -> bool:
    """The process is running (a zombie, or another process reusing the pid, is not it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z" and Path(f"/proc/{pid}/cmdline").read_bytes() == cmdline
    except (OSError, IndexError):
        return False


def _children(pid: int) -> dict[int, bytes]:
    kids = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            kids[int(child)] = Path(f"/proc/{child}/cmdline").read_bytes()
    return kids


def _wait_for(check, what: str, limit_s: float = 120.0):
    """Poll until check() is true; the bound only ends a test that would hang."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}")


def start_runner(run_dir, *args):
    proc = subprocess.Popen([*RUNNER, "tight_loop", "--users", "2", "--duration", "10m",
                             "--run-dir", str(run_dir), *FAST, *args], env=env_without_target(),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group, as a terminal's job
    _wait_for(lambda: rows(run_dir) if (run_dir / "events").is_dir() else None,
              "the first events")
    kids = _children(proc.pid)
    assert len(kids) == 2 and any(b"gateway" in c for c in kids.values()) and \
        any(b"locust" in c for c in kids.values()), kids
    return proc, kids


def test_ctrl_c_stops_the_run_cleanly_and_the_report_says_it_was_cut_short(tmp_path):
    run_dir = tmp_path / "run"
    proc, kids = start_runner(run_dir)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["complete"] is False and manifest["stop_reason"] == "stopped by the user"
    assert "run: FAILED: the run was cut short (stopped by the user after" in err
    assert table_counts(out) == outcome_counts(run_dir)
    assert not any(_alive(pid, cmd) for pid, cmd in kids.items())
    page = report(run_dir)
    assert page.returncode == 1
    html = (run_dir / "index.html").read_text()
    assert "the run was cut short (stopped by the user after" in html


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_nothing_the_runner_started_outlives_it(tmp_path, sig):
    proc, kids = start_runner(tmp_path / "run")
    proc.send_signal(sig)  # the runner alone, not its process group
    proc.communicate(timeout=120)
    _wait_for(lambda: not any(_alive(pid, cmd) for pid, cmd in kids.items()),
              "the gateway and Locust to exit")
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["complete"] is False
    assert manifest["stop_reason"] == ("stopped by SIGTERM" if sig == signal.SIGTERM else
                                       f"its runner (pid {proc.pid}) exited")


def test_duration_auto_is_the_scenarios_plan_plus_a_margin(tmp_path):
    run_dir = tmp_path / "run"
    proc = runner("sweep", run_dir, "--users", "1", "--duration", "auto", *FAST,
                  locust_args=["--rates", "3,6", "--step-s", "2"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["options"]["run_time"] == 2 * 2 + 5  # two steps of 2 s, plus 5 s
    assert manifest["complete"] is True  # it ended by itself, at the end of its schedule
    assert {r["phase"] for r in rows(run_dir) if r["endpoint"] == "/v1/chat/completions"} \
        == {"rate=3", "rate=6"}


@pytest.mark.parametrize("sig, reason", [(signal.SIGINT, "stopped by the user"),
                                         (signal.SIGTERM, "stopped by SIGTERM")])
def test_locust_on_its_own_stopped_by_a_signal_says_so(gateway_factory, tmp_path, sig, reason):
    gw = gateway_factory("default", ["latency.ttft_ms=5", "latency.per_token_ms=0"])
    run_dir = tmp_path / "run"
    env = env_without_target(PINAIVU_BASE_URL=gw.base_url, PINAIVU_API_KEY="pk-demo-alice-0001")
    proc = subprocess.Popen([sys.executable, "-m", "locust", "-f",
                             str(ROOT / "locustfiles" / "tight_loop.py"), "--headless", "-u", "2",
                             "-t", "10m", "--run-dir", str(run_dir), "--only-summary"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)
    _wait_for(lambda: rows(run_dir) if (run_dir / "events").is_dir() else None,
              "the first events")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" not in err, err[-3000:]
    manifest = json.loads((run_dir / "run.json").read_text())
    assert (manifest["complete"], manifest["stop_reason"]) == (False, reason)
    assert f"pinaivu: run failed: the run was cut short ({reason} after" in err


def test_the_runner_with_processes_ends_and_counts_every_process(tmp_path):
    # the check runs in one process, and forked workers watch their master, not the runner
    run_dir = tmp_path / "run"
    proc = runner("tight_loop", run_dir, "--users", "4", "--duration", "4s", *FAST,
                  locust_args=["--processes", "2"], timeout=150)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(list((run_dir / "events").glob("*.arrows"))) == 2
    assert table_counts(proc.stdout) == outcome_counts(run_dir)
