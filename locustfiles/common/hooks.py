"""Listener registration shared by every scenario: options, target, run folder, recorder,
how the run ends and its exit code.

A locustfile calls `register("<scenario>")` at import; nothing else runs at import.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import os
import platform
import re
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

import gevent
import locust
from locust import events
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from contract import run_health
from contract.events import SCHEMA_VERSION
from contract.run_folder import (EVENTS_DIR, LOCUST_DIR, MANIFEST, RUN_DIR_HELP, default_run_dir,
                                 events_path, write_json_atomic)
from contract.target import Target, TargetError, load_target, require_loopback_for_load

from . import options as checked
from .options import RUNNER_PID_ENV
from .recorder import Recorder, request_outcome
from .run_end import StopReason, stats_counts, write_final_csv
from .user import CapReached, PinaivuUser, RequestCap

log = logging.getLogger("pinaivu")
HARNESS_VERSION = "0.1.0"
DEFAULT_STOP_TIMEOUT_S = 10.0
# A run against a real gateway spends real quota: it stops after this many requests per
# process unless --max-requests says otherwise.
REMOTE_MAX_REQUESTS = 1000
# Options whose values may be credentials (the web UI's login, a TLS key) stay out of run.json.
SECRET_OPTION = re.compile(r"auth|key|password|secret|token", re.I)


class _State:
    run_dir: Path | None = None
    recorder: Recorder | None = None
    flusher = None
    manifest: dict = {}
    harness_errors = 0
    counts: dict = {}  # endpoint -> outcome -> attempts, as the events record them
    stop = StopReason()
    host_seen: str | None = None


def register(scenario: str, planned_s=None) -> None:
    """`planned_s(parsed_options)`: how long the scenario's own plan lasts (None when it has
    none), for the runner's --duration auto and a warning when -t cuts the plan short."""

    @events.init_command_line_parser.add_listener
    def _options(parser):
        g = parser.add_argument_group("Pinaivu harness")
        g.add_argument("--run-dir", default=None, help=RUN_DIR_HELP)
        g.add_argument("--model", default="", help="model id (default: first of /v1/models)")
        g.add_argument("--stream", action="store_true", help="stream completions (SSE)")
        g.add_argument("--max-tokens", type=checked.positive_int, default=None)
        g.add_argument("--timeout", type=checked.positive_float, default=60.0,
                       help="seconds to wait for a response before recording a timeout")
        g.add_argument("--fail-ratio", type=checked.fraction, default=None,
                       help="the run fails (exit code 1) when more than this fraction of "
                            "attempts fails for reasons other than 429 and 503 (default "
                            f"{run_health.DEFAULT_FAIL_RATIO:g})")
        g.add_argument("--no-record", action="store_true",
                       help="for benchmarks/recorder_overhead.py only: keep no events")
        g.add_argument("--allow-remote-target", action="store_true",
                       help="let load go to a target that is not on loopback")
        g.add_argument("--max-requests", type=checked.positive_int, default=None,
                       help="stop the run after this many requests per process (default: no "
                            f"cap on loopback, {REMOTE_MAX_REQUESTS} for a remote target)")
        g.add_argument("--check-only", action="store_true",
                       help="check every option and the target's settings, print the plan as "
                            "JSON and exit without sending anything (the runner's pre-flight)")

    @events.init.add_listener
    def _init(environment, **_):
        opts = environment.parsed_options
        try:
            checked.check_run_time(getattr(opts, "run_time", None))
            target = resolve_target(environment.host, opts)
        except (TargetError, ValueError) as exc:
            _refuse(str(exc))
        if opts is not None and opts.check_only:
            plan = planned_s(opts) if planned_s else None
            sys.stdout.write(json.dumps({"scenario": scenario, "planned_s": plan,
                                         "target": target.base_url}) + "\n")
            sys.stdout.flush()
            os._exit(0)
        _warn_if_cut_short(opts, planned_s(opts) if planned_s else None)
        for w in target.warnings():
            log.warning(w)
        PinaivuUser.target = target
        _State.host_seen = environment.host
        if not environment.host:  # the web UI's Host field then shows where the load goes
            for cls in environment.user_classes:
                cls.host = target.base_url
        cap = _request_cap(environment, target)
        if not environment.stop_timeout:
            # Locust's default kills users mid-request on a ramp-down or at the end; an attempt
            # the server counted would then be missing. Let them finish (bounded).
            environment.stop_timeout = DEFAULT_STOP_TIMEOUT_S
        run_dir = Path((opts.run_dir if opts else None) or default_run_dir(scenario))
        _State.run_dir = run_dir
        (run_dir / EVENTS_DIR).mkdir(parents=True, exist_ok=True)
        (run_dir / LOCUST_DIR).mkdir(parents=True, exist_ok=True)
        run_id = run_dir.name
        runner = environment.runner
        if not isinstance(runner, WorkerRunner):
            _State.manifest = {
                "schema_version": SCHEMA_VERSION, "run_id": run_id, "scenario": scenario,
                "target": target.base_url, "key_ids": target.key_ids,
                "options": {k: v for k, v in vars(opts).items()
                            if not SECRET_OPTION.search(k)} if opts else {},
                "versions": {"harness": HARNESS_VERSION, "locust": locust.__version__,
                             "python": platform.python_version()},
                "start": dt.datetime.now(dt.UTC).isoformat(), "end": None, "complete": False,
                "stop_reason": None, "max_requests_per_process": cap or None,
            }
            write_json_atomic(run_dir / MANIFEST, _State.manifest)
        if not isinstance(runner, WorkerRunner):  # workers stop when their master says
            _State.stop.watch_sigint(environment)
        _State.stop.watch_runner(environment)
        environment.events.request.add_listener(_count_outcome)
        PinaivuUser.recording = False
        if not isinstance(runner, MasterRunner) and not (opts and opts.no_record):
            worker = f"{socket.gethostname()}-{os.getpid()}"
            _State.recorder = Recorder(events_path(run_dir, worker), run_id=run_id,
                                       worker=worker, scenario=scenario)
            environment.events.request.add_listener(_State.recorder.on_request)
            PinaivuUser.recording = True  # the users finish each row for it
            _State.flusher = gevent.spawn(_flush_every_second)
        # Everything imported so far (Locust, gevent, pyarrow) lives for the whole run: out
        # of the collector's reach, the full collections that the load's short-lived objects
        # trigger no longer walk it. (Locust does the same before it forks --processes.)
        gc.collect()
        gc.freeze()
        # Nothing above lets the loop run, so its clock is stale by the time the recorder
        # and the run folder took: Locust's -t timer, started next from that clock, would
        # cut the load short by the wait.
        gevent.get_hub().loop.update_now()

    @events.test_start.add_listener
    def _start(environment, **_):
        """The web UI's Host field sets environment.host for each start: the load goes there
        (within the same loopback rule), not to the target resolved at init."""
        if environment.host == _State.host_seen:
            return
        _State.host_seen = environment.host
        try:
            target = resolve_target(environment.host, environment.parsed_options)
        except TargetError as exc:
            log.error("pinaivu: %s: nothing is sent", exc)
            PinaivuUser.cap = RequestCap(0, lambda: None)  # every user stops before a send
            gevent.spawn(environment.runner.stop)
            return
        PinaivuUser.target = target
        _request_cap(environment, target)
        _State.manifest.update(target=target.base_url)

    @events.test_stop.add_listener
    def _stop(environment, **_):
        if _State.recorder is not None:
            _State.recorder.flush()

    @events.quitting.add_listener
    def _quitting(environment, **_):
        runner = environment.runner
        if isinstance(runner, LocalRunner) and runner.state in ("spawning", "running"):
            # Ctrl-C: Locust fires `quitting` before it stops the users; their requests in
            # flight finish (--stop-timeout) and are recorded before the recorder closes.
            runner.stop()
        opts = environment.parsed_options
        if not isinstance(runner, WorkerRunner) and opts is not None and opts.csv_prefix:
            write_final_csv(environment, opts.csv_prefix)
        rec = _State.recorder
        if rec is not None:
            if _State.flusher is not None:
                _State.flusher.kill(block=False)
            rec.close()
            _State.harness_errors += rec.errors
        if not isinstance(runner, WorkerRunner) and _State.run_dir is not None:
            _State.manifest.update(
                end=dt.datetime.now(dt.UTC).isoformat(), complete=_State.stop.reason is None,
                stop_reason=_State.stop.reason,
                harness_errors=_State.harness_errors + len(runner.exceptions))
            write_json_atomic(_State.run_dir / MANIFEST, _State.manifest)
            environment.process_exit_code = _exit_code(environment)


