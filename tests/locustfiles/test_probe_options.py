"""The probe's burst options are bounded, with a clear error, and the burst into a queue keeps
within --burst-max."""

from __future__ import annotations

import argparse

import pytest

from locustfiles.common import options
from locustfiles.common import probe_steps_parallel as parallel
from locustfiles.common.probe_hypotheses import Knowledge

from .test_probe_steps_guards import FakeProber


@pytest.mark.parametrize("check, text, words", [
    (options.probe_burst_wave, "65", "must be between 1 and 64, not 65"),
    (options.probe_burst_wave, "0", "must be >= 1, not 0"),
    (options.probe_burst_max, "100001", "must be between 1 and 100000, not 100001"),
])
def test_burst_options_out_of_bounds_are_refused(check, text, words):
    with pytest.raises(argparse.ArgumentTypeError, match=words):
        check(text)
    assert options.probe_burst_wave("64") == 64 and options.probe_burst_max("300") == 300


def test_the_burst_into_a_queue_keeps_within_burst_max():
    k = Knowledge()
    k.facts["slowest"] = 0.0
    p = FakeProber([200] * 5)
    p.deadline = 0.0  # no drain wait: left() is 0
    got = parallel.shaping_excess(p, k, parallel.excess(8, 5))
    assert p.asked == [5] and got["sent"] == 5
