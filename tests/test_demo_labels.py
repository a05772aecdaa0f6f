"""Every "OpenAI SDK default" figure the demo and `tune` print says which it is: simulated
over the tuning's schedule, simulated over the live check's arrivals, or live (issue 10,
item 6: the demo printed two different figures under one name)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from analysis.live import live_lines
from analysis.tune import tune_lines

ROOT = Path(__file__).resolve().parents[1]


def _demo():
    spec = importlib.util.spec_from_file_location("demo_script", ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _figures(goodput, rejected, p99=5.0):
    return {"goodput_per_s": goodput, "rejected_per_success": rejected, "p99_s": p99}


BACKOFF = {
    "logical_requests": 2000, "offered_per_s": 2.4, "deadline_s": 30.0,
    "ideal_goodput_per_s": 2.0, "note": "",
    "recommended": {"policy": "retry_after jitter=0.1s retries=5 pacer=1",
                    **_figures(1.95, 0.0267)},
    "sdk_default": {"policy": "sdk_default", **_figures(2.0, 1.77)},
    "live": {"logical_requests": 48, "offered_per_s": 2.4, "target": "default",
             "recommended": {"simulated": _figures(2.04, 0.0125), "live": _figures(1.97, 0.0208),
                             "replays": 20},
             "sdk_default": {"simulated": _figures(2.45, 0.333), "live": _figures(2.4, 0.351),
                             "replays": 20},
             "checks": {"goodput_share_of_ideal": 0.985, "simulation_agrees": True}},
}


def test_tune_says_its_figures_are_simulated_and_of_what():
    lines = tune_lines(BACKOFF)
    assert "2000 logical requests at 2.4/s" in lines[0]
    sdk = [line for line in lines if "SDK" in line]
    assert len(sdk) == 1 and "simulated" in sdk[0] and "1.77" in sdk[0]


def test_live_check_rows_say_simulated_or_live():
    lines = live_lines(BACKOFF["live"])
    assert "48 logical requests per client" in lines[0]
    sdk = [line for line in lines if line.lstrip().startswith("OpenAI SDK default")]
    assert len(sdk) == 2
    assert "simulated, same arrivals" in sdk[0] and "0.333" in sdk[0]
    assert re.search(r"\blive\b", sdk[1]) and "0.351" in sdk[1]
    assert "simulated" not in sdk[1]


def test_demo_paragraph_labels_each_sdk_figure():
    demo = _demo()
    text = demo.paragraph("default", {
        "tight_loop": {"quota": {"description": "20 requests per 10 s per key",
                                 "agreement": 1.0},
                       "retry_after": {"verdict": "honest"}, "backoff": BACKOFF},
        "spike": {"throughput": {"levels": []}}, "sweep": {"throughput": {"levels": []}}})
    assert re.search(r"simulated over 2000 logical requests at 2\.4/s", text)
    assert re.search(r"OpenAI SDK's default, simulated the same way, meets 1\.8\b", text)
    assert re.search(r"real OpenAI SDK 0\.35 live", text)
    assert re.search(r"simulated over those same 48 arrivals: 0\.013 and 0\.33\b", text)
