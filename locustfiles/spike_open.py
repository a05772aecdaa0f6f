"""Open-loop spike: an arrival-rate baseline, a jump in the rate, a recovery at the baseline.

Unlike spike.py, requests leave on schedule however slow the gateway gets, so a slow 503 does
not throttle the offered load. Every row's `phase` is baseline, spike or recovery; the run
ends by itself.

    PINAIVU_API_KEY=pk-demo-alice-0001 locust -f locustfiles/spike_open.py --headless -u 1 \
        --baseline-rate 1 --spike-rate 20
or `make spike OPEN=1`.
"""

from locust import events

from locustfiles.common import hooks, openloop, spike_plan
from locustfiles.common import options as checked
from locustfiles.common.arrivals import Step
from locustfiles.common.openloop import OpenLoopUser

hooks.register("spike_open", planned_s=spike_plan.planned_s)
openloop.register_options()
spike_plan.register_options()


@events.init_command_line_parser.add_listener
def _options(parser):
    g = parser.add_argument_group("spike rates")
    # all on one key: at the default profile's 2/s a window edge would already refuse some
    g.add_argument("--baseline-rate", type=checked.non_negative_float, default=1.0,
                   help="arrivals/s")
    g.add_argument("--spike-rate", type=checked.non_negative_float, default=20.0,
                   help="arrivals/s")


class OpenSpikeUser(OpenLoopUser):
    def steps(self):
        opts = self.environment.parsed_options
        rates = {"baseline": opts.baseline_rate, "spike": opts.spike_rate,
                 "recovery": opts.baseline_rate}
        return [Step(rates[name], end - start, name)
                for name, start, end in spike_plan.phase_bounds(opts)]
