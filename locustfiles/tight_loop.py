"""Tight loop: users send chat completions back to back, with no wait between them.

Probes what the troubleshooting page calls "sending requests in a tight loop without any
delay": how soon 429s start, what Retry-After says, how the quota refills.

    PINAIVU_API_KEY=pk-demo-alice-0001 locust -f locustfiles/tight_loop.py --headless \
        -u 4 -r 4 -t 30s --run-dir reports/my-run
or `make tight-loop USERS=4 DURATION=30s` (starts the reference gateway when PINAIVU_BASE_URL
is unset).
"""

from locust import constant, task

from locustfiles.common import hooks
from locustfiles.common.user import PinaivuUser

hooks.register("tight_loop")


class TightLoopUser(PinaivuUser):
    wait_time = constant(0)

    @task
    def completion(self) -> None:
        self.chat(phase="tight_loop")
