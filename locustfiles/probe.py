"""Probe: discover a quota in bounded time, with one user.

1. idle for --idle-s, so that any window or bucket refills;
2. burst: waves of --burst-wave requests sent at once, until a wave holds a 429 (at most
   --burst-max requests). Sent together, so that refills during slow completions stay out of
   the burst size. The first 429's Retry-After (or, without one, the wait until the next
   accept) estimates the window W;
3. sustained: a tight loop for --sustained-s, which shows the sustained rate and where
   windows begin (0 skips it);
4. split: loop until the quota reopens, take half the burst, pause W/2, loop for 1.2 W.
   Admissions split across a window tell a sliding log (only the older half frees at 2W)
   from a fixed window (all of it frees at once), which a tight loop at any constant pace
   cannot. With --sustained-s 0 and no Retry-After probes the run lasts under three windows;
5. Retry-After probes, --ra-probes times: loop until a 429 that states a wait RA, wait f*RA
   with f drawn uniformly from [0.5, 1.5] (seeded), send once more. The 429 and the probe are
   attempts 1 and 2 of one logical request, so the analysis can pair them.
Every step is bounded (waits are capped at --max-wait-s); the run ends by itself.

    PINAIVU_API_KEY=pk-demo-alice-0001 locust -f locustfiles/probe.py --headless -u 1
or `make probe`.
"""

import math
import random
import time
import uuid

import gevent
from locust import constant, events, task
from locust.exception import StopUser
from locust.runners import LocalRunner

from locustfiles.common import hooks
from locustfiles.common import options as checked
from locustfiles.common.user import PinaivuUser

hooks.register("probe")


@events.init_command_line_parser.add_listener
def _options(parser):
    g = parser.add_argument_group("probe")
    g.add_argument("--idle-s", type=checked.non_negative_float, default=5.0)
    g.add_argument("--burst-max", type=checked.positive_int, default=300)
    g.add_argument("--burst-wave", type=checked.positive_int, default=16)
    g.add_argument("--sustained-s", type=checked.non_negative_float, default=25.0)
    g.add_argument("--ra-probes", type=checked.non_negative_int, default=8)
    g.add_argument("--max-wait-s", type=checked.positive_float, default=60.0)
    g.add_argument("--probe-seed", type=checked.non_negative_int, default=0)


class ProbeUser(PinaivuUser):
    fixed_count = 1
    concurrency = 64
    wait_time = constant(0)

    @task
    def probe(self) -> None:
        opts = self.environment.parsed_options
        gevent.sleep(opts.idle_s)
        burst, window = self._burst(opts)
        end = time.time() + opts.sustained_s
        while time.time() < end:
            self.chat(phase="sustained")
        if burst >= 2 and window:
            self._split(burst, window, opts)
        self._retry_after_probes(opts)
        self._done()

    def _loop_until_ok(self, phase: str, limit_s: float) -> float | None:
        """Tight loop until an accept; its send time, or None when the time ran out."""
        end = time.time() + limit_s
        while time.time() < end:
            sent = time.time()
            if self.chat(phase=phase).status == 200:
                return sent
        return None

    def _burst(self, opts) -> tuple[int, float | None]:
        """(accepts in the burst, window estimate)."""
        start = time.time()
        sent = admitted = 0
        first_429 = None
        while sent < opts.burst_max:
            wave = [gevent.spawn(self.chat, phase="burst")
                    for _ in range(min(opts.burst_wave, opts.burst_max - sent))]
            sent += len(wave)
            results = [g.get() for g in gevent.joinall(wave)]
            admitted += sum(r.status == 200 for r in results)
            first_429 = next((r for r in results if r.status == 429), None)
            if first_429 is not None:
                break
        if first_429 is None:
            return admitted, None
        stated = first_429.retry_after_s
        if not math.isnan(stated):
            return admitted, min(time.time() - start + stated, opts.max_wait_s)
        reopened = self._loop_until_ok("burst", opts.max_wait_s)
        return admitted, (reopened - start) if reopened else None

    def _split(self, burst: int, window: float, opts) -> None:
        if self._loop_until_ok("split", opts.max_wait_s) is None:
            return
        taken = 1
        while taken < burst // 2:
            a = self.chat(phase="split")
            taken += a.status == 200
            if a.status == 429:
                break
        gevent.sleep(window / 2)
        end = time.time() + 1.2 * window
        while time.time() < end:
            self.chat(phase="split")

    def _retry_after_probes(self, opts) -> None:
        rng = random.Random(opts.probe_seed)
        for _ in range(opts.ra_probes):
            for _ in range(opts.burst_max):
                logical = uuid.uuid4().hex[:16]
                first = self.chat(phase="retry_after_wait", logical_id=logical)
                if first.status == 429:
                    break
            else:
                return  # the quota never refused: nothing to probe
            if math.isnan(first.retry_after_s):
                continue  # a 429 without a usable Retry-After: the audit says "absent"
            factor = rng.uniform(0.5, 1.5)
            gevent.sleep(min(first.retry_after_s, opts.max_wait_s) * factor)
            self.chat(phase="retry_after_probe", logical_id=logical, attempt=2)

    def _done(self) -> None:
        runner = self.environment.runner
        if isinstance(runner, LocalRunner):
            gevent.spawn_later(0.1, runner.quit)
        raise StopUser()  # a distributed run ends at --run-time
