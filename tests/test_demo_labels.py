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


def test_demo_paragraph_holds_short_levels_against_the_sustained_rate():
    """The issue's demo sweep: 3 s steps under a 10 s window 'peaked at 5 ok/s' with no word
    that the quota sustains 2 ok/s. The paragraph now says both, as the page does."""
    demo = _demo()
    sweep_level = {"level": "rate=8", "offered_per_s": 8.0, "goodput_per_s": 5.0,
                   "duration_s": 3.0, "error_fraction": 0.375}
    spike_level = {"level": "spike", "offered_per_s": 24.3, "goodput_per_s": 13.9,
                   "duration_s": 4.0, "error_fraction": 0.43}
    text = demo.paragraph("default", {
        "tight_loop": {"quota": {"description": "20 requests per 10 s per key",
                                 "agreement": 1.0},
                       "retry_after": {"verdict": "honest"}},
        "spike": {"throughput": {"levels": [spike_level], "sustained_per_s": 6.0,
                                 "quota_period_s": 10.0}},
        "sweep": {"throughput": {"levels": [sweep_level], "sustained_per_s": 2.0,
                                 "quota_period_s": 10.0}}})
    assert re.search(r"peaked at 5 ok/s when offered 8/s for 3 s \(bursts from fresh "
                     r"windows: the quota sustains 2 ok/s over its 10 s window\)", text), text
    assert re.search(r"held at 13\.9 ok/s for 4 s \(bursts from fresh windows: the quota "
                     r"sustains 6 ok/s", text), text


def test_live_share_above_the_ideal_says_why():
    """A fresh make demo printed 'reaches 102.1% of the ideal goodput' with no word: over a
    short check a fixed window's burst runs above the long-run rate."""
    live = {**BACKOFF["live"], "checks": {"goodput_share_of_ideal": 1.021,
                                          "simulation_agrees": True}}
    last = live_lines(live)[-1]
    assert "102.1% of the ideal goodput (a short check" in last, last
    assert "(a short check" not in live_lines(BACKOFF["live"])[-1]
