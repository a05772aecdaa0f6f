"""How a run ends: why it stopped early (Ctrl-C, its runner gone), and Locust's own CSV files
brought up to the final counts.
"""

from __future__ import annotations

import atexit
import csv
import io
import logging
import os
import re
import signal
import time
from pathlib import Path

import gevent
from locust import stats as locust_stats
from locust.runners import WorkerRunner

from .options import RUNNER_PID_ENV, USER_STOP

log = logging.getLogger("pinaivu")



class StopReason:
    """Why the run ended before its own end (None: it ran to its end)."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def set(self, reason: str) -> None:
        self.reason = self.reason or reason

    def watch_sigint(self, environment) -> None:
        """Ctrl-C stops the run as its own end would: the users stop (requests in flight
        finish), then Locust writes its files. Handled in a greenlet of its own: Python's
        handler would raise KeyboardInterrupt inside whichever request was running (a
        traceback, and a request lost)."""
        def on_sigint() -> None:
            if self.reason is not None:
                return  # already stopping
            self.set(USER_STOP)
            log.warning("pinaivu: Ctrl-C: stopping the run (requests in flight finish)")
            environment.runner.quit()
            if environment.web_ui is not None:  # the web UI's greenlet is the one Locust joins
                environment.web_ui.stop()
        gevent.signal_handler(signal.SIGINT, on_sigint)
        # Locust's own SIGTERM handler shuts down at once; this one only names the reason
        gevent.signal_handler(signal.SIGTERM, lambda: self.set("stopped by SIGTERM"))

    def watch_runner(self, environment, poll_s: float = 0.5) -> None:
        """Quit when the runner that started this process is gone (its pid is no longer the
        parent's). A poll, not a signal, so that a SIGKILLed runner is noticed too."""
        raw = os.environ.get(RUNNER_PID_ENV, "")
        if not raw.isdigit():
            return
        runner_pid = int(raw)
        if getattr(environment.parsed_options, "processes", None) and \
                isinstance(environment.runner, WorkerRunner):
            runner_pid = os.getppid()  # forked by Locust's master: that is the one to watch

        def watch():
            while os.getppid() == runner_pid:
                gevent.sleep(poll_s)
            self.set(f"its runner (pid {runner_pid}) exited")
            environment.runner.quit()
        gevent.spawn(watch)


def _write_atomic(path: Path, rows) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        rows(csv.writer(f))
    os.replace(tmp, path)


def write_final_csv(environment, prefix: str) -> None:
    """Locust rewrites its --csv files once a second and not when it stops, so a short run's
    CSV misses its last second (or all of it); and its --json-file writer then zeroes the
    per-request statistics, so this runs before it (at `quitting`, once the users stopped).
    The stats, failures and exceptions files are written anew with Locust's own row writers
    (replaced, so that its still-open handles write to the old files); the history's last
    row, in Locust's own format, is appended once Locust has closed the file."""
    w = locust_stats.StatsCSV(environment, locust_stats.PERCENTILES_TO_REPORT)
    base = Path(prefix)
    _write_atomic(base.with_name(base.name + "_stats.csv"), w.requests_csv)
    _write_atomic(base.with_name(base.name + "_failures.csv"), w.failures_csv)
    _write_atomic(base.with_name(base.name + "_exceptions.csv"), w.exceptions_csv)
    history = base.with_name(base.name + "_stats_history.csv")
    w.full_history = bool(getattr(environment.parsed_options, "stats_history_enabled", False))
    last = io.StringIO()
    locust_stats.StatsCSVFileWriter._stats_history_data_rows(w, csv.writer(last), time.time())

    def append_history() -> None:
        if history.is_file():
            with open(history, "a", newline="") as f:
                f.write(last.getvalue())
    atexit.register(append_history)


def stats_counts(stats) -> dict:
    """Outcome counts from Locust's statistics, for a master (its workers hold the events):
    user.py marks each failure with its outcome's name, which reaches the master as the
    text of the exception that carries it, e.g. CatchResponseError('rate_limited')."""
    counts: dict = {}
    for (name, _method), entry in stats.entries.items():
        counts.setdefault(name, {})["ok"] = entry.num_requests - entry.num_failures
    for e in stats.errors.values():
        text = str(e.error)
        named = re.fullmatch(r"\w+\((['\"])(\w+)\1\)", text)
        outcome = named.group(2) if named else text
        by = counts.setdefault(e.name, {})
        by[outcome] = by.get(outcome, 0) + e.occurrences
    return counts
