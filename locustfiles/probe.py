"""Probe: find out which limiter the target runs, by experiment, with one user, in bounded time.

The probe keeps the hypotheses the evidence so far allows (families: fixed window anchored at
the first request or on the clock, sliding log, sliding counter, token bucket, concurrency,
shaping, none; modifiers: refusals counted, a lockout; scope: per key or global) and runs the
step that best separates them (locustfiles/common/probe_reasoning.py picks it, probe_rules
says what each result rules out): a burst after idle, a tight loop, a polite client that
waits exactly the stated Retry-After, single requests after growing gaps, admissions split
across a window, pacing just under and over a bucket's rate, a concurrency ramp, a burst into
a queue, one request on every other key while this one is refused, every other key's
reopening on the clock. Every request carries its step's name as its `phase`.

It stops by itself once nothing left can be told apart, or at --budget-s or --request-cap,
printing one line per step (what it tried, what it learned, what is still open) and writing
probe.json into the run folder after every step (contract/probe_log.py).

    make probe                       # against the reference gateway, PROFILE=...
    python -m locustfiles.run probe --profile token-bucket --users 1 --duration auto
"""

from __future__ import annotations

import time

import gevent
from locust import constant, events, task
from locust.exception import StopUser
from locust.runners import LocalRunner

from contract.probe_log import SCHEMA_VERSION, write_probe_log
from locustfiles.common import hooks
from locustfiles.common import options as checked
from locustfiles.common import probe_steps as steps
from locustfiles.common import probe_steps_parallel as parallel
from locustfiles.common.probe_hypotheses import Knowledge
from locustfiles.common.probe_reasoning import next_step, verdict
from locustfiles.common.probe_rules import learn, refill_idle_s
from locustfiles.common.user import CapReached, PinaivuUser

# The runner's --duration auto: the budget plus this, for the start-up and the last replies.
STOP_MARGIN_S = 10.0

hooks.register("probe", planned_s=lambda o: o.budget_s + STOP_MARGIN_S)


@events.init_command_line_parser.add_listener
def _options(parser):
    g = parser.add_argument_group("probe")
    g.add_argument("--budget-s", type=checked.probe_budget_s, default=150.0,
                   help="stop after this many seconds, settled or not (default %(default)s)")
    g.add_argument("--request-cap", type=checked.probe_request_cap, default=3000,
                   help="stop after sending this many requests (default %(default)s)")
    g.add_argument("--idle-s", type=checked.non_negative_float, default=2.0,
                   help="idle before the first burst, so that a window or bucket refills")
    g.add_argument("--burst-wave", type=checked.probe_burst_wave, default=8,
                   help="requests sent at once in each wave of a burst (at most 64)")
    g.add_argument("--burst-max", type=checked.probe_burst_max, default=300,
                   help="most requests in one burst, at most --request-cap; none refused by "
                        "then: no limit seen")


TRIED = {
    "idle_burst": lambda k, o: (f"idle {o['idle']:.3g} s, then waves of {o['wave']} at once "
                                "until a wave holds a refusal (a 429, or a 503 at once)"),
    "tight": lambda k, o: ("a sequential loop right after the burst" if k.tight_runs == 0 else
                           "a sequential loop until refused, once reopened" if
                           k.tight_runs == 1 else "a loop that keeps asking through the "
                           "stated wait"),
    "polite": lambda k, o: "one 429, then the same request exactly the stated wait after it",
    "reopen_gap": lambda k, o: "single requests after growing idle gaps",
    "split": lambda k, o: ("half the limit at a window's start, the rest in its middle, then "
                           "keep asking until the next reopening"),
    "pace_under": lambda k, o: "pacing just under the rate seen",
    "pace_over": lambda k, o: "pacing just over the rate seen",
    "concurrency_ramp": lambda k, o: "1, 2, 3, 4, 6, 8, 12, 16 requests in flight at once",
    "shaping_excess": lambda k, o: f"after the queue drained, {parallel.excess(o['wave'], o['most'])} at once",
    "scope_uneven": lambda k, o: "this key over its limit, one request on every other key",
    "clock_phase": lambda k, o: ("every other key to its limit, then a request every "
                                 f"{steps.LOOP_GAP_S:g} s about its stated reopening"),
}


def run_step(name: str, p: steps.Prober, k: Knowledge, opts) -> dict:
    if name == "idle_burst":
        idle = opts.idle_s if k.bursts == 0 else refill_idle_s(k)
        return steps.idle_burst(p, k, idle, opts.burst_wave, opts.burst_max)
    if name == "reopen_gap":
        return steps.reopen_gap(p, k, k.get("polite_ra") or float("nan"))
    if name in ("pace_under", "pace_over"):
        return parallel.pace(p, k, name, 0.8 if name == "pace_under" else 1.25)
    if name == "shaping_excess":
        return parallel.shaping_excess(p, k, parallel.excess(opts.burst_wave, opts.burst_max))
    return getattr(steps if hasattr(steps, name) else parallel, name)(p, k)


