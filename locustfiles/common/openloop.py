"""The open-loop user: runs its share of an arrival schedule, then stops.

With --processes N each process's users take their share by worker index (the forked workers
know N). Across machines (--master/--worker), set PINAIVU_WORKERS to the number of workers on
every worker so that the shares do not overlap.
"""

from __future__ import annotations

import os
import time

import gevent
from locust import events, task
from locust.exception import StopUser
from locust.runners import LocalRunner, WorkerRunner

from . import options as checked
from .arrivals import Step, arrival_offsets, run_open_loop
from .user import PinaivuUser

_finished = 0


def schedule_done(environment) -> None:
    """A user has sent its whole schedule: it stops, and a local run ends when every user
    has; distributed runs end at --run-time (the make targets set it to the schedule's
    length)."""
    global _finished
    _finished += 1
    runner = environment.runner
    if isinstance(runner, LocalRunner) and _finished >= runner.user_count:
        gevent.spawn_later(0.1, runner.quit)
    raise StopUser()


def register_options() -> None:
    @events.init_command_line_parser.add_listener
    def _options(parser):
        g = parser.add_argument_group("open-loop arrivals")
        g.add_argument("--arrivals", choices=["constant", "poisson"], default="constant")
        g.add_argument("--seed", type=checked.non_negative_int, default=0, help="seed of the Poisson arrivals")
        g.add_argument("--max-in-flight", type=checked.positive_int, default=1000,
                       help="outstanding requests per user before the schedule waits")


def _process_share(environment) -> tuple[int, int]:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        total = int(getattr(environment.parsed_options, "processes", 0) or 0)
        total = max(total, int(os.environ.get("PINAIVU_WORKERS", "1")))
        return runner.worker_index, max(1, total)
    return 0, 1


class OpenLoopUser(PinaivuUser):
    abstract = True
    concurrency = 500  # connections one user may hold: arrivals do not wait for each other

    def steps(self) -> list[Step]:
        raise NotImplementedError

    @task
    def run_schedule(self) -> None:
        opts = self.environment.parsed_options
        proc, procs = _process_share(self.environment)
        users = max(1, int(getattr(opts, "num_users", 1) or 1))
        index = (self.number * procs + proc) % users
        offsets = arrival_offsets(self.steps(), opts.arrivals, users=users, index=index,
                                  seed=opts.seed)
        run_open_loop(lambda phase, ts: self.chat(phase=phase, intended_ts=ts), offsets,
                      start=time.time() + 0.05, max_in_flight=opts.max_in_flight,
                      stop=self.cap_spent)
        schedule_done(self.environment)
