"""Checked option values, shared by the scenarios' options and the runner: a bad value is
refused before anything starts, with a message that says what is wrong.

The checkers are argparse `type=` functions (what Locust's own options use), so Locust reports
a bad value the usual way: `error: argument --step-s: must be > 0, not 0`. Standard library
only: the runner imports this without Locust.
"""

from __future__ import annotations

import argparse
import math
import re

USER_STOP = "stopped by the user"  # run.json's stop_reason after Ctrl-C
# Set by `python -m locustfiles.run` for its Locust child: the child stops when the runner is
# gone (killed, even with SIGKILL), rather than loading the target with nobody to stop it.
RUNNER_PID_ENV = "PINAIVU_RUNNER_PID"
# No run may be longer than this: a typo such as 9999h would otherwise load a server for
# months. A soak test longer than a day is not what this harness is for.
MAX_RUN_S = 24 * 3600
_SPAN = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: str) -> float:
    """'30s', '2m', '1h30m', '90' (seconds) -> seconds; ValueError unless 0 < d <= 24h."""
    raw = str(text).strip().lower()
    try:
        seconds = float(raw)
    except ValueError:
        m = _SPAN.match(raw)
        if not raw or not m or not any(m.groups()):
            raise ValueError(f"{text!r} is not a duration (e.g. 30s, 2m, 1h30m)") from None
        h, mi, s = m.groups()
        seconds = int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{text!r}: a run must last more than 0 s (a run time of 0 means no "
                         "end to Locust)")
    if seconds > MAX_RUN_S:
        raise ValueError(f"{text!r} is over the {MAX_RUN_S // 3600} h maximum of one run")
    return seconds


def check_run_time(run_time) -> None:
    """Locust's -t in seconds: 0 means no end to Locust, and a typo such as 9999h a run of
    months; both are refused (None, no -t, is Locust's run until stopped)."""
    if run_time is not None and not 0 < run_time <= MAX_RUN_S:
        raise ValueError(f"--run-time {run_time} s: a run lasts more than 0 s and at most "
                         f"{MAX_RUN_S // 3600} h")


def _number(kind, check, words):
    def convert(text):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if (kind is float and not math.isfinite(value)) or not check(value):
            raise argparse.ArgumentTypeError(f"must be {words}, not {text}")
        return value
    convert.__name__ = f"{kind.__name__} ({words})"
    return convert


positive_float = _number(float, lambda v: v > 0, "> 0")
non_negative_float = _number(float, lambda v: v >= 0, ">= 0")
positive_int = _number(int, lambda v: v >= 1, ">= 1")
non_negative_int = _number(int, lambda v: v >= 0, ">= 0")
fraction = _number(float, lambda v: 0 <= v <= 1, "between 0 and 1")


def seconds_within_a_run(text):
    """A phase or step length: > 0 and at most a run's maximum."""
    value = positive_float(text)
    if value > MAX_RUN_S:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_RUN_S} s, not {text}")
    return value


def rates_list(text: str) -> str:
    """--rates: comma-separated arrival rates, each a finite number >= 0, at least one > 0."""
    parts = [p.strip() for p in str(text).split(",")]
    for p in parts:
        non_negative_float(p)
    if not any(float(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r}: no rate above 0, nothing would be sent")
    return text


def probe_budget_s(text):
    """--budget-s: the probe's time budget, at least 5 s (a burst and one wait) and at most an
    hour (the probe settles in three windows; an hour is a typo's, not a plan's)."""
    value = positive_float(text)
    if not 5 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"must be between 5 and 3600 s, not {text}")
    return value


def probe_request_cap(text):
    """--request-cap: at least 10 requests (a burst and a wait) and at most 100000."""
    value = positive_int(text)
    if not 10 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"must be between 10 and 100000, not {text}")
    return value


# The probe's bursts: more than this many greenlets in flight at once from one user tell no
# more about a limiter and make the probe's own timing the thing measured.
PROBE_MAX_WAVE = 64


def probe_burst_wave(text):
    """--burst-wave: requests sent at once in a wave of the probe's burst, 1 to 64."""
    value = positive_int(text)
    if value > PROBE_MAX_WAVE:
        raise argparse.ArgumentTypeError(f"must be between 1 and {PROBE_MAX_WAVE}, not {text}")
    return value


def probe_burst_max(text):
    """--burst-max: most requests in one burst, 1 to 100000 (the most --request-cap allows;
    the probe also refuses one above the cap it was given)."""
    value = positive_int(text)
    if value > 100_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 100000, not {text}")
    return value