class Probe:
    """One probe run: the steps, the log, the lines printed."""

    def __init__(self, user, opts, run_dir) -> None:
        target = PinaivuUser.target
        others = [key for key in target.keys if key != user.api_key] if target else []
        self.opts, self.run_dir = opts, run_dir
        self.started = time.time()
        self.prober = steps.Prober(user, self.started + opts.budget_s, opts.request_cap,
                                   others)
        self.k = Knowledge(keys=1 + len(others))
        self.doc = {"schema_version": SCHEMA_VERSION, "budget_s": float(opts.budget_s),
                    "request_cap": int(opts.request_cap), "started_ts": self.started,
                    "ended_ts": None, "settled": False, "settled_after_s": None,
                    "verdict": "not started", "hypotheses": self.k.hypotheses,
                    "open": self.k.open(), "steps": []}

    def run(self) -> None:
        stopped = ""
        self._write()
        if self.opts.burst_max > self.opts.request_cap:  # one burst would spend the cap
            self._finish(f"--burst-max {self.opts.burst_max} is over --request-cap "
                         f"{self.opts.request_cap}: give a --burst-max at most the cap")
            return
        try:
            while (name := next_step(self.k)) is not None:
                self._step(name)
        except steps.OutOfBudget as exc:
            stopped = str(exc)
        except CapReached:
            stopped = "--max-requests is spent"
        except Exception as exc:  # a fault of the probe's: the log says so, Locust logs it
            stopped = f"the probe failed: {type(exc).__name__}: {exc}"
            self._finish(stopped)
            raise
        self._finish(stopped)

    def _verdict(self) -> str:
        """The verdict, or why there is none: a fault in the reasoning must not keep the
        probe from writing its end."""
        try:
            return verdict(self.k)
        except Exception as exc:  # noqa: BLE001 - said in the verdict, and raised by run()
            return f"no verdict ({type(exc).__name__}: {exc})"

    def _finish(self, stopped: str) -> None:
        k, now = self.k, time.time()
        settled = not stopped and k.family is not None
        said = self._verdict() if not stopped else f"{self._verdict()} (stopped: {stopped})"
        self.doc.update(ended_ts=now, settled=settled,
                        settled_after_s=round(now - self.started, 3) if settled else None,
                        verdict=said, open=k.open())
        self._write()
        how = f"settled after {now - self.started:.1f} s" if settled else \
            f"not settled ({stopped or 'nothing left could tell the rest apart'})"
        print(f"probe: {how}, {self.prober.sent} requests: {self._verdict()}"
              + (f"; still open: {', '.join(self.doc['open'])}" if self.doc["open"] else ""),
              flush=True)

    def _step(self, name: str) -> None:
        k, p = self.k, self.prober
        o = {"idle": self.opts.idle_s if k.bursts == 0 else refill_idle_s(k),
             "wave": self.opts.burst_wave, "most": self.opts.burst_max}
        tried = TRIED[name](k, o)
        started, before = time.time(), p.sent
        try:
            result = run_step(name, p, k, self.opts)
        except (steps.OutOfBudget, CapReached) as exc:
            self._record(name, started, p.sent - before, tried,
                         f"stopped: {exc or 'the request cap is spent'}", [])
            raise
        learned, ruled_out = learn(k, name, result)
        self._record(name, started, p.sent - before, tried, learned, ruled_out)

    def _record(self, name, started, requests, tried, learned, ruled_out) -> None:
        ended = time.time()
        step = {"index": len(self.doc["steps"]), "name": name, "started_ts": started,
                "ended_ts": ended, "requests": requests, "tried": tried, "learned": learned,
                "ruled_out": list(ruled_out), "open": self.k.open()}
        self.doc["steps"].append(step)
        # unguarded: a fault in the reasoning ends the probe, and run() writes why
        self.doc.update(verdict=verdict(self.k), open=self.k.open())
        self._write()
        print(f"probe: step {step['index']} {name} ({ended - started:.1f} s, {requests} "
              f"requests): tried {tried}; learned {learned}; ruled out "
              f"{', '.join(ruled_out) or 'nothing'}; open: {', '.join(step['open']) or 'nothing'}",
              flush=True)

    def _write(self) -> None:
        if self.run_dir is not None:
            write_probe_log(self.run_dir, self.doc)


class ProbeUser(PinaivuUser):
    fixed_count = 1
    concurrency = 64
    wait_time = constant(0)

    probed = False  # Locust runs a task again after it raised: the probe runs once

    @task
    def probe(self) -> None:
        if not ProbeUser.probed:
            ProbeUser.probed = True
            try:
                Probe(self, self.environment.parsed_options, hooks.run_folder()).run()
            finally:  # a fault of the probe's is Locust's to log and count; the run ends
                runner = self.environment.runner
                if isinstance(runner, LocalRunner):
                    gevent.spawn_later(0.1, runner.quit)
        raise StopUser()  # a distributed run ends at --run-time
