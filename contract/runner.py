"""How the harness starts a run: the one command line behind the make targets, tune's live
check and the demo (`python -m locustfiles.run SCENARIO ... -- LOCUST-AND-SCENARIO-OPTIONS`).

Named here once, so that a live check runs its load exactly as `make tight-loop` does: the same
pre-flight, the same reference gateway start-up, the same run.json.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

RUNNER_MODULE = "locustfiles.run"


def runner_command(scenario: str, *, run_dir: str | os.PathLike | None = None,
                   users: int | None = None, duration: str | None = None,
                   profile: str | None = None, gateway_set: Iterable[str] = (),
                   runner_args: Iterable[str] = (), locust_args: Iterable[str] = ()
                   ) -> list[str]:
    """The argv of one run. `profile`: the reference gateway's (started by the runner when
    PINAIVU_BASE_URL is unset); `locust_args` go to Locust and the scenario."""
    cmd = [sys.executable, "-m", RUNNER_MODULE, scenario]
    if users is not None:
        cmd += ["--users", str(users)]
    if duration is not None:
        cmd += ["--duration", str(duration)]
    if profile is not None:
        cmd += ["--profile", profile]
    for setting in gateway_set:
        cmd += ["--gateway-set", setting]
    cmd += list(runner_args)
    if run_dir is not None:
        cmd += ["--run-dir", str(run_dir)]
    locust_args = list(locust_args)
    return cmd + (["--", *locust_args] if locust_args else [])
