"""Spike: a closed-loop baseline, a sudden jump in users, and a recovery at the baseline.

Probes what the troubleshooting page calls "a sudden spike in traffic": when 429s and 503s
start, and how fast they clear. A LoadTestShape holds --baseline-users, then --spike-users,
then the baseline again; every row's `phase` says which. The run ends by itself.

    PINAIVU_API_KEY=pk-demo-alice-0001 locust -f locustfiles/spike.py --headless \
        --baseline-users 1 --spike-users 20 --baseline-s 10 --spike-s 10 --recovery-s 20
or `make spike`. The open-loop variant (arrival rates instead of users) is spike_open.py.
"""

import time

from locust import LoadTestShape, between, events, task

from locustfiles.common import hooks, spike_plan
from locustfiles.common import options as checked
from locustfiles.common.user import PinaivuUser

hooks.register("spike", planned_s=spike_plan.planned_s)
spike_plan.register_options()


@events.init_command_line_parser.add_listener
def _options(parser):
    g = parser.add_argument_group("spike users")
    g.add_argument("--baseline-users", type=checked.non_negative_int, default=1)
    g.add_argument("--spike-users", type=checked.positive_int, default=20)
    # A user waits about a second between requests (~0.9 requests/s with a fast reply): the
    # baseline's users stay under the default profile's 2/s per key, and 20 spike users on
    # three keys go well over it.
    g.add_argument("--think-s", type=checked.non_negative_float, default=1.0,
                   help="mean wait between requests")


_started = {"at": None}


@events.test_start.add_listener
def _test_start(**_):
    _started["at"] = time.time()


class SpikeUser(PinaivuUser):
    def wait_time(self):
        think = self.environment.parsed_options.think_s
        return between(think * 0.5, think * 1.5)(self)

    @task
    def completion(self) -> None:
        opts = self.environment.parsed_options
        elapsed = time.time() - (_started["at"] or time.time())
        # Past the plan's end users keep the recovery load until the shape's next tick (up to
        # a second) stops them, so those requests belong to the recovery.
        self.chat(phase=spike_plan.phase_at(opts, elapsed) or spike_plan.PHASES[-1])


class SpikeShape(LoadTestShape):
    def tick(self):
        opts = self.runner.environment.parsed_options
        phase = spike_plan.phase_at(opts, self.get_run_time())
        if phase is None:
            return None
        users = opts.spike_users if phase == "spike" else opts.baseline_users
        return users, max(users, 1) * 10  # arrive within a tenth of a second: a spike
