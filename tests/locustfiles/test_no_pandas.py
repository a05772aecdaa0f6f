"""Locust's processes never import pandas or matplotlib (DESIGN: they block gevent and slow the
fork of --processes): not the scenarios, not the runner's module, not the recorder, checked
each in a fresh interpreter, and not a whole recorded run (issue 11)."""

import json
import os
import subprocess
import sys

import pytest

from ..runs import ROOT

HEAVY = ("pandas", "matplotlib")
SCENARIOS = sorted(p.stem for p in (ROOT / "locustfiles").glob("*.py")
                   if p.stem != "__init__" and "hooks.register(" in p.read_text())
LOADED = f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))"


def heavy_after(code: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", f"import json, sys\n{code}\n{LOADED}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_every_scenario_is_found():
    assert {"tight_loop", "probe", "spike", "spike_open", "sweep", "backoff"} <= set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_importing_a_scenario_imports_neither(scenario):
    assert heavy_after(f"import locustfiles.{scenario}") == []


def test_the_runners_help_imports_neither():
    code = ("import runpy\nsys.argv = ['locustfiles.run', '--help']\ntry:\n"
            "    runpy.run_module('locustfiles.run', run_name='__main__')\n"
            "except SystemExit as exc:\n    assert exc.code == 0, exc.code")
    assert heavy_after(code) == []


def test_the_recorder_imports_neither(tmp_path):
    """pyarrow imports pandas the first time it converts, when pandas is installed: the
    recorder's first conversion keeps it from doing so."""
    code = (f"from locustfiles.common.recorder import Recorder\n"
            f"rec = Recorder({str(tmp_path / 'w.arrows')!r}, run_id='r', worker='w', "
            f"scenario='s')\n"
            f"rec.on_request(response_time=1.0, response_length=0, response=None, "
            f"context={{'outcome': 'ok'}}, exception=None, start_time=1.0)\n"
            f"rec.close()\nassert rec.rows_written == 1")
    assert heavy_after(code) == []


SPY = """
import json, sys
from locust import events


@events.quitting.add_listener
def _heavy_modules(environment, **_):
    with open({out!r}, "w") as f:
        json.dump({{"loaded": sorted(m.split(".")[0] for m in sys.modules),
                    "recorded": environment.parsed_options.run_dir}}, f)
"""


def test_a_recorded_run_imports_neither(gateway_factory, tmp_path):
    """The whole run: Locust, the scenario, its users and the recorder, to the end."""
    gw = gateway_factory("default")
    run_dir, out = tmp_path / "run", tmp_path / "modules.json"
    spy = tmp_path / "spy_modules.py"  # a second locustfile: a listener, no users
    spy.write_text(SPY.format(out=str(out)))
    env = dict(os.environ, PINAIVU_BASE_URL=gw.base_url, PINAIVU_API_KEY="pk-demo-alice-0001")
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f",
         f"{ROOT / 'locustfiles' / 'tight_loop.py'},{spy}", "--headless", "-u", "1", "-r",
         "1", "-t", "2s", "--run-dir", str(run_dir), "--only-summary"],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(out.read_text())
    assert {"locust", "pyarrow", "locustfiles"} <= set(seen["loaded"])  # the listing is whole
    assert not set(seen["loaded"]) & set(HEAVY)
    assert seen["recorded"] == str(run_dir) and any((run_dir / "events").glob("*.arrows"))