def resolve_target(host: str | None, opts) -> Target:
    """The target from PINAIVU_BASE_URL, or from Locust's host (--host, the web UI's Host
    field) when one is given: a root URL gets the API's /v1. Keys always come from the
    environment. Load only goes to loopback unless --allow-remote-target."""
    env_target = load_target()
    target = env_target
    if host:
        base = host.strip().rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TargetError(f"host {host!r} is not an http(s) URL")
        target = Target(base if parts.path else base + "/v1", env_target.keys)
    if opts is not None:
        require_loopback_for_load(target, opts.allow_remote_target)
    return target


def _warn_if_cut_short(opts, plan: float | None) -> None:
    run_time = getattr(opts, "run_time", None)
    if plan and run_time and run_time < plan:
        log.warning("pinaivu: --run-time %s s ends the run before the scenario's plan "
                    "(%.0f s) is done", run_time, plan)


def _refuse(message: str) -> None:
    sys.stderr.write(f"pinaivu: {message}\n")
    sys.stderr.flush()
    os._exit(2)  # before any load starts; an exception here would only be logged


def _count_outcome(context=None, name=None, exception=None, response=None, **_) -> None:
    ctx = context or {}
    outcome = ctx.get("outcome") or request_outcome(
        int(getattr(response, "status_code", 0) or 0), ctx, exception)
    by = _State.counts.setdefault(ctx.get("endpoint") or str(name), {})
    by[outcome] = by.get(outcome, 0) + 1


