"""Sweep: open-loop arrival rates stepped up, for the throughput-against-error-rate curve.

Each step sends at a fixed arrival rate (constant spacing, or Poisson with --arrivals poisson)
for --step-s seconds, whatever is still in flight; its `phase` is `rate=<r>`. The run ends by
itself after the last step.

    PINAIVU_API_KEY=pk-demo-alice-0001 locust -f locustfiles/sweep.py --headless -u 1 \
        --rates 2,5,10,20,40 --step-s 10 --run-dir reports/my-sweep
or `make sweep RATES=2,5,10,20,40 STEP=10`.
"""

from locust import events

from locustfiles.common import hooks, openloop
from locustfiles.common import options as checked
from locustfiles.common.arrivals import parse_rates
from locustfiles.common.openloop import OpenLoopUser

hooks.register("sweep", planned_s=lambda o: len(o.rates.split(",")) * o.step_s)
openloop.register_options()


@events.init_command_line_parser.add_listener
def _options(parser):
    g = parser.add_argument_group("sweep")
    g.add_argument("--rates", default="2,5,10,20,40", type=checked.rates_list, help="arrivals/s per step, comma separated")
    g.add_argument("--step-s", type=checked.seconds_within_a_run, default=10.0, help="seconds per step")


class SweepUser(OpenLoopUser):
    def steps(self):
        opts = self.environment.parsed_options
        return parse_rates(opts.rates, opts.step_s)
