"""Backoff: logical requests sent live under a chosen retry policy, to check the tuner.

Each Locust user is one client with its own key, running one entry of --policies (user i takes
entry i) over a Poisson schedule of logical requests (--offered per second, --logical of them,
arrivals seeded by --seed: the schedule the simulator replays). Every attempt is recorded with
its logical request's `logical_id` and its `attempt` number; the phase is the entry's name.

An entry is {"name": ..., "client": "harness" | "openai", "policy": {Policy fields}}. The
harness client obeys analysis.policies (delays, Retry-After, pacer, retry budget, deadline).
The "openai" client is the real OpenAI Python SDK, retrying by its own rules (its
`max_retries`), pointed at the target; its attempts are recorded by a transport under it.

    PINAIVU_API_KEYS=pk-demo-alice-0001,pk-demo-bob-0002 locust -f locustfiles/backoff.py \
        --headless -u 2 -r 2 -t 120s --run-dir reports/my-backoff --offered 2.4 \
        --logical 120 --sustained-rate 2 --policies '[{"name": "sdk", "client": "openai",
        "policy": {"kind": "sdk_default", "max_retries": 2}}, {"name": "paced", "policy":
        {"kind": "retry_after", "max_retries": 3, "pacer_fraction": 1.0}}]'
`make tune` runs it for the recommended policy and the SDK default, then compares.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time

import gevent
from locust import events, task

from contract.policies import Pacer, Policy, RetryBudget, next_delay, pacer_rate, poisson_arrivals
from locustfiles.common import hooks
from locustfiles.common import options as checked
from locustfiles.common.arrivals import run_open_loop
from locustfiles.common.openloop import schedule_done
from locustfiles.common.sdk_client import SdkClient
from locustfiles.common.user import PinaivuUser

hooks.register("backoff")
RETRIED = ("rate_limited", "unavailable")  # the outcomes a policy retries; others end it


@events.init_command_line_parser.add_listener
def _options(parser):
    g = parser.add_argument_group("backoff")
    g.add_argument("--policies", default='[{"name": "sdk_default", "client": "openai", '
                   '"policy": {"kind": "sdk_default", "max_retries": 2}}]',
                   help="JSON list of {name, client, policy}; user i runs entry i")
    g.add_argument("--offered", type=checked.positive_float, default=2.4, help="logical requests/s per client")
    g.add_argument("--logical", type=checked.positive_int, default=100, help="logical requests per client")
    g.add_argument("--seed", type=checked.non_negative_int, default=0, help="seed of the arrival schedule")
    g.add_argument("--deadline-s", type=checked.positive_float, default=30.0,
                   help="a logical request gives up when it cannot finish by then")
    g.add_argument("--sustained-rate", type=float, default=math.inf,
                   help="the quota's fitted rate (requests/s), for the pacer")
    g.add_argument("--latency-ok-s", type=checked.non_negative_float, default=0.1,
                   help="expected time of a successful attempt, for the deadline check")


_entries: list[dict] = []


@events.init.add_listener
def _check_policies(environment, **_):
    """A bad --policies stops the run before any load, saying what is wrong."""
    try:
        _entries[:] = parse_entries(environment.parsed_options.policies)
    except ValueError as exc:
        sys.stderr.write(f"backoff: {exc}\n")
        sys.stderr.flush()
        os._exit(2)


def parse_entries(text: str) -> list[dict]:
    """The --policies list, checked: a bad entry stops the run before any load."""
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--policies is not JSON: {exc}") from None
    if not isinstance(entries, list) or not entries:
        raise ValueError("--policies must be a non-empty JSON list")
    out = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("policy"), dict):
            raise ValueError(f"--policies entry {i} needs a 'policy' object")
        client = e.get("client", "harness")
        if client not in ("harness", "openai"):
            raise ValueError(f"--policies entry {i}: client {client!r} is not harness/openai")
        try:
            policy = Policy(**e["policy"])
        except TypeError as exc:
            raise ValueError(f"--policies entry {i}: {exc}") from None
        out.append({"name": str(e.get("name") or policy.label()), "client": client,
                    "policy": policy})
    return out


class BackoffUser(PinaivuUser):
    concurrency = 200  # logical requests in flight do not wait for each other's connection

    @task
    def run_schedule(self) -> None:
        opts = self.environment.parsed_options
        entry = _entries[self.number % len(_entries)]
        name, policy = entry["name"], entry["policy"]
        arrivals = poisson_arrivals(opts.offered, opts.logical, opts.seed)
        hooks.note(f"logical_requests.{name}", len(arrivals))
        start = time.time() + 0.2
        if entry["client"] == "openai":
            client = SdkClient(self, name, max_retries=policy.max_retries
                               if policy.kind == "sdk_default" else 0)
            send = client.logical
        else:
            pacer = Pacer(pacer_rate(policy, opts.sustained_rate))
            budget = RetryBudget(policy.budget_ratio)
            rng = random.Random(opts.seed + 1_000_003 + self.number)

            def send(logical_id: str, arrival: float) -> None:
                self.logical(name, policy, logical_id, arrival, pacer, budget, rng, opts)
        # logical requests in flight do not wait for each other: no bound below the schedule
        run_open_loop(send, ((offset, f"{name}-{i}") for i, offset in enumerate(arrivals)),
                      start=start, max_in_flight=max(1, len(arrivals)), stop=self.cap_spent)
        schedule_done(self.environment)

    def logical(self, name: str, policy: Policy, logical_id: str, arrival: float,
                pacer: Pacer, budget: RetryBudget, rng: random.Random, opts) -> None:
        """One logical request: attempts until success, give-up or deadline."""
        retry, previous, intended = 0, 0.0, arrival
        while True:
            send = pacer.slot(max(intended, time.time()))
            if send + opts.latency_ok_s - arrival > opts.deadline_s:
                return  # it could not finish by its deadline: not sent
            pacer.take(send)
            gevent.sleep(max(0.0, send - time.time()))
            if retry == 0:
                budget.earn()
            attempt = self.chat(phase=name, intended_ts=intended, logical_id=logical_id,
                                attempt=retry + 1)
            if attempt.outcome not in RETRIED:
                return
            stated = attempt.retry_after_s
            delay = next_delay(policy, retry, None if stated != stated else stated,
                               previous, rng)
            now = time.time()
            if delay is None or now + delay - arrival > opts.deadline_s:
                return
            if not budget.spend():
                return
            retry, previous, intended = retry + 1, delay, now + delay