def _request_cap(environment, target) -> int:
    """Stop the run after --max-requests requests in this process (0: no cap). The cap is
    taken before each send (`RequestCap`): requests in flight when it is reached finish, and
    nothing more is sent."""
    opts = environment.parsed_options
    cap = getattr(opts, "max_requests", None)
    if cap is None:
        cap = 0 if target.is_loopback else REMOTE_MAX_REQUESTS
    PinaivuUser.cap = None
    if cap <= 0 or isinstance(environment.runner, MasterRunner):
        return max(cap, 0)

    def reached() -> None:
        log.warning("pinaivu: %d requests sent (--max-requests): stopping the run", cap)
        gevent.spawn(environment.runner.quit)

    PinaivuUser.cap = RequestCap(cap, reached)
    # A request's own greenlet (open-loop arrivals, backoff retries, the probe's waves) ends
    # on the cap: not an error to print.
    hub = gevent.get_hub()
    if CapReached not in hub.NOT_ERROR:
        hub.NOT_ERROR = (*hub.NOT_ERROR, CapReached)
    return cap


def run_folder() -> Path | None:
    """This run's folder (--run-dir, or the default chosen at init): where a scenario writes
    files of its own, such as the probe's probe.json."""
    return _State.run_dir


def note(key: str, value) -> None:
    """Add a fact to run.json (written when the run ends): what a scenario planned, for
    example how many logical requests it scheduled."""
    _State.manifest[key] = value


def _flush_every_second() -> None:
    while True:
        gevent.sleep(1.0)
        try:
            _State.recorder.flush()
        except Exception:
            _State.harness_errors += 1
            log.exception("recorder: flush failed")


def _exit_code(environment) -> int:
    """1 when the run failed by analysis.run_health's rule (the runner's and the report's)."""
    counts = stats_counts(environment.stats) if isinstance(environment.runner, MasterRunner) \
        else _State.counts
    reasons = run_health.failure_reasons(_State.manifest, counts)
    if reasons and not os.environ.get(RUNNER_PID_ENV):  # the runner prints them itself
        for r in reasons:
            sys.stderr.write(f"pinaivu: run failed: {r}\n")
    return 1 if reasons else 0
