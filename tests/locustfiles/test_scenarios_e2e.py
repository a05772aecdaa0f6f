"""Every scenario, through the make targets' runner, against the reference gateway it starts."""

import json
import math
import statistics
from collections import Counter
from pathlib import Path

import pytest

from ..runs import locust_count, rows, run_scenario

ROOT = Path(__file__).resolve().parents[2]
# A small node pool so that 503s happen too.
CROWDED = ["--gateway-set", "nodes.count=1", "--gateway-set", "nodes.slots=2",
           "--gateway-set", "latency.ttft_ms=150", "--gateway-set", "nodes.routing_delay_ms=40",
           "--gateway-set", "quota.limit=30", "--gateway-set", "quota.window_s=2"]

SCENARIOS = [
    ("spike", ["--users", "1", "--duration", "20s"] + CROWDED,
     ["--baseline-s", "1.5", "--spike-s", "2", "--recovery-s", "2", "--baseline-users", "1",
      "--spike-users", "8", "--think-s", "0.05"], {"baseline", "spike", "recovery"}),
    ("spike_open", ["--users", "1", "--duration", "20s"] + CROWDED,
     ["--baseline-s", "1.5", "--spike-s", "2", "--recovery-s", "2", "--baseline-rate", "4",
      "--spike-rate", "60"], {"baseline", "spike", "recovery"}),
    ("sweep", ["--users", "2", "--duration", "20s"] + CROWDED,
     ["--rates", "4,40,80", "--step-s", "1.5", "--arrivals", "poisson"],
     {"rate=4", "rate=40", "rate=80"}),
    # the probe: tests/locustfiles/test_probe_live.py (its steps depend on what it finds)
]


# The phases of the open-loop scenarios above.
OPEN_PHASES = {"spike_open": ("baseline", "spike", "recovery"),
               "sweep": ("rate=4", "rate=40", "rate=80")}


def check_open_loop_lateness(chat: list[dict], phases: tuple[str, ...]) -> None:
    """An open loop sends on its schedule, whatever is in flight: never early, and in each
    phase the typical send is late by less than half the typical reply to an admitted request
    (150 ms here). A loop that waited for replies falls a reply behind for every request in
    flight, and further with each; a loaded machine delays sends by milliseconds to tens of
    milliseconds, and slows the replies as well. Medians: a stall delays some sends, not
    most."""
    late = [r["sent_ts"] - r["intended_ts"] for r in chat]
    assert min(late) >= 0
    reply = statistics.median(r["latency_ms"] / 1000 for r in chat if r["outcome"] == "ok")
    for phase in phases:
        mine = [r["sent_ts"] - r["intended_ts"] for r in chat if r["phase"] == phase]
        assert statistics.median(mine) < 0.5 * reply, (phase, reply,
                                                       statistics.quantiles(mine, n=10))


@pytest.mark.parametrize("scenario, run_args, locust_args, phases", SCENARIOS,
                         ids=[s[0] for s in SCENARIOS])
def test_scenario(tmp_path, scenario, run_args, locust_args, phases):
    run_dir = tmp_path / "run"
    run_scenario(scenario, run_dir, *run_args, locust_args=locust_args)
    every = rows(run_dir)
    assert len(every) == locust_count(run_dir)
    chat = [r for r in every if r["endpoint"] == "/v1/chat/completions"]
    assert {r["phase"] for r in chat} == phases
    outcomes = Counter(r["outcome"] for r in chat)
    assert outcomes["ok"] and outcomes["rate_limited"], outcomes
    assert all(r["retry_after_s"] > 0 for r in chat if r["status"] == 429)
    assert all(not math.isnan(r["latency_ms"]) for r in chat)
    unavailable = [r for r in chat if r["status"] == 503]
    assert unavailable, outcomes
    # after the 40 ms routing delay, as the client's clock reads it: a fresh-clone CI run
    # measured 39.836 ms for one (the server's sleep and the client's timestamps are taken
    # apart); an instant refusal takes a few ms
    assert all(r["latency_ms"] >= 39 and not r["request_id"] for r in unavailable)
    if scenario in ("spike_open", "sweep"):
        check_open_loop_lateness(chat, OPEN_PHASES[scenario])
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["complete"] and manifest["scenario"] == scenario
    assert (run_dir / "locust" / "report.html").is_file()
    assert (run_dir / "gateway.log").is_file()
